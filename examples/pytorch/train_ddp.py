#!/usr/bin/python3
"""Train or fine-tune a charnn model with PyTorch DistributedDataParallel: one CPU, one GPU, many GPUs, many machines.

Same data pipeline as `charnn train`: the vocabulary comes from the model (or, training from scratch, the corpus's
sorted code points), the last --val-frac of the text is held out, the rest is cut into B contiguous streams, each
iteration takes the next T characters of every stream, the hidden state is carried from batch to batch (reset at
each epoch) and gradients stop at the batch boundary (truncated BPTT), the global gradient norm is clipped. The B
streams are split across the processes (B / WORLD_SIZE each); DDP averages their gradients, so every process takes
the same step and holds the same weights. Process 0 writes a safetensors file that `charnn import` reads.
A bidirectional model trains as in `charnn train --bidirectional`: a fraction of each window's characters replaced
by the mask symbol and predicted from both sides, every window from a zero state.

Launch with the standard variables (torchrun sets them too; Debian's torchrun crashes on Python 3.11):

  # one process (CPU, or the GPU if there is one)
  python3 train_ddp.py corpus.txt --init model.safetensors -o tuned.safetensors
  # two processes on this machine
  for r in 0 1; do RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 \\
      python3 train_ddp.py corpus.txt --init model.safetensors -o tuned.safetensors & done; wait

Backend: NCCL on GPUs (process r uses GPU LOCAL_RANK, default RANK mod the GPU count), gloo on CPUs. stdout carries
JSON lines from process 0 only (validations, then a summary); progress goes to stderr.
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from charnn_model import CharRNN, Vocab, detach  # noqa: E402


def log(rank, msg):
    if rank == 0:
        print(msg, file=sys.stderr, flush=True)


def emit(rank, obj):
    if rank == 0:
        print(json.dumps(obj), flush=True)


# ----------------------------------------------------------------- data (charnn's arithmetic, src/data/batches.ts)


def read_units(path, vocab_encoding):
    """The text as charnn reads it: code points (a leading BOM dropped) or raw bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if vocab_encoding == "bytes":
        return data
    text = data.decode("utf-8")
    return text[1:] if text.startswith("\ufeff") else text


def split_train_val(ids, val_frac):
    """val = the LAST floor(N * val_frac) ids, train = the rest."""
    val_len = math.floor(len(ids) * val_frac)
    return ids[: len(ids) - val_len], ids[len(ids) - val_len:]


class Streams:
    """B contiguous streams of L = floor((N-1)/B) ids; batch k is columns k*T … k*T+T-1 of every stream."""

    def __init__(self, ids, B, T):
        self.B, self.T = B, T
        self.L = (len(ids) - 1) // B
        self.per_epoch = self.L // T
        if self.per_epoch < 1:
            raise SystemExit(f"train_ddp.py: the text has {len(ids)} characters, too few for {B} streams of {T}")
        self.x = ids[: B * self.L].view(B, self.L)  # (B, L)
        self.y = ids[1: B * self.L + 1].view(B, self.L)  # (B, L)

    def get(self, k, rows=slice(None)):
        """-> inputs (T, b), targets (T, b) of batch k for streams `rows`, time-major."""
        s = slice(k * self.T, (k + 1) * self.T)
        return self.x[rows, s].t().contiguous(), self.y[rows, s].t().contiguous()


@torch.no_grad()
def charnn_eval_loss(model, ids, device, max_streams=32, seq_length=100):
    """The loss `charnn eval` reports for a text: up to 32 streams of 100-step batches, state carried from zero."""
    T = min(seq_length, len(ids) - 1)
    B = min(max_streams, (len(ids) - 1) // T)
    streams = Streams(ids, B, T)
    was_training = model.training
    model.eval()
    state = model.zero_state(B, device)
    total, count = 0.0, 0
    for k in range(streams.per_epoch):
        x, y = streams.get(k)
        logits, state = model(x.to(device), state)  # (T, B, V)
        total += F.cross_entropy(logits.reshape(-1, model.vocab_size), y.to(device).reshape(-1), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count, count


def mask_inputs(x, V, mask_frac, generator):
    """charnn's masking (src/bidirectional.ts maskInputs): each position is the mask id V with probability mask_frac,
    at least one per batch. -> (inputs, mask)."""
    mask = torch.rand(x.shape, generator=generator) < mask_frac
    if not mask.any():
        mask.view(-1)[torch.randint(mask.numel(), (1,), generator=generator)] = True
    return x.masked_fill(mask, V), mask


@torch.no_grad()
def masked_eval(model, ids, device, seed=0, max_streams=32):
    """Bidirectional models: loss and accuracy at masked positions of the held-out windows (PyTorch's own seeded
    masks: the same positions every time, not the ones `charnn eval` draws)."""
    T = min(model.seq_length, len(ids) - 1)
    B = min(max_streams, (len(ids) - 1) // T)
    streams = Streams(ids, B, T)
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    total, correct, count = 0.0, 0, 0
    for k in range(streams.per_epoch):
        x, _ = streams.get(k)
        inputs, mask = mask_inputs(x, model.vocab_size, model.mask_frac, generator)
        logits, _ = model(inputs.to(device))  # (T, B, V), both directions from zero
        picked, targets = logits[mask.to(device)], x.to(device)[mask.to(device)]
        total += F.cross_entropy(picked, targets, reduction="sum").item()
        correct += (picked.argmax(-1) == targets).sum().item()
        count += targets.numel()
    model.train(was_training)
    return total / count, correct / count


# ----------------------------------------------------------------- training


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", help="the text to train on (UTF-8, or raw bytes for a byte model)")
    p.add_argument("-o", "--output", required=True, help="the safetensors file to write (charnn import reads it)")
    p.add_argument("--init", help="a safetensors file from charnn export (or this script) to fine-tune; absent: a new model")
    p.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm", help="new model: cell type")
    p.add_argument("--hidden", type=int, default=128, help="new model: hidden units per layer")
    p.add_argument("--layers", type=int, default=2, help="new model: recurrent layers")
    p.add_argument("--bidirectional", action="store_true", help="new model: a bidirectional masked-character model (charnn fill)")
    p.add_argument("--mask-frac", type=float, default=0.15, help="new bidirectional model: fraction of characters masked")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout on every layer's output in training")
    p.add_argument("--batch-size", type=int, default=50, help="streams B in all (split across the processes)")
    p.add_argument("--seq-length", type=int, default=50, help="steps T of truncated backpropagation")
    p.add_argument("--optimizer", choices=["adagrad", "adam"], default="adagrad")
    p.add_argument("--lr", type=float, help="learning rate (default: 0.05 adagrad, 0.002 adam, as charnn)")
    p.add_argument("--grad-clip", type=float, default=5.0, help="clip the global gradient norm to this (0 = off)")
    p.add_argument("--max-iters", type=int, default=1000, help="iterations (optimizer steps)")
    p.add_argument("--val-frac", type=float, default=0.1, help="the last fraction of the text, held out")
    p.add_argument("--eval-every", type=int, default=0, help="iterations between validations (0 = only at the end)")
    p.add_argument("--seed", type=int, default=123, help="seed of a new model's weights and of dropout")
    p.add_argument("--threads", type=int, help="CPU threads per process (default: torch's)")
    p.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda")
    p.add_argument("--write-val", help="also write the held-out text here (to score it with charnn eval)")
    p.add_argument("--rank-weights", help="every process writes its final weights to DIR/rank<r>.safetensors (to check they agree)")
    return p.parse_args()


def setup_distributed(device_arg):
    """-> (rank, world, device). Without WORLD_SIZE: one process, no process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    use_cuda = torch.cuda.is_available() if device_arg == "auto" else device_arg.startswith("cuda")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", rank % max(1, torch.cuda.device_count())))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1:
        dist.init_process_group("nccl" if use_cuda else "gloo", init_method="env://", rank=rank, world_size=world)
    return rank, world, device


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.batch_size % world != 0:  # before waiting for the other processes
        raise SystemExit(f"train_ddp.py: --batch-size {args.batch_size} must be a multiple of the {world} processes")
    rank, world, device = setup_distributed(args.device)

    # --- model and vocabulary
    if args.init:
        model, vocab = CharRNN.load(args.init, dropout=args.dropout)
    else:
        text = read_units(args.corpus, "utf8")
        vocab = Vocab.from_text(text)
        torch.manual_seed(args.seed)
        model = CharRNN(args.cell, len(vocab), args.hidden, args.layers, args.bidirectional, args.dropout, args.mask_frac, args.seq_length)
    model.seq_length = args.seq_length
    model.to(device)

    # --- data: codepoint ids in the model's vocabulary, held-out tail, B streams of which this process takes B / world
    try:
        ids = vocab.encode(read_units(args.corpus, vocab.encoding))
    except ValueError as error:
        raise SystemExit(f"train_ddp.py: {args.corpus}: {error}")
    train_ids, val_ids = split_train_val(ids, args.val_frac)
    streams = Streams(train_ids, args.batch_size, args.seq_length)
    per_rank = args.batch_size // world
    rows = slice(rank * per_rank, (rank + 1) * per_rank)
    if rank == 0 and args.write_val:
        units = [vocab.symbols[i] for i in val_ids.tolist()]
        with open(args.write_val, "wb") as f:
            f.write(bytes(ord(u) for u in units) if vocab.encoding == "bytes" else "".join(units).encode("utf-8"))
    log(rank, f"{world} process(es) on {device}; {model.cell} {model.layers}x{model.hidden_size}, vocabulary {len(vocab)}; "
              f"{len(train_ids)} training characters in {args.batch_size} streams ({per_rank} per process), "
              f"{streams.per_epoch} iterations per epoch; {len(val_ids)} held out")

    ddp = DistributedDataParallel(model) if world > 1 else model
    lr = args.lr if args.lr is not None else (0.05 if args.optimizer == "adagrad" else 0.002)
    opt = (torch.optim.Adagrad(model.parameters(), lr=lr, eps=1e-10) if args.optimizer == "adagrad"
           else torch.optim.Adam(model.parameters(), lr=lr))
    torch.manual_seed(args.seed + 1000 * rank)  # dropout masks differ per process, like different streams
    mask_generator = torch.Generator().manual_seed(args.seed + 1000 * rank + 1)

    def validate():
        if model.bidirectional:
            val, accuracy = masked_eval(model, val_ids, device)
            return {"val_masked_loss": val, "val_accuracy": accuracy}
        val, chars = charnn_eval_loss(model, val_ids, device)
        return {"val_loss": val, "val_chars": chars}

    # --- the loop: batch, forward, backward (DDP averages gradients), clip, step, carry the state
    model.train()
    state = None
    started = time.perf_counter()
    for it in range(args.max_iters):
        k = it % streams.per_epoch
        if k == 0 and not model.bidirectional:
            state = model.zero_state(per_rank, device)  # every stream starts again from its beginning
        x, y = streams.get(k, rows)
        if model.bidirectional:
            # masked-character training on independent windows: predict the masked characters from both sides
            inputs, mask = mask_inputs(x, model.vocab_size, model.mask_frac, mask_generator)
            logits, _ = ddp(inputs.to(device))  # (T, b, V)
            mask = mask.to(device)
            loss = F.cross_entropy(logits[mask], x.to(device)[mask])
        else:
            logits, state = ddp(x.to(device), state)  # (T, b, V)
            loss = F.cross_entropy(logits.reshape(-1, model.vocab_size), y.to(device).reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        if state is not None:
            state = detach(state)
        done = it + 1
        if args.eval_every and done % args.eval_every == 0 and done < args.max_iters and len(val_ids) > 1:
            emit(rank, {"iter": done, "loss": loss.item(), **validate()})
        if rank == 0 and (done % 50 == 0 or done == 1):
            log(rank, f"iter {done}/{args.max_iters}  loss {loss.item():.4f}  {time.perf_counter() - started:.1f}s")

    # --- the result: every process holds the same weights; process 0 scores the held-out text and saves
    if args.rank_weights:
        os.makedirs(args.rank_weights, exist_ok=True)
        model.save(os.path.join(args.rank_weights, f"rank{rank}.safetensors"), vocab)
    last_loss = loss.detach().clone()
    if world > 1:
        dist.all_reduce(last_loss)  # the mean over all streams, not just this process's
        last_loss /= world
    summary = {"iters": args.max_iters, "processes": world, "train_loss": last_loss.item(), "seconds": time.perf_counter() - started}
    if rank == 0:
        if len(val_ids) > 1:
            summary.update(validate())
        model.save(args.output, vocab)
        summary["output"] = args.output
    emit(rank, summary)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()

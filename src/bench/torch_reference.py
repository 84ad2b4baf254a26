#!/usr/bin/python3
"""PyTorch reference for charnn: learning parity and speed baselines.

Replicates charnn's data pipeline exactly (vocabulary, validation split,
char-rnn batching, hidden-state carry) so its losses and throughputs can be
compared with charnn's. stdlib + torch only.

Every result is one JSON object per line on stdout; progress goes to stderr.

  /usr/bin/python3 src/bench/torch_reference.py parity --iters 2000 --eval-at 1000,2000
  /usr/bin/python3 src/bench/torch_reference.py bench-train --layers 2 --hidden 128
  /usr/bin/python3 src/bench/torch_reference.py bench-sample --layers 3 --hidden 512
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

# ../shared next to the repository (this file is <repo>/src/bench/torch_reference.py)
DEFAULT_DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             "..", "..", "..", "shared", "data", "tinyshakespeare.txt"))


def _threads_from_argv(argv):
    """--threads N (default 1), read before torch is imported."""
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


# OpenBLAS reads its thread count when torch loads it, so set it first.
os.environ["OPENBLAS_NUM_THREADS"] = _threads_from_argv(sys.argv)
# With >1 thread on a busy machine, OpenMP's default spin-waiting made training
# ~12x slower than 1 thread here; passive waiting avoids that (read at load too).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def emit(obj):
    print(json.dumps(obj), flush=True)


# ----------------------------------------------------------------- data


def load_corpus(path):
    """UTF-8 text (leading BOM stripped) -> (vocab: sorted code points, ids: list[int])."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    vocab = sorted(set(text))  # code-point order
    index = {c: i for i, c in enumerate(vocab)}
    return vocab, [index[c] for c in text]


def split_train_val(ids, val_frac):
    """val = the LAST floor(n * val_frac) ids, train = the rest."""
    val_len = math.floor(len(ids) * val_frac)
    return ids[: len(ids) - val_len], ids[len(ids) - val_len :]


class Batches:
    """char-rnn batching: B parallel streams of length L = floor((N-1)/B).

    batch k: inputs[b][t]  = ids[b*L + k*T + t]
             targets[b][t] = ids[b*L + k*T + t + 1]
    """

    def __init__(self, ids, B, T):
        N = len(ids)
        self.B, self.T = B, T
        self.L = (N - 1) // B
        self.per_epoch = self.L // T
        if self.per_epoch < 1:
            raise ValueError(f"split of {N} ids too small for B={B}, T={T}")
        data = torch.tensor(ids[: B * self.L + 1], dtype=torch.long)
        self.x = data[: B * self.L].view(B, self.L)  # (B, L)
        self.y = data[1 : B * self.L + 1].view(B, self.L)  # (B, L)

    def get(self, k):
        """-> inputs (B, T), targets (B, T) of batch k (0 <= k < per_epoch)."""
        s = slice(k * self.T, (k + 1) * self.T)
        return self.x[:, s], self.y[:, s]


# ----------------------------------------------------------------- model

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}  # nn.RNN is tanh by default


class CharModel(nn.Module):
    """one-hot (B, T, V) -> recurrent stack (B, T, H) -> linear logits (B, T, V)."""

    def __init__(self, kind, V, H, layers):
        super().__init__()
        self.kind, self.V, self.H, self.layers = kind, V, H, layers
        self.rnn = CELLS[kind](V, H, layers, batch_first=True)
        self.head = nn.Linear(H, V)

    def forward(self, x, state=None):
        """x: (B, T) long -> logits (B, T, V), new state."""
        onehot = F.one_hot(x, self.V).float()  # (B, T, V)
        out, state = self.rnn(onehot, state)  # (B, T, H)
        return self.head(out), state

    def zero_state(self, B):
        h = torch.zeros(self.layers, B, self.H)  # (layers, B, H)
        return (h, h.clone()) if self.kind == "lstm" else h


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def make_model_and_opt(args, V):
    torch.manual_seed(args.seed)
    model = CharModel(args.model, V, args.hidden, args.layers)
    opt = torch.optim.Adagrad(model.parameters(), lr=args.lr)
    return model, opt


def train_step(model, opt, x, y, state):
    """forward + backward + clip(5) + Adagrad step; returns (loss, detached state)."""
    logits, state = model(x, state)  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, model.V), y.reshape(-1))  # mean over B*T
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    return loss.item(), detach(state)


@torch.no_grad()
def val_loss(model, val_ids, B, T):
    """Mean cross-entropy (nats/char) over the whole val split, state carried across batches."""
    B_val = min(B, (len(val_ids) - 1) // T)
    batches = Batches(val_ids, B_val, T)
    was_training = model.training
    model.eval()
    state = model.zero_state(B_val)
    total, count = 0.0, 0
    for k in range(batches.per_epoch):
        x, y = batches.get(k)
        logits, state = model(x, state)
        total += F.cross_entropy(logits.reshape(-1, model.V), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count


# ----------------------------------------------------------------- subcommands


def cmd_parity(args):
    vocab, ids = load_corpus(args.data)
    train_ids, val_ids = split_train_val(ids, args.val_frac)
    batches = Batches(train_ids, args.batch, args.seq)
    eval_at = {int(s) for s in args.eval_at.split(",") if s}
    log(f"vocab {len(vocab)}, train {len(train_ids)}, val {len(val_ids)}, "
        f"{batches.per_epoch} batches/epoch")
    model, opt = make_model_and_opt(args, len(vocab))
    model.train()
    t0 = time.perf_counter()
    state = None
    for i in range(args.iters):
        k = i % batches.per_epoch
        if k == 0:
            state = model.zero_state(args.batch)  # fresh state each epoch
        x, y = batches.get(k)
        loss, state = train_step(model, opt, x, y, state)
        it = i + 1
        if it % args.print_every == 0 or it == 1:
            emit({"iter": it, "train_loss": loss, "seconds": time.perf_counter() - t0})
        if it in eval_at:
            v = val_loss(model, val_ids, args.batch, args.seq)
            emit({"iter": it, "train_loss": loss, "val_loss": v,
                  "seconds": time.perf_counter() - t0})
    emit({"kind": "parity", "model": args.model, "layers": args.layers, "hidden": args.hidden,
          "batch": args.batch, "seq": args.seq, "lr": args.lr, "seed": args.seed,
          "iters": args.iters, "threads": torch.get_num_threads(),
          "wall_seconds": time.perf_counter() - t0})


def timed_runs(fn, warmup, repeats):
    """fn(n) runs n units of work (None = the timed amount).

    Returns (wall seconds, process CPU seconds) of each of `repeats` timed calls.
    On a loaded machine CPU time is the steadier figure (1 thread: CPU ~ wall when idle).
    """
    fn(warmup)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(None)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def summary(kind, args, chars_per_run, timings):
    wall, cpu = timings
    rates = [chars_per_run / s for s in wall]
    cpu_rates = [chars_per_run / s for s in cpu]
    return {"kind": kind, "model": args.model, "layers": args.layers, "hidden": args.hidden,
            "threads": torch.get_num_threads(),
            "chars_per_sec": statistics.median(rates),
            "min": min(rates), "max": max(rates),
            "runs": [round(r, 1) for r in rates],
            "chars_per_cpu_sec": statistics.median(cpu_rates),
            "cpu_runs": [round(r, 1) for r in cpu_rates]}


def cmd_bench_train(args):
    """Real tiny-shakespeare train batches (vocabulary 65), cycled; state carried."""
    vocab, ids = load_corpus(args.data)
    train_ids, _ = split_train_val(ids, args.val_frac)
    batches = Batches(train_ids, args.batch, args.seq)
    model, opt = make_model_and_opt(args, len(vocab))
    model.train()
    state = [model.zero_state(args.batch)]
    step = [0]

    def run(n):
        for _ in range(args.iters if n is None else n):
            x, y = batches.get(step[0] % batches.per_epoch)
            step[0] += 1
            _, state[0] = train_step(model, opt, x, y, state[0])

    log(f"bench-train {args.model} {args.layers}x{args.hidden} B{args.batch} T{args.seq}: "
        f"{args.warmup} warmup + {args.repeats} x {args.iters} iters")
    timings = timed_runs(run, args.warmup, args.repeats)
    out = summary("train", args, args.batch * args.seq * args.iters, timings)
    out.update(batch=args.batch, seq=args.seq, iters=args.iters, vocab=len(vocab),
               data="tinyshakespeare train batches")
    emit(out)


@torch.no_grad()
def cmd_bench_sample(args):
    """Single stream, one char per step: one-hot -> logits -> softmax(T=1) -> multinomial."""
    V = args.vocab
    model, _ = make_model_and_opt(args, V)
    model.eval()
    gen = torch.Generator().manual_seed(args.seed)
    state = [model.zero_state(1)]
    cur = [0]

    def run(n):
        x = torch.tensor([[cur[0]]], dtype=torch.long)  # (1, 1)
        for _ in range(args.chars if n is None else n):
            logits, state[0] = model(x, state[0])  # (1, 1, V)
            probs = F.softmax(logits[0, 0] / args.temperature, dim=-1)  # (V,)
            c = torch.multinomial(probs, 1, generator=gen).item()
            x = torch.tensor([[c]], dtype=torch.long)
        cur[0] = c

    log(f"bench-sample {args.model} {args.layers}x{args.hidden}: "
        f"{args.warmup} warmup + {args.repeats} x {args.chars} chars")
    timings = timed_runs(run, args.warmup, args.repeats)
    out = summary("sample", args, args.chars, timings)
    out.update(chars=args.chars, vocab=V, temperature=args.temperature)
    emit(out)


# ----------------------------------------------------------------- CLI


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, iters, warmup, repeats):
        sp.add_argument("--model", choices=sorted(CELLS), default="lstm")
        sp.add_argument("--layers", type=int, default=2)
        sp.add_argument("--hidden", type=int, default=128)
        sp.add_argument("--batch", type=int, default=50)
        sp.add_argument("--seq", type=int, default=50)
        sp.add_argument("--lr", type=float, default=0.05)
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--data", default=DEFAULT_DATA)
        sp.add_argument("--val-frac", type=float, default=0.1)
        sp.add_argument("--threads", type=int, default=1, help="torch + OpenBLAS threads")
        sp.add_argument("--iters", type=int, default=iters)
        sp.add_argument("--warmup", type=int, default=warmup)
        sp.add_argument("--repeats", type=int, default=repeats)

    sp = sub.add_parser("parity", help="train and report train/val loss")
    common(sp, 2000, 0, 1)
    sp.add_argument("--eval-at", default="1000,2000")
    sp.add_argument("--print-every", type=int, default=100)
    sp.set_defaults(fn=cmd_parity)

    sp = sub.add_parser("bench-train", help="training throughput, chars/s")
    common(sp, 100, 10, 5)
    sp.set_defaults(fn=cmd_bench_train)

    sp = sub.add_parser("bench-sample", help="single-stream sampling throughput, chars/s")
    common(sp, 0, 200, 5)
    sp.add_argument("--chars", type=int, default=2000)
    sp.add_argument("--vocab", type=int, default=65)
    sp.add_argument("--temperature", type=float, default=1.0)
    sp.set_defaults(fn=cmd_bench_sample)

    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.fn(args)


if __name__ == "__main__":
    main()

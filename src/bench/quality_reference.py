#!/usr/bin/python3
"""PyTorch references for `npm run bench:quality`: the best model each recipe makes in a wall-clock budget.

Two contenders, written here from their descriptions (nothing copied):
- gpt: a small GPT in the spirit of nanoGPT's CPU configuration ("baby GPT"): 4 layers, 4 heads, 128 wide,
  block 64, batch 12 random windows, no dropout, pre-LayerNorm blocks without biases, GELU MLP, token embedding
  tied to the output layer; AdamW lr 1e-3 (betas 0.9/0.99, weight decay 0.1 on matrices), 100 warm-up
  iterations, cosine decay to 1e-4 over the budget, gradient norm clipped to 1.
- lstm: char-rnn with charnn's former default recipe: LSTM 2x128, Adagrad 0.05, 50 streams x 50 steps with the
  hidden state carried, gradient norm clipped to 5, lr x0.97 per epoch after epoch 10.

Both read the text as charnn does (UTF-8 code points, sorted vocabulary) and hold out the same last 10%. The
budget is wall-clock from the first step, validations included (as charnn's --time); the best validation is kept.
The number reported is the mean loss in nats per character over the WHOLE validation split:
- lstm: 50 streams from a zero state, the state carried across batches (as charnn's validation);
- gpt: windows of 64 advanced by 32, each character scored once with at least 32 characters of context (the
  first window scores all of its 64), which is kinder to it than cutting the text into separate blocks.
During training the gpt keeps its best by a quicker validation on the first 8k characters of the split.

  /usr/bin/python3 src/bench/quality_reference.py run --model gpt --data corpus.txt --budget 100 --threads 1
  /usr/bin/python3 src/bench/quality_reference.py speed --model lstm --data corpus.txt --threads 2

One JSON object per result on stdout; progress on stderr. PyTorch runs at its best as in torch_reference.py
(OpenBLAS core type, subnormals flushed on every thread); `speed` measures iterations per second so the caller
can take the better of 1 and 2 threads, each in its own process.
"""

import copy
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402  (sets PyTorch up at its best before torch is used)

torch, nn, F = ref.torch, ref.nn, ref.F

GPT = dict(layers=4, heads=4, width=128, block=64, batch=12, lr=1e-3, min_lr=1e-4, warmup=100, weight_decay=0.1,
           betas=(0.9, 0.99), grad_clip=1.0)
LSTM = dict(layers=2, hidden=128, batch=50, seq=50, lr=0.05, grad_clip=5.0, lr_decay=0.97, lr_decay_after=10,
            max_eval_every=1000)
GPT_QUICK_VAL_CHARS = 8_192
GPT_VALIDATIONS = 4  # during the budget, at equal shares of it (each ~1% of a 100 s budget)


# ----------------------------------------------------------------- the small GPT


class Block(nn.Module):
    """x (B, T, C) -> x + attention(ln(x)) -> x + mlp(ln(x))."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width, elementwise_affine=True)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        self.ln2 = nn.LayerNorm(width, elementwise_affine=True)
        self.up = nn.Linear(width, 4 * width, bias=False)
        self.down = nn.Linear(4 * width, width, bias=False)

    def forward(self, x, causal):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)  # 3 x (B, T, C)
        shape = (B, T, self.heads, C // self.heads)
        q, k, v = (a.view(shape).transpose(1, 2) for a in (q, k, v))  # (B, heads, T, C/heads)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.heads)  # (B, heads, T, T)
        att = att.masked_fill(causal[:T, :T], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        x = x + self.proj(y)
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class SmallGPT(nn.Module):
    """ids (B, T) -> logits (B, T, V)."""

    def __init__(self, V, layers, heads, width, block):
        super().__init__()
        self.tok = nn.Embedding(V, width)
        self.pos = nn.Embedding(block, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.register_buffer("causal", torch.triu(torch.ones(block, block, dtype=torch.bool), diagonal=1))
        for name, p in self.named_parameters():
            if p.dim() == 2:  # GPT-2 initialisation; residual projections scaled by depth
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("proj.weight", "down.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(T))  # (B, T, C)
        for block in self.blocks:
            x = block(x, self.causal)
        return self.ln(x) @ self.tok.weight.t()  # (B, T, V), output layer tied to the embedding


@torch.no_grad()
def gpt_val_loss(model, val, block, limit=None):
    """Mean nats/char over val[: limit] (whole split by default): windows of `block` advanced by block/2."""
    model.eval()
    ids = val if limit is None else val[: limit + 1]
    stride = block // 2
    total, count = 0.0, 0
    starts = list(range(0, max(1, len(ids) - block), stride))
    for i in range(0, len(starts), 128):
        chunk = starts[i: i + 128]
        x = torch.stack([ids[s: s + block] for s in chunk])  # (n, block)
        y = torch.stack([ids[s + 1: s + block + 1] for s in chunk])  # (n, block)
        logp = -F.cross_entropy(model(x).reshape(-1, model.tok.num_embeddings), y.reshape(-1), reduction="none").view(len(chunk), block)
        for j, s in enumerate(chunk):
            scored = logp[j] if s == 0 else logp[j, stride:]  # each character once, with >= stride of context
            total -= scored.sum().item()
            count += scored.numel()
    # the tail the last window did not reach (fewer than `stride` characters)
    last_end = starts[-1] + block
    if last_end < len(ids) - 1:
        s = len(ids) - 1 - block
        x, y = ids[s: s + block].unsqueeze(0), ids[s + 1: s + block + 1].unsqueeze(0)
        logp = -F.cross_entropy(model(x).reshape(-1, model.tok.num_embeddings), y.reshape(-1), reduction="none")
        tail = logp[-(len(ids) - 1 - last_end):]
        total -= tail.sum().item()
        count += tail.numel()
    model.train()
    return total / count


def gpt_optimizer(model):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": GPT["weight_decay"]}, {"params": other, "weight_decay": 0.0}],
                             lr=GPT["lr"], betas=GPT["betas"])


def gpt_lr(iteration, progress):
    """Linear warm-up, then cosine from lr to min_lr over the budget (progress = share of it spent)."""
    if iteration < GPT["warmup"]:
        return GPT["lr"] * (iteration + 1) / GPT["warmup"]
    return GPT["min_lr"] + 0.5 * (1 + math.cos(math.pi * min(1.0, progress))) * (GPT["lr"] - GPT["min_lr"])


class GptRun:
    def __init__(self, train, vocab_size, seed):
        torch.manual_seed(seed)
        self.train = train
        self.model = SmallGPT(vocab_size, GPT["layers"], GPT["heads"], GPT["width"], GPT["block"])
        self.opt = gpt_optimizer(self.model)
        self.gen = torch.Generator().manual_seed(seed)
        self.iteration = 0

    def step(self, progress):
        block, batch = GPT["block"], GPT["batch"]
        starts = torch.randint(len(self.train) - block - 1, (batch,), generator=self.gen)
        x = torch.stack([self.train[s: s + block] for s in starts])  # (B, block)
        y = torch.stack([self.train[s + 1: s + block + 1] for s in starts])  # (B, block)
        for group in self.opt.param_groups:
            group["lr"] = gpt_lr(self.iteration, progress)
        loss = F.cross_entropy(self.model(x).reshape(-1, self.model.tok.num_embeddings), y.reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), GPT["grad_clip"])
        self.opt.step()
        self.iteration += 1
        return loss.item()

    chars_per_step = GPT["block"] * GPT["batch"]


# ----------------------------------------------------------------- char-rnn, charnn's former defaults


class LstmRun:
    def __init__(self, train, vocab_size, seed):
        torch.manual_seed(seed)
        self.batches = ref.Batches(train.tolist(), LSTM["batch"], LSTM["seq"])
        self.model = ref.CharModel("lstm", vocab_size, LSTM["hidden"], LSTM["layers"])
        self.model.train()
        self.opt = torch.optim.Adagrad(self.model.parameters(), lr=LSTM["lr"])
        self.state = None
        self.iteration = 0
        self.eval_every = min(self.batches.per_epoch, LSTM["max_eval_every"])

    def step(self, progress):
        k = self.iteration % self.batches.per_epoch
        if k == 0:
            self.state = self.model.zero_state(LSTM["batch"])  # every stream restarts with the epoch
        epochs_done = self.iteration // self.batches.per_epoch
        decays = max(0, epochs_done - max(LSTM["lr_decay_after"], 1) + 1)
        for group in self.opt.param_groups:
            group["lr"] = LSTM["lr"] * LSTM["lr_decay"] ** decays
        x, y = self.batches.get(k)
        logits, state = self.model(x, self.state)
        loss = F.cross_entropy(logits.reshape(-1, self.model.V), y.reshape(-1))
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), LSTM["grad_clip"])
        self.opt.step()
        self.state = ref.detach(state)
        self.iteration += 1
        return loss.item()

    chars_per_step = LSTM["batch"] * LSTM["seq"]


# ----------------------------------------------------------------- commands


def load(path):
    vocab, ids = ref.load_corpus(path)
    train, val = ref.split_train_val(ids, 0.1)
    return len(vocab), torch.tensor(train, dtype=torch.long), torch.tensor(val, dtype=torch.long)


def make_run(kind, path, seed):
    V, train, val = load(path)
    return (GptRun if kind == "gpt" else LstmRun)(train, V, seed), val


def cmd_speed(args):
    """Iterations per second after a warm-up: for choosing the thread count."""
    ref.set_threads(args.threads)
    run, _ = make_run(args.model, args.data, args.seed)
    for _ in range(5):
        run.step(0.0)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < args.seconds:
        run.step(0.0)
        n += 1
    rate = n / (time.perf_counter() - t0)
    ref.emit({"kind": "speed", "model": args.model, "threads": args.threads, "iters_per_sec": rate,
              "chars_per_sec": rate * run.chars_per_step, "setup": ref.describe_setup()})


def cmd_run(args):
    ref.set_threads(args.threads)
    ref.log_setup()
    run, val = make_run(args.model, args.data, args.seed)
    budget = args.budget
    best, best_state, best_iter, history = math.inf, None, 0, []
    validations_done = 0

    def validate(final=False):
        nonlocal best, best_state, best_iter
        if args.model == "gpt":
            v = gpt_val_loss(run.model, val, GPT["block"], None if final else GPT_QUICK_VAL_CHARS)
        else:
            v = ref.val_loss(run.model, val.tolist(), LSTM["batch"], LSTM["seq"])
            run.model.train()
        history.append({"iter": run.iteration, "seconds": round(time.perf_counter() - t0, 2), "val_loss": v})
        if v < best:
            best, best_iter = v, run.iteration
            best_state = copy.deepcopy(run.model.state_dict())
        ref.log(f"{args.model} iter {run.iteration} at {time.perf_counter() - t0:.0f}s: val {v:.4f} (best {best:.4f})")

    t0 = time.perf_counter()
    loss = math.nan
    while True:
        elapsed = time.perf_counter() - t0
        if elapsed >= budget:
            break
        loss = run.step(elapsed / budget)
        if args.model == "gpt":
            due = math.floor((time.perf_counter() - t0) / budget * GPT_VALIDATIONS)
            if due > validations_done and due < GPT_VALIDATIONS:
                validations_done = due
                validate()
        elif run.iteration % run.eval_every == 0:
            validate()
    trained = time.perf_counter() - t0
    validate()  # at the end of the budget, as charnn validates once more when its time is up
    if args.model == "gpt":
        # the whole split for the best by the quick validation
        run.model.load_state_dict(best_state)
        best = gpt_val_loss(run.model, val, GPT["block"])
    ref.emit({"kind": "quality", "model": args.model, "seed": args.seed, "budget": budget, "threads": args.threads,
              "iterations": run.iteration, "train_seconds": round(trained, 2), "train_loss": loss,
              "chars_seen": run.iteration * run.chars_per_step, "best_iter": best_iter, "val_loss": best,
              "history": history, "setup": ref.describe_setup()})


def main():
    import argparse
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("run", "speed"):
        sp = sub.add_parser(name)
        sp.add_argument("--model", choices=["gpt", "lstm"], required=True)
        sp.add_argument("--data", default=ref.DEFAULT_DATA)
        sp.add_argument("--threads", type=int, default=1)
        sp.add_argument("--seed", type=int, default=1)
        if name == "run":
            sp.add_argument("--budget", type=float, required=True, help="wall-clock seconds")
        else:
            sp.add_argument("--seconds", type=float, default=4.0)
    args = p.parse_args()
    {"run": cmd_run, "speed": cmd_speed}[args.cmd](args)


if __name__ == "__main__":
    main()

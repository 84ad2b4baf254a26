#!/usr/bin/python3
"""PyTorch reference for charnn: learning parity and speed baselines.

Replicates charnn's data pipeline exactly (vocabulary, validation split,
char-rnn batching, hidden-state carry) so its losses and throughputs can be
compared with charnn's. stdlib + torch only.

Every result is one JSON object per line on stdout; progress goes to stderr.

  /usr/bin/python3 src/bench/torch_reference.py parity --iters 2000 --eval-at 1000,2000
  /usr/bin/python3 src/bench/torch_reference.py bench-train --layers 2 --hidden 128
  /usr/bin/python3 src/bench/torch_reference.py bench-sample --layers 3 --hidden 512 --threads 1,2
  /usr/bin/python3 src/bench/torch_reference.py sgemm-peak --threads 1,2

PyTorch runs at its best: the OpenBLAS core type is chosen when the library falls back to its SSE3 kernels, and
subnormals are flushed on every thread (see "PyTorch at its best" below); what it chose goes to stderr and into
every result ("setup"). CHARNN_TORCH_FLUSH=off and CHARNN_TORCH_CORETYPE=off turn either off, to measure what
they are worth.
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
    """--threads N or --threads 1,2 (default 1) -> [N, ...], read before torch is imported."""
    value = "1"
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith("--threads="):
            value = a.split("=", 1)[1]
    try:
        counts = [int(x) for x in value.split(",") if x]
    except ValueError:
        counts = []
    return counts if counts and all(n >= 1 for n in counts) else [1]


# ----------------------------------------------------------------- PyTorch at its best
#
# Two things make PyTorch far slower than it is on some machines, and both must be settled before the BLAS library
# loads (at `import torch`):
# - Debian's OpenBLAS 0.3.21 does not recognise newer Intel CPUs and falls back to its SSE3 "Prescott" kernels
#   (~5x slower sgemm than AVX-512). OPENBLAS_CORETYPE, read when the library loads, picks the kernels instead. A
#   child process with OPENBLAS_VERBOSE=2 tells which core the library would choose by itself.
# - Subnormal floats cost ~100 cycles an operation on x86 unless the MXCSR flush-to-zero / denormals-are-zero bits
#   are set. They are per thread, and torch.set_flush_denormal(True) sets them on the calling thread only; a thread
#   inherits them from the thread that creates it. So they are set here, before torch (and OpenBLAS's thread pool,
#   created at load) exists, then once more through torch, and verify_flush() checks every thread's results.

FALLBACK_CORES = {"prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge", "katmai", "coppermine",
                  "northwood", "banias", "atom"}  # OpenBLAS kernels without AVX2/FMA


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _detected_core():
    """The OpenBLAS core type a fresh process would pick by itself (OPENBLAS_VERBOSE=2), or None if unknown."""
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env["OPENBLAS_VERBOSE"] = "2"
    probe = ("import numpy; a = numpy.ones((64, 64), numpy.float32); a @ a" if _has_module("numpy") else
             "import torch; a = torch.ones(64, 64); a @ a")
    try:
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in (out.stdout + out.stderr).splitlines():
        if line.startswith("Core:"):
            return line.split(":", 1)[1].strip()
    return None


def _has_module(name):
    import importlib.util
    return importlib.util.find_spec(name) is not None


AVX2_ONLY_CORES = {"haswell", "zen", "skylake", "excavator"}  # OpenBLAS kernels with AVX2/FMA but not AVX-512


def choose_core_type():
    """-> (core OpenBLAS would use, OPENBLAS_CORETYPE set here or None); sets the variable when that is not the best.

    Without OPENBLAS_CORETYPE, "not the best" is a fallback to kernels without AVX2/FMA. An OPENBLAS_CORETYPE
    inherited from the environment is kept unless it names AVX2 kernels on a CPU with AVX-512 (some machines set
    Haswell for everyone; on an AVX-512 Zen 5 that halved single-thread sgemm: 78-87 vs 121-156 GFLOP/s).
    """
    inherited = os.environ.get("OPENBLAS_CORETYPE")
    flags = _cpu_flags()
    has_avx512 = {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags
    if inherited:
        if has_avx512 and inherited.lower() in AVX2_ONLY_CORES:
            os.environ["OPENBLAS_CORETYPE"] = "SKYLAKEX"
            return f"{inherited} (from the environment)", "SKYLAKEX"
        return None, None  # the caller chose
    detected = _detected_core()
    if detected is None or detected.lower() not in FALLBACK_CORES:
        return detected, None
    if has_avx512:
        chosen = "SKYLAKEX"
    elif {"avx2", "fma"} <= flags:
        chosen = "HASWELL"
    else:
        return detected, None
    os.environ["OPENBLAS_CORETYPE"] = chosen
    return detected, chosen


def set_thread_flush_bits():
    """FTZ + DAZ in this thread's MXCSR through glibc's fesetenv (x86-64 fenv_t: 28 bytes x87 env, then mxcsr)."""
    import ctypes
    import platform
    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        libm = ctypes.CDLL("libm.so.6")
    except OSError:
        return False
    env = (ctypes.c_uint8 * 32)()
    if libm.fegetenv(env) != 0:
        return False
    mxcsr = int.from_bytes(bytes(env[28:32]), "little") | 0x8040  # FTZ (bit 15) | DAZ (bit 6)
    env[28:32] = (ctypes.c_uint8 * 4)(*mxcsr.to_bytes(4, "little"))
    return libm.fesetenv(env) == 0


THREAD_COUNTS = _threads_from_argv(sys.argv)
# OpenBLAS sizes its thread pool when torch loads it: make it as large as the most threads asked for; each
# measurement then sets the count it runs with (set_threads).
os.environ["OPENBLAS_NUM_THREADS"] = str(max(THREAD_COUNTS))
# With >1 thread on a busy machine, OpenMP's default spin-waiting made training
# ~12x slower than 1 thread here; passive waiting avoids that (read at load too).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
FLUSH = os.environ.get("CHARNN_TORCH_FLUSH") != "off"  # off: measure what subnormals cost
CORE_DETECTED, CORE_CHOSEN = choose_core_type() if os.environ.get("CHARNN_TORCH_CORETYPE") != "off" else (None, None)
EARLY_FLUSH = set_thread_flush_bits() if FLUSH else False

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def _openblas():
    """ctypes handle of the OpenBLAS torch loaded (the same library object numpy uses), or None."""
    import ctypes
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "libopenblas" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib
        except (OSError, AttributeError):
            continue
    return None


torch.ones(8, 8) @ torch.ones(8, 8)  # loads the BLAS library (lazily, on some builds)
OPENBLAS = _openblas()
CORE_IN_USE = OPENBLAS.openblas_get_corename().decode() if OPENBLAS is not None else "unknown (not OpenBLAS?)"
if FLUSH:
    torch.set_flush_denormal(True)


def set_threads(n):
    """torch's intra-op threads and OpenBLAS's, both n (OpenBLAS's pool was sized at load)."""
    torch.set_num_threads(n)
    if OPENBLAS is not None:
        OPENBLAS.openblas_set_num_threads(n)


def verify_flush(counts):
    """Whether results that would be subnormal come out zero on every thread, for each thread count in `counts`.

    A GEMM big enough for OpenBLAS to split, and an element-wise op big enough for OpenMP to split, on subnormal
    inputs: without flushing (in any thread taking part) some outputs are non-zero.
    """
    tiny = torch.full((512, 512), 1e-39)  # subnormal in float32 (smallest normal 1.18e-38)
    ok = {}
    for n in counts:
        set_threads(n)
        product = tiny @ torch.rand(512, 512)  # ~5e-37 per element unless the inputs are treated as zero
        halved = torch.full((1 << 22,), 1e-39) * 0.5
        ok[n] = bool((product == 0).all()) and bool((halved == 0).all())
    return ok


FLUSH_OK = verify_flush(THREAD_COUNTS)


def describe_setup():
    """What this process measures with, for stderr and for every JSON result."""
    return {"core": CORE_IN_USE, "core_detected": CORE_DETECTED, "coretype_set": CORE_CHOSEN or os.environ.get("OPENBLAS_CORETYPE"),
            "flush_denormal": FLUSH, "flush_verified": {str(n): v for n, v in FLUSH_OK.items()},
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "torch": torch.__version__}


def log_setup():
    d = describe_setup()
    if CORE_CHOSEN:
        core = f"OpenBLAS core {d['core']} (OPENBLAS_CORETYPE={CORE_CHOSEN}: by itself it picked {CORE_DETECTED})"
    elif os.environ.get("OPENBLAS_CORETYPE"):
        core = f"OpenBLAS core {d['core']} (OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} from the environment)"
    else:
        core = f"OpenBLAS core {d['core']} (its own choice)"
    if not FLUSH:
        flush = "subnormals NOT flushed (CHARNN_TORCH_FLUSH=off)"
    else:
        flush = "flush subnormals: " + ", ".join(
            f"{n} thread{'s' if n > 1 else ''} {'verified' if v else 'NOT effective on every thread'}" for n, v in FLUSH_OK.items())
    log(f"torch {torch.__version__}: {core}; {flush}; threads {','.join(map(str, THREAD_COUNTS))}; OMP_WAIT_POLICY={d['omp_wait_policy']}")


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


def rates(chars_per_run, timings):
    wall, cpu = timings
    by_wall = [chars_per_run / s for s in wall]
    by_cpu = [chars_per_run / s for s in cpu]
    return {"chars_per_sec": statistics.median(by_wall), "min": min(by_wall), "max": max(by_wall),
            "runs": [round(r, 1) for r in by_wall],
            "chars_per_cpu_sec": statistics.median(by_cpu), "cpu_runs": [round(r, 1) for r in by_cpu]}


def summary(kind, args, chars_per_run, times):
    """The best thread count's rates at the top level, every count's under by_threads."""
    by_threads = {n: rates(chars_per_run, t) for n, t in times.items()}
    best = max(by_threads, key=lambda n: by_threads[n]["chars_per_sec"])
    out = {"kind": kind, "model": args.model, "layers": args.layers, "hidden": args.hidden, "threads": best}
    out.update(by_threads[best])
    out["by_threads"] = {str(n): r for n, r in by_threads.items()}
    out["setup"] = describe_setup()
    return out


class TrainBench:
    """Real tiny-shakespeare train batches (vocabulary 65), cycled; state carried."""

    def __init__(self, args):
        vocab, ids = load_corpus(args.data)
        train_ids, _ = split_train_val(ids, args.val_frac)
        self.batches = Batches(train_ids, args.batch, args.seq)
        self.vocab = len(vocab)
        self.model, self.opt = make_model_and_opt(args, self.vocab)
        self.model.train()
        self.state = self.model.zero_state(args.batch)
        self.step = 0
        self.iters = args.iters

    def run(self, n=None):
        for _ in range(self.iters if n is None else n):
            x, y = self.batches.get(self.step % self.batches.per_epoch)
            self.step += 1
            _, self.state = train_step(self.model, self.opt, x, y, self.state)


class SampleBench:
    """Single stream, one char per step: one-hot -> logits -> softmax(T=1) -> multinomial."""

    def __init__(self, args):
        self.model, _ = make_model_and_opt(args, args.vocab)
        self.model.eval()
        self.gen = torch.Generator().manual_seed(args.seed)
        self.state = self.model.zero_state(1)
        self.cur = 0
        self.chars, self.temperature = args.chars, args.temperature

    @torch.no_grad()
    def run(self, n=None):
        x = torch.tensor([[self.cur]], dtype=torch.long)  # (1, 1)
        c = self.cur
        for _ in range(self.chars if n is None else n):
            logits, self.state = self.model(x, self.state)  # (1, 1, V)
            probs = F.softmax(logits[0, 0] / self.temperature, dim=-1)  # (V,)
            c = torch.multinomial(probs, 1, generator=self.gen).item()
            x = torch.tensor([[c]], dtype=torch.long)
        self.cur = c


class SgemmPeak:
    """Square float32 GEMM, C = A.B (n x n), through numpy (OpenBLAS) or else torch.mm: the machine's sgemm rate."""

    def __init__(self, n):
        self.n = n
        if _has_module("numpy"):
            import numpy
            rng = numpy.random.default_rng(0)
            self.a = rng.random((n, n), dtype=numpy.float32)
            self.b = rng.random((n, n), dtype=numpy.float32)
            self.mm, self.via = (lambda: self.a @ self.b), "numpy"
        else:
            self.a, self.b = torch.rand(n, n), torch.rand(n, n)
            self.mm, self.via = (lambda: torch.mm(self.a, self.b)), "torch.mm"

    def run(self, n=None):
        for _ in range(3 if n is None else n):
            self.mm()

    def flop(self):
        return 3 * 2 * self.n ** 3  # per timed call of run()


def measure(args, job, units):
    """Timings of `job` ("train" | "sample" | "sgemm") at each thread count: {threads: (wall list, cpu list)}.

    One thread count is measured here. Several are measured in one child process each (`serve`), because OpenBLAS
    sizes its thread pool at load and a pool larger than the count in use slowed 1-thread training ~5-10% here;
    the children take turns, one timed run each, so a change in the machine's load hits every count alike.
    """
    if len(THREAD_COUNTS) == 1:
        bench = make_job(job, args)
        set_threads(THREAD_COUNTS[0])
        bench.run(args.warmup)
        times = ([], [])
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            bench.run()
            times[0].append(time.perf_counter() - t0)
            times[1].append(time.process_time() - c0)
        return {THREAD_COUNTS[0]: times}
    children = {n: ServeChild(args, job, n) for n in THREAD_COUNTS}
    try:
        times = {n: ([], []) for n in THREAD_COUNTS}
        for _ in range(args.repeats):
            for n, child in children.items():
                reply = child.request(job)
                times[n][0].append(reply["wall"])
                times[n][1].append(reply["cpu"])
        return times
    finally:
        for child in children.values():
            child.close()


class ServeChild:
    """This script's `serve` in a child process with its own thread count, answering one request per timed run."""

    def __init__(self, args, job, threads):
        import subprocess
        argv = [sys.executable, os.path.abspath(__file__), "serve", "--jobs", job, "--threads", str(threads)]
        for name in ("model", "layers", "hidden", "batch", "seq", "lr", "seed", "data", "val_frac", "iters", "warmup",
                     "chars", "vocab", "temperature", "size"):
            if hasattr(args, name):
                argv += ["--" + name.replace("_", "-"), str(getattr(args, name))]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"serve --threads {threads} did not start: {ready}")

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"serve child exited with status {self.proc.wait()}")
        return json.loads(line)

    def request(self, job):
        self.proc.stdin.write(json.dumps({"job": job}) + "\n")
        reply = self._read()
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def make_job(job, args):
    return {"train": TrainBench, "sample": SampleBench, "sgemm": lambda a: SgemmPeak(a.size)}[job](args)


def cmd_bench_train(args):
    log(f"bench-train {args.model} {args.layers}x{args.hidden} B{args.batch} T{args.seq}: "
        f"{args.warmup} warmup + {args.repeats} x {args.iters} iters")
    log_setup()
    vocab, _ = load_corpus(args.data)
    out = summary("train", args, args.batch * args.seq * args.iters, measure(args, "train", None))
    out.update(batch=args.batch, seq=args.seq, iters=args.iters, vocab=len(vocab),
               data="tinyshakespeare train batches")
    emit(out)
    log(f"best: {out['threads']} thread(s), {out['chars_per_sec']:.0f} chars/s")


def cmd_bench_sample(args):
    log(f"bench-sample {args.model} {args.layers}x{args.hidden}: "
        f"{args.warmup} warmup + {args.repeats} x {args.chars} chars")
    log_setup()
    out = summary("sample", args, args.chars, measure(args, "sample", None))
    out.update(chars=args.chars, vocab=args.vocab, temperature=args.temperature)
    emit(out)
    log(f"best: {out['threads']} thread(s), {out['chars_per_sec']:.0f} chars/s")


def cmd_sgemm_peak(args):
    log(f"sgemm-peak {args.size}^3: 1 warmup + {args.repeats} x 3 products")
    log_setup()
    flop = 3 * 2 * args.size ** 3  # SgemmPeak.flop()
    args.warmup = 1
    by_threads = {}
    for n, (wall, _) in measure(args, "sgemm", None).items():
        g = [flop / s / 1e9 for s in wall]
        by_threads[str(n)] = {"gflops": statistics.median(g), "min": min(g), "max": max(g)}
    best = max(by_threads, key=lambda n: by_threads[n]["gflops"])
    emit({"kind": "sgemm", "size": args.size, "threads": int(best), "gflops": by_threads[best]["gflops"],
          "by_threads": by_threads, "setup": describe_setup()})
    log(f"best: {best} thread(s), {by_threads[best]['gflops']:.1f} GFLOP/s")


def cmd_serve(args):
    """One measurement per request, so a caller (this script, `npm run bench`) can interleave its measurements.

    Builds the --jobs (train, sample, sgemm), warms each up, and prints {"ready": true, "setup", "vocab"}. Then reads
    JSON lines {"job": name} from stdin and answers each with one JSON line {"units", "wall", "cpu"} (units: chars,
    or flops for sgemm; seconds of one timed run) or {"error"}. Runs on one thread count (--threads N).
    """
    if len(THREAD_COUNTS) != 1:
        raise SystemExit("serve runs on one thread count: --threads N")
    set_threads(THREAD_COUNTS[0])
    names = [j for j in args.jobs.split(",") if j]
    jobs = {name: make_job(name, args) for name in names}
    units = {"train": args.batch * args.seq * args.iters, "sample": args.chars,
             "sgemm": jobs["sgemm"].flop() if "sgemm" in jobs else 0}
    warmups = {"train": args.warmup, "sample": 200, "sgemm": 1}
    for name, job in jobs.items():
        job.run(warmups[name])
    emit({"ready": True, "setup": describe_setup(), "threads": THREAD_COUNTS[0],
          "vocab": jobs["train"].vocab if "train" in jobs else args.vocab})
    for line in sys.stdin:
        try:
            name = json.loads(line)["job"]
            t0, c0 = time.perf_counter(), time.process_time()
            jobs[name].run()
            emit({"units": units[name], "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0})
        except Exception as e:  # reported to the caller, which shows it in its table
            emit({"error": f"{type(e).__name__}: {e}"})


# ----------------------------------------------------------------- CLI


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def sample_options(sp):
        sp.add_argument("--chars", type=int, default=2000)
        sp.add_argument("--vocab", type=int, default=65)
        sp.add_argument("--temperature", type=float, default=1.0)

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
        sp.add_argument("--threads", default="1",
                        help="torch + OpenBLAS threads: N, or a list (1,2) measured in turns (a child process each), the best reported")
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
    sample_options(sp)
    sp.set_defaults(fn=cmd_bench_sample)

    sp = sub.add_parser("sgemm-peak", help="square float32 GEMM rate (numpy/OpenBLAS), GFLOP/s")
    common(sp, 0, 0, 5)
    sp.add_argument("--size", type=int, default=2048)
    sp.set_defaults(fn=cmd_sgemm_peak)

    sp = sub.add_parser("serve", help="answer timing requests on stdin (used by npm run bench)")
    common(sp, 10, 1, 0)
    sample_options(sp)
    sp.add_argument("--size", type=int, default=2048)
    sp.add_argument("--jobs", default="train,sample,sgemm")
    sp.set_defaults(fn=cmd_serve)

    args = p.parse_args()
    set_threads(THREAD_COUNTS[0])
    args.fn(args)


if __name__ == "__main__":
    main()

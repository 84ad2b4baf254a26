// Micro-benchmark of the GEMM backends on the shapes an LSTM layer produces, plus 512³: GFLOP/s as the median of
// several timed repeats, with the spread (min–max). Run after a build: `node dist/bench/gemm.js`; add
// `--experimental-wasm-relaxed-simd` before the script to include the fused multiply-add build on Node 20.
//
// Dimensions: B = 50 streams, T = 50 steps, H hidden, G = 4H gates, I = layer input width (= H above layer 1).
// Rates are per CPU second of this process (process.cpuUsage, all threads), which on a shared machine measures
// the kernel rather than the scheduler; the wall-clock median (w) is printed beside it. For the two-thread
// backend (-2t) the wall-clock rate is the speed; its per-CPU-second rate shows what the split and the spinning cost.

import { referenceKernels } from '../core/kernels/reference.js';
import type { GemmKernels } from '../core/kernels/wasm.js';
import { createWasmKernels, wasmRelaxedSimdAvailable, wasmSimdAvailable } from '../core/kernels/wasm.js';
import { startGemmHelper } from '../node/gemm-helper.js';

const REPEATS = 7; // timed repeats per shape and backend; the median is reported
const MIN_REPEAT_MS = 150; // each repeat runs the GEMM enough times to last at least this long
const REFERENCE_MAX_GFLOP = 0.5; // skip shapes bigger than this for the plain-JS reference (~1-2 GFLOP/s)

type Form = 'NN' | 'NT' | 'TN';

interface Shape {
  label: string;
  form: Form;
  M: number;
  N: number;
  K: number;
}

const B = 50, T = 50;
const shapes: Shape[] = [];
for (const H of [128, 512]) {
  const G = 4 * H;
  shapes.push(
    { label: `H=${H} step        (B×H)·(H×G)`, form: 'NN', M: B, N: G, K: H },
    { label: `H=${H} input proj  (T·B×I)·(I×G)`, form: 'NN', M: T * B, N: G, K: H },
    { label: `H=${H} dH          (B×G)·(H×G)ᵀ`, form: 'NT', M: B, N: H, K: G },
    { label: `H=${H} dX all T    (T·B×G)·(I×G)ᵀ`, form: 'NT', M: T * B, N: H, K: G },
    { label: `H=${H} dW          (T·B×I)ᵀ·(T·B×G)`, form: 'TN', M: H, N: G, K: T * B },
  );
}
for (const form of ['NN', 'NT', 'TN'] as const) shapes.push({ label: '512³', form, M: 512, N: 512, K: 512 });

interface Result {
  median: number; // GFLOP per CPU second
  min: number;
  max: number;
  wallMedian: number; // GFLOP per wall-clock second
}

function measure(kernels: GemmKernels, { form, M, N, K }: Shape): Result {
  const aSize = M * K, bSize = K * N;
  const A = kernels.alloc(aSize), Bm = kernels.alloc(bSize), C = kernels.alloc(M * N);
  for (let i = 0; i < aSize; i++) A[i] = Math.sin(i) * 0.5;
  for (let i = 0; i < bSize; i++) Bm[i] = Math.cos(i) * 0.5;
  // leading dimensions of the stored (untransposed) operands
  const lda = form === 'TN' ? M : K;
  const ldb = form === 'NT' ? K : N;
  const gemm = kernels[`gemm${form}`];
  const run = () => gemm(M, N, K, A, 0, lda, Bm, 0, ldb, C, 0, N, true);

  // warm up (JIT tiers, caches) and find how many calls fill one repeat
  let calls = 1;
  for (;;) {
    const start = performance.now();
    for (let c = 0; c < calls; c++) run();
    const elapsed = performance.now() - start;
    if (elapsed >= MIN_REPEAT_MS / 4) {
      calls = Math.max(1, Math.ceil((calls * MIN_REPEAT_MS) / elapsed));
      break;
    }
    calls *= 4;
  }
  const gflop = (2 * M * N * K * calls) / 1e9;
  const perCpuSecond: number[] = [];
  const perWallSecond: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const wallStart = performance.now();
    const cpuStart = process.cpuUsage();
    for (let c = 0; c < calls; c++) run();
    const cpu = process.cpuUsage(cpuStart);
    perWallSecond.push(gflop / ((performance.now() - wallStart) / 1000));
    perCpuSecond.push(gflop / ((cpu.user + cpu.system) / 1e6));
  }
  const byValue = (x: number, y: number) => x - y;
  perCpuSecond.sort(byValue);
  perWallSecond.sort(byValue);
  const middle = Math.floor(REPEATS / 2);
  return {
    median: perCpuSecond[middle]!,
    min: perCpuSecond[0]!,
    max: perCpuSecond[REPEATS - 1]!,
    wallMedian: perWallSecond[middle]!,
  };
}

const CELL_WIDTH = 30;

function format({ median, min, max, wallMedian }: Result): string {
  return `${median.toFixed(1).padStart(5)} (${min.toFixed(1)}–${max.toFixed(1)}) w ${wallMedian.toFixed(1)}`.padEnd(CELL_WIDTH);
}

const backends: GemmKernels[] = [];
if (wasmSimdAvailable()) {
  backends.push(createWasmKernels({ fma: 'off' }));
  if (wasmRelaxedSimdAvailable()) backends.push(createWasmKernels({ fma: 'auto' }));
  backends.push(createWasmKernels({ fma: 'auto', helper: startGemmHelper }));
} else {
  console.log('WebAssembly SIMD is not available on this engine; only the reference runs.');
}
const reference = referenceKernels('f32');
backends.push(reference);

console.log(`GFLOP per CPU second, median of ${REPEATS} repeats (min–max), w = wall-clock median; B=${B}, T=${T}, G=4H; Node ${process.version}`);
console.log(`${'shape'.padEnd(36)}${'form'.padEnd(5)}${'M×N×K'.padEnd(16)}${backends.map((k) => k.name.padEnd(CELL_WIDTH)).join('')}`);
for (const shape of shapes) {
  const cells = backends.map((kernels) => {
    const tooSlow = kernels === reference && (2 * shape.M * shape.N * shape.K) / 1e9 > REFERENCE_MAX_GFLOP;
    return tooSlow ? '(skipped)'.padEnd(CELL_WIDTH) : format(measure(kernels, shape));
  });
  console.log(`${shape.label.padEnd(36)}${shape.form.padEnd(5)}${`${shape.M}×${shape.N}×${shape.K}`.padEnd(16)}${cells.join('')}`);
}

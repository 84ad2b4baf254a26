// Training speed of the native kernels against the WebAssembly ones, 1 and 2 threads, on the 2×128 and 3×512 LSTMs
// (B 50 × T 50, tiny-shakespeare's 65 symbols), arms interleaved so that a change in machine load hits all of them;
// prints median and spread of chars/s per arm, the load averages, and the GEMM GFLOP/s on the 3×512 shapes.
//
//   node dist/node/native/bench-native.js [--repeats 5] [--only 3x512] [--split rows] [--no-gemm] [--when-idle]
//
// --when-idle: before each repeat, wait (up to a minute) for a second in which the machine's cores were nearly all
// idle (/proc/stat), so that two-thread arms meet a free second core; the idle share seen is printed per config.

import { readFileSync, existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { corpusFromText } from '../../core/data/corpus.js';
import '../platform.js';
import { defaultKernels } from '../../core/platform.js';
import type { Kernels } from '../../core/kernels/types.js';
import { TrainingRun } from '../../core/train.js';
import { createNativeKernels, nativeKernelsAvailable } from './index.js';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const repeats = Number(option('--repeats') ?? 5);
const only = option('--only');
const split = option('--split') === 'rows' ? 'rows' : 'columns';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const shakespeare = join(repo, '..', 'shared', 'data', 'tinyshakespeare.txt');
const text = existsSync(shakespeare) ? readFileSync(shakespeare, 'utf8') : null;
if (!text) {
  process.stderr.write(`tiny-shakespeare not found at ${shakespeare}\n`);
  process.exit(1);
}
const corpus = corpusFromText(text);

interface Arm { name: string; kernels: () => Kernels; threads: number }

const arms: Arm[] = [
  { name: 'wasm 1t', kernels: () => defaultKernels(), threads: 1 },
  { name: 'wasm 2t', kernels: () => defaultKernels(), threads: 2 },
];
if (nativeKernelsAvailable()) {
  arms.push({ name: 'native 1t', kernels: () => createNativeKernels({ threads: 1 }), threads: 1 });
  arms.push({ name: `native 2t (${split})`, kernels: () => createNativeKernels({ threads: 2, adaptive: false, split }), threads: 1 });
  // what charnn train runs: 2 threads, falling back to 1 while that measures faster
  arms.push({ name: `native 2t adaptive`, kernels: () => createNativeKernels({ threads: 2, adaptive: true, split }), threads: 1 });
}

const configs = [
  { name: '2x128', hiddenSize: 128, layers: 2, steps: 10 },
  { name: '3x512', hiddenSize: 512, layers: 3, steps: 2 },
].filter((c) => !only || c.name === only);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const whenIdle = args.includes('--when-idle');

/** Idle cores over the last second, from /proc/stat (Linux); NaN where it cannot be read. */
function idleCores(): number {
  const read = () => readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  try {
    const before = read();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    const delta = read().map((x, i) => x - before[i]!);
    const total = delta.reduce((sum, x) => sum + x, 0);
    return (cpus().length * (delta[3]! + delta[4]!)) / total;
  } catch {
    return NaN;
  }
}

/** Waits up to a minute for a second with at least all but 0.2 of the cores idle; returns the idle cores seen. */
function waitForIdle(): number {
  let idle = NaN;
  for (let tries = 0; tries < 60; tries++) {
    idle = idleCores();
    if (!(idle < cpus().length - 0.2)) break;
  }
  return idle;
}

for (const config of configs) {
  const runs = arms.map((arm) => TrainingRun.create({
    corpus,
    model: { cell: 'lstm', hiddenSize: config.hiddenSize, layers: config.layers, dropout: 0 },
    training: {
      batchSize: 50, seqLength: 50, optimizer: 'adagrad', lr: 0.05, gradClip: 5, lrDecay: 1, lrDecayAfter: 10,
      valFrac: 0.1, evalEvery: 1_000_000, valBatches: 1, seed: 1,
    },
    runName: 'bench', corpusName: 'tinyshakespeare', kernels: arm.kernels(), threads: arm.threads,
  }));
  for (const run of runs) for (let i = 0; i < 2; i++) run.step(); // warm-up: first-touch pages, JIT
  const rates: number[][] = arms.map(() => []);
  const cpuRates: number[][] = arms.map(() => []); // chars per CPU second of the process: what neighbours disturb least
  const load: number[] = [];
  const idle: number[] = [];
  for (let r = 0; r < repeats; r++) {
    if (whenIdle) idle.push(waitForIdle());
    load.push(loadavg()[0]!);
    for (let a = 0; a < arms.length; a++) {
      const started = performance.now();
      const cpuStarted = process.cpuUsage();
      for (let i = 0; i < config.steps; i++) runs[a]!.step();
      const cpu = process.cpuUsage(cpuStarted);
      rates[a]!.push((config.steps * 50 * 50) / ((performance.now() - started) / 1000));
      cpuRates[a]!.push((config.steps * 50 * 50) / ((cpu.user + cpu.system) / 1e6));
    }
  }
  for (const run of runs) run.close();
  console.log(
    `LSTM ${config.name}, chars/s (median of ${repeats}, [min … max]); 1-min load average ${Math.min(...load).toFixed(2)} … ${Math.max(...load).toFixed(2)}` +
    (whenIdle ? `; idle cores before each repeat ${idle.map((x) => x.toFixed(2)).join(' ')}` : ''),
  );
  for (let a = 0; a < arms.length; a++) {
    const xs = rates[a]!;
    console.log(
      `  ${arms[a]!.name.padEnd(20)} ${Math.round(median(xs)).toString().padStart(7)}  [${Math.round(Math.min(...xs))} … ${Math.round(Math.max(...xs))}]` +
      `   per CPU second ${Math.round(median(cpuRates[a]!))}`,
    );
  }
}

if (nativeKernelsAvailable() && !args.includes('--no-gemm')) {
  // the 3×512 shapes: recurrent step forward / backward (packed Wh), input projection, dX = dgates·Wxᵀ, dW = hᵀ·dgates
  const shapes: Array<[string, number, number, number, 'Packed' | 'NN' | 'NT' | 'TN']> = [
    ['step h·Wh', 50, 2048, 512, 'Packed'], ['step dgates·Whᵀ', 50, 512, 2048, 'Packed'],
    ['x·Wx', 2500, 2048, 512, 'NN'], ['dgates·Wxᵀ', 2500, 512, 2048, 'NT'], ['hᵀ·dgates', 512, 2048, 2500, 'TN'],
  ];
  const kernels = [createNativeKernels({ threads: 1 }), createNativeKernels({ threads: 2, adaptive: false, split })];
  console.log(`GEMM GFLOP/s on the 3×512 shapes (median of ${repeats}), 1 thread | 2 threads (${split}); load ${loadavg()[0]!.toFixed(2)}`);
  for (const [name, M, N, K, form] of shapes) {
    const results = kernels.map((k) => {
      const A = k.alloc(M * K), B = k.alloc(K * N), C = k.alloc(M * N);
      for (let i = 0; i < A.length; i++) A[i] = Math.random() - 0.5;
      for (let i = 0; i < B.length; i++) B[i] = Math.random() - 0.5;
      const packed = k.alloc(k.packedSize(K, N));
      k.packB(packed, B, K, N, false);
      const lda = form === 'TN' ? M : K, ldb = form === 'NT' ? K : N;
      const call = () => form === 'Packed' ? k.gemmPacked(M, N, K, A, 0, K, packed, C, 0, N, true)
        : k[`gemm${form}`](M, N, K, A, 0, lda, B, 0, ldb, C, 0, N, true);
      const calls = form === 'Packed' ? 100 : 5;
      call();
      const samples: number[] = [];
      for (let r = 0; r < repeats; r++) {
        const started = performance.now();
        for (let i = 0; i < calls; i++) call();
        samples.push((2 * M * N * K * calls) / ((performance.now() - started) / 1000) / 1e9);
      }
      return median(samples);
    });
    console.log(`  ${name.padEnd(18)} ${M}×${N}×${K}  ${results.map((x) => x.toFixed(0).padStart(4)).join(' | ')}`);
  }
}

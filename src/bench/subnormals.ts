// Does charnn meet subnormal floats in training, and what would they cost? WebAssembly cannot flush them to zero
// (x86 has no flush-to-zero setting a wasm module can reach), so where they occur every operation on them takes a
// microcode assist. Part 1 trains a model (1 thread) and counts subnormal float32 values every N iterations in the
// parameters, the gradients, the optimizer state and every activation / gradient buffer of the pass. Part 2 times
// the kernels on the same shapes with operands that are all normal and all subnormal.
//
//   node dist/bench/subnormals.js [--cell lstm] [--layers 2] [--hidden 128] [--iters 300] [--every 50]
//                                 [--data PATH | --random-data] [--time-kernels]
//
// Dimension legend: B batch streams (50), T time steps (50), H hidden, G gates (4H lstm), N = T·B rows.

import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import '../node/platform.js';
import { corpusFromText, type Corpus } from '../core/data/corpus.js';
import { readCorpus } from '../node/corpus-files.js';
import { trainingKernels } from '../core/platform.js';
import type { Kernels } from '../core/kernels/types.js';
import type { CellType, Pass } from '../core/model.js';
import { optimizerStep, createOptimizer } from '../core/optim.js';
import { createRandom } from '../core/random.js';
import { TrainingRun } from '../core/train.js';

const MIN_NORMAL = 1.1754943508222875e-38; // smallest positive normal float32
const B = 50, T = 50;

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({
  options: {
    cell: { type: 'string', default: 'lstm' },
    layers: { type: 'string', default: '2' },
    hidden: { type: 'string', default: '128' },
    iters: { type: 'string', default: '300' },
    every: { type: 'string', default: '50' },
    data: { type: 'string', default: `${repoRoot}../shared/data/tinyshakespeare.txt` },
    'random-data': { type: 'boolean', default: false },
    'time-kernels': { type: 'boolean', default: false },
    'no-train': { type: 'boolean', default: false },
    'ab-flush': { type: 'string' }, // threshold: alternate steps flush |dgates| below it (A) or not (B)
  },
});

/** Subnormal (non-zero, below the smallest normal) elements of a float32 buffer. */
export function countSubnormals(a: ArrayLike<number>): number {
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (v !== 0 && v < MIN_NORMAL && v > -MIN_NORMAL) count++;
  }
  return count;
}

/** tiny-shakespeare's 65-symbol alphabet drawn uniformly: the random-data bench (nothing to learn). */
function randomCorpus(alphabet: readonly string[], length: number): Corpus {
  const random = createRandom('subnormals:random-data');
  let text = '';
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
  return corpusFromText(text);
}

async function countInTraining(): Promise<void> {
  const shakespeare = await readCorpus(values.data!);
  const corpus = values['random-data'] ? randomCorpus(shakespeare.vocab.symbols, 1_000_000) : shakespeare;
  const run = TrainingRun.create({
    corpus,
    model: { cell: values.cell as CellType, hiddenSize: Number(values.hidden), layers: Number(values.layers), dropout: 0 },
    training: {
      batchSize: B, seqLength: T, optimizer: 'adagrad', lr: 0.05, gradClip: 5, lrDecay: 1, lrDecayAfter: 10,
      valFrac: 0.1, evalEvery: 1e9, valBatches: 0, seed: 0,
    },
    runName: 'subnormals', corpusName: 'bench', threads: 1,
  });
  // the pass of the 1-thread step: the activations and their gradients (a diagnostic reaches into the run)
  const pass = (run as unknown as { pass: Pass }).pass;
  if (values['ab-flush'] !== undefined) return abFlush(run, Number(values['ab-flush']));
  const iters = Number(values.iters), every = Number(values.every);
  console.log(`${values.cell} ${values.layers}x${values.hidden}, ${values['random-data'] ? 'random data' : 'tiny-shakespeare'}, ` +
    `B ${B} T ${T}, Adagrad 0.05, clip 5, kernels ${run.net.kernels.name}: subnormal float32 counts (of all elements)`);
  const header = ['iter', 'loss', 'CPU ms/step', 'params', 'grads', 'adagrad', 'gates', 'hs', 'cs', 'tanhC', 'dgates', 'dhs', 'logits'];
  console.log(header.join('\t'));
  const started = performance.now();
  let stepMs: number[] = []; // CPU time of each step since the last row: values are all that changes between steps
  for (let i = 1; i <= iters; i++) {
    const cpu = process.cpuUsage();
    const result = run.step();
    const used = process.cpuUsage(cpu);
    stepMs.push((used.user + used.system) / 1000);
    if (i % every !== 0 && i !== 1) continue;
    stepMs.sort((a, b) => a - b);
    const medianMs = stepMs[stepMs.length >> 1];
    stepMs = [];
    const sum = (name: keyof Pass['layers'][number]) => {
      let n = 0, total = 0;
      for (const ws of pass.layers) {
        const a = ws[name] as Float32Array;
        n += countSubnormals(a);
        total += a.length;
      }
      return `${n}/${total}`;
    };
    const all = (a: ArrayLike<number>) => `${countSubnormals(a)}/${a.length}`;
    console.log([
      i, result.loss.toFixed(3), medianMs.toFixed(0), all(run.net.params), all(run.net.grads), all(run.optimizer.buffers[0].data),
      sum('gates'), sum('hs'), sum('cs'), sum('tanhC'), sum('dgates'), sum('dhs'), all(pass.logits),
    ].join('\t'));
  }
  console.log(`${iters} iterations in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  // where the last step's subnormal gradients and optimizer state are
  const parts: string[] = [];
  for (const entry of run.net.layout.entries) {
    const g = countSubnormals(run.net.g[entry.name]);
    const view = run.net.p[entry.name];
    const start = view.byteOffset / 4 - run.net.params.byteOffset / 4;
    const cache = countSubnormals(run.optimizer.buffers[0].data.subarray(start, start + view.length));
    if (g > 0 || cache > 0) parts.push(`${entry.name}: grads ${g}, adagrad ${cache} of ${view.length}`);
  }
  console.log(`subnormal at the end, by parameter: ${parts.length ? parts.join('; ') : 'none'}`);
  run.close();
}

/**
 * What subnormals cost a training step: after `every` iterations, steps alternate between flushing every
 * |dgates| < threshold to zero right after each LSTM backward step (A: the products of the three backward GEMMs that
 * read dgates then cannot underflow) and leaving them (B). Prints the median CPU ms of each. A pays for the flush
 * loop: threshold 0 flushes nothing and measures that loop alone.
 */
function abFlush(run: TrainingRun, threshold: number): void {
  const k = run.net.kernels as Kernels & { lstmBackwardStep: Kernels['lstmBackwardStep'] };
  const plain = k.lstmBackwardStep;
  let flush = false;
  let flushed = 0;
  const flushing: Kernels['lstmBackwardStep'] = (dgates, dcNext, gates, cs, tanhC, dhs, dhNext, B, H, t) => {
    plain(dgates, dcNext, gates, cs, tanhC, dhs, dhNext, B, H, t);
    if (!flush) return;
    const end = (t + 1) * B * 4 * H;
    for (let e = t * B * 4 * H; e < end; e++) {
      const v = dgates[e];
      if (v !== 0 && v < threshold && v > -threshold) { dgates[e] = 0; flushed++; }
    }
  };
  (k as { lstmBackwardStep: Kernels['lstmBackwardStep'] }).lstmBackwardStep = flushing;
  const every = Number(values.every), iters = Number(values.iters);
  for (let i = 0; i < every; i++) run.step();
  const ms: [number[], number[]] = [[], []];
  for (let i = every; i < iters; i++) {
    flush = i % 2 === 0;
    const cpu = process.cpuUsage();
    run.step();
    const used = process.cpuUsage(cpu);
    ms[flush ? 0 : 1].push((used.user + used.system) / 1000);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log(`after ${every} iterations, ${iters - every} steps alternating: flush |dgates| < ${threshold} ${med(ms[0]).toFixed(0)} CPU ms/step ` +
    `(min ${Math.min(...ms[0]).toFixed(0)}, max ${Math.max(...ms[0]).toFixed(0)}; ${flushed} values flushed in all), ` +
    `as they are ${med(ms[1]).toFixed(0)} (min ${Math.min(...ms[1]).toFixed(0)}, max ${Math.max(...ms[1]).toFixed(0)})`);
  run.close();
}

/** Median milliseconds of `repeats` runs of fn. */
function time(fn: () => void, repeats = 5): number {
  fn();
  const ms: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    fn();
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  return ms[ms.length >> 1];
}

/** Kernels of a 2×128 / 3×512 LSTM step on normal vs subnormal operands. */
function timeKernels(k: Kernels): void {
  const random = createRandom('subnormals:timing');
  const fill = (a: Float32Array, tiny: boolean) => {
    for (let i = 0; i < a.length; i++) a[i] = tiny ? (random() + 0.5) * 1e-39 : random() - 0.5;
  };
  console.log(`kernel timings, ${k.name}: median ms of 5, normal operands vs subnormal ones`);
  console.log('kernel\tshape\tnormal ms\tsubnormal ms\tslowdown');
  for (const H of [128]) { // 512 works too, but a subnormal 2500×512·512×2048 GEMM takes ~45 s
    const G = 4 * H, N = T * B;
    const A = k.alloc(N * H) as Float32Array, W = k.alloc(H * G) as Float32Array, C = k.alloc(N * G) as Float32Array;
    const packed = k.alloc(k.packedSize(H, G)) as Float32Array;
    const row = (label: string, shape: string, run: (tiny: boolean) => number) => {
      const normal = run(false), tiny = run(true);
      console.log(`${label}\t${shape}\t${normal.toFixed(3)}\t${tiny.toFixed(3)}\t${(tiny / normal).toFixed(1)}x`);
    };
    fill(W, false);
    row('gemmNN A subnormal', `${N}x${H}·${H}x${G}`, (tiny) => {
      fill(A, tiny);
      return time(() => k.gemmNN(N, G, H, A, 0, H, W, 0, G, C, 0, G, false));
    });
    k.packB(packed, W, H, G, false);
    row('gemmPacked A subnormal', `${B}x${H}·${H}x${G}`, (tiny) => {
      fill(A, tiny);
      return time(() => { for (let t = 0; t < T; t++) k.gemmPacked(B, G, H, A, t * B * H, H, packed, C, t * B * G, G, true); });
    });
    row('gemmTN dW, dgates subnormal', `(${N}x${H})ᵀ·${N}x${G}`, (tiny) => {
      fill(A, false);
      fill(C, tiny);
      const dW = k.alloc(H * G);
      return time(() => k.gemmTN(H, G, N, A, 0, H, C, 0, G, dW, 0, G, true));
    });
    const ones = k.alloc(N * H) as Float32Array;
    ones.fill(1);
    row('multiplyInPlace (a ⊙ 1), a subnormal', `${N}x${H}`, (tiny) => {
      fill(A, tiny);
      return time(() => k.multiplyInPlace(A, ones, N * H));
    });
    const n = H * G;
    const params = k.alloc(n) as Float32Array, grads = k.alloc(n) as Float32Array;
    const opt = createOptimizer('adagrad', k, n);
    row('Adagrad step, grads subnormal', `${n} params`, (tiny) => {
      fill(params, false);
      fill(grads, tiny);
      return time(() => optimizerStep(opt, params, grads, 0.05));
    });
  }
}

if (!values['no-train']) await countInTraining();
if (values['time-kernels']) timeKernels(trainingKernels());

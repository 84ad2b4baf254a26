// `npm run bench`: training and sampling throughput of charnn against PyTorch on this machine, side by side in one
// run. Training: tiny-shakespeare batches (V = 65), B 50 × T 50, Adagrad, clip 5, on 1 thread and on 2 threads.
// Sampling: one stream, temperature 1. PyTorch (src/bench/torch_reference.py, one thread, run by /usr/bin/python3)
// runs right after ours on each configuration when torch imports; otherwise the table says why it is missing.
//
// Rates are chars per wall-clock second (median of the repeats, min–max beside it) and, for one thread, chars per
// CPU second of the process, which other processes on a shared machine disturb far less. A benchmark, not a test.
//
//   node dist/bench/run.js [--quick] [--no-torch] [--data PATH] [--only lstm-2x128,...]

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import '../node/platform.js';
import { readCorpus } from '../node/corpus-files.js';
import type { Corpus } from '../core/data/corpus.js';
import { trainingKernels } from '../core/platform.js';
import type { CellType } from '../core/model.js';
import { sampleIds } from '../core/sample.js';
import { TrainingRun } from '../core/train.js';

interface Config {
  name: string;
  cell: CellType;
  layers: number;
  hidden: number;
  trainIters: number;  // steps per timed repeat
  sampleChars: number; // characters per timed repeat
}

const B = 50, T = 50;
const CONFIGS: Config[] = [
  { name: 'lstm-2x128', cell: 'lstm', layers: 2, hidden: 128, trainIters: 30, sampleChars: 4000 },
  { name: 'lstm-3x512', cell: 'lstm', layers: 3, hidden: 512, trainIters: 3, sampleChars: 1000 },
  { name: 'gru-2x128', cell: 'gru', layers: 2, hidden: 128, trainIters: 30, sampleChars: 4000 },
  { name: 'rnn-2x128', cell: 'rnn', layers: 2, hidden: 128, trainIters: 30, sampleChars: 4000 },
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const withTorch = !args.includes('--no-torch');
const dataPath = valueOf('--data') ?? '/work/shared/data/tinyshakespeare.txt';
const only = valueOf('--only')?.split(',');
const REPEATS = quick ? 3 : 5;
const PYTHON = '/usr/bin/python3';
const TORCH_SCRIPT = fileURLToPath(new URL('../../src/bench/torch_reference.py', import.meta.url));

function valueOf(flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

interface Rate {
  wall: number; // median chars per wall second
  min: number;
  max: number;
  cpu: number;  // median chars per CPU second of this process (all threads)
}

/**
 * Runs each of `works` (each processes `chars` characters) REPEATS times after one warm-up, taking turns (A B A B …)
 * so that a change in the machine's load hits all of them alike; median rates of each.
 */
function measure(chars: number, ...works: Array<() => void>): Rate[] {
  for (const work of works) work();
  const wall = works.map((): number[] => []);
  const cpu = works.map((): number[] => []);
  for (let r = 0; r < REPEATS; r++) {
    works.forEach((work, i) => {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      work();
      const used = process.cpuUsage(cpuStart);
      wall[i].push(chars / ((performance.now() - start) / 1000));
      cpu[i].push(chars / ((used.user + used.system) / 1e6));
    });
  }
  return works.map((_, i) => ({ wall: median(wall[i]), min: Math.min(...wall[i]), max: Math.max(...wall[i]), cpu: median(cpu[i]) }));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function newRun(corpus: Corpus, config: Config, threads: number): TrainingRun {
  return TrainingRun.create({
    corpus,
    model: { cell: config.cell, hiddenSize: config.hidden, layers: config.layers, dropout: 0 },
    training: {
      batchSize: B, seqLength: T, optimizer: 'adagrad', lr: 0.05, gradClip: 5, lrDecay: 1, lrDecayAfter: 10,
      valFrac: 0.1, evalEvery: 1e9, valBatches: 0, seed: 0,
    },
    runName: 'bench', corpusName: 'tinyshakespeare', threads,
  });
}

interface TorchResult {
  chars_per_sec: number;
  min: number;
  max: number;
  chars_per_cpu_sec: number;
}

let torchMissing: string | null = null;

function torchAvailable(): boolean {
  if (!withTorch) torchMissing = 'skipped (--no-torch)';
  else if (!existsSync(PYTHON)) torchMissing = `skipped: ${PYTHON} not found`;
  else if (spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) torchMissing = `skipped: ${PYTHON} cannot import torch`;
  return torchMissing === null;
}

function runTorch(command: 'bench-train' | 'bench-sample', config: Config): TorchResult | null {
  const common = ['--model', config.cell, '--layers', String(config.layers), '--hidden', String(config.hidden), '--repeats', String(REPEATS), '--threads', '1'];
  const extra = command === 'bench-train'
    ? ['--iters', String(config.trainIters), '--warmup', '1', '--data', dataPath, '--batch', String(B), '--seq', String(T)]
    : ['--chars', String(config.sampleChars), '--warmup', '200', '--vocab', '65'];
  const result = spawnSync(PYTHON, [TORCH_SCRIPT, command, ...common, ...extra], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (result.status !== 0) {
    console.log(`  (PyTorch ${command} failed: ${result.stderr.trim().split('\n').pop()})`);
    return null;
  }
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as TorchResult;
}

const k = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0));
const cell = (r: Rate | null) => (r ? `${k(r.wall)} (${k(r.min)}–${k(r.max)})` : '—');
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? `${(a / b).toFixed(2)}×` : '—');
const pad = (s: string, n: number) => s.padEnd(n);

const corpus = await readCorpus(dataPath);
const kernels = trainingKernels(); // what TrainingRun.create picks; the sampling rows run on it too
const hasTorch = torchAvailable();
console.log(`charnn bench: Node ${process.version}, kernels ${kernels.name}, B ${B} × T ${T}, V ${corpus.vocab.symbols.length}, Adagrad, clip 5; median of ${REPEATS} repeats`);
console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (2 cores; other processes skew wall-clock rates, CPU-second rates much less)`);
console.log(`PyTorch: ${hasTorch ? `${PYTHON} ${TORCH_SCRIPT.replace(/.*\/src\//, 'src/')} (1 thread)` : torchMissing}`);
console.log('');

const rows: string[][] = [];
for (const config of CONFIGS) {
  if (only && !only.includes(config.name)) continue;
  console.log(`${config.name}: training …`);
  const perRepeat = B * T * config.trainIters;
  const run1 = newRun(corpus, config, 1);
  const run2 = newRun(corpus, config, 2);
  const [train1, train2] = measure(
    perRepeat,
    () => { for (let i = 0; i < config.trainIters; i++) run1.step(); },
    () => { for (let i = 0; i < config.trainIters; i++) run2.step(); },
  );
  run2.close();
  const torchTrain = hasTorch ? runTorch('bench-train', config) : null;

  console.log(`${config.name}: sampling …`);
  let seed = 0;
  const [sample] = measure(config.sampleChars, () => {
    let count = 0;
    for (const _ of sampleIds(run1.net, run1.vocab, { length: config.sampleChars, temperature: 1, seed: seed++ })) count++;
    if (count !== config.sampleChars) throw new Error('sampler stopped early');
  });
  const torchSample = hasTorch ? runTorch('bench-sample', config) : null;

  rows.push([
    config.name,
    cell(train1), k(train1.cpu), cell(train2), ratio(train2.wall, train1.wall),
    torchTrain ? `${k(torchTrain.chars_per_sec)} (${k(torchTrain.min)}–${k(torchTrain.max)})` : '—',
    torchTrain ? k(torchTrain.chars_per_cpu_sec) : '—',
    ratio(train1.wall, torchTrain?.chars_per_sec), ratio(train1.cpu, torchTrain?.chars_per_cpu_sec), ratio(train2.wall, torchTrain?.chars_per_sec),
    cell(sample), torchSample ? k(torchSample.chars_per_sec) : '—', ratio(sample.wall, torchSample?.chars_per_sec),
  ]);
}

const header = [
  'config', 'train 1t c/s (min–max)', '1t c/cpu-s', 'train 2t c/s (min–max)', '2t/1t',
  'torch c/s (min–max)', 'torch c/cpu-s', '1t/torch', '1t/torch cpu', '2t/torch',
  'sample c/s (min–max)', 'torch sample', 'sample/torch',
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)) + 2);
console.log('');
console.log(header.map((h, i) => pad(h, widths[i])).join(''));
for (const row of rows) console.log(row.map((c, i) => pad(c, widths[i])).join(''));
console.log('');
console.log(`load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

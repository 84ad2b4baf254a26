// --num-samples against one sample at a time, and how many samples are new at each temperature. Run after a build:
//   node dist/bench/many-samples.js [--checkpoint checkpoints] [--corpus data/names.txt] [--n 200] [--reps 51]
//     [--temps 0.5,0.8,1,1.2,1.5] [--seed 1] [--top-p p] [--top-k k]
// Timing: per repetition, n names (--stop '\n', --temp 0.8, and --top-p / --top-k when given) made by sampleMany as n streams of one batched step
// without scores (what `charnn sample --num-samples n` prints) and with them (`--json`), and the same n names made
// by n calls of the library's single-stream sampler (model loaded once), in the same process, taking turns, after
// 5 repetitions to warm up; median and range over the repetitions, and the ratios of the medians. Novelty: the share of
// n samples (one sampleMany call per temperature) that are not a line of the corpus. One JSON object per result.

import { readFile } from 'node:fs/promises';
import '../node/platform.js';
import { loadModel } from '../core/lm.js';
import { noveltyCheck } from '../core/novelty.js';
import { sampleIds, sampleMany } from '../core/sample.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const checkpoint = option('checkpoint', 'checkpoints');
const corpusPath = option('corpus', 'data/names.txt');
const n = Number(option('n', '200'));
const reps = Number(option('reps', '51'));
const temps = option('temps', '0.5,0.8,1,1.2,1.5').split(',').map(Number);
const seed = Number(option('seed', '1'));
const topP = process.argv.includes('--top-p') ? Number(option('top-p', '1')) : undefined;
const topK = process.argv.includes('--top-k') ? Number(option('top-k', '0')) : undefined;

const model = await loadModel(checkpoint);
const { net, vocab } = model;
const options = { length: 1000, stop: '\n', temperature: 0.8, topP, topK };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const batched: number[] = [];
const scoredTimes: number[] = [];
const separate: number[] = [];
let chars = 0;
for (let rep = -5; rep < reps; rep++) { // reps below 0 warm up
  const repSeed = seed + rep * n;
  let t = performance.now();
  const many = sampleMany(net, vocab, { ...options, seed: repSeed, numSamples: n, logprob: false });
  const batchedMs = performance.now() - t;
  t = performance.now();
  sampleMany(net, vocab, { ...options, seed: repSeed, numSamples: n });
  const scoredMs = performance.now() - t;
  t = performance.now();
  let made = 0;
  for (let i = 0; i < n; i++) for (const _ of sampleIds(net, vocab, { ...options, seed: repSeed + i })) made++;
  const separateMs = performance.now() - t;
  if (rep < 0) continue;
  batched.push(batchedMs);
  scoredTimes.push(scoredMs);
  separate.push(separateMs);
  chars = many.reduce((s, m) => s + m.ids.length, 0);
  if (made !== chars) process.stderr.write(`note: rep ${rep}: ${chars} characters batched, ${made} one at a time (rounding in the batched product)\n`);
}
const round = (x: number) => Math.round(x * 10) / 10;
const spread = (xs: number[]) => ({ median: round(median(xs)), min: round(Math.min(...xs)), max: round(Math.max(...xs)) });
console.log(JSON.stringify({
  bench: 'many-samples', checkpoint: model.path, kernels: net.kernels.name, n, reps, chars_per_rep: chars, top_p: topP, top_k: topK,
  batched_ms: spread(batched),
  batched_scored_ms: spread(scoredTimes),
  separate_ms: spread(separate),
  speedup: Math.round((100 * median(separate)) / median(batched)) / 100,
  speedup_scored: Math.round((100 * median(separate)) / median(scoredTimes)) / 100,
}));

const check = noveltyCheck(await readFile(corpusPath, 'utf8'));
for (const temperature of temps) {
  const samples = sampleMany(net, vocab, { ...options, temperature, seed, numSamples: n });
  const fresh = samples.filter((s) => check.isNew(model.decode(s.ids))).length;
  console.log(JSON.stringify({ bench: 'novelty', mode: check.mode, temperature, n, new: fresh, share_new: round(1000 * fresh / n) / 1000 }));
}

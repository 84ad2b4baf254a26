// Learning parity: trains char-rnn's default model (2×128 LSTM, Adagrad lr 0.05, B 50 × T 50, clip 5) on
// tiny-shakespeare with charnn and, where /usr/bin/python3 has torch, with PyTorch's nn.LSTM on exactly the same
// batches (src/bench/torch_reference.py), and prints both validation losses at the same iterations.
//
//   node dist/bench/parity.js [--iters 1000] [--eval-at 1000] [--seed 0] [--data path] [--no-torch]

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import '../node/platform.js';
import { readCorpus } from '../node/corpus-files.js';
import { TrainingRun } from '../core/train.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({
  options: {
    iters: { type: 'string', default: '1000' },
    'eval-at': { type: 'string' },
    seed: { type: 'string', default: '0' },
    data: { type: 'string', default: `${repoRoot}../shared/data/tinyshakespeare.txt` },
    'no-torch': { type: 'boolean', default: false },
  },
});
const iters = Number(values.iters);
const evalAt = new Set((values['eval-at'] ?? values.iters!).split(',').map(Number));
const seed = Number(values.seed);
if (!existsSync(values.data!)) {
  console.error(`parity: no corpus at ${values.data} (tiny-shakespeare lives in ../shared/data next to the repository).`);
  process.exit(1);
}

interface Point { iter: number; val_loss: number; train_loss: number; seconds: number }


async function charnn(): Promise<Point[]> {
  const corpus = await readCorpus(values.data!);
  const run = TrainingRun.create({
    corpus,
    model: { cell: 'lstm', hiddenSize: 128, layers: 2, dropout: 0 },
    training: {
      batchSize: 50, seqLength: 50, optimizer: 'adagrad', lr: 0.05, gradClip: 5, lrDecay: 1, lrDecayAfter: 0,
      valFrac: 0.1, evalEvery: iters, valBatches: 0, seed,
    },
    runName: 'parity', corpusName: 'tinyshakespeare',
  });
  const points: Point[] = [];
  const started = performance.now();
  while (run.iteration < iters) {
    const { loss, iteration } = run.step();
    if (evalAt.has(iteration)) {
      const point = { iter: iteration, train_loss: loss, val_loss: run.evaluate()!, seconds: (performance.now() - started) / 1000 };
      console.error(`charnn  ${JSON.stringify(point)}`);
      points.push(point);
    }
  }
  return points;
}

function torch(): Point[] | string {
  if (values['no-torch']) return 'skipped (--no-torch)';
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  if (probe.status !== 0) return 'skipped: /usr/bin/python3 has no torch (apt-get install python3-torch libopenblas0-pthread)';
  const result = spawnSync('/usr/bin/python3', [
    `${repoRoot}src/bench/torch_reference.py`, 'parity', '--iters', String(iters), '--eval-at', [...evalAt].join(','),
    '--seed', String(seed), '--data', values.data!, '--print-every', String(iters + 1),
  ], { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  if (result.status !== 0) return `failed with status ${result.status}`;
  return result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((o) => o.val_loss !== undefined);
}

const theirs = torch();
const ours = await charnn();
for (const point of ours) {
  const ref = typeof theirs === 'string' ? undefined : theirs.find((p) => p.iter === point.iter);
  const line = {
    iter: point.iter,
    charnn_val_loss: +point.val_loss.toFixed(4),
    torch_val_loss: ref ? +ref.val_loss.toFixed(4) : null,
    difference: ref ? +(point.val_loss - ref.val_loss).toFixed(4) : null,
    within_0_05: ref ? point.val_loss <= ref.val_loss + 0.05 : null,
    charnn_seconds: +point.seconds.toFixed(1),
    torch_seconds: ref ? +ref.seconds.toFixed(1) : null,
  };
  console.log(JSON.stringify(line));
}
if (typeof theirs === 'string') console.error(`PyTorch: ${theirs}`);

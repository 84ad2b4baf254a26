// How many masked characters of held-out text a bidirectional model restores, against a left-to-right model of
// the same size trained for the same number of iterations. Run after a build:
//   node dist/bench/fill-accuracy.js [--data PATH] [--model lstm] [--layers 1] [--hidden 128] [--iters 1500]
//     [--batch 32] [--seq 64] [--lr 0.002] [--mask-frac 0.1] [--eval-chars 0] [--seed 0] [--out DIR]
//     [--only bidirectional|left-to-right]
// Both models train on the first 90% of the text (the last 10% is their validation split, never trained on);
// mask-frac of the held-out characters (first eval-chars of it; 0 = all) are masked with a seeded generator and
// filled by each model (charnn fill's algorithm). One JSON object per result on stdout, progress on stderr.

import '../node/platform.js';
import { readCorpus } from '../node/corpus-files.js';
import { splitCorpus } from '../core/data/batches.js';
import { fillIds, TO_FILL } from '../core/fill.js';
import { createRandom } from '../core/random.js';
import { TrainingRun, runTraining } from '../core/train.js';
import type { CellType } from '../core/model.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const data = option('data', '/work/shared/data/tinyshakespeare.txt');
const cell = option('model', 'lstm') as CellType;
const layers = Number(option('layers', '1'));
const hiddenSize = Number(option('hidden', '128'));
const iters = Number(option('iters', '1500'));
const batchSize = Number(option('batch', '32'));
const seqLength = Number(option('seq', '64'));
const lr = Number(option('lr', '0.002'));
const maskFrac = Number(option('mask-frac', '0.1'));
const evalChars = Number(option('eval-chars', '0'));
const seed = Number(option('seed', '0'));
const outDir = option('out', '');
const only = option('only', '');

const corpus = await readCorpus(data);
const { val } = splitCorpus(corpus.ids, 0.1);
const heldOut = evalChars > 0 ? val.subarray(0, evalChars) : val;

// the same positions for both models
const random = createRandom(`${seed}:fill-accuracy`);
const masked = new Int32Array(heldOut.length);
let maskCount = 0;
for (let i = 0; i < heldOut.length; i++) {
  if (random() < maskFrac) {
    masked[i] = TO_FILL;
    maskCount++;
  } else {
    masked[i] = heldOut[i];
  }
}
// the floor any model must beat: always guess the held-out text's most common character
const counts = new Map<number, number>();
for (const id of heldOut) counts.set(id, (counts.get(id) ?? 0) + 1);
const mostCommon = Math.max(...counts.values()) / heldOut.length;
console.log(JSON.stringify({ heldOutChars: heldOut.length, masked: maskCount, mostCommonCharAccuracy: mostCommon }));

for (const bidirectional of [true, false]) {
  const name = bidirectional ? 'bidirectional' : 'left-to-right';
  if (only !== '' && only !== name) continue;
  const run = TrainingRun.create({
    corpus,
    model: { cell, hiddenSize, layers, dropout: 0, ...(bidirectional && { bidirectional: true, maskFrac: 0.15 }) },
    training: {
      batchSize, seqLength, optimizer: 'adam', lr, gradClip: 5, lrDecay: 1, lrDecayAfter: 0,
      valFrac: 0.1, evalEvery: 500, valBatches: 20, seed,
    },
    runName: `fill-${name}`, corpusName: data,
  });
  const started = performance.now();
  const summary = await runTraining(run, {
    budget: { maxIters: iters },
    checkpointDir: outDir || undefined,
    hooks: {
      onIteration: (e) => {
        if (e.iteration % 100 === 0) process.stderr.write(`${name} ${e.iteration}/${iters} loss ${e.loss.toFixed(3)} ${e.charsPerSec.toFixed(0)} chars/s\n`);
      },
      onEval: (e) => process.stderr.write(`${name} ${e.iteration} val ${e.valLoss.toFixed(3)}\n`),
    },
  });
  const trainSeconds = (performance.now() - started) / 1000;
  const ids = Int32Array.from(masked);
  const fillStarted = performance.now();
  fillIds(run.net, run.vocab, ids);
  let correct = 0;
  for (let i = 0; i < ids.length; i++) if (masked[i] === TO_FILL && ids[i] === heldOut[i]) correct++;
  console.log(JSON.stringify({
    model: name, cell, layers, hiddenSize, params: run.net.layout.size, iterations: run.iteration, trainSeconds: Math.round(trainSeconds),
    valLoss: run.valLoss, valLossKind: bidirectional ? 'masked positions' : 'next character',
    restored: correct, masked: maskCount, accuracy: correct / maskCount,
    fillSeconds: Math.round((performance.now() - fillStarted) / 1000), checkpoint: summary.lastCheckpoint,
  }));
}

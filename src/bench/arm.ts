// One charnn kernel set under `npm run bench`, in its own process (the kernel set is chosen once per process, from
// CHARNN_KERNELS): builds a 1-thread and a 2-thread training run of one configuration (--bidirectional: the masked
// bidirectional model) and a sampler, warms them
// up, then answers timing requests on stdin, one timed run each, so the bench can interleave it with the others.
//
//   CHARNN_KERNELS=wasm node dist/bench/arm.js --cell lstm --layers 3 --hidden 512 --train-iters 3 --sample-chars 1000 --data PATH
//
// Protocol (JSON lines): first out {"ready": true, "kernels": name, "threads2": threads the 2-thread run got};
// then for each request {"job": "train", "threads": 1 | 2} or {"job": "sample"} one reply
// {"units": chars, "wall": s, "cpu": s} or {"error": message}. A setup failure prints {"error"} and exits 1.
//
// Dimension legend: B batch streams (50), T time steps (50), V vocabulary (65 for tiny-shakespeare).

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import '../node/platform.js';
import { readCorpus } from '../node/corpus-files.js';
import { defaultKernels, trainingKernels } from '../core/platform.js';
import { createNetwork } from '../core/model.js';
import type { CellType } from '../core/model.js';
import { sampleIds } from '../core/sample.js';
import { TrainingRun } from '../core/train.js';

const B = 50, T = 50;

/** Threads a run may use: the data-parallel workers, or the native kernels' own (which may drop to 1 for a while). */
const twoThreads = (run: TrainingRun) => Math.max(run.threads, (run.net.kernels as { maxThreads?: number }).maxThreads ?? 1);

const reply = (obj: object) => process.stdout.write(`${JSON.stringify(obj)}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cell: { type: 'string', default: 'lstm' },
      layers: { type: 'string', default: '2' },
      hidden: { type: 'string', default: '128' },
      'train-iters': { type: 'string', default: '10' },
      'sample-chars': { type: 'string', default: '2000' },
      data: { type: 'string' },
      bidirectional: { type: 'boolean', default: false },
    },
  });
  const trainIters = Number(values['train-iters']);
  const sampleChars = Number(values['sample-chars']);
  const corpus = await readCorpus(values.data!);
  // training runs on what TrainingRun.create picks for its thread count (the native kernels run their own threads,
  // the WebAssembly ones the data-parallel workers); sampling on what `charnn sample` loads a model onto
  const kernels = trainingKernels(1);
  const newRun = (threads: number) => TrainingRun.create({
    corpus,
    model: {
      cell: values.cell as CellType, hiddenSize: Number(values.hidden), layers: Number(values.layers), dropout: 0,
      ...(values.bidirectional && { bidirectional: true, maskFrac: 0.15 }),
    },
    training: {
      batchSize: B, seqLength: T, optimizer: 'adagrad', lr: 0.05, gradClip: 5, lrDecay: 1, lrDecayAfter: 10,
      valFrac: 0.1, evalEvery: 1e9, valBatches: 0, seed: 0,
    },
    runName: 'bench', corpusName: 'tinyshakespeare', kernels: trainingKernels(threads), threads,
  });
  const runs = new Map<number, TrainingRun>([[1, newRun(1)], [2, newRun(2)]]);
  let seed = 0;
  const sampler = createNetwork(defaultKernels(), runs.get(1)!.net.config);
  const jobs = {
    train(threads: number): number {
      const run = runs.get(threads);
      if (!run) throw new Error(`no ${threads}-thread run`);
      for (let i = 0; i < trainIters; i++) run.step();
      return B * T * trainIters;
    },
    sample(): number {
      let count = 0;
      sampler.params.set(runs.get(1)!.net.params);
      for (const _ of sampleIds(sampler, runs.get(1)!.vocab, { length: sampleChars, temperature: 1, seed: seed++ })) count++;
      if (count !== sampleChars) throw new Error('sampler stopped early');
      return count;
    },
  };
  jobs.train(1);
  jobs.train(2);
  if (!values.bidirectional) jobs.sample(); // a masked bidirectional model cannot sample
  reply({ ready: true, kernels: kernels.name, sampleKernels: sampler.kernels.name, threads2: twoThreads(runs.get(2)!) });

  for await (const line of createInterface({ input: process.stdin })) {
    try {
      const request = JSON.parse(line) as { job: 'train' | 'sample'; threads?: number };
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      const units = request.job === 'train' ? jobs.train(request.threads ?? 1) : jobs.sample();
      const used = process.cpuUsage(cpuStart);
      reply({ units, wall: (performance.now() - start) / 1000, cpu: (used.user + used.system) / 1e6 });
    } catch (error) {
      reply({ error: (error as Error).message });
    }
  }
  for (const run of runs.values()) run.close();
}

main().catch((error: Error) => {
  reply({ error: error.message });
  process.exit(1);
});

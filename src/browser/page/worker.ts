// The page's Web Worker: holds the model and the training run, and does all the computing, so the page never
// freezes. It handles a message between chunks of a sample and between training steps (the core yields to the
// event loop there), so a stop or a checkpoint request lands within a step; a checkpoint is always the state after
// a whole step, never half of one.

import {
  CharnnError, createTrainingRun, modelFromBytes, resumeTrainingRun, runTraining, sampleText, streamSample,
  type CharModel, type TrainingRun,
} from '../index.js';
import { primeIds, validateSampleOptions } from '../../core/sample.js';
import { forgetCheckpoint, holdRunLock, keepCheckpoint, newRunKey } from './kept.js';
import type { FromWorker, ModelInfo, TrainBudgetRequest, ToWorker } from './protocol.js';

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
}
const scope = self as unknown as WorkerScope;

/** Characters of the sample shown at each validation while training. */
const PREVIEW_LENGTH = 200;

let model: CharModel | null = null;
let modelBytes: Uint8Array | null = null;
let modelInfo: ModelInfo | null = null;
let run: TrainingRun | null = null;
let busy = false;
let stopRequested = false;
// writes to the browser's storage, in order (a run's last kept checkpoint must not land after its removal)
let storage: Promise<void> = Promise.resolve();
const inOrder = (write: () => Promise<void>) => {
  storage = storage.then(write, write);
};

function post(message: FromWorker, transfer?: Transferable[]): void {
  scope.postMessage(message, transfer);
}

function fail(job: Extract<FromWorker, { type: 'error' }>['job'], error: unknown): void {
  // a CharnnError is a sentence for the user; anything else is a bug, said as such (and logged in full)
  if (!(error instanceof CharnnError)) console.error(error);
  const message = error instanceof CharnnError ? error.message : `Internal error: ${(error as Error)?.message ?? String(error)}`;
  post({ type: 'error', job, message });
}

async function load(bytes: Uint8Array, name: string, origin: ModelInfo['origin']): Promise<void> {
  const loaded = await modelFromBytes(bytes, { name });
  const h = loaded.header;
  model = loaded;
  modelBytes = bytes;
  modelInfo = {
    name, bytes: bytes.length, origin,
    cell: h.model.cell, layers: h.model.layers, hiddenSize: h.model.hiddenSize, vocabSize: h.model.vocabSize,
    bidirectional: h.model.bidirectional === true, iteration: h.iteration, valLoss: h.valLoss,
    corpusName: h.corpus.name, corpusChars: h.corpus.chars,
  };
  post({ type: 'model', info: modelInfo });
}

async function sample(request: Extract<ToWorker, { type: 'sample' }>['request']): Promise<void> {
  if (!model) throw new CharnnError('Load or train a model first.');
  const options = { ...request };
  validateSampleOptions(options);
  // checked before anything is shown, as the CLI checks before it prints
  if (options.prime) primeIds(options.prime, model.vocab);
  if (options.beam !== undefined) {
    // as charnn sample --beam prints it: the prime and the likeliest continuation; the log-probability as a note
    const width = options.beam;
    const result = model.beam({ width, length: options.length, prime: options.prime, stop: options.stop });
    post({ type: 'text', text: (options.prime ?? '') + result.text });
    const ended = result.stopped ? 'ended at the stop string' : `${options.length} characters`;
    const note = `Log-probability ${result.logprob.toFixed(4)} nats (${(result.logprob / Math.LN2).toFixed(3)} bits), ${ended}; beam of ${width}.`;
    post({ type: 'done', stopped: false, note });
    return;
  }
  if (options.samples !== undefined && options.samples > 1) {
    // as charnn sample --num-samples prints them: prime and sample, a line each (no second newline after one's own)
    for (const { text } of model.sampleMany({ ...options, numSamples: options.samples, logprob: false })) {
      const line = (options.prime ?? '') + text;
      post({ type: 'text', text: line.endsWith('\n') ? line : `${line}\n` });
    }
    post({ type: 'done', stopped: false });
    return;
  }
  post({ type: 'text', text: options.prime ?? '' });
  for await (const chunk of streamSample(model, options)) {
    post({ type: 'text', text: chunk });
    if (stopRequested) break;
  }
  post({ type: 'done', stopped: stopRequested });
}

function describeRun(r: TrainingRun): string {
  const m = r.net.config;
  return `${m.cell.toUpperCase()} ${m.layers}×${m.hiddenSize}, ${r.vocab.symbols.length} characters, batches of ${r.training.batchSize}×${r.training.seqLength} (${r.batchesPerEpoch} iterations per epoch)`;
}

// the running training's kept checkpoint: its key, and the lock that tells other tabs it is still training
let keeping: { key: string; lock: ReturnType<typeof holdRunLock> } | null = null;

/** The run ended (finished, stopped or failed): its kept checkpoint goes, then its lock. */
function stopKeeping(): void {
  const slot = keeping;
  keeping = null;
  if (slot) inOrder(() => forgetCheckpoint(slot.key).then(slot.lock.release, slot.lock.release));
}

async function train(newRun: TrainingRun, budget: TrainBudgetRequest): Promise<void> {
  run = newRun;
  const key = newRunKey();
  const slot = (keeping = { key, lock: holdRunLock(key) });
  const totalIters = Math.min(budget.maxIters ?? Infinity, budget.epochs !== undefined ? Math.ceil(budget.epochs * run.batchesPerEpoch) : Infinity);
  if (run.iteration >= totalIters) {
    throw new CharnnError(`The model is already at iteration ${run.iteration}, which meets this budget of ${totalIters} iterations; raise it to train further.`);
  }
  post({ type: 'run', runName: run.runName, description: describeRun(run), iteration: run.iteration, history: run.history });
  const r = run;
  let lastProgress = 0;
  await runTraining(r, {
    budget,
    hooks: {
      onIteration(event) {
        // at most ~20 updates a second: the page redraws on each
        const now = performance.now();
        if (now - lastProgress < 50 && event.iteration < event.totalIters) return;
        lastProgress = now;
        post({
          type: 'progress',
          progress: {
            iteration: event.iteration, totalIters: event.totalIters, epoch: event.epoch, loss: event.loss,
            charsPerSec: event.charsPerSec, elapsedMs: event.elapsedMs, timeLimitMs: budget.timeLimitMs,
          },
        });
      },
      onEval(event) {
        post({ type: 'eval', iteration: event.iteration, valLoss: event.valLoss, trainLoss: r.lastLoss });
        // a whole checkpoint (we are between two steps), kept in case the tab is closed before the run ends
        const kept = { bytes: r.checkpointBytes().slice().buffer, name: r.checkpointName(), iteration: r.iteration, savedAt: new Date().toISOString() };
        inOrder(() => slot.lock.held.then(() => keepCheckpoint(slot.key, kept)));
        if (!r.net.config.bidirectional) {
          post({ type: 'preview', iteration: event.iteration, text: sampleText(r, { length: PREVIEW_LENGTH, temperature: 0.8, seed: event.iteration }) });
        }
      },
      shouldStop: () => stopRequested,
    },
  });
  // the finished run becomes the page's model: Generate and Download use exactly these bytes
  const bytes = r.checkpointBytes();
  const name = r.checkpointName();
  await load(bytes, name, 'trained');
  post({ type: 'checkpoint', bytes: bytes.slice().buffer, name, final: true });
  run = null;
  stopKeeping(); // the run ended and the page has its model
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case 'load':
      return load(new Uint8Array(message.bytes), message.name, message.origin);
    case 'sample':
      return sample(message.request);
    case 'fill': {
      if (!model) throw new CharnnError('Load a model first.');
      const result = model.fill(message.text);
      post({ type: 'filled', text: result.text, filled: result.filled, leftContextOnly: result.leftContextOnly });
      return;
    }
    case 'train': {
      const created = createTrainingRun(new Uint8Array(message.text), { ...message.settings, corpusName: message.corpusName });
      return train(created, message.budget);
    }
    case 'continue': {
      if (!modelBytes || !modelInfo) throw new CharnnError('Load the checkpoint to continue from first.');
      const resumed = await resumeTrainingRun(modelBytes, new Uint8Array(message.text), { name: modelInfo.name, corpusName: message.corpusName });
      return train(resumed, message.budget);
    }
    default:
      return;
  }
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'stop') {
    stopRequested = true;
    return;
  }
  if (message.type === 'checkpoint') {
    // between two steps (this handler runs only when the loop yields), so the snapshot is a whole one
    try {
      if (!run) throw new CharnnError('No training is running.');
      const bytes = run.checkpointBytes();
      post({ type: 'checkpoint', bytes: bytes.buffer as ArrayBuffer, name: run.checkpointName(), final: false }, [bytes.buffer as ArrayBuffer]);
    } catch (error) {
      fail('checkpoint', error);
    }
    return;
  }
  if (busy) {
    post({ type: 'error', job: message.type === 'continue' ? 'train' : message.type, message: 'Busy with the previous job: stop it first.' });
    return;
  }
  busy = true;
  stopRequested = false;
  const job = message.type === 'continue' ? 'train' : message.type;
  handle(message)
    .catch((error: unknown) => {
      // a run that failed (a diverged loss, say) was not interrupted: its tab says why, nothing is offered later
      if (run) stopKeeping();
      run = null;
      fail(job, error);
    })
    .finally(() => {
      busy = false;
    });
};

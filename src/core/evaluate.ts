// Loss over held-out text: forward passes only, dropout off, hidden state from zero carried across batches.

import { BatchLoader } from './data/batches.js';
import type { IdArray } from './data/corpus.js';
import { allocPass, allocState, carryState, forwardLoss, resetState, type CarriedState, type Network, type Pass } from './model.js';
import { CharnnError } from './errors.js';
import { platform } from './platform.js';

/**
 * A computation over batches, one yield before each batch: driven by `runSteps` it runs straight through; by
 * `runStepsYielding` it lets the event loop run between batches, so Ctrl-C is seen within one batch even in the
 * middle of a long validation (a signal handler cannot run while a synchronous loop holds the thread).
 */
export type BatchSteps<T> = Generator<void, T, void>;

/** Runs `steps` to the end; null if `shouldStop` says so before a batch. */
export function runSteps<T>(steps: BatchSteps<T>, shouldStop?: () => boolean): T | null {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    if (shouldStop?.()) return null;
  }
}

/** `runSteps`, giving the event loop a turn before every batch (signals, output streams). */
export async function runStepsYielding<T>(steps: BatchSteps<T>, shouldStop?: () => boolean): Promise<T | null> {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    await platform().yieldToEventLoop();
    if (shouldStop?.()) return null;
  }
}

/** Mean loss in nats per predicted character over `batches` batches of `loader`, from a zero state carried across them. */
export function* lossSteps(net: Network, loader: BatchLoader, pass: Pass, state: CarriedState, batches: number): BatchSteps<number> {
  resetState(state);
  let total = 0;
  for (let i = 0; i < batches; i++) {
    yield;
    loader.fill(i, pass.inputs, pass.targets);
    total += forwardLoss(net, pass, state);
    carryState(net, pass, state);
  }
  return total / batches;
}

export interface Evaluation {
  loss: number;  // nats per character
  bpc: number;   // bits per character
  perplexity: number;
  chars: number; // characters predicted
}

/**
 * Evaluates a whole text. Long texts are cut into up to `maxStreams` contiguous streams of `seqLength`-step batches
 * (the training scheme, so every stream carries its state); a text shorter than one batch is one stream.
 */
export function evaluateIds(net: Network, ids: IdArray, maxStreams = 32, seqLength = 100): Evaluation {
  if (ids.length < 2) throw new CharnnError('The text to evaluate must have at least 2 characters.');
  const loader = BatchLoader.forEvaluation(ids, maxStreams, Math.min(seqLength, ids.length - 1))!;
  const pass = allocPass(net, loader.batchSize, loader.seqLength);
  const state = allocState(net, loader.batchSize);
  const loss = runSteps(lossSteps(net, loader, pass, state, loader.batchesPerEpoch))!;
  return {
    loss,
    bpc: loss / Math.LN2,
    perplexity: Math.exp(loss),
    chars: loader.batchesPerEpoch * loader.batchSize * loader.seqLength,
  };
}

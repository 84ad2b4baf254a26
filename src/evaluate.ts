// Loss over held-out text: forward passes only, dropout off, hidden state from zero carried across batches.

import { BatchLoader } from './data/batches.js';
import type { IdArray } from './data/corpus.js';
import { allocPass, allocState, carryState, forwardLoss, resetState, type CarriedState, type Network, type Pass } from './model.js';
import { CharnnError } from './errors.js';

/** Mean loss in nats per predicted character over `batches` batches of `loader`; null if `shouldStop` interrupts. */
export function evaluateLoader(
  net: Network, loader: BatchLoader, pass: Pass, state: CarriedState, batches: number, shouldStop?: () => boolean,
): number | null {
  resetState(state);
  let total = 0;
  for (let i = 0; i < batches; i++) {
    if (shouldStop?.()) return null;
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
  const loss = evaluateLoader(net, loader, pass, state, loader.batchesPerEpoch)!;
  return {
    loss,
    bpc: loss / Math.LN2,
    perplexity: Math.exp(loss),
    chars: loader.batchesPerEpoch * loader.batchSize * loader.seqLength,
  };
}

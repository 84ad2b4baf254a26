// Ids → minibatches, char-rnn's way: a split is cut into B contiguous streams and each batch takes the next T steps of
// every stream, so the hidden state left by batch k is the right starting state for batch k+1 (truncated BPTT).
// A PyTorch reference script replicates exactly this arithmetic; change it there too or not at all.
//
// B batch streams, T time steps per batch, L = floor((N - 1) / B) ids per stream, N ids in the split.

import { CharnnError } from '../errors.js';
import type { IdArray } from './corpus.js';

/** Splits ids into training and validation views (never copies): validation is the last floor(N * valFrac) ids. */
export function splitCorpus(ids: IdArray, valFrac: number): { train: IdArray; val: IdArray } {
  if (typeof valFrac !== 'number' || !Number.isFinite(valFrac) || valFrac < 0 || valFrac >= 1) {
    throw new CharnnError(`The validation fraction (--val-frac) must be at least 0 and less than 1; got ${String(valFrac)}.`);
  }
  const valLength = Math.floor(ids.length * valFrac);
  const trainLength = ids.length - valLength;
  return { train: ids.subarray(0, trainLength), val: ids.subarray(trainLength) };
}

export class BatchLoader {
  readonly batchSize: number; // B
  readonly seqLength: number; // T
  /** L = floor((N - 1) / B): ids per stream; the -1 leaves room for the last target. */
  readonly streamLength: number;
  /** floor(L / T); the tail of each stream that does not fill a whole batch is never used. */
  readonly batchesPerEpoch: number;
  private readonly ids: IdArray; // (N,)

  /**
   * `label` names the split in the message when it is too short (e.g. 'training text', 'validation text').
   * Throws CharnnError unless the split holds at least B×T+1 ids.
   */
  constructor(ids: IdArray, batchSize: number, seqLength: number, label = 'text') {
    requirePositiveInteger(batchSize, 'batch size (--batch-size)');
    requirePositiveInteger(seqLength, 'sequence length (--seq-length)');
    const needed = batchSize * seqLength + 1;
    if (ids.length < needed) {
      throw new CharnnError(
        `The ${label} has ${ids.length} characters, but --batch-size ${batchSize} × --seq-length ${seqLength} needs at least ${needed}; lower --batch-size or --seq-length.`,
      );
    }
    this.ids = ids;
    this.batchSize = batchSize;
    this.seqLength = seqLength;
    this.streamLength = Math.floor((ids.length - 1) / batchSize);
    this.batchesPerEpoch = Math.floor(this.streamLength / seqLength);
  }

  /**
   * A loader for scoring a split with the largest B ≤ maxBatchSize that still gives one whole batch (validation
   * splits are often too short for the training B); null when even B = 1 does not fit (fewer than T+1 ids).
   */
  static forEvaluation(ids: IdArray, maxBatchSize: number, seqLength: number): BatchLoader | null {
    requirePositiveInteger(maxBatchSize, 'batch size (--batch-size)');
    requirePositiveInteger(seqLength, 'sequence length (--seq-length)');
    // floor((N-1)/B) ≥ T  ⇔  B ≤ (N-1)/T
    const batchSize = Math.min(maxBatchSize, Math.floor((ids.length - 1) / seqLength));
    return batchSize >= 1 ? new BatchLoader(ids, batchSize, seqLength) : null;
  }

  /**
   * Writes batch `index` time-major into inputs and targets, both (T*B,):
   *   inputs[t*B + b] = ids[b*L + index*T + t], targets[t*B + b] = ids[b*L + index*T + t + 1].
   */
  fill(index: number, inputs: Int32Array, targets: Int32Array): void {
    const B = this.batchSize;
    const T = this.seqLength;
    const L = this.streamLength;
    if (!Number.isInteger(index) || index < 0 || index >= this.batchesPerEpoch) {
      throw new Error(`internal error: batch index ${index} is outside 0…${this.batchesPerEpoch - 1}`);
    }
    if (inputs.length !== T * B || targets.length !== T * B) {
      throw new Error(`internal error: batch buffers hold ${inputs.length} and ${targets.length} ids, expected T*B = ${T * B}`);
    }
    const ids = this.ids;
    for (let b = 0; b < B; b++) {
      const start = b * L + index * T;
      for (let t = 0; t < T; t++) {
        inputs[t * B + b] = ids[start + t];
        targets[t * B + b] = ids[start + t + 1];
      }
    }
  }
}

function requirePositiveInteger(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1) throw new CharnnError(`The ${what} must be a positive whole number; got ${String(value)}.`);
}

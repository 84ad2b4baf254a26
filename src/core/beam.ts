// Beam search: the most likely continuation of a prime under the model, deterministic. Up to `width` partial
// continuations (the beam) run side by side as the streams of one batched step; every step each is extended by
// every character, and the `width` likeliest extensions that have not ended go on. A continuation ends when it has
// generated the stop string or `length` characters; the likeliest ended one is the answer. Log-probabilities only
// fall as a text grows, so the search stops as soon as no extension in the beam can beat the best ended one.
//
// Dimension legend: K beam width (streams of the batched step), V vocabulary size.

import { CharnnError } from './errors.js';
import type { Vocab } from './data/corpus.js';
import { carryState, forwardLogits, type Network } from './model.js';
import { batchFor, contextIds, gatherStates, primeIdsOrNull, primedBatch } from './sample.js';

export interface BeamOptions {
  width: number;   // K: continuations kept at every step; 1 = greedy decoding
  length: number;  // at most this many characters are generated
  prime?: string;  // text the model reads first (without one: a newline, the start of a line)
  stop?: string;   // a continuation ends right after generating this string
}

export interface BeamResult {
  ids: number[];     // the generated characters (without the prime)
  logprob: number;   // ln p(ids | prime) under the model, in nats
  stopped: boolean;  // whether it ended with the stop string (else it reached `length`)
}

/** A continuation in the beam: its characters, log-probability, and the row of the pass its state is in. */
interface Hypothesis {
  ids: number[];
  logprob: number;
  row: number;
}

export function validateBeamOptions(options: BeamOptions): void {
  if (!Number.isInteger(options.width) || options.width < 1) throw new CharnnError(`--beam must be a positive whole number, got ${options.width}.`);
  if (!Number.isInteger(options.length) || options.length < 1) throw new CharnnError(`The length must be a positive whole number of characters, got ${options.length}.`);
  if (options.stop !== undefined && options.stop.length === 0) throw new CharnnError('The stop string must not be empty.');
}

export function beamSearch(net: Network, vocab: Vocab, options: BeamOptions): BeamResult {
  validateBeamOptions(options);
  const V = net.config.vocabSize;
  const K = options.width;
  const stopIds = options.stop !== undefined ? primeIdsOrNull(options.stop, vocab) : null;
  const context = contextIds(vocab, options.prime);
  if (context.length === 0) throw new CharnnError('Beam search needs a prime (the model knows no newline to start from): give --prime.');

  let batch = primedBatch(net, context);
  let beam: Hypothesis[] = [{ ids: [], logprob: 0, row: 0 }];
  let best: BeamResult | null = null;
  const logProbs = new Float64Array(V);
  // candidate extensions of the whole beam: (hypothesis, character) with their log-probabilities
  const candidateLogprob = new Float64Array(K * V);
  const order = new Int32Array(K * V);

  for (let n = 0; n < options.length && beam.length > 0; n++) {
    const logits = batch.pass.logits;
    let count = 0;
    for (let b = 0; b < beam.length; b++) {
      logSoftmaxRow(logits, beam[b].row * V, V, logProbs);
      for (let v = 0; v < V; v++) {
        candidateLogprob[count] = beam[b].logprob + logProbs[v];
        order[count] = b * V + v;
        count++;
      }
    }
    // likeliest first; ties: the earlier hypothesis, then the lower character id (candidate b*V + v sits at slot b*V + v)
    const ranked = order.subarray(0, count).sort((x, y) => candidateLogprob[y] - candidateLogprob[x] || x - y);
    const next: Hypothesis[] = [];
    const from: number[] = []; // the pass row of each continuing hypothesis's parent
    const last = n + 1 === options.length;
    for (const key of ranked) {
      const logprob = candidateLogprob[key];
      if (best !== null && logprob <= best.logprob) break; // nothing further down can win
      const parent = beam[Math.floor(key / V)];
      const id = key % V;
      const stops = stopIds !== null && endsWithAfter(parent.ids, id, stopIds);
      if (stops || last) {
        if (best === null || logprob > best.logprob) best = { ids: [...parent.ids, id], logprob, stopped: stops };
      } else if (next.length < K) {
        next.push({ ids: [...parent.ids, id], logprob, row: next.length });
        from.push(parent.row);
      }
      // a full beam only lets through ended continuations that beat the best one so far
    }
    if (next.length === 0) break;
    const nextBatch = batchFor(net, next.length);
    const target = nextBatch === batch ? batch.spare : nextBatch.state;
    gatherStates(net, batch.state, from, target);
    if (nextBatch === batch) [batch.state, batch.spare] = [batch.spare, batch.state];
    batch = nextBatch;
    for (let r = 0; r < next.length; r++) batch.pass.inputs[r] = next[r].ids[next[r].ids.length - 1];
    forwardLogits(net, batch.pass, batch.state);
    carryState(net, batch.pass, batch.state);
    beam = next;
  }
  if (best === null) throw new Error('internal error: beam search ended without a continuation');
  return best;
}

/** out = ln softmax(logits[row … row+V)), in float64. */
function logSoftmaxRow(logits: ArrayLike<number>, row: number, V: number, out: Float64Array): void {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[row + v] > max) max = logits[row + v];
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[row + v] - max);
  const logSum = Math.log(sum);
  for (let v = 0; v < V; v++) out[v] = logits[row + v] - max - logSum;
}

/** Whether ids followed by id end with tail. */
function endsWithAfter(ids: readonly number[], id: number, tail: readonly number[]): boolean {
  const n = ids.length + 1;
  if (n < tail.length) return false;
  if (tail[tail.length - 1] !== id) return false;
  for (let i = 0; i < tail.length - 1; i++) if (ids[n - tail.length + i] !== tail[i]) return false;
  return true;
}

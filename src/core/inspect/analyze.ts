// Runs a model over a text and records what `inspect` shows: the probability it gave each character, its top-k
// guesses there, and every hidden unit's activation after reading it. One Pass of (T = chunk, B = 1) carries its
// state from chunk to chunk, which is the fast way to read a long text (step() per character is far slower).
//
// Dimension legend: N characters recorded, T chunk length (time steps per pass), V vocabulary size, H hidden size,
// L layers, K top-k. Position t is the text's t-th character (a code point, or a byte for a bytes vocabulary).

import { allocPass, allocState, carryState, forwardLogits, type Network, type Pass } from '../model.js';
import type { IdArray } from '../data/corpus.js';
import { CharnnError } from '../errors.js';

export const DEFAULT_CHUNK = 256;

/**
 * Which state a unit's "activation" is: the hidden state h (every cell type), or for an LSTM tanh(c) of the cell
 * state, the quantity the blog's cell visualisations color (c itself is unbounded; tanh maps it into -1 … 1).
 */
export type StateKind = 'h' | 'c';

/** Checks that a model has the state asked for (only an LSTM has a cell state). */
export function checkStateKind(cell: string, state: StateKind): void {
  if (state === 'c' && cell !== 'lstm') throw new CharnnError(`Only an LSTM has a cell state to inspect; this model is a ${cell}, so use its hidden state (h).`);
}

/** (H) the state of layer l after reading pass row r, written to out[at … at+H): h as is, c through tanh. */
export function readState(pass: Pass, l: number, r: number, state: StateKind, out: Float32Array, at: number): void {
  const ws = pass.layers[l];
  const H = ws.H;
  const src = (r + 1) * H; // block r + 1 (B = 1): the state after reading row r
  if (state === 'h') {
    const hs = ws.hs;
    for (let j = 0; j < H; j++) out[at + j] = hs[src + j];
  } else {
    const cs = ws.cs;
    for (let j = 0; j < H; j++) out[at + j] = Math.tanh(cs[src + j]);
  }
}

/**
 * Calls `visit` for every chunk of `ids[0 … end)` after the forward over it: row r of the pass (logits, and hs block
 * r + 1 of every layer) belongs to position start + r, for r < count. Logits are raw (not probabilities).
 */
export function forEachChunk(
  net: Network, ids: IdArray, end: number, visit: (pass: Pass, start: number, count: number) => void, chunk = DEFAULT_CHUNK,
): void {
  const T = Math.max(1, Math.min(chunk, end));
  const pass = allocPass(net, 1, T);
  const state = allocState(net, 1);
  for (let start = 0; start < end; start += T) {
    const count = Math.min(T, end - start);
    for (let r = 0; r < T; r++) pass.inputs[r] = r < count ? ids[start + r] : 0;
    forwardLogits(net, pass, state);
    // the padded tail of the last chunk is never read, and nothing follows it, so its state does not matter
    carryState(net, pass, state);
    visit(pass, start, count);
  }
}

export interface TextAnalysis {
  readonly offset: number;          // position in the full text of recorded position 0
  readonly ids: IdArray;            // (N) the recorded characters
  readonly probs: Float32Array;     // (N) p(char t | chars before it); NaN where nothing came before (text start)
  readonly ranks: Int32Array;       // (N) 1 + how many characters the model found likelier there; 0 where no prediction
  readonly topK: number;            // K
  readonly topIds: Int32Array;      // (N, K) the K likeliest characters at t, likeliest first; -1 where no prediction
  readonly topProbs: Float32Array;  // (N, K) their probabilities
  readonly layers: number;          // L
  readonly hiddenSize: number;      // H
  readonly state: StateKind;        // what the activations are: h, or tanh(c) of an LSTM
  readonly activations: Float32Array[]; // [l] (N, H) the state of layer l after reading char t
}

export interface AnalyzeOptions {
  topK?: number;    // default 5
  offset?: number;  // first position to record; the model still reads the text before it (default 0)
  length?: number;  // positions to record (default: to the end)
  chunk?: number;   // time steps per pass (default DEFAULT_CHUNK)
  state?: StateKind; // the activations recorded (default 'h')
}

/**
 * Reads ids[0 … offset+length) with the model, from a zero state, recording positions [offset, offset+length).
 * The prediction for position t comes from the logits after reading t-1, so recording starts one step early.
 */
export function analyzeText(net: Network, ids: IdArray, options: AnalyzeOptions = {}): TextAnalysis {
  const { vocabSize: V, hiddenSize: H, layers: L } = net.config;
  const K = Math.min(options.topK ?? 5, V);
  const offset = options.offset ?? 0;
  const N = Math.min(options.length ?? ids.length - offset, ids.length - offset);
  if (!Number.isInteger(K) || K < 1) throw new CharnnError(`The number of top predictions must be a positive integer, got ${options.topK}.`);
  if (!Number.isInteger(offset) || offset < 0 || offset >= ids.length) {
    throw new CharnnError(`The start position must be from 0 to ${ids.length - 1} (the text has ${ids.length} characters), got ${offset}.`);
  }
  const state = options.state ?? 'h';
  checkStateKind(net.config.cell, state);
  const probs = new Float32Array(N).fill(NaN);
  const ranks = new Int32Array(N);
  const topIds = new Int32Array(N * K).fill(-1);
  const topProbs = new Float32Array(N * K);
  const activations: Float32Array[] = [];
  for (let l = 0; l < L; l++) activations.push(new Float32Array(N * H));
  const rowProbs = new Float64Array(V); // (V) softmax of one logits row

  forEachChunk(net, ids, offset + N, (pass, start, count) => {
    for (let r = 0; r < count; r++) {
      const t = start + r;
      if (t >= offset) for (let l = 0; l < L; l++) readState(pass, l, r, state, activations[l], (t - offset) * H);
      // logits after reading t predict t + 1
      const n = t + 1 - offset;
      if (n < 0 || n >= N) continue;
      softmaxRow(pass.logits, r * V, V, rowProbs);
      const p = rowProbs[ids[t + 1]];
      probs[n] = p;
      let rank = 1;
      for (let v = 0; v < V; v++) if (rowProbs[v] > p) rank++;
      ranks[n] = rank;
      topKInto(rowProbs, K, topIds, topProbs, n * K);
    }
  }, options.chunk);

  return { offset, ids: ids.subarray(offset, offset + N), probs, ranks, topK: K, topIds, topProbs, layers: L, hiddenSize: H, state, activations };
}

/** out = softmax(logits[row … row+V)), in float64. */
export function softmaxRow(logits: ArrayLike<number>, row: number, V: number, out: Float64Array): void {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[row + v] > max) max = logits[row + v];
  let sum = 0;
  for (let v = 0; v < V; v++) {
    const e = Math.exp(logits[row + v] - max);
    out[v] = e;
    sum += e;
  }
  for (let v = 0; v < V; v++) out[v] /= sum;
}

/** Writes the K largest entries of probs (ties: lower id first) to ids/values at `at`, largest first. */
function topKInto(probs: Float64Array, K: number, ids: Int32Array, values: Float32Array, at: number): void {
  // insertion into a K-long sorted list: V·K work, and K is small
  let filled = 0;
  for (let v = 0; v < probs.length; v++) {
    const p = probs[v];
    if (filled === K && p <= values[at + K - 1]) continue;
    let i = filled < K ? filled++ : K - 1;
    while (i > 0 && values[at + i - 1] < p) {
      values[at + i] = values[at + i - 1];
      ids[at + i] = ids[at + i - 1];
      i--;
    }
    values[at + i] = p;
    ids[at + i] = v;
  }
}

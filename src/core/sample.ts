// Sampling one character at a time from a trained network: temperature, top-k, top-p (nucleus), a priming text, and
// a seeded generator, as an iterator so callers can stream characters as they come. No allocation per character.
// sampleMany makes n independent samples side by side, as n streams of one batched step.
//
// Dimension legend: V vocabulary size, B streams of a batched step (sampleIds: B = 1), one step (T = 1) at a time.

import { utf8Encode } from './bytes.js';
import { gateWidth } from './cells/workspace.js';
import { CharnnError } from './errors.js';
import { describeChar, type Vocab } from './data/corpus.js';
import { allocPass, allocState, carryState, copyFloats, forwardLogits, passView, resetState, type CarriedState, type Network, type Pass } from './model.js';
import { createRandom } from './random.js';

export interface SampleOptions {
  length: number;        // characters (code points) to generate
  temperature?: number;  // 1 = the model's distribution; lower is more conservative; 0 = always the most likely
  topK?: number;         // sample only among the k most likely characters
  topP?: number;         // then only among the smallest set of likeliest characters whose probabilities add up to p
  prime?: string;        // text the model reads first; not repeated in the output
  seed?: number | string;
  stop?: string;         // stop right after generating this string
}

/** The ids of the characters of `text`; a CharnnError names every character the vocabulary lacks. */
export function primeIds(text: string, vocab: Vocab): number[] {
  const ids: number[] = [];
  const unknown = new Set<string>();
  const symbols = vocab.encoding === 'bytes' ? Array.from(utf8Encode(text), (b) => String.fromCharCode(b)) : Array.from(text);
  for (const ch of symbols) {
    const id = vocab.idOf.get(ch.codePointAt(0)!);
    if (id === undefined) unknown.add(ch);
    else ids.push(id);
  }
  if (unknown.size > 0) {
    const names = [...unknown].map((c) => describeChar(c, vocab.encoding)).join(', ');
    throw new CharnnError(`The prime text has ${unknown.size === 1 ? 'a character' : 'characters'} the model never saw: ${names}.`);
  }
  return ids;
}

export function validateSampleOptions(options: SampleOptions): void {
  const { length, temperature = 1, topK } = options;
  if (!Number.isInteger(length) || length < 0) throw new CharnnError(`The length must be a whole number of characters, got ${length}.`);
  if (!(temperature >= 0 && Number.isFinite(temperature))) throw new CharnnError(`The temperature must be 0 or positive, got ${temperature}.`);
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1)) throw new CharnnError(`--top-k must be a positive integer, got ${topK}.`);
  const { topP } = options;
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new CharnnError(`--top-p must be a number above 0 and at most 1, got ${topP}.`);
  if (options.stop !== undefined && options.stop.length === 0) throw new CharnnError('The stop string must not be empty.');
}

/**
 * Yields generated character ids. The model first reads the prime (or, without one, a newline when the
 * vocabulary has one — the start of a line — else nothing, and the first character is drawn uniformly).
 */
export function* sampleIds(net: Network, vocab: Vocab, options: SampleOptions): Generator<number> {
  validateSampleOptions(options);
  const random = createRandom(options.seed ?? Date.now());
  const single = takeSingleStream(net);
  try {
    yield* sampleSingle(net, vocab, options, random, single);
  } finally {
    freeSingleStreams.get(net)!.push(single);
  }
}

// A single stream's pass and state, reused: a sampler takes a set when it starts and gives it back when it ends
// or is closed, so samplers running side by side each have their own, and many short samples in a row (names, one
// at a time) allocate once instead of once each. (Kernel buffers are never freed.)
interface SingleStream { readonly pass: Pass; readonly state: CarriedState }
const freeSingleStreams = new WeakMap<Network, SingleStream[]>();

function takeSingleStream(net: Network): SingleStream {
  let free = freeSingleStreams.get(net);
  if (!free) freeSingleStreams.set(net, (free = []));
  return free.pop() ?? { pass: allocPass(net, 1, 1), state: allocState(net, 1) };
}

function* sampleSingle(net: Network, vocab: Vocab, options: SampleOptions, random: () => number, { pass, state }: SingleStream): Generator<number> {
  const V = net.config.vocabSize;
  const { length, temperature = 1 } = options;
  const topK = Math.min(options.topK ?? V, V);
  const topP = options.topP ?? 1;
  resetState(state);
  const probs = new Float64Array(V);
  const order = topK < V || topP < 1 ? new Int32Array(V) : null;
  const w = weighed();
  const rowWeights = kernelWeights(net, temperature, topK);
  const stats = new Float64Array(4);

  const context = contextIds(vocab, options.prime);
  const feed = (id: number) => {
    pass.inputs[0] = id;
    forwardLogits(net, pass, state);
    carryState(net, pass, state);
  };
  for (const id of context) feed(id);
  const stopIds = options.stop !== undefined ? primeIdsOrNull(options.stop, vocab) : null;
  const recent: number[] = [];

  for (let n = 0; n < length; n++) {
    let next: number;
    if (n === 0 && context.length === 0) next = Math.floor(random() * V);
    else {
      if (rowWeights) rowWeights(pass.logits, 1, V, temperature, topK, topP, false, probs, stats);
      if (!rowWeights || !weighedRow(stats, 0, false, w)) weigh(pass.logits, 0, V, temperature, topK, topP, probs, order, false, w);
      next = draw(probs, 0, V, w, random);
    }
    yield next;
    if (stopIds) {
      recent.push(next);
      if (recent.length > stopIds.length) recent.shift();
      if (recent.length === stopIds.length && recent.every((id, i) => id === stopIds[i])) return;
    }
    if (n + 1 < length) feed(next);
  }
}

/** A stop string the model cannot produce can never match; it is not an error. */
export function primeIdsOrNull(text: string, vocab: Vocab): number[] | null {
  try {
    return primeIds(text, vocab);
  } catch {
    return null;
  }
}

/** What the model reads before the first character: the prime, or else a newline (a line start) if it knows one. */
export function contextIds(vocab: Vocab, prime: string | undefined): number[] {
  const context = prime ? primeIds(prime, vocab) : [];
  if (context.length > 0) return context;
  const newline = vocab.idOf.get(10);
  return newline !== undefined ? [newline] : [];
}

/** What `weigh` found in one row of logits, for `draw` (and the score of what it draws). */
export interface Weighed {
  best: number;     // the most likely id (the first, on ties)
  max: number;      // its logit
  sum: number;      // Σ probs (the kept weights); 0 when greedy
  greedy: boolean;  // temperature 0 or top-k 1: every draw is `best`, and takes no random number
  logNorm: number;  // ln Σ exp(logit - max) over all V (temperature 1: the model's own normaliser), when scored
}

/** A fresh Weighed, to be filled by `weigh` (one per sampler: weigh allocates nothing). */
export function weighed(): Weighed {
  return { best: 0, max: 0, sum: 0, greedy: false, logNorm: NaN };
}

/**
 * The weights `draw` samples from, for row `row` of logits: probs[v] = exp((logit_v - max) / temperature) for the
 * topK largest logits (ties at the k-th all stay in), then only the nucleus of topP; temperature 0 or topK 1 is
 * greedy (argmax). With `scored`, w.logNorm = ln Σ_v exp(logit_v - max), in logSoftmaxAt's order, from the same pass
 * over the logits, so logits[row + id] - w.max - w.logNorm is ln p(id) under the model itself to logSoftmaxAt's bit.
 * Streams whose states are the same (sampleMany) draw from one weighing. Exported as the twin Kernels.weighRows is
 * held to (test/kernels-native.test.ts).
 */
export function weigh(
  logits: ArrayLike<number>, row: number, V: number, temperature: number, topK: number, topP: number,
  probs: Float64Array, order: Int32Array | null, scored: boolean, w: Weighed,
): void {
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[row + v] > logits[row + best]) best = v;
  const max = logits[row + best];
  w.best = best;
  w.max = max;
  w.greedy = temperature === 0 || topK === 1;
  if (w.greedy) {
    w.sum = 0;
    if (scored) w.logNorm = logNormaliser(logits, row, V, max);
    return;
  }
  // threshold = the k-th largest logit (ties at the threshold all stay in)
  let threshold = -Infinity;
  if (order && topK < V) {
    for (let v = 0; v < V; v++) order[v] = v;
    order.sort((a, b) => logits[row + b] - logits[row + a]);
    threshold = logits[row + order[topK - 1]];
  }
  let sum = 0;
  let modelSum = 0; // Σ exp(logit - max): the temperature-1 normaliser, in logSoftmaxAt's order
  for (let v = 0; v < V; v++) {
    const d = logits[row + v] - max;
    let p: number;
    if (scored) {
      const e = Math.exp(d);
      modelSum += e;
      p = logits[row + v] >= threshold ? (temperature === 1 ? e : Math.exp(d / temperature)) : 0;
    } else {
      p = logits[row + v] >= threshold ? Math.exp(d / temperature) : 0;
    }
    probs[v] = p;
    sum += p;
  }
  if (topP < 1) sum = keepNucleus(probs, V, sum, topP, order!);
  w.sum = sum;
  if (scored) w.logNorm = Math.log(modelSum);
}

/** An id drawn from what `weigh` left in probs[at … at+V) and w: one random number, none when greedy. */
function draw(probs: Float64Array, at: number, V: number, w: Weighed, random: () => number): number {
  if (w.greedy) return w.best;
  let u = random() * w.sum;
  for (let v = 0; v < V; v++) {
    u -= probs[at + v];
    if (u < 0 && probs[at + v] > 0) return v;
  }
  return w.best; // rounding left u ≥ 0 at the end: the last mass belongs to the most likely
}

/**
 * The kernels' twin of weigh for many rows at once (Kernels.weighRows: the same float64 operations, Math.exp's
 * bits), where they have one and weigh would not be greedy (temperature 0, top-k 1). Else null.
 */
function kernelWeights(net: Network, temperature: number, topK: number): Network['kernels']['weighRows'] | null {
  return net.kernels.weighRows && temperature > 0 && topK > 1 ? net.kernels.weighRows : null;
}

/**
 * w = what weighRows found for row r (its stats[4r …]), as weigh would have left it; false for a row it left to
 * weigh (a NaN logit under top-k or top-p).
 */
function weighedRow(stats: Float64Array, r: number, scored: boolean, w: Weighed): boolean {
  if (stats[4 * r] < 0) return false;
  w.best = stats[4 * r];
  w.max = stats[4 * r + 1];
  w.sum = stats[4 * r + 2];
  w.greedy = false;
  if (scored) w.logNorm = Math.log(stats[4 * r + 3]);
  return true;
}

/** Relative slack when the nucleus sum meets p: probabilities come from float32 logits, so 0.5 + 0.3 may miss 0.8. */
const NUCLEUS_SLACK = 1e-6;

/**
 * Top-p: zeroes every weight outside the nucleus, the smallest set of the largest weights (ties: lower id first)
 * whose sum reaches topP of `sum`, and returns the nucleus's sum. `probs` holds V unnormalised weights.
 */
export function keepNucleus(probs: Float64Array, V: number, sum: number, topP: number, order: Int32Array): number {
  for (let v = 0; v < V; v++) order[v] = v;
  order.sort((a, b) => probs[b] - probs[a] || a - b);
  const target = topP * sum * (1 - NUCLEUS_SLACK);
  let kept = 0;
  let i = 0;
  while (i < V && kept < target && probs[order[i]] > 0) kept += probs[order[i++]];
  for (; i < V; i++) probs[order[i]] = 0;
  return kept;
}

export interface ManySampleOptions extends SampleOptions {
  numSamples: number;    // n independent samples
  firstStream?: number;  // index of the first stream (default 0): streams firstStream … firstStream+n-1 are made
  /** Whether to score each sample (Sample.logprob; default true): false saves an exponential per vocabulary entry a character. */
  logprob?: boolean;
  /**
   * At most this many streams side by side (default: as many as fit in SAMPLE_BATCH_BYTES of buffers); more are
   * made in rounds of that many. The samples are the same either way.
   */
  maxBatch?: number;
}

/** The buffers sampleMany's streams may take at once (its two passes); more streams run in rounds. */
export const SAMPLE_BATCH_BYTES = 128 * 2 ** 20;

/**
 * Streams whose two single-step passes fit in SAMPLE_BATCH_BYTES: a bound on a pass's floats per stream (every
 * layer's gates, states and backward buffers, the logits), so 100,000 names never ask for gigabytes at once.
 */
function streamsPerBatch(net: Network): number {
  const { cell, hiddenSize: H, vocabSize: V, layers: L } = net.config;
  const G = gateWidth(cell, H);
  const floatsPerStream = L * (3 * G + 9 * H) + V + G;
  return Math.max(1, Math.floor(SAMPLE_BATCH_BYTES / (2 * 4 * floatsPerStream)));
}

export interface Sample {
  index: number;     // the stream: its seed is streamSeed(seed, index)
  ids: number[];     // the generated characters (the prime is not included)
  logprob: number;   // ln p(ids | prime) under the model itself (temperature 1, no top-k or top-p), in nats; NaN with logprob: false
}

/**
 * The seed of stream i of a many-sample run: the seed itself for stream 0, seed + i for a numeric seed, `${seed}:${i}`
 * for a string seed. Stream i is exactly the single sample made with that seed (sampleIds, `charnn sample --seed`).
 */
export function streamSeed(seed: number | string, index: number): number | string {
  if (index === 0) return seed;
  return typeof seed === 'number' ? seed + index : `${seed}:${index}`;
}

/** One stream of a many-sample run: its own generator, what it has made so far, and its log-probability. */
interface Stream {
  readonly index: number;
  readonly random: () => number;
  readonly ids: number[];
  logprob: number;
}

/**
 * n samples as n streams of one batched step: every stream reads the prime (read once, B = 1), then each draws from
 * its row of logits with its own seeded generator and stops at options.stop or options.length. Streams that have
 * read the same characters so far are in the same state, so they share one row of the step (B = the distinct
 * states among the streams still going): 200 names all start from the prime's row, and two that both begin "Ma"
 * are one row until they part. The batch grows as streams part and shrinks as they finish. Returned in stream order.
 *
 * Stream i gives the same characters as sampleIds with seed streamSeed(seed, i) when the kernels compute a row of a
 * matrix product the same way whatever the number of rows (the reference and the plain-SIMD kernels do; the fused
 * multiply-add build rounds a many-row product differently from the one-row one, so there a character can differ
 * where a draw falls within float rounding of the boundary between two characters).
 */
export function sampleMany(net: Network, vocab: Vocab, options: ManySampleOptions): Sample[] {
  validateSampleOptions(options);
  const { numSamples, firstStream = 0 } = options;
  if (!Number.isInteger(numSamples) || numSamples < 1) throw new CharnnError(`--num-samples must be a positive whole number, got ${numSamples}.`);
  if (!Number.isInteger(firstStream) || firstStream < 0) throw new CharnnError(`The first stream must be a whole number, got ${firstStream}.`);
  const seed = options.seed ?? Date.now();
  if (typeof seed === 'number' && !Number.isSafeInteger(seed + firstStream + numSamples - 1) && Number.isInteger(seed)) {
    throw new CharnnError(`The seed ${seed} plus ${firstStream + numSamples - 1} streams is beyond 2^53; choose a smaller seed.`);
  }
  const { maxBatch = streamsPerBatch(net) } = options;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new CharnnError(`The batch of streams must be a positive whole number, got ${maxBatch}.`);
  if (numSamples > maxBatch) {
    // rounds of streams, the seed fixed once: stream i is the same sample in whichever round it runs
    const samples: Sample[] = [];
    for (let done = 0; done < numSamples; done += maxBatch) {
      const round = { ...options, seed, maxBatch, numSamples: Math.min(maxBatch, numSamples - done), firstStream: firstStream + done };
      for (const sample of sampleMany(net, vocab, round)) samples.push(sample);
    }
    return samples;
  }
  const V = net.config.vocabSize;
  const { length, temperature = 1 } = options;
  const topK = Math.min(options.topK ?? V, V);
  const topP = options.topP ?? 1;
  const order = topK < V || topP < 1 ? new Int32Array(V) : null;
  const scored = options.logprob !== false;
  const w = weighed();
  // the weights of every row of a step in one kernel call where the kernels can (probs: row r at r·V), else by weigh
  const rowWeights = kernelWeights(net, temperature, topK);
  const probs = new Float64Array(rowWeights ? numSamples * V : V);
  const stats = new Float64Array(rowWeights ? 4 * numSamples : 0);
  const stopIds = options.stop !== undefined ? primeIdsOrNull(options.stop, vocab) : null;
  const streams: Stream[] = [];
  for (let i = 0; i < numSamples; i++) {
    const index = firstStream + i;
    streams.push({ index, random: createRandom(streamSeed(seed, index)), ids: [], logprob: scored ? 0 : NaN });
  }
  if (length === 0) return streams.map(({ index, ids, logprob }) => ({ index, ids, logprob }));

  // the prime, read once: every stream starts from this state and these logits
  const context = contextIds(vocab, options.prime);
  const primed = primedBatch(net, context);
  // steps alternate between two n-stream passes, each step on a view of exactly its rows: a step's initial states
  // are gathered from the last step's final states, and rows may repeat (a state with two continuations) or move
  // further down, which within one pass could overwrite a row still to be read
  const [even, odd] = streamsPasses(net, numSamples);
  // groups[r] = the streams in state r, whose logits are row r of `logits` (after the prime, all are in row 0)
  let groups: Stream[][] = [streams];
  let logits = primed.pass.logits;
  let states: RowStates = primed.state; // the states after the last step, from row statesRow0 on
  let statesRow0 = 0;
  const childRow = new Int32Array(V).fill(-1); // while reading row r: the next step's row of (state r, id), or -1
  const from = new Int32Array(numSamples);     // next step's row → the row of the state it continues

  for (let n = 0; groups.length > 0; n++) {
    const uniform = n === 0 && context.length === 0; // nothing read: the first character is drawn uniformly
    const next: Stream[][] = [];
    const inputs: number[] = []; // next step's row → the character it reads (and from[row]: the row of the state it continues)
    if (!uniform && rowWeights) rowWeights(logits, groups.length, V, temperature, topK, topP, scored, probs, stats);
    for (let r = 0; r < groups.length; r++) {
      const row = r * V;
      const at = rowWeights ? row : 0; // where row r's weights are in probs
      if (!uniform && !(rowWeights && weighedRow(stats, r, scored, w))) {
        weigh(logits, row, V, temperature, topK, topP, rowWeights ? probs.subarray(at, at + V) : probs, order, scored, w);
      }
      const firstChild = next.length;
      for (const stream of groups[r]) {
        let id: number;
        if (uniform) {
          id = Math.floor(stream.random() * V);
          if (scored) stream.logprob -= Math.log(V);
        } else {
          id = draw(probs, at, V, w, stream.random);
          if (scored) stream.logprob += logits[row + id] - w.max - w.logNorm;
        }
        stream.ids.push(id);
        if (stream.ids.length >= length || (stopIds !== null && endsWith(stream.ids, stopIds))) continue;
        let child = childRow[id];
        if (child < 0) {
          childRow[id] = child = next.length;
          from[next.length] = r;
          next.push([]);
          inputs.push(id);
        }
        next[child].push(stream);
      }
      for (let c = firstChild; c < next.length; c++) childRow[inputs[c]] = -1;
    }
    if (next.length === 0) break;
    const pass = passView(n % 2 === 0 ? even : odd, next.length);
    const into = layerStates(pass);
    copyStateRows(net, states, statesRow0, from, next.length, into, 0);
    for (let r = 0; r < next.length; r++) pass.inputs[r] = inputs[r];
    forwardLogits(net, pass, null);
    logits = pass.logits;
    states = into;
    statesRow0 = pass.B; // row block 1: the states after this step
    groups = next;
  }
  return streams.map(({ index, ids, logprob }) => ({ index, ids, logprob }));
}

// sampleMany's two single-step passes, one pair per network, of at least as many streams as any call so far wanted
// (a call of n streams runs on views of their first rows). Kernel buffers are never freed, so they grow by doubling
// at least: calls of every n up to N leave at most about 2N streams' buffers behind (twice), not passes for each n.
const streamsPassPairs = new WeakMap<Network, readonly [Pass, Pass]>();

function streamsPasses(net: Network, B: number): readonly [Pass, Pass] {
  const had = streamsPassPairs.get(net);
  if (had && had[0].B >= B) return had;
  const size = Math.max(B, 2 * (had?.[0].B ?? 0));
  const pair = [allocPass(net, size, 1), allocPass(net, size, 1)] as const;
  streamsPassPairs.set(net, pair);
  return pair;
}

/** Every layer's hidden states (h) and, for lstm, cell states (c), a row a stream: a CarriedState's, or a pass's. */
type RowStates = Pick<CarriedState, 'h' | 'c'>;

/** Every layer's hidden (and for lstm cell) states of a pass, all row blocks. */
function layerStates(pass: Pass): RowStates {
  return { h: pass.layers.map((ws) => ws.hs), c: pass.layers.map((ws) => ws.cs) };
}

/** A single-step pass of B streams with its state and a spare state to gather rows into. */
export interface Batch {
  readonly pass: Pass;
  state: CarriedState;
  spare: CarriedState;
}

// Kernel buffers are never freed, so batches are made once per network and size and reused by every call.
const batches = new WeakMap<Network, Map<number, Batch>>();

/** The one-stream batch after reading `context` from a zero state: its logits predict what follows the context. */
export function primedBatch(net: Network, context: readonly number[]): Batch {
  const batch = batchFor(net, 1);
  resetState(batch.state);
  for (const id of context) {
    batch.pass.inputs[0] = id;
    forwardLogits(net, batch.pass, batch.state);
    carryState(net, batch.pass, batch.state);
  }
  return batch;
}

/** The cached single-step batch of B streams for this network (its state is whatever the last user left). */
export function batchFor(net: Network, B: number): Batch {
  let sizes = batches.get(net);
  if (!sizes) batches.set(net, (sizes = new Map()));
  let batch = sizes.get(B);
  if (!batch) sizes.set(B, (batch = { pass: allocPass(net, B, 1), state: allocState(net, B), spare: allocState(net, B) }));
  return batch;
}

/** ln softmax(logits[row … row+V))[id], in float64. */
export function logSoftmaxAt(logits: ArrayLike<number>, row: number, V: number, id: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[row + v] > max) max = logits[row + v];
  return logits[row + id] - max - logNormaliser(logits, row, V, max);
}

/** ln Σ_v exp(logits[row + v] - max), summed in v order (logSoftmaxAt's normaliser, and weigh's). */
function logNormaliser(logits: ArrayLike<number>, row: number, V: number, max: number): number {
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[row + v] - max);
  return Math.log(sum);
}

export function endsWith(ids: readonly number[], tail: readonly number[]): boolean {
  if (ids.length < tail.length) return false;
  const at = ids.length - tail.length;
  for (let i = 0; i < tail.length; i++) if (ids[at + i] !== tail[i]) return false;
  return true;
}

/**
 * out row r = state row from[r], every layer's h and, for lstm, c (rows of `out` past from.length are left as they
 * are; `out` is not `state`). In beam search `from` may repeat and reorder rows.
 */
export function gatherStates(net: Network, state: CarriedState, from: readonly number[], out: CarriedState): void {
  copyStateRows(net, state, 0, from, from.length, out, 0);
}

/**
 * Row outRow0 + r of every layer's h (and, for lstm, c) in `out` = row srcRow0 + from[r] of `src`'s, r < n. In one
 * kernel call per array where the kernels gather rows (sampleMany's steps copy a few hundred rows, most of them
 * runs of one: a call each cost ~90 ns), else consecutive source rows as one run.
 */
function copyStateRows(
  net: Network, src: RowStates, srcRow0: number, from: ArrayLike<number>, n: number, out: RowStates, outRow0: number,
): void {
  const H = net.config.hiddenSize;
  const lstm = net.config.cell === 'lstm';
  const gather = net.kernels.gatherRows;
  if (gather && from instanceof Int32Array) {
    for (let l = 0; l < net.config.layers; l++) {
      gather(src.h[l], srcRow0 * H, out.h[l], outRow0 * H, from, n, H);
      if (lstm) gather(src.c[l], srcRow0 * H, out.c[l], outRow0 * H, from, n, H);
    }
    return;
  }
  for (let r = 0; r < n;) {
    let end = r + 1;
    while (end < n && from[end] === from[end - 1] + 1) end++;
    for (let l = 0; l < net.config.layers; l++) {
      copyFloats(src.h[l], (srcRow0 + from[r]) * H, out.h[l], (outRow0 + r) * H, (end - r) * H);
      if (lstm) copyFloats(src.c[l], (srcRow0 + from[r]) * H, out.c[l], (outRow0 + r) * H, (end - r) * H);
    }
    r = end;
  }
}

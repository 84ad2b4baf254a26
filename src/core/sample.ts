// Sampling one character at a time from a trained network: temperature, top-k, a priming text, and a seeded
// generator, as an iterator so callers can stream characters as they come. No allocation per character.
//
// Dimension legend: V vocabulary size. The network runs one stream (B = 1) one step (T = 1) at a time.

import { utf8Encode } from './bytes.js';
import { CharnnError } from './errors.js';
import { describeChar, type Vocab } from './data/corpus.js';
import { allocPass, allocState, carryState, forwardLogits, resetState, type Network } from './model.js';
import { createRandom } from './random.js';

export interface SampleOptions {
  length: number;        // characters (code points) to generate
  temperature?: number;  // 1 = the model's distribution; lower is more conservative; 0 = always the most likely
  topK?: number;         // sample only among the k most likely characters
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
  if (options.stop !== undefined && options.stop.length === 0) throw new CharnnError('The stop string must not be empty.');
}

/**
 * Yields generated character ids. The model first reads the prime (or, without one, a newline when the
 * vocabulary has one — the start of a line — else nothing, and the first character is drawn uniformly).
 */
export function* sampleIds(net: Network, vocab: Vocab, options: SampleOptions): Generator<number> {
  validateSampleOptions(options);
  const V = net.config.vocabSize;
  const { length, temperature = 1 } = options;
  const topK = Math.min(options.topK ?? V, V);
  const random = createRandom(options.seed ?? Date.now());
  const pass = allocPass(net, 1, 1);
  const state = allocState(net, 1);
  resetState(state);
  const probs = new Float64Array(V);
  const order = topK < V ? new Int32Array(V) : null;

  let context = options.prime ? primeIds(options.prime, vocab) : [];
  if (context.length === 0) {
    const newline = vocab.idOf.get(10);
    context = newline !== undefined ? [newline] : [];
  }
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
    else next = pick(pass.logits, V, temperature, topK, probs, order, random);
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
function primeIdsOrNull(text: string, vocab: Vocab): number[] | null {
  try {
    return primeIds(text, vocab);
  } catch {
    return null;
  }
}

/** Draws an id from softmax(logits / temperature) restricted to the topK largest; temperature 0 = argmax. */
function pick(
  logits: ArrayLike<number>, V: number, temperature: number, topK: number,
  probs: Float64Array, order: Int32Array | null, random: () => number,
): number {
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
  if (temperature === 0 || topK === 1) return best;
  // threshold = the k-th largest logit (ties at the threshold all stay in)
  let threshold = -Infinity;
  if (order) {
    for (let v = 0; v < V; v++) order[v] = v;
    order.sort((a, b) => logits[b] - logits[a]);
    threshold = logits[order[topK - 1]];
  }
  const max = logits[best];
  let sum = 0;
  for (let v = 0; v < V; v++) {
    const p = logits[v] >= threshold ? Math.exp((logits[v] - max) / temperature) : 0;
    probs[v] = p;
    sum += p;
  }
  let u = random() * sum;
  for (let v = 0; v < V; v++) {
    u -= probs[v];
    if (u < 0 && probs[v] > 0) return v;
  }
  return best; // rounding left u ≥ 0 at the end: the last mass belongs to the most likely
}

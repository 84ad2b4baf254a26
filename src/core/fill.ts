// Filling in missing characters: every mask character of a text is replaced by the model's choice, everything
// else passes through unchanged. A bidirectional model reads both sides of each gap; a left-to-right model can
// only continue the text before it.
//
// Dimension legend: B windows (or streams) run together, T time steps, V vocabulary size, n text length.
//
// Cost. Bidirectional: the text is cut into chunks of `chunk` characters, each read with `context` characters on
// both sides (a window of T = chunk + 2·context). Within a chunk the masks are filled one at a time, the most
// confident first, re-reading the window after each: one forward per mask, B windows at a time. Left-to-right:
// one step per character, in order, each mask taking the most likely character (temperature 0) given what is
// to its left, itself included in the left context of what follows.

import { utf8Decode, utf8Encode } from './bytes.js';
import { allocBiPass, biForwardLogits, type BiPass } from './bidirectional.js';
import { describeChar, type Vocab } from './data/corpus.js';
import {
  allocPass, allocState, carryState, forwardLogits, resetState, type CarriedState, type Network, type Pass,
} from './model.js';
import { CharnnError } from './errors.js';

export const DEFAULT_MASK_CHAR = '_';

/** Marks a position to fill in an id array given to fillIds. */
export const TO_FILL = -1;

export interface FillOptions {
  mask?: string;     // the character that marks a gap (one character; default '_')
  chunk?: number;    // bidirectional: characters whose masks are filled per window (default 32)
  context?: number;  // characters read on each side of a chunk; left-to-right: before each stream (default 64)
  batch?: number;    // windows (or streams) per forward pass (default 32)
}

export interface FillResult {
  text: string;
  filled: number;            // mask characters replaced
  leftContextOnly: boolean;  // the model reads left to right, so each gap was filled from its left side only
}

/**
 * Fills the masks of `text` with the most likely characters. Throws a CharnnError if the text has characters
 * (other than the mask) that the model's vocabulary lacks.
 */
export function fillText(net: Network, vocab: Vocab, text: string, options: FillOptions = {}): FillResult {
  const mask = options.mask ?? DEFAULT_MASK_CHAR;
  const maskCode = maskCodeOf(mask, vocab);
  const codes = vocab.encoding === 'bytes' ? Array.from(utf8Encode(text)) : Array.from(text, (c) => c.codePointAt(0)!);
  const ids = new Int32Array(codes.length);
  const unknown = new Set<number>();
  let filled = 0;
  for (let i = 0; i < codes.length; i++) {
    if (codes[i] === maskCode) {
      ids[i] = TO_FILL;
      filled++;
      continue;
    }
    const id = vocab.idOf.get(codes[i]);
    if (id === undefined) unknown.add(codes[i]);
    else ids[i] = id;
  }
  if (unknown.size > 0) {
    const names = [...unknown].sort((a, b) => a - b).map((c) => describeChar(vocab.encoding === 'bytes' ? String.fromCharCode(c) : String.fromCodePoint(c), vocab.encoding));
    throw new CharnnError(`The text has ${unknown.size === 1 ? 'a character' : 'characters'} the model never saw: ${names.join(', ')}.`);
  }
  fillIds(net, vocab, ids, options);
  let out: string;
  if (vocab.encoding === 'bytes') {
    out = utf8Decode(Uint8Array.from(ids, (id) => vocab.symbols[id].charCodeAt(0)));
  } else {
    const parts = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) parts[i] = vocab.symbols[ids[i]];
    out = parts.join('');
  }
  return { text: out, filled, leftContextOnly: !net.config.bidirectional };
}

function maskCodeOf(mask: string, vocab: Vocab): number {
  const chars = Array.from(mask);
  if (chars.length !== 1) throw new CharnnError(`The mask must be a single character, got ${JSON.stringify(mask)}.`);
  const code = chars[0].codePointAt(0)!;
  if (vocab.encoding === 'bytes' && code > 0x7f) {
    throw new CharnnError(`This model reads raw bytes, so the mask must be an ASCII character, got ${JSON.stringify(mask)}.`);
  }
  return code;
}

/** Replaces every TO_FILL entry of `ids` (vocabulary ids otherwise) with the model's choice, in place. */
export function fillIds(net: Network, vocab: Vocab, ids: Int32Array, options: FillOptions = {}): void {
  const chunk = options.chunk ?? 32;
  const context = options.context ?? 64;
  const batch = options.batch ?? 32;
  for (const [name, value, min] of [['chunk', chunk, 1], ['context', context, 0], ['batch', batch, 1]] as const) {
    if (!Number.isInteger(value) || value < min) throw new CharnnError(`The fill ${name} must be a whole number of at least ${min}, got ${value}.`);
  }
  if (!ids.includes(TO_FILL)) return;
  if (net.config.bidirectional) fillBidirectional(net, ids, chunk, context, batch);
  else fillLeftToRight(net, vocab.idOf.get(10), ids, context, batch);
}

/** Index and probability of the largest entry of softmax(logits[row … row+V)). */
function argmaxWithProbability(logits: ArrayLike<number>, row: number, V: number): { id: number; p: number } {
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[row + v] > logits[row + best]) best = v;
  const max = logits[row + best];
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[row + v] - max);
  return { id: best, p: 1 / sum };
}

function fillBidirectional(net: Network, ids: Int32Array, chunk: number, context: number, batch: number): void {
  const V = net.config.vocabSize;
  const n = ids.length;
  const T = Math.min(n, chunk + 2 * context);
  // only chunks with a gap need reading
  const chunks: number[] = [];
  for (let c = 0; c * chunk < n; c++) {
    const end = Math.min(n, (c + 1) * chunk);
    for (let i = c * chunk; i < end; i++) if (ids[i] === TO_FILL) { chunks.push(c); break; }
  }
  const B = Math.min(batch, chunks.length);
  const pass = reusableBiPass(net, B, T, chunk + 2 * context, batch);
  const windowStart = new Int32Array(B);
  const chunkStart = new Int32Array(B);
  const chunkEnd = new Int32Array(B);
  const remaining = new Int32Array(B);
  for (let g = 0; g < chunks.length; g += B) {
    // windows past the last chunk (in the final group) read window 0's text and fill nothing
    let left = 0;
    for (let b = 0; b < B; b++) {
      const c = chunks[Math.min(g + b, chunks.length - 1)];
      chunkStart[b] = c * chunk;
      chunkEnd[b] = Math.min(n, chunkStart[b] + chunk);
      // the window holds the chunk, shifted inward at the ends of the text
      windowStart[b] = Math.max(0, Math.min(chunkStart[b] - context, n - T));
      remaining[b] = 0;
      if (g + b < chunks.length) for (let i = chunkStart[b]; i < chunkEnd[b]; i++) if (ids[i] === TO_FILL) remaining[b]++;
      left += remaining[b];
    }
    while (left > 0) {
      // inputs from the current text, so each fill is read by its own window and its neighbours alike
      for (let t = 0; t < T; t++) {
        for (let b = 0; b < B; b++) {
          const id = ids[windowStart[b] + t];
          pass.inputs[t * B + b] = id === TO_FILL ? V : id;
        }
      }
      biForwardLogits(net, pass);
      for (let b = 0; b < B; b++) {
        if (remaining[b] === 0) continue;
        let bestPos = -1;
        let bestId = 0;
        let bestP = -1;
        for (let i = chunkStart[b]; i < chunkEnd[b]; i++) {
          if (ids[i] !== TO_FILL) continue;
          const { id, p } = argmaxWithProbability(pass.logits, ((i - windowStart[b]) * B + b) * V, V);
          if (p > bestP) {
            bestP = p;
            bestPos = i;
            bestId = id;
          }
        }
        ids[bestPos] = bestId;
        remaining[b]--;
        left--;
      }
    }
  }
}

function fillLeftToRight(net: Network, newline: number | undefined, ids: Int32Array, context: number, batch: number): void {
  const V = net.config.vocabSize;
  const n = ids.length;
  // S streams in lockstep, one step at a time; stream b owns [b·P, (b+1)·P) and first reads up to `context`
  // characters before it (filling their gaps for itself only) so that it does not start from nothing
  const S = Math.max(1, Math.min(batch, Math.floor(n / Math.max(1, 4 * context))));
  const P = Math.ceil(n / S);
  const { pass, state } = reusableStreams(net, S);
  resetState(state);
  const start = new Int32Array(S);
  const own = new Int32Array(S);
  const end = new Int32Array(S);
  let steps = 0;
  for (let b = 0; b < S; b++) {
    own[b] = Math.min(n, b * P);
    start[b] = Math.max(0, own[b] - context);
    end[b] = Math.min(n, (b + 1) * P);
    steps = Math.max(steps, end[b] - start[b]);
  }
  // every stream first reads a newline (the start of a line), as the sampler does, so that a gap at the very
  // start has a prediction; a vocabulary without one gives the first gap the zero logits' argmax, id 0
  if (newline !== undefined) {
    pass.inputs.fill(newline);
    forwardLogits(net, pass, state);
    carryState(net, pass, state);
  } else {
    pass.logits.fill(0); // the pass is reused: not the last call's predictions
  }
  for (let i = 0; i < steps; i++) {
    for (let b = 0; b < S; b++) {
      const p = start[b] + i;
      if (p >= end[b]) continue; // finished streams repeat their last input; their logits are ignored
      let id = ids[p];
      if (id === TO_FILL) {
        id = argmaxWithProbability(pass.logits, b * V, V).id;
        // a stream fills its own part; a gap in its lead-in is filled by the stream before it, with more context
        if (p >= own[b]) ids[p] = id;
      }
      pass.inputs[b] = id;
    }
    forwardLogits(net, pass, state);
    carryState(net, pass, state);
  }
}


// Buffers from a backend's alloc() live as long as the backend (the WebAssembly one never frees), so passes are
// kept per network and reused by later calls instead of being allocated anew for every text.
const biPasses = new WeakMap<Network, BiPass>();
const streamPasses = new WeakMap<Network, Map<number, { pass: Pass; state: CarriedState }>>();

/**
 * A bidirectional pass for (B, T): the kept one seen as (B, T) when it is big enough — every buffer is time-major,
 * so a smaller (B, T) uses a prefix of each — else a new one, at least the full window (and twice the old B).
 */
function reusableBiPass(net: Network, B: number, T: number, fullT: number, maxB: number): BiPass {
  let base = biPasses.get(net);
  // a view needs no more windows and no more steps than the kept pass (workspaces sized for T steps, e.g. the
  // packed recurrent weights of a multi-step pass, then hold for fewer)
  if (!base || B > base.B || T > base.T) {
    const capB = Math.min(Math.max(B, 2 * (base?.B ?? 0)), Math.max(B, maxB));
    base = allocBiPass(net, capB, Math.max(T, fullT, base?.T ?? 0));
    biPasses.set(net, base);
  }
  if (base.B === B && base.T === T) return base;
  const view = (ws: BiPass['fwd'][number]) => ({ ...ws, B, T });
  return { ...base, B, T, fwd: base.fwd.map(view), bwd: base.bwd.map(view) };
}

/** S one-step streams and their carried state, kept per network and S (S ≤ the batch option). */
function reusableStreams(net: Network, S: number): { pass: Pass; state: CarriedState } {
  let byS = streamPasses.get(net);
  if (!byS) streamPasses.set(net, (byS = new Map()));
  let entry = byS.get(S);
  if (!entry) byS.set(S, (entry = { pass: allocPass(net, S, 1), state: allocState(net, S) }));
  return entry;
}

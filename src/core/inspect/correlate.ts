// Finding interpretable cells: ranks hidden units by how well their activation tracks "this character is inside a
// match of a regex" (inside quotes, brackets, a speaker's name), the search behind the blog's quote-detection cell.
//
// Dimension legend: N characters read, H hidden size, L layers. Position t is the text's t-th character.

import type { IdArray, Vocab } from '../data/corpus.js';
import type { Network } from '../model.js';
import { CharnnError } from '../errors.js';
import { checkStateKind, forEachChunk, readState, type StateKind } from './analyze.js';

export interface UnitCorrelation {
  layer: number;
  unit: number;
  r: number; // Pearson correlation of the unit's activation with the 0/1 inside-a-match indicator
}

/** Compiles a user's pattern: multiline (^ and $ at line ends), Unicode, global. A bad pattern is the user's mistake. */
export function compilePattern(pattern: string): RegExp {
  try {
    return new RegExp(pattern, 'gmu');
  } catch (error) {
    throw new CharnnError(`The regular expression ${JSON.stringify(pattern)} is invalid: ${(error as Error).message}.`);
  }
}

/**
 * (N) 1 where the character at t lies inside a non-empty match of `pattern`, else 0. The regex sees the text as the
 * model's symbols joined (for a bytes vocabulary, one Latin-1 character per byte, so ASCII patterns work).
 */
export function matchIndicator(ids: ArrayLike<number>, vocab: Vocab, pattern: RegExp): Uint8Array {
  const N = ids.length;
  const parts: string[] = new Array(N);
  // positionAt[u]: the position of the character that UTF-16 unit u belongs to
  let units = 0;
  for (let t = 0; t < N; t++) {
    parts[t] = vocab.symbols[ids[t]];
    units += parts[t].length;
  }
  const positionAt = new Int32Array(units);
  for (let t = 0, u = 0; t < N; t++) for (let i = 0; i < parts[t].length; i++) positionAt[u++] = t;
  const text = parts.join('');
  const inside = new Uint8Array(N);
  const global = pattern.global ? pattern : new RegExp(pattern.source, pattern.flags + 'g');
  global.lastIndex = 0;
  for (const match of text.matchAll(global)) {
    const from = match.index;
    const to = from + match[0].length;
    for (let u = from; u < to; u++) inside[positionAt[u]] = 1;
  }
  return inside;
}

/**
 * Reads ids[0 … N) (N = inside.length) from a zero state and returns every unit of every layer ranked by |r|,
 * largest first; a unit's activation is its h, or with state 'c' tanh of its LSTM cell state. Units that never
 * move (zero variance) get r = 0.
 */
export function correlateUnits(net: Network, ids: IdArray, inside: Uint8Array, state: StateKind = 'h'): UnitCorrelation[] {
  const { hiddenSize: H, layers: L } = net.config;
  checkStateKind(net.config.cell, state);
  const N = inside.length;
  let insideCount = 0;
  for (let t = 0; t < N; t++) insideCount += inside[t];
  if (insideCount === 0) throw new CharnnError('The regular expression matches nothing in the text, so there is nothing to correlate with.');
  if (insideCount === N) throw new CharnnError('The regular expression covers the whole text, so there is nothing to correlate with.');

  // Σa, Σa², Σa·y per unit, in float64: N can be large and the sums must not lose the small differences
  const sumA = new Float64Array(L * H);   // (L, H)
  const sumAA = new Float64Array(L * H);  // (L, H)
  const sumAY = new Float64Array(L * H);  // (L, H)
  const row = new Float32Array(H); // (H) one layer's state after one character
  forEachChunk(net, ids, N, (pass, start, count) => {
    for (let l = 0; l < L; l++) {
      const base = l * H;
      for (let r = 0; r < count; r++) {
        readState(pass, l, r, state, row, 0);
        const y = inside[start + r];
        for (let j = 0; j < H; j++) {
          const a = row[j];
          sumA[base + j] += a;
          sumAA[base + j] += a * a;
          if (y) sumAY[base + j] += a;
        }
      }
    }
  });

  // r = (N·Σay − Σa·Σy) / √((N·Σa² − (Σa)²)(N·Σy − (Σy)²)), with y² = y
  const sumY = insideCount;
  const varY = N * sumY - sumY * sumY;
  const result: UnitCorrelation[] = [];
  for (let l = 0; l < L; l++) {
    for (let j = 0; j < H; j++) {
      const u = l * H + j;
      const varA = N * sumAA[u] - sumA[u] * sumA[u];
      const r = varA > 1e-12 * N * N ? (N * sumAY[u] - sumA[u] * sumY) / Math.sqrt(varA * varY) : 0;
      result.push({ layer: l, unit: j, r });
    }
  }
  return result.sort((a, b) => Math.abs(b.r) - Math.abs(a.r) || a.layer - b.layer || a.unit - b.unit);
}

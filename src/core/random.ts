// The one source of randomness: a seeded generator (seedrandom's Alea) whose state can be saved in a checkpoint
// and restored, so the same seed gives the same bytes and a resumed run continues the same random sequence.

import seedrandom from 'seedrandom';
import type { FloatArray } from './kernels/types.js';

export type RandomState = seedrandom.State.Alea;

export interface Random {
  (): number; // uniform in [0, 1)
  state(): RandomState;
}

export function createRandom(seed: string | number, state?: RandomState): Random {
  return seedrandom.alea(String(seed), { state: state ?? true });
}

export function isRandomState(value: unknown): value is RandomState {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return ['c', 's0', 's1', 's2'].every((key) => typeof s[key] === 'number' && Number.isFinite(s[key]));
}

/**
 * Inverted-dropout masks, drawn fast: one draw of the generator keys a whole mask, and element i of it is kept
 * (value 1/(1-p)) unless a 32-bit hash of (key, i) falls below p·2³², else 0. The hash is a Weyl step
 * (i·φ·2³² + key) through the lowbias32 finaliser (C. Wellons' hash prospector), a bijection on 32 bits: within a mask
 * no two elements share a hash, and any run of elements can be filled on its own (a data-parallel slice gets
 * exactly the values the whole mask has there). A draw per element from the generator cost ~11 ns; this, ~1.
 */
export function dropoutKey(random: () => number): number {
  return (random() * 0x100000000) >>> 0;
}

/** Fills mask[at … at+count) with the elements index … index+count-1 of the dropout mask `key` for rate p. */
export function fillDropoutMask(mask: FloatArray, at: number, count: number, key: number, index: number, p: number): void {
  const threshold = Math.round(p * 0x100000000);
  const scale = 1 / (1 - p);
  for (let e = 0; e < count; e++) {
    let x = (Math.imul(index + e, 0x9e3779b9) + key) | 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d);
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b);
    x ^= x >>> 16;
    mask[at + e] = x >>> 0 < threshold ? 0 : scale;
  }
}

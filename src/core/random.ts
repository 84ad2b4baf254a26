// The one source of randomness: a seeded generator (J. Baagøe's Alea, the generator of seedrandom's `alea`, which
// gives the same numbers for the same seed) whose state can be saved in a checkpoint and restored, so the same seed
// gives the same bytes and a resumed run continues the same random sequence.
//
// Alea is written out here rather than taken from seedrandom: the many-sample sampler seeds one generator per
// stream, and seedrandom's took ~650 ns to make (Node 20, Zen 5: most of it adding four properties to the function
// it returns, and six passes of its Mash hash, three of them over the constant ' '); this one takes ~300 (the
// constant passes are done once, at load), and draws as fast (~7 ns). test/random.test.ts holds it to seedrandom's
// alea, number for number and state for state.

import type { FloatArray } from './kernels/types.js';

/** A generator's whole state (seedrandom's alea state, as checkpoints store it). */
export interface RandomState { c: number; s0: number; s1: number; s2: number }

export interface Random {
  (): number; // uniform in [0, 1)
  state(): RandomState;
}

const TWO_M32 = 2.3283064365386963e-10; // 2^-32

/** Baagøe's Mash over `data`, continuing from hash state n; returns the new state (its value is (n >>> 0)·2^-32). */
function mash(n: number, data: string): number {
  for (let i = 0; i < data.length; i++) {
    n += data.charCodeAt(i);
    let h = 0.02519603282416938 * n;
    n = h >>> 0;
    h -= n;
    h *= n;
    n = h >>> 0;
    h -= n;
    n += h * 0x100000000;
  }
  return n;
}

// Alea's seeding starts every generator with three hashes of ' ' from Mash's initial state: the same for every seed
const SPACE1 = mash(0xefc8249d, ' ');
const SPACE2 = mash(SPACE1, ' ');
const SPACE3 = mash(SPACE2, ' ');

export function createRandom(seed: string | number, state?: RandomState): Random {
  // the state lives in an object's fields (doubles stored in place), not in closure variables, which V8 boxes on
  // every assignment: 13 to 34 ns a draw that way against ~5
  const g: RandomState = state ? { c: state.c, s0: state.s0, s1: state.s1, s2: state.s2 } : seeded(String(seed));
  const next = () => {
    const t = 2091639 * g.s0 + g.c * TWO_M32;
    g.s0 = g.s1;
    g.s1 = g.s2;
    g.c = t | 0;
    return (g.s2 = t - g.c);
  };
  // Object.assign, not `next.state = …`: adding the property by assignment cost ~500 ns a generator (Node 20)
  return Object.assign(next, { state: (): RandomState => ({ c: g.c, s0: g.s0, s1: g.s1, s2: g.s2 }) });
}

/** Alea's initial state for a seed: s_i = Mash(' ') − Mash(seed), the i-th of three hashes each, wrapped into [0, 1). */
function seeded(data: string): RandomState {
  let n = mash(SPACE3, data);
  let s0 = (SPACE1 >>> 0) * TWO_M32 - (n >>> 0) * TWO_M32;
  if (s0 < 0) s0 += 1;
  n = mash(n, data);
  let s1 = (SPACE2 >>> 0) * TWO_M32 - (n >>> 0) * TWO_M32;
  if (s1 < 0) s1 += 1;
  n = mash(n, data);
  let s2 = (SPACE3 >>> 0) * TWO_M32 - (n >>> 0) * TWO_M32;
  if (s2 < 0) s2 += 1;
  return { c: 1, s0, s1, s2 };
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

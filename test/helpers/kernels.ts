// Holding a fast backend to the float64 reference: the same random contents in a buffer of each, and a float32
// rounding tolerance. Shared by the WebAssembly and native kernel tests.

import { expect } from 'vitest';
import type { FloatArray, Kernels } from '../../src/core/kernels/types.js';

/** The same random contents in a buffer of `fast` and one of `ref`. */
export function pair(fast: Kernels, ref: Kernels, length: number, random: () => number, scale = 3): [FloatArray, FloatArray] {
  const a = fast.alloc(length);
  const b = ref.alloc(length);
  for (let i = 0; i < length; i++) a[i] = b[i] = Math.fround((random() * 2 - 1) * scale);
  return [a, b];
}

/** The same random ids in 0 … range-1 in an id buffer of each backend. */
export function idPair(fast: Kernels, ref: Kernels, length: number, random: () => number, range: number): [Int32Array, Int32Array] {
  const a = fast.allocIds(length);
  const b = ref.allocIds(length);
  for (let i = 0; i < length; i++) a[i] = b[i] = Math.floor(random() * range);
  return [a, b];
}

/** Every element within float32 rounding of a few operations: |a - b| ≤ 4e-6·(1 + |b|). */
export function expectClose(actual: FloatArray, expected: FloatArray, what: string): void {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
    if (!(err <= worst)) { worst = err; at = i; }
  }
  expect(worst, `${what}: worst relative error at ${at}`).toBeLessThan(4e-6);
}

// Holds the WebAssembly SIMD GEMM to the float64 reference in all three forms, on shapes that hit every edge of
// its blocking (ragged rows and columns, slabs of K, blocks of N and M), with offsets, wide leading dimensions
// and both accumulate modes; and checks its memory contract: views survive growth, foreign arrays are refused.

import { describe, expect, it } from 'vitest';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { createRandom } from '../src/core/random.js';
import {
  createWasmKernels, wasmRelaxedSimdAvailable, wasmSimdAvailable, type GemmKernels, type WasmKernels,
} from '../src/core/kernels/wasm.js';
import { startGemmHelper } from '../src/node/gemm-helper.js';

type Form = 'NN' | 'NT' | 'TN';

interface Case {
  form: Form;
  M: number;
  N: number;
  K: number;
  pad: number; // extra columns in every leading dimension, and the offset of every operand
  accumulate: boolean;
}

// Stored shape (rows × cols) of each operand for a form.
function operandShapes({ form, M, N, K }: Case): { a: [number, number]; b: [number, number] } {
  return {
    a: form === 'TN' ? [K, M] : [M, K],
    b: form === 'NT' ? [N, K] : [K, N],
  };
}

const reference64 = referenceKernels('f64');
const EPS32 = 2 ** -24;

// Runs one case on `kernels` and on the float64 reference, and compares every element of C's buffer: the M×N
// window within the float32 error bound, everything outside it (padding, offset) bit-for-bit untouched.
function checkCase(kernels: WasmKernels, c: Case, seed: number): void {
  const random = createRandom(seed);
  const { a, b } = operandShapes(c);
  const lda = a[1] + c.pad, ldb = b[1] + c.pad, ldc = c.N + c.pad;
  const off = c.pad;
  const A = kernels.alloc(off + a[0] * lda); // (rows of A) × lda, after `off` leading elements
  const B = kernels.alloc(off + b[0] * ldb);
  const C = kernels.alloc(off + c.M * ldc + 3); // 3 sentinels past the end
  for (let i = 0; i < A.length; i++) A[i] = random() * 2 - 1;
  for (let i = 0; i < B.length; i++) B[i] = random() * 2 - 1;
  for (let i = 0; i < C.length; i++) C[i] = random() * 2 - 1;

  // float64 copies of the exact float32 inputs; |A|·|B| + |C| bounds the rounding error of each element
  const A64 = Float64Array.from(A), B64 = Float64Array.from(B), C64 = Float64Array.from(C);
  const absA = A64.map(Math.abs), absB = B64.map(Math.abs), bound = C64.map(Math.abs);
  const before = Float32Array.from(C);

  kernels[`gemm${c.form}`](c.M, c.N, c.K, A, off, lda, B, off, ldb, C, off, ldc, c.accumulate);
  reference64[`gemm${c.form}`](c.M, c.N, c.K, A64, off, lda, B64, off, ldb, C64, off, ldc, c.accumulate);
  reference64[`gemm${c.form}`](c.M, c.N, c.K, absA, off, lda, absB, off, ldb, bound, off, ldc, c.accumulate);

  let worst = 0;
  for (let idx = 0; idx < C.length; idx++) {
    const row = Math.floor((idx - off) / ldc), col = (idx - off) % ldc;
    const inside = idx >= off && row < c.M && col < c.N;
    if (!inside) {
      if (C[idx] !== before[idx]) throw new Error(`${describeCase(c)}: wrote outside C's window at ${idx}`);
      continue;
    }
    // K + 2 roundings per element (K products/sums, the accumulate add, the final store), each ≤ eps·bound
    const tolerance = (c.K + 2) * EPS32 * bound[idx] + 1e-30;
    const error = Math.abs(C[idx] - C64[idx]);
    worst = Math.max(worst, error / tolerance);
    if (!(error <= tolerance)) {
      throw new Error(`${describeCase(c)}: C[${row},${col}] = ${C[idx]}, reference ${C64[idx]} (tolerance ${tolerance})`);
    }
  }
  expect(worst).toBeLessThanOrEqual(1);
}

function describeCase(c: Case): string {
  return `gemm${c.form} M=${c.M} N=${c.N} K=${c.K} pad=${c.pad} accumulate=${c.accumulate}`;
}

// Shapes chosen against the blocking in assembly/gemm.ts (MR=5 rows, NR=8 columns, KC=256, NC=512, MC=125).
const shapes: Array<[number, number, number]> = [
  [1, 1, 1],
  [1, 8, 1],
  [5, 8, 4], // exactly one register block
  [7, 13, 9], // ragged rows and columns
  [4, 7, 3], // smaller than one block in both directions
  [11, 17, 257], // K crosses one slab boundary by one
  [50, 512, 128], // LSTM step, H = 128 (B×H)·(H×G)
  [13, 515, 19], // N crosses the packed-block width
  [131, 9, 6], // M crosses the row-block height, ragged
  [3, 5, 600], // several slabs of K
  [6, 4, 0], // empty reduction: C = accumulate ? C : 0
];

const forms: Form[] = ['NN', 'NT', 'TN'];

describe.skipIf(!wasmSimdAvailable())('wasm-simd gemm against the float64 reference', () => {
  const kernels = createWasmKernels({ fma: 'off' });
  let seed = 1;
  for (const form of forms) {
    it(`gemm${form} on edge shapes, padded and dense, accumulating and overwriting`, () => {
      for (const [M, N, K] of shapes) {
        for (const pad of [0, 3]) {
          for (const accumulate of [false, true]) checkCase(kernels, { form, M, N, K, pad, accumulate }, seed++);
        }
      }
    });
  }

  it('backward shapes: (B×G)·(H×G)ᵀ and (T·B×I)ᵀ·(T·B×G)', () => {
    checkCase(kernels, { form: 'NT', M: 50, N: 128, K: 512, pad: 0, accumulate: false }, 101);
    checkCase(kernels, { form: 'TN', M: 65, N: 512, K: 250, pad: 1, accumulate: true }, 102);
  });

  it('random shapes', () => {
    const random = createRandom(7);
    for (let trial = 0; trial < 30; trial++) {
      const pick = (max: number) => 1 + Math.floor(random() * max);
      const c: Case = {
        form: forms[trial % 3]!,
        M: pick(40), N: pick(70), K: pick(300),
        pad: Math.floor(random() * 5),
        accumulate: random() < 0.5,
      };
      checkCase(kernels, c, 1000 + trial);
    }
  });
});

describe.skipIf(!wasmRelaxedSimdAvailable())('wasm-simd-fma gemm (relaxed SIMD) against the float64 reference', () => {
  const kernels = createWasmKernels({ fma: 'auto' });
  it('runs the fused build and matches on edge shapes', () => {
    expect(kernels.fusedMultiplyAdd).toBe(true);
    let seed = 500;
    for (const form of forms) {
      for (const [M, N, K] of shapes) checkCase(kernels, { form, M, N, K, pad: 2, accumulate: seed % 2 === 0 }, seed++);
    }
  });
});

describe.skipIf(!wasmSimdAvailable())('wasm-simd gemm on two threads against the float64 reference', () => {
  it('splits along N and along M, with ragged halves, and matches', () => {
    const kernels = createWasmKernels({ fma: 'off', helper: startGemmHelper });
    try {
      expect(kernels.name).toBe('wasm-simd-2t');
      // each of these is above the parallel threshold (2 MFLOP); the first three split N, the rest M
      const big: Array<[number, number, number]> = [[50, 512, 128], [7, 1001, 161], [40, 77, 400], [250, 33, 129], [131, 9, 900]];
      let seed = 2000;
      for (const form of forms) {
        for (const [M, N, K] of big) {
          for (const accumulate of [false, true]) checkCase(kernels, { form, M, N, K, pad: 1, accumulate }, seed++);
        }
      }
      // many small back-to-back calls: the hand-off between the threads must not lose or repeat a job
      for (let trial = 0; trial < 200; trial++) checkCase(kernels, { form: forms[trial % 3]!, M: 50, N: 256, K: 96, pad: 0, accumulate: trial % 2 === 0 }, 3000 + trial);
    } finally {
      kernels.close();
    }
  });
});

describe.skipIf(!wasmSimdAvailable())('wasm-simd memory', () => {
  it('hands out zero-filled, aligned views that stay valid while the memory grows', () => {
    const kernels = createWasmKernels({ fma: 'off' });
    const small = kernels.alloc(10);
    expect(small.byteOffset % 16).toBe(0);
    expect(Array.from(small)).toEqual(new Array(10).fill(0));
    for (let i = 0; i < small.length; i++) small[i] = i + 1;

    const bufferBefore = kernels.memory.buffer.byteLength;
    const big = kernels.alloc(4 * 1024 * 1024); // 16 MiB: forces a grow
    expect(kernels.memory.buffer.byteLength).toBeGreaterThan(bufferBefore);
    expect(big.byteOffset % 16).toBe(0);
    expect(big.byteOffset).toBeGreaterThanOrEqual(small.byteOffset + small.byteLength);
    expect(big[big.length - 1]).toBe(0);

    // the old view still reads and writes the same memory, and the kernels still accept it
    expect(Array.from(small)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    big[0] = 2;
    kernels.gemmNN(1, 1, 1, small, 0, 1, big, 0, 1, small, 9, 1, false); // small[9] = small[0] * big[0]
    expect(small[9]).toBe(2);
    const later = kernels.alloc(8);
    later[0] = 3;
    kernels.gemmNN(1, 1, 1, later, 0, 1, small, 1, 1, big, 1, 1, true); // big[1] += later[0] * small[1]
    expect(big[1]).toBe(6);
  });

  it('refuses arrays it does not own and operands that overrun their array', () => {
    const kernels = createWasmKernels({ fma: 'off' });
    const other = createWasmKernels({ fma: 'off' });
    const A = kernels.alloc(16), B = kernels.alloc(16), C = kernels.alloc(16);
    expect(() => kernels.gemmNN(4, 4, 4, new Float32Array(16), 0, 4, B, 0, 4, C, 0, 4, false)).toThrow(/not a buffer from this backend/);
    expect(() => kernels.gemmNT(4, 4, 4, A, 0, 4, other.alloc(16), 0, 4, C, 0, 4, false)).toThrow(/not a buffer from this backend/);
    expect(() => kernels.gemmTN(4, 4, 4, A, 0, 4, B, 0, 4, new Float64Array(16), 0, 4, false)).toThrow(/not a buffer/);
    expect(() => kernels.gemmNN(4, 4, 4, A, 1, 4, B, 0, 4, C, 0, 4, false)).toThrow(/outside its 16-element buffer/);
    expect(() => kernels.gemmNN(4, 5, 4, A, 0, 4, B, 0, 4, C, 0, 4, false)).toThrow(/outside/);
    expect(() => kernels.gemmTN(4, 4, 5, A, 0, 4, B, 0, 4, C, 0, 4, false)).toThrow(/outside/);
  });

  it('reports its name and precision as the Kernels contract asks', () => {
    const kernels: GemmKernels = createWasmKernels({ fma: 'off' });
    expect(kernels.name).toBe('wasm-simd');
    expect(kernels.precision).toBe('f32');
    expect(kernels.alloc(3)).toBeInstanceOf(Float32Array);
  });
});

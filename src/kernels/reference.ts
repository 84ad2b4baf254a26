// Plain TypeScript kernels: the reference every fast backend is tested against, and the float64 backend the
// gradient checks run on. Written for clarity first; loop orders keep the inner loop on contiguous memory.

import type { FloatArray, Kernels, Precision } from './types.js';

export function referenceKernels(precision: Precision = 'f64'): Kernels {
  return {
    name: `reference-${precision}`,
    precision,
    alloc: (length: number) => (precision === 'f64' ? new Float64Array(length) : new Float32Array(length)),
    gemmNN,
    gemmNT,
    gemmTN,
  };
}

/** C[M×N] = (accumulate ? C : 0) + A[M×K] · B[K×N] */
export function gemmNN(
  M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number,
  B: FloatArray, bOff: number, ldb: number,
  C: FloatArray, cOff: number, ldc: number,
  accumulate: boolean,
): void {
  for (let i = 0; i < M; i++) {
    const cRow = cOff + i * ldc;
    if (!accumulate) for (let j = 0; j < N; j++) C[cRow + j] = 0;
    const aRow = aOff + i * lda;
    for (let k = 0; k < K; k++) {
      const a = A[aRow + k];
      if (a === 0) continue; // one-hot-like and ReLU-like sparsity is common; skipping is exact
      const bRow = bOff + k * ldb;
      for (let j = 0; j < N; j++) C[cRow + j] += a * B[bRow + j];
    }
  }
}

/** C[M×N] = (accumulate ? C : 0) + A[M×K] · B[N×K]ᵀ */
export function gemmNT(
  M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number,
  B: FloatArray, bOff: number, ldb: number,
  C: FloatArray, cOff: number, ldc: number,
  accumulate: boolean,
): void {
  for (let i = 0; i < M; i++) {
    const aRow = aOff + i * lda;
    const cRow = cOff + i * ldc;
    for (let j = 0; j < N; j++) {
      const bRow = bOff + j * ldb;
      let sum = 0;
      for (let k = 0; k < K; k++) sum += A[aRow + k] * B[bRow + k];
      C[cRow + j] = accumulate ? C[cRow + j] + sum : sum;
    }
  }
}

/** C[M×N] = (accumulate ? C : 0) + A[K×M]ᵀ · B[K×N] */
export function gemmTN(
  M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number,
  B: FloatArray, bOff: number, ldb: number,
  C: FloatArray, cOff: number, ldc: number,
  accumulate: boolean,
): void {
  if (!accumulate) {
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) C[cOff + i * ldc + j] = 0;
  }
  for (let k = 0; k < K; k++) {
    const aRow = aOff + k * lda;
    const bRow = bOff + k * ldb;
    for (let i = 0; i < M; i++) {
      const a = A[aRow + i];
      if (a === 0) continue;
      const cRow = cOff + i * ldc;
      for (let j = 0; j < N; j++) C[cRow + j] += a * B[bRow + j];
    }
  }
}

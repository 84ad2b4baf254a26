// The contract between the model code and a compute backend: buffers the backend can work on, and the three
// GEMM forms backprop needs. The plain TypeScript backend (reference.ts) is the twin every fast one is held to.
//
// All matrices are row-major. A matrix operand is (array, offset, leading dimension): element (i, j) of A
// is A[aOff + i * lda + j]. Leading dimensions let a kernel read or write a column block of a wider buffer
// (a bidirectional layer writes its two directions side by side into one (T*B, 2H) buffer).

export type FloatArray = Float32Array | Float64Array;

export type Precision = 'f32' | 'f64';

export interface Kernels {
  /** Short name for logs and benchmarks, e.g. 'reference-f64', 'wasm-simd'. */
  readonly name: string;
  readonly precision: Precision;

  /**
   * A zero-filled buffer of `length` elements that this backend's kernels can use. For a WebAssembly backend it
   * is a view into the module's memory; buffers stay valid for the life of the backend.
   */
  alloc(length: number): FloatArray;

  /** C[M×N] = (accumulate ? C : 0) + A[M×K] · B[K×N] */
  gemmNN(
    M: number, N: number, K: number,
    A: FloatArray, aOff: number, lda: number,
    B: FloatArray, bOff: number, ldb: number,
    C: FloatArray, cOff: number, ldc: number,
    accumulate: boolean,
  ): void;

  /** C[M×N] = (accumulate ? C : 0) + A[M×K] · B[N×K]ᵀ */
  gemmNT(
    M: number, N: number, K: number,
    A: FloatArray, aOff: number, lda: number,
    B: FloatArray, bOff: number, ldb: number,
    C: FloatArray, cOff: number, ldc: number,
    accumulate: boolean,
  ): void;

  /** C[M×N] = (accumulate ? C : 0) + A[K×M]ᵀ · B[K×N] */
  gemmTN(
    M: number, N: number, K: number,
    A: FloatArray, aOff: number, lda: number,
    B: FloatArray, bOff: number, ldb: number,
    C: FloatArray, cOff: number, ldc: number,
    accumulate: boolean,
  ): void;
}

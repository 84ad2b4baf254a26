// The native CPU kernels (src/node/native/*.cc, a Node addon built at npm install by build.mjs) as a Kernels backend for
// training: AVX-512, AVX2 or portable C++ chosen at run time, GEMMs split across the library's own threads. When
// the addon was not built or does not load, nativeKernelsAvailable() is false and nothing here throws.
//
// Buffers are plain Float32Arrays whose data starts on a 64-byte boundary; the kernels accept any Float32Array
// (and Int32Array ids), checking on every call that each element they touch lies inside its array.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, sep } from 'node:path';
import { assert } from '../../core/errors.js';
import type { FloatArray, Kernels } from '../../core/kernels/types.js';

/** Instruction sets in order of preference; 'scalar' runs everywhere. */
export const NATIVE_ISAS = ['avx512', 'avx2', 'scalar'] as const;
export type NativeIsa = (typeof NATIVE_ISAS)[number];

export interface NativeKernelsOptions {
  /** Threads the GEMMs are split across (default 1). */
  threads?: number;
  /** Instruction set (default: the best this CPU runs). */
  isa?: NativeIsa;
  /**
   * With more than one thread, whether to measure now and then whether all threads beat one (they do not when
   * another process keeps a core busy) and use the faster (default true). Results do not depend on it.
   */
  adaptive?: boolean;
  /** How a GEMM is divided between threads: by output columns (default; each core keeps its share of the weights) or rows. */
  split?: 'columns' | 'rows';
  /**
   * Run the kernels with subnormal floats (below 1.2e-38) flushed to zero (default true), as PyTorch does after
   * torch.set_flush_denormal(True): a saturated LSTM gate makes them, and on x86 each costs ~100 cycles.
   */
  flushSubnormals?: boolean;
  /**
   * GEMMs with a separate multiply and add in k order (default false: fused multiply-adds): the bits of the
   * WebAssembly plain-SIMD GEMMs for every shape (kernels.h). Subnormals are then not flushed unless asked for,
   * since WebAssembly keeps them.
   */
  exact?: boolean;
}

export interface NativeKernels extends Kernels {
  readonly precision: 'f32';
  alloc(length: number): Float32Array;
  readonly isa: NativeIsa;
  /** Threads the GEMMs may use. */
  readonly maxThreads: number;
  /** Threads the GEMMs use now: maxThreads, or 1 while the measurement finds one thread faster. */
  readonly threads: number;
  /** How often the measurement changed `threads`. */
  readonly threadSwitches: number;
  weighRows(
    logits: FloatArray, rows: number, V: number, temperature: number, topK: number, topP: number, scored: boolean, probs: Float64Array, stats: Float64Array,
  ): void;
  gatherRows(src: FloatArray, srcOff: number, dst: FloatArray, dstOff: number, rows: Int32Array, n: number, width: number): void;
  /** out[i] = e^x[i] for i < n, with weighRows' exponential (fdlibm's, Math.exp's bits): for its test against Math.exp. */
  expRow64(x: Float64Array, out: Float64Array, n: number): void;
}

type Context = object;

interface Addon {
  createContext(isa: string, threads: number, adaptive: boolean, splitColumns: boolean, flushSubnormals: boolean, exact: boolean): Context | null;
  threadState(ctx: Context): [number, number, number];
  alloc(length: number): Float32Array;
  packedSize(K: number, N: number): number;
  gemm(
    ctx: Context, form: number, M: number, N: number, K: number, A: FloatArray, aOff: number, lda: number,
    B: FloatArray, bOff: number, ldb: number, C: FloatArray, cOff: number, ldc: number, accumulate: boolean,
  ): void;
  gemmPacked(
    ctx: Context, M: number, N: number, K: number, A: FloatArray, aOff: number, lda: number, packed: FloatArray,
    C: FloatArray, cOff: number, ldc: number, accumulate: boolean,
  ): void;
  packB(ctx: Context, dst: FloatArray, W: FloatArray, K: number, N: number, transposed: boolean): void;
  lstmForwardStep(ctx: Context, hs: FloatArray, cs: FloatArray, tanhC: FloatArray, gates: FloatArray, B: number, H: number, t: number): void;
  lstmBackwardStep(
    ctx: Context, dgates: FloatArray, dcNext: FloatArray, gates: FloatArray, cs: FloatArray, tanhC: FloatArray, dhs: FloatArray,
    dhNext: FloatArray, B: number, H: number, t: number,
  ): void;
  rnnForwardStep(ctx: Context, hs: FloatArray, gates: FloatArray, B: number, H: number, t: number): void;
  rnnBackwardStep(ctx: Context, dgates: FloatArray, gates: FloatArray, dhs: FloatArray, dhNext: FloatArray, B: number, H: number, t: number): void;
  gruForwardStep(
    ctx: Context, hs: FloatArray, hn: FloatArray, gates: FloatArray, hProj: FloatArray, bhn: FloatArray, B: number, H: number, t: number,
  ): void;
  gruBackwardStep(
    ctx: Context, dgates: FloatArray, dgatesH: FloatArray, dbhn: FloatArray, dhNext: FloatArray, gates: FloatArray, hs: FloatArray,
    hn: FloatArray, dhs: FloatArray, B: number, H: number, t: number,
  ): void;
  embedRows(ctx: Context, out: FloatArray, N: number, G: number, ids: Int32Array, W: FloatArray, bias: FloatArray): void;
  addBiasRows(ctx: Context, out: FloatArray, N: number, G: number, bias: FloatArray): void;
  sumRows(ctx: Context, dbias: FloatArray, dout: FloatArray, N: number, G: number): void;
  scatterAddRows(ctx: Context, dW: FloatArray, ids: Int32Array, dout: FloatArray, N: number, G: number): void;
  multiplyInPlace(ctx: Context, a: FloatArray, m: FloatArray, n: number): void;
  addInPlace(ctx: Context, out: FloatArray, x: FloatArray, n: number): void;
  softmaxCrossEntropy(ctx: Context, logits: FloatArray, targets: Int32Array, N: number, V: number): number;
  softmaxCrossEntropyBackward(ctx: Context, logits: FloatArray, targets: Int32Array, N: number, V: number, scale: number): void;
  expRow64(ctx: Context, x: Float64Array, out: Float64Array, n: number): void;
  weighRows(
    ctx: Context, logits: FloatArray, rows: number, V: number, temperature: number, topK: number, topP: number, scored: boolean,
    probs: Float64Array, stats: Float64Array,
  ): void;
  gatherRows(ctx: Context, src: FloatArray, srcOff: number, dst: FloatArray, dstOff: number, rows: Int32Array, n: number, width: number): void;
}

const FORM_NN = 0, FORM_NT = 1, FORM_TN = 2;

let addon: Addon | null | undefined;
let loadError: string | undefined;

/**
 * Where node-gyp puts the addon: build/Release beside this file's source. Run from dist/ (compiled), the source
 * folder is the same path with the last `dist` segment replaced by `src`.
 */
function addonCandidates(): string[] {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [join(here, 'build', 'Release', 'charnn_native.node')];
  const parts = here.split(sep);
  const dist = parts.lastIndexOf('dist');
  if (dist >= 0) {
    parts[dist] = 'src';
    candidates.push(join(parts.join(sep), 'build', 'Release', 'charnn_native.node'));
  }
  return candidates;
}

function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.CHARNN_NATIVE === 'off') {
    loadError = 'CHARNN_NATIVE=off';
    return addon;
  }
  const path = addonCandidates().find((candidate) => existsSync(candidate));
  if (path === undefined) {
    loadError = 'the addon was not built (npm install builds it where a C++ compiler is available)';
    return addon;
  }
  try {
    addon = createRequire(import.meta.url)(path) as Addon;
  } catch (error) {
    loadError = `the addon at ${path} does not load: ${(error as Error).message}`;
  }
  return addon;
}

/** Whether the native kernels can run here (the addon is built and loads). Never throws. */
export function nativeKernelsAvailable(): boolean {
  return loadAddon() !== null;
}

/** Why nativeKernelsAvailable() is false, for messages; undefined when it is true. */
export function nativeUnavailableReason(): string | undefined {
  return loadAddon() === null ? loadError : undefined;
}

/** The instruction sets this CPU runs, best first. Empty when the addon is unavailable. */
export function nativeIsas(): NativeIsa[] {
  const a = loadAddon();
  if (!a) return [];
  return NATIVE_ISAS.filter((isa) => a.createContext(isa, 1, false, true, true, false) !== null);
}

/** The native backend. Check nativeKernelsAvailable() first. */
export function createNativeKernels(options: NativeKernelsOptions = {}): NativeKernels {
  const a = loadAddon();
  assert(a !== null, `createNativeKernels called although the native kernels are unavailable (${loadError})`);
  const maxThreads = options.threads ?? 1;
  assert(Number.isInteger(maxThreads) && maxThreads >= 1 && maxThreads <= 64, `native kernels: threads ${maxThreads} is not 1 … 64`);
  const isa = options.isa ?? nativeIsas()[0]!;
  const exact = options.exact ?? false;
  const ctx = a.createContext(
    isa, maxThreads, options.adaptive ?? true, (options.split ?? 'columns') === 'columns', options.flushSubnormals ?? !exact, exact,
  );
  assert(ctx !== null, `native kernels: this CPU does not run the ${isa} kernels`);

  return {
    name: `native-${isa}${exact ? '-exact' : ''}`,
    precision: 'f32',
    isa,
    maxThreads,
    get threads() {
      return a.threadState(ctx)[1];
    },
    get threadSwitches() {
      return a.threadState(ctx)[2];
    },
    alloc: (length) => a.alloc(length),
    allocIds: (length) => new Int32Array(length),
    gemmNN: (M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate) =>
      a.gemm(ctx, FORM_NN, M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate),
    gemmNT: (M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate) =>
      a.gemm(ctx, FORM_NT, M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate),
    gemmTN: (M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate) =>
      a.gemm(ctx, FORM_TN, M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate),
    packedSize: (K, N) => a.packedSize(K, N),
    packB: (dst, W, K, N, transposed) => a.packB(ctx, dst, W, K, N, transposed),
    gemmPacked: (M, N, K, A, aOff, lda, packed, C, cOff, ldc, accumulate) =>
      a.gemmPacked(ctx, M, N, K, A, aOff, lda, packed, C, cOff, ldc, accumulate),
    lstmForwardStep: (hs, cs, tanhC, gates, B, H, t) => a.lstmForwardStep(ctx, hs, cs, tanhC, gates, B, H, t),
    lstmBackwardStep: (dgates, dcNext, gates, cs, tanhC, dhs, dhNext, B, H, t) =>
      a.lstmBackwardStep(ctx, dgates, dcNext, gates, cs, tanhC, dhs, dhNext, B, H, t),
    rnnForwardStep: (hs, gates, B, H, t) => a.rnnForwardStep(ctx, hs, gates, B, H, t),
    rnnBackwardStep: (dgates, gates, dhs, dhNext, B, H, t) => a.rnnBackwardStep(ctx, dgates, gates, dhs, dhNext, B, H, t),
    gruForwardStep: (hs, hn, gates, hProj, bhn, B, H, t) => a.gruForwardStep(ctx, hs, hn, gates, hProj, bhn, B, H, t),
    gruBackwardStep: (dgates, dgatesH, dbhn, dhNext, gates, hs, hn, dhs, B, H, t) =>
      a.gruBackwardStep(ctx, dgates, dgatesH, dbhn, dhNext, gates, hs, hn, dhs, B, H, t),
    embedRows: (out, N, G, ids, W, bias) => a.embedRows(ctx, out, N, G, ids, W, bias),
    addBiasRows: (out, N, G, bias) => a.addBiasRows(ctx, out, N, G, bias),
    sumRows: (dbias, dout, N, G) => a.sumRows(ctx, dbias, dout, N, G),
    scatterAddRows: (dW, ids, dout, N, G) => a.scatterAddRows(ctx, dW, ids, dout, N, G),
    multiplyInPlace: (x, m, n) => a.multiplyInPlace(ctx, x, m, n),
    addInPlace: (out, x, n) => a.addInPlace(ctx, out, x, n),
    softmaxCrossEntropy: (logits, targets, N, V) => a.softmaxCrossEntropy(ctx, logits, targets, N, V),
    softmaxCrossEntropyBackward: (logits, targets, N, V, scale) => a.softmaxCrossEntropyBackward(ctx, logits, targets, N, V, scale),
    weighRows: (logits, rows, V, temperature, topK, topP, scored, probs, stats) =>
      a.weighRows(ctx, logits, rows, V, temperature, topK, topP, scored, probs, stats),
    expRow64: (x, out, n) => a.expRow64(ctx, x, out, n),
    gatherRows: (src, srcOff, dst, dstOff, rows, n, width) => a.gatherRows(ctx, src, srcOff, dst, dstOff, rows, n, width),
  };
}

/**
 * `base`, float32 kernels over buffers of their own (the WebAssembly plain-SIMD build loaded models run on), with
 * the work of a forward pass done by `exact`, native kernels in exact mode, on base's buffers: the matrix products
 * (gemm*, packB, gemmPacked), the forward steps of the cells and the row lookups and bias adds. Every element is
 * computed with the operations base uses, in its order (a separate multiply and add; contraction off), so the
 * result is base's to the bit (test/kernels-exact.test.ts) and a seeded sample is the text a page makes, only
 * faster. Backward steps and softmax stay base's. base's fused layer step (lstmLayerStep) is left out: the model
 * then makes the same calls one by one, so they reach the native kernels. The sampler's weights (weighRows) come
 * from exact too: sample.ts's weigh in float64 with Math.exp's exponential, vectorized, so the same draws.
 */
export function withNativeExact(base: Kernels, exact: NativeKernels): Kernels {
  assert(base.precision === 'f32' && exact.name.endsWith('-exact'), 'withNativeExact: float32 base kernels and exact native kernels');
  return {
    name: `${base.name}+${exact.name}`,
    precision: 'f32',
    get threads() {
      return exact.threads;
    },
    alloc: (length) => base.alloc(length),
    allocIds: (length) => base.allocIds(length),
    gemmNN: exact.gemmNN,
    gemmNT: exact.gemmNT,
    gemmTN: exact.gemmTN,
    packedSize: exact.packedSize,
    packB: exact.packB,
    gemmPacked: exact.gemmPacked,
    lstmForwardStep: exact.lstmForwardStep,
    lstmBackwardStep: base.lstmBackwardStep,
    rnnForwardStep: exact.rnnForwardStep,
    rnnBackwardStep: base.rnnBackwardStep,
    gruForwardStep: exact.gruForwardStep,
    gruBackwardStep: base.gruBackwardStep,
    embedRows: exact.embedRows,
    addBiasRows: exact.addBiasRows,
    sumRows: base.sumRows,
    scatterAddRows: base.scatterAddRows,
    multiplyInPlace: base.multiplyInPlace,
    addInPlace: base.addInPlace,
    softmaxCrossEntropy: base.softmaxCrossEntropy,
    softmaxCrossEntropyBackward: base.softmaxCrossEntropyBackward,
    weighRows: exact.weighRows,
    gatherRows: exact.gatherRows,
  };
}

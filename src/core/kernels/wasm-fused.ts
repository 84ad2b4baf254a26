// The element-wise WebAssembly SIMD kernels (assembly/cells.ts) over the same memory as the GEMM backend:
// withFusedKernels() completes createWasmKernels() (wasm.ts) into a full Kernels; attachWasmKernels() builds the
// whole backend in a data-parallel worker, over the main thread's memory, allocating only inside a region the main
// thread reserved for it.
//
// Dimension legend as in types.ts. Like wasm.ts, every call checks that its float arrays live in this memory and
// that the elements it touches lie inside them (O(1) per call); id arrays that do not live there (a caller's own
// Int32Array) are served by the TypeScript twin instead, which gives the same result.

import { base64Decode } from '../bytes.js';
import { assert } from '../errors.js';
import * as reference from './reference.js';
import type { FloatArray, Kernels } from './types.js';
import type { SharedWasmMemory, WasmKernels, WasmMemory } from './wasm.js';
import {
  cellsRelaxedSimdBase64, cellsSimdBase64, gemmRelaxedSimdBase64, gemmSimdBase64, unsharedCellsRelaxedSimdBase64, unsharedCellsSimdBase64,
} from './wasm-binary.js';

interface CellsExports {
  lstmForwardStep(hs: number, cs: number, tanhC: number, gates: number, B: number, H: number, t: number): void;
  lstmLayerStep(
    hs: number, cs: number, tanhC: number, gates: number, ids: number, x: number, I: number, Wx: number, bias: number, Wh: number, H: number,
  ): void;
  lstmBackwardStep(
    dgates: number, dcNext: number, gates: number, cs: number, tanhC: number, dhs: number, dhNext: number,
    B: number, H: number, t: number,
  ): void;
  rnnForwardStep(hs: number, gates: number, B: number, H: number, t: number): void;
  rnnBackwardStep(dgates: number, gates: number, dhs: number, dhNext: number, B: number, H: number, t: number): void;
  gruForwardStep(hs: number, hn: number, gates: number, hProj: number, bhn: number, B: number, H: number, t: number): void;
  gruBackwardStep(
    dgates: number, dgatesH: number, dbhn: number, dhNext: number, gates: number, hs: number, hn: number, dhs: number,
    B: number, H: number, t: number,
  ): void;
  embedRows(out: number, N: number, G: number, ids: number, W: number, bias: number): void;
  addBiasRows(out: number, N: number, G: number, bias: number): void;
  sumRows(dbias: number, dout: number, N: number, G: number): void;
  scatterAddRows(dW: number, ids: number, dout: number, N: number, G: number): void;
  multiplyInPlace(a: number, m: number, n: number): void;
  addInPlace(out: number, x: number, n: number): void;
  softmaxRows(logits: number, N: number, V: number): void;
  softmaxBackward(logits: number, targets: number, N: number, V: number, scale: number): void;
  gemmSmallNN(M: number, N: number, K: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, accumulate: number): void;
  packedSize(K: number, N: number): number;
  packB(dst: number, W: number, K: number, N: number, transposed: number): void;
  gemmPacked(
    M: number, N: number, K: number, a: number, lda: number, packed: number, c: number, ldc: number, accumulate: number,
    scratch: number, scratchFloats: number,
  ): void;
}

/** Up to this many rows of A, gemmNN skips the blocked GEMM's packing (the sampler runs M = 1). */
const SMALL_GEMM_ROWS = 4;

type GemmNN = Kernels['gemmNN'];

interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

const cellsModules = new Map<string, object>();

function instantiateCells(memory: WasmMemory, fusedMultiplyAdd: boolean, shared: boolean): CellsExports {
  const key = `${fusedMultiplyAdd}:${shared}`;
  let module = cellsModules.get(key);
  if (!module) {
    const base64 = shared
      ? (fusedMultiplyAdd ? cellsRelaxedSimdBase64 : cellsSimdBase64)
      : (fusedMultiplyAdd ? unsharedCellsRelaxedSimdBase64 : unsharedCellsSimdBase64);
    module = new webAssembly.Module(base64Decode(base64));
    cellsModules.set(key, module);
  }
  return new webAssembly.Instance(module, { env: { memory } }).exports as CellsExports;
}

export type ElementWise = Omit<Kernels, 'name' | 'precision' | 'alloc' | 'allocIds' | 'gemmNN' | 'gemmNT' | 'gemmTN'>;

/** Floats of scratch each elementWiseKernels instance owns: gemmPacked's packed rows of A and its 5×8 edge tile. */
const SCRATCH_FLOATS = 65536 + 40;

/** gemmNN that takes the unpacked small-M kernel for a few rows and `blocked` otherwise. */
function routeSmall(small: GemmNN, blocked: GemmNN): GemmNN {
  return (M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate) =>
    (M <= SMALL_GEMM_ROWS ? small : blocked)(M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate);
}

/**
 * The element-wise kernels over `memory` (shared or plain, as `shared` says). `owns(buffer)` says whether an
 * ArrayBuffer is (a past or present buffer of) that memory.
 */
export function elementWiseKernels(
  memory: WasmMemory, owns: (buffer: ArrayBufferLike) => boolean, fusedMultiplyAdd: boolean, scratch: Float32Array, shared = true,
): ElementWise & { gemmSmallNN: GemmNN } {
  const x = instantiateCells(memory, fusedMultiplyAdd, shared);
  assert(scratch.length >= SCRATCH_FLOATS, 'wasm kernels: scratch too small');

  // Byte address of element `first` of X, after checking that X lives in this memory and holds first … last.
  // (Messages are built only on failure: a template string per call was the sampler's only garbage, ~300 B a call.)
  function at(X: FloatArray, first: number, last: number, operand: string): number {
    if (!(X instanceof Float32Array) || !owns(X.buffer)) assert(false, `wasm kernels: ${operand} is not a buffer from this backend's alloc()`);
    if (!(first >= 0 && last < X.length)) assert(false, `wasm kernels: ${operand} (elements ${first} … ${last}) lies outside its ${X.length}-element buffer`);
    return X.byteOffset + first * 4;
  }
  const inMemory = (ids: Int32Array, n: number) => owns(ids.buffer) && n <= ids.length;

  return {
    packedSize: (K, N) => x.packedSize(K, N),
    packB(dst, W, K, N, transposed) {
      if (K === 0 || N === 0) return;
      x.packB(at(dst, 0, x.packedSize(K, N) - 1, 'packed'), at(W, 0, K * N - 1, 'W'), K, N, transposed ? 1 : 0);
    },
    gemmPacked(M, N, K, A, aOff, lda, packed, C, cOff, ldc, accumulate) {
      if (M === 0 || N === 0) return;
      const c = at(C, cOff, cOff + (M - 1) * ldc + N - 1, 'C');
      if (K === 0) {
        if (!accumulate) for (let i = 0; i < M; i++) C.fill(0, cOff + i * ldc, cOff + i * ldc + N);
        return;
      }
      const a = at(A, aOff, aOff + (M - 1) * lda + K - 1, 'A');
      // the scratch holds at least one 5-row strip of A
      if (5 * K + 40 > SCRATCH_FLOATS) return reference.gemmPacked(M, N, K, A, aOff, lda, unpacked(packed, K, N), C, cOff, ldc, accumulate);
      x.gemmPacked(M, N, K, a, lda, at(packed, 0, x.packedSize(K, N) - 1, 'packed'), c, ldc, accumulate ? 1 : 0, scratch.byteOffset, SCRATCH_FLOATS);
    },
    gemmSmallNN(M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate) {
      if (M === 0 || N === 0) return;
      const c = at(C, cOff, cOff + (M - 1) * ldc + N - 1, 'C');
      if (K === 0) {
        if (!accumulate) for (let i = 0; i < M; i++) C.fill(0, cOff + i * ldc, cOff + i * ldc + N);
        return;
      }
      const a = at(A, aOff, aOff + (M - 1) * lda + K - 1, 'A');
      const b = at(B, bOff, bOff + (K - 1) * ldb + N - 1, 'B');
      x.gemmSmallNN(M, N, K, a, lda, b, ldb, c, ldc, accumulate ? 1 : 0);
    },
    lstmForwardStep(hs, cs, tanhC, gates, B, H, t) {
      const n = B * H;
      x.lstmForwardStep(
        at(hs, 0, (t + 2) * n - 1, 'hs'), at(cs, 0, (t + 2) * n - 1, 'cs'), at(tanhC, 0, (t + 1) * n - 1, 'tanhC'),
        at(gates, 0, (t + 1) * 4 * n - 1, 'gates'), B, H, t,
      );
    },
    lstmLayerStep(hs, cs, tanhC, gates, ids, input, inOff, I, Wx, bias, Wh, H) {
      const G = 4 * H;
      if (!inMemory(ids, 1)) assert(false, 'wasm kernels: lstmLayerStep ids are not a buffer from this backend\'s allocIds()');
      x.lstmLayerStep(
        at(hs, 0, 2 * H - 1, 'hs'), at(cs, 0, 2 * H - 1, 'cs'), at(tanhC, 0, H - 1, 'tanhC'), at(gates, 0, G - 1, 'gates'),
        ids.byteOffset, input ? at(input, inOff, inOff + I - 1, 'input') : 0, I,
        // ids are vocabulary ids, not range-checked (as embedRows): Wx has a row for each
        at(Wx, 0, input ? I * G - 1 : Wx.length - 1, 'Wx'), at(bias, 0, G - 1, 'bias'), at(Wh, 0, H * G - 1, 'Wh'), H,
      );
    },
    lstmBackwardStep(dgates, dcNext, gates, cs, tanhC, dhs, dhNext, B, H, t) {
      const n = B * H;
      x.lstmBackwardStep(
        at(dgates, 0, (t + 1) * 4 * n - 1, 'dgates'), at(dcNext, 0, n - 1, 'dcNext'), at(gates, 0, (t + 1) * 4 * n - 1, 'gates'),
        at(cs, 0, (t + 1) * n - 1, 'cs'), at(tanhC, 0, (t + 1) * n - 1, 'tanhC'), at(dhs, 0, (t + 1) * n - 1, 'dhs'),
        at(dhNext, 0, n - 1, 'dhNext'), B, H, t,
      );
    },
    rnnForwardStep(hs, gates, B, H, t) {
      const n = B * H;
      x.rnnForwardStep(at(hs, 0, (t + 2) * n - 1, 'hs'), at(gates, 0, (t + 1) * n - 1, 'gates'), B, H, t);
    },
    rnnBackwardStep(dgates, gates, dhs, dhNext, B, H, t) {
      const n = B * H;
      x.rnnBackwardStep(
        at(dgates, 0, (t + 1) * n - 1, 'dgates'), at(gates, 0, (t + 1) * n - 1, 'gates'), at(dhs, 0, (t + 1) * n - 1, 'dhs'),
        at(dhNext, 0, n - 1, 'dhNext'), B, H, t,
      );
    },
    gruForwardStep(hs, hn, gates, hProj, bhn, B, H, t) {
      const n = B * H;
      x.gruForwardStep(
        at(hs, 0, (t + 2) * n - 1, 'hs'), at(hn, 0, (t + 1) * n - 1, 'hn'), at(gates, 0, (t + 1) * 3 * n - 1, 'gates'),
        at(hProj, 0, 3 * n - 1, 'hProj'), at(bhn, 0, H - 1, 'bhn'), B, H, t,
      );
    },
    gruBackwardStep(dgates, dgatesH, dbhn, dhNext, gates, hs, hn, dhs, B, H, t) {
      const n = B * H;
      x.gruBackwardStep(
        at(dgates, 0, (t + 1) * 3 * n - 1, 'dgates'), at(dgatesH, 0, (t + 1) * 3 * n - 1, 'dgatesH'), at(dbhn, 0, H - 1, 'dbhn'),
        at(dhNext, 0, n - 1, 'dhNext'), at(gates, 0, (t + 1) * 3 * n - 1, 'gates'), at(hs, 0, (t + 1) * n - 1, 'hs'),
        at(hn, 0, (t + 1) * n - 1, 'hn'), at(dhs, 0, (t + 1) * n - 1, 'dhs'), B, H, t,
      );
    },
    embedRows(out, N, G, ids, W, bias) {
      if (N === 0 || G === 0) return;
      if (!inMemory(ids, N)) return reference.embedRows(out, N, G, ids, W, bias);
      // ids are vocabulary ids, not range-checked per row: W has a row for each
      x.embedRows(at(out, 0, N * G - 1, 'out'), N, G, ids.byteOffset, at(W, 0, W.length - 1, 'W'), at(bias, 0, G - 1, 'bias'));
    },
    addBiasRows(out, N, G, bias) {
      if (N === 0 || G === 0) return;
      x.addBiasRows(at(out, 0, N * G - 1, 'out'), N, G, at(bias, 0, G - 1, 'bias'));
    },
    sumRows(dbias, dout, N, G) {
      if (N === 0 || G === 0) return;
      x.sumRows(at(dbias, 0, G - 1, 'dbias'), at(dout, 0, N * G - 1, 'dout'), N, G);
    },
    scatterAddRows(dW, ids, dout, N, G) {
      if (N === 0 || G === 0) return;
      if (!inMemory(ids, N)) return reference.scatterAddRows(dW, ids, dout, N, G);
      x.scatterAddRows(at(dW, 0, dW.length - 1, 'dW'), ids.byteOffset, at(dout, 0, N * G - 1, 'dout'), N, G);
    },
    multiplyInPlace(a, m, n) {
      if (n === 0) return;
      x.multiplyInPlace(at(a, 0, n - 1, 'a'), at(m, 0, n - 1, 'm'), n);
    },
    addInPlace(out, y, n) {
      if (n === 0) return;
      x.addInPlace(at(out, 0, n - 1, 'out'), at(y, 0, n - 1, 'x'), n);
    },
    softmaxCrossEntropy(logits, targets, N, V) {
      if (N === 0) return 0;
      x.softmaxRows(at(logits, 0, N * V - 1, 'logits'), N, V);
      // N logarithms: not worth a vector log
      let total = 0;
      for (let r = 0; r < N; r++) total -= Math.log(Math.max(logits[r * V + targets[r]], Number.MIN_VALUE));
      return total;
    },
    softmaxCrossEntropyBackward(logits, targets, N, V, scale) {
      if (N === 0) return;
      if (!inMemory(targets, N)) return reference.softmaxCrossEntropyBackward(logits, targets, N, V, scale);
      x.softmaxBackward(at(logits, 0, N * V - 1, 'logits'), targets.byteOffset, N, V, scale);
    },
  };
}

/** op(B) (K×N, row-major) back out of packB's panels: the rare fallback for a K too deep for the scratch. */
function unpacked(packed: FloatArray, K: number, N: number): Float32Array {
  const out = new Float32Array(K * N);
  for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) out[k * N + j] = packed[Math.floor(j / 8) * 8 * K + k * 8 + (j % 8)];
  return out;
}

/** Ids (Int32Array) as views of float32 allocations: both are 4 bytes wide and the allocator aligns to 64. */
export function idsFrom(alloc: (length: number) => Float32Array): (length: number) => Int32Array {
  return (length) => {
    const f = alloc(length);
    return new Int32Array(f.buffer, f.byteOffset, length);
  };
}

/** A complete float32 WebAssembly backend: the GEMM backend and the element-wise kernels, over one memory. */
export type FusedWasmKernels = WasmKernels & Kernels;

/** The GEMM backend completed with the element-wise kernels, over its memory. */
export function withFusedKernels(base: WasmKernels): FusedWasmKernels {
  // Ownership as wasm.ts does it: every buffer object a view was ever made on (growing swaps memory.buffer).
  const own = new Set<ArrayBufferLike>();
  const alloc = (length: number): Float32Array => {
    const view = base.alloc(length);
    own.add(view.buffer);
    return view;
  };
  const scratch = alloc(SCRATCH_FLOATS);
  const { gemmSmallNN, ...elementWise } = elementWiseKernels(
    base.memory, (buffer) => own.has(buffer), base.fusedMultiplyAdd, scratch, base.sharedMemory,
  );
  return {
    name: base.name,
    precision: base.precision,
    memory: base.memory,
    fusedMultiplyAdd: base.fusedMultiplyAdd,
    sharedMemory: base.sharedMemory,
    close: () => base.close(),
    alloc,
    allocIds: idsFrom(alloc),
    gemmNN: routeSmall(gemmSmallNN, base.gemmNN),
    gemmNT: base.gemmNT,
    gemmTN: base.gemmTN,
    ...elementWise,
  };
}

// --- kernels in a worker ----------------------------------------------------------------------------------------

/** What a worker needs to run kernels over the main thread's memory. Structured-cloneable. */
export interface AttachDescriptor {
  memory: SharedWasmMemory;
  fusedMultiplyAdd: boolean;
  /** The worker's region: [regionStart, regionStart + regionBytes) bytes, reserved by the main thread. */
  regionStart: number;
  regionBytes: number;
}

type GemmEntry = (
  M: number, N: number, K: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number,
  accumulate: number, scratch: number,
) => void;

interface GemmExports {
  gemmNN: GemmEntry;
  gemmNT: GemmEntry;
  gemmTN: GemmEntry;
  scratchBytes(): number;
}

/** Bytes a worker's region needs besides its own buffers: the GEMM packing scratch. */
export function attachOverheadBytes(): number {
  return 3 * 1024 * 1024;
}

export interface AttachedKernels {
  kernels: Kernels;
  /** A Float32Array view of the main thread's buffer at `byteOffset` (weights, carried state), usable by the kernels. */
  viewAt(byteOffset: number, length: number): Float32Array;
  /** The same for an id buffer (Int32Array). */
  idsAt(byteOffset: number, length: number): Int32Array;
}

/**
 * Kernels over the main thread's memory for a worker thread: the GEMM and element-wise modules instantiated afresh
 * over it, alloc() a bump allocator inside the reserved region (zero-filled by the main thread's allocator, which
 * never reuses memory), the GEMM packing scratch the first thing in it.
 */
export function attachWasmKernels(d: AttachDescriptor): AttachedKernels {
  const { memory } = d;
  const bytes = base64Decode(d.fusedMultiplyAdd ? gemmRelaxedSimdBase64 : gemmSimdBase64);
  const gemm = new webAssembly.Instance(new webAssembly.Module(bytes), { env: { memory } }).exports as GemmExports;
  const regionEnd = d.regionStart + d.regionBytes;
  let top = d.regionStart;
  const own = new Set<ArrayBufferLike>();
  const alloc = (length: number): Float32Array => {
    const start = top;
    top = Math.ceil((start + length * 4) / 64) * 64;
    assert(top <= regionEnd, `worker kernels: region of ${d.regionBytes} bytes exhausted`);
    const view = new Float32Array(memory.buffer, start, length);
    own.add(view.buffer);
    return view;
  };
  const scratch = alloc(gemm.scratchBytes() / 4).byteOffset;
  assert(gemm.scratchBytes() + 64 <= attachOverheadBytes(), 'worker kernels: GEMM scratch outgrew attachOverheadBytes()');

  const viewAt = (byteOffset: number, length: number): Float32Array => {
    assert(byteOffset >= 0 && byteOffset + length * 4 <= memory.buffer.byteLength, 'worker kernels: view outside the memory');
    const view = new Float32Array(memory.buffer, byteOffset, length);
    own.add(view.buffer);
    return view;
  };
  const idsAt = (byteOffset: number, length: number): Int32Array => {
    const f = viewAt(byteOffset, length);
    return new Int32Array(f.buffer, f.byteOffset, length);
  };
  const address = (X: FloatArray, first: number, last: number, operand: string): number => {
    if (!(X instanceof Float32Array) || !own.has(X.buffer)) assert(false, `worker kernels: ${operand} is not in the shared memory`);
    if (!(first >= 0 && last < X.length)) assert(false, `worker kernels: ${operand} lies outside its buffer`);
    return X.byteOffset + first * 4;
  };
  const form = (entry: GemmEntry, transA: boolean, transB: boolean) => (
    M: number, N: number, K: number,
    A: FloatArray, aOff: number, lda: number,
    B: FloatArray, bOff: number, ldb: number,
    C: FloatArray, cOff: number, ldc: number,
    accumulate: boolean,
  ): void => {
    if (M === 0 || N === 0) return;
    const c = address(C, cOff, cOff + (M - 1) * ldc + N - 1, 'C');
    const a = K > 0 ? address(A, aOff, transA ? aOff + (K - 1) * lda + M - 1 : aOff + (M - 1) * lda + K - 1, 'A') : 0;
    const b = K > 0 ? address(B, bOff, transB ? bOff + (N - 1) * ldb + K - 1 : bOff + (K - 1) * ldb + N - 1, 'B') : 0;
    entry(M, N, K, a, lda, b, ldb, c, ldc, accumulate ? 1 : 0, scratch);
  };
  const { gemmSmallNN, ...elementWise } = elementWiseKernels(memory, (buffer) => own.has(buffer), d.fusedMultiplyAdd, alloc(SCRATCH_FLOATS));
  const kernels: Kernels = {
    name: d.fusedMultiplyAdd ? 'wasm-simd-fma' : 'wasm-simd',
    precision: 'f32',
    alloc,
    allocIds: idsFrom(alloc),
    gemmNN: routeSmall(gemmSmallNN, form(gemm.gemmNN, false, false)),
    gemmNT: form(gemm.gemmNT, false, true),
    gemmTN: form(gemm.gemmTN, true, false),
    ...elementWise,
  };
  return { kernels, viewAt, idsAt };
}

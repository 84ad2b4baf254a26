// The WebAssembly SIMD float32 backend: loads the GEMM module built from assembly/gemm.ts, gives it one memory
// (shared, so threads can work on it, or plain where there is no SharedArrayBuffer), and hands out Float32Array
// views of that memory as the buffers its kernels work on.
//
// Dimensions as in types.ts: C is M×N, K is the reduction dimension. Typical calls from an LSTM layer with
// B = 50 streams, hidden H, gates G = 4H: (T·B×I)·(I×G) input projection, (B×H)·(H×G) per step, and in backward
// (B×G)·(H×G)ᵀ and (T·B×I)ᵀ·(T·B×G).
//
// The kernels address memory by raw byte offsets, so an array that does not live in this module's memory would be
// read as whatever happens to sit at the same offset. Every call therefore checks that its arrays belong to this
// backend and that the whole operand fits inside each array; these checks are O(1) and fail loudly.

import { base64Decode } from '../bytes.js';
import { assert, CharnnError } from '../errors.js';
import type { FloatArray, Kernels } from './types.js';
import { gemmRelaxedSimdBase64, gemmSimdBase64, unsharedGemmRelaxedSimdBase64, unsharedGemmSimdBase64 } from './wasm-binary.js';

const PAGE_BYTES = 65536;
/** Views start on cache-line boundaries (the SIMD loads need only 16-byte alignment). */
const ALIGN_BYTES = 64;
/** Default ceiling on the module's memory; shared memories reserve their maximum address range up front. */
const DEFAULT_MAX_MEMORY_BYTES = 2 ** 31;
/** A plain memory that cannot grow in place is reserved whole; the least it settles for where less is refused. */
const MIN_RESERVED_PAGES = 256;
/** Below this many flops a GEMM runs on the calling thread alone: waking the helper costs ~10-50 µs. */
const PARALLEL_MIN_FLOP = 2 ** 21;
/** Register block of assembly/gemm.ts; thread splits fall on its multiples so no extra ragged edges appear. */
const BLOCK_ROWS = 5;
const BLOCK_COLUMNS = 8;

export interface WasmKernelsOptions {
  /** Ceiling on the memory all alloc() buffers together may use, in bytes (default 2 GiB, at most 4 GiB). */
  maxMemoryBytes?: number;
  /**
   * Fused multiply-add through relaxed SIMD: 'auto' (default) uses it when the engine supports it (Node 20 only
   * with --experimental-wasm-relaxed-simd), 'off' never does. Results differ from the plain build in the last bits.
   */
  fma?: 'auto' | 'off';
  /**
   * A second thread (node/gemm-helper.ts): it instantiates the same module over the same memory and each GEMM big
   * enough to pay for it is split in two halves of C, one per thread. Call close() when done with it.
   */
  helper?: GemmHelperFactory;
  /**
   * A shared memory (default true; needs SharedArrayBuffer, which a page gets only when cross-origin isolated)
   * or a plain one: the same kernels and arithmetic, single-threaded. A plain memory's buffer is detached when it
   * grows, so it is made resizable in place where the engine can (memory.toResizableBuffer) and otherwise
   * reserved at maxMemoryBytes from the start.
   */
  shared?: boolean;
}

/**
 * The part of the Kernels contract this module implements: buffers and the three GEMM forms. Named by Pick so the
 * contract can grow (element-wise kernels built over the same memory) without this type claiming what it lacks.
 */
export type GemmKernels = Pick<Kernels, 'name' | 'precision' | 'alloc' | 'gemmNN' | 'gemmNT' | 'gemmTN'>;

export interface WasmKernels extends GemmKernels {
  readonly precision: 'f32';
  alloc(length: number): Float32Array;
  /** The memory every buffer lives in; when shared, worker threads can instantiate the same module over it. */
  readonly memory: WasmMemory;
  /** Whether the relaxed-SIMD (fused multiply-add) build is the one running. */
  readonly fusedMultiplyAdd: boolean;
  /** Whether the memory is shared (threads can work on it) or plain. */
  readonly sharedMemory: boolean;
  /** Stops the helper thread, if any; the kernels then run single-threaded. */
  close(): void;
}

// The slice of the WebAssembly JS API used here, typed locally: the project's lib (ES2022, no DOM) and
// @types/node 20 do not declare the WebAssembly global, and a local type cannot clash with one that later does.
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(deltaPages: number): number;
  /** Where the engine has it: switches memory.buffer to a resizable ArrayBuffer that grow() resizes in place. */
  toResizableBuffer?(): ArrayBuffer;
}

export interface SharedWasmMemory extends WasmMemory {
  readonly buffer: SharedArrayBuffer;
}

interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}

const webAssembly = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;

interface GemmExports {
  gemmNN: GemmEntry;
  gemmNT: GemmEntry;
  gemmTN: GemmEntry;
  scratchBytes(): number;
  heapBase(): number;
}

// (M, N, K, aPtr, lda, bPtr, ldb, cPtr, ldc, accumulate, scratchPtr); pointers are byte addresses
type GemmEntry = (
  M: number, N: number, K: number,
  a: number, lda: number, b: number, ldb: number, c: number, ldc: number,
  accumulate: number, scratch: number,
) => void;

/** A module build: plain SIMD or relaxed (FMA), over a shared memory or a plain one; decoded and validated once. */
interface Build {
  base64: string;
  bytes?: Uint8Array;
  valid?: boolean;
}

const builds = {
  shared: { simd: { base64: gemmSimdBase64 } as Build, relaxed: { base64: gemmRelaxedSimdBase64 } as Build },
  unshared: { simd: { base64: unsharedGemmSimdBase64 } as Build, relaxed: { base64: unsharedGemmRelaxedSimdBase64 } as Build },
};

function validBuild(build: Build): boolean {
  if (build.valid === undefined) {
    build.bytes = base64Decode(build.base64);
    build.valid = webAssembly !== undefined && webAssembly.validate(build.bytes);
  }
  return build.valid;
}

/**
 * Whether this engine can run the backend: WebAssembly with SIMD and, for the shared memory (the default), threads
 * and SharedArrayBuffer. When false, use referenceKernels('f32') instead.
 */
export function wasmSimdAvailable(options: { shared?: boolean } = {}): boolean {
  if (options.shared ?? true) return typeof SharedArrayBuffer === 'function' && validBuild(builds.shared.simd);
  return validBuild(builds.unshared.simd);
}

/** Whether the engine also runs relaxed SIMD, i.e. the fused multiply-add build. */
export function wasmRelaxedSimdAvailable(options: { shared?: boolean } = {}): boolean {
  const shared = options.shared ?? true;
  return wasmSimdAvailable({ shared }) && validBuild(shared ? builds.shared.relaxed : builds.unshared.relaxed);
}

/** A float32 backend on WebAssembly SIMD. Check wasmSimdAvailable() first. */
export function createWasmKernels(options: WasmKernelsOptions = {}): WasmKernels {
  const shared = options.shared ?? true;
  assert(wasmSimdAvailable({ shared }), 'createWasmKernels called although wasmSimdAvailable() is false');
  assert(shared || options.helper === undefined, 'a GEMM helper thread needs a shared memory');
  const fusedMultiplyAdd = (options.fma ?? 'auto') === 'auto' && wasmRelaxedSimdAvailable({ shared });
  const kind = shared ? builds.shared : builds.unshared;
  const bytes = (fusedMultiplyAdd ? kind.relaxed : kind.simd).bytes!;
  const maxMemoryBytes = options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES;
  assert(maxMemoryBytes > 0 && maxMemoryBytes <= 2 ** 32, `maxMemoryBytes ${maxMemoryBytes} is outside (0, 4 GiB]`);
  let maximumPages = Math.floor(maxMemoryBytes / PAGE_BYTES);

  const wasm = webAssembly!;
  const module = new wasm.Module(bytes);

  /** A plain memory of all its pages at once; where the engine cannot give that many, halves of it (at least 16 MiB). */
  function reserveAll(api: WebAssemblyApi): WasmMemory {
    for (;;) {
      try {
        return new api.Memory({ initial: maximumPages, maximum: maximumPages, shared: false });
      } catch (error) {
        if (!(error instanceof RangeError) || maximumPages <= MIN_RESERVED_PAGES) throw error;
        maximumPages = Math.max(MIN_RESERVED_PAGES, Math.floor(maximumPages / 2));
      }
    }
  }

  // Start with one page for the module's static data; the first alloc (the scratch area) grows it to size. A plain
  // memory detaches its buffer (and every view) when it grows: made resizable it grows in place instead, and an
  // engine without that gets all of it now (untouched pages cost address space, not memory, on 64-bit systems).
  let memory: WasmMemory;
  if (shared) {
    memory = new wasm.Memory({ initial: 1, maximum: maximumPages, shared: true });
  } else {
    memory = new wasm.Memory({ initial: 1, maximum: maximumPages, shared: false });
    if (typeof memory.toResizableBuffer === 'function') memory.toResizableBuffer();
    else memory = reserveAll(wasm);
  }
  const exports = new wasm.Instance(module, { env: { memory } }).exports as unknown as GemmExports;

  // Bump allocator: buffers are never freed, so fresh memory is always zero-filled and views never move.
  // Growing a shared (or resizable) memory keeps every existing view valid, but memory.buffer then returns a new, longer
  // SharedArrayBuffer object (V8 may swap it again later, when the instance notices the growth), so the
  // ownership check remembers every buffer object a view was ever made on rather than comparing with the current one.
  let top = alignUp(exports.heapBase());
  const ownBuffers = new Set<ArrayBufferLike>();

  function alloc(length: number): Float32Array {
    assert(Number.isInteger(length) && length >= 0, `alloc length ${length} is not a non-negative integer`);
    const start = top;
    const end = start + length * 4;
    const available = memory.buffer.byteLength;
    if (end > available) {
      // at least double, so a model allocating buffer by buffer grows the memory only logarithmically often
      const neededPages = Math.ceil((end - available) / PAGE_BYTES);
      const currentPages = available / PAGE_BYTES;
      const pages = Math.min(Math.max(neededPages, currentPages), maximumPages - currentPages);
      if (pages < neededPages) {
        throw new CharnnError(
          `the model needs more than the ${formatBytes(maximumPages * PAGE_BYTES)} of WebAssembly memory allowed`,
        );
      }
      memory.grow(pages);
    }
    top = alignUp(end);
    const buffer = memory.buffer;
    ownBuffers.add(buffer);
    return new Float32Array(buffer, start, length);
  }

  const scratch = alloc(exports.scratchBytes() / 4);
  const entries: GemmEntry[] = [exports.gemmNN, exports.gemmNT, exports.gemmTN];
  let helper = options.helper?.(module, memory as SharedWasmMemory, alloc, scratch.length);

  // Throws unless X is a Float32Array view of this memory that holds elements off .. last. The messages are
  // built only on failure: this runs on every call.
  function check(X: FloatArray, off: number, last: number, operand: string): void {
    if (!(X instanceof Float32Array) || !ownBuffers.has(X.buffer)) {
      assert(false, `wasm kernels: ${operand} is not a buffer from this backend's alloc()`);
    }
    if (!(Number.isInteger(off) && off >= 0 && last < X.length)) {
      assert(false, `wasm kernels: ${operand} operand (offset ${off}, last element ${last}) lies outside its ${X.length}-element buffer`);
    }
  }

  function call(
    form: Form,
    M: number, N: number, K: number,
    A: FloatArray, aOff: number, lda: number,
    B: FloatArray, bOff: number, ldb: number,
    C: FloatArray, cOff: number, ldc: number,
    accumulate: boolean,
  ): void {
    assert(M >= 0 && N >= 0 && K >= 0 && lda >= 0 && ldb >= 0 && ldc >= 0, 'gemm sizes must be non-negative');
    if (M === 0 || N === 0) return;
    const transA = form === FORM_TN, transB = form === FORM_NT;
    check(C, cOff, cOff + (M - 1) * ldc + N - 1, 'C');
    if (K > 0) {
      // element (i, k) of A is A[aOff + i*lda + k], or A[aOff + k*lda + i] when transposed; likewise B
      check(A, aOff, transA ? aOff + (K - 1) * lda + M - 1 : aOff + (M - 1) * lda + K - 1, 'A');
      check(B, bOff, transB ? bOff + (N - 1) * ldb + K - 1 : bOff + (K - 1) * ldb + N - 1, 'B');
    }
    let a = A.byteOffset + aOff * 4;
    let b = B.byteOffset + bOff * 4;
    let c = C.byteOffset + cOff * 4;
    const acc = accumulate ? 1 : 0;
    const entry = entries[form]!;
    if (helper === undefined || 2 * M * N * K < PARALLEL_MIN_FLOP) {
      entry(M, N, K, a, lda, b, ldb, c, ldc, acc, scratch.byteOffset);
      return;
    }
    // Two threads, two halves of C: split the longer side at a multiple of the register block. The helper takes
    // the first half, this thread the second; both read all of the shared operand.
    if (N >= M) {
      const half = Math.ceil(N / 2 / BLOCK_COLUMNS) * BLOCK_COLUMNS;
      helper.start(form, M, half, K, a, lda, b, ldb, c, ldc, acc);
      b += transB ? half * ldb * 4 : half * 4;
      c += half * 4;
      entry(M, N - half, K, a, lda, b, ldb, c, ldc, acc, scratch.byteOffset);
    } else {
      const half = Math.ceil(M / 2 / BLOCK_ROWS) * BLOCK_ROWS;
      helper.start(form, half, N, K, a, lda, b, ldb, c, ldc, acc);
      a += transA ? half * 4 : half * lda * 4;
      c += half * ldc * 4;
      entry(M - half, N, K, a, lda, b, ldb, c, ldc, acc, scratch.byteOffset);
    }
    helper.finish();
  }

  return {
    name: (fusedMultiplyAdd ? 'wasm-simd-fma' : 'wasm-simd') + (shared ? '' : '-unshared') + (helper ? '-2t' : ''),
    precision: 'f32',
    memory,
    fusedMultiplyAdd,
    sharedMemory: shared,
    alloc,
    close() {
      helper?.close();
      helper = undefined;
    },
    gemmNN: (M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate) =>
      call(FORM_NN, M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate),
    gemmNT: (M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate) =>
      call(FORM_NT, M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate),
    gemmTN: (M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate) =>
      call(FORM_TN, M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate),
  };
}

const FORM_NN = 0, FORM_NT = 1, FORM_TN = 2;
export type Form = typeof FORM_NN | typeof FORM_NT | typeof FORM_TN;

// --- the helper thread ---------------------------------------------------------------------------------------
//
// A platform with threads (node/gemm-helper.ts) runs the same module over the same memory in a second thread and
// takes one half of each big GEMM; the core only posts jobs to it.

/** A second thread running GEMMs of this module; `start` posts a job (byte offsets into the memory), `finish` waits. */
export interface GemmHelper {
  start(
    form: Form, M: number, N: number, K: number,
    a: number, lda: number, b: number, ldb: number, c: number, ldc: number, accumulate: number,
  ): void;
  finish(): void;
  close(): void;
}

/** Starts a helper over `module` and `memory`; `alloc` gives it its control block and its own packing scratch. */
export type GemmHelperFactory = (
  module: object, memory: SharedWasmMemory, alloc: (length: number) => Float32Array, scratchFloats: number,
) => GemmHelper;

function alignUp(bytes: number): number {
  return Math.ceil(bytes / ALIGN_BYTES) * ALIGN_BYTES;
}

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : `${Math.round(bytes / 2 ** 20)} MiB`;
}

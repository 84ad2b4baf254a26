// What the core asks of the platform it runs on, registered at the edge: node/platform.ts (files, worker
// threads, V8 flags, the environment) or browser/index.ts. The core never tests which platform it is on; it calls
// through this interface, and a platform that lacks a capability (a browser has no file system) leaves it out.
//
// Dimension legend: B batch streams, T time steps.

import type { CheckpointContents, TensorData } from './checkpoint/format.js';
import { CharnnError } from './errors.js';
import type { Kernels } from './kernels/types.js';
import { referenceKernels } from './kernels/reference.js';
import { createWasmKernels, wasmSimdAvailable } from './kernels/wasm.js';
import { withFusedKernels } from './kernels/wasm-fused.js';
import type { BiPass } from './bidirectional.js';
import type { CarriedState, Network, Pass } from './model.js';

/** A training step's forward and backward split across threads (node/parallel/data-parallel.ts). */
export interface ParallelStep {
  readonly threads: number;
  /** The calling thread's slice of the batch: its pass holds the statistics of that slice. */
  readonly pass: Pass;
  /** Forward + backward of one batch ((T·B) ids, time-major) into net.grads, carrying the state; returns the mean loss. */
  forwardBackward(inputs: Int32Array, targets: Int32Array, dropoutRandom?: () => number): number;
  close(): void;
}

/** A bidirectional model's training step, its B independent windows split across threads (node/parallel/bidirectional-parallel.ts). */
export interface BiParallelStep {
  readonly threads: number;
  /** Forward + backward of the masked batch in `batch` into net.grads; returns the mean masked loss. */
  forwardBackward(batch: BiPass, dropoutRandom?: () => number): number;
  close(): void;
}

/** Checkpoint files, where the platform has a file system (node/checkpoint-files.ts). */
export interface CheckpointFiles {
  read(path: string, expect: (header: Record<string, unknown>) => ReadonlyMap<string, { dtype: string; length: number }>): Promise<CheckpointContents>;
  write(path: string, header: Record<string, unknown>, tensors: ReadonlyArray<{ name: string; data: TensorData }>): Promise<void>;
  writeSync(path: string, header: Record<string, unknown>, tensors: ReadonlyArray<{ name: string; data: TensorData }>): void;
  /** A checkpoint file as is, or from a directory its best ('best') or newest checkpoint. */
  resolve(pathOrDir: string, prefer: 'best' | 'newest'): Promise<string>;
  /** Deletes run `runName`'s checkpoints in `dir` but its `keep` newest and its best. */
  prune(dir: string, runName: string, keep: number): Promise<string[]>;
  join(dir: string, name: string): string;
}

export interface Platform {
  /**
   * The compute backend shared by the models of this process or page (loadModel, modelFromBytes: step, sample,
   * evaluate, fill). Plain SIMD, never the relaxed (FMA) build: whether relaxed SIMD fuses is up to the engine, and
   * a seeded sample must be the same text in Node and in every browser.
   */
  defaultKernels(): Kernels;
  /**
   * The backend TrainingRun.create/resume use when given none, for a run on `threads` threads (Node: the native
   * kernels where they are built, which split their work across that many threads themselves, else the FMA build
   * where it runs); default: defaultKernels.
   */
  trainingKernels?(threads: number): Kernels;
  /** Threads a training step uses when the caller names none. */
  defaultThreads(): number;
  /** A step split across `threads` threads, or undefined where this platform cannot (then the step runs here). */
  createParallelStep?(net: Network, B: number, T: number, state: CarriedState, threads: number): ParallelStep | undefined;
  /** The same for a bidirectional model, or undefined where this platform cannot. */
  createBiParallelStep?(net: Network, B: number, T: number, threads: number): BiParallelStep | undefined;
  /** Resolves after the event loop has had a turn: signal handlers, output streams, a page's Stop message. */
  yieldToEventLoop(): Promise<void>;
  files?: CheckpointFiles;
  /**
   * CRC-32 (IEEE, as zlib) of `bytes` continuing from `previous`, where the platform has a native one (Node's
   * zlib.crc32); without it, checkpoint/format.ts's table-driven twin, which gives the same values.
   */
  crc32?(bytes: Uint8Array, previous: number): number;
}

let sharedKernels: Kernels | undefined;
let sharedTrainingKernels: Kernels | undefined;

/**
 * WebAssembly SIMD (with FMA where the engine runs relaxed SIMD, unless fma is 'off') where available, else the
 * float32 reference. The memory is shared where SharedArrayBuffer exists (unless `shared` says otherwise), else plain.
 */
export function portableKernels(options: { fma?: 'auto' | 'off'; reference?: boolean; shared?: boolean } = {}): Kernels {
  const shared = options.shared ?? typeof SharedArrayBuffer === 'function';
  if (!options.reference && wasmSimdAvailable({ shared })) {
    return withFusedKernels(createWasmKernels({ fma: options.fma ?? 'auto', shared }));
  }
  return referenceKernels('f32');
}

const portablePlatform: Platform = {
  defaultKernels: () => (sharedKernels ??= portableKernels({ fma: 'off' })),
  trainingKernels: () => (sharedTrainingKernels ??= portableKernels()),
  defaultThreads: () => 1,
  yieldToEventLoop: () => new Promise<void>((resolve) => setTimeout(resolve, 0)),
};

let current: Platform = portablePlatform;

/** Installs the platform; called once, at the edge, before anything is computed. */
export function setPlatform(platform: Platform): void {
  current = platform;
}

export function platform(): Platform {
  return current;
}

/** The platform's checkpoint files, or the sentence that says there are none here. */
export function checkpointFiles(what: string): CheckpointFiles {
  const files = current.files;
  if (!files) throw new CharnnError(`${what} needs a file system, which this platform does not have: pass the checkpoint's bytes instead.`);
  return files;
}

/** The platform's shared compute backend for loaded models. */
export function defaultKernels(): Kernels {
  return current.defaultKernels();
}

/** The platform's compute backend for a training run on `threads` threads (default: the platform's thread count). */
export function trainingKernels(threads = current.defaultThreads()): Kernels {
  return current.trainingKernels?.(threads) ?? current.defaultKernels();
}

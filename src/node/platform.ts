// The Node.js platform under the core (see core/platform.ts): kernels chosen from the environment, worker threads
// for the training step, setImmediate for event-loop turns, and checkpoint files. Importing this module installs it;
// the library entry (src/index.ts) and the CLI do so first.
//
// Fused multiply-add: Node 20 runs WebAssembly relaxed SIMD only behind --experimental-wasm-relaxed-simd. The flag
// is a V8 wasm feature switch that only matters when a module is compiled, so it is turned on here, before any is
// (v8.setFlagsFromString; V8 flags are process-wide, so the worker threads get it too). Measured +14% training
// throughput on the 2x128 LSTM (23.2k -> 26.4k chars per CPU second). CHARNN_FMA=off keeps the plain SIMD build;
// an engine that rejects the relaxed module falls back to it (wasmRelaxedSimdAvailable validates the bytes).
// CHARNN_KERNELS=reference forces the plain TypeScript kernels (for comparisons).
//
// Training may also run on the native kernels (node/native, built at npm install where a C++ compiler exists):
// they are preferred where built, and CHARNN_KERNELS=native|wasm|reference forces a choice for training.
//
// FMA is for training only: loaded models (sample, step, evaluate, fill) run the plain SIMD build, because relaxed
// SIMD may or may not fuse depending on the engine, and a seeded sample must be the same text here and in a page.
// Where the native kernels are built (and CHARNN_KERNELS is unset, auto or native), that build's forward pass
// (products, forward cell steps, row lookups) runs on them in exact mode instead: the same operations in the same
// order, so the same bits, on wider vectors and both cores (native/index.ts withNativeExact).

import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { portableKernels, setPlatform, type Platform } from '../core/platform.js';
import { crc32Reference } from '../core/checkpoint/format.js';
import { CharnnError } from '../core/errors.js';
import { referenceKernels } from '../core/kernels/reference.js';
import type { Kernels } from '../core/kernels/types.js';
import { createNativeKernels, nativeKernelsAvailable, nativeUnavailableReason, withNativeExact } from './native/index.js';
import { readCheckpoint, resolveCheckpoint, pruneCheckpoints, writeCheckpoint, writeCheckpointSync } from './checkpoint-files.js';
import { BiDataParallelStep } from './parallel/bidirectional-parallel.js';
import { DataParallelStep } from './parallel/data-parallel.js';
import { shareable } from './parallel/worker-pool.js';

let modelKernels: Kernels | undefined;
let shared: Kernels | undefined;

function nodeModelKernels(): Kernels {
  if (modelKernels) return modelKernels;
  const choice = kernelChoice();
  const base = portableKernels({ fma: 'off', shared: true, reference: choice === 'reference' });
  if (choice === 'native' && !nativeKernelsAvailable()) {
    throw new CharnnError(`CHARNN_KERNELS=native, but the native kernels cannot run here: ${nativeUnavailableReason()}.`);
  }
  const native = base.name.startsWith('wasm') && (choice === 'native' || (choice === 'auto' && nativeKernelsAvailable()));
  modelKernels = native
    ? withNativeExact(base, createNativeKernels({ exact: true, threads: Math.min(availableParallelism(), 64), adaptive: process.env.CHARNN_NATIVE_ADAPT !== 'off' }))
    : base;
  return modelKernels;
}

/** The WebAssembly backend training runs share (the FMA build where it runs), whose threads are the data-parallel workers. */
function wasmTrainingKernels(): Kernels {
  if (shared) return shared;
  const fma = process.env.CHARNN_FMA === 'off' ? 'off' : 'auto';
  if (fma === 'auto' && /^v20\./.test(process.version)) setFlagsFromString('--experimental-wasm-relaxed-simd');
  shared = portableKernels({ fma, shared: true });
  return shared;
}

const KERNEL_CHOICES = ['auto', 'native', 'wasm', 'reference'] as const;
const nativeByThreads = new Map<number, Kernels>();
let referenceF32: Kernels | undefined;

/** What CHARNN_KERNELS asks for ('auto' when unset or empty); a value it cannot be is the user's mistake. */
function kernelChoice(): (typeof KERNEL_CHOICES)[number] {
  const value = process.env.CHARNN_KERNELS ?? '';
  if (value === '') return 'auto';
  const choice = KERNEL_CHOICES.find((c) => c === value);
  if (!choice) throw new CharnnError(`CHARNN_KERNELS must be one of ${KERNEL_CHOICES.join(', ')}, got '${value}'.`);
  return choice;
}

/**
 * Training kernels for a run on `threads` threads: the native kernels splitting their GEMMs across that many threads
 * when they are built and CHARNN_KERNELS allows, else the WebAssembly ones. One native backend per thread count is
 * shared by every run of the process.
 */
function nodeTrainingKernels(threads: number): Kernels {
  const choice = kernelChoice();
  if (choice === 'native' && !nativeKernelsAvailable()) {
    throw new CharnnError(`CHARNN_KERNELS=native, but the native kernels cannot run here: ${nativeUnavailableReason()}.`);
  }
  if (choice === 'native' || (choice === 'auto' && nativeKernelsAvailable())) {
    const n = Math.max(1, Math.min(threads, 64));
    let kernels = nativeByThreads.get(n);
    if (!kernels) {
      kernels = createNativeKernels({
        threads: n,
        adaptive: process.env.CHARNN_NATIVE_ADAPT !== 'off',
        split: process.env.CHARNN_NATIVE_SPLIT === 'rows' ? 'rows' : 'columns',
      });
      nativeByThreads.set(n, kernels);
    }
    return kernels;
  }
  return choice === 'reference' ? (referenceF32 ??= referenceKernels('f32')) : wasmTrainingKernels();
}

type Crc32 = (bytes: Uint8Array, previous: number) => number;
let zlibCrc32: Crc32 | null | undefined;

/**
 * zlib.crc32 (Node 20.15 and 22.2 on; before them the core's own) for big buffers: 7 ms for 25 MB against 25-40 in
 * the core's table-driven twin, the same values. zlib is loaded on the first big buffer (loading it costs ~5 ms of
 * start-up, more than a small checkpoint's CRC), and small buffers stay with the twin.
 */
function nodeCrc32(bytes: Uint8Array, previous: number): number {
  if (bytes.length >= 1 << 20) {
    if (zlibCrc32 === undefined) {
      const zlib = createRequire(import.meta.url)('node:zlib') as { crc32?: Crc32 };
      zlibCrc32 = typeof zlib.crc32 === 'function' ? zlib.crc32 : null;
    }
    if (zlibCrc32) return zlibCrc32(bytes, previous) >>> 0;
  }
  return crc32Reference(bytes, previous);
}

export const nodePlatform: Platform = {
  defaultKernels: nodeModelKernels,
  trainingKernels: nodeTrainingKernels,
  defaultThreads: () => availableParallelism(),
  createParallelStep(net, B, T, state, threads) {
    // data parallelism needs kernels over a shared memory the worker threads can instantiate the module on
    if (!shareable(net.kernels)) return undefined;
    return new DataParallelStep(net as typeof net & { kernels: typeof net.kernels }, B, T, state, threads);
  },
  createBiParallelStep(net, B, T, threads) {
    if (!shareable(net.kernels)) return undefined;
    return new BiDataParallelStep(net as typeof net & { kernels: typeof net.kernels }, B, T, threads);
  },
  yieldToEventLoop: () => new Promise<void>((resolve) => setImmediate(resolve)),
  crc32: nodeCrc32,
  files: {
    read: readCheckpoint,
    write: writeCheckpoint,
    writeSync: writeCheckpointSync,
    resolve: resolveCheckpoint,
    prune: pruneCheckpoints,
    join,
  },
};

setPlatform(nodePlatform);

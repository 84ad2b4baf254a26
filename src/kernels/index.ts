// Picks the compute backend: the WebAssembly SIMD kernels (GEMM + element-wise) where this Node can run them, else the plain
// TypeScript reference in float32. CHARNN_KERNELS=reference forces the reference (for comparisons).
//
// Training alone may also run on the native kernels (src/native, built at npm install where a C++ compiler exists):
// trainingKernels() prefers them, CHARNN_KERNELS=native|wasm|reference forces a choice. Sampling and the step API
// keep defaultKernels() (WebAssembly) whatever the variable says, so the CLI and the browser (WebAssembly only)
// give the same bytes for the same seed.
//
// Fused multiply-add: Node 20 runs WebAssembly relaxed SIMD only behind --experimental-wasm-relaxed-simd. The flag
// is a V8 wasm feature switch that only matters when a module is compiled, so it is turned on here, before any is
// (v8.setFlagsFromString; V8 flags are process-wide, so the worker threads get it too). Measured +14% training
// throughput on the 2x128 LSTM (23.2k -> 26.4k chars per CPU second). CHARNN_FMA=off keeps the plain SIMD build;
// an engine that rejects the relaxed module falls back to it (wasmRelaxedSimdAvailable validates the bytes).

import { setFlagsFromString } from 'node:v8';
import { availableParallelism } from 'node:os';
import { CharnnError } from '../errors.js';
import { createNativeKernels, nativeKernelsAvailable, nativeUnavailableReason } from '../native/index.js';
import { referenceKernels } from './reference.js';
import type { Kernels } from './types.js';
import { createWasmKernels, wasmSimdAvailable } from './wasm.js';
import { withFusedKernels } from './wasm-fused.js';

export type { FloatArray, Kernels, Precision } from './types.js';
export { referenceKernels } from './reference.js';

let shared: Kernels | undefined;

/**
 * The fastest backend available, shared by every network of the process (its buffers come from one memory that
 * lives as long as the process).
 */
export function defaultKernels(): Kernels {
  if (shared) return shared;
  const forced = process.env.CHARNN_KERNELS;
  const fma = process.env.CHARNN_FMA === 'off' ? 'off' : 'auto';
  if (fma === 'auto' && /^v20\./.test(process.version)) setFlagsFromString('--experimental-wasm-relaxed-simd');
  shared = forced !== 'reference' && wasmSimdAvailable() ? withFusedKernels(createWasmKernels({ fma })) : referenceKernels('f32');
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
 * The backend a training run uses when none is given: the native kernels splitting their GEMMs across `threads`
 * (default: the cores Node may use) when they are built and CHARNN_KERNELS allows, else defaultKernels() (whose
 * threads are the training loop's data-parallel workers). One native backend per thread count is shared by every
 * run of the process.
 */
export function trainingKernels(threads?: number): Kernels {
  const choice = kernelChoice();
  if (choice === 'native' && !nativeKernelsAvailable()) {
    throw new CharnnError(`CHARNN_KERNELS=native, but the native kernels cannot run here: ${nativeUnavailableReason()}.`);
  }
  if (choice === 'native' || (choice === 'auto' && nativeKernelsAvailable())) {
    const n = Math.max(1, Math.min(threads ?? availableParallelism(), 64));
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
  return choice === 'reference' ? (referenceF32 ??= referenceKernels('f32')) : defaultKernels();
}

// Picks the compute backend: the WebAssembly SIMD kernels (GEMM + element-wise) where this Node can run them, else the plain
// TypeScript reference in float32. CHARNN_KERNELS=reference forces the reference (for comparisons).
//
// Fused multiply-add: Node 20 runs WebAssembly relaxed SIMD only behind --experimental-wasm-relaxed-simd. The flag
// is a V8 wasm feature switch that only matters when a module is compiled, so it is turned on here, before any is
// (v8.setFlagsFromString; V8 flags are process-wide, so the worker threads get it too). Measured +14% training
// throughput on the 2x128 LSTM (23.2k -> 26.4k chars per CPU second). CHARNN_FMA=off keeps the plain SIMD build;
// an engine that rejects the relaxed module falls back to it (wasmRelaxedSimdAvailable validates the bytes).

import { setFlagsFromString } from 'node:v8';
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

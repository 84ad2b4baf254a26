// Picks the compute backend: the WebAssembly SIMD kernels (GEMM + element-wise) where this Node can run them, else the plain
// TypeScript reference in float32. CHARNN_KERNELS=reference forces the reference (for comparisons).

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
  shared = forced !== 'reference' && wasmSimdAvailable() ? withFusedKernels(createWasmKernels()) : referenceKernels('f32');
  return shared;
}

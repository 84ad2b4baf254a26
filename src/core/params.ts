// One flat buffer for all parameters, described by a {name, shape} table. Gradients and optimizer state use
// the same layout, so clipping and optimizer steps are single flat loops, and a checkpoint is a list of buffers.

import type { FloatArray } from './kernels/types.js';

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

export interface ParamEntry extends ParamSpec {
  readonly offset: number;
  readonly size: number;
}

export interface ParamLayout {
  readonly entries: readonly ParamEntry[];
  readonly size: number; // total number of scalars
}

export function makeLayout(specs: readonly ParamSpec[]): ParamLayout {
  const entries: ParamEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    entries.push({ name: spec.name, shape: spec.shape, offset, size });
    offset += size;
  }
  return { entries, size: offset };
}

/** Named views into a flat buffer laid out by `layout`; made once, outside any hot loop. */
export function namedViews(buffer: FloatArray, layout: ParamLayout): Record<string, FloatArray> {
  const views: Record<string, FloatArray> = {};
  for (const e of layout.entries) views[e.name] = buffer.subarray(e.offset, e.offset + e.size);
  return views;
}

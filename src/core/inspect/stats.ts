// Hidden-state statistics of one training step, as char-rnn prints them (h.mean(), h.var()) plus saturation:
// read from the Pass the forward just filled and from the gradients backward just accumulated (before clipping).
//
// Dimension legend: B batch streams, T time steps, H hidden size, L layers, G gate width (4H lstm [i f g o],
// 3H gru [r z n], H rnn). Pass buffers are time-major: row t*B + b.

import type { FloatArray } from '../kernels/types.js';
import type { Network, Pass } from '../model.js';

/** |h| above this counts as saturated; a sigmoid gate is saturated below 1 - this or above it, a tanh gate like h. */
export const SATURATION = 0.95;

export interface LayerStats {
  layer: number;
  hMean: number;        // mean of h over every step, stream and unit of the batch
  hVar: number;         // population variance of the same values
  hSaturated: number;   // fraction with |h| > SATURATION
  /**
   * Fraction of saturated activations per gate (lstm: input, forget, cell, output; gru: reset, update, candidate),
   * and `all` over every gate value; absent for a plain rnn, whose only "gate" is h itself.
   */
  gateSaturated?: Record<string, number>;
  gradNorm: number;     // L2 norm of this layer's parameter gradients (Wx, Wh, b[, bhn]) before clipping
}

export interface StepStats {
  layers: LayerStats[];
  outputGradNorm: number; // L2 norm of the output layer's gradients (out.W, out.b) before clipping
}

const GATE_NAMES: Readonly<Record<string, readonly string[]>> = {
  lstm: ['input', 'forget', 'cell', 'output'],
  gru: ['reset', 'update', 'candidate'],
};
// Which gates are tanh (range -1..1: saturated when |v| > SATURATION) rather than sigmoid (0..1: saturated near 0 or 1).
const TANH_GATES: ReadonlySet<string> = new Set(['cell', 'candidate']);

/** h statistics of every layer from a pass whose forward has run (dropout does not touch ws.hs). */
export function hiddenStats(net: Network, pass: Pass): Array<Omit<LayerStats, 'gradNorm'>> {
  const { cell, hiddenSize: H } = net.config;
  const out: Array<Omit<LayerStats, 'gradNorm'>> = [];
  for (let l = 0; l < pass.layers.length; l++) {
    const ws = pass.layers[l];
    const n = ws.T * ws.B * H;
    // hs block 0 is the carried initial state, not an output of this step: skip it
    const { mean, variance, saturated } = moments(ws.hs, ws.B * H, n);
    const stats: Omit<LayerStats, 'gradNorm'> = { layer: l, hMean: mean, hVar: variance, hSaturated: saturated };
    const names = GATE_NAMES[cell];
    if (names) stats.gateSaturated = gateSaturation(ws.gates, ws.T * ws.B, H, names);
    out.push(stats);
  }
  return out;
}

/** Mean, population variance (two-pass, in float64) and fraction |v| > SATURATION of buf[offset … offset+n). */
function moments(buf: FloatArray, offset: number, n: number): { mean: number; variance: number; saturated: number } {
  let sum = 0;
  let saturated = 0;
  for (let e = offset; e < offset + n; e++) {
    const v = buf[e];
    sum += v;
    if (v > SATURATION || v < -SATURATION) saturated++;
  }
  const mean = sum / n;
  let squares = 0;
  for (let e = offset; e < offset + n; e++) {
    const d = buf[e] - mean;
    squares += d * d;
  }
  return { mean, variance: squares / n, saturated: saturated / n };
}

/** gates: (rows, G) activated gates, G = names.length * H. */
function gateSaturation(gates: FloatArray, rows: number, H: number, names: readonly string[]): Record<string, number> {
  const G = names.length * H;
  const counts = new Float64Array(names.length);
  for (let r = 0; r < rows; r++) {
    const row = r * G;
    for (let k = 0; k < names.length; k++) {
      const isTanh = TANH_GATES.has(names[k]);
      const base = row + k * H;
      let c = 0;
      for (let j = 0; j < H; j++) {
        const v = gates[base + j];
        // sigmoid gates are stuck open above SATURATION or shut below 1 - SATURATION
        if (isTanh ? v > SATURATION || v < -SATURATION : v > SATURATION || v < 1 - SATURATION) c++;
      }
      counts[k] += c;
    }
  }
  const result: Record<string, number> = {};
  let total = 0;
  for (let k = 0; k < names.length; k++) {
    result[names[k]] = counts[k] / (rows * H);
    total += counts[k];
  }
  result.all = total / (rows * G);
  return result;
}

/** L2 norms of the gradients, per recurrent layer and for the output layer (call before clipping scales them). */
export function gradNorms(net: Network): { layers: number[]; output: number } {
  const layers = new Array<number>(net.config.layers).fill(0);
  let output = 0;
  for (const entry of net.layout.entries) {
    const g = net.g[entry.name];
    let squares = 0;
    for (let i = 0; i < g.length; i++) squares += g[i] * g[i];
    const match = /^layer(\d+)\./.exec(entry.name);
    if (match) layers[Number(match[1])] += squares;
    else output += squares;
  }
  return { layers: layers.map(Math.sqrt), output: Math.sqrt(output) };
}

/** Everything `--stats` reports for one step: hidden statistics from the forward, gradient norms from the backward. */
export function stepStats(hidden: Array<Omit<LayerStats, 'gradNorm'>>, norms: { layers: number[]; output: number }): StepStats {
  return {
    layers: hidden.map((h, l) => ({ ...h, gradNorm: norms.layers[l] })),
    outputGradNorm: norms.output,
  };
}

/**
 * One compact part of the live status line, e.g. `L0 h +0.012 var 0.098 sat 4% gates 12% grad 0.83 | L1 …`
 * (sat: |h| > 0.95; gates: saturated gate values; grad: the layer's gradient norm before clipping).
 */
export function formatStepStats(stats: StepStats): string {
  const pct = (f: number) => `${(100 * f).toFixed(f > 0 && f < 0.01 ? 1 : 0)}%`;
  return stats.layers
    .map((s) => {
      const parts = [`L${s.layer} h ${signed(s.hMean)} var ${s.hVar.toFixed(3)}`, `sat ${pct(s.hSaturated)}`];
      if (s.gateSaturated) parts.push(`gates ${pct(s.gateSaturated.all)}`);
      parts.push(`grad ${s.gradNorm.toPrecision(2)}`);
      return parts.join(' ');
    })
    .join(' | ');
}

/** The statistics as fields of a `--json` line (snake_case, like the line's other fields). */
export function statsJson(stats: StepStats): Record<string, unknown> {
  return {
    layers: stats.layers.map((s) => ({
      layer: s.layer,
      h_mean: s.hMean,
      h_var: s.hVar,
      h_saturated: s.hSaturated,
      ...(s.gateSaturated ? { gate_saturated: s.gateSaturated } : {}),
      grad_norm: s.gradNorm,
    })),
    output_grad_norm: stats.outputGradNorm,
  };
}

function signed(v: number): string {
  return `${v < 0 ? '-' : '+'}${Math.abs(v).toFixed(3)}`;
}

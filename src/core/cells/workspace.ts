// Per-layer buffers for one forward/backward pass over a (T, B) batch, shared by the three cell types.
//
// Dimension legend: B batch streams, T time steps, I layer input size, H hidden size, G gate width
// (H for rnn, 4H for lstm [i f g o], 3H for gru [r z n]). All buffers are time-major: row t*B + b.

import type { FloatArray, Kernels } from '../kernels/types.js';

export type CellType = 'rnn' | 'lstm' | 'gru';

export function gateWidth(cell: CellType, hiddenSize: number): number {
  return cell === 'lstm' ? 4 * hiddenSize : cell === 'gru' ? 3 * hiddenSize : hiddenSize;
}

export interface LayerWorkspace {
  readonly B: number;
  readonly T: number;
  readonly H: number;
  readonly G: number;
  gates: FloatArray;   // (T*B, G)   in: input projection x·Wx + b; out: activated gates
  hs: FloatArray;      // ((T+1)*B, H) row block 0 = initial h, block t+1 = h_t
  cs: FloatArray;      // ((T+1)*B, H) lstm cell state, block 0 = initial c (empty for rnn/gru)
  tanhC: FloatArray;   // (T*B, H)   lstm tanh(c_t)
  hn: FloatArray;      // (T*B, H)   gru Whn·h_{t-1} + bhn, the part the reset gate scales
  dgates: FloatArray;  // (T*B, G)   gradient w.r.t. the input projection (pre-activation)
  dgatesH: FloatArray; // (T*B, G)   gru: gradient w.r.t. the recurrent projection h·Wh (differs from dgates in n)
  dhs: FloatArray;     // (T*B, H)   in: gradient w.r.t. h_t from the layer above / output layer
  dhNext: FloatArray;  // (B, H)     gradient flowing to h_{t-1}; after backward: gradient w.r.t. initial h
  dcNext: FloatArray;  // (B, H)     lstm: gradient flowing to c_{t-1}; after backward: w.r.t. initial c
  packedWh: FloatArray;  // Wh (H, G) packed once per forward for the T recurrent products (kernels.packB)
  packedWhT: FloatArray; // Whᵀ (G, H) packed once per backward
}

/**
 * Whether the recurrent products of a T-step pass go through weights packed once (kernels.packB / gemmPacked):
 * worth it from two steps on; a single step (the sampler) multiplies directly.
 */
export function packsWeights(T: number): boolean {
  return T > 1;
}

/**
 * The packed Wh (H, N) a forward pass's recurrent products use, or null to multiply by Wh directly: `prepacked`
 * (a frozen network's, packed once: model.ts freezeWeights) as it is, else ws.packedWh packed now when
 * packsWeights(T).
 */
export function forwardPackedWh(k: Kernels, ws: LayerWorkspace, Wh: FloatArray, N: number, prepacked?: FloatArray): FloatArray | null {
  if (prepacked) return prepacked;
  if (!packsWeights(ws.T)) return null;
  k.packB(ws.packedWh, Wh, ws.H, N, false);
  return ws.packedWh;
}

export function allocLayerWorkspace(k: Kernels, cell: CellType, B: number, T: number, H: number): LayerWorkspace {
  const G = gateWidth(cell, H);
  const empty = k.alloc(0);
  return {
    B, T, H, G,
    gates: k.alloc(T * B * G),
    hs: k.alloc((T + 1) * B * H),
    cs: cell === 'lstm' ? k.alloc((T + 1) * B * H) : empty,
    tanhC: cell === 'lstm' ? k.alloc(T * B * H) : empty,
    hn: cell === 'gru' ? k.alloc(T * B * H) : empty,
    dgates: k.alloc(T * B * G),
    dgatesH: cell === 'gru' ? k.alloc(T * B * G) : empty,
    dhs: k.alloc(T * B * H),
    dhNext: k.alloc(B * H),
    dcNext: cell === 'lstm' ? k.alloc(B * H) : empty,
    packedWh: packsWeights(T) ? k.alloc(k.packedSize(H, G)) : empty,
    packedWhT: packsWeights(T) ? k.alloc(k.packedSize(G, H)) : empty,
  };
}

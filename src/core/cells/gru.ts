// GRU over a whole sequence (PyTorch's formulation, the reset gate scales the recurrent projection).
//
// Dimension legend: B batch streams, T time steps, H hidden size, G = 3H gates in the order [r z n].
// The caller has already written the input projection x_t·Wx + b into ws.gates.
//
//   r = σ(x_r + h·Wh_r)   z = σ(x_z + h·Wh_z)   n = tanh(x_n + r ⊙ (h·Wh_n + bhn))
//   h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

import type { FloatArray, Kernels } from '../kernels/types.js';
import { forwardPackedWh, packsWeights, type LayerWorkspace } from './workspace.js';

/** `hProj` is a (B, G) scratch row block for h_{t-1}·Wh; `prepacked`: Wh already packed by packB (a frozen network's). */
export function gruForward(
  k: Kernels, ws: LayerWorkspace, Wh: FloatArray /* (H, G) */, bhn: FloatArray /* (H) */, hProj: FloatArray /* (B, G) */,
  prepacked?: FloatArray,
): void {
  const { B, T, H, G, gates, hs, hn } = ws;
  const packedWh = forwardPackedWh(k, ws, Wh, G, prepacked);
  for (let t = 0; t < T; t++) {
    // hProj = h_{t-1}·Wh
    if (packedWh) k.gemmPacked(B, G, H, hs, t * B * H, H, packedWh, hProj, 0, G, false);
    else k.gemmNN(B, G, H, hs, t * B * H, H, Wh, 0, G, hProj, 0, G, false);
    // r, z, n; hn = hProj_n + bhn; h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
    k.gruForwardStep(hs, hn, gates, hProj, bhn, B, H, t);
  }
}

/**
 * In: ws.dhs (dLoss/dh_t from above), ws.dhNext (gradient from beyond the last step). Out: ws.dgates =
 * dLoss/d(input projection), ws.dgatesH = dLoss/d(h·Wh), dWh and dbhn accumulated, ws.dhNext = dLoss/dh_0.
 */
export function gruBackward(
  k: Kernels, ws: LayerWorkspace, Wh: FloatArray /* (H, G) */, dWh: FloatArray /* (H, G) */, dbhn: FloatArray /* (H) */,
): void {
  const { B, T, H, G, gates, hs, hn, dgates, dgatesH, dhs, dhNext, packedWhT } = ws;
  const packed = packsWeights(T);
  if (packed) k.packB(packedWhT, Wh, G, H, true);
  for (let t = T - 1; t >= 0; t--) {
    // dgates, dgatesH of step t (they differ in n: its recurrent projection is scaled by r); dhNext = dh ⊙ z
    k.gruBackwardStep(dgates, dgatesH, dbhn, dhNext, gates, hs, hn, dhs, B, H, t);
    // dh_{t-1} += dgatesH_t·Whᵀ
    if (packed) k.gemmPacked(B, H, G, dgatesH, t * B * G, G, packedWhT, dhNext, 0, H, true);
    else k.gemmNT(B, H, G, dgatesH, t * B * G, G, Wh, 0, G, dhNext, 0, H, true);
  }
  // dWh += Σ_t h_{t-1}ᵀ·dgatesH_t (hs block t holds h_{t-1})
  k.gemmTN(H, G, T * B, hs, 0, H, dgatesH, 0, G, dWh, 0, G, true);
}

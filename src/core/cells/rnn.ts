// Vanilla RNN over a whole sequence, the blog's cell: h_t = tanh(x_t·Wx + h_{t-1}·Wh + b).
//
// Dimension legend: B batch streams, T time steps, H hidden size, G = H.
// The caller has already written the input projection x_t·Wx + b into ws.gates.

import type { FloatArray, Kernels } from '../kernels/types.js';
import { forwardPackedWh, packsWeights, type LayerWorkspace } from './workspace.js';

/** `prepacked`: Wh already packed by packB (a frozen network's, model.ts freezeWeights), used as it is. */
export function rnnForward(k: Kernels, ws: LayerWorkspace, Wh: FloatArray /* (H, H) */, prepacked?: FloatArray): void {
  const { B, T, H, gates, hs } = ws;
  const packedWh = forwardPackedWh(k, ws, Wh, H, prepacked);
  for (let t = 0; t < T; t++) {
    // a = x·Wx + b + h_{t-1}·Wh
    if (packedWh) k.gemmPacked(B, H, H, hs, t * B * H, H, packedWh, gates, t * B * H, H, true);
    else k.gemmNN(B, H, H, hs, t * B * H, H, Wh, 0, H, gates, t * B * H, H, true);
    // h_t = tanh(a)
    k.rnnForwardStep(hs, gates, B, H, t);
  }
}

/** Out: ws.dgates = dLoss/da_t, dWh accumulated, ws.dhNext = dLoss/dh_0. */
export function rnnBackward(k: Kernels, ws: LayerWorkspace, Wh: FloatArray /* (H, H) */, dWh: FloatArray /* (H, H) */): void {
  const { B, T, H, gates, dgates, dhs, dhNext, packedWhT } = ws;
  const packed = packsWeights(T);
  if (packed) k.packB(packedWhT, Wh, H, H, true);
  for (let t = T - 1; t >= 0; t--) {
    // da = (dh from above + dh from t+1) * (1 - h²)
    k.rnnBackwardStep(dgates, gates, dhs, dhNext, B, H, t);
    // dh_{t-1} = da_t·Whᵀ
    if (packed) k.gemmPacked(B, H, H, dgates, t * B * H, H, packedWhT, dhNext, 0, H, false);
    else k.gemmNT(B, H, H, dgates, t * B * H, H, Wh, 0, H, dhNext, 0, H, false);
  }
  // dWh += Σ_t h_{t-1}ᵀ·da_t (hs block t holds h_{t-1})
  k.gemmTN(H, H, T * B, ws.hs, 0, H, dgates, 0, H, dWh, 0, H, true);
}

// LSTM over a whole sequence: forward stores what backward needs; backward walks t = T-1 … 0.
//
// Dimension legend: B batch streams, T time steps, H hidden size, G = 4H gates in the order [i f g o].
// The caller has already written the input projection x_t·Wx + b into ws.gates (one GEMM or row lookup for
// all T steps); only the recurrent product h_{t-1}·Wh stays inside the time loop. The element-wise math of a step
// is one kernel call (kernels/reference.ts has it written out; the WebAssembly twin is assembly/cells.ts).
//
//   i = σ(a_i)  f = σ(a_f)  g = tanh(a_g)  o = σ(a_o)     a = x·Wx + h_{t-1}·Wh + b
//   c_t = f ⊙ c_{t-1} + i ⊙ g                          h_t = o ⊙ tanh(c_t)

import type { FloatArray, Kernels } from '../kernels/types.js';
import { forwardPackedWh, packsWeights, type LayerWorkspace } from './workspace.js';

/** `prepacked`: Wh already packed by packB (a frozen network's, model.ts freezeWeights), used as it is. */
export function lstmForward(k: Kernels, ws: LayerWorkspace, Wh: FloatArray /* (H, G) */, prepacked?: FloatArray): void {
  const { B, T, H, G, gates, hs, cs, tanhC } = ws;
  const packedWh = forwardPackedWh(k, ws, Wh, G, prepacked);
  for (let t = 0; t < T; t++) {
    // a += h_{t-1}·Wh (hs block t holds h_{t-1}; gates block t is (B, G))
    if (packedWh) k.gemmPacked(B, G, H, hs, t * B * H, H, packedWh, gates, t * B * G, G, true);
    else k.gemmNN(B, G, H, hs, t * B * H, H, Wh, 0, G, gates, t * B * G, G, true);
    // gates → i f g o; c_t, tanh(c_t), h_t
    k.lstmForwardStep(hs, cs, tanhC, gates, B, H, t);
  }
}

/**
 * In: ws.dhs = dLoss/dh_t from above, ws.dhNext / ws.dcNext = gradient arriving from beyond the last step
 * (zero for truncated BPTT). Out: ws.dgates = dLoss/da_t (pre-activation), dWh += Σ_t h_{t-1}ᵀ·da_t, and
 * ws.dhNext / ws.dcNext = dLoss/dh_0, dLoss/dc_0.
 */
export function lstmBackward(k: Kernels, ws: LayerWorkspace, Wh: FloatArray /* (H, G) */, dWh: FloatArray /* (H, G) */): void {
  const { B, T, H, G, gates, cs, tanhC, dgates, dhs, dhNext, dcNext, packedWhT } = ws;
  const packed = packsWeights(T);
  if (packed) k.packB(packedWhT, Wh, G, H, true);
  for (let t = T - 1; t >= 0; t--) {
    // dh = dhs_t + dhNext; dc = dcNext + dh·o·(1 - tanh²(c)); da_t from dc, dh; dcNext = dc·f
    k.lstmBackwardStep(dgates, dcNext, gates, cs, tanhC, dhs, dhNext, B, H, t);
    // dh_{t-1} = da_t·Whᵀ
    if (packed) k.gemmPacked(B, H, G, dgates, t * B * G, G, packedWhT, dhNext, 0, H, false);
    else k.gemmNT(B, H, G, dgates, t * B * G, G, Wh, 0, G, dhNext, 0, H, false);
  }
  // dWh += Σ_t h_{t-1}ᵀ·da_t, one GEMM over all steps (hs block t holds h_{t-1})
  k.gemmTN(H, G, T * B, ws.hs, 0, H, dgates, 0, G, dWh, 0, G, true);
}

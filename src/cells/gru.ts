// GRU over a whole sequence (PyTorch's formulation, the reset gate scales the recurrent projection).
//
// Dimension legend: B batch streams, T time steps, H hidden size, G = 3H gates in the order [r z n].
// The caller has already written the input projection x_t·Wx + b into ws.gates.
//
//   r = σ(x_r + h·Wh_r)   z = σ(x_z + h·Wh_z)   n = tanh(x_n + r ⊙ (h·Wh_n + bhn))
//   h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

import type { FloatArray, Kernels } from '../kernels/types.js';
import type { LayerWorkspace } from './workspace.js';

/** `hProj` is a (B, G) scratch row block for h_{t-1}·Wh. */
export function gruForward(
  k: Kernels, ws: LayerWorkspace, Wh: FloatArray /* (H, G) */, bhn: FloatArray /* (H) */, hProj: FloatArray /* (B, G) */,
): void {
  const { B, T, H, G, gates, hs, hn } = ws;
  for (let t = 0; t < T; t++) {
    const gRow = t * B * G;
    const prev = t * B * H;
    const next = prev + B * H;
    // hProj = h_{t-1}·Wh
    k.gemmNN(B, G, H, hs, prev, H, Wh, 0, G, hProj, 0, G, false);
    for (let b = 0; b < B; b++) {
      const g0 = gRow + b * G;
      const p0 = b * G;
      const hRow = b * H;
      for (let j = 0; j < H; j++) {
        const r = 1 / (1 + Math.exp(-(gates[g0 + j] + hProj[p0 + j])));
        const z = 1 / (1 + Math.exp(-(gates[g0 + H + j] + hProj[p0 + H + j])));
        const hnj = hProj[p0 + 2 * H + j] + bhn[j];
        const n = Math.tanh(gates[g0 + 2 * H + j] + r * hnj);
        gates[g0 + j] = r;
        gates[g0 + H + j] = z;
        gates[g0 + 2 * H + j] = n;
        hn[prev + hRow + j] = hnj;
        hs[next + hRow + j] = (1 - z) * n + z * hs[prev + hRow + j];
      }
    }
  }
}

/**
 * In: ws.dhs (dLoss/dh_t from above), ws.dhNext (gradient from beyond the last step). Out: ws.dgates =
 * dLoss/d(input projection), ws.dgatesH = dLoss/d(h·Wh), dWh and dbhn accumulated, ws.dhNext = dLoss/dh_0.
 */
export function gruBackward(
  k: Kernels, ws: LayerWorkspace, Wh: FloatArray /* (H, G) */, dWh: FloatArray /* (H, G) */, dbhn: FloatArray /* (H) */,
): void {
  const { B, T, H, G, gates, hs, hn, dgates, dgatesH, dhs, dhNext } = ws;
  for (let t = T - 1; t >= 0; t--) {
    const gRow = t * B * G;
    const prev = t * B * H;
    for (let b = 0; b < B; b++) {
      const g0 = gRow + b * G;
      const hRow = b * H;
      for (let j = 0; j < H; j++) {
        const r = gates[g0 + j];
        const z = gates[g0 + H + j];
        const n = gates[g0 + 2 * H + j];
        const hPrev = hs[prev + hRow + j];
        const hnj = hn[prev + hRow + j];
        const dh = dhs[prev + hRow + j] + dhNext[hRow + j];
        // dn = dh * (1 - z), through tanh: dan = dn * (1 - n²)
        const dan = dh * (1 - z) * (1 - n * n);
        // dz = dh * (h_{t-1} - n), through σ
        const daz = dh * (hPrev - n) * z * (1 - z);
        // dr = dan * (h·Wh_n + bhn), through σ
        const dar = dan * hnj * r * (1 - r);
        dgates[g0 + j] = dar;
        dgates[g0 + H + j] = daz;
        dgates[g0 + 2 * H + j] = dan;
        // the recurrent projection of n is scaled by r
        dgatesH[g0 + j] = dar;
        dgatesH[g0 + H + j] = daz;
        dgatesH[g0 + 2 * H + j] = dan * r;
        dbhn[j] += dan * r;
        // direct path: dh_{t-1} = dh * z (the matrix path is added below)
        dhNext[hRow + j] = dh * z;
      }
    }
    // dh_{t-1} += dgatesH_t·Whᵀ
    k.gemmNT(B, H, G, dgatesH, gRow, G, Wh, 0, G, dhNext, 0, H, true);
  }
  // dWh += Σ_t h_{t-1}ᵀ·dgatesH_t (hs block t holds h_{t-1})
  k.gemmTN(H, G, T * B, hs, 0, H, dgatesH, 0, G, dWh, 0, G, true);
}

// LSTM over a whole sequence: forward stores what backward needs; backward walks t = T-1 … 0.
//
// Dimension legend: B batch streams, T time steps, H hidden size, G = 4H gates in the order [i f g o].
// The caller has already written the input projection x_t·Wx + b into ws.gates (one GEMM or row lookup for
// all T steps); only the recurrent product h_{t-1}·Wh stays inside the time loop.
//
//   i = σ(a_i)  f = σ(a_f)  g = tanh(a_g)  o = σ(a_o)     a = x·Wx + h_{t-1}·Wh + b
//   c_t = f ⊙ c_{t-1} + i ⊙ g                          h_t = o ⊙ tanh(c_t)

import type { FloatArray, Kernels } from '../kernels/types.js';
import type { LayerWorkspace } from './workspace.js';

export function lstmForward(k: Kernels, ws: LayerWorkspace, Wh: FloatArray /* (H, G) */): void {
  const { B, T, H, G, gates, hs, cs, tanhC } = ws;
  for (let t = 0; t < T; t++) {
    const gRow = t * B * G; // gates block of step t: (B, G)
    const prev = t * B * H; // hs/cs block t holds h_{t-1}, c_{t-1}
    const next = prev + B * H;
    // a += h_{t-1}·Wh
    k.gemmNN(B, G, H, hs, prev, H, Wh, 0, G, gates, gRow, G, true);
    for (let b = 0; b < B; b++) {
      const g0 = gRow + b * G;
      const hRow = b * H;
      for (let j = 0; j < H; j++) {
        const i = 1 / (1 + Math.exp(-gates[g0 + j]));
        const f = 1 / (1 + Math.exp(-gates[g0 + H + j]));
        const g = Math.tanh(gates[g0 + 2 * H + j]);
        const o = 1 / (1 + Math.exp(-gates[g0 + 3 * H + j]));
        gates[g0 + j] = i;
        gates[g0 + H + j] = f;
        gates[g0 + 2 * H + j] = g;
        gates[g0 + 3 * H + j] = o;
        const c = f * cs[prev + hRow + j] + i * g;
        cs[next + hRow + j] = c;
        const tc = Math.tanh(c);
        tanhC[prev + hRow + j] = tc;
        hs[next + hRow + j] = o * tc;
      }
    }
  }
}

/**
 * In: ws.dhs = dLoss/dh_t from above, ws.dhNext / ws.dcNext = gradient arriving from beyond the last step
 * (zero for truncated BPTT). Out: ws.dgates = dLoss/da_t (pre-activation), dWh += Σ_t h_{t-1}ᵀ·da_t, and
 * ws.dhNext / ws.dcNext = dLoss/dh_0, dLoss/dc_0.
 */
export function lstmBackward(k: Kernels, ws: LayerWorkspace, Wh: FloatArray /* (H, G) */, dWh: FloatArray /* (H, G) */): void {
  const { B, T, H, G, gates, cs, tanhC, dgates, dhs, dhNext, dcNext } = ws;
  for (let t = T - 1; t >= 0; t--) {
    const gRow = t * B * G;
    const prev = t * B * H;
    for (let b = 0; b < B; b++) {
      const g0 = gRow + b * G;
      const hRow = b * H;
      for (let j = 0; j < H; j++) {
        const i = gates[g0 + j];
        const f = gates[g0 + H + j];
        const g = gates[g0 + 2 * H + j];
        const o = gates[g0 + 3 * H + j];
        const tc = tanhC[prev + hRow + j];
        // dh = dh from above + dh from step t+1
        const dh = dhs[prev + hRow + j] + dhNext[hRow + j];
        // dc += dh * o * (1 - tanh(c)^2)
        const dc = dcNext[hRow + j] + dh * o * (1 - tc * tc);
        // di = dc * g, df = dc * c_{t-1}, dg = dc * i, do = dh * tanh(c); through σ' = s(1-s), tanh' = 1-g²
        dgates[g0 + j] = dc * g * i * (1 - i);
        dgates[g0 + H + j] = dc * cs[prev + hRow + j] * f * (1 - f);
        dgates[g0 + 2 * H + j] = dc * i * (1 - g * g);
        dgates[g0 + 3 * H + j] = dh * tc * o * (1 - o);
        // dc_{t-1} = dc * f
        dcNext[hRow + j] = dc * f;
      }
    }
    // dh_{t-1} = da_t·Whᵀ
    k.gemmNT(B, H, G, dgates, gRow, G, Wh, 0, G, dhNext, 0, H, false);
  }
  // dWh += Σ_t h_{t-1}ᵀ·da_t, one GEMM over all steps (hs block t holds h_{t-1})
  k.gemmTN(H, G, T * B, ws.hs, 0, H, dgates, 0, G, dWh, 0, G, true);
}

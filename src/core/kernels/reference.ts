// Plain TypeScript kernels: the reference every fast backend is tested against, and the float64 backend the
// gradient checks run on. Written for clarity first; loop orders keep the inner loop on contiguous memory.
//
// Dimension legend (element-wise kernels): B batch streams, T time steps, H hidden size, G gate width (4H lstm
// [i f g o], 3H gru [r z n], H rnn), N rows (T·B), V vocabulary. Buffers are time-major (row t·B + b).

import type { FloatArray, Kernels, Precision } from './types.js';

export function referenceKernels(precision: Precision = 'f64'): Kernels {
  return {
    name: `reference-${precision}`,
    precision,
    alloc: (length: number) => (precision === 'f64' ? new Float64Array(length) : new Float32Array(length)),
    allocIds: (length: number) => new Int32Array(length),
    gemmNN,
    gemmNT,
    gemmTN,
    packedSize: (K: number, N: number) => K * N,
    packB,
    gemmPacked,
    lstmForwardStep,
    lstmLayerStep,
    lstmBackwardStep,
    rnnForwardStep,
    rnnBackwardStep,
    gruForwardStep,
    gruBackwardStep,
    embedRows,
    addBiasRows,
    sumRows,
    scatterAddRows,
    multiplyInPlace,
    addInPlace,
    softmaxCrossEntropy,
    softmaxCrossEntropyBackward,
  };
}

/** C[M×N] = (accumulate ? C : 0) + A[M×K] · B[K×N] */
export function gemmNN(
  M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number,
  B: FloatArray, bOff: number, ldb: number,
  C: FloatArray, cOff: number, ldc: number,
  accumulate: boolean,
): void {
  for (let i = 0; i < M; i++) {
    const cRow = cOff + i * ldc;
    if (!accumulate) for (let j = 0; j < N; j++) C[cRow + j] = 0;
    const aRow = aOff + i * lda;
    for (let k = 0; k < K; k++) {
      const a = A[aRow + k];
      if (a === 0) continue; // one-hot-like and ReLU-like sparsity is common; skipping is exact
      const bRow = bOff + k * ldb;
      for (let j = 0; j < N; j++) C[cRow + j] += a * B[bRow + j];
    }
  }
}

/** C[M×N] = (accumulate ? C : 0) + A[M×K] · B[N×K]ᵀ */
export function gemmNT(
  M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number,
  B: FloatArray, bOff: number, ldb: number,
  C: FloatArray, cOff: number, ldc: number,
  accumulate: boolean,
): void {
  for (let i = 0; i < M; i++) {
    const aRow = aOff + i * lda;
    const cRow = cOff + i * ldc;
    for (let j = 0; j < N; j++) {
      const bRow = bOff + j * ldb;
      let sum = 0;
      for (let k = 0; k < K; k++) sum += A[aRow + k] * B[bRow + k];
      C[cRow + j] = accumulate ? C[cRow + j] + sum : sum;
    }
  }
}

/** C[M×N] = (accumulate ? C : 0) + A[K×M]ᵀ · B[K×N] */
export function gemmTN(
  M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number,
  B: FloatArray, bOff: number, ldb: number,
  C: FloatArray, cOff: number, ldc: number,
  accumulate: boolean,
): void {
  if (!accumulate) {
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) C[cOff + i * ldc + j] = 0;
  }
  for (let k = 0; k < K; k++) {
    const aRow = aOff + k * lda;
    const bRow = bOff + k * ldb;
    for (let i = 0; i < M; i++) {
      const a = A[aRow + i];
      if (a === 0) continue;
      const cRow = cOff + i * ldc;
      for (let j = 0; j < N; j++) C[cRow + j] += a * B[bRow + j];
    }
  }
}

// --- a weight matrix used at every time step --------------------------------------------------------------------

/** The reference "packing" is op(B) itself, row-major K×N. */
export function packB(dst: FloatArray, W: FloatArray, K: number, N: number, transposed: boolean): void {
  for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) dst[k * N + j] = transposed ? W[j * K + k] : W[k * N + j];
}

export function gemmPacked(
  M: number, N: number, K: number, A: FloatArray, aOff: number, lda: number, packed: FloatArray,
  C: FloatArray, cOff: number, ldc: number, accumulate: boolean,
): void {
  gemmNN(M, N, K, A, aOff, lda, packed, 0, N, C, cOff, ldc, accumulate);
}

// --- cells, one step ---------------------------------------------------------------------------------------

/** The sampler's LSTM layer step (B = T = 1), the calls it stands for made one after the other (see types.ts). */
export function lstmLayerStep(
  hs: FloatArray /* (2, H) */, cs: FloatArray /* (2, H) */, tanhC: FloatArray /* (1, H) */, gates: FloatArray /* (1, G) */,
  ids: Int32Array, input: FloatArray | null, inOff: number, I: number, Wx: FloatArray, bias: FloatArray /* (G) */,
  Wh: FloatArray /* (H, G) */, H: number,
): void {
  const G = 4 * H;
  if (input === null) {
    embedRows(gates, 1, G, ids, Wx, bias);
  } else {
    gemmNN(1, G, I, input, inOff, I, Wx, 0, G, gates, 0, G, false);
    addBiasRows(gates, 1, G, bias);
  }
  gemmNN(1, G, H, hs, 0, H, Wh, 0, G, gates, 0, G, true);
  lstmForwardStep(hs, cs, tanhC, gates, 1, H, 0);
}

/** LSTM gate gradients below this are flushed to zero (why: assembly/cells.ts, TINY). */
export const TINY_GRADIENT = 1e-30;

function flushTiny(x: number): number {
  return Math.abs(x) < TINY_GRADIENT ? 0 : x;
}

/** LSTM step t: i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o); c_t = f ⊙ c_{t-1} + i ⊙ g; h_t = o ⊙ tanh(c_t). */
export function lstmForwardStep(
  hs: FloatArray /* ((T+1)·B, H) */, cs: FloatArray /* ((T+1)·B, H) */, tanhC: FloatArray /* (T·B, H) */,
  gates: FloatArray /* (T·B, G) */, B: number, H: number, t: number,
): void {
  const G = 4 * H;
  const gRow = t * B * G; // gates block of step t: (B, G)
  const prev = t * B * H; // hs/cs block t holds h_{t-1}, c_{t-1}
  const next = prev + B * H;
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

/** LSTM step t backward: dgates of step t from dh = dhs + dhNext and dcNext; dcNext becomes dc_{t-1}. */
export function lstmBackwardStep(
  dgates: FloatArray /* (T·B, G) */, dcNext: FloatArray /* (B, H) */,
  gates: FloatArray /* (T·B, G) */, cs: FloatArray /* ((T+1)·B, H) */, tanhC: FloatArray /* (T·B, H) */,
  dhs: FloatArray /* (T·B, H) */, dhNext: FloatArray /* (B, H) */, B: number, H: number, t: number,
): void {
  const G = 4 * H;
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
      // (each flushed to 0 below TINY_GRADIENT, as the WebAssembly twin does: see assembly/cells.ts)
      dgates[g0 + j] = flushTiny(dc * g * i * (1 - i));
      dgates[g0 + H + j] = flushTiny(dc * cs[prev + hRow + j] * f * (1 - f));
      dgates[g0 + 2 * H + j] = flushTiny(dc * i * (1 - g * g));
      dgates[g0 + 3 * H + j] = flushTiny(dh * tc * o * (1 - o));
      // dc_{t-1} = dc * f
      dcNext[hRow + j] = flushTiny(dc * f);
    }
  }
}

/** RNN step t: h_t = tanh(a_t), kept in gates (for backward) and written to hs block t+1. */
export function rnnForwardStep(hs: FloatArray /* ((T+1)·B, H) */, gates: FloatArray /* (T·B, H) */, B: number, H: number, t: number): void {
  const gRow = t * B * H;
  const next = gRow + B * H;
  for (let e = 0; e < B * H; e++) {
    const h = Math.tanh(gates[gRow + e]);
    gates[gRow + e] = h;
    hs[next + e] = h;
  }
}

/** RNN step t backward: da = (dh from above + dh from t+1) ⊙ (1 - h²). */
export function rnnBackwardStep(
  dgates: FloatArray /* (T·B, H) */, gates: FloatArray /* (T·B, H) */, dhs: FloatArray /* (T·B, H) */, dhNext: FloatArray /* (B, H) */,
  B: number, H: number, t: number,
): void {
  const gRow = t * B * H;
  for (let e = 0; e < B * H; e++) {
    const h = gates[gRow + e];
    dgates[gRow + e] = (dhs[gRow + e] + dhNext[e]) * (1 - h * h);
  }
}

/** GRU step t: r = σ(x_r + hp_r), z = σ(x_z + hp_z), n = tanh(x_n + r ⊙ (hp_n + bhn)); h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}. */
export function gruForwardStep(
  hs: FloatArray /* ((T+1)·B, H) */, hn: FloatArray /* (T·B, H) */, gates: FloatArray /* (T·B, G) */,
  hProj: FloatArray /* (B, G) */, bhn: FloatArray /* (H) */, B: number, H: number, t: number,
): void {
  const G = 3 * H;
  const gRow = t * B * G;
  const prev = t * B * H;
  const next = prev + B * H;
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

/** GRU step t backward: dgates, dgatesH of step t, dbhn accumulated, dhNext = dh ⊙ z (the caller adds dgatesH·Whᵀ). */
export function gruBackwardStep(
  dgates: FloatArray /* (T·B, G) */, dgatesH: FloatArray /* (T·B, G) */, dbhn: FloatArray /* (H) */, dhNext: FloatArray /* (B, H) */,
  gates: FloatArray /* (T·B, G) */, hs: FloatArray /* ((T+1)·B, H) */, hn: FloatArray /* (T·B, H) */, dhs: FloatArray /* (T·B, H) */,
  B: number, H: number, t: number,
): void {
  const G = 3 * H;
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
      // direct path: dh_{t-1} = dh * z (the matrix path is added by the caller)
      dhNext[hRow + j] = dh * z;
    }
  }
}

// --- rows ----------------------------------------------------------------------------------------------------

/** out[r, :] = W[ids[r], :] + bias: the input projection of one-hot inputs as a row lookup. */
export function embedRows(out: FloatArray /* (N, G) */, N: number, G: number, ids: Int32Array /* (N) */, W: FloatArray, bias: FloatArray /* (G) */): void {
  for (let r = 0; r < N; r++) {
    const src = ids[r] * G;
    const dst = r * G;
    for (let j = 0; j < G; j++) out[dst + j] = W[src + j] + bias[j];
  }
}

/** out[r, :] += bias */
export function addBiasRows(out: FloatArray /* (N, G) */, N: number, G: number, bias: FloatArray /* (G) */): void {
  for (let r = 0; r < N; r++) {
    const dst = r * G;
    for (let j = 0; j < G; j++) out[dst + j] += bias[j];
  }
}

/** dbias[j] += Σ_r dout[r, j] */
export function sumRows(dbias: FloatArray /* (G) */, dout: FloatArray /* (N, G) */, N: number, G: number): void {
  for (let r = 0; r < N; r++) for (let j = 0; j < G; j++) dbias[j] += dout[r * G + j];
}

/** dW[ids[r], :] += dout[r, :] */
export function scatterAddRows(dW: FloatArray, ids: Int32Array /* (N) */, dout: FloatArray /* (N, G) */, N: number, G: number): void {
  for (let r = 0; r < N; r++) {
    const dst = ids[r] * G;
    const src = r * G;
    for (let j = 0; j < G; j++) dW[dst + j] += dout[src + j];
  }
}

export function multiplyInPlace(a: FloatArray, m: FloatArray, n: number): void {
  for (let e = 0; e < n; e++) a[e] *= m[e];
}

export function addInPlace(out: FloatArray, x: FloatArray, n: number): void {
  for (let e = 0; e < n; e++) out[e] += x[e];
}

// --- softmax cross-entropy -------------------------------------------------------------------------------------

/** The V logits starting at `row` become probabilities in place; returns -log p[target]. */
export function softmaxRowCrossEntropy(logits: FloatArray, row: number, V: number, target: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[row + v] > max) max = logits[row + v];
  let sum = 0;
  for (let v = 0; v < V; v++) {
    const e = Math.exp(logits[row + v] - max);
    logits[row + v] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let v = 0; v < V; v++) logits[row + v] *= inv;
  // -log p(target), guarded against a probability that underflowed to 0
  return -Math.log(Math.max(logits[row + target], Number.MIN_VALUE));
}

/** Rows of logits become probabilities in place; returns Σ_r -log p[r, targets[r]]. */
export function softmaxCrossEntropy(logits: FloatArray /* (N, V) */, targets: Int32Array /* (N) */, N: number, V: number): number {
  let total = 0;
  for (let r = 0; r < N; r++) total += softmaxRowCrossEntropy(logits, r * V, V, targets[r]);
  return total;
}

/** dlogits = (p - onehot(target)) · scale, in place. */
export function softmaxCrossEntropyBackward(logits: FloatArray /* (N, V) */, targets: Int32Array /* (N) */, N: number, V: number, scale: number): void {
  for (let r = 0; r < N; r++) {
    const row = r * V;
    logits[row + targets[r]] -= 1;
    for (let v = 0; v < V; v++) logits[row + v] *= scale;
  }
}

// AssemblyScript source of the element-wise kernels behind src/core/kernels/wasm-fused.ts: the cell nonlinearities of
// one time step (LSTM, GRU, RNN, forward and backward), the one-hot row lookup, bias adds and sums, softmax and
// its gradient, gradient sums. Their plain TypeScript twins are in ../reference.ts; tests hold these to them.
//
// Dimension legend: B batch streams, T time steps, H hidden size, G gate width (4H lstm [i f g o], 3H gru [r z n],
// H rnn), N rows (T·B), V vocabulary. Buffers are time-major (row t·B + b) and row-major; every pointer is a byte
// address into the shared memory, every size is in elements.
//
// Built by build.mjs into its own module over the same imported shared memory as the GEMM module. It has no data
// segment (no strings, no constant arrays), so it cannot overwrite anything the allocator hands out.
//
// exp is Cephes' expf on f32x4: n = round(x·log2 e), r = x - n·ln2 in two parts, a degree-6 polynomial (Horner
// steps fused in the relaxed-SIMD build), and 2ⁿ put straight into the exponent bits. Relative error about 1 ulp, far below what the float64 tests resolve;
// Math.exp through V8 cost ~30% of a training step before this (measured with --cpu-prof).

// @ts-ignore: decorator
@inline function splat(x: f32): v128 {
  return f32x4.splat(x);
}

// e^x for every lane; inputs are clamped to ±88 (beyond that expf over/underflows anyway).
// @ts-ignore: decorator
@inline function expv(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, splat(-88.0)), splat(88.0));
  const n = f32x4.floor(f32x4.add(f32x4.mul(x, splat(1.44269504088896341)), splat(0.5)));
  // r = x - n·ln2, with ln2 split in a part exact in float32 and the rest
  let r = f32x4.sub(x, f32x4.mul(n, splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, splat(-2.12194440e-4)));
  const z = f32x4.mul(r, r);
  let y = splat(1.9875691500e-4);
  y = madd(y, r, splat(1.3981999507e-3));
  y = madd(y, r, splat(8.3334519073e-3));
  y = madd(y, r, splat(4.1665795894e-2));
  y = madd(y, r, splat(1.6666665459e-1));
  y = madd(y, r, splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(y, z), r), splat(1.0));
  // 2ⁿ: n + 127 in the exponent field (n ∈ [-127, 127] after the clamp; -127 gives 0, which is what we want)
  const pow2n = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(y, pow2n);
}

// σ(x) = 1 / (1 + e^-x)
// @ts-ignore: decorator
@inline function sigmoidv(x: v128): v128 {
  return f32x4.div(splat(1.0), f32x4.add(splat(1.0), expv(f32x4.neg(x))));
}

// tanh(x): Cephes' tanhf. Near 0 an odd polynomial (1 - 2/(e^2|x|+1) would cancel); elsewhere through exp.
// @ts-ignore: decorator
@inline function tanhv(x: v128): v128 {
  const ax = f32x4.abs(x);
  const z = f32x4.mul(x, x);
  let p = splat(-5.70498872745e-3);
  p = madd(p, z, splat(2.06390887954e-2));
  p = madd(p, z, splat(-5.37397155531e-2));
  p = madd(p, z, splat(1.33314422036e-1));
  p = madd(p, z, splat(-3.33332819422e-1));
  const small = f32x4.add(f32x4.mul(f32x4.mul(p, z), x), x);
  const e = expv(f32x4.add(ax, ax));
  const large = f32x4.sub(splat(1.0), f32x4.div(splat(2.0), f32x4.add(e, splat(1.0))));
  // give the large branch x's sign
  const signed = v128.or(large, v128.and(x, i32x4.splat(0x80000000)));
  return v128.bitselect(small, signed, f32x4.lt(ax, splat(0.625)));
}

// Lane-0 loads and stores for the ragged tail of a row: the tail goes through the same vector code, so an
// element's result does not depend on where in the row it sits.
// @ts-ignore: decorator
@inline function ld(p: usize, vector: bool): v128 {
  return vector ? v128.load(p) : f32x4.splat(load<f32>(p));
}

// Next index of a loop over n elements: four at a time, then one at a time for the tail (`vector` is then false).
// @ts-ignore: decorator
@inline function advance(i: i32, n: i32): i32 {
  return i + 4 <= n ? i + 4 : i + 1;
}

// @ts-ignore: decorator
@inline function st(p: usize, v: v128, vector: bool): void {
  if (vector) v128.store(p, v);
  else store<f32>(p, f32x4.extract_lane(v, 0));
}

// --- LSTM --------------------------------------------------------------------------------------------------
//
// hs, cs: ((T+1)·B, H), block t = h_{t-1}, c_{t-1}; tanhC: (T·B, H); gates, dgates: (T·B, 4H); dhs: (T·B, H);
// dhNext, dcNext: (B, H).

/** Step t: gates (pre-activations in, activations out), c_t, tanh(c_t), h_t. */
export function lstmForwardStep(hs: usize, cs: usize, tanhC: usize, gates: usize, B: i32, H: i32, t: i32): void {
  const rowBytes = <usize>H << 2;
  const gRowBytes = rowBytes << 2;
  const prev = <usize>(t * B) * rowBytes;
  const next = prev + <usize>B * rowBytes;
  const gBase = gates + <usize>(t * B) * gRowBytes;
  for (let b = 0; b < B; b++) {
    const g0 = gBase + <usize>b * gRowBytes;
    const h0 = <usize>b * rowBytes;
    for (let j = 0; j < H; j = advance(j, H)) {
      const vector = j + 4 <= H;
      const e: usize = <usize>j << 2;
      const pi = g0 + e, pf = pi + rowBytes, pg = pf + rowBytes, po = pg + rowBytes;
      const i = sigmoidv(ld(pi, vector));
      const f = sigmoidv(ld(pf, vector));
      const g = tanhv(ld(pg, vector));
      const o = sigmoidv(ld(po, vector));
      st(pi, i, vector); st(pf, f, vector); st(pg, g, vector); st(po, o, vector);
      // c_t = f ⊙ c_{t-1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)
      const c = f32x4.add(f32x4.mul(f, ld(cs + prev + h0 + e, vector)), f32x4.mul(i, g));
      st(cs + next + h0 + e, c, vector);
      const tc = tanhv(c);
      st(tanhC + prev + h0 + e, tc, vector);
      st(hs + next + h0 + e, f32x4.mul(o, tc), vector);
    }
  }
}

/**
 * The sampler's step of one LSTM layer (B = 1, T = 1) in one call: the calls forwardLogits makes for it, made here
 * (one JS↔wasm crossing instead of four, and one bounds check of each buffer). x = 0: the one-hot first layer, its
 * input the id at `ids`; else x is the input row of I floats.
 */
export function lstmLayerStep(
  hs: usize, cs: usize, tanhC: usize, gates: usize, ids: usize, x: usize, I: i32, Wx: usize, bias: usize, Wh: usize, H: i32,
): void {
  const G = H << 2;
  if (x == 0) {
    embedRows(gates, 1, G, ids, Wx, bias);
  } else {
    gemmSmallNN(1, G, I, x, I, Wx, G, gates, G, false);
    addBiasRows(gates, 1, G, bias);
  }
  gemmSmallNN(1, G, H, hs, H, Wh, G, gates, G, true);
  lstmForwardStep(hs, cs, tanhC, gates, 1, H, 0);
}

/**
 * Gradients smaller than this are flushed to zero as the LSTM backward step writes them. WebAssembly cannot set the
 * CPU's flush-to-zero mode, and on random data (nothing to learn) the gate gradients of the lower layers of a 3×512
 * LSTM sink towards zero: their products in the three backward GEMMs that read them then underflow into subnormals,
 * each a microcode assist (src/bench/subnormals.ts: 3.8 s instead of 3.1 s a step by iteration 45). Below 1e-30 a
 * value cannot change a float32 sum that has any term of normal size, and the optimizers divide by √cache + ε with
 * ε ≥ 1e-10, so an update from gradients that small is below 1e-20 anyway.
 */
const TINY: f32 = 1e-30;

// x, or 0 where |x| < TINY (a NaN stays NaN, so divergence is still seen)
// @ts-ignore: decorator
@inline function flushTiny(x: v128): v128 {
  return v128.andnot(x, f32x4.lt(f32x4.abs(x), splat(TINY)));
}

/** Step t backward: dgates of step t; dcNext becomes dc_{t-1}; dhNext is read (the caller then overwrites it). */
export function lstmBackwardStep(
  dgates: usize, dcNext: usize, gates: usize, cs: usize, tanhC: usize, dhs: usize, dhNext: usize, B: i32, H: i32, t: i32,
): void {
  const rowBytes = <usize>H << 2;
  const gRowBytes = rowBytes << 2;
  const prev = <usize>(t * B) * rowBytes;
  const gBase = <usize>(t * B) * gRowBytes;
  const one = splat(1.0);
  for (let b = 0; b < B; b++) {
    const g0 = gBase + <usize>b * gRowBytes;
    const h0 = <usize>b * rowBytes;
    for (let j = 0; j < H; j = advance(j, H)) {
      const vector = j + 4 <= H;
      const e: usize = <usize>j << 2;
      const gi = g0 + e, gf = gi + rowBytes, gg = gf + rowBytes, go = gg + rowBytes;
      const i = ld(gates + gi, vector), f = ld(gates + gf, vector), g = ld(gates + gg, vector), o = ld(gates + go, vector);
      const tc = ld(tanhC + prev + h0 + e, vector);
      // dh = dh from above + dh from step t+1
      const dh = f32x4.add(ld(dhs + prev + h0 + e, vector), ld(dhNext + h0 + e, vector));
      // dc += dh * o * (1 - tanh(c)^2)
      const dc = f32x4.add(ld(dcNext + h0 + e, vector), f32x4.mul(f32x4.mul(dh, o), f32x4.sub(one, f32x4.mul(tc, tc))));
      // di = dc·g·σ', df = dc·c_{t-1}·σ', dg = dc·i·tanh', do = dh·tanh(c)·σ' (each flushed below TINY)
      st(dgates + gi, flushTiny(f32x4.mul(f32x4.mul(f32x4.mul(dc, g), i), f32x4.sub(one, i))), vector);
      st(dgates + gf, flushTiny(f32x4.mul(f32x4.mul(f32x4.mul(dc, ld(cs + prev + h0 + e, vector)), f), f32x4.sub(one, f))), vector);
      st(dgates + gg, flushTiny(f32x4.mul(f32x4.mul(dc, i), f32x4.sub(one, f32x4.mul(g, g)))), vector);
      st(dgates + go, flushTiny(f32x4.mul(f32x4.mul(f32x4.mul(dh, tc), o), f32x4.sub(one, o))), vector);
      // dc_{t-1} = dc * f
      st(dcNext + h0 + e, flushTiny(f32x4.mul(dc, f)), vector);
    }
  }
}

// --- RNN -----------------------------------------------------------------------------------------------------
// gates, dgates, dhs: (T·B, H); hs: ((T+1)·B, H); dhNext: (B, H)

/** Step t: h_t = tanh(a_t), kept in gates (for backward) and hs. */
export function rnnForwardStep(hs: usize, gates: usize, B: i32, H: i32, t: i32): void {
  const n = B * H;
  const base = <usize>(t * n) << 2;
  const next = base + (<usize>n << 2);
  for (let e = 0; e < n; e = advance(e, n)) {
    const vector = e + 4 <= n;
    const off: usize = <usize>e << 2;
    const h = tanhv(ld(gates + base + off, vector));
    st(gates + base + off, h, vector);
    st(hs + next + off, h, vector);
  }
}

/** Step t backward: da = (dh from above + dhNext) * (1 - h²). */
export function rnnBackwardStep(dgates: usize, gates: usize, dhs: usize, dhNext: usize, B: i32, H: i32, t: i32): void {
  const n = B * H;
  const base = <usize>(t * n) << 2;
  for (let e = 0; e < n; e = advance(e, n)) {
    const vector = e + 4 <= n;
    const off: usize = <usize>e << 2;
    const h = ld(gates + base + off, vector);
    const dh = f32x4.add(ld(dhs + base + off, vector), ld(dhNext + off, vector));
    st(dgates + base + off, f32x4.mul(dh, f32x4.sub(splat(1.0), f32x4.mul(h, h))), vector);
  }
}

// --- GRU -----------------------------------------------------------------------------------------------------
// gates, dgates, dgatesH: (T·B, 3H); hProj: (B, 3H) = h_{t-1}·Wh; hs: ((T+1)·B, H); hn: (T·B, H); bhn: (H)

/** Step t: r, z, n into gates; hn = h·Wh_n + bhn; h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}. */
export function gruForwardStep(hs: usize, hn: usize, gates: usize, hProj: usize, bhn: usize, B: i32, H: i32, t: i32): void {
  const rowBytes = <usize>H << 2;
  const gRowBytes = rowBytes * 3;
  const prev = <usize>(t * B) * rowBytes;
  const next = prev + <usize>B * rowBytes;
  const gBase = gates + <usize>(t * B) * gRowBytes;
  for (let b = 0; b < B; b++) {
    const g0 = gBase + <usize>b * gRowBytes;
    const p0 = hProj + <usize>b * gRowBytes;
    const h0 = <usize>b * rowBytes;
    for (let j = 0; j < H; j = advance(j, H)) {
      const vector = j + 4 <= H;
      const e: usize = <usize>j << 2;
      const r = sigmoidv(f32x4.add(ld(g0 + e, vector), ld(p0 + e, vector)));
      const z = sigmoidv(f32x4.add(ld(g0 + rowBytes + e, vector), ld(p0 + rowBytes + e, vector)));
      const hnj = f32x4.add(ld(p0 + 2 * rowBytes + e, vector), ld(bhn + e, vector));
      const n = tanhv(f32x4.add(ld(g0 + 2 * rowBytes + e, vector), f32x4.mul(r, hnj)));
      st(g0 + e, r, vector); st(g0 + rowBytes + e, z, vector); st(g0 + 2 * rowBytes + e, n, vector);
      st(hn + prev + h0 + e, hnj, vector);
      const hPrev = ld(hs + prev + h0 + e, vector);
      st(hs + next + h0 + e, f32x4.add(f32x4.mul(f32x4.sub(splat(1.0), z), n), f32x4.mul(z, hPrev)), vector);
    }
  }
}

/** Step t backward: dgates, dgatesH of step t, dbhn accumulated, dhNext = dh·z (the matrix path is added after). */
export function gruBackwardStep(
  dgates: usize, dgatesH: usize, dbhn: usize, dhNext: usize, gates: usize, hs: usize, hn: usize, dhs: usize,
  B: i32, H: i32, t: i32,
): void {
  const rowBytes = <usize>H << 2;
  const gRowBytes = rowBytes * 3;
  const prev = <usize>(t * B) * rowBytes;
  const gBase = <usize>(t * B) * gRowBytes;
  const one = splat(1.0);
  for (let b = 0; b < B; b++) {
    const g0 = gBase + <usize>b * gRowBytes;
    const h0 = <usize>b * rowBytes;
    for (let j = 0; j < H; j = advance(j, H)) {
      const vector = j + 4 <= H;
      const e: usize = <usize>j << 2;
      const r = ld(gates + g0 + e, vector);
      const z = ld(gates + g0 + rowBytes + e, vector);
      const n = ld(gates + g0 + 2 * rowBytes + e, vector);
      const hPrev = ld(hs + prev + h0 + e, vector);
      const hnj = ld(hn + prev + h0 + e, vector);
      const dh = f32x4.add(ld(dhs + prev + h0 + e, vector), ld(dhNext + h0 + e, vector));
      // dan = dh·(1 - z)·(1 - n²), daz = dh·(h_{t-1} - n)·z(1 - z), dar = dan·hn·r(1 - r)
      const dan = f32x4.mul(f32x4.mul(dh, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n)));
      const daz = f32x4.mul(f32x4.mul(f32x4.mul(dh, f32x4.sub(hPrev, n)), z), f32x4.sub(one, z));
      const dar = f32x4.mul(f32x4.mul(f32x4.mul(dan, hnj), r), f32x4.sub(one, r));
      st(dgates + g0 + e, dar, vector);
      st(dgates + g0 + rowBytes + e, daz, vector);
      st(dgates + g0 + 2 * rowBytes + e, dan, vector);
      const danr = f32x4.mul(dan, r);
      st(dgatesH + g0 + e, dar, vector);
      st(dgatesH + g0 + rowBytes + e, daz, vector);
      st(dgatesH + g0 + 2 * rowBytes + e, danr, vector);
      st(dbhn + e, f32x4.add(ld(dbhn + e, vector), danr), vector);
      st(dhNext + h0 + e, f32x4.mul(dh, z), vector);
    }
  }
}

// --- rows: lookup, bias, sums ----------------------------------------------------------------------------------
// ids: (N) int32; W: (rows, G); out, dout: (N, G); bias: (G)

/** out[r] = W[ids[r]] + bias: the input projection of a one-hot input. */
export function embedRows(out: usize, N: i32, G: i32, ids: usize, W: usize, bias: usize): void {
  const rowBytes = <usize>G << 2;
  for (let r = 0; r < N; r++) {
    const src = W + <usize>load<i32>(ids + (<usize>r << 2)) * rowBytes;
    const dst = out + <usize>r * rowBytes;
    for (let j = 0; j < G; j = advance(j, G)) {
      const vector = j + 4 <= G;
      const e: usize = <usize>j << 2;
      st(dst + e, f32x4.add(ld(src + e, vector), ld(bias + e, vector)), vector);
    }
  }
}

/** out[r] += bias for every row. */
export function addBiasRows(out: usize, N: i32, G: i32, bias: usize): void {
  const rowBytes = <usize>G << 2;
  for (let r = 0; r < N; r++) {
    const dst = out + <usize>r * rowBytes;
    for (let j = 0; j < G; j = advance(j, G)) {
      const vector = j + 4 <= G;
      const e: usize = <usize>j << 2;
      st(dst + e, f32x4.add(ld(dst + e, vector), ld(bias + e, vector)), vector);
    }
  }
}

/** dbias += Σ_r dout[r] (rows in order, so the sum is the reference's). */
export function sumRows(dbias: usize, dout: usize, N: i32, G: i32): void {
  // row by row: dout streams through once and dbias stays in L1 (a column-first sweep re-read each cache line 4×)
  const rowBytes = <usize>G << 2;
  for (let r = 0; r < N; r++) {
    const src = dout + <usize>r * rowBytes;
    for (let j = 0; j < G; j = advance(j, G)) {
      const vector = j + 4 <= G;
      const e: usize = <usize>j << 2;
      st(dbias + e, f32x4.add(ld(dbias + e, vector), ld(src + e, vector)), vector);
    }
  }
}

/** dW[ids[r]] += dout[r]: the weight gradient of a one-hot input. */
export function scatterAddRows(dW: usize, ids: usize, dout: usize, N: i32, G: i32): void {
  const rowBytes = <usize>G << 2;
  for (let r = 0; r < N; r++) {
    const dst = dW + <usize>load<i32>(ids + (<usize>r << 2)) * rowBytes;
    const src = dout + <usize>r * rowBytes;
    for (let j = 0; j < G; j = advance(j, G)) {
      const vector = j + 4 <= G;
      const e: usize = <usize>j << 2;
      st(dst + e, f32x4.add(ld(dst + e, vector), ld(src + e, vector)), vector);
    }
  }
}

/** a[e] *= m[e] for e < n (dropout masks on gradients). */
export function multiplyInPlace(a: usize, m: usize, n: i32): void {
  for (let e = 0; e < n; e = advance(e, n)) {
    const vector = e + 4 <= n;
    const off: usize = <usize>e << 2;
    st(a + off, f32x4.mul(ld(a + off, vector), ld(m + off, vector)), vector);
  }
}

// --- softmax -----------------------------------------------------------------------------------------------------
// logits: (N, V); targets: (N) int32

/** Every row of logits becomes softmax probabilities, in place. */
export function softmaxRows(logits: usize, N: i32, V: i32): void {
  const rowBytes = <usize>V << 2;
  for (let r = 0; r < N; r++) {
    const row = logits + <usize>r * rowBytes;
    let m = splat(-Infinity);
    for (let v = 0; v < V; v = advance(v, V)) m = f32x4.max(m, ld(row + (<usize>v << 2), v + 4 <= V));
    // the tail lane was splatted, so all four lanes hold real logits
    const rowMax = max<f32>(max<f32>(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max<f32>(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    const mv = splat(rowMax);
    let s = splat(0.0);
    for (let v = 0; v < V; v = advance(v, V)) {
      const vector = v + 4 <= V;
      const p = row + (<usize>v << 2);
      const x = expv(f32x4.sub(ld(p, vector), mv));
      st(p, x, vector);
      s = f32x4.add(s, vector ? x : f32x4.replace_lane(splat(0.0), 0, f32x4.extract_lane(x, 0)));
    }
    const inv = splat(1.0 / (f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3)));
    for (let v = 0; v < V; v = advance(v, V)) {
      const vector = v + 4 <= V;
      const p = row + (<usize>v << 2);
      st(p, f32x4.mul(ld(p, vector), inv), vector);
    }
  }
}

/** probabilities → dLoss/dlogits of the mean cross-entropy: (p - onehot(target)) · scale, in place. */
export function softmaxBackward(logits: usize, targets: usize, N: i32, V: i32, scale: f32): void {
  const rowBytes = <usize>V << 2;
  const s = splat(scale);
  for (let r = 0; r < N; r++) {
    const row = logits + <usize>r * rowBytes;
    const t = row + (<usize>load<i32>(targets + (<usize>r << 2)) << 2);
    store<f32>(t, load<f32>(t) - 1.0);
    for (let v = 0; v < V; v = advance(v, V)) {
      const vector = v + 4 <= V;
      const p = row + (<usize>v << 2);
      st(p, f32x4.mul(ld(p, vector), s), vector);
    }
  }
}

/** out += x over n elements (summing the gradients of data-parallel workers). */
export function addInPlace(out: usize, x: usize, n: i32): void {
  for (let e = 0; e < n; e = advance(e, n)) {
    const vector = e + 4 <= n;
    const off: usize = <usize>e << 2;
    st(out + off, f32x4.add(ld(out + off, vector), ld(x + off, vector)), vector);
  }
}

// --- small GEMM ------------------------------------------------------------------------------------------------

/**
 * C[M×N] = (accumulate ? C : 0) + A[M×K]·B[K×N] for a few rows of A (the sampler's single stream: M = 1), without
 * the packing the blocked GEMM does, which for M = 1 costs more than the product. B is read row by row, in order,
 * four rows at a time: each 16-column block of C is loaded into registers once per four rows of B, not once per
 * row (a load and a store of C per multiply-add had made it bound by L1 traffic), and the four rows stream
 * sequentially, which the prefetcher follows, where a column-block sweep down all K rows jumped a page per row
 * (3×512: 20 MB of weights a character). Every element's sum still runs over k in order with a separate multiply
 * and add, as the blocked GEMM's plain-SIMD build does, so the grouping changes no bit of the result.
 */
export function gemmSmallNN(M: i32, N: i32, K: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool): void {
  const bRow = <usize>ldb << 2;
  for (let i = 0; i < M; i++) {
    const aRow = a + <usize>(i * lda) * 4;
    const cRow = c + <usize>(i * ldc) * 4;
    if (!accumulate) memory.fill(cRow, 0, <usize>N << 2);
    let bk = b;
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const ak = aRow + (<usize>k << 2);
      const a0 = v128.load32_splat(ak), a1 = v128.load32_splat(ak, 4), a2 = v128.load32_splat(ak, 8), a3 = v128.load32_splat(ak, 12);
      const b1 = bk + bRow, b2 = b1 + bRow, b3 = b2 + bRow;
      let j = 0;
      for (; j + 8 <= N; j += 8) {
        const e = <usize>j << 2;
        const cj = cRow + e;
        // c = (((c + a0·b0) + a1·b1) + a2·b2) + a3·b3, two vectors of C at a time
        let c0 = v128.load(cj), c1 = v128.load(cj, 16);
        c0 = f32x4.add(c0, f32x4.mul(a0, v128.load(bk + e)));
        c1 = f32x4.add(c1, f32x4.mul(a0, v128.load(bk + e, 16)));
        c0 = f32x4.add(c0, f32x4.mul(a1, v128.load(b1 + e)));
        c1 = f32x4.add(c1, f32x4.mul(a1, v128.load(b1 + e, 16)));
        c0 = f32x4.add(c0, f32x4.mul(a2, v128.load(b2 + e)));
        c1 = f32x4.add(c1, f32x4.mul(a2, v128.load(b2 + e, 16)));
        c0 = f32x4.add(c0, f32x4.mul(a3, v128.load(b3 + e)));
        c1 = f32x4.add(c1, f32x4.mul(a3, v128.load(b3 + e, 16)));
        v128.store(cj, c0);
        v128.store(cj, c1, 16);
      }
      for (; j < N; j = advance(j, N)) {
        const vector = j + 4 <= N;
        const e = <usize>j << 2;
        const cj = cRow + e;
        let cv = ld(cj, vector);
        cv = f32x4.add(cv, f32x4.mul(a0, ld(bk + e, vector)));
        cv = f32x4.add(cv, f32x4.mul(a1, ld(b1 + e, vector)));
        cv = f32x4.add(cv, f32x4.mul(a2, ld(b2 + e, vector)));
        cv = f32x4.add(cv, f32x4.mul(a3, ld(b3 + e, vector)));
        st(cj, cv, vector);
      }
      bk = b3 + bRow;
    }
    for (; k < K; k++) {
      const ak = v128.load32_splat(aRow + (<usize>k << 2));
      for (let j = 0; j < N; j = advance(j, N)) {
        const vector = j + 4 <= N;
        const cj = cRow + (<usize>j << 2);
        st(cj, f32x4.add(ld(cj, vector), f32x4.mul(ak, ld(bk + (<usize>j << 2), vector))), vector);
      }
      bk += bRow;
    }
  }
}

// --- GEMM with a packed right operand -------------------------------------------------------------------------
//
// The recurrent product of every time step multiplies by the same weights (h·Wh forward, da·Whᵀ backward). The
// blocked GEMM packs its right operand on every call: T times per layer and pass, 14% of a 2x128 LSTM step
// (--cpu-prof), more on a data-parallel slice of 25 streams. packB does it once per pass; gemmPacked then reads the
// panels as they are and A in place. op(B) is K×N; panels are NR = 8 columns wide, k-major, the last zero-padded.

const PANEL: i32 = 8;

/** Size in floats of packB's output for a K×N op(B). */
export function packedSize(K: i32, N: i32): i32 {
  return K * ((N + PANEL - 1) / PANEL) * PANEL;
}

/** dst = op(B) in panels; op(B)(k, j) = transposed ? W[j·K + k] (W is N×K) : W[k·N + j] (W is K×N). */
export function packB(dst: usize, W: usize, K: i32, N: i32, transposed: bool): void {
  for (let jp = 0; jp < N; jp += PANEL) {
    const nr = min(PANEL, N - jp);
    const panel = dst + <usize>jp * <usize>K * 4;
    for (let k = 0; k < K; k++) {
      const out = panel + <usize>(k * PANEL * 4);
      let j = 0;
      if (transposed) for (; j < nr; j++) store<f32>(out + (<usize>j << 2), load<f32>(W + (<usize>((jp + j) * K + k) << 2)));
      else for (; j < nr; j++) store<f32>(out + (<usize>j << 2), load<f32>(W + (<usize>(k * N + jp + j) << 2)));
      for (; j < PANEL; j++) store<f32>(out + (<usize>j << 2), 0);
    }
  }
}

// c += a * b, fused when built with relaxed SIMD (as in gemm.ts)
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

const MR: i32 = 5;

/**
 * C[M×N] = (accumulate ? C : 0) + A[M×K]·op(B), op(B) packed by packB. A is packed too, into 5-row k-major strips
 * in `scratch` (scratchFloats floats; rows in chunks when it cannot hold all of them), because a micro-kernel that
 * reads five rows of A in place needs five address registers and V8 then spills accumulators (measured: no faster
 * than the blocked GEMM with its per-call packing). The last 5×8 floats of scratch are a tile for ragged edges.
 */
export function gemmPacked(
  M: i32, N: i32, K: i32, a: usize, lda: i32, packed: usize, c: usize, ldc: i32, accumulate: bool, scratch: usize, scratchFloats: i32,
): void {
  const aRow = <usize>lda << 2;
  const cRow = <usize>ldc << 2;
  const tile = scratch + <usize>(scratchFloats - MR * PANEL) * 4;
  const chunkRows = max(MR, ((scratchFloats - MR * PANEL) / (K * MR)) * MR);
  for (let i0 = 0; i0 < M; i0 += chunkRows) {
    const rowsChunk = min(chunkRows, M - i0);
    // pack rows i0 … i0+rowsChunk-1: strip s holds rows 5s … 5s+4 as K groups of 5 floats, zero-padded
    for (let s = 0; s < rowsChunk; s += MR) {
      const strip = scratch + <usize>s * <usize>K * 4;
      const rows = min(MR, rowsChunk - s);
      const src = a + <usize>(i0 + s) * aRow;
      for (let k = 0; k < K; k++) {
        const out = strip + <usize>(k * MR * 4);
        let r = 0;
        for (; r < rows; r++) store<f32>(out + (<usize>r << 2), load<f32>(src + <usize>r * aRow + (<usize>k << 2)));
        for (; r < MR; r++) store<f32>(out + (<usize>r << 2), 0);
      }
    }
    for (let jp = 0; jp < N; jp += PANEL) {
      const nr = min(PANEL, N - jp);
      const panel = packed + <usize>jp * <usize>K * 4;
      for (let s = 0; s < rowsChunk; s += MR) {
        const rows = min(MR, rowsChunk - s);
        const strip = scratch + <usize>s * <usize>K * 4;
        const cBlock = c + <usize>(i0 + s) * cRow + (<usize>jp << 2);
        if (rows == MR && nr == PANEL) {
          micro5x8(K, strip, panel, cBlock, cRow, accumulate);
          continue;
        }
        // ragged: through the tile, holding C's valid corner when accumulating
        for (let e = 0; e < MR * PANEL; e++) store<f32>(tile + (<usize>e << 2), 0);
        if (accumulate) {
          for (let r = 0; r < rows; r++) for (let j = 0; j < nr; j++) store<f32>(tile + <usize>(r * PANEL + j) * 4, load<f32>(cBlock + <usize>r * cRow + (<usize>j << 2)));
        }
        micro5x8(K, strip, panel, tile, PANEL * 4, accumulate);
        for (let r = 0; r < rows; r++) for (let j = 0; j < nr; j++) store<f32>(cBlock + <usize>r * cRow + (<usize>j << 2), load<f32>(tile + <usize>(r * PANEL + j) * 4));
      }
    }
  }
}

// C[5×8] (rows cRow bytes apart) = (accumulate ? C : 0) + S[5×K]·P[K×8], S a packed strip (5 floats per k), P a
// packed panel (8 floats per k): every load a fixed offset from one of two pointers.
function micro5x8(K: i32, strip: usize, panel: usize, c: usize, cRow: usize, accumulate: bool): void {
  let c00 = splat(0), c01 = splat(0), c10 = splat(0), c11 = splat(0), c20 = splat(0), c21 = splat(0);
  let c30 = splat(0), c31 = splat(0), c40 = splat(0), c41 = splat(0);
  if (accumulate) {
    c00 = v128.load(c); c01 = v128.load(c, 16);
    c10 = v128.load(c + cRow); c11 = v128.load(c + cRow, 16);
    c20 = v128.load(c + 2 * cRow); c21 = v128.load(c + 2 * cRow, 16);
    c30 = v128.load(c + 3 * cRow); c31 = v128.load(c + 3 * cRow, 16);
    c40 = v128.load(c + 4 * cRow); c41 = v128.load(c + 4 * cRow, 16);
  }
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(panel);
    const b1 = v128.load(panel, 16);
    let ak = v128.load32_splat(strip);
    c00 = madd(ak, b0, c00); c01 = madd(ak, b1, c01);
    ak = v128.load32_splat(strip, 4);
    c10 = madd(ak, b0, c10); c11 = madd(ak, b1, c11);
    ak = v128.load32_splat(strip, 8);
    c20 = madd(ak, b0, c20); c21 = madd(ak, b1, c21);
    ak = v128.load32_splat(strip, 12);
    c30 = madd(ak, b0, c30); c31 = madd(ak, b1, c31);
    ak = v128.load32_splat(strip, 16);
    c40 = madd(ak, b0, c40); c41 = madd(ak, b1, c41);
    strip += MR * 4;
    panel += PANEL * 4;
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(c + cRow, c10); v128.store(c + cRow, c11, 16);
  v128.store(c + 2 * cRow, c20); v128.store(c + 2 * cRow, c21, 16);
  v128.store(c + 3 * cRow, c30); v128.store(c + 3 * cRow, c31, 16);
  v128.store(c + 4 * cRow, c40); v128.store(c + 4 * cRow, c41, 16);
}

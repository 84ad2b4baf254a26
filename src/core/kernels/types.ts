// The contract between the model code and a compute backend: buffers the backend can work on, the three GEMM
// forms backprop needs, and the element-wise work around them (one time step of a cell's nonlinearities, row
// lookups and bias sums, softmax). The plain TypeScript backend (reference.ts) is the twin every fast one is held to.
//
// Dimension legend for the element-wise kernels: B batch streams, T time steps, H hidden size, G gate width
// (4H lstm [i f g o], 3H gru [r z n], H rnn), N rows (T·B), V vocabulary. Buffers are time-major (row t·B + b), laid
// out as in cells/workspace.ts; the step kernels take the whole sequence buffers and the step t.
//
// All matrices are row-major. A matrix operand is (array, offset, leading dimension): element (i, j) of A
// is A[aOff + i * lda + j]. Leading dimensions let a kernel read or write a column block of a wider buffer
// (a bidirectional layer writes its two directions side by side into one (T*B, 2H) buffer).

export type FloatArray = Float32Array | Float64Array;

export type Precision = 'f32' | 'f64';

export interface Kernels {
  /** Short name for logs and benchmarks, e.g. 'reference-f64', 'wasm-simd'. */
  readonly name: string;
  readonly precision: Precision;
  /** Threads the backend's kernels run on now, for a backend with threads of its own (the native one); absent: 1. */
  readonly threads?: number;

  /**
   * A zero-filled buffer of `length` elements that this backend's kernels can use. For a WebAssembly backend it
   * is a view into the module's memory; buffers stay valid for the life of the backend.
   */
  alloc(length: number): FloatArray;

  /** C[M×N] = (accumulate ? C : 0) + A[M×K] · B[K×N] */
  gemmNN(
    M: number, N: number, K: number,
    A: FloatArray, aOff: number, lda: number,
    B: FloatArray, bOff: number, ldb: number,
    C: FloatArray, cOff: number, ldc: number,
    accumulate: boolean,
  ): void;

  /** C[M×N] = (accumulate ? C : 0) + A[M×K] · B[N×K]ᵀ */
  gemmNT(
    M: number, N: number, K: number,
    A: FloatArray, aOff: number, lda: number,
    B: FloatArray, bOff: number, ldb: number,
    C: FloatArray, cOff: number, ldc: number,
    accumulate: boolean,
  ): void;

  /** C[M×N] = (accumulate ? C : 0) + A[K×M]ᵀ · B[K×N] */
  gemmTN(
    M: number, N: number, K: number,
    A: FloatArray, aOff: number, lda: number,
    B: FloatArray, bOff: number, ldb: number,
    C: FloatArray, cOff: number, ldc: number,
    accumulate: boolean,
  ): void;

  /** A zero-filled id buffer the element-wise kernels can read (inputs, targets). */
  allocIds(length: number): Int32Array;

  // --- a weight matrix used at every time step ---

  /** Floats packB needs for a K×N op(B). */
  packedSize(K: number, N: number): number;

  /** dst = op(B) (K×N) in this backend's layout for gemmPacked: W is K×N, or N×K (op = transpose) when `transposed`. */
  packB(dst: FloatArray, W: FloatArray, K: number, N: number, transposed: boolean): void;

  /** C[M×N] = (accumulate ? C : 0) + A[M×K] · op(B), op(B) packed by packB: the recurrent product of each step. */
  gemmPacked(
    M: number, N: number, K: number,
    A: FloatArray, aOff: number, lda: number,
    packed: FloatArray,
    C: FloatArray, cOff: number, ldc: number,
    accumulate: boolean,
  ): void;

  // --- cells, one step t (see cells/*.ts for the equations and the buffer shapes) ---

  /** LSTM step t: gates (T·B, G) pre-activations → activations; cs, hs ((T+1)·B, H) block t+1; tanhC (T·B, H). */
  lstmForwardStep(hs: FloatArray, cs: FloatArray, tanhC: FloatArray, gates: FloatArray, B: number, H: number, t: number): void;

  /**
   * Optional, for the sampler (one stream, one step): one LSTM layer in one call. gates (1, G) = Wx[ids[0]] + b when
   * `input` is null (the one-hot first layer), else input[inOff … inOff+I)·Wx + b; then gates += h_{t-1}·Wh, hs row 0
   * holding h_{t-1}; then lstmForwardStep(B = 1, t = 0). Exactly the float operations, in the same order, of the
   * calls it replaces (embedRows or gemmNN + addBiasRows, gemmNN accumulating, lstmForwardStep): the same bits.
   */
  lstmLayerStep?(
    hs: FloatArray, cs: FloatArray, tanhC: FloatArray, gates: FloatArray,
    ids: Int32Array, input: FloatArray | null, inOff: number, I: number, Wx: FloatArray, bias: FloatArray, Wh: FloatArray, H: number,
  ): void;

  /** LSTM step t backward: dgates (T·B, G) of step t; dcNext (B, H) becomes dc_{t-1}; dhNext (B, H) is only read. */
  lstmBackwardStep(
    dgates: FloatArray, dcNext: FloatArray,
    gates: FloatArray, cs: FloatArray, tanhC: FloatArray, dhs: FloatArray, dhNext: FloatArray, B: number, H: number, t: number,
  ): void;

  /** RNN step t: h_t = tanh(a_t), written over gates (T·B, H) and into hs block t+1. */
  rnnForwardStep(hs: FloatArray, gates: FloatArray, B: number, H: number, t: number): void;

  /** RNN step t backward: dgates = (dhs + dhNext) ⊙ (1 - h²). */
  rnnBackwardStep(dgates: FloatArray, gates: FloatArray, dhs: FloatArray, dhNext: FloatArray, B: number, H: number, t: number): void;

  /** GRU step t, given hProj (B, G) = h_{t-1}·Wh: gates → [r z n], hn (T·B, H) = h·Wh_n + bhn, hs block t+1. */
  gruForwardStep(
    hs: FloatArray, hn: FloatArray, gates: FloatArray, hProj: FloatArray, bhn: FloatArray, B: number, H: number, t: number,
  ): void;

  /** GRU step t backward: dgates, dgatesH (T·B, G) of step t, dbhn (H) accumulated, dhNext (B, H) = dh ⊙ z. */
  gruBackwardStep(
    dgates: FloatArray, dgatesH: FloatArray, dbhn: FloatArray, dhNext: FloatArray,
    gates: FloatArray, hs: FloatArray, hn: FloatArray, dhs: FloatArray, B: number, H: number, t: number,
  ): void;

  // --- rows ---

  /** out[r, :] = W[ids[r], :] + bias for r < N: the input projection of one-hot inputs. out (N, G), bias (G). */
  embedRows(out: FloatArray, N: number, G: number, ids: Int32Array, W: FloatArray, bias: FloatArray): void;

  /** out[r, :] += bias for r < N. */
  addBiasRows(out: FloatArray, N: number, G: number, bias: FloatArray): void;

  /** dbias[j] += Σ_r dout[r, j], rows in order. */
  sumRows(dbias: FloatArray, dout: FloatArray, N: number, G: number): void;

  /** dW[ids[r], :] += dout[r, :] for r < N: the weight gradient of one-hot inputs. */
  scatterAddRows(dW: FloatArray, ids: Int32Array, dout: FloatArray, N: number, G: number): void;

  /** a[e] *= m[e] for e < n. */
  multiplyInPlace(a: FloatArray, m: FloatArray, n: number): void;

  /** out[e] += x[e] for e < n. */
  addInPlace(out: FloatArray, x: FloatArray, n: number): void;

  // --- softmax cross-entropy ---

  /** Rows of logits (N, V) become softmax probabilities in place; returns Σ_r -log p[r, targets[r]] in nats. */
  softmaxCrossEntropy(logits: FloatArray, targets: Int32Array, N: number, V: number): number;

  /** Probabilities (N, V) become dLoss/dlogits in place: (p - onehot(targets[r])) · scale. */
  softmaxCrossEntropyBackward(logits: FloatArray, targets: Int32Array, N: number, V: number, scale: number): void;

  // --- the sampler's weights (float64, as JavaScript computes them) ---

  /**
   * Optional, for the sampler: sample.ts weigh (its twin) for `rows` rows of logits (rows, V) at once, a temperature
   * above 0 and top-k 2 … V (V: none), top-p in (0, 1] (1: none); exactly weigh's float64 operations, with an
   * exponential that is Math.exp's to the bit. Row r's weights go to probs[r·V …], and stats[4r …] = the first
   * argmax, max, Σ of the weights (the nucleus's under top-p), and with `scored` Σ_v Math.exp(logit_v - max) in v
   * order (else NaN). stats[4r] = -1: a row with a NaN logit under top-k or top-p, not weighed (weigh it in JS).
   */
  weighRows?(
    logits: FloatArray, rows: number, V: number, temperature: number, topK: number, topP: number, scored: boolean,
    probs: Float64Array, stats: Float64Array,
  ): void;

  /**
   * Optional, for the many-stream sampler: dst[dstOff + r·width …] = src[srcOff + rows[r]·width …], width floats, for
   * r < n (rows may repeat; dst is not src). One call where a copy per row costs a call each.
   */
  gatherRows?(src: FloatArray, srcOff: number, dst: FloatArray, dstOff: number, rows: Int32Array, n: number, width: number): void;
}

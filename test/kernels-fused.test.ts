// The element-wise WebAssembly kernels (assembly/cells.ts via wasm-fused.ts) against their TypeScript twins in
// float64, on ragged sizes (tails of 1-3 elements go through the scalar lane), and the whole training step of the
// fast backend against the reference one: the same losses within float32 rounding.

import '../src/node/platform.js'; // files and worker threads under the core
import { describe, expect, it } from 'vitest';
import { expectClose, idPair, pair } from './helpers/kernels.js';
import seedrandom from 'seedrandom';
import { referenceKernels } from '../src/core/kernels/reference.js';
import type { FloatArray, Kernels } from '../src/core/kernels/types.js';
import { setFlagsFromString } from 'node:v8';
import { createWasmKernels, wasmRelaxedSimdAvailable, wasmSimdAvailable } from '../src/core/kernels/wasm.js';
import { withFusedKernels } from '../src/core/kernels/wasm-fused.js';
import { corpusFromText } from '../src/core/data/corpus.js';
import { TrainingRun, type NewRunOptions } from '../src/core/train.js';
import type { CellType } from '../src/core/model.js';

const ref = referenceKernels('f64');

// the relaxed-SIMD (FMA) builds too, as defaultKernels() runs them on Node 20 (index.ts sets the same flag)
if (/^v20\./.test(process.version)) setFlagsFromString('--experimental-wasm-relaxed-simd');
const builds = wasmRelaxedSimdAvailable() ? (['off', 'auto'] as const) : (['off'] as const);

for (const fma of builds) describe.skipIf(!wasmSimdAvailable())(`element-wise wasm kernels (fma ${fma}) against the float64 reference`, () => {
  const fast = withFusedKernels(createWasmKernels({ fma }));
  const sizes: Array<[number, number]> = [[3, 8], [2, 5], [4, 13], [1, 1], [5, 130]]; // [B, H]

  it('lstm step forward and backward', () => {
    const random = seedrandom('lstm');
    for (const [B, H] of sizes) {
      const T = 3, G = 4 * H, n = B * H;
      const [hs, hsR] = pair(fast, ref, (T + 1) * n, random, 1);
      const [cs, csR] = pair(fast, ref, (T + 1) * n, random, 2);
      const [tanhC, tanhCR] = pair(fast, ref, T * n, random);
      const [gates, gatesR] = pair(fast, ref, T * B * G, random, 6);
      for (let t = 0; t < T; t++) {
        fast.lstmForwardStep(hs, cs, tanhC, gates, B, H, t);
        ref.lstmForwardStep(hsR, csR, tanhCR, gatesR, B, H, t);
      }
      expectClose(gates, gatesR, 'gates');
      expectClose(cs, csR, 'cs');
      expectClose(tanhC, tanhCR, 'tanhC');
      expectClose(hs, hsR, 'hs');
      const [dgates, dgatesR] = pair(fast, ref, T * B * G, random);
      const [dcNext, dcNextR] = pair(fast, ref, n, random);
      const [dhs, dhsR] = pair(fast, ref, T * n, random);
      const [dhNext, dhNextR] = pair(fast, ref, n, random);
      for (let t = T - 1; t >= 0; t--) {
        fast.lstmBackwardStep(dgates, dcNext, gates, cs, tanhC, dhs, dhNext, B, H, t);
        ref.lstmBackwardStep(dgatesR, dcNextR, gatesR, csR, tanhCR, dhsR, dhNextR, B, H, t);
      }
      expectClose(dgates, dgatesR, 'dgates');
      expectClose(dcNext, dcNextR, 'dcNext');
    }
  });

  it('lstm step backward flushes gate gradients below 1e-30 to zero (no subnormal products later), keeps NaN', () => {
    const B = 2, H = 5, G = 4 * H, n = B * H;
    for (const k of [fast, ref]) {
      const gates = k.alloc(B * G), cs = k.alloc(2 * n), tanhC = k.alloc(n);
      gates.fill(0.5); cs.fill(0.5); tanhC.fill(0.5);
      const dgates = k.alloc(B * G), dcNext = k.alloc(n), dhs = k.alloc(n), dhNext = k.alloc(n);
      dhs.fill(1e-31); // every gradient of the step is ~1e-32: flushed
      dhs[0] = 1e-20; // this element's gradients are kept
      dhs[1] = NaN;
      k.lstmBackwardStep(dgates, dcNext, gates, cs, tanhC, dhs, dhNext, B, H, 0);
      for (let b = 0; b < B; b++) {
        for (let gate = 0; gate < 4; gate++) {
          for (let j = 0; j < H; j++) {
            const v = dgates[b * G + gate * H + j];
            const what = `${k.name} dgates[${b}, ${gate}, ${j}]`;
            if (b === 0 && j === 1) expect(v, what).toBeNaN();
            else if (b === 0 && j === 0) expect(Math.abs(v), what).toBeGreaterThan(1e-22);
            else expect(v, what).toBe(0);
          }
        }
      }
      expect(dcNext[2], `${k.name} dcNext`).toBe(0);
      expect(Math.abs(dcNext[0])).toBeGreaterThan(1e-22);
    }
  });

  it('gru step forward and backward', () => {
    const random = seedrandom('gru');
    for (const [B, H] of sizes) {
      const T = 2, G = 3 * H, n = B * H;
      const [hs, hsR] = pair(fast, ref, (T + 1) * n, random, 1);
      const [hn, hnR] = pair(fast, ref, T * n, random);
      const [gates, gatesR] = pair(fast, ref, T * B * G, random, 5);
      const [hProj, hProjR] = pair(fast, ref, B * G, random, 2);
      const [bhn, bhnR] = pair(fast, ref, H, random, 1);
      for (let t = 0; t < T; t++) {
        fast.gruForwardStep(hs, hn, gates, hProj, bhn, B, H, t);
        ref.gruForwardStep(hsR, hnR, gatesR, hProjR, bhnR, B, H, t);
      }
      expectClose(gates, gatesR, 'gates');
      expectClose(hn, hnR, 'hn');
      expectClose(hs, hsR, 'hs');
      const [dgates, dgatesR] = pair(fast, ref, T * B * G, random);
      const [dgatesH, dgatesHR] = pair(fast, ref, T * B * G, random);
      const [dbhn, dbhnR] = pair(fast, ref, H, random);
      const [dhNext, dhNextR] = pair(fast, ref, n, random);
      const [dhs, dhsR] = pair(fast, ref, T * n, random);
      for (let t = T - 1; t >= 0; t--) {
        fast.gruBackwardStep(dgates, dgatesH, dbhn, dhNext, gates, hs, hn, dhs, B, H, t);
        ref.gruBackwardStep(dgatesR, dgatesHR, dbhnR, dhNextR, gatesR, hsR, hnR, dhsR, B, H, t);
      }
      expectClose(dgates, dgatesR, 'dgates');
      expectClose(dgatesH, dgatesHR, 'dgatesH');
      expectClose(dbhn, dbhnR, 'dbhn');
      expectClose(dhNext, dhNextR, 'dhNext');
    }
  });

  it('rnn step forward and backward; tanh and σ over their whole range', () => {
    const random = seedrandom('rnn');
    for (const [B, H] of sizes) {
      const T = 2, n = B * H;
      const [hs, hsR] = pair(fast, ref, (T + 1) * n, random);
      const [gates, gatesR] = pair(fast, ref, T * n, random, 4);
      for (let t = 0; t < T; t++) {
        fast.rnnForwardStep(hs, gates, B, H, t);
        ref.rnnForwardStep(hsR, gatesR, B, H, t);
      }
      expectClose(hs, hsR, 'hs');
      const [dgates, dgatesR] = pair(fast, ref, T * n, random);
      const [dhs, dhsR] = pair(fast, ref, T * n, random);
      const [dhNext, dhNextR] = pair(fast, ref, n, random);
      fast.rnnBackwardStep(dgates, gates, dhs, dhNext, B, H, 1);
      ref.rnnBackwardStep(dgatesR, gatesR, dhsR, dhNextR, B, H, 1);
      expectClose(dgates, dgatesR, 'dgates');
    }
    // tanh across magnitudes, tiny to saturated, both signs (the small-|x| polynomial and the exp branch)
    const n = 4001;
    const gates = fast.alloc(n), gatesR = ref.alloc(n);
    for (let i = 0; i < n; i++) gates[i] = gatesR[i] = Math.fround(Math.sign(i - 2000) * 1e-6 * Math.pow(1.0085, Math.abs(i - 2000)));
    fast.rnnForwardStep(fast.alloc(2 * n), gates, 1, n, 0);
    ref.rnnForwardStep(ref.alloc(2 * n), gatesR, 1, n, 0);
    for (let i = 0; i < n; i++) {
      // relative to the value itself: near 0 tanh(x) ≈ x must keep its digits
      expect(Math.abs(gates[i] - gatesR[i]), `tanh(${gatesR[i]})`).toBeLessThanOrEqual(3e-7 * Math.abs(gatesR[i]) + 1e-45);
    }
  });

  it('row lookup, bias rows, row sums, scatter, products, sums', () => {
    const random = seedrandom('rows');
    for (const [N, G] of [[7, 12], [5, 9], [3, 1], [50, 65]]) {
      const V = 11;
      const [ids, idsR] = idPair(fast, ref, N, random, V);
      const [W, WR] = pair(fast, ref, V * G, random);
      const [bias, biasR] = pair(fast, ref, G, random);
      const [out, outR] = pair(fast, ref, N * G, random);
      fast.embedRows(out, N, G, ids, W, bias);
      ref.embedRows(outR, N, G, idsR, WR, biasR);
      expectClose(out, outR, 'embedRows');
      fast.addBiasRows(out, N, G, bias);
      ref.addBiasRows(outR, N, G, biasR);
      expectClose(out, outR, 'addBiasRows');
      const [db, dbR] = pair(fast, ref, G, random);
      fast.sumRows(db, out, N, G);
      ref.sumRows(dbR, outR, N, G);
      expectClose(db, dbR, 'sumRows');
      fast.scatterAddRows(W, ids, out, N, G);
      ref.scatterAddRows(WR, idsR, outR, N, G);
      expectClose(W, WR, 'scatterAddRows');
      fast.multiplyInPlace(out, W, N * G > V * G ? V * G : N * G);
      ref.multiplyInPlace(outR, WR, N * G > V * G ? V * G : N * G);
      expectClose(out, outR, 'multiplyInPlace');
      fast.addInPlace(out, out, N * G);
      ref.addInPlace(outR, outR, N * G);
      expectClose(out, outR, 'addInPlace');
    }
  });

  it('softmax cross-entropy and its gradient', () => {
    const random = seedrandom('softmax');
    for (const [N, V] of [[9, 65], [4, 3], [2, 1], [30, 256]]) {
      const [logits, logitsR] = pair(fast, ref, N * V, random, 20);
      const [targets, targetsR] = idPair(fast, ref, N, random, V);
      const loss = fast.softmaxCrossEntropy(logits, targets, N, V);
      const lossR = ref.softmaxCrossEntropy(logitsR, targetsR, N, V);
      expect(Math.abs(loss - lossR)).toBeLessThan(1e-5 * (1 + lossR));
      expectClose(logits, logitsR, 'probabilities');
      fast.softmaxCrossEntropyBackward(logits, targets, N, V, 1 / N);
      ref.softmaxCrossEntropyBackward(logitsR, targetsR, N, V, 1 / N);
      expectClose(logits, logitsR, 'dlogits');
    }
  });

  it('gemmNN with a few rows (the unpacked kernel) and with many (the blocked one)', () => {
    const random = seedrandom('small-gemm');
    for (const [M, N, K] of [[1, 512, 128], [1, 65, 128], [2, 7, 3], [3, 33, 300], [4, 16, 1], [1, 5, 0], [5, 19, 21]]) {
      for (const accumulate of [false, true]) {
        const lda = K + 2, ldb = N + 1, ldc = N + 3;
        const [A, AR] = pair(fast, ref, M * lda + 1, random);
        const [Bm, BR] = pair(fast, ref, Math.max(K, 1) * ldb + 1, random);
        const [C, CR] = pair(fast, ref, M * ldc + 1, random);
        fast.gemmNN(M, N, K, A, 1, lda, Bm, 1, ldb, C, 1, ldc, accumulate);
        ref.gemmNN(M, N, K, AR, 1, lda, BR, 1, ldb, CR, 1, ldc, accumulate);
        // sums of K products of magnitude ≤ 9: rounding grows with K
        for (let i = 0; i < C.length; i++) expect(Math.abs(C[i] - CR[i]), `${M}×${N}×${K} at ${i}`).toBeLessThan(1e-5 * (1 + K));
      }
    }
  });

  it('gemmNN with a few rows sums over k in order, multiply then add, bit for bit (what keeps sampled text stable)', () => {
    const random = seedrandom('small-gemm-bits');
    for (const [M, N, K] of [[1, 512, 128], [1, 65, 131], [2, 19, 7], [1, 3, 2]]) {
      const [A] = pair(fast, ref, M * K, random);
      const [Bm] = pair(fast, ref, K * N, random);
      const [C] = pair(fast, ref, M * N, random);
      const expected = Float32Array.from(C);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let c = expected[i * N + j];
          for (let k = 0; k < K; k++) c = Math.fround(c + Math.fround(A[i * K + k] * Bm[k * N + j]));
          expected[i * N + j] = c;
        }
      }
      fast.gemmNN(M, N, K, A, 0, K, Bm, 0, N, C, 0, N, true);
      for (let e = 0; e < C.length; e++) if (C[e] !== expected[e]) expect(C[e], `${M}×${N}×${K} at ${e}`).toBe(expected[e]);
    }
  });

  it("the sampler's fused LSTM layer step: the same bits as the calls it replaces, and the twin's result", () => {
    const random = seedrandom('layer-step');
    for (const [H, I] of [[5, 7], [128, 128], [9, 65]]) {
      const G = 4 * H;
      for (const oneHot of [true, false]) {
        const [Wx, WxR] = pair(fast, ref, I * G, random, 0.5);
        const [Wh, WhR] = pair(fast, ref, H * G, random, 0.5);
        const [bias, biasR] = pair(fast, ref, G, random, 0.5);
        const [input, inputR] = pair(fast, ref, I + 3, random, 1);
        const [ids, idsR] = idPair(fast, ref, 1, random, I);
        const run = (k: Kernels, fused: boolean, w: FloatArray[], x: FloatArray, id: Int32Array) => {
          const [wx, wh, b] = w;
          const hs = k.alloc(2 * H), cs = k.alloc(2 * H), tanhC = k.alloc(H), gates = k.alloc(G);
          for (let j = 0; j < H; j++) { hs[j] = Math.fround(Math.sin(j + 1)); cs[j] = Math.fround(Math.cos(j)); }
          if (fused) {
            k.lstmLayerStep!(hs, cs, tanhC, gates, id, oneHot ? null : x, 3, I, wx, b, wh, H);
          } else {
            if (oneHot) k.embedRows(gates, 1, G, id, wx, b);
            else { k.gemmNN(1, G, I, x, 3, I, wx, 0, G, gates, 0, G, false); k.addBiasRows(gates, 1, G, b); }
            k.gemmNN(1, G, H, hs, 0, H, wh, 0, G, gates, 0, G, true);
            k.lstmForwardStep(hs, cs, tanhC, gates, 1, H, 0);
          }
          return { hs, cs, tanhC, gates };
        };
        const fused = run(fast, true, [Wx, Wh, bias], input, ids);
        const calls = run(fast, false, [Wx, Wh, bias], input, ids);
        const twin = run(ref, true, [WxR, WhR, biasR], inputR, idsR);
        for (const name of ['hs', 'cs', 'tanhC', 'gates'] as const) {
          expect(Array.from(fused[name]), `${name}, H ${H}, ${oneHot ? 'one-hot' : 'dense'}`).toEqual(Array.from(calls[name]));
          expectClose(fused[name], twin[name], `${name} against the twin, H ${H}`);
        }
      }
    }
  });

  it('gemmPacked: weights packed once (plain and transposed) times rows of A, ragged and deep', () => {
    const random = seedrandom('packed');
    // [M, N, K]: the LSTM step shapes, ragged rows and columns, K deep enough that A is packed in two row chunks,
    // and one too deep for the scratch (the TypeScript fallback)
    for (const [M, N, K] of [[50, 512, 128], [25, 128, 512], [7, 13, 5], [3, 8, 1], [30, 20, 3000], [2, 3, 14000], [1, 1, 1]]) {
      for (const transposed of [false, true]) {
        for (const accumulate of [false, true]) {
          const lda = K + 1, ldc = N + 2;
          const [W, WR] = pair(fast, ref, K * N, random, 1);
          const packed = fast.alloc(fast.packedSize(K, N));
          const packedR = ref.alloc(ref.packedSize(K, N));
          fast.packB(packed, W, K, N, transposed);
          ref.packB(packedR, WR, K, N, transposed);
          const [A, AR] = pair(fast, ref, M * lda + 2, random, 1);
          const [C, CR] = pair(fast, ref, M * ldc + 3, random, 1);
          fast.gemmPacked(M, N, K, A, 2, lda, packed, C, 3, ldc, accumulate);
          ref.gemmPacked(M, N, K, AR, 2, lda, packedR, CR, 3, ldc, accumulate);
          for (let i = 0; i < C.length; i++) {
            expect(Math.abs(C[i] - CR[i]), `${M}×${N}×${K} ${transposed ? 'T' : 'N'} at ${i}`).toBeLessThan(2e-6 * (1 + Math.sqrt(K) * 4));
          }
        }
      }
    }
  });

  it('refuses arrays that are not its own, and reads ids that are not in its memory through the twin', () => {
    const B = 2, H = 4;
    const foreign = new Float32Array(100);
    expect(() => fast.rnnForwardStep(foreign, fast.alloc(B * H), B, H, 0)).toThrow(/not a buffer/);
    expect(() => fast.rnnForwardStep(fast.alloc(B * H), fast.alloc(B * H), B, H, 0)).toThrow(/outside/);
    const out = fast.alloc(6), W = fast.alloc(6), bias = fast.alloc(3);
    W.set([1, 2, 3, 4, 5, 6]);
    fast.embedRows(out, 2, 3, Int32Array.from([1, 0]), W, bias);
    expect([...out]).toEqual([4, 5, 6, 1, 2, 3]);
  });
});

const TEXT = Array.from({ length: 80 }, (_, i) => `${i} quick brown foxes ${i % 3 ? 'jump' : 'nap'} over ${i % 5} lazy dogs\n`).join('');

function runOptions(cell: CellType, kernels: Kernels): NewRunOptions {
  return {
    corpus: corpusFromText(TEXT),
    model: { cell, hiddenSize: 10, layers: 2, dropout: 0.1 },
    training: {
      batchSize: 6, seqLength: 12, optimizer: 'adagrad', lr: 0.05, gradClip: 5, lrDecay: 1, lrDecayAfter: 10,
      valFrac: 0.1, evalEvery: 100, valBatches: 0, seed: 11,
    },
    runName: 'fused', corpusName: 'foxes', kernels,
  };
}

for (const fma of builds) describe.skipIf(!wasmSimdAvailable())(`a training run on the wasm kernels (fma ${fma}) against one on the reference`, () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: the same losses within float32 rounding`, () => {
      const fast = TrainingRun.create(runOptions(cell, withFusedKernels(createWasmKernels({ fma }))));
      const slow = TrainingRun.create(runOptions(cell, referenceKernels('f32')));
      for (let i = 0; i < 10; i++) {
        const a = fast.step();
        const b = slow.step();
        expect(Math.abs(a.loss - b.loss), `iteration ${i + 1}`).toBeLessThan(2e-5 * b.loss);
        expect(Math.abs(a.gradNorm - b.gradNorm), `iteration ${i + 1}`).toBeLessThan(1e-4 * b.gradNorm);
      }
    });
  }
});

// Holds the native kernels (src/node/native) to the float64 TypeScript reference on every instruction set this CPU runs:
// the GEMM forms and the packed GEMM on shapes that hit every edge of their blocking, the cells, rows and softmax on
// ragged sizes; checks that 1, 2 and 3 threads give the same bits (columns and rows split), that bad arguments are
// refused instead of written past, and that training on them matches training on the WebAssembly kernels.
// Skipped, with a message, where the addon was not built.

import { describe, expect, it } from 'vitest';
import { expectClose, idPair, pair } from './helpers/kernels.js';
import { referenceKernels } from '../src/core/kernels/reference.js';
import type { FloatArray, Kernels } from '../src/core/kernels/types.js';
import { createRandom } from '../src/core/random.js';
import {
  createNativeKernels, nativeIsas, nativeKernelsAvailable, nativeUnavailableReason, type NativeKernels,
} from '../src/node/native/index.js';
import '../src/node/platform.js';
import { defaultKernels, trainingKernels } from '../src/core/platform.js';
import { corpusFromText } from '../src/core/data/corpus.js';
import { TrainingRun, type NewRunOptions } from '../src/core/train.js';
import type { CellType } from '../src/core/model.js';
import { CharnnError } from '../src/core/errors.js';
import { weigh, weighed } from '../src/core/sample.js';

const available = nativeKernelsAvailable();
if (!available) console.warn(`skipping the native kernel tests: ${nativeUnavailableReason()}`);

const ref = referenceKernels('f64');
const EPS32 = 2 ** -24;

type Form = 'NN' | 'NT' | 'TN' | 'Packed';

interface Case { form: Form; M: number; N: number; K: number; pad: number; accumulate: boolean; transposed?: boolean }

function fill(a: FloatArray, random: () => number, scale = 1): void {
  for (let i = 0; i < a.length; i++) a[i] = Math.fround((random() * 2 - 1) * scale);
}

/**
 * Runs one case on `k` and on the float64 reference; every element of C's M×N window within the float32 bound
 * (K + 2 roundings of |A|·|B| + |C|), everything around it untouched. Returns C for bit comparisons.
 */
function checkGemm(k: Kernels, c: Case, seed: number, againstReference = true): Float32Array {
  const random = createRandom(seed);
  const { M, N, K, pad } = c;
  // stored shapes: A is M×K (K×M for TN), B is K×N (N×K for NT; for Packed, W is K×N or N×K when transposed)
  const transB = c.form === 'NT' || (c.form === 'Packed' && c.transposed === true);
  const aRows = c.form === 'TN' ? K : M, aCols = c.form === 'TN' ? M : K;
  const bRows = transB ? N : K, bCols = transB ? K : N;
  const lda = aCols + pad, ldb = c.form === 'Packed' ? bCols : bCols + pad, ldc = N + pad;
  const off = pad;
  const A = k.alloc(off + aRows * lda), B = k.alloc((c.form === 'Packed' ? 0 : off) + bRows * ldb), C = k.alloc(off + M * ldc + 3);
  fill(A, random); fill(B, random); fill(C, random);
  const A64 = Float64Array.from(A), B64 = Float64Array.from(B), C64 = Float64Array.from(C);
  const absA = A64.map(Math.abs), absB = B64.map(Math.abs), bound = C64.map(Math.abs);
  const before = Float32Array.from(C);
  if (c.form === 'Packed') {
    const packed = k.alloc(k.packedSize(K, N));
    k.packB(packed, B, K, N, c.transposed === true);
    k.gemmPacked(M, N, K, A, off, lda, packed, C, off, ldc, c.accumulate);
    if (!againstReference) return C as Float32Array;
    for (const [x, y, z] of [[A64, B64, C64], [absA, absB, bound]] as const) {
      const p = ref.alloc(K * N);
      ref.packB(p, y, K, N, c.transposed === true);
      ref.gemmPacked(M, N, K, x, off, lda, p, z, off, ldc, c.accumulate);
    }
  } else {
    const form = `gemm${c.form}` as const;
    k[form](M, N, K, A, off, lda, B, off, ldb, C, off, ldc, c.accumulate);
    if (!againstReference) return C as Float32Array;
    ref[form](M, N, K, A64, off, lda, B64, off, ldb, C64, off, ldc, c.accumulate);
    ref[form](M, N, K, absA, off, lda, absB, off, ldb, bound, off, ldc, c.accumulate);
  }
  const what = `${k.name} gemm${c.form}${c.transposed ? 'ᵀ' : ''} M=${M} N=${N} K=${K} pad=${pad} accumulate=${c.accumulate}`;
  for (let idx = 0; idx < C.length; idx++) {
    const row = Math.floor((idx - off) / ldc), col = (idx - off) % ldc;
    if (!(idx >= off && row < M && col < N)) {
      if (C[idx] !== before[idx]) throw new Error(`${what}: wrote outside C's window at ${idx}`);
      continue;
    }
    const tolerance = (K + 2) * EPS32 * bound[idx] + 1e-30;
    if (!(Math.abs(C[idx] - C64[idx]) <= tolerance)) {
      throw new Error(`${what}: C[${row},${col}] = ${C[idx]}, reference ${C64[idx]} (tolerance ${tolerance})`);
    }
  }
  return C as Float32Array;
}

// Against the blocking in src/node/native/kernels.h (PANEL 32 columns, KC 256, NC 1024, MC 120) and the row blocks of
// the micro-kernels (at most 12 rows AVX-512, 6 AVX2, 4 portable).
const shapes: Array<[number, number, number]> = [
  [1, 1, 1],
  [12, 32, 4], // one full AVX-512 block
  [13, 33, 257], // one row, one column and one k past a block
  [5, 31, 3], // a ragged panel only
  [50, 512, 128], // the 2×128 LSTM step
  [121, 65, 3], // rows past MC, a 1-column last panel
  [3, 1025, 5], // columns past NC (two packing chunks)
  [25, 70, 600], // three reduction blocks
  [6, 4, 0], // empty reduction: C = accumulate ? C : 0
];
const forms: Form[] = ['NN', 'NT', 'TN', 'Packed'];

describe.skipIf(!available)('native GEMM against the float64 reference', () => {
  for (const isa of available ? nativeIsas() : []) {
    it(`${isa}: every form on edge shapes, padded and dense, accumulating and overwriting`, () => {
      const k = createNativeKernels({ isa });
      let seed = 1;
      for (const form of forms) {
        for (const [M, N, K] of shapes) {
          for (const pad of [0, 3]) {
            for (const accumulate of [false, true]) {
              checkGemm(k, { form, M, N, K, pad, accumulate }, seed++);
              if (form === 'Packed') checkGemm(k, { form, M, N, K, pad, accumulate, transposed: true }, seed++);
            }
          }
        }
      }
    });

    it(`${isa}: random shapes`, () => {
      const k = createNativeKernels({ isa });
      const random = createRandom(`native-${isa}`);
      const pick = (max: number) => Math.floor(random() * max);
      for (let trial = 0; trial < 40; trial++) {
        const c: Case = {
          form: forms[trial % 4]!, M: 1 + pick(40), N: 1 + pick(100), K: pick(300), pad: pick(5),
          accumulate: random() < 0.5, transposed: random() < 0.5,
        };
        checkGemm(k, c, 1000 + trial);
      }
    });
  }
});

describe.skipIf(!available)('native GEMM on several threads', () => {
  it('gives the same bits on 1, 2 and 3 threads, split by columns and by rows', () => {
    // above the parallel threshold (1 MFLOP): many panels (columns split), few panels (rows), ragged both ways
    const big: Array<[number, number, number]> = [[50, 512, 128], [37, 1001, 161], [250, 33, 129]];
    const one = createNativeKernels({ threads: 1 });
    // (a loaded 2-core machine makes every threaded call slow: few calls, three threads on one form only)
    const many = [
      createNativeKernels({ threads: 2, adaptive: false }),
      createNativeKernels({ threads: 2, adaptive: false, split: 'rows' }),
      createNativeKernels({ threads: 2, adaptive: true }),
    ];
    const three = createNativeKernels({ threads: 3, adaptive: false });
    let seed = 5000;
    for (const form of forms) {
      for (const [M, N, K] of big) {
        const c: Case = { form, M, N, K, pad: 1, accumulate: seed % 2 === 0, transposed: seed % 3 === 0 };
        const expected = checkGemm(one, c, seed, seed % 4 === 0);
        for (const k of form === 'Packed' ? [...many, three] : many) {
          expect(checkGemm(k, c, seed, false), `${k.maxThreads} threads, ${form} ${M}×${N}×${K}`).toEqual(expected);
        }
        seed++;
      }
    }
    // many back-to-back calls: the hand-off between threads must not lose or repeat a job
    for (let trial = 0; trial < 60; trial++) {
      const c: Case = { form: forms[trial % 4]!, M: 50, N: 256, K: 96, pad: 0, accumulate: trial % 2 === 0 };
      expect(checkGemm(many[0]!, c, 9000 + trial, false)).toEqual(checkGemm(one, c, 9000 + trial, false));
    }
  });
});

describe.skipIf(!available)('native cell steps on several threads', () => {
  // B·H above the parallel threshold: 50 streams split by rows (gru's backward step by units, 100 split at 48);
  // 3 streams, too few to split by rows, by units (1500 at 752 on 2 threads, at 496 and 1008 on 3)
  it.each([[50, 100], [3, 1500]])('give the same bits as one thread (B %i, H %i; ragged shares)', (B, H) => {
    const T = 2;
    const run = (k: Kernels): Float32Array[] => {
      const random = createRandom('cells-threads');
      const buf = (length: number, scale = 2) => {
        const a = k.alloc(length);
        fill(a, random, scale);
        return a;
      };
      const n = B * H;
      const outputs: Float32Array[] = [];
      // lstm
      const [hs, cs, tanhC, gates] = [buf((T + 1) * n), buf((T + 1) * n), buf(T * n), buf(T * 4 * n, 6)];
      for (let t = 0; t < T; t++) k.lstmForwardStep(hs, cs, tanhC, gates, B, H, t);
      const [dgates, dcNext, dhs, dhNext] = [buf(T * 4 * n), buf(n), buf(T * n), buf(n)];
      for (let t = T - 1; t >= 0; t--) k.lstmBackwardStep(dgates, dcNext, gates, cs, tanhC, dhs, dhNext, B, H, t);
      outputs.push(...([hs, cs, tanhC, gates, dgates, dcNext] as Float32Array[]));
      // gru
      const [ghs, hn, ggates, hProj, bhn] = [buf((T + 1) * n), buf(T * n), buf(T * 3 * n, 5), buf(3 * n), buf(H)];
      for (let t = 0; t < T; t++) k.gruForwardStep(ghs, hn, ggates, hProj, bhn, B, H, t);
      const [gd, gdH, dbhn, gdhNext, gdhs] = [buf(T * 3 * n), buf(T * 3 * n), buf(H), buf(n), buf(T * n)];
      for (let t = T - 1; t >= 0; t--) k.gruBackwardStep(gd, gdH, dbhn, gdhNext, ggates, ghs, hn, gdhs, B, H, t);
      outputs.push(...([ghs, hn, ggates, gd, gdH, dbhn, gdhNext] as Float32Array[]));
      // rnn
      const [rhs, rgates, rd, rdhs, rdhNext] = [buf((T + 1) * n), buf(T * n, 4), buf(T * n), buf(T * n), buf(n)];
      for (let t = 0; t < T; t++) k.rnnForwardStep(rhs, rgates, B, H, t);
      for (let t = T - 1; t >= 0; t--) k.rnnBackwardStep(rd, rgates, rdhs, rdhNext, B, H, t);
      outputs.push(...([rhs, rgates, rd] as Float32Array[]));
      return outputs;
    };
    const expected = run(createNativeKernels({ threads: 1 }));
    for (const threads of [2, 3]) {
      const got = run(createNativeKernels({ threads, adaptive: false }));
      got.forEach((a, i) => expect(a, `${threads} threads, output ${i}`).toEqual(expected[i]));
    }
  });
});

describe.skipIf(!available)('native element-wise kernels against the float64 reference', () => {
  const sizes: Array<[number, number]> = [[3, 8], [2, 5], [4, 13], [1, 1], [5, 130], [2, 67]]; // [B, H], ragged vector tails
  for (const isa of available ? nativeIsas() : []) {
    const k = createNativeKernels({ isa });

    it(`${isa}: lstm, gru and rnn steps forward and backward`, () => {
      const random = createRandom(`cells-${isa}`);
      for (const [B, H] of sizes) {
        const n = B * H, T = 3;
        // lstm
        {
          const G = 4 * H;
          const [hs, hsR] = pair(k, ref, (T + 1) * n, random, 1);
          const [cs, csR] = pair(k, ref, (T + 1) * n, random, 2);
          const [tanhC, tanhCR] = pair(k, ref, T * n, random);
          const [gates, gatesR] = pair(k, ref, T * B * G, random, 6);
          for (let t = 0; t < T; t++) {
            k.lstmForwardStep(hs, cs, tanhC, gates, B, H, t);
            ref.lstmForwardStep(hsR, csR, tanhCR, gatesR, B, H, t);
          }
          expectClose(gates, gatesR, 'lstm gates'); expectClose(cs, csR, 'cs'); expectClose(tanhC, tanhCR, 'tanhC'); expectClose(hs, hsR, 'hs');
          const [dgates, dgatesR] = pair(k, ref, T * B * G, random);
          const [dcNext, dcNextR] = pair(k, ref, n, random);
          const [dhs, dhsR] = pair(k, ref, T * n, random);
          const [dhNext, dhNextR] = pair(k, ref, n, random);
          for (let t = T - 1; t >= 0; t--) {
            k.lstmBackwardStep(dgates, dcNext, gates, cs, tanhC, dhs, dhNext, B, H, t);
            ref.lstmBackwardStep(dgatesR, dcNextR, gatesR, csR, tanhCR, dhsR, dhNextR, B, H, t);
          }
          expectClose(dgates, dgatesR, 'lstm dgates'); expectClose(dcNext, dcNextR, 'dcNext');
        }
        // gru
        {
          const G = 3 * H;
          const [hs, hsR] = pair(k, ref, (T + 1) * n, random, 1);
          const [hn, hnR] = pair(k, ref, T * n, random);
          const [gates, gatesR] = pair(k, ref, T * B * G, random, 5);
          const [hProj, hProjR] = pair(k, ref, B * G, random, 2);
          const [bhn, bhnR] = pair(k, ref, H, random, 1);
          for (let t = 0; t < T; t++) {
            k.gruForwardStep(hs, hn, gates, hProj, bhn, B, H, t);
            ref.gruForwardStep(hsR, hnR, gatesR, hProjR, bhnR, B, H, t);
          }
          expectClose(gates, gatesR, 'gru gates'); expectClose(hn, hnR, 'hn'); expectClose(hs, hsR, 'gru hs');
          const [dgates, dgatesR] = pair(k, ref, T * B * G, random);
          const [dgatesH, dgatesHR] = pair(k, ref, T * B * G, random);
          const [dbhn, dbhnR] = pair(k, ref, H, random);
          const [dhNext, dhNextR] = pair(k, ref, n, random);
          const [dhs, dhsR] = pair(k, ref, T * n, random);
          for (let t = T - 1; t >= 0; t--) {
            k.gruBackwardStep(dgates, dgatesH, dbhn, dhNext, gates, hs, hn, dhs, B, H, t);
            ref.gruBackwardStep(dgatesR, dgatesHR, dbhnR, dhNextR, gatesR, hsR, hnR, dhsR, B, H, t);
          }
          expectClose(dgates, dgatesR, 'gru dgates'); expectClose(dgatesH, dgatesHR, 'dgatesH');
          expectClose(dbhn, dbhnR, 'dbhn'); expectClose(dhNext, dhNextR, 'gru dhNext');
        }
        // rnn
        {
          const [hs, hsR] = pair(k, ref, (T + 1) * n, random);
          const [gates, gatesR] = pair(k, ref, T * n, random, 4);
          for (let t = 0; t < T; t++) {
            k.rnnForwardStep(hs, gates, B, H, t);
            ref.rnnForwardStep(hsR, gatesR, B, H, t);
          }
          expectClose(hs, hsR, 'rnn hs');
          const [dgates, dgatesR] = pair(k, ref, T * n, random);
          const [dhs, dhsR] = pair(k, ref, T * n, random);
          const [dhNext, dhNextR] = pair(k, ref, n, random);
          k.rnnBackwardStep(dgates, gates, dhs, dhNext, B, H, 1);
          ref.rnnBackwardStep(dgatesR, gatesR, dhsR, dhNextR, B, H, 1);
          expectClose(dgates, dgatesR, 'rnn dgates');
        }
      }
    });

    it(`${isa}: tanh and σ over their whole range, tiny to saturated`, () => {
      const n = 4001;
      const gates = k.alloc(n), gatesR = ref.alloc(n);
      for (let i = 0; i < n; i++) gates[i] = gatesR[i] = Math.fround(Math.sign(i - 2000) * 1e-6 * Math.pow(1.0085, Math.abs(i - 2000)));
      const lstm = k.alloc(4 * n), lstmR = ref.alloc(4 * n);
      lstm.set(gates, 0); lstmR.set(gatesR, 0); // the i gate: σ
      k.rnnForwardStep(k.alloc(2 * n), gates, 1, n, 0);
      ref.rnnForwardStep(ref.alloc(2 * n), gatesR, 1, n, 0);
      k.lstmForwardStep(k.alloc(2 * n), k.alloc(2 * n), k.alloc(n), lstm, 1, n, 0);
      ref.lstmForwardStep(ref.alloc(2 * n), ref.alloc(2 * n), ref.alloc(n), lstmR, 1, n, 0);
      for (let i = 0; i < n; i++) {
        // relative to the value itself: near 0 tanh(x) ≈ x must keep its digits
        expect(Math.abs(gates[i] - gatesR[i]), `tanh(${gatesR[i]})`).toBeLessThanOrEqual(3e-7 * Math.abs(gatesR[i]) + 1e-45);
        expect(Math.abs(lstm[i] - lstmR[i]), `σ at ${i}`).toBeLessThanOrEqual(6e-7 * Math.abs(lstmR[i]) + 1e-38);
      }
    });

    it(`${isa}: row lookup, bias rows, row sums, scatter, products, sums`, () => {
      const random = createRandom(`rows-${isa}`);
      for (const [N, G] of [[7, 12], [5, 9], [3, 1], [50, 65], [4, 200]]) {
        const V = 11;
        const [ids, idsR] = idPair(k, ref, N, random, V);
        const [W, WR] = pair(k, ref, V * G, random);
        const [bias, biasR] = pair(k, ref, G, random);
        const [out, outR] = pair(k, ref, N * G, random);
        k.embedRows(out, N, G, ids, W, bias); ref.embedRows(outR, N, G, idsR, WR, biasR);
        expectClose(out, outR, 'embedRows');
        k.addBiasRows(out, N, G, bias); ref.addBiasRows(outR, N, G, biasR);
        expectClose(out, outR, 'addBiasRows');
        const [db, dbR] = pair(k, ref, G, random);
        k.sumRows(db, out, N, G); ref.sumRows(dbR, outR, N, G);
        expectClose(db, dbR, 'sumRows');
        k.scatterAddRows(W, ids, out, N, G); ref.scatterAddRows(WR, idsR, outR, N, G);
        expectClose(W, WR, 'scatterAddRows');
        const m = Math.min(N, V) * G;
        k.multiplyInPlace(out, W, m); ref.multiplyInPlace(outR, WR, m);
        expectClose(out, outR, 'multiplyInPlace');
        k.addInPlace(out, out, N * G); ref.addInPlace(outR, outR, N * G);
        expectClose(out, outR, 'addInPlace');
      }
    });

    it(`${isa}: softmax cross-entropy and its gradient`, () => {
      const random = createRandom(`softmax-${isa}`);
      for (const [N, V] of [[9, 65], [4, 3], [2, 1], [30, 256], [3, 17]]) {
        const [logits, logitsR] = pair(k, ref, N * V, random, 20);
        const [targets, targetsR] = idPair(k, ref, N, random, V);
        const loss = k.softmaxCrossEntropy(logits, targets, N, V);
        const lossR = ref.softmaxCrossEntropy(logitsR, targetsR, N, V);
        expect(Math.abs(loss - lossR)).toBeLessThan(1e-5 * (1 + lossR));
        expectClose(logits, logitsR, 'probabilities');
        k.softmaxCrossEntropyBackward(logits, targets, N, V, 1 / N);
        ref.softmaxCrossEntropyBackward(logitsR, targetsR, N, V, 1 / N);
        expectClose(logits, logitsR, 'dlogits');
      }
    });
  }
});

describe.skipIf(!available)('the sampler\'s weights: Math.exp and weigh to the bit', () => {
  for (const isa of available ? nativeIsas() : []) {
    const k = createNativeKernels({ isa, exact: true });

    it(`${isa}: expRow64 is Math.exp on every argument (ranges, tiny, huge, raw bit patterns, the special cases)`, () => {
      const random = createRandom(`exp-${isa}`);
      const n = 1 << 16;
      const x = new Float64Array(n), out = new Float64Array(n), words = new Uint32Array(x.buffer);
      const kinds = [
        () => -random() * 40,                                  // the sampler's: logit − max over a temperature
        () => (random() - 0.5) * 1500,                          // past both thresholds (±709.78, −745.13)
        () => (random() - 0.5) * 2 ** (-60 * random()),         // |x| < 2^-28 and around ln2/2, 1.5·ln2
        () => -708 - random() * 38,                             // results below 2^-1022 (subnormal)
      ];
      let checked = 0;
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < n; i++) x[i] = round < 4 ? kinds[round]() : 0;
        if (round === 4) for (let i = 0; i < 2 * n; i++) words[i] = (random() * 2 ** 32) >>> 0; // any double
        const specials = [0, -0, 1, -1, Infinity, -Infinity, NaN, 709.78, 709.79, -745.13, -745.14, -708.4, Math.LN2 / 2,
          -Math.LN2 / 2, 1.5 * Math.LN2, -1.5 * Math.LN2, 2 ** -28, -(2 ** -28), 2 ** -29, 704, -704, 1e-300];
        x.set(specials);
        k.expRow64(x, out, n);
        for (let i = 0; i < n; i++) {
          if (!Object.is(out[i], Math.exp(x[i]))) throw new Error(`exp(${x[i]}): ${out[i]}, Math.exp ${Math.exp(x[i])}`);
        }
        checked += n;
      }
      expect(checked).toBe(5 * n);
    });

    it(`${isa}: weighRows gives weigh's weights, sum, argmax and normaliser, with and without top-k and top-p`, () => {
      const random = createRandom(`weigh-${isa}`);
      for (const V of [2, 5, 54, 65, 257]) {
        const rows = 10;
        const logits = k.alloc(rows * V);
        for (let r = 0; r < rows; r++) {
          // equal logits, near-ties, a confident row, a far tail; row 9 takes few values (ties at the top-k edge)
          const spread = [0, 1e-6, 0.5, 8, 40, 1e4][r % 6];
          for (let v = 0; v < V; v++) {
            logits[r * V + v] = r === 9 ? [1, 2, 2, 3][v % 4] : Math.fround((random() - 0.5) * spread + (r === 7 ? 30 : 0));
          }
        }
        logits[8 * V + (V >> 1)] = NaN; // a broken row: weighed the same way, or (under top-k, top-p) left to weigh
        const cuts: Array<[number, number]> = [[V, 1], [2, 1], [Math.ceil(V / 3), 1], [V, 0.9], [V, 0.3], [Math.ceil(V / 2), 0.7], [V, 1e-9]];
        // a p whose nucleus at temperature 1 ends within keepNucleus's slack of the target (row 3's two likeliest
        // make 1 - 5e-7 of p): a different slack gives a different nucleus there
        if (V > 2) {
          const weights = new Float64Array(V), w = weighed();
          weigh(logits, 3 * V, V, 1, V, 1, weights, null, false, w);
          const [first, second] = [...weights].sort((a, b) => b - a);
          cuts.push([V, (first + second) / w.sum / (1 - 5e-7)]);
        }
        for (const [topK, topP] of cuts) {
          if (topK < 2) continue;
          for (const temperature of [1, 0.8, 0.05, 2.5, 1e-7]) {
            for (const scored of [false, true]) {
              const probs = new Float64Array(rows * V), stats = new Float64Array(4 * rows);
              k.weighRows(logits, rows, V, temperature, topK, topP, scored, probs, stats);
              const expected = new Float64Array(V), order = new Int32Array(V), w = weighed();
              for (let r = 0; r < rows; r++) {
                const what = `V ${V}, top-k ${topK}, top-p ${topP}, T ${temperature}, ${scored ? 'scored' : 'unscored'}, row ${r}`;
                if (r === 8 && (topK < V || topP < 1)) {
                  expect(stats[4 * r], what).toBe(-1);
                  continue;
                }
                weigh(logits, r * V, V, temperature, topK, topP, expected, order, scored, w);
                expect(probs.subarray(r * V, (r + 1) * V), what).toEqual(expected);
                expect([stats[4 * r], stats[4 * r + 1], stats[4 * r + 2]], what).toEqual([w.best, w.max, w.sum]);
                if (scored) expect(Math.log(stats[4 * r + 3]), what).toBe(w.logNorm);
              }
            }
          }
        }
      }
    });
  }
});

describe.skipIf(!available)('the sampler\'s row gather', () => {
  it('copies rows by index (repeated, reordered, offset) and refuses rows or ranges past the buffers', () => {
    const k = createNativeKernels({ exact: true });
    const random = createRandom('gather');
    const [width, srcRows] = [37, 9];
    const src = k.alloc(5 + srcRows * width), dst = k.alloc(3 + 12 * width);
    fill(src, random); fill(dst, random);
    const rows = Int32Array.from([4, 4, 0, 8, 3, 3, 3, 1, 8, 2]);
    const expected = Float32Array.from(dst);
    rows.forEach((row, r) => expected.set(src.subarray(5 + row * width, 5 + (row + 1) * width), 3 + r * width));
    k.gatherRows(src, 5, dst, 3, rows, rows.length, width);
    expect(dst).toEqual(expected);
    expect(() => k.gatherRows(src, 5, dst, 3, Int32Array.from([srcRows]), 1, width)).toThrow(/outside/);
    expect(() => k.gatherRows(src, 5, dst, 3 + 11 * width, rows, 2, width)).toThrow(/outside/);
    expect(() => k.gatherRows(src, src.length, dst, 0, rows, 1, width)).toThrow(/outside/);
  });
});

describe.skipIf(!available)('native kernels: buffers and argument checks', () => {
  const k = available ? createNativeKernels() : (undefined as unknown as NativeKernels);

  it('hands out zero-filled Float32Arrays starting on 64-byte boundaries', () => {
    for (const length of [0, 1, 17, 1000]) {
      const a = k.alloc(length);
      expect(a).toBeInstanceOf(Float32Array);
      expect(a.length).toBe(length);
      expect(a.every((x) => x === 0)).toBe(true);
    }
    expect(k.precision).toBe('f32');
    expect(k.name).toMatch(/^native-(avx512|avx2|scalar)$/);
  });

  it('refuses arrays of the wrong type, operands past the end and ids out of range', () => {
    const A = k.alloc(16), B = k.alloc(16), C = k.alloc(16);
    expect(() => k.gemmNN(4, 4, 4, new Float64Array(16), 0, 4, B, 0, 4, C, 0, 4, false)).toThrow(/A is not a Float32Array/);
    expect(() => k.gemmNN(4, 4, 4, A, 1, 4, B, 0, 4, C, 0, 4, false)).toThrow(/A \(elements 1 … 16\) lies outside its 16-element buffer/);
    expect(() => k.gemmNN(4, 5, 4, A, 0, 4, B, 0, 4, C, 0, 4, false)).toThrow(/outside/);
    expect(() => k.gemmTN(4, 4, 5, A, 0, 4, B, 0, 4, C, 0, 4, false)).toThrow(/outside/);
    expect(() => k.gemmPacked(4, 4, 4, A, 0, 4, k.alloc(8), C, 0, 4, false)).toThrow(/packed/);
    expect(() => k.lstmForwardStep(k.alloc(8), k.alloc(8), k.alloc(4), k.alloc(16), 2, 2, 1)).toThrow(/outside/);
    const out = k.alloc(6), W = k.alloc(6), bias = k.alloc(3);
    expect(() => k.embedRows(out, 2, 3, Int32Array.from([1, 2]), W, bias)).toThrow(/ids\[1\] = 2 is outside 0 … 1/);
    expect(() => k.softmaxCrossEntropy(k.alloc(6), Int32Array.from([0, 3]), 2, 3)).toThrow(/targets/);
    expect(() => k.scatterAddRows(W, Int32Array.from([-1, 0]), out, 2, 3)).toThrow(/ids\[0\] = -1/);
    // nothing was written by the refused calls
    expect([...out, ...W]).toEqual(new Array(12).fill(0));
    W.set([1, 2, 3, 4, 5, 6]);
    k.embedRows(out, 2, 3, Int32Array.from([1, 0]), W, bias);
    expect([...out]).toEqual([4, 5, 6, 1, 2, 3]);
  });
});

describe.skipIf(!available)('native kernels and subnormal floats', () => {
  it('flush them to zero inside their calls by default, keep them when asked, and leave JavaScript arithmetic alone', () => {
    for (const flushSubnormals of [true, false]) {
      const k = createNativeKernels({ flushSubnormals });
      const A = k.alloc(1), B = k.alloc(1), C = k.alloc(1);
      A[0] = 1e-20; B[0] = 1e-20; // the product, 1e-40, is below float32's smallest normal (1.2e-38)
      k.gemmNN(1, 1, 1, A, 0, 1, B, 0, 1, C, 0, 1, false);
      if (flushSubnormals) expect(C[0]).toBe(0);
      else expect(C[0]).toBe(Math.fround(1e-40));
      // the caller's floating-point mode is restored: a float64 subnormal still survives arithmetic here
      const tiny = [Number.MIN_VALUE * 2 ** 20, 1.5];
      expect(tiny[0]! * tiny[1]!).toBeGreaterThan(0);
    }
  });
});

const TEXT = Array.from({ length: 80 }, (_, i) => `${i} quick brown foxes ${i % 3 ? 'jump' : 'nap'} over ${i % 5} lazy dogs\n`).join('');

function runOptions(cell: CellType, kernels: Kernels): NewRunOptions {
  return {
    corpus: corpusFromText(TEXT),
    model: { cell, hiddenSize: 16, layers: 2, dropout: 0.1 },
    training: {
      batchSize: 6, seqLength: 12, optimizer: 'adagrad', lr: 0.05, gradClip: 5, lrDecay: 1, lrDecayAfter: 10,
      valFrac: 0.1, evalEvery: 100, valBatches: 0, seed: 11,
    },
    runName: 'native', corpusName: 'foxes', kernels, threads: 1,
  };
}

describe.skipIf(!available)('training on the native kernels', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell} 2×16: the losses of training on the WebAssembly kernels within float32 rounding; 2 threads give the same bits`, () => {
      const native = TrainingRun.create(runOptions(cell, createNativeKernels()));
      const twoThreads = TrainingRun.create(runOptions(cell, createNativeKernels({ threads: 2, adaptive: false })));
      const wasm = TrainingRun.create(runOptions(cell, defaultKernels()));
      try {
        for (let i = 0; i < 20; i++) {
          const a = native.step(), b = wasm.step(), c = twoThreads.step();
          expect(Math.abs(a.loss - b.loss), `iteration ${i + 1}`).toBeLessThan(1e-4 * b.loss);
          expect(Math.abs(a.gradNorm - b.gradNorm), `iteration ${i + 1}`).toBeLessThan(1e-3 * b.gradNorm);
          expect(c.loss, `iteration ${i + 1}`).toBe(a.loss);
        }
        expect(twoThreads.net.params).toEqual(native.net.params);
        expect(twoThreads.threads).toBe(2);
      } finally {
        wasm.close();
      }
    });
  }
});

describe('kernel choice for training (CHARNN_KERNELS)', () => {
  function withKernelsEnv<T>(value: string | undefined, body: () => T): T {
    const saved = process.env.CHARNN_KERNELS;
    if (value === undefined) delete process.env.CHARNN_KERNELS;
    else process.env.CHARNN_KERNELS = value;
    try {
      return body();
    } finally {
      if (saved === undefined) delete process.env.CHARNN_KERNELS;
      else process.env.CHARNN_KERNELS = saved;
    }
  }

  it('trains on native kernels when built, else on the WebAssembly ones; sampling stays on WebAssembly', () => {
    const auto = withKernelsEnv(undefined, () => trainingKernels(2));
    expect(auto.name).toMatch(available ? /^native-/ : /^wasm-/);
    expect(withKernelsEnv('native', () => defaultKernels()).name).toMatch(/^wasm-/);
  });

  it('honours wasm and reference, and refuses other values in one sentence', () => {
    expect(withKernelsEnv('wasm', () => trainingKernels(2)).name).toMatch(/^wasm-/);
    expect(withKernelsEnv('reference', () => trainingKernels(2)).name).toBe('reference-f32');
    expect(() => withKernelsEnv('fast', () => trainingKernels(2))).toThrow(CharnnError);
    if (!available) expect(() => withKernelsEnv('native', () => trainingKernels(2))).toThrow(/CHARNN_KERNELS=native/);
  });
});

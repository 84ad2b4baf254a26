// The native kernels' exact mode against the WebAssembly plain-SIMD build, to the bit: loaded models in Node run
// their forward passes (products, forward cell steps, row lookups) on it (node/platform.ts), and a seeded sample
// must stay the text a page makes. Also that the plain-SIMD build itself gives every row of a product the bits of
// that row alone (what lets a stream of sampleMany be the single sample of its seed), and that the fused native
// mode does differ (so the exact one is not FMA in disguise). Skipped, with a message, where the addon was not built.

import { describe, expect, it } from 'vitest';
import { createWasmKernels, wasmSimdAvailable } from '../src/core/kernels/wasm.js';
import { withFusedKernels } from '../src/core/kernels/wasm-fused.js';
import type { Kernels } from '../src/core/kernels/types.js';
import { createRandom } from '../src/core/random.js';
import { createNativeKernels, nativeIsas, nativeKernelsAvailable, nativeUnavailableReason, withNativeExact } from '../src/node/native/index.js';
import '../src/node/platform.js';
import { defaultKernels } from '../src/core/platform.js';
import { createNetwork, freezeWeights, initParams, type CellType, type Network } from '../src/core/model.js';
import { makeVocab } from '../src/core/data/corpus.js';
import { sampleIds, sampleMany, streamSeed } from '../src/core/sample.js';

const available = nativeKernelsAvailable() && wasmSimdAvailable({ shared: true });
if (!available) console.warn(`skipping the exact native kernel tests: ${nativeUnavailableReason() ?? 'no WebAssembly SIMD'}`);

type Form = 'NN' | 'NT' | 'TN' | 'Packed';

// Operands in buffers made once (WebAssembly buffers are never freed) and large enough for every shape below;
// both kernel sets under test allocate from the same WebAssembly memory, so one set of buffers serves both.
const MAX = { A: 200 * 520, B: 2048 * 520, C: 200 * 2048 };
let operands: { A: Float32Array; B: Float32Array; C: Float32Array; packed: Float32Array } | undefined;

/** C after one product on `k`, from the same seeded operands (values of mixed magnitude, so roundings differ). */
function product(k: Kernels, form: Form, M: number, N: number, K: number, accumulate: boolean, seed: string): Float32Array {
  const own = k.name.startsWith('native');
  const buffers = own
    ? { A: k.alloc(M * K) as Float32Array, B: k.alloc(K * N) as Float32Array, C: k.alloc(M * N) as Float32Array, packed: k.alloc(k.packedSize(K, N)) as Float32Array }
    : (operands ??= { A: k.alloc(MAX.A) as Float32Array, B: k.alloc(MAX.B) as Float32Array, C: k.alloc(MAX.C) as Float32Array, packed: k.alloc(MAX.B + 2048 * 64) as Float32Array });
  const { A, B, C, packed } = buffers;
  const random = createRandom(seed);
  const fill = (a: Float32Array, n: number) => {
    for (let i = 0; i < n; i++) a[i] = Math.fround((random() * 2 - 1) * 2 ** Math.floor(random() * 8 - 4));
  };
  fill(A, M * K);
  fill(B, K * N);
  fill(C, M * N);
  if (form === 'NN') k.gemmNN(M, N, K, A, 0, K, B, 0, N, C, 0, N, accumulate);
  else if (form === 'NT') k.gemmNT(M, N, K, A, 0, K, B, 0, K, C, 0, N, accumulate);
  else if (form === 'TN') k.gemmTN(M, N, K, A, 0, M, B, 0, N, C, 0, N, accumulate);
  else {
    if (k.packedSize(K, N) > packed.length) throw new Error(`the packed buffer is too small for ${K}×${N}`);
    k.packB(packed, B, K, N, false);
    k.gemmPacked(M, N, K, A, 0, K, packed, C, 0, N, accumulate);
  }
  return C.slice(0, M * N);
}

/** Indices where a and b differ in any bit. */
function differences(a: Float32Array, b: Float32Array): number[] {
  const x = new Uint32Array(a.buffer), y = new Uint32Array(b.buffer);
  const out: number[] = [];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) out.push(i);
  return out;
}

const wasm = available ? withFusedKernels(createWasmKernels({ fma: 'off', shared: true })) : undefined;

describe.skipIf(!available)('native exact mode: the bits of the WebAssembly plain-SIMD products', () => {
  const shapes = [
    [1, 512, 128], [1, 65, 128], [1, 2048, 512], [2, 54, 300], [3, 96, 7], [4, 512, 256], [5, 40, 257],
    [7, 33, 64], [13, 512, 128], [50, 65, 128], [64, 512, 128], [200, 512, 300], [126, 96, 520],
  ];
  for (const isa of available ? nativeIsas() : []) {
    for (const threads of [1, 2]) {
      it(`${isa}, ${threads} thread${threads > 1 ? 's' : ''}: every form, shape and accumulate flag`, () => {
        const hybrid = withNativeExact(wasm!, createNativeKernels({ isa, threads, adaptive: false, exact: true }));
        let compared = 0;
        for (const [M, N, K] of shapes) {
          for (const form of ['NN', 'NT', 'TN', 'Packed'] as const) {
            for (const accumulate of [false, true]) {
              const seed = `${form}-${M}-${N}-${K}-${accumulate}`;
              const expected = product(wasm!, form, M, N, K, accumulate, seed);
              const got = product(hybrid, form, M, N, K, accumulate, seed);
              const diff = differences(expected, got);
              if (diff.length > 0) throw new Error(`${form} ${M}×${N}×${K} accumulate ${accumulate}: ${diff.length} elements differ, first at ${diff[0]}: ${expected[diff[0]]} vs ${got[diff[0]]}`);
              compared += got.length;
            }
          }
        }
        expect(compared).toBeGreaterThan(1_000_000);
      });
    }
  }

  it('the fused native mode rounds differently (the exact mode is not FMA under another name)', () => {
    const exact = withNativeExact(wasm!, createNativeKernels({ threads: 1, adaptive: false, exact: true }));
    const fma = createNativeKernels({ threads: 1, adaptive: false, exact: false, flushSubnormals: false });
    const expected = product(wasm!, 'NN', 64, 512, 300, true, 'fma');
    expect(differences(expected, product(exact, 'NN', 64, 512, 300, true, 'fma'))).toEqual([]);
    expect(differences(expected, product(fma, 'NN', 64, 512, 300, true, 'fma')).length).toBeGreaterThan(100);
  });

  it('loaded models in Node run on it (unless CHARNN_KERNELS asks for WebAssembly alone)', () => {
    const expected = process.env.CHARNN_KERNELS === 'wasm' || process.env.CHARNN_KERNELS === 'reference' ? /^(wasm-simd|reference-f32)$/ : /^wasm-simd\+native-\w+-exact$/;
    expect(defaultKernels().name).toMatch(expected);
  });
});

describe.skipIf(!available)('native exact mode: the forward cells and row kernels of the plain-SIMD build, to the bit', () => {
  const cellCases = [[7, 37], [1, 128], [64, 128], [3, 300]];
  for (const isa of available ? nativeIsas() : []) {
    it(`${isa}: lstm, gru and rnn forward steps, row lookups and bias adds on pre-activations from -100 to 100`, () => {
      for (const threads of [1, 2]) {
        const hybrid = withNativeExact(wasm!, createNativeKernels({ isa, threads, adaptive: false, exact: true }));
        for (const [B, H] of cellCases) {
          const T = 2, t = 1;
          const random = createRandom(`cells-${isa}-${B}-${H}`);
          const value = () => Math.fround((random() * 2 - 1) * (random() < 0.2 ? 100 : random() < 0.5 ? 4 : 0.3));
          // each kernel runs on both sets from the same inputs; every buffer it touches is compared
          const run = (sizes: number[], step: (k: Kernels, bufs: Float32Array[]) => void, what: string) => {
            const inputs = sizes.map((n) => Float32Array.from({ length: n }, value));
            const outs = [wasm!, hybrid].map((k) => {
              const bufs = inputs.map((x) => {
                const b = k.alloc(x.length) as Float32Array;
                b.set(x);
                return b;
              });
              step(k, bufs);
              return bufs.map((b) => Float32Array.from(b));
            });
            outs[0].forEach((expected, i) => {
              const diff = differences(expected, outs[1][i]);
              if (diff.length > 0) throw new Error(`${what} B ${B} H ${H}, ${threads} threads: buffer ${i} differs at ${diff.length} places, first ${diff[0]}: ${expected[diff[0]]} vs ${outs[1][i][diff[0]]}`);
            });
          };
          run([(T + 1) * B * H, (T + 1) * B * H, T * B * H, T * B * 4 * H], (k, [hs, cs, tanhC, gates]) => k.lstmForwardStep(hs, cs, tanhC, gates, B, H, t), 'lstm');
          run([(T + 1) * B * H, T * B * H, T * B * 3 * H, B * 3 * H, H], (k, [hs, hn, gates, hProj, bhn]) => k.gruForwardStep(hs, hn, gates, hProj, bhn, B, H, t), 'gru');
          run([(T + 1) * B * H, T * B * H], (k, [hs, gates]) => k.rnnForwardStep(hs, gates, B, H, t), 'rnn');
          const rows = 9, G = 4 * H;
          run([rows * G, 5 * G, G], (k, [out, W, bias]) => {
            const ids = k.allocIds(rows);
            for (let r = 0; r < rows; r++) ids[r] = (r * 3) % 5;
            k.embedRows(out, rows, G, ids, W, bias);
          }, 'embedRows');
          run([rows * G, G], (k, [out, bias]) => k.addBiasRows(out, rows, G, bias), 'addBiasRows');
        }
      }
      expect(nativeIsas()).toContain(isa);
    });
  }
});

describe.skipIf(!wasmSimdAvailable({ shared: true }))('the plain-SIMD build: a row of a product is that row alone', () => {
  it('gives each row of an M-row product (M ragged against the 5-row tiles, K past a 256 slab, accumulating) the bits of the 1-row product', () => {
    const k = withFusedKernels(createWasmKernels({ fma: 'off', shared: true }));
    for (const [M, N, K] of [[64, 512, 128], [7, 65, 300], [203, 33, 520]]) {
      const random = createRandom(`rows-${M}`);
      const fill = (n: number) => {
        const a = k.alloc(n);
        for (let i = 0; i < n; i++) a[i] = Math.fround((random() * 2 - 1) * 2 ** Math.floor(random() * 8 - 4));
        return a;
      };
      const A = fill(M * K), B = fill(K * N), C0 = fill(M * N);
      const C = k.alloc(M * N);
      C.set(C0);
      k.gemmNN(M, N, K, A, 0, K, B, 0, N, C, 0, N, true);
      const row = k.alloc(N);
      for (let i = 0; i < M; i++) {
        row.set(C0.subarray(i * N, (i + 1) * N));
        k.gemmNN(1, N, K, A, i * K, K, B, 0, N, row, 0, N, true);
        const diff = differences(Float32Array.from(C.subarray(i * N, (i + 1) * N)), Float32Array.from(row));
        if (diff.length > 0) throw new Error(`${M}×${N}×${K}: row ${i} differs in ${diff.length} columns, first ${diff[0]}`);
      }
    }
  });
});

const vocab = makeVocab([...'\n ,.abcdefghijklmnopqrstuvwxyz']);

function randomNet(kernels: Kernels, cell: CellType, layers: number, hiddenSize: number): Network {
  const net = createNetwork(kernels, { cell, vocabSize: vocab.symbols.length, hiddenSize, layers, dropout: 0 });
  const random = createRandom(`exact-${cell}`);
  initParams(net, random);
  for (let i = 0; i < net.params.length; i++) net.params[i] = Math.fround(net.params[i] * 3); // a confident model
  return net;
}

describe.skipIf(!available)('sampling on the native products: the text of the plain-SIMD build', () => {
  for (const [cell, layers, H] of [['lstm', 2, 128], ['gru', 2, 64], ['rnn', 3, 96], ['lstm', 1, 300]] as const) {
    it(`${cell} ${layers}×${H}: one stream of 3,000 characters and 40 streams side by side`, () => {
      const hybrid = withNativeExact(wasm!, createNativeKernels({ threads: 2, adaptive: false, exact: true }));
      const a = randomNet(wasm!, cell, layers, H);
      const b = randomNet(hybrid, cell, layers, H);
      const options = { length: 3000, temperature: 1, seed: 11, prime: 'the ' };
      const one = [...sampleIds(a, vocab, options)];
      expect([...sampleIds(b, vocab, options)]).toEqual(one);
      expect(new Set(one).size).toBeGreaterThan(10); // a sample, not one character over and over
      const many = { length: 60, temperature: 0.9, seed: 5, numSamples: 40, stop: '.' };
      const expected = sampleMany(a, vocab, many);
      const got = sampleMany(b, vocab, many);
      expect(got.map((s) => s.ids)).toEqual(expected.map((s) => s.ids));
      expect(got.map((s) => s.logprob)).toEqual(expected.map((s) => s.logprob));
      // top-k and top-p: the native weights sort and cut as weigh does
      for (const cut of [{ topK: 7 }, { topP: 0.8 }, { topK: 12, topP: 0.6 }]) {
        const single = { ...options, ...cut, length: 800 };
        expect([...sampleIds(b, vocab, single)], JSON.stringify(cut)).toEqual([...sampleIds(a, vocab, single)]);
        const side = { ...many, ...cut };
        const mine = sampleMany(b, vocab, side), theirs = sampleMany(a, vocab, side);
        expect(mine.map((s) => s.ids), JSON.stringify(cut)).toEqual(theirs.map((s) => s.ids));
        expect(mine.map((s) => s.logprob), JSON.stringify(cut)).toEqual(theirs.map((s) => s.logprob));
      }
    });
  }
});

describe.skipIf(!wasm)('a frozen network (weights packed once): the same text, to the bit', () => {
  const kernelSets = (): Array<[string, Kernels]> => [
    ['wasm', wasm!],
    ...(available ? [['native exact', withNativeExact(wasm!, createNativeKernels({ threads: 2, adaptive: false, exact: true }))] as [string, Kernels]] : []),
  ];
  for (const [cell, layers, H] of [['lstm', 2, 128], ['gru', 2, 64], ['rnn', 3, 96]] as const) {
    it(`${cell} ${layers}×${H}: single samples and 40 streams side by side equal the unfrozen network's, and each stream its seed's single sample`, () => {
      const plain = randomNet(wasm!, cell, layers, H);
      const options = { length: 400, temperature: 1, seed: 11, prime: 'the ' };
      const many = { length: 60, temperature: 0.9, seed: 5, numSamples: 40, stop: '.' };
      const one = [...sampleIds(plain, vocab, options)];
      const expected = sampleMany(plain, vocab, many);
      for (const [, kernels] of kernelSets()) {
        const frozen = randomNet(kernels, cell, layers, H);
        freezeWeights(frozen);
        expect([...sampleIds(frozen, vocab, options)]).toEqual(one);
        const got = sampleMany(frozen, vocab, many);
        expect(got.map((s) => s.ids)).toEqual(expected.map((s) => s.ids));
        expect(got.map((s) => s.logprob)).toEqual(expected.map((s) => s.logprob));
        for (const i of [0, 7, 39]) {
          const single = [...sampleIds(frozen, vocab, { length: 60, temperature: 0.9, stop: '.', seed: streamSeed(5, i) })];
          expect(got[i].ids).toEqual(single);
        }
      }
    });
  }
});

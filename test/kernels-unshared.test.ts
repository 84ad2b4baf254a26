// The WebAssembly kernels over a plain (non-shared) memory, as a page that is not cross-origin isolated runs them:
// the same modules minus the threads feature, so the same arithmetic: a training run and a sample on them must
// equal, bit for bit, the same run on the shared memory. And a plain memory must keep its views valid as it grows.

import '../src/node/platform.js';
import { describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { createWasmKernels, wasmRelaxedSimdAvailable, wasmSimdAvailable } from '../src/core/kernels/wasm.js';
import { withFusedKernels } from '../src/core/kernels/wasm-fused.js';
import { corpusFromText } from '../src/core/data/corpus.js';
import { sampleIds } from '../src/core/sample.js';
import { TrainingRun } from '../src/core/train.js';
import type { Kernels } from '../src/core/kernels/types.js';
import { defaultKernels, trainingKernels } from '../src/core/platform.js';
import { nativeKernelsAvailable } from '../src/node/native/index.js';

if (/^v20\./.test(process.version)) setFlagsFromString('--experimental-wasm-relaxed-simd');
const builds = wasmRelaxedSimdAvailable() ? (['off', 'auto'] as const) : (['off'] as const);
const available = wasmSimdAvailable({ shared: false });

const TEXT = 'the quick brown fox jumps over the lazy dog. '.repeat(40);

function run(kernels: Kernels, cell: 'lstm' | 'gru' | 'rnn'): TrainingRun {
  return TrainingRun.create({
    corpus: corpusFromText(TEXT),
    model: { cell, hiddenSize: 24, layers: 2, dropout: 0.1 },
    training: {
      batchSize: 4, seqLength: 16, optimizer: 'adagrad', lr: 0.05, gradClip: 5, lrDecay: 1, lrDecayAfter: 10,
      valFrac: 0.1, evalEvery: 100, valBatches: 0, seed: 3,
    },
    runName: 'unshared', corpusName: 'foxes', kernels, threads: 1,
  });
}

describe.skipIf(!available)('wasm kernels over a plain memory', () => {
  for (const fma of builds) {
    for (const cell of ['lstm', 'gru', 'rnn'] as const) {
      it(`${cell}, fma ${fma}: the same bits as over the shared memory (training, validation, sampling)`, () => {
        const shared = run(withFusedKernels(createWasmKernels({ fma, shared: true })), cell);
        const plain = run(withFusedKernels(createWasmKernels({ fma, shared: false, maxMemoryBytes: 64 * 2 ** 20 })), cell);
        expect(plain.net.kernels.name).toMatch(/-unshared$/);
        expect(plain.net.params.buffer).not.toBeInstanceOf(SharedArrayBuffer);
        for (let i = 0; i < 8; i++) expect(plain.step().loss).toBe(shared.step().loss);
        expect(plain.evaluate()).toBe(shared.evaluate());
        expect(Buffer.from(plain.net.params.buffer, plain.net.params.byteOffset, plain.net.params.byteLength))
          .toEqual(Buffer.from(shared.net.params.buffer, shared.net.params.byteOffset, shared.net.params.byteLength));
        const options = { length: 300, temperature: 0.9, seed: 7 };
        expect([...sampleIds(plain.net, plain.vocab, options)]).toEqual([...sampleIds(shared.net, shared.vocab, options)]);
      });
    }
  }

  it('views stay valid while the memory fills, and an allocation beyond it is one clear error', () => {
    const kernels = createWasmKernels({ fma: 'off', shared: false, maxMemoryBytes: 32 * 2 ** 20 });
    const small = kernels.alloc(10);
    for (let i = 0; i < small.length; i++) small[i] = i + 1;
    const big = kernels.alloc(4 * 1024 * 1024); // 16 MiB
    expect(Array.from(small)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    big[0] = 2;
    kernels.gemmNN(1, 1, 1, small, 0, 1, big, 0, 1, small, 9, 1, false); // small[9] = small[0] * big[0]
    expect(small[9]).toBe(2);
    expect(() => kernels.alloc(5 * 1024 * 1024)).toThrow(/more than the 32 MiB of WebAssembly memory allowed/);
  });

  it('refuses a helper thread, which needs a shared memory', () => {
    expect(() => createWasmKernels({ fma: 'off', shared: false, helper: () => { throw new Error('not called'); } })).toThrow(/shared memory/);
  });
});

describe.skipIf(!wasmSimdAvailable())('the kernels Node picks', () => {
  it('loaded models sample on the plain SIMD build (the same text as in a browser); WebAssembly training may use FMA', () => {
    // where the native kernels are built, that build's products run on them in exact mode (kernels-exact.test.ts)
    const wasmOnly = !nativeKernelsAvailable() || process.env.CHARNN_KERNELS === 'wasm';
    expect(defaultKernels().name).toMatch(wasmOnly ? /^wasm-simd$/ : /^wasm-simd\+native-\w+-exact$/);
    const previous = process.env.CHARNN_KERNELS;
    process.env.CHARNN_KERNELS = 'wasm'; // where the native kernels are built, training prefers them
    try {
      expect(trainingKernels().name).toBe(process.env.CHARNN_FMA !== 'off' && wasmRelaxedSimdAvailable() ? 'wasm-simd-fma' : 'wasm-simd');
    } finally {
      if (previous === undefined) delete process.env.CHARNN_KERNELS;
      else process.env.CHARNN_KERNELS = previous;
    }
  });
});

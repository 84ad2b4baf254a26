// Many samples as streams of one batched step: stream i must be exactly the single sample seeded streamSeed(seed, i)
// (so no state leaks from one stream into another), with the model's log-probability of its text.

import { describe, expect, it, vi } from 'vitest';
import seedrandom from 'seedrandom';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { createWasmKernels, wasmSimdAvailable } from '../src/core/kernels/wasm.js';
import { withFusedKernels } from '../src/core/kernels/wasm-fused.js';
import type { Kernels } from '../src/core/kernels/types.js';
import { allocPass, allocState, carryState, createNetwork, forwardLogits, initParams, passView, type CellType, type Network } from '../src/core/model.js';
import { makeVocab } from '../src/core/data/corpus.js';
import { sampleIds, sampleMany, streamSeed } from '../src/core/sample.js';

const vocab = makeVocab(['\n', 'a', 'b', 'c', 'd', 'e']);

function tinyNet(kernels: Kernels, cell: CellType, layers = 2): Network {
  const net = createNetwork(kernels, { cell, vocabSize: vocab.symbols.length, hiddenSize: 12, layers, dropout: 0 });
  const random = seedrandom(`many-${cell}`);
  initParams(net, random);
  for (let i = 0; i < net.params.length; i++) net.params[i] += (random() - 0.5) * 1.5; // a peaked, input-dependent model
  return net;
}

/** ln p(ids | prime) by reading the text one character at a time, in its own pass. */
function logprobOf(net: Network, prime: number[], ids: number[]): number {
  const pass = allocPass(net, 1, 1);
  const state = allocState(net, 1);
  const V = net.config.vocabSize;
  let total = 0;
  const read = (id: number) => {
    pass.inputs[0] = id;
    forwardLogits(net, pass, state);
    carryState(net, pass, state);
  };
  prime.forEach(read);
  ids.forEach((id, i) => {
    const logits = Array.from(pass.logits);
    const max = Math.max(...logits);
    total += logits[id] - max - Math.log(logits.reduce((s, x) => s + Math.exp(x - max), 0));
    if (i + 1 < ids.length) read(id);
  });
  return total;
}

const backends: Array<[string, () => Kernels]> = [['reference f32', () => referenceKernels('f32')]];
if (wasmSimdAvailable()) backends.push(['wasm SIMD (no FMA)', () => withFusedKernels(createWasmKernels({ fma: 'off' }))]);

describe('sampleMany: stream i = the single sample with seed streamSeed(seed, i)', () => {
  for (const [name, kernels] of backends) {
    for (const cell of ['lstm', 'gru', 'rnn'] as const) {
      it(`${cell}, ${name}: 40 streams ending at a newline or 25 characters, temperature, top-k and top-p`, () => {
        const net = tinyNet(kernels(), cell);
        const options = { length: 25, stop: '\n', temperature: 0.9, topK: 5, topP: 0.95, seed: 11 };
        const many = sampleMany(net, vocab, { ...options, numSamples: 40 });
        expect(many.map((s) => s.index)).toEqual([...Array(40).keys()]);
        const lengths = new Set(many.map((s) => s.ids.length));
        expect(lengths.size).toBeGreaterThan(3); // streams really finish at different steps
        for (const sample of many) {
          const single = [...sampleIds(net, vocab, { ...options, seed: 11 + sample.index })];
          expect(sample.ids, `stream ${sample.index}`).toEqual(single);
          expect(sample.logprob).toBeCloseTo(logprobOf(net, [0], sample.ids), 4);
        }
      });
    }
  }

  it('with a prime, a string seed and streams starting at firstStream', () => {
    const net = tinyNet(referenceKernels('f32'), 'lstm', 1);
    const options = { length: 12, prime: 'ab\nc', seed: 'x' };
    const all = sampleMany(net, vocab, { ...options, numSamples: 8 });
    const later = sampleMany(net, vocab, { ...options, numSamples: 3, firstStream: 5 });
    expect(later).toEqual(all.slice(5));
    for (const sample of all) {
      expect(sample.ids).toEqual([...sampleIds(net, vocab, { ...options, seed: streamSeed('x', sample.index) })]);
      expect(sample.ids).toHaveLength(12);
    }
    expect(streamSeed('x', 0)).toBe('x');
    expect(streamSeed('x', 3)).toBe('x:3');
    expect(streamSeed(7, 3)).toBe(10);
  });

  it('one stream is exactly today\'s single sample; temperature 0 makes every stream the same', () => {
    const net = tinyNet(referenceKernels('f32'), 'gru');
    const options = { length: 30, seed: 4, temperature: 0.7 };
    expect(sampleMany(net, vocab, { ...options, numSamples: 1 })[0].ids).toEqual([...sampleIds(net, vocab, options)]);
    const greedy = sampleMany(net, vocab, { length: 10, temperature: 0, numSamples: 5, seed: 1 });
    for (const s of greedy) expect(s.ids).toEqual(greedy[0].ids);
  });

  it('logprob: false makes the same samples without scores (NaN)', () => {
    for (const temperature of [1, 0.8]) {
      const net = tinyNet(referenceKernels('f32'), 'lstm');
      const options = { length: 20, stop: '\n', temperature, topP: 0.9, seed: 3, numSamples: 12 };
      const scored = sampleMany(net, vocab, options);
      const unscored = sampleMany(net, vocab, { ...options, logprob: false });
      expect(unscored.map((s) => s.ids)).toEqual(scored.map((s) => s.ids));
      expect(unscored.every((s) => Number.isNaN(s.logprob))).toBe(true);
      expect(scored.every((s) => Number.isFinite(s.logprob) && s.logprob < 0)).toBe(true);
    }
  });

  it('streams that have read the same characters share one row of the step, and only those do', () => {
    const base = referenceKernels('f32');
    const rowsPerStep: number[] = [];
    // every step through embedRows (not the one-row lstm step, which reads its input itself): it sees each step's rows
    const counting: Kernels = { ...base, lstmLayerStep: undefined, embedRows: (out, N, ...rest) => (rowsPerStep.push(N), base.embedRows(out, N, ...rest)) };
    const net = tinyNet(counting, 'lstm');
    const many = sampleMany(net, vocab, { length: 25, stop: '\n', temperature: 1, seed: 5, numSamples: 40 });
    // step t (t ≥ 1) reads character t of the streams still going: one row for each distinct prefix of t characters
    const expected: number[] = [];
    for (let t = 1; many.some((s) => s.ids.length > t); t++) {
      expected.push(new Set(many.filter((s) => s.ids.length > t).map((s) => s.ids.slice(0, t).join(','))).size);
    }
    expect(rowsPerStep).toEqual([1, ...expected]); // the prime (a newline) read once, then the steps
    expect(expected[0]).toBeLessThan(many.filter((s) => s.ids.length > 1).length); // 6 characters, 40 streams
    for (const sample of many) expect(sample.ids).toEqual([...sampleIds(net, vocab, { length: 25, stop: '\n', temperature: 1, seed: 5 + sample.index })]);
  });

  it('more streams than maxBatch run in rounds and are the same samples, seeded once (even without a seed)', () => {
    const base = referenceKernels('f32');
    const widest: number[] = [];
    const counting: Kernels = { ...base, lstmLayerStep: undefined, embedRows: (out, N, ...rest) => (widest.push(N), base.embedRows(out, N, ...rest)) };
    const net = tinyNet(counting, 'lstm');
    const options = { length: 25, stop: '\n', temperature: 1.2, seed: 9, numSamples: 23, firstStream: 4 };
    const whole = sampleMany(net, vocab, options);
    widest.length = 0;
    const rounds = sampleMany(net, vocab, { ...options, maxBatch: 5 });
    expect(rounds).toEqual(whole);
    expect(rounds.map((s) => s.index)).toEqual(Array.from({ length: 23 }, (_, i) => 4 + i));
    expect(Math.max(...widest)).toBeLessThanOrEqual(5);
    // without a seed the rounds share the one drawn (Date.now(), here a clock that moves on every reading): stream i
    // is stream i of one run
    let clock = 1000;
    const now = vi.spyOn(Date, 'now').mockImplementation(() => (clock += 1000));
    try {
      const unseeded = sampleMany(net, vocab, { length: 25, stop: '\n', temperature: 1.2, numSamples: 7, maxBatch: 2 });
      for (const sample of unseeded) {
        expect(sample.ids).toEqual([...sampleIds(net, vocab, { length: 25, stop: '\n', temperature: 1.2, seed: 2000 + sample.index })]);
      }
    } finally {
      now.mockRestore();
    }
    expect(() => sampleMany(net, vocab, { ...options, maxBatch: 0 })).toThrow(/positive whole number/);
  });

  it('refuses a number of samples below 1', () => {
    const net = tinyNet(referenceKernels('f32'), 'rnn', 1);
    for (const numSamples of [0, -1, 1.5]) expect(() => sampleMany(net, vocab, { length: 5, numSamples })).toThrow(/--num-samples must be a positive whole number/);
  });
});

describe('sampleIds: buffers reused, never shared', () => {
  it('many short samples allocate once; samplers side by side and samplers stopped early keep their own', () => {
    const base = referenceKernels('f32');
    let allocations = 0;
    const counting: Kernels = { ...base, alloc: (n) => (allocations++, base.alloc(n)) };
    const net = tinyNet(counting, 'lstm');
    const options = (seed: number) => ({ length: 30, temperature: 1, seed });
    const alone = [1, 2].map((seed) => [...sampleIds(net, vocab, options(seed))]);
    const afterFirst = allocations;
    for (let seed = 3; seed < 50; seed++) [...sampleIds(net, vocab, options(seed))];
    expect(allocations).toBe(afterFirst);
    // two samplers taking turns: each its own buffers (the second allocates one more set), each its own text
    const a = sampleIds(net, vocab, options(1)), b = sampleIds(net, vocab, options(2));
    const got: number[][] = [[], []];
    for (let n = 0; n < 30; n++) {
      got[0].push(a.next().value as number);
      got[1].push(b.next().value as number);
    }
    expect(got).toEqual(alone);
    expect(a.next().done && b.next().done).toBe(true); // both ended: their buffers go back
    expect(allocations).toBeGreaterThan(afterFirst);
    const afterTwo = allocations;
    for (const _ of sampleIds(net, vocab, options(9))) break; // closed early: its buffers go back
    expect([...sampleIds(net, vocab, options(1))]).toEqual(alone[0]);
    expect(allocations).toBe(afterTwo);
  });
});

describe('passView: a pass of the first B streams over a bigger pass\'s buffers', () => {
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`${cell}: a step of 3 streams on a view of a 7-stream pass = the step on a 3-stream pass of its own, to the bit`, () => {
      const net = tinyNet(referenceKernels('f32'), cell);
      const H = net.config.hiddenSize;
      const big = allocPass(net, 7, 1);
      const own = allocPass(net, 3, 1);
      const view = passView(big, 3);
      const random = seedrandom('view');
      // garbage in the big pass's other rows must not reach the view's
      for (const ws of big.layers) for (const a of [ws.hs, ws.cs]) for (let e = 0; e < a.length; e++) a[e] = random() * 4 - 2;
      const state = allocState(net, 3);
      for (let l = 0; l < net.config.layers; l++) {
        for (let e = 0; e < 3 * H; e++) state.h[l][e] = random() - 0.5;
        if (cell === 'lstm') for (let e = 0; e < 3 * H; e++) state.c[l][e] = random() - 0.5;
      }
      for (const pass of [own, view]) [1, 4, 2].forEach((id, r) => (pass.inputs[r] = id));
      forwardLogits(net, own, state);
      // the view reads its initial state from its own row block 0 (state null): put it there
      for (let l = 0; l < net.config.layers; l++) {
        view.layers[l].hs.set(state.h[l]);
        if (cell === 'lstm') view.layers[l].cs.set(state.c[l]);
      }
      forwardLogits(net, view, null);
      expect(Array.from(view.logits)).toEqual(Array.from(own.logits));
      expect(view.logits.length).toBe(3 * net.config.vocabSize);
      for (let l = 0; l < net.config.layers; l++) expect(Array.from(view.layers[l].hs)).toEqual(Array.from(own.layers[l].hs));
      // shared, not copied: what the view wrote is in the big pass's buffers
      expect(Array.from(big.logits.subarray(0, view.logits.length))).toEqual(Array.from(view.logits));
    });
  }

  it('sampleMany reuses one pass for every smaller number of streams, and the same streams come out of it', () => {
    const base = referenceKernels('f32');
    let allocations = 0;
    const counting: Kernels = { ...base, alloc: (n) => (allocations++, base.alloc(n)) };
    const net = tinyNet(counting, 'lstm');
    const options = (numSamples: number) => ({ length: 25, temperature: 1, seed: 3, stop: '\n', numSamples });
    const forty = sampleMany(net, vocab, options(40));
    const after = allocations;
    const ten = sampleMany(net, vocab, options(10));
    expect(sampleMany(net, vocab, options(40))).toEqual(forty);
    expect(allocations).toBe(after);
    expect(ten).toEqual(forty.slice(0, 10)); // streams 0-9 of a 10-stream run on a view of the 40-stream pass
    sampleMany(net, vocab, options(41)); // more: the pass grows (to 80 streams), once
    const grown = allocations;
    expect(grown).toBeGreaterThan(after);
    for (const n of [41, 60, 80, 7]) sampleMany(net, vocab, options(n));
    expect(allocations).toBe(grown);
  });

  it('refuses more streams than the pass has', () => {
    const net = tinyNet(referenceKernels('f32'), 'rnn', 1);
    const pass = allocPass(net, 4, 1);
    expect(passView(pass, 4)).toBe(pass);
    expect(() => passView(pass, 5)).toThrow(RangeError);
    expect(() => passView(pass, 0)).toThrow(RangeError);
  });
});

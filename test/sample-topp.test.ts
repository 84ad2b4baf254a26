// Top-p (nucleus) sampling on a hand-made distribution: a network whose output ignores its input, so every step
// draws from the same known probabilities.

import { describe, expect, it } from 'vitest';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { createNetwork } from '../src/core/model.js';
import { makeVocab } from '../src/core/data/corpus.js';
import { keepNucleus, sampleIds, validateSampleOptions } from '../src/core/sample.js';

const PROBS = [0.4, 0.3, 0.2, 0.1];

/** Every weight zero, output bias ln p: the logits are ln p whatever the model reads. */
function fixedDistribution() {
  const net = createNetwork(referenceKernels('f32'), { cell: 'rnn', vocabSize: 4, hiddenSize: 2, layers: 1, dropout: 0 });
  net.params.fill(0);
  PROBS.forEach((p, v) => (net.p['out.b'][v] = Math.log(p)));
  return { net, vocab: makeVocab(['a', 'b', 'c', 'd']) };
}

function counts(options: { topP?: number; temperature?: number; topK?: number }, n = 20000): number[] {
  const { net, vocab } = fixedDistribution();
  const seen = [0, 0, 0, 0];
  for (const id of sampleIds(net, vocab, { length: n, prime: 'a', seed: 1, ...options })) seen[id]++;
  return seen;
}

describe('top-p keeps exactly the nucleus', () => {
  it('keepNucleus: the smallest set of the largest weights reaching p, nothing else', () => {
    const order = new Int32Array(4);
    const weights = [0.2, 0.4, 0.1, 0.3]; // the same distribution shuffled: largest first are ids 1, 3, 0, 2
    const cases: Array<[number, number[]]> = [
      [0.3, [0, 0.4, 0, 0]], [0.4, [0, 0.4, 0, 0]], [0.41, [0, 0.4, 0, 0.3]], [0.7, [0, 0.4, 0, 0.3]],
      [0.71, [0.2, 0.4, 0, 0.3]], [0.9, [0.2, 0.4, 0, 0.3]], [0.95, weights], [1, weights],
    ];
    for (const [p, expected] of cases) {
      const w = Float64Array.from(weights);
      const kept = keepNucleus(w, 4, 1, p, order);
      expect([...w], `p = ${p}`).toEqual(expected);
      expect(kept).toBeCloseTo(expected.reduce((a, b) => a + b, 0), 12);
    }
  });

  it('samples only from the nucleus, in proportion to the model (p = 0.65: a and b, 4 : 3)', () => {
    const seen = counts({ topP: 0.65 });
    expect(seen[2] + seen[3]).toBe(0);
    expect(seen[0] / (seen[0] + seen[1])).toBeCloseTo(0.4 / 0.7, 1);
  });

  it('p reached exactly (0.4 + 0.3 = 0.7) stops there; a little more takes the next character', () => {
    expect(counts({ topP: 0.7 }, 5000).slice(2)).toEqual([0, 0]);
    const seen = counts({ topP: 0.75 }, 5000);
    expect(seen[2]).toBeGreaterThan(0);
    expect(seen[3]).toBe(0);
  });

  it('applies after the temperature (0.5 sharpens a to 0.53, b to 0.30: p = 0.8 keeps a and b only) and after top-k', () => {
    expect(counts({ topP: 0.8, temperature: 0.5 }, 5000).slice(2)).toEqual([0, 0]);
    expect(counts({ topP: 0.8 }, 5000)[2]).toBeGreaterThan(0); // at temperature 1 the same p needs c too
    const seen = counts({ topP: 0.9, topK: 2 }, 5000); // top-k leaves a, b (0.57, 0.43): 0.9 of that needs both
    expect(seen.slice(2)).toEqual([0, 0]);
    expect(seen[1]).toBeGreaterThan(0);
  });

  it('top-p 1 gives exactly the bytes of sampling without it (the same draws)', () => {
    const { net, vocab } = fixedDistribution();
    const plain = [...sampleIds(net, vocab, { length: 500, prime: 'a', seed: 3, temperature: 0.9 })];
    expect([...sampleIds(net, vocab, { length: 500, prime: 'a', seed: 3, temperature: 0.9, topP: 1 })]).toEqual(plain);
  });

  it('refuses p outside (0, 1]', () => {
    for (const topP of [0, -0.5, 1.5, NaN]) expect(() => validateSampleOptions({ length: 1, topP })).toThrow(/--top-p must be a number above 0 and at most 1/);
  });
});

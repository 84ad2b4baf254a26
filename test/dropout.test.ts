// Dropout masks drawn from a hash of (key, element): the right rate, independent elements and masks, and any
// stretch of a mask or slice of a batch filled on its own equal to the whole. (The data-parallel training runs that
// use the slices are held to one thread bit for bit in threads.test.ts.)

import { describe, expect, it } from 'vitest';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { allocPass, createNetwork, drawDropoutMasks } from '../src/core/model.js';
import { allocBiPass, drawBiDropoutMasks } from '../src/core/bidirectional.js';
import { createRandom, dropoutKey, fillDropoutMask } from '../src/core/random.js';

const N = 1 << 20;

describe('fillDropoutMask', () => {
  for (const p of [0.1, 0.3, 0.5]) {
    it(`drops ${p} of the units, keeps the rest at 1/(1-p), each element independent of its neighbour (p = ${p})`, () => {
      const mask = new Float32Array(N);
      fillDropoutMask(mask, 0, N, 0x12345678, 0, p);
      const scale = Math.fround(1 / (1 - p));
      let dropped = 0;
      let bothDropped = 0;
      let other = 0;
      for (let i = 0; i < N; i++) {
        if (mask[i] !== 0 && mask[i] !== scale) other++;
        if (mask[i] === 0) {
          dropped++;
          if (i > 0 && mask[i - 1] === 0) bothDropped++;
        }
      }
      expect(other).toBe(0);
      const sd = Math.sqrt((p * (1 - p)) / N);
      expect(Math.abs(dropped / N - p)).toBeLessThan(5 * sd);
      expect(Math.abs(bothDropped / (N - 1) - p * p)).toBeLessThan(5 * Math.sqrt((p * p * (1 - p * p)) / N));
    });
  }

  it('two keys give independent masks; a stretch filled on its own equals the same stretch of the whole', () => {
    const p = 0.25;
    const a = new Float32Array(N);
    const b = new Float32Array(N);
    fillDropoutMask(a, 0, N, 1, 0, p);
    fillDropoutMask(b, 0, N, 2, 0, p);
    let same = 0;
    for (let i = 0; i < N; i++) same += a[i] === b[i] ? 1 : 0;
    const agree = p * p + (1 - p) * (1 - p);
    expect(Math.abs(same / N - agree)).toBeLessThan(5 * Math.sqrt((agree * (1 - agree)) / N));

    const part = new Float32Array(1000);
    fillDropoutMask(part, 0, 1000, 1, 123_456, p);
    expect(part).toEqual(a.subarray(123_456, 124_456));
  });

  it('a key takes one draw from the generator', () => {
    const random = createRandom('k');
    const twin = createRandom('k');
    const key = dropoutKey(random);
    expect(key).toBe(Math.floor(twin() * 2 ** 32));
    expect(random()).toBe(twin());
  });
});

describe('drawDropoutMasks over stream slices = over the whole batch', () => {
  const k = referenceKernels('f32');
  const T = 7;
  const B = 10;
  const starts = [0, 3, 4, 10];

  it('unidirectional', () => {
    const net = createNetwork(k, { cell: 'lstm', vocabSize: 5, hiddenSize: 6, layers: 3, dropout: 0.4 });
    const whole = allocPass(net, B, T);
    drawDropoutMasks([whole], [0, B], 0.4, createRandom('s'));
    const slices = starts.slice(1).map((end, s) => allocPass(net, end - starts[s], T));
    drawDropoutMasks(slices, starts, 0.4, createRandom('s'));
    for (let l = 0; l < 3; l++) {
      for (let s = 0; s < slices.length; s++) {
        const width = starts[s + 1] - starts[s];
        for (let t = 0; t < T; t++) {
          const rows = whole.masks[l].subarray((t * B + starts[s]) * 6, (t * B + starts[s + 1]) * 6);
          expect(slices[s].masks[l].subarray(t * width * 6, (t + 1) * width * 6)).toEqual(rows);
        }
      }
    }
    expect(whole.masks[0]).not.toEqual(whole.masks[1]); // a key per layer
  });

  it('bidirectional (both directions\u2019 columns in a row)', () => {
    const net = createNetwork(k, { cell: 'gru', vocabSize: 5, hiddenSize: 4, layers: 2, dropout: 0.3, bidirectional: true, maskFrac: 0.2 });
    const whole = allocBiPass(net, B, T);
    drawBiDropoutMasks([whole], [0, B], 0.3, createRandom('b'));
    const slices = starts.slice(1).map((end, s) => allocBiPass(net, end - starts[s], T));
    drawBiDropoutMasks(slices, starts, 0.3, createRandom('b'));
    const H2 = 8;
    for (let l = 0; l < whole.dropMasks.length; l++) {
      for (let s = 0; s < slices.length; s++) {
        const width = starts[s + 1] - starts[s];
        for (let t = 0; t < T; t++) {
          const rows = whole.dropMasks[l].subarray((t * B + starts[s]) * H2, (t * B + starts[s + 1]) * H2);
          expect(slices[s].dropMasks[l].subarray(t * width * H2, (t + 1) * width * H2)).toEqual(rows);
        }
      }
    }
  });
});

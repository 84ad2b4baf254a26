// The bidirectional network: hand-written backprop against central finite differences in float64 (every
// parameter, rnn/lstm/gru, 1 and 2 layers, with and without dropout), and the direction of information flow.

import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { createNetwork, initParams, modelParamSpecs, type CellType, type Network } from '../src/core/model.js';
import {
  allocBiPass, biBackward, biForwardLogits, biForwardLoss, maskInputs, type BiPass,
} from '../src/core/bidirectional.js';
import { checkBuffer } from './helpers/finite-differences.js';

function setup(cell: CellType, layers: number, seed: string, dropout = 0) {
  const k = referenceKernels('f64');
  const V = 5, H = 3, B = 2, T = 5; // odd T: the time reversal has a middle block
  const net = createNetwork(k, { cell, vocabSize: V, hiddenSize: H, layers, dropout, bidirectional: true, maskFrac: 0.4 });
  const random = seedrandom(seed);
  initParams(net, random);
  // larger weights than the default init so that every nonlinearity is exercised away from its linear region
  for (let i = 0; i < net.params.length; i++) net.params[i] += (random() - 0.5) * 0.8;
  const pass = allocBiPass(net, B, T);
  for (let i = 0; i < T * B; i++) pass.targets[i] = Math.floor(random() * V);
  maskInputs(pass, V, 0.4, random);
  return { net, pass };
}

function analytic(net: Network, pass: BiPass, loss: () => number): Float64Array {
  net.grads.fill(0);
  loss();
  biBackward(net, pass);
  return Float64Array.from(net.grads);
}

describe('bidirectional gradient check (float64, central differences)', () => {
  for (const cell of ['rnn', 'lstm', 'gru'] as const) {
    for (const layers of [1, 2]) {
      it(`${cell}, ${layers} layer${layers > 1 ? 's' : ''}: every parameter`, () => {
        const { net, pass } = setup(cell, layers, `bi-${cell}-${layers}`);
        expect(pass.masked.some((m) => m === 1) && pass.masked.some((m) => m === 0)).toBe(true);
        const loss = () => biForwardLoss(net, pass);
        const grads = analytic(net, pass, loss);
        for (const entry of net.layout.entries) {
          const err = checkBuffer(net.p[entry.name], grads.subarray(entry.offset, entry.offset + entry.size), loss);
          expect(err, entry.name).toBeLessThan(1e-6);
        }
        // the check must be able to fail: a gradient off in the backward direction's recurrent weights is caught
        const wh = net.layout.entries.find((e) => e.name === 'layer0.bwd.Wh')!;
        const broken = Float64Array.from(grads.subarray(wh.offset, wh.offset + wh.size));
        broken[1] += 1e-3;
        expect(checkBuffer(net.p[wh.name], broken, loss)).toBeGreaterThan(1e-6);
      });
    }
  }

  for (const cell of ['rnn', 'lstm', 'gru'] as const) {
    it(`${cell}, 2 layers, dropout 0.3 (same dropout mask for every evaluation)`, () => {
      const { net, pass } = setup(cell, 2, `bi-dropout-${cell}`, 0.3);
      const loss = () => biForwardLoss(net, pass, seedrandom('dropout'));
      const grads = analytic(net, pass, loss);
      expect(pass.dropMasks[0].some((m) => m === 0)).toBe(true);
      for (const entry of net.layout.entries) {
        const err = checkBuffer(net.p[entry.name], grads.subarray(entry.offset, entry.offset + entry.size), loss);
        expect(err, entry.name).toBeLessThan(1e-6);
      }
    });
  }
});

describe('bidirectional structure', () => {
  it('the forward half of a layer sees only the past, the backward half only the future', () => {
    const { net, pass } = setup('lstm', 1, 'flow');
    const H = net.config.hiddenSize;
    const T = pass.T, B = pass.B;
    biForwardLogits(net, pass);
    const before = Float64Array.from(pass.outs[0]);
    const tChanged = 2;
    pass.inputs[tChanged * B] = (pass.inputs[tChanged * B] + 1) % net.config.vocabSize;
    biForwardLogits(net, pass);
    const after = pass.outs[0];
    for (let t = 0; t < T; t++) {
      const row = (t * B) * 2 * H;
      const fwdChanged = [...Array(H).keys()].some((j) => after[row + j] !== before[row + j]);
      const bwdChanged = [...Array(H).keys()].some((j) => after[row + H + j] !== before[row + H + j]);
      expect(fwdChanged, `forward half at t=${t}`).toBe(t >= tChanged);
      expect(bwdChanged, `backward half at t=${t}`).toBe(t <= tChanged);
      // the other stream is untouched
      const other = (t * B + 1) * 2 * H;
      for (let j = 0; j < 2 * H; j++) expect(after[other + j]).toBe(before[other + j]);
    }
  });

  it('the first layer reads V+1 ids (the last is the mask) and the output layer reads both directions', () => {
    const specs = modelParamSpecs({ cell: 'gru', vocabSize: 7, hiddenSize: 4, layers: 2, dropout: 0, bidirectional: true, maskFrac: 0.15 });
    const shape = (name: string) => specs.find((s) => s.name === name)!.shape;
    expect(shape('layer0.fwd.Wx')).toEqual([8, 12]);
    expect(shape('layer0.bwd.Wx')).toEqual([8, 12]);
    expect(shape('layer1.bwd.Wx')).toEqual([8, 12]);
    expect(shape('out.W')).toEqual([8, 7]);
  });

  it('masking uses only the generator it is given, and always masks at least one position', () => {
    const { net, pass } = setup('rnn', 1, 'mask');
    const V = net.config.vocabSize;
    maskInputs(pass, V, 1e-9, seedrandom('a'));
    expect(pass.masked.reduce((a, m) => a + m, 0)).toBe(1);
    maskInputs(pass, V, 0.5, seedrandom('b'));
    const first = Int32Array.from(pass.inputs);
    maskInputs(pass, V, 0.5, seedrandom('b'));
    expect(pass.inputs).toEqual(first);
    for (let r = 0; r < pass.inputs.length; r++) {
      expect(pass.inputs[r]).toBe(pass.masked[r] === 1 ? V : pass.targets[r]);
    }
  });
});

// Hand-written backprop against central finite differences, in float64: every parameter and the carried
// initial state, for every cell type with 1 and 3 layers.

import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { referenceKernels } from '../src/core/kernels/reference.js';
import {
  allocPass, allocState, backward, createNetwork, forwardLoss, initParams,
  type CarriedState, type CellType, type Network, type Pass,
} from '../src/core/model.js';
import { checkBuffer } from './helpers/finite-differences.js';

function setup(cell: CellType, layers: number, seed: string) {
  const k = referenceKernels('f64');
  const V = 5, H = 4, B = 2, T = 3;
  const net = createNetwork(k, { cell, vocabSize: V, hiddenSize: H, layers, dropout: 0 });
  const random = seedrandom(seed);
  initParams(net, random);
  // larger weights than the default init so that every nonlinearity is exercised away from its linear region
  for (let i = 0; i < net.params.length; i++) net.params[i] += (random() - 0.5) * 0.8;
  const pass = allocPass(net, B, T);
  for (let i = 0; i < T * B; i++) {
    pass.inputs[i] = Math.floor(random() * V);
    pass.targets[i] = Math.floor(random() * V);
  }
  const state = allocState(net, B);
  for (const a of [...state.h, ...state.c]) for (let i = 0; i < a.length; i++) a[i] = (random() - 0.5) * 1.5;
  return { net, pass, state };
}

function analytic(net: Network, pass: Pass, state: CarriedState) {
  net.grads.fill(0);
  forwardLoss(net, pass, state);
  backward(net, pass);
  return {
    params: Float64Array.from(net.grads),
    h0: pass.layers.map((ws) => Float64Array.from(ws.dhNext)),
    c0: pass.layers.map((ws) => Float64Array.from(ws.dcNext)),
  };
}

describe('gradient check (float64, central differences)', () => {
  for (const cell of ['rnn', 'lstm', 'gru'] as const) {
    for (const layers of [1, 3]) {
      it(`${cell}, ${layers} layer${layers > 1 ? 's' : ''}: every parameter and the initial state`, () => {
        const { net, pass, state } = setup(cell, layers, `${cell}-${layers}`);
        const grads = analytic(net, pass, state);
        const loss = () => forwardLoss(net, pass, state);
        for (const entry of net.layout.entries) {
          const view = net.p[entry.name];
          const err = checkBuffer(view, grads.params.subarray(entry.offset, entry.offset + entry.size), loss);
          expect(err, entry.name).toBeLessThan(1e-6);
        }
        for (let l = 0; l < layers; l++) {
          expect(checkBuffer(state.h[l], grads.h0[l], loss), `h0 of layer ${l}`).toBeLessThan(1e-6);
          if (cell === 'lstm') expect(checkBuffer(state.c[l], grads.c0[l], loss), `c0 of layer ${l}`).toBeLessThan(1e-6);
        }
        // the check must be able to fail: a gradient that is off somewhere is caught
        const broken = Float64Array.from(grads.params);
        broken[net.layout.entries[1].offset] += 1e-3;
        const wh = net.layout.entries[1];
        expect(checkBuffer(net.p[wh.name], broken.subarray(wh.offset, wh.offset + wh.size), loss)).toBeGreaterThan(1e-6);
      });
    }
  }
});

describe('gradient check with dropout (same mask for every evaluation)', () => {
  for (const cell of ['rnn', 'lstm', 'gru'] as const) {
    it(`${cell}, 2 layers, dropout 0.3`, () => {
      const k = referenceKernels('f64');
      const net = createNetwork(k, { cell, vocabSize: 4, hiddenSize: 3, layers: 2, dropout: 0.3 });
      const random = seedrandom(`dropout-${cell}`);
      initParams(net, random);
      for (let i = 0; i < net.params.length; i++) net.params[i] += (random() - 0.5) * 0.8;
      const pass = allocPass(net, 2, 3);
      for (let i = 0; i < 6; i++) {
        pass.inputs[i] = i % 4;
        pass.targets[i] = (i * 3 + 1) % 4;
      }
      const state = allocState(net, 2);
      const loss = () => forwardLoss(net, pass, state, seedrandom('mask'));
      net.grads.fill(0);
      loss();
      expect(pass.masks[0].some((m) => m === 0)).toBe(true);
      backward(net, pass);
      const grads = Float64Array.from(net.grads);
      for (const entry of net.layout.entries) {
        const err = checkBuffer(net.p[entry.name], grads.subarray(entry.offset, entry.offset + entry.size), loss);
        expect(err, entry.name).toBeLessThan(1e-6);
      }
    });
  }
});

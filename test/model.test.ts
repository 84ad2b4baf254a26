// The structured sequence-level model against its naive per-step twin, for every cell type and depth.

import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { allocPass, allocState, carryState, createNetwork, forwardLoss, initParams } from '../src/core/model.js';
import { naiveLoss } from './helpers/naive-model.js';

describe('structured forward = naive per-step forward (float64)', () => {
  for (const cell of ['rnn', 'lstm', 'gru'] as const) {
    for (const layers of [1, 2, 3]) {
      it(`${cell} × ${layers}`, () => {
        const random = seedrandom(`naive-${cell}-${layers}`);
        const net = createNetwork(referenceKernels('f64'), { cell, vocabSize: 7, hiddenSize: 5, layers, dropout: 0 });
        initParams(net, random);
        for (let i = 0; i < net.params.length; i++) net.params[i] += (random() - 0.5) * 0.5;
        const B = 3, T = 4;
        const pass = allocPass(net, B, T);
        for (let i = 0; i < B * T; i++) {
          pass.inputs[i] = Math.floor(random() * 7);
          pass.targets[i] = Math.floor(random() * 7);
        }
        const state = allocState(net, B);
        for (const a of [...state.h, ...state.c]) for (let i = 0; i < a.length; i++) a[i] = random() - 0.5;
        const expected = naiveLoss(net, pass.inputs, pass.targets, B, T, state.h, state.c);
        expect(forwardLoss(net, pass, state)).toBeCloseTo(expected, 12);

        // the carried state continues the streams: two batches of T equal one of 2T
        const pass2 = allocPass(net, B, 2 * T);
        const next = Array.from({ length: B * T }, () => Math.floor(random() * 7));
        const nextTargets = Array.from({ length: B * T }, () => Math.floor(random() * 7));
        for (let i = 0; i < B * T; i++) {
          pass2.inputs[i] = pass.inputs[i];
          pass2.targets[i] = pass.targets[i];
          pass2.inputs[B * T + i] = next[i];
          pass2.targets[B * T + i] = nextTargets[i];
        }
        const whole = forwardLoss(net, pass2, state);
        const first = forwardLoss(net, pass, state);
        carryState(net, pass, state);
        pass.inputs.set(next);
        pass.targets.set(nextTargets);
        const second = forwardLoss(net, pass, state);
        expect((first + second) / 2).toBeCloseTo(whole, 12);
      });
    }
  }
});

// Training statistics (`--stats`): hidden-state mean/variance, saturation and gradient norms, against numbers
// worked out by hand and against a naive per-step LSTM written from the cell equations.

import '../src/node/platform.js'; // files and worker threads under the core
import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { allocPass, allocState, backward, createNetwork, forwardLoss, initParams, type Network } from '../src/core/model.js';
import { formatStepStats, gradNorms, hiddenStats, SATURATION } from '../src/core/inspect/stats.js';
import { corpusFromText } from '../src/core/data/corpus.js';
import { TrainingRun, runTraining, type IterationEvent } from '../src/core/train.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('hidden-state statistics', () => {
  it('rnn, one unit, three steps: mean, variance and saturation by hand', () => {
    const net = createNetwork(referenceKernels('f64'), { cell: 'rnn', vocabSize: 3, hiddenSize: 1, layers: 1, dropout: 0 });
    net.params.fill(0);
    net.p['layer0.Wx'].set([2, -3, 0.5]); // (V=3, H=1): h_t = tanh(Wx[x_t]) since Wh = b = 0
    const pass = allocPass(net, 1, 3);
    pass.inputs.set([0, 1, 2]);
    forwardLoss(net, pass, allocState(net, 1));
    const [s] = hiddenStats(net, pass);
    // h = tanh(2) = 0.96403, tanh(-3) = -0.99505, tanh(0.5) = 0.46212
    const h = [0.9640275800758169, -0.9950547536867305, 0.46211715726000974];
    const mean = (h[0] + h[1] + h[2]) / 3; // 0.14370
    const variance = ((h[0] - mean) ** 2 + (h[1] - mean) ** 2 + (h[2] - mean) ** 2) / 3;
    expect(s.hMean).toBeCloseTo(0.1436966612, 9);
    expect(s.hMean).toBeCloseTo(mean, 12);
    expect(s.hVar).toBeCloseTo(variance, 12);
    expect(s.hSaturated).toBeCloseTo(2 / 3, 12); // |0.964| and |-0.995| exceed 0.95, 0.462 does not
    expect(s.gateSaturated).toBeUndefined();
  });

  it('lstm, two layers, two streams: every statistic equals a naive per-step computation', () => {
    const V = 4, H = 3, L = 2, B = 2, T = 5;
    const net = createNetwork(referenceKernels('f64'), { cell: 'lstm', vocabSize: V, hiddenSize: H, layers: L, dropout: 0 });
    const random = seedrandom('stats');
    initParams(net, random);
    // large weights, so that some units and gates saturate and the counts are not trivially 0
    for (let i = 0; i < net.params.length; i++) net.params[i] += (random() - 0.5) * 6;
    // layer 0's input, forget and output gates wide open: c accumulates, so some |h| = |o·tanh(c)| pass 0.95
    const b0 = net.p['layer0.b'];
    for (let j = 0; j < H; j++) b0[j] = b0[H + j] = b0[3 * H + j] = 8;
    const pass = allocPass(net, B, T);
    for (let i = 0; i < T * B; i++) pass.inputs[i] = Math.floor(random() * V);
    forwardLoss(net, pass, allocState(net, B));
    const stats = hiddenStats(net, pass);

    // naive: per stream, per step, per unit; collect every h and every gate value per layer
    const hValues: number[][] = [[], []];
    const gateValues: Record<string, number[]>[] = [0, 1].map(() => ({ input: [], forget: [], cell: [], output: [] }));
    for (let b = 0; b < B; b++) {
      const h = [new Array(H).fill(0), new Array(H).fill(0)];
      const c = [new Array(H).fill(0), new Array(H).fill(0)];
      for (let t = 0; t < T; t++) {
        let x: number[] = Array.from({ length: V }, (_, v) => (v === pass.inputs[t * B + b] ? 1 : 0));
        for (let l = 0; l < L; l++) {
          const Wx = net.p[`layer${l}.Wx`], Wh = net.p[`layer${l}.Wh`], bias = net.p[`layer${l}.b`];
          const a = (g: number) => {
            let s = bias[g];
            for (let i = 0; i < x.length; i++) s += x[i] * Wx[i * 4 * H + g];
            for (let i = 0; i < H; i++) s += h[l][i] * Wh[i * 4 * H + g];
            return s;
          };
          const next: number[] = [];
          for (let j = 0; j < H; j++) {
            const i = sigmoid(a(j)), f = sigmoid(a(H + j)), g = Math.tanh(a(2 * H + j)), o = sigmoid(a(3 * H + j));
            c[l][j] = f * c[l][j] + i * g;
            next.push(o * Math.tanh(c[l][j]));
            gateValues[l].input.push(i); gateValues[l].forget.push(f); gateValues[l].cell.push(g); gateValues[l].output.push(o);
          }
          h[l] = next;
          hValues[l].push(...next);
          x = next;
        }
      }
    }
    const fraction = (values: number[], saturated: (v: number) => boolean) => values.filter(saturated).length / values.length;
    const sigmoidSaturated = (v: number) => v > SATURATION || v < 1 - SATURATION;
    const tanhSaturated = (v: number) => Math.abs(v) > SATURATION;
    for (let l = 0; l < L; l++) {
      const values = hValues[l];
      const mean = values.reduce((s, v) => s + v, 0) / values.length;
      const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
      expect(stats[l].hMean).toBeCloseTo(mean, 12);
      expect(stats[l].hVar).toBeCloseTo(variance, 12);
      expect(stats[l].hSaturated).toBeCloseTo(fraction(values, tanhSaturated), 12);
      const gates = stats[l].gateSaturated!;
      const expected = {
        input: fraction(gateValues[l].input, sigmoidSaturated),
        forget: fraction(gateValues[l].forget, sigmoidSaturated),
        cell: fraction(gateValues[l].cell, tanhSaturated),
        output: fraction(gateValues[l].output, sigmoidSaturated),
      };
      for (const [name, value] of Object.entries(expected)) expect(gates[name]).toBeCloseTo(value, 12);
      expect(gates.all).toBeCloseTo((expected.input + expected.forget + expected.cell + expected.output) / 4, 12);
    }
    // the weights are large enough that the test is not vacuous
    expect(stats.some((s) => s.hSaturated > 0)).toBe(true);
    expect(stats.some((s) => s.gateSaturated!.all > 0 && s.gateSaturated!.all < 1)).toBe(true);
  });

  it('gradient norms per layer and for the output layer make up the global norm', () => {
    const net: Network = createNetwork(referenceKernels('f64'), { cell: 'gru', vocabSize: 5, hiddenSize: 4, layers: 2, dropout: 0 });
    initParams(net, seedrandom('g'));
    const pass = allocPass(net, 2, 3);
    pass.inputs.set([0, 1, 2, 3, 4, 0]);
    pass.targets.set([1, 2, 3, 4, 0, 1]);
    net.grads.fill(0);
    forwardLoss(net, pass, allocState(net, 2));
    backward(net, pass);
    const norms = gradNorms(net);
    const norm = (names: string[]) => Math.sqrt(names.reduce((s, n) => s + Array.from(net.g[n]).reduce((a, g) => a + g * g, 0), 0));
    expect(norms.layers[0]).toBeCloseTo(norm(['layer0.Wx', 'layer0.Wh', 'layer0.b', 'layer0.bhn']), 12);
    expect(norms.layers[1]).toBeCloseTo(norm(['layer1.Wx', 'layer1.Wh', 'layer1.b', 'layer1.bhn']), 12);
    expect(norms.output).toBeCloseTo(norm(['out.W', 'out.b']), 12);
    const global = Math.sqrt(Array.from(net.grads).reduce((s, g) => s + g * g, 0));
    expect(Math.hypot(norms.layers[0], norms.layers[1], norms.output)).toBeCloseTo(global, 12);
  });
});

describe('statistics in the training loop', () => {
  it('runTraining with statsEvery attaches statistics to every n-th iteration event, measured before clipping', async () => {
    const text = 'the cat sat on the mat. '.repeat(40);
    const run = TrainingRun.create({
      corpus: corpusFromText(text),
      model: { cell: 'lstm', hiddenSize: 8, layers: 2, dropout: 0 },
      training: {
        batchSize: 2, seqLength: 8, optimizer: 'adam', lr: 0.01, gradClip: 0.01, lrDecay: 1, lrDecayAfter: 0,
        valFrac: 0, evalEvery: 100, valBatches: 0, seed: 1,
      },
      runName: 'stats', corpusName: 'cats', kernels: referenceKernels('f32'),
    });
    const events: IterationEvent[] = [];
    await runTraining(run, { budget: { maxIters: 6 }, statsEvery: 3, hooks: { onIteration: (e) => events.push(e) } });
    expect(events.map((e) => e.stats !== undefined)).toEqual([false, false, true, false, false, true]);
    const { stats, gradNorm } = events[2];
    if (!stats) throw new Error('no statistics on the third iteration');
    expect(stats.layers).toHaveLength(2);
    // clip 0.01 is far below the norm: the per-layer norms are the unclipped ones, adding up to the reported norm
    expect(Math.hypot(...stats.layers.map((s) => s.gradNorm), stats.outputGradNorm)).toBeCloseTo(gradNorm, 4);
    expect(gradNorm).toBeGreaterThan(0.01);
    for (const s of stats.layers) {
      expect(s.hVar).toBeGreaterThan(0);
      expect(Math.abs(s.hMean)).toBeLessThan(1);
    }
    expect(formatStepStats(stats)).toMatch(/^L0 h [+-]\d\.\d{3} var \d\.\d{3} sat \d+(\.\d)?% gates \d+(\.\d)?% grad \S+ \| L1 /);
  });
});

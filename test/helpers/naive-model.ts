// A deliberately naive twin of the model's forward pass: one stream, one time step, one unit at a time, with
// explicit sums and no GEMMs, row lookups or shared buffers, written straight from the cell equations. The
// structured sequence-level forward must agree with it.

import type { Network } from '../../src/core/model.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Mean cross-entropy of predicting targets[t][b] from inputs[t][b] (time-major, like Pass), from initial state h0/c0. */
export function naiveLoss(
  net: Network, inputs: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number,
  h0: ArrayLike<number>[], c0: ArrayLike<number>[],
): number {
  const { cell, hiddenSize: H, vocabSize: V, layers: L } = net.config;
  const p = net.p;
  let total = 0;
  for (let b = 0; b < B; b++) {
    const h = h0.map((a) => Array.from({ length: H }, (_, j) => a[b * H + j]));
    const c = c0.map((a) => Array.from({ length: H }, (_, j) => (a.length ? a[b * H + j] : 0)));
    for (let t = 0; t < T; t++) {
      // x: one-hot of the input id, as a dense vector — the naive way
      let x: number[] = Array.from({ length: V }, (_, v) => (v === inputs[t * B + b] ? 1 : 0));
      for (let l = 0; l < L; l++) {
        const Wx = p[`layer${l}.Wx`];
        const Wh = p[`layer${l}.Wh`];
        const bias = p[`layer${l}.b`];
        const I = x.length;
        const G = bias.length;
        const ax = (g: number) => { let s = 0; for (let i = 0; i < I; i++) s += x[i] * Wx[i * G + g]; return s; };
        const ah = (g: number) => { let s = 0; for (let i = 0; i < H; i++) s += h[l][i] * Wh[i * G + g]; return s; };
        const hNew: number[] = [];
        if (cell === 'rnn') {
          for (let j = 0; j < H; j++) hNew.push(Math.tanh(ax(j) + ah(j) + bias[j]));
        } else if (cell === 'lstm') {
          for (let j = 0; j < H; j++) {
            const i = sigmoid(ax(j) + ah(j) + bias[j]);
            const f = sigmoid(ax(H + j) + ah(H + j) + bias[H + j]);
            const g = Math.tanh(ax(2 * H + j) + ah(2 * H + j) + bias[2 * H + j]);
            const o = sigmoid(ax(3 * H + j) + ah(3 * H + j) + bias[3 * H + j]);
            c[l][j] = f * c[l][j] + i * g;
            hNew.push(o * Math.tanh(c[l][j]));
          }
        } else {
          const bhn = p[`layer${l}.bhn`];
          for (let j = 0; j < H; j++) {
            const r = sigmoid(ax(j) + bias[j] + ah(j));
            const z = sigmoid(ax(H + j) + bias[H + j] + ah(H + j));
            const n = Math.tanh(ax(2 * H + j) + bias[2 * H + j] + r * (ah(2 * H + j) + bhn[j]));
            hNew.push((1 - z) * n + z * h[l][j]);
          }
        }
        h[l] = hNew;
        x = hNew;
      }
      const Wy = p['out.W'];
      const by = p['out.b'];
      const logits = Array.from({ length: V }, (_, v) => {
        let s = by[v];
        for (let j = 0; j < H; j++) s += x[j] * Wy[j * V + v];
        return s;
      });
      const max = Math.max(...logits);
      const logSum = Math.log(logits.reduce((s, z) => s + Math.exp(z - max), 0)) + max;
      total += logSum - logits[targets[t * B + b]];
    }
  }
  return total / (B * T);
}

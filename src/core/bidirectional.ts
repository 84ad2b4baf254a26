// Deep bidirectional RNN/LSTM/GRU, trained as a masked-character model: some input characters are replaced by a
// mask symbol and the network predicts them from both sides. Each layer runs a forward cell (t = 0 … T-1) and a
// backward cell (the same cell code over reversed time); the next layer and the output layer read both.
//
// Dimension legend: B batch windows, T time steps, N = T*B rows, V vocabulary size (the mask symbol is the extra
// input id V, never a target), H hidden size per direction, L layers, G gate width (H rnn, 4H lstm, 3H gru).
// Buffers are time-major, row t*B + b. The backward cell's workspace is in its own (reversed) time: its row
// s*B + b is real time t = T-1-s. Each window is independent: every pass starts both directions from a zero state
// and nothing is carried from one batch to the next (the backward direction has no "previous batch" anyway).

import { allocLayerWorkspace, gateWidth, type LayerWorkspace } from './cells/workspace.js';
import { lstmBackward, lstmForward } from './cells/lstm.js';
import { gruBackward, gruForward } from './cells/gru.js';
import { rnnBackward, rnnForward } from './cells/rnn.js';
import { BatchLoader } from './data/batches.js';
import type { IdArray } from './data/corpus.js';
import type { FloatArray } from './kernels/types.js';
import { softmaxRowCrossEntropy } from './kernels/reference.js';
import { runSteps, type BatchSteps } from './evaluate.js';
import { fillSlicedMask, type Network } from './model.js';
import { createRandom, dropoutKey } from './random.js';
import { assert, CharnnError } from './errors.js';

export const DEFAULT_MASK_FRAC = 0.15;

const DIRECTIONS = ['fwd', 'bwd'] as const;

/** Buffers for one forward/backward pass of a bidirectional network over (T, B); allocated once, reused. */
export interface BiPass {
  readonly B: number;
  readonly T: number;
  readonly inputs: Int32Array;       // (N) input ids: the text, with the mask id V at masked positions
  readonly targets: Int32Array;      // (N) the original ids
  readonly masked: Int32Array;       // (N) 1 where the loss is taken (ids buffers: a worker thread can share them)
  readonly fwd: LayerWorkspace[];    // [l] forward cell, real time
  readonly bwd: LayerWorkspace[];    // [l] backward cell, reversed time
  readonly outs: FloatArray[];       // [l] (N, 2H) [h_fwd | h_bwd] at real time t (after dropout when active)
  readonly douts: FloatArray[];      // [l] (N, 2H) gradient w.r.t. outs[l]
  readonly dropMasks: FloatArray[];  // [l] (N, 2H) 0 or 1/(1-p) (empty when dropout is off)
  readonly logits: FloatArray;       // (N, V) logits, then probabilities at masked rows, then dLoss/dlogits
  readonly hProj: FloatArray;        // (B, G) gru scratch for h·Wh
  dropoutActive: boolean;            // whether the last forward applied dropout (backward must match)
  maskedCount: number;               // masked rows in the last loss
}

export function allocBiPass(net: Network, B: number, T: number): BiPass {
  const { cell, hiddenSize: H, vocabSize: V, layers: L, dropout } = net.config;
  assert(net.config.bidirectional === true, 'allocBiPass needs a bidirectional network');
  const k = net.kernels;
  const N = T * B;
  const pass: BiPass = {
    B, T,
    inputs: k.allocIds(N),
    targets: k.allocIds(N),
    masked: k.allocIds(N),
    fwd: [], bwd: [], outs: [], douts: [], dropMasks: [],
    logits: k.alloc(N * V),
    hProj: k.alloc(cell === 'gru' ? B * gateWidth(cell, H) : 0),
    dropoutActive: false,
    maskedCount: 0,
  };
  for (let l = 0; l < L; l++) {
    pass.fwd.push(allocLayerWorkspace(k, cell, B, T, H));
    pass.bwd.push(allocLayerWorkspace(k, cell, B, T, H));
    pass.outs.push(k.alloc(N * 2 * H));
    pass.douts.push(k.alloc(N * 2 * H));
    pass.dropMasks.push(k.alloc(dropout > 0 ? N * 2 * H : 0));
  }
  return pass;
}

/**
 * Swaps time block s with block T-1-s of a (T, blockSize) buffer, in place: turns a real-time buffer into the
 * backward cell's reversed time and back.
 */
function reverseTimeBlocks(buf: FloatArray, T: number, blockSize: number): void {
  for (let s = 0; s < T >> 1; s++) {
    const a = s * blockSize;
    const b = (T - 1 - s) * blockSize;
    for (let e = 0; e < blockSize; e++) {
      const tmp = buf[a + e];
      buf[a + e] = buf[b + e];
      buf[b + e] = tmp;
    }
  }
}

/**
 * Runs both directions of every layer and the output layer over pass.inputs; leaves logits in pass.logits.
 * With `dropoutRandom`, applies inverted dropout to every layer's output (training); 'masks-drawn' applies the
 * masks already in pass.dropMasks (a data-parallel slice whose masks the main thread drew with drawBiDropoutMasks).
 */
export function biForwardLogits(net: Network, pass: BiPass, dropoutRandom?: (() => number) | 'masks-drawn'): void {
  const { cell, hiddenSize: H, vocabSize: V, layers: L, dropout } = net.config;
  const k = net.kernels;
  const { B, T } = pass;
  const N = T * B;
  const H2 = 2 * H;
  pass.dropoutActive = dropout > 0 && dropoutRandom !== undefined;
  // every mask before any layer runs: the same draws in the same order as masking after each layer
  if (pass.dropoutActive && dropoutRandom !== 'masks-drawn') drawBiDropoutMasks([pass], [0, B], dropout, dropoutRandom!);
  for (let l = 0; l < L; l++) {
    for (let d = 0; d < 2; d++) {
      const ws = d === 0 ? pass.fwd[l] : pass.bwd[l];
      const name = `layer${l}.${DIRECTIONS[d]}`;
      const G = ws.G;
      const Wx = net.p[`${name}.Wx`];
      const bias = net.p[`${name}.b`];
      const gates = ws.gates;
      // zero initial state: windows are independent
      ws.hs.fill(0, 0, B * H);
      if (cell === 'lstm') ws.cs.fill(0, 0, B * H);
      if (l === 0) {
        // gates[s] = Wx[x_t] + b, a row lookup, where t = s forward and t = T-1-s backward
        for (let s = 0; s < T; s++) {
          const t = d === 0 ? s : T - 1 - s;
          for (let b = 0; b < B; b++) {
            const src = pass.inputs[t * B + b] * G;
            const dst = (s * B + b) * G;
            for (let j = 0; j < G; j++) gates[dst + j] = Wx[src + j] + bias[j];
          }
        }
      } else {
        // gates = outs[l-1]·Wx + b over all steps in real time; the backward cell then wants them reversed
        k.gemmNN(N, G, H2, pass.outs[l - 1], 0, H2, Wx, 0, G, gates, 0, G, false);
        if (d === 1) reverseTimeBlocks(gates, T, B * G);
        for (let r = 0; r < N; r++) {
          const dst = r * G;
          for (let j = 0; j < G; j++) gates[dst + j] += bias[j];
        }
      }
      if (cell === 'lstm') lstmForward(k, ws, net.p[`${name}.Wh`]);
      else if (cell === 'gru') gruForward(k, ws, net.p[`${name}.Wh`], net.p[`${name}.bhn`], pass.hProj);
      else rnnForward(k, ws, net.p[`${name}.Wh`]);
    }
    // outs[l][t] = [h_fwd_t | h_bwd_t]: forward hs block t+1 is time t; backward hs block s+1 is time T-1-s
    const out = pass.outs[l];
    const fhs = pass.fwd[l].hs;
    const bhs = pass.bwd[l].hs;
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        const dst = (t * B + b) * H2;
        const f = ((t + 1) * B + b) * H;
        const r = ((T - t) * B + b) * H;
        for (let j = 0; j < H; j++) {
          out[dst + j] = fhs[f + j];
          out[dst + H + j] = bhs[r + j];
        }
      }
    }
    if (pass.dropoutActive) {
      const mask = pass.dropMasks[l];
      for (let e = 0; e < N * H2; e++) out[e] *= mask[e];
    }
  }
  // logits = outs_top·Wout + bout
  const logits = pass.logits;
  k.gemmNN(N, V, H2, pass.outs[L - 1], 0, H2, net.p['out.W'], 0, V, logits, 0, V, false);
  const outBias = net.p['out.b'];
  for (let r = 0; r < N; r++) {
    const row = r * V;
    for (let v = 0; v < V; v++) logits[row + v] += outBias[v];
  }
}

/**
 * Softmax cross-entropy at the masked rows only, mean over them, in nats per masked character. Turns those rows
 * of pass.logits into probabilities (what backward and the statistics need); other rows keep their logits.
 */
export function maskedCrossEntropy(pass: BiPass, V: number): number {
  const { logits, targets, masked } = pass;
  const N = pass.T * pass.B;
  let total = 0;
  let count = 0;
  for (let r = 0; r < N; r++) {
    if (masked[r] === 0) continue;
    count++;
    total += softmaxRowCrossEntropy(logits, r * V, V, targets[r]);
  }
  assert(count > 0, 'a masked batch needs at least one masked position');
  pass.maskedCount = count;
  return total / count;
}

/**
 * Draws the inverted-dropout masks (0 or 1/(1-p)) of every layer of a (T, B) batch, one generator draw per layer
 * (random.ts fillDropoutMask; row t·B + b has both directions' columns), into the passes of its window slices: slice i holds windows starts[i] …
 * starts[i+1]-1. Data-parallel slices thus get exactly the masks one pass over the whole batch would.
 */
export function drawBiDropoutMasks(slices: readonly BiPass[], starts: readonly number[], p: number, random: () => number): void {
  const { T } = slices[0];
  for (let l = 0; l < slices[0].dropMasks.length; l++) {
    const H2 = slices[0].outs[l].length / (T * slices[0].B);
    fillSlicedMask(slices.map((slice) => slice.dropMasks[l]), starts, T, H2, dropoutKey(random), p);
  }
}

/** Forward over the batch and the mean loss over its masked positions, nats per character. */
export function biForwardLoss(net: Network, pass: BiPass, dropoutRandom?: (() => number) | 'masks-drawn'): number {
  biForwardLogits(net, pass, dropoutRandom);
  return maskedCrossEntropy(pass, net.config.vocabSize);
}

/** After a loss: how many masked positions have their original character as the most probable one. */
export function maskedCorrect(pass: BiPass, V: number): number {
  const { logits, targets, masked } = pass;
  let correct = 0;
  for (let r = 0; r < pass.T * pass.B; r++) {
    if (masked[r] === 0) continue;
    const row = r * V;
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[row + v] > logits[row + best]) best = v;
    if (best === targets[r]) correct++;
  }
  return correct;
}

/**
 * Backpropagates the loss of the last biForwardLoss, ACCUMULATING into net.grads (callers zero them first).
 * Both directions of a layer send their input gradient to the same outs of the layer below. `totalMasked`: the
 * masked positions the loss is a mean over (those of all data-parallel slices of the batch).
 */
export function biBackward(net: Network, pass: BiPass, totalMasked = pass.maskedCount): void {
  const { cell, hiddenSize: H, vocabSize: V, layers: L } = net.config;
  const k = net.kernels;
  const { B, T, logits, targets, masked } = pass;
  const N = T * B;
  const H2 = 2 * H;
  // dlogits = (p - onehot(target)) / M at the M masked rows, 0 elsewhere
  const invM = 1 / totalMasked;
  for (let r = 0; r < N; r++) {
    const row = r * V;
    if (masked[r] === 0) {
      for (let v = 0; v < V; v++) logits[row + v] = 0;
      continue;
    }
    logits[row + targets[r]] -= 1;
    for (let v = 0; v < V; v++) logits[row + v] *= invM;
  }
  // dWout += outs_topᵀ·dlogits, dbout += Σ_r dlogits, douts_top = dlogits·Woutᵀ
  k.gemmTN(H2, V, N, pass.outs[L - 1], 0, H2, logits, 0, V, net.g['out.W'], 0, V, true);
  const dOutBias = net.g['out.b'];
  for (let r = 0; r < N; r++) for (let v = 0; v < V; v++) dOutBias[v] += logits[r * V + v];
  k.gemmNT(N, H2, V, logits, 0, V, net.p['out.W'], 0, V, pass.douts[L - 1], 0, H2, false);

  for (let l = L - 1; l >= 0; l--) {
    const dout = pass.douts[l];
    // through the dropout mask: dout *= mask
    if (pass.dropoutActive) {
      const mask = pass.dropMasks[l];
      for (let e = 0; e < N * H2; e++) dout[e] *= mask[e];
    }
    // dh_fwd[t] = dout[t, 0:H]; dh_bwd[s] = dout[T-1-s, H:2H]
    const fdhs = pass.fwd[l].dhs;
    const bdhs = pass.bwd[l].dhs;
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        const src = (t * B + b) * H2;
        const f = (t * B + b) * H;
        const r = ((T - 1 - t) * B + b) * H;
        for (let j = 0; j < H; j++) {
          fdhs[f + j] = dout[src + j];
          bdhs[r + j] = dout[src + H + j];
        }
      }
    }
    for (let d = 0; d < 2; d++) {
      const ws = d === 0 ? pass.fwd[l] : pass.bwd[l];
      const name = `layer${l}.${DIRECTIONS[d]}`;
      const G = ws.G;
      // nothing flows in from beyond the window's end
      ws.dhNext.fill(0);
      ws.dcNext.fill(0);
      const Wh = net.p[`${name}.Wh`];
      const dWh = net.g[`${name}.Wh`];
      if (cell === 'lstm') lstmBackward(k, ws, Wh, dWh);
      else if (cell === 'gru') gruBackward(k, ws, Wh, dWh, net.g[`${name}.bhn`]);
      else rnnBackward(k, ws, Wh, dWh);
      // db += Σ_r dgates (order of rows does not matter)
      const dgates = ws.dgates;
      const db = net.g[`${name}.b`];
      for (let r = 0; r < N; r++) for (let j = 0; j < G; j++) db[j] += dgates[r * G + j];
      const dWx = net.g[`${name}.Wx`];
      if (l === 0) {
        // row lookup: dWx[x_t] += dgates[s], t = s forward and t = T-1-s backward
        for (let s = 0; s < T; s++) {
          const t = d === 0 ? s : T - 1 - s;
          for (let b = 0; b < B; b++) {
            const dst = pass.inputs[t * B + b] * G;
            const src = (s * B + b) * G;
            for (let j = 0; j < G; j++) dWx[dst + j] += dgates[src + j];
          }
        }
      } else {
        // back to real time, then dWx += outs[l-1]ᵀ·dgates and douts[l-1] (+)= dgates·Wxᵀ (fwd sets, bwd adds)
        if (d === 1) reverseTimeBlocks(dgates, T, B * G);
        k.gemmTN(H2, G, N, pass.outs[l - 1], 0, H2, dgates, 0, G, dWx, 0, G, true);
        k.gemmNT(N, H2, G, dgates, 0, G, net.p[`${name}.Wx`], 0, G, pass.douts[l - 1], 0, H2, d === 1);
      }
    }
  }
}

/**
 * Masks pass.inputs: each position independently with probability maskFrac becomes the mask id V, and is marked
 * for the loss; a batch that drew none gets one, so every batch has a loss. Uses only `random`.
 */
export function maskInputs(pass: BiPass, V: number, maskFrac: number, random: () => number): void {
  const { inputs, targets, masked } = pass;
  const N = pass.T * pass.B;
  let count = 0;
  for (let r = 0; r < N; r++) {
    const m = random() < maskFrac ? 1 : 0;
    masked[r] = m;
    inputs[r] = m === 1 ? V : targets[r];
    count += m;
  }
  if (count === 0) {
    const r = Math.min(N - 1, Math.floor(random() * N));
    masked[r] = 1;
    inputs[r] = V;
  }
}

/** Batch `index` of `loader` as T-step windows of B streams, masked with `random`. */
export function fillMaskedBatch(
  loader: BatchLoader, index: number, pass: BiPass, V: number, maskFrac: number, random: () => number,
): void {
  // the loader writes the window into its first buffer and the window shifted by one into its second; a masked
  // model needs only the window (as targets), and maskInputs overwrites pass.inputs entirely
  loader.fill(index, pass.targets, pass.inputs);
  maskInputs(pass, V, maskFrac, random);
}

export interface MaskedEvaluation {
  loss: number;      // mean cross-entropy at masked positions, nats per character
  accuracy: number;  // fraction of masked positions whose most probable character is the original
  masked: number;    // masked positions scored
  chars: number;     // characters read
}

/**
 * Masked-character loss and accuracy over `batches` batches of `loader`, masking with a generator seeded by
 * `seed` (the same positions every time, so successive evaluations compare). Null if `shouldStop` interrupts.
 */
export function* maskedLossSteps(
  net: Network, loader: BatchLoader, pass: BiPass, batches: number, maskFrac: number, seed: number | string,
): BatchSteps<MaskedEvaluation> {
  const random = createRandom(`${seed}:eval-mask`);
  const V = net.config.vocabSize;
  let totalLoss = 0;
  let correct = 0;
  let masked = 0;
  for (let i = 0; i < batches; i++) {
    yield;
    fillMaskedBatch(loader, i, pass, V, maskFrac, random);
    totalLoss += biForwardLoss(net, pass) * pass.maskedCount;
    correct += maskedCorrect(pass, V);
    masked += pass.maskedCount;
  }
  return { loss: totalLoss / masked, accuracy: correct / masked, masked, chars: batches * pass.B * pass.T };
}

/**
 * Masked-character evaluation of a whole text, cut into up to `maxStreams` streams of `seqLength`-character
 * windows (each read on its own, so positions near a window's edge see context on one side only).
 */
export function evaluateMaskedIds(
  net: Network, ids: IdArray,
  options: { maskFrac?: number; seed?: number | string; seqLength?: number; maxStreams?: number } = {},
): MaskedEvaluation {
  const maskFrac = options.maskFrac ?? net.config.maskFrac ?? DEFAULT_MASK_FRAC;
  if (!(maskFrac > 0 && maskFrac < 1)) throw new CharnnError(`The mask fraction must be above 0 and below 1, got ${maskFrac}.`);
  if (ids.length < 2) throw new CharnnError('The text to evaluate must have at least 2 characters.');
  const loader = BatchLoader.forEvaluation(ids, options.maxStreams ?? 32, Math.min(options.seqLength ?? 100, ids.length - 1))!;
  const pass = allocBiPass(net, loader.batchSize, loader.seqLength);
  return runSteps(maskedLossSteps(net, loader, pass, loader.batchesPerEpoch, maskFrac, options.seed ?? 0))!;
}

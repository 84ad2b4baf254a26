// The stacked network: one-hot input (a row lookup), L recurrent layers, a linear output layer to vocabulary
// logits, softmax cross-entropy. Forward and backward run over a whole (T, B) batch, layer by layer.
//
// Dimension legend: B batch streams, T time steps, V vocabulary size, H hidden size, L layers,
// G gate width (H rnn, 4H lstm, 3H gru). Buffers are time-major: row t*B + b.

import { allocLayerWorkspace, gateWidth, type CellType, type LayerWorkspace } from './cells/workspace.js';
import { lstmBackward, lstmForward } from './cells/lstm.js';
import { gruBackward, gruForward } from './cells/gru.js';
import { rnnBackward, rnnForward } from './cells/rnn.js';
import type { FloatArray, Kernels } from './kernels/types.js';
import { makeLayout, namedViews, type ParamLayout, type ParamSpec } from './params.js';
import { CharnnError } from './errors.js';
import { dropoutKey, fillDropoutMask } from './random.js';

export type { CellType } from './cells/workspace.js';

export interface ModelConfig {
  cell: CellType;
  vocabSize: number;  // V
  hiddenSize: number; // H
  layers: number;     // L
  dropout: number;    // inverted dropout on every layer's output during training, 0 = off
  bidirectional?: boolean; // a masked-character model reading both directions (src/bidirectional.ts); absent = false
  maskFrac?: number;       // bidirectional only: fraction of input positions masked in training
}

export const CELL_TYPES: readonly CellType[] = ['rnn', 'lstm', 'gru'];

/** Parameters in layout order: per layer Wx (I, G), Wh (H, G), b (G) [, bhn (H) for gru]; then out.W (H, V), out.b (V). */
export function modelParamSpecs(config: ModelConfig): ParamSpec[] {
  const { cell, vocabSize: V, hiddenSize: H, layers: L } = config;
  const G = gateWidth(cell, H);
  if (config.bidirectional) return bidirectionalParamSpecs(cell, V, H, L, G);
  const specs: ParamSpec[] = [];
  for (let l = 0; l < L; l++) {
    const I = l === 0 ? V : H;
    specs.push({ name: `layer${l}.Wx`, shape: [I, G] });
    specs.push({ name: `layer${l}.Wh`, shape: [H, G] });
    specs.push({ name: `layer${l}.b`, shape: [G] });
    if (cell === 'gru') specs.push({ name: `layer${l}.bhn`, shape: [H] });
  }
  specs.push({ name: 'out.W', shape: [H, V] });
  specs.push({ name: 'out.b', shape: [V] });
  return specs;
}

/**
 * Bidirectional: per layer and direction (fwd reads t = 0 … T-1, bwd reads t = T-1 … 0) Wx (I, G), Wh (H, G),
 * b (G) [, bhn (H)], where layer 0 reads V+1 ids (the last is the mask symbol) and layer l > 0 reads both
 * directions of the layer below (2H); then out.W (2H, V), out.b (V).
 */
function bidirectionalParamSpecs(cell: CellType, V: number, H: number, L: number, G: number): ParamSpec[] {
  const specs: ParamSpec[] = [];
  for (let l = 0; l < L; l++) {
    for (const dir of ['fwd', 'bwd']) {
      specs.push({ name: `layer${l}.${dir}.Wx`, shape: [l === 0 ? V + 1 : 2 * H, G] });
      specs.push({ name: `layer${l}.${dir}.Wh`, shape: [H, G] });
      specs.push({ name: `layer${l}.${dir}.b`, shape: [G] });
      if (cell === 'gru') specs.push({ name: `layer${l}.${dir}.bhn`, shape: [H] });
    }
  }
  specs.push({ name: 'out.W', shape: [2 * H, V] });
  specs.push({ name: 'out.b', shape: [V] });
  return specs;
}

export function validateModelConfig(config: ModelConfig): void {
  if (!CELL_TYPES.includes(config.cell)) throw new CharnnError(`Unknown model type '${config.cell}': use rnn, lstm or gru.`);
  const positiveInt = (v: number) => Number.isInteger(v) && v > 0;
  if (!positiveInt(config.vocabSize)) throw new CharnnError(`The vocabulary size must be a positive integer, got ${config.vocabSize}.`);
  if (!positiveInt(config.hiddenSize) || config.hiddenSize > 8192) throw new CharnnError(`The hidden size must be an integer from 1 to 8192, got ${config.hiddenSize}.`);
  if (!positiveInt(config.layers) || config.layers > 64) throw new CharnnError(`The number of layers must be an integer from 1 to 64, got ${config.layers}.`);
  if (!(config.dropout >= 0 && config.dropout < 1)) throw new CharnnError(`Dropout must be at least 0 and below 1, got ${config.dropout}.`);
  if (config.bidirectional !== undefined && typeof config.bidirectional !== 'boolean') throw new CharnnError(`'bidirectional' must be true or false, got ${String(config.bidirectional)}.`);
  if (config.bidirectional && !(typeof config.maskFrac === 'number' && config.maskFrac > 0 && config.maskFrac < 1)) {
    throw new CharnnError(`The mask fraction must be above 0 and below 1, got ${String(config.maskFrac)}.`);
  }
}

/** Parameters and their gradients, in one flat layout with named views. */
export interface Network {
  readonly config: ModelConfig;
  readonly kernels: Kernels;
  readonly layout: ParamLayout;
  readonly params: FloatArray;
  readonly grads: FloatArray;
  readonly p: Record<string, FloatArray>;
  readonly g: Record<string, FloatArray>;
}

export function createNetwork(kernels: Kernels, config: ModelConfig): Network {
  validateModelConfig(config);
  const layout = makeLayout(modelParamSpecs(config));
  const params = kernels.alloc(layout.size);
  const grads = kernels.alloc(layout.size);
  return { config, kernels, layout, params, grads, p: namedViews(params, layout), g: namedViews(grads, layout) };
}

/**
 * PyTorch's initialisation, U(-1/√H, 1/√H) for weights; biases zero except the LSTM forget gate's, set to 1
 * so that early in training the cell remembers by default.
 */
export function initParams(net: Network, random: () => number): void {
  const { hiddenSize: H, layers: L, cell } = net.config;
  const bound = 1 / Math.sqrt(H);
  for (const entry of net.layout.entries) {
    const view = net.p[entry.name];
    const isBias = entry.shape.length === 1;
    for (let i = 0; i < view.length; i++) view[i] = isBias ? 0 : (2 * random() - 1) * bound;
  }
  const directions = net.config.bidirectional ? ['.fwd', '.bwd'] : [''];
  if (cell === 'lstm') for (let l = 0; l < L; l++) for (const dir of directions) net.p[`layer${l}${dir}.b`].fill(1, H, 2 * H);
}

/** Hidden state carried from one batch to the next: per layer h (B, H) and, for lstm, c (B, H). */
export interface CarriedState {
  readonly batchSize: number;
  readonly h: FloatArray[];
  readonly c: FloatArray[];
}

export function allocState(net: Network, batchSize: number): CarriedState {
  const { layers: L, hiddenSize: H, cell } = net.config;
  const h: FloatArray[] = [];
  const c: FloatArray[] = [];
  for (let l = 0; l < L; l++) {
    h.push(net.kernels.alloc(batchSize * H));
    c.push(net.kernels.alloc(cell === 'lstm' ? batchSize * H : 0));
  }
  return { batchSize, h, c };
}

export function resetState(state: CarriedState): void {
  for (const a of state.h) a.fill(0);
  for (const a of state.c) a.fill(0);
}

/** Buffers for one forward/backward pass over a (T, B) batch; allocated once and reused every iteration. */
export interface Pass {
  readonly B: number;
  readonly T: number;
  readonly inputs: Int32Array;   // (T*B) input ids
  readonly targets: Int32Array;  // (T*B) target ids
  readonly layers: LayerWorkspace[];
  readonly dropped: FloatArray[];  // [l] (T*B, H): dropout applied to layer l's output (empty when dropout is off)
  readonly masks: FloatArray[];    // [l] (T*B, H): 0 or 1/(1-p), the scale each output was multiplied by
  readonly logits: FloatArray;     // (T*B, V) logits, then probabilities, then dLoss/dlogits
  readonly hProj: FloatArray;      // (B, G) gru scratch for h·Wh
  dropoutActive: boolean;          // whether the last forward applied dropout (backward must match)
}

export function allocPass(net: Network, B: number, T: number): Pass {
  const { cell, hiddenSize: H, vocabSize: V, layers: L, dropout } = net.config;
  const k = net.kernels;
  const layers: LayerWorkspace[] = [];
  const dropped: FloatArray[] = [];
  const masks: FloatArray[] = [];
  for (let l = 0; l < L; l++) {
    layers.push(allocLayerWorkspace(k, cell, B, T, H));
    dropped.push(k.alloc(dropout > 0 ? T * B * H : 0));
    masks.push(k.alloc(dropout > 0 ? T * B * H : 0));
  }
  return {
    B, T,
    inputs: k.allocIds(T * B),
    targets: k.allocIds(T * B),
    layers, dropped, masks,
    logits: k.alloc(T * B * V),
    hProj: k.alloc(cell === 'gru' ? B * gateWidth(cell, H) : 0),
    dropoutActive: false,
  };
}

/**
 * A pass of B ≤ pass.B streams over the first part of `pass`'s buffers, shared, not copied (what one writes the other
 * sees): the batched sampler runs exactly the streams still going without allocating a pass for each number of them
 * (kernel buffers are never freed). Every buffer's layout depends on B only through its row count, so a prefix is a
 * complete pass. Make views after the kernels' last allocation (a growing WebAssembly memory detaches older views).
 */
export function passView(pass: Pass, B: number): Pass {
  if (B === pass.B) return pass;
  if (!(Number.isInteger(B) && B >= 1 && B <= pass.B)) throw new RangeError(`passView: ${B} streams of a ${pass.B}-stream pass`);
  const part = <A extends FloatArray | Int32Array>(a: A): A => a.subarray(0, (a.length / pass.B) * B) as A;
  return {
    B, T: pass.T,
    inputs: part(pass.inputs),
    targets: part(pass.targets),
    layers: pass.layers.map((ws) => ({
      B, T: ws.T, H: ws.H, G: ws.G,
      gates: part(ws.gates), hs: part(ws.hs), cs: part(ws.cs), tanhC: part(ws.tanhC), hn: part(ws.hn),
      dgates: part(ws.dgates), dgatesH: part(ws.dgatesH), dhs: part(ws.dhs), dhNext: part(ws.dhNext), dcNext: part(ws.dcNext),
      packedWh: ws.packedWh, packedWhT: ws.packedWhT, // packed weights: no rows
    })),
    dropped: pass.dropped.map(part),
    masks: pass.masks.map(part),
    logits: part(pass.logits),
    hProj: part(pass.hProj),
    dropoutActive: false,
  };
}

/** Parameter names of layer l, made once: forward and backward run per character when sampling, without allocating. */
interface LayerNames { Wx: string; Wh: string; b: string; bhn: string }
const layerNameCache: LayerNames[] = [];
function layerNames(l: number): LayerNames {
  return (layerNameCache[l] ??= { Wx: `layer${l}.Wx`, Wh: `layer${l}.Wh`, b: `layer${l}.b`, bhn: `layer${l}.bhn` });
}

/** Where layer l's output lives: the dropout copy when dropout was applied, else its hidden states h_0 … h_{T-1}. */
function layerOutput(pass: Pass, l: number): { buf: FloatArray; off: number } {
  const ws = pass.layers[l];
  return pass.dropoutActive ? { buf: pass.dropped[l], off: 0 } : { buf: ws.hs, off: ws.B * ws.H };
}

/** A frozen network's weight matrices packed once for gemmPacked: Wx of every layer above the first, Wh, out.W. */
interface PackedWeights {
  readonly Wx: FloatArray[];  // [l] (H, G) for l ≥ 1; [0] unused
  readonly Wh: FloatArray[];  // [l] (H, G)
  readonly out: FloatArray;   // (H, V)
}
const packedWeights = new WeakMap<Network, PackedWeights>();

/**
 * Declares that the network's weights will not change again (a model loaded to sample, score or inspect): its
 * forward products from now on use the weight matrices packed once, here, instead of packing (or reading in place)
 * on every call. The products are the same to the bit (every kernel set sums a packed product in the order of the
 * plain one: test/kernels-exact.test.ts); only the packing is saved, which for the sampler's few-row steps is most
 * of a product. Changing the weights afterwards would leave the packed copies stale, so only frozen networks do it.
 */
export function freezeWeights(net: Network): void {
  const { hiddenSize: H, vocabSize: V, layers: L } = net.config;
  const k = net.kernels;
  const pack = (W: FloatArray, K: number, N: number) => {
    const dst = k.alloc(k.packedSize(K, N));
    k.packB(dst, W, K, N, false);
    return dst;
  };
  const G = gateWidth(net.config.cell, H);
  const Wx: FloatArray[] = [k.alloc(0)];
  const Wh: FloatArray[] = [];
  for (let l = 0; l < L; l++) {
    const names = layerNames(l);
    if (l > 0) Wx.push(pack(net.p[names.Wx], H, G));
    Wh.push(pack(net.p[names.Wh], H, G));
  }
  packedWeights.set(net, { Wx, Wh, out: pack(net.p['out.W'], H, V) });
}

/**
 * Runs the layers and the output layer over pass.inputs, starting from `state` (not modified: call
 * `carryState` to move the final state into it), or with `state` null from the initial state already in the pass
 * (row block 0 of every layer's hs and cs: the batched sampler gathers it there directly). Leaves logits in
 * pass.logits. With `dropoutRandom`, applies inverted dropout to every layer's output (training); without it,
 * dropout is off (evaluation, sampling).
 * `dropoutRandom = 'masks-drawn'` applies the masks already in pass.masks (a data-parallel slice of a batch whose
 * masks the main thread drew with drawDropoutMasks).
 */
export function forwardLogits(net: Network, pass: Pass, state: CarriedState | null, dropoutRandom?: (() => number) | 'masks-drawn'): void {
  const { cell, hiddenSize: H, vocabSize: V, layers: L, dropout } = net.config;
  const k = net.kernels;
  const { B, T } = pass;
  const N = T * B;
  pass.dropoutActive = dropout > 0 && dropoutRandom !== undefined;
  // every mask before any layer runs: the same draws in the same order as mask-after-each-layer
  if (pass.dropoutActive && dropoutRandom !== 'masks-drawn') drawDropoutMasks([pass], [0, B], dropout, dropoutRandom!);
  const packed = packedWeights.get(net);
  for (let l = 0; l < L; l++) {
    const ws = pass.layers[l];
    const G = ws.G;
    const names = layerNames(l);
    const Wx = net.p[names.Wx];
    const bias = net.p[names.b];
    if (state) {
      ws.hs.set(state.h[l]);
      if (cell === 'lstm') ws.cs.set(state.c[l]);
    }
    // the sampler's step (one stream, one step) of an LSTM layer: everything below in one kernel call
    if (cell === 'lstm' && T === 1 && B === 1 && k.lstmLayerStep) {
      const input = l === 0 ? null : layerOutput(pass, l - 1);
      k.lstmLayerStep(ws.hs, ws.cs, ws.tanhC, ws.gates, pass.inputs, input?.buf ?? null, input?.off ?? 0, l === 0 ? V : H, Wx, bias, net.p[names.Wh], H);
      if (pass.dropoutActive) applyDropout(pass, l);
      continue;
    }
    // gates = x·Wx + b: a row lookup for the one-hot first layer, one GEMM over all T steps above it
    const gates = ws.gates;
    if (l === 0) {
      k.embedRows(gates, N, G, pass.inputs, Wx, bias);
    } else {
      const input = layerOutput(pass, l - 1);
      if (packed) k.gemmPacked(N, G, H, input.buf, input.off, H, packed.Wx[l], gates, 0, G, false);
      else k.gemmNN(N, G, H, input.buf, input.off, H, Wx, 0, G, gates, 0, G, false);
      k.addBiasRows(gates, N, G, bias);
    }
    if (cell === 'lstm') lstmForward(k, ws, net.p[names.Wh], packed?.Wh[l]);
    else if (cell === 'gru') gruForward(k, ws, net.p[names.Wh], net.p[names.bhn], pass.hProj, packed?.Wh[l]);
    else rnnForward(k, ws, net.p[names.Wh], packed?.Wh[l]);
    if (pass.dropoutActive) applyDropout(pass, l);
  }
  // logits = h_top·Wout + bout
  const top = layerOutput(pass, L - 1);
  const logits = pass.logits;
  if (packed) k.gemmPacked(N, V, H, top.buf, top.off, H, packed.out, logits, 0, V, false);
  else k.gemmNN(N, V, H, top.buf, top.off, H, net.p['out.W'], 0, V, logits, 0, V, false);
  k.addBiasRows(logits, N, V, net.p['out.b']);
}

/**
 * Draws the inverted-dropout masks (0 or 1/(1-p)) of every layer of a (T, B) batch, one generator draw per layer
 * (random.ts fillDropoutMask), into the passes of its stream slices: slice i covers streams starts[i] … starts[i+1]-1
 * (starts[0] = 0, last = B). Data-parallel slices thus get exactly the masks one pass over the whole batch would.
 */
export function drawDropoutMasks(slices: readonly Pass[], starts: readonly number[], p: number, random: () => number): void {
  for (let l = 0; l < slices[0].layers.length; l++) {
    fillSlicedMask(slices.map((slice) => slice.masks[l]), starts, slices[0].T, slices[0].layers[l].H, dropoutKey(random), p);
  }
}

/**
 * One layer's dropout mask `key` over the stream slices of a (T, B) batch: masks[s] is slice s's (T, width, W) part
 * (streams starts[s] … starts[s+1]-1, W units a row), and element (t, b, j) of the whole batch is number (t·B + b)·W + j.
 */
export function fillSlicedMask(masks: readonly FloatArray[], starts: readonly number[], T: number, W: number, key: number, p: number): void {
  const B = starts[starts.length - 1];
  for (let s = 0; s < masks.length; s++) {
    const width = starts[s + 1] - starts[s];
    for (let t = 0; t < T; t++) fillDropoutMask(masks[s], t * width * W, width * W, key, (t * B + starts[s]) * W, p);
  }
}

function applyDropout(pass: Pass, l: number): void {
  const ws = pass.layers[l];
  const n = ws.T * ws.B * ws.H;
  const off = ws.B * ws.H;
  const mask = pass.masks[l];
  const out = pass.dropped[l];
  for (let e = 0; e < n; e++) out[e] = ws.hs[off + e] * mask[e];
}

/**
 * Softmax cross-entropy against pass.targets, mean over the T*B positions, in nats per character.
 * Turns pass.logits into probabilities (what backward and the statistics need).
 */
export function softmaxCrossEntropy(pass: Pass, V: number, kernels: Kernels): number {
  const N = pass.T * pass.B;
  return kernels.softmaxCrossEntropy(pass.logits, pass.targets, N, V) / N;
}

/** Forward over the batch and the mean loss in nats per character. */
export function forwardLoss(net: Network, pass: Pass, state: CarriedState, dropoutRandom?: (() => number) | 'masks-drawn'): number {
  forwardLogits(net, pass, state, dropoutRandom);
  return softmaxCrossEntropy(pass, net.config.vocabSize, net.kernels);
}

/**
 * Backpropagates the loss of the last forwardLoss through the whole batch, ACCUMULATING into net.grads
 * (callers zero them first). Gradients stop at the batch boundary: nothing flows in from beyond step T-1.
 * Afterwards pass.layers[l].dhNext / dcNext hold the gradient w.r.t. the initial state of layer l.
 */
export function backward(net: Network, pass: Pass, totalPositions = pass.T * pass.B): void {
  const { cell, hiddenSize: H, vocabSize: V, layers: L } = net.config;
  const k = net.kernels;
  const { B, T, logits, targets } = pass;
  const N = T * B;
  // dlogits = (p - onehot(target)) / N, N counting every position of the batch (all data-parallel slices)
  k.softmaxCrossEntropyBackward(logits, targets, N, V, 1 / totalPositions);
  // dWout += topᵀ·dlogits, dbout += Σ_r dlogits
  const top = layerOutput(pass, L - 1);
  k.gemmTN(H, V, N, top.buf, top.off, H, logits, 0, V, net.g['out.W'], 0, V, true);
  k.sumRows(net.g['out.b'], logits, N, V);
  // dh_top = dlogits·Woutᵀ (through the dropout mask)
  const topWs = pass.layers[L - 1];
  k.gemmNT(N, H, V, logits, 0, V, net.p['out.W'], 0, V, topWs.dhs, 0, H, false);
  if (pass.dropoutActive) k.multiplyInPlace(topWs.dhs, pass.masks[L - 1], N * H);

  for (let l = L - 1; l >= 0; l--) {
    const ws = pass.layers[l];
    const G = ws.G;
    ws.dhNext.fill(0);
    ws.dcNext.fill(0);
    const Wh = net.p[`layer${l}.Wh`];
    const dWh = net.g[`layer${l}.Wh`];
    if (cell === 'lstm') lstmBackward(k, ws, Wh, dWh);
    else if (cell === 'gru') gruBackward(k, ws, Wh, dWh, net.g[`layer${l}.bhn`]);
    else rnnBackward(k, ws, Wh, dWh);
    // db += Σ_r dgates
    const dgates = ws.dgates;
    k.sumRows(net.g[`layer${l}.b`], dgates, N, G);
    const dWx = net.g[`layer${l}.Wx`];
    if (l === 0) {
      // one-hot input: dWx[x_r] += dgates_r, a row scatter
      k.scatterAddRows(dWx, pass.inputs, dgates, N, G);
    } else {
      // dWx += inputᵀ·dgates over all steps; dinput = dgates·Wxᵀ becomes dh of the layer below
      const input = layerOutput(pass, l - 1);
      k.gemmTN(H, G, N, input.buf, input.off, H, dgates, 0, G, dWx, 0, G, true);
      const below = pass.layers[l - 1];
      k.gemmNT(N, H, G, dgates, 0, G, net.p[`layer${l}.Wx`], 0, G, below.dhs, 0, H, false);
      if (pass.dropoutActive) k.multiplyInPlace(below.dhs, pass.masks[l - 1], N * H);
    }
  }
}

/** Moves the final hidden state of the last forward into `state`, for the next batch of the same streams. */
export function carryState(net: Network, pass: Pass, state: CarriedState): void {
  const { B, T } = pass;
  const H = net.config.hiddenSize;
  const last = T * B * H; // hs/cs block T holds h_{T-1}, c_{T-1}
  for (let l = 0; l < net.config.layers; l++) {
    const ws = pass.layers[l];
    copyFloats(ws.hs, last, state.h[l], 0, B * H);
    if (net.config.cell === 'lstm') copyFloats(ws.cs, last, state.c[l], 0, B * H);
  }
}

/**
 * to[toOff … +n) = from[fromOff … +n). An element loop for a few floats, one set() of a subarray view for more: on
 * Node 20 (Zen 5) the view and set cost ~50 ns, the loop ~1.6 ns a float, so they meet near 32 floats.
 */
export function copyFloats(from: FloatArray, fromOff: number, to: FloatArray, toOff: number, n: number): void {
  if (n < 32) {
    for (let e = 0; e < n; e++) to[toOff + e] = from[fromOff + e];
  } else {
    to.set(from.subarray(fromOff, fromOff + n), toOff);
  }
}

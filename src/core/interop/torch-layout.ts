// charnn's flat parameters <-> PyTorch's state_dict of `rnn = nn.LSTM/GRU/RNN(V, H, L[, bidirectional=True])` and
// `decoder = nn.Linear(H or 2H, V)`, tensor by tensor: the names, shapes and gate orders `load_state_dict(strict=True)`
// expects, plus the `__metadata__` that carries what PyTorch's tensors cannot (vocabulary, cell, mask fraction).
//
// Dimension legend: V vocabulary size, H hidden size, L layers, G gate width (H rnn, 4H lstm, 3H gru), I a layer's
// input width (V, or V+1 for a bidirectional layer 0 whose last input id is the mask symbol; H or 2H above).
//
//   charnn (x·W, row-major)            PyTorch (W·x)
//   layer{l}.Wx (I, G)                 rnn.weight_ih_l{l} (G, I)  = Wxᵀ
//   layer{l}.Wh (H, G)                 rnn.weight_hh_l{l} (G, H)  = Whᵀ
//   layer{l}.b  (G)                    rnn.bias_ih_l{l} (G) + rnn.bias_hh_l{l} (G)   (charnn has one bias …)
//   layer{l}.bhn (H), gru only         rnn.bias_hh_l{l}[2H:3H]                         (… except GRU's n gate,
//                                      whose recurrent bias sits inside r ⊙ (h·Wh_n + bhn), so it stays apart)
//   out.W (H, V), out.b (V)            decoder.weight (V, H) = out.Wᵀ, decoder.bias (V)
//   bidirectional: layer{l}.fwd.* and layer{l}.bwd.* -> …_l{l} and …_l{l}_reverse
//
// Gate orders agree: charnn's LSTM is [i f g o] and its GRU [r z n], both PyTorch's. Export writes charnn's bias
// as bias_ih and zeros (GRU: [0, 0, bhn]) as bias_hh; import adds the two where charnn has one bias.

import { CharnnError } from '../errors.js';
import { modelParamSpecs, validateModelConfig, type CellType, type ModelConfig } from '../model.js';
import { makeLayout, namedViews } from '../params.js';
import { gateWidth } from '../cells/workspace.js';
import { DEFAULT_MASK_FRAC } from '../bidirectional.js';
import type { NamedTensor } from './safetensors.js';

/** What `__metadata__.format` says in a file charnn (or examples/pytorch) wrote. */
export const SAFETENSORS_FORMAT = 'charnn';
export const SAFETENSORS_FORMAT_VERSION = '1';

interface LayerMap {
  charnn: string;  // parameter name prefix: layer{l} or layer{l}.fwd / layer{l}.bwd
  torch: string;   // tensor name suffix: l{l} or l{l}_reverse
  inputSize: number;
}

function layerMaps(config: ModelConfig): LayerMap[] {
  const { vocabSize: V, hiddenSize: H, layers: L } = config;
  const maps: LayerMap[] = [];
  for (let l = 0; l < L; l++) {
    if (config.bidirectional) {
      const inputSize = l === 0 ? V + 1 : 2 * H;
      maps.push({ charnn: `layer${l}.fwd`, torch: `l${l}`, inputSize });
      maps.push({ charnn: `layer${l}.bwd`, torch: `l${l}_reverse`, inputSize });
    } else {
      maps.push({ charnn: `layer${l}`, torch: `l${l}`, inputSize: l === 0 ? V : H });
    }
  }
  return maps;
}

/** The state_dict names and shapes of a charnn model, in PyTorch's order (rnn.* by layer, then decoder.*). */
export function torchTensorSpecs(config: ModelConfig): Array<{ name: string; shape: number[] }> {
  const H = config.hiddenSize;
  const G = gateWidth(config.cell, H);
  const specs: Array<{ name: string; shape: number[] }> = [];
  for (const m of layerMaps(config)) {
    specs.push({ name: `rnn.weight_ih_${m.torch}`, shape: [G, m.inputSize] });
    specs.push({ name: `rnn.weight_hh_${m.torch}`, shape: [G, H] });
    specs.push({ name: `rnn.bias_ih_${m.torch}`, shape: [G] });
    specs.push({ name: `rnn.bias_hh_${m.torch}`, shape: [G] });
  }
  specs.push({ name: 'decoder.weight', shape: [config.vocabSize, config.bidirectional ? 2 * H : H] });
  specs.push({ name: 'decoder.bias', shape: [config.vocabSize] });
  return specs;
}

/** dst (cols, rows) = srcᵀ for a row-major src (rows, cols). */
function transpose(src: Float32Array, rows: number, cols: number, dst: Float32Array = new Float32Array(rows * cols)): Float32Array {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  return dst;
}

/** charnn's flat parameters as PyTorch tensors (new arrays; `params` is not kept). */
export function toTorchTensors(config: ModelConfig, params: Float32Array): NamedTensor[] {
  const layout = makeLayout(modelParamSpecs(config));
  if (params.length !== layout.size) throw new Error(`internal error: ${params.length} parameters, the model has ${layout.size}`);
  const p = namedViews(params, layout) as Record<string, Float32Array>;
  const H = config.hiddenSize;
  const G = gateWidth(config.cell, H);
  const out: NamedTensor[] = [];
  for (const m of layerMaps(config)) {
    const biasHh = new Float32Array(G);
    if (config.cell === 'gru') biasHh.set(p[`${m.charnn}.bhn`], 2 * H);
    out.push({ name: `rnn.weight_ih_${m.torch}`, shape: [G, m.inputSize], data: transpose(p[`${m.charnn}.Wx`], m.inputSize, G) });
    out.push({ name: `rnn.weight_hh_${m.torch}`, shape: [G, H], data: transpose(p[`${m.charnn}.Wh`], H, G) });
    out.push({ name: `rnn.bias_ih_${m.torch}`, shape: [G], data: Float32Array.from(p[`${m.charnn}.b`]) });
    out.push({ name: `rnn.bias_hh_${m.torch}`, shape: [G], data: biasHh });
  }
  const Hout = config.bidirectional ? 2 * H : H;
  out.push({ name: 'decoder.weight', shape: [config.vocabSize, Hout], data: transpose(p['out.W'], Hout, config.vocabSize) });
  out.push({ name: 'decoder.bias', shape: [config.vocabSize], data: Float32Array.from(p['out.b']) });
  return out;
}

/** "a, b, c and 4 more" */
function listNames(names: readonly string[], max = 6): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/**
 * PyTorch tensors -> charnn's flat parameters for `config`. Refuses, naming them, missing or unexpected tensor names,
 * wrong shapes, and NaN or infinite values.
 */
export function fromTorchTensors(
  config: ModelConfig, tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>, label = 'The file',
): Float32Array {
  const specs = torchTensorSpecs(config);
  const wanted = new Set(specs.map((s) => s.name));
  const missing = specs.map((s) => s.name).filter((n) => !tensors.has(n));
  const unexpected = [...tensors.keys()].filter((n) => !wanted.has(n));
  if (missing.length > 0 || unexpected.length > 0) {
    const what = [
      missing.length > 0 ? `missing ${listNames(missing)}` : '',
      unexpected.length > 0 ? `unexpected ${listNames(unexpected)}` : '',
    ].filter(Boolean).join('; ');
    throw new CharnnError(
      `${label} does not hold the tensors of its model (${describeConfig(config)}) under PyTorch's names (rnn.*, decoder.*): ${what}.`,
    );
  }
  for (const s of specs) {
    const t = tensors.get(s.name)!;
    if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i])) {
      throw new CharnnError(`${label} has tensor '${s.name}' of shape [${t.shape.join(', ')}], but its model (${describeConfig(config)}) needs [${s.shape.join(', ')}].`);
    }
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i])) throw new CharnnError(`${label} has NaN or infinite values in tensor '${s.name}'; a model with them cannot be used.`);
    }
  }
  const layout = makeLayout(modelParamSpecs(config));
  const params = new Float32Array(layout.size);
  const p = namedViews(params, layout) as Record<string, Float32Array>;
  const H = config.hiddenSize;
  const G = gateWidth(config.cell, H);
  const get = (name: string) => tensors.get(name)!.data;
  for (const m of layerMaps(config)) {
    transpose(get(`rnn.weight_ih_${m.torch}`), G, m.inputSize, p[`${m.charnn}.Wx`]);
    transpose(get(`rnn.weight_hh_${m.torch}`), G, H, p[`${m.charnn}.Wh`]);
    const biasIh = get(`rnn.bias_ih_${m.torch}`);
    const biasHh = get(`rnn.bias_hh_${m.torch}`);
    const b = p[`${m.charnn}.b`];
    // gru: r and z take both biases, n only the input one (its recurrent bias is bhn)
    const summed = config.cell === 'gru' ? 2 * H : G;
    for (let j = 0; j < G; j++) b[j] = j < summed ? biasIh[j] + biasHh[j] : biasIh[j];
    if (config.cell === 'gru') p[`${m.charnn}.bhn`].set(biasHh.subarray(2 * H, 3 * H));
  }
  const Hout = config.bidirectional ? 2 * H : H;
  transpose(get('decoder.weight'), config.vocabSize, Hout, p['out.W']);
  p['out.b'].set(get('decoder.bias'));
  return params;
}

export function describeConfig(config: ModelConfig): string {
  return `${config.bidirectional ? 'bidirectional ' : ''}${config.cell} ${config.layers}×${config.hiddenSize}, vocabulary ${config.vocabSize}`;
}

/**
 * The architecture from the tensors alone, for a file without charnn's metadata (a model built in PyTorch by hand):
 * layers from the names, H from weight_hh, the cell from G / H, V from the decoder, bidirectional from `_reverse`.
 */
export function inferTorchConfig(tensors: ReadonlyMap<string, { shape: readonly number[] }>, label = 'The file'): ModelConfig {
  const hh = tensors.get('rnn.weight_hh_l0');
  const decoder = tensors.get('decoder.weight');
  if (!hh || hh.shape.length !== 2 || !decoder || decoder.shape.length !== 2) {
    throw new CharnnError(`${label} does not hold a PyTorch char-rnn model: it needs rnn.weight_hh_l0 and decoder.weight (an nn.LSTM/GRU/RNN named rnn and an nn.Linear named decoder).`);
  }
  const [G, H] = hh.shape;
  const cells: Record<number, CellType> = { 1: 'rnn', 3: 'gru', 4: 'lstm' };
  const cell = G % H === 0 ? cells[G / H] : undefined;
  if (!cell) throw new CharnnError(`${label} has rnn.weight_hh_l0 of shape [${G}, ${H}]: ${G} gates per ${H} hidden units is not an RNN (1), GRU (3) or LSTM (4).`);
  let layers = 0;
  while (tensors.has(`rnn.weight_hh_l${layers}`)) layers++;
  const config: ModelConfig = { cell, vocabSize: decoder.shape[0], hiddenSize: H, layers, dropout: 0 };
  if (tensors.has('rnn.weight_hh_l0_reverse')) {
    config.bidirectional = true;
    config.maskFrac = DEFAULT_MASK_FRAC;
  }
  validateModelConfig(config);
  return config;
}

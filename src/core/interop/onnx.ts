// A charnn model as an ONNX graph of standard operators, for serving in any ONNX runtime (C++, C#, Java, mobile, web).
//
//   ids (int64 [T, B]) -> OneHot -> L × LSTM/GRU/RNN (layout 0: time-major) -> MatMul + Add -> logits (float [T, B, V])
//   h0 [L, B, H] (and c0 for LSTM) in, hn (and cn) out: a caller steps one character at a time (T = 1, feeding hn
//   back as h0) or scores a whole sequence. A bidirectional model reads ids with the mask symbol as id V, starts
//   both directions from zero (as charnn does) and has only ids in and logits out.
//
// Dimension legend: T time steps, B batch streams, V vocabulary size, H hidden size, L layers, D directions (1 or 2),
// G gate width, I a layer's input width.
//
// ONNX's gate orders differ from charnn's (= PyTorch's): LSTM i o f c (charnn i f g o), GRU z r h (charnn r z n), and
// ONNX keeps input and recurrent biases apart: Wb = charnn's b, Rb = 0 except GRU's h gate, which takes bhn with
// linear_before_reset = 1 (PyTorch's formulation: r multiplies h·R_h + Rb_h).
//
// The protobuf is written here by hand: the graph uses a small, stable subset of onnx.proto (ModelProto, GraphProto,
// NodeProto, AttributeProto, TensorProto, ValueInfoProto), about a hundred lines, where a protobuf library would
// add a dependency and a code generator to every user's install for the one command that needs it.

import { makeLayout, namedViews } from '../params.js';
import { modelParamSpecs, type ModelConfig } from '../model.js';
import { gateWidth } from '../cells/workspace.js';
import type { CheckpointHeader } from '../snapshot.js';
import { charnnMetadata, refuseNonFinite } from './convert.js';

export const ONNX_OPSET = 14;
const ONNX_IR_VERSION = 7;

// ---------------------------------------------------------------------------------------------------------------
// protobuf wire format: varints, length-delimited fields, fixed 32-bit floats

const WIRE_VARINT = 0;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

class Proto {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }

  private varint(value: number | bigint): this {
    // int64 fields: a negative value is its 64-bit two's complement, ten bytes
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      out.push(byte);
    } while (v !== 0n);
    return this.push(Uint8Array.from(out));
  }

  private key(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  int(field: number, value: number): this {
    return this.key(field, WIRE_VARINT).varint(value);
  }

  ints(field: number, values: readonly number[]): this {
    for (const v of values) this.int(field, v); // unpacked: what proto2's onnx.proto declares
    return this;
  }

  float(field: number, value: number): this {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    return this.key(field, WIRE_FIXED32).push(bytes);
  }

  bytes(field: number, value: Uint8Array): this {
    return this.key(field, WIRE_LENGTH).varint(value.length).push(value);
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (m: Proto) => void): this {
    const inner = new Proto();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

// onnx.proto field numbers and enums used below
const DTYPE_FLOAT = 1;
const DTYPE_INT64 = 7;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

type Attribute = number | string | { ints: number[] } | { float: number };
interface Node { op: string; inputs: string[]; outputs: string[]; attributes?: Record<string, Attribute> }
interface Initializer { name: string; dims: number[]; float?: Float32Array; int64?: number[] }
interface ValueInfo { name: string; elemType: number; dims: Array<number | string> }

function tensorProto(m: Proto, t: Initializer): void {
  m.ints(1, t.dims);
  if (t.float) {
    m.int(2, DTYPE_FLOAT).string(8, t.name);
    const raw = new Uint8Array(t.float.length * 4);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < t.float.length; i++) view.setFloat32(4 * i, t.float[i], true); // raw_data is little-endian
    m.bytes(9, raw);
  } else {
    m.int(2, DTYPE_INT64).string(8, t.name);
    m.ints(7, t.int64!);
  }
}

function encodeModel(
  nodes: Node[], initializers: Initializer[], inputs: ValueInfo[], outputs: ValueInfo[], metadata: Record<string, string>,
): Uint8Array {
  const valueInfo = (m: Proto, v: ValueInfo) => {
    m.string(1, v.name);
    m.message(2, (type) => type.message(1, (tensor) => {
      tensor.int(1, v.elemType);
      tensor.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }));
  };
  const model = new Proto();
  model.int(1, ONNX_IR_VERSION).string(2, 'charnn').string(3, '1');
  model.string(6, 'A charnn character-level language model: ids [T, B] -> logits [T, B, V]; metadata_props hold the vocabulary.');
  model.message(7, (graph) => {
    nodes.forEach((n, i) => graph.message(1, (node) => {
      for (const input of n.inputs) node.string(1, input);
      for (const output of n.outputs) node.string(2, output);
      node.string(3, `${n.op}_${i}`).string(4, n.op);
      for (const [name, value] of Object.entries(n.attributes ?? {})) {
        node.message(5, (a) => {
          a.string(1, name);
          if (typeof value === 'number') a.int(20, ATTR_INT).int(3, value);
          else if (typeof value === 'string') a.int(20, ATTR_STRING).bytes(4, new TextEncoder().encode(value));
          else if ('ints' in value) a.int(20, ATTR_INTS).ints(8, value.ints);
          else a.int(20, ATTR_FLOAT).float(2, value.float);
        });
      }
    }));
    graph.string(2, 'charnn');
    for (const t of initializers) graph.message(5, (m) => tensorProto(m, t));
    for (const v of inputs) graph.message(11, (m) => valueInfo(m, v));
    for (const v of outputs) graph.message(12, (m) => valueInfo(m, v));
  });
  model.message(8, (opset) => opset.string(1, '').int(2, ONNX_OPSET));
  for (const [key, value] of Object.entries(metadata)) model.message(14, (entry) => entry.string(1, key).string(2, value));
  return model.finish();
}

// ---------------------------------------------------------------------------------------------------------------
// charnn's weights in ONNX's layout

/** For each ONNX gate block in order, the charnn gate block it comes from. */
const GATE_BLOCKS: Record<ModelConfig['cell'], number[]> = {
  lstm: [0, 3, 1, 2], // ONNX i o f c  <-  charnn i f g o
  gru: [1, 0, 2],     // ONNX z r h    <-  charnn r z n
  rnn: [0],
};

/** W (G, I) in ONNX gate order from charnn's x·W layout (I, G): W[g*H + j][k] = src[k][block(g)*H + j]. */
function onnxWeight(src: Float32Array, I: number, H: number, blocks: number[], dst: Float32Array, dstOffset: number): void {
  const G = blocks.length * H;
  blocks.forEach((from, g) => {
    for (let j = 0; j < H; j++) {
      const row = dstOffset + (g * H + j) * I;
      const col = from * H + j;
      for (let k = 0; k < I; k++) dst[row + k] = src[k * G + col];
    }
  });
}

function onnxBias(bias: Float32Array, H: number, blocks: number[], dst: Float32Array, dstOffset: number): void {
  blocks.forEach((from, g) => dst.set(bias.subarray(from * H, (from + 1) * H), dstOffset + g * H));
}

/**
 * The ONNX graph of a model with these parameters (layout of modelParamSpecs); `metadata` goes into the model's
 * metadata_props (charnn puts there what it puts in a safetensors file's __metadata__: vocabulary, config).
 */
export function modelToOnnx(config: ModelConfig, params: Float32Array, metadata: Record<string, string> = {}): Uint8Array {
  refuseNonFinite(params);
  const { cell, vocabSize: V, hiddenSize: H, layers: L } = config;
  const bi = config.bidirectional === true;
  const D = bi ? 2 : 1;
  const G = gateWidth(cell, H);
  const blocks = GATE_BLOCKS[cell];
  const p = namedViews(params, makeLayout(modelParamSpecs(config))) as Record<string, Float32Array>;
  const op = { lstm: 'LSTM', gru: 'GRU', rnn: 'RNN' }[cell];
  const inputDepth = bi ? V + 1 : V;
  const nodes: Node[] = [];
  const init: Initializer[] = [
    { name: 'onehot_depth', dims: [1], int64: [inputDepth] },
    { name: 'onehot_values', dims: [2], float: Float32Array.of(0, 1) },
  ];
  // Slice of h0 along its layer axis, Squeeze of Y's direction axis: left-to-right models only
  if (!bi) init.push({ name: 'axis0', dims: [1], int64: [0] }, { name: 'axis1', dims: [1], int64: [1] });
  // x [T, B, V] one-hot
  nodes.push({ op: 'OneHot', inputs: ['ids', 'onehot_depth', 'onehot_values'], outputs: ['x0'], attributes: { axis: -1 } });
  const hOuts: string[] = [];
  const cOuts: string[] = [];
  for (let l = 0; l < L; l++) {
    const I = l === 0 ? inputDepth : D * H;
    const W = new Float32Array(D * G * I);
    const R = new Float32Array(D * G * H);
    const B = new Float32Array(D * 2 * G);
    const dirs = bi ? [`layer${l}.fwd`, `layer${l}.bwd`] : [`layer${l}`];
    dirs.forEach((name, d) => {
      onnxWeight(p[`${name}.Wx`], I, H, blocks, W, d * G * I);
      onnxWeight(p[`${name}.Wh`], H, H, blocks, R, d * G * H);
      onnxBias(p[`${name}.b`], H, blocks, B, d * 2 * G);
      if (cell === 'gru') B.set(p[`${name}.bhn`], d * 2 * G + G + 2 * H); // Rb of the h gate (last block)
    });
    init.push({ name: `W${l}`, dims: [D, G, I], float: W }, { name: `R${l}`, dims: [D, G, H], float: R }, { name: `B${l}`, dims: [D, 2 * G], float: B });
    const inputs = [`x${l}`, `W${l}`, `R${l}`, `B${l}`];
    if (!bi) {
      // this layer's slice of h0 (and c0): [1, B, H]
      init.push({ name: `start${l}`, dims: [1], int64: [l] }, { name: `end${l}`, dims: [1], int64: [l + 1] });
      nodes.push({ op: 'Slice', inputs: ['h0', `start${l}`, `end${l}`, 'axis0'], outputs: [`h0_${l}`] });
      inputs.push('', `h0_${l}`);
      if (cell === 'lstm') {
        nodes.push({ op: 'Slice', inputs: ['c0', `start${l}`, `end${l}`, 'axis0'], outputs: [`c0_${l}`] });
        inputs.push(`c0_${l}`);
      }
    }
    const outputs = [`y${l}`, `hn${l}`, ...(cell === 'lstm' ? [`cn${l}`] : [])];
    const attributes: Record<string, Attribute> = { hidden_size: H };
    if (bi) attributes.direction = 'bidirectional';
    if (cell === 'gru') attributes.linear_before_reset = 1;
    nodes.push({ op, inputs, outputs, attributes });
    hOuts.push(`hn${l}`);
    if (cell === 'lstm') cOuts.push(`cn${l}`);
    if (bi) {
      // y [T, 2, B, H] -> [T, B, 2, H] -> [T, B, 2H] = [h_fwd | h_bwd], charnn's (and PyTorch's) order
      nodes.push({ op: 'Transpose', inputs: [`y${l}`], outputs: [`yt${l}`], attributes: { perm: { ints: [0, 2, 1, 3] } } });
      init.push({ name: `shape${l}`, dims: [3], int64: [0, 0, 2 * H] });
      nodes.push({ op: 'Reshape', inputs: [`yt${l}`, `shape${l}`], outputs: [`x${l + 1}`] });
    } else {
      // y [T, 1, B, H] -> [T, B, H]
      nodes.push({ op: 'Squeeze', inputs: [`y${l}`, 'axis1'], outputs: [`x${l + 1}`] });
    }
  }
  // logits = x_L · out.W + out.b
  init.push({ name: 'out_W', dims: [D * H, V], float: Float32Array.from(p['out.W']) }, { name: 'out_b', dims: [V], float: Float32Array.from(p['out.b']) });
  nodes.push({ op: 'MatMul', inputs: [`x${L}`, 'out_W'], outputs: ['scores'] });
  nodes.push({ op: 'Add', inputs: ['scores', 'out_b'], outputs: ['logits'] });

  const inputs: ValueInfo[] = [{ name: 'ids', elemType: DTYPE_INT64, dims: ['T', 'B'] }];
  const outputs: ValueInfo[] = [{ name: 'logits', elemType: DTYPE_FLOAT, dims: ['T', 'B', V] }];
  if (!bi) {
    inputs.push({ name: 'h0', elemType: DTYPE_FLOAT, dims: [L, 'B', H] });
    outputs.push({ name: 'hn', elemType: DTYPE_FLOAT, dims: [L, 'B', H] });
    nodes.push({ op: 'Concat', inputs: hOuts, outputs: ['hn'], attributes: { axis: 0 } });
    if (cell === 'lstm') {
      inputs.push({ name: 'c0', elemType: DTYPE_FLOAT, dims: [L, 'B', H] });
      outputs.push({ name: 'cn', elemType: DTYPE_FLOAT, dims: [L, 'B', H] });
      nodes.push({ op: 'Concat', inputs: cOuts, outputs: ['cn'], attributes: { axis: 0 } });
    }
  }
  return encodeModel(nodes, init, inputs, outputs, metadata);
}

/** A checkpoint's model as ONNX, its vocabulary and config in metadata_props (the keys of charnnMetadata). */
export function checkpointToOnnx(header: CheckpointHeader, params: Float32Array): Uint8Array {
  return modelToOnnx(header.model, params, charnnMetadata(header.model, header.vocab, header.training.seqLength));
}

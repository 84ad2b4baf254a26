// The safetensors codec and charnn <-> PyTorch tensor layout, without PyTorch: exact round trips, files written by
// hand the way other writers do (half precision, other key orders), and every kind of bad file refused in one sentence.

import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, halfToFloat } from '../src/core/interop/safetensors.js';
import { fromTorchTensors, inferTorchConfig, toTorchTensors, torchTensorSpecs } from '../src/core/interop/torch-layout.js';
import { modelToSafetensors, safetensorsToCheckpoint } from '../src/core/interop/convert.js';
import { modelParamSpecs, type ModelConfig } from '../src/core/model.js';
import { makeLayout } from '../src/core/params.js';
import { makeVocab } from '../src/core/data/corpus.js';
import { createRandom } from '../src/core/random.js';
import { CharnnError } from '../src/core/errors.js';
import { expectedTensors, parseHeader } from '../src/core/snapshot.js';

/** A file as another writer would lay it out: our own JSON text, tensors' bytes given as is. */
function handWritten(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CharnnError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('safetensors codec', () => {
  it('round-trips tensors and metadata exactly, with an 8-byte aligned header', () => {
    const a = Float32Array.from([1.5, -2, 3e-8, 0]);
    const b = Float32Array.from([Math.PI]);
    const bytes = encodeSafetensors([{ name: 'a', shape: [2, 2], data: a }, { name: 'b.c', shape: [1], data: b }], { x: 'y', vocab: '["é","\\n"]' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    expect(bytes.length).toBe(8 + headerLength + 20);
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ x: 'y', vocab: '["é","\\n"]' });
    expect(tensors.get('a')).toEqual({ shape: [2, 2], dtype: 'F32', data: a });
    expect(tensors.get('b.c')!.data).toEqual(b);
  });

  it('reads F64, F16 and BF16 tensors (any order in the header) as float32', () => {
    const f64 = new Uint8Array(Float64Array.from([0.1, -7]).buffer);
    const f16 = new Uint8Array(Uint16Array.from([0x3c00, 0xc000, 0x3555, 0x0001]).buffer); // 1, -2, 0.333…, 2^-24
    const bf16 = new Uint8Array(Uint16Array.from([0x3f80, 0x4049]).buffer); // 1, 3.140625
    const data = new Uint8Array([...f16, ...f64, ...bf16]);
    const file = handWritten({
      d: { dtype: 'F64', shape: [2], data_offsets: [8, 24] },
      h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [24, 28] },
    }, data);
    const { tensors, metadata } = decodeSafetensors(file);
    expect(metadata).toEqual({});
    expect([...tensors.get('d')!.data]).toEqual([Math.fround(0.1), -7]);
    expect([...tensors.get('h')!.data]).toEqual([1, -2, Math.fround(halfToFloat(0x3555)), 2 ** -24]);
    expect(halfToFloat(0x3555)).toBeCloseTo(1 / 3, 3);
    expect([...tensors.get('b')!.data]).toEqual([1, 3.140625]);
  });

  it('refuses what is not a well-formed safetensors file, naming the problem', () => {
    const good = encodeSafetensors([{ name: 'w', shape: [3], data: Float32Array.from([1, 2, 3]) }], {});
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['empty', new Uint8Array(0), /not a safetensors file \(it has 0 bytes/],
      ['text', new TextEncoder().encode('hello world, this is a text file\n'), /not a safetensors file/],
      ['truncated data', good.subarray(0, good.length - 1), /damaged.*tensor 'w' ends at byte 12 of the data, which has 11: truncated/],
      ['truncated header', good.subarray(0, 20), /damaged.*truncated/],
      ['extra bytes', new Uint8Array([...good, 0, 0, 0, 0]), /4 bytes follow the last tensor/],
      ['gap', handWritten({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /starts at byte 4 .*gap or an overlap/],
      ['overlap', handWritten({
        v: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
      }, new Uint8Array(8)), /gap or an overlap/],
      ['size vs shape', handWritten({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /needs 12 bytes, its offsets span 8/],
      ['integer tensor', handWritten({ w: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /as I64; charnn reads floating-point tensors/],
      ['bad JSON', handWritten({}, new Uint8Array(0)).map((b, i) => (i === 9 ? 0xff : b)), /not valid UTF-8 JSON|not a JSON object/],
      ['metadata not strings', handWritten({ __metadata__: { n: 1 } }, new Uint8Array(0)), /__metadata__\.n is not a string/],
      ['no shape', handWritten({ w: { dtype: 'F32', data_offsets: [0, 4] } }, f32Bytes([1])), /tensor 'w' has no valid shape/],
    ];
    for (const [what, bytes, message] of cases) expect(refusal(() => decodeSafetensors(bytes, "'x.safetensors'")), what).toMatch(message);
    // a huge length field is refused before anything is allocated
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 62n, true);
    expect(refusal(() => decodeSafetensors(huge))).toMatch(/header length field says 4611686018427387904 bytes/);
  });
});

describe('safetensors import of damaged files', () => {
  const config: ModelConfig = { cell: 'gru', vocabSize: 3, hiddenSize: 2, layers: 1, dropout: 0 };
  const file = modelToSafetensors(config, makeVocab(['a', 'b', 'c']), Float32Array.from({ length: 47 }, (_, i) => i / 47), 50);

  it('every truncation is refused in one sentence (never a crash, never a model)', () => {
    for (let n = 0; n < file.length; n++) {
      expect(() => safetensorsToCheckpoint(file.subarray(0, n), { runName: 'x', source: 'x' }), `${n} bytes`).toThrow(CharnnError);
    }
    expect(safetensorsToCheckpoint(file, { runName: 'x', source: 'x' }).header.model).toEqual(config);
  });

  it('a flipped byte anywhere is refused in one sentence or, in the tensor data, still gives a model', () => {
    const random = createRandom('flips');
    for (let trial = 0; trial < 400; trial++) {
      const damaged = file.slice();
      const at = Math.floor(random() * damaged.length);
      damaged[at] ^= 1 << Math.floor(random() * 8);
      try {
        safetensorsToCheckpoint(damaged, { runName: 'x', source: 'x' });
      } catch (error) {
        expect(error, `byte ${at}`).toBeInstanceOf(CharnnError);
      }
    }
  });
});

const CONFIGS: ModelConfig[] = [
  { cell: 'rnn', vocabSize: 7, hiddenSize: 3, layers: 2, dropout: 0 },
  { cell: 'lstm', vocabSize: 5, hiddenSize: 4, layers: 3, dropout: 0.2 },
  { cell: 'gru', vocabSize: 6, hiddenSize: 2, layers: 2, dropout: 0 },
  { cell: 'gru', vocabSize: 6, hiddenSize: 3, layers: 2, dropout: 0, bidirectional: true, maskFrac: 0.3 },
  { cell: 'lstm', vocabSize: 4, hiddenSize: 2, layers: 1, dropout: 0, bidirectional: true, maskFrac: 0.15 },
];

function randomParams(config: ModelConfig, seed: string): Float32Array {
  const random = createRandom(seed);
  return Float32Array.from({ length: makeLayout(modelParamSpecs(config)).size }, () => 2 * random() - 1);
}

describe('charnn <-> PyTorch tensor layout', () => {
  for (const config of CONFIGS) {
    const name = `${config.bidirectional ? 'bidirectional ' : ''}${config.cell} ${config.layers}×${config.hiddenSize}`;
    it(`${name}: PyTorch's names and shapes, and an exact round trip`, () => {
      const params = randomParams(config, name);
      const tensors = toTorchTensors(config, params);
      expect(tensors.map((t) => ({ name: t.name, shape: t.shape }))).toEqual(torchTensorSpecs(config));
      const G = { rnn: 1, lstm: 4, gru: 3 }[config.cell] * config.hiddenSize;
      const I0 = config.vocabSize + (config.bidirectional ? 1 : 0);
      expect(tensors[0]).toMatchObject({ name: 'rnn.weight_ih_l0', shape: [G, I0] });
      expect(tensors.at(-2)).toMatchObject({ name: 'decoder.weight', shape: [config.vocabSize, config.hiddenSize * (config.bidirectional ? 2 : 1)] });
      if (config.bidirectional) expect(tensors.map((t) => t.name)).toContain(`rnn.bias_hh_l${config.layers - 1}_reverse`);
      const back = fromTorchTensors(config, new Map(tensors.map((t) => [t.name, t])));
      expect(back).toEqual(params);
      expect(inferTorchConfig(new Map(tensors.map((t) => [t.name, t])))).toMatchObject({
        cell: config.cell, layers: config.layers, hiddenSize: config.hiddenSize, vocabSize: config.vocabSize,
        ...(config.bidirectional && { bidirectional: true }),
      });
    });
  }

  it('weights are transposed, and GRU n-gate recurrent bias goes to bias_hh[2H:]', () => {
    const config: ModelConfig = { cell: 'gru', vocabSize: 2, hiddenSize: 1, layers: 1, dropout: 0 };
    // layout: Wx (2, 3), Wh (1, 3), b (3), bhn (1), out.W (1, 2), out.b (2)
    const params = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    const t = Object.fromEntries(toTorchTensors(config, params).map((x) => [x.name, [...x.data]]));
    expect(t['rnn.weight_ih_l0']).toEqual([1, 4, 2, 5, 3, 6]); // (3, 2) = Wxᵀ
    expect(t['rnn.weight_hh_l0']).toEqual([7, 8, 9]);
    expect(t['rnn.bias_ih_l0']).toEqual([10, 11, 12]);
    expect(t['rnn.bias_hh_l0']).toEqual([0, 0, 13]);
    expect(t['decoder.weight']).toEqual([14, 15]);
    expect(t['decoder.bias']).toEqual([16, 17]);
  });

  it("import adds PyTorch's two biases where charnn has one (GRU: r and z only)", () => {
    const config: ModelConfig = { cell: 'gru', vocabSize: 2, hiddenSize: 1, layers: 1, dropout: 0 };
    const tensors = new Map(toTorchTensors(config, new Float32Array(17)).map((x) => [x.name, x]));
    tensors.get('rnn.bias_ih_l0')!.data.set([1, 2, 3]);
    tensors.get('rnn.bias_hh_l0')!.data.set([10, 20, 30]);
    const params = fromTorchTensors(config, tensors);
    expect([...params.subarray(9, 13)]).toEqual([11, 22, 3, 30]); // b = [r, z, n], then bhn
  });

  it('refuses missing, unexpected and misshapen tensors and NaN weights, naming them', () => {
    const config = CONFIGS[1];
    const base = () => new Map(toTorchTensors(config, randomParams(config, 'x')).map((t) => [t.name, { shape: [...t.shape], data: t.data }]));
    const missing = base();
    missing.delete('rnn.bias_hh_l2');
    expect(refusal(() => fromTorchTensors(config, missing))).toMatch(/missing rnn\.bias_hh_l2\./);
    const extra = base();
    extra.set('embedding.weight', { shape: [1], data: new Float32Array(1) });
    extra.set('rnn.weight_ih_l3', { shape: [1], data: new Float32Array(1) });
    expect(refusal(() => fromTorchTensors(config, extra, "'m.safetensors'"))).toBe(
      "'m.safetensors' does not hold the tensors of its model (lstm 3×4, vocabulary 5) under PyTorch's names (rnn.*, decoder.*): unexpected embedding.weight, rnn.weight_ih_l3.",
    );
    const misshapen = base();
    misshapen.get('decoder.weight')!.shape = [4, 5];
    expect(refusal(() => fromTorchTensors(config, misshapen))).toMatch(/tensor 'decoder.weight' of shape \[4, 5\], but .* needs \[5, 4\]/);
    const nan = base();
    nan.get('rnn.weight_hh_l1')!.data[3] = NaN;
    expect(refusal(() => fromTorchTensors(config, nan))).toMatch(/NaN or infinite values in tensor 'rnn.weight_hh_l1'/);
  });
});

describe('safetensors <-> checkpoint', () => {
  const vocab = makeVocab(['\n', ' ', 'a', 'b', 'é']);
  const config: ModelConfig = { cell: 'lstm', vocabSize: 5, hiddenSize: 3, layers: 2, dropout: 0.1 };

  it('an imported file is a valid checkpoint with the same weights, vocabulary and config', () => {
    const params = randomParams(config, 'ckpt');
    const bytes = modelToSafetensors(config, vocab, params, 64);
    const { metadata } = decodeSafetensors(bytes);
    expect(metadata.format).toBe('charnn');
    expect(JSON.parse(metadata.vocab)).toEqual(vocab.symbols);
    expect(JSON.parse(metadata.config)).toMatchObject({ cell: 'lstm', layers: 2, hidden_size: 3, bidirectional: false, seq_length: 64 });
    const { header, tensors } = safetensorsToCheckpoint(bytes, { runName: 'x', source: 'x.safetensors' });
    const parsed = parseHeader(JSON.parse(JSON.stringify(header)));
    expect(parsed.model).toEqual(config);
    expect(parsed.vocab).toEqual({ encoding: 'utf8', symbols: vocab.symbols });
    expect(parsed.training.seqLength).toBe(64);
    const expected = expectedTensors(parsed);
    expect(new Map(tensors.map((t) => [t.name, { dtype: 'float32', length: t.data.length }]))).toEqual(expected);
    expect(tensors[0].data).toEqual(params);
  });

  it('refuses a file without charnn metadata unless given a vocabulary, and a vocabulary of the wrong size', () => {
    const plain = encodeSafetensors(toTorchTensors(config, randomParams(config, 'p')), {});
    expect(refusal(() => safetensorsToCheckpoint(plain, { runName: 'x', source: 'p', label: "'p'" }))).toMatch(/'p' has no charnn metadata .* --vocab-from/);
    const { header } = safetensorsToCheckpoint(plain, { runName: 'x', source: 'p', vocab });
    expect(header.model).toMatchObject({ cell: 'lstm', layers: 2, hiddenSize: 3, vocabSize: 5 });
    expect(refusal(() => safetensorsToCheckpoint(plain, { runName: 'x', source: 'p', vocab: makeVocab(['a', 'b']) }))).toMatch(/a model for 5 symbols, but its vocabulary has 2/);
  });

  it('refuses to export NaN weights', () => {
    const params = randomParams(config, 'n');
    params[7] = NaN;
    expect(refusal(() => modelToSafetensors(config, vocab, params, 50))).toMatch(/NaN or infinite weights/);
  });
});

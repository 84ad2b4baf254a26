// The ONNX export run by ONNX Runtime gives charnn's logits and final states, for RNN/LSTM/GRU (1 and 2 layers), a
// whole sequence from a given state and one character at a time, and for a bidirectional model over a window. The
// runtime is not a dependency of charnn: CI installs onnxruntime-node into .ci/onnx (see .ci/run); without it the
// test skips and says so. The protobuf structure itself is checked without the runtime.

import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/cli.js';
import { defaultKernels } from '../src/core/platform.js';
import { allocPass, allocState, carryState, createNetwork, forwardLogits, type ModelConfig, type Network } from '../src/core/model.js';
import { allocBiPass, biForwardLogits } from '../src/core/bidirectional.js';
import { createRandom } from '../src/core/random.js';
import { modelToOnnx } from '../src/core/interop/onnx.js';
import { charnnMetadata } from '../src/core/interop/convert.js';

const ORT_PATH = process.env.CHARNN_ONNXRUNTIME ?? join(ROOT, '.ci', 'onnx', 'node_modules', 'onnxruntime-node');
const TOLERANCE = 1e-4;

interface OrtTensor { data: ArrayLike<number | bigint>; dims: readonly number[] }
interface Ort {
  InferenceSession: { create(bytes: Uint8Array): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>> }> };
  Tensor: new (type: string, data: ArrayLike<number | bigint>, dims: number[]) => unknown;
}

function loadOrt(): { ort: Ort | null; reason: string | null } {
  if (!existsSync(ORT_PATH)) return { ort: null, reason: `ONNX Runtime is not installed at ${ORT_PATH} (.ci/run installs onnxruntime-node there)` };
  try {
    return { ort: createRequire(import.meta.url)(ORT_PATH) as Ort, reason: null };
  } catch (error) {
    return { ort: null, reason: `ONNX Runtime at ${ORT_PATH} does not load: ${(error as Error).message.split('\n')[0]}` };
  }
}
const { ort, reason: skipReason } = loadOrt();
if (skipReason) console.warn(`ONNX Runtime test skipped: ${skipReason}`);

const V = 11;
function randomNet(config: Omit<ModelConfig, 'vocabSize' | 'dropout'>, seed: string): Network {
  const net = createNetwork(defaultKernels(), { ...config, vocabSize: V, dropout: 0 });
  const random = createRandom(seed);
  for (let i = 0; i < net.params.length; i++) net.params[i] = (2 * random() - 1) * 0.5;
  return net;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('ONNX graph encoding', () => {
  it('is a protobuf ModelProto with the opset, the operators and the inputs the README names', () => {
    const net = randomNet({ cell: 'gru', hiddenSize: 4, layers: 2 }, 'enc');
    const bytes = modelToOnnx(net.config, Float32Array.from(net.params), { format: 'charnn' });
    expect(bytes[0]).toBe(0x08); // field 1 (ir_version), varint
    const text = new TextDecoder('latin1').decode(bytes);
    for (const name of ['OneHot', 'GRU', 'linear_before_reset', 'MatMul', 'ids', 'h0', 'hn', 'logits', 'charnn']) expect(text).toContain(name);
    expect(text).not.toContain('LSTM');
  });
});

describe.skipIf(ort === null)(`ONNX Runtime runs the export${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const cases = (['rnn', 'lstm', 'gru'] as const).flatMap((cell) => [1, 2].map((layers) => ({ cell, layers, hiddenSize: 16 })));

  for (const c of cases) {
    it(`${c.cell} ${c.layers}×${c.hiddenSize}: a whole sequence from a given state, and stepping, give charnn's logits and states`, async () => {
      const net = randomNet(c, `${c.cell}-${c.layers}`);
      const { hiddenSize: H, layers: L } = c;
      // with the metadata_props charnn export writes, so the runtime parses those too
      const vocab = { encoding: 'utf8' as const, symbols: [...'abcdefghijk'] };
      const session = await ort!.InferenceSession.create(modelToOnnx(net.config, Float32Array.from(net.params), charnnMetadata(net.config, vocab, 50)));
      const random = createRandom(`inputs-${c.cell}`);

      // whole sequence: T = 37 steps of B = 3 streams, from a random state
      const T = 37;
      const B = 3;
      const pass = allocPass(net, B, T);
      for (let i = 0; i < T * B; i++) pass.inputs[i] = Math.floor(random() * V);
      const state = allocState(net, B);
      const h0 = new Float32Array(L * B * H);
      const c0 = new Float32Array(L * B * H);
      for (let i = 0; i < h0.length; i++) { h0[i] = random() - 0.5; c0[i] = random() - 0.5; }
      for (let l = 0; l < L; l++) {
        state.h[l].set(h0.subarray(l * B * H, (l + 1) * B * H));
        if (c.cell === 'lstm') state.c[l].set(c0.subarray(l * B * H, (l + 1) * B * H));
      }
      forwardLogits(net, pass, state);
      carryState(net, pass, state);
      const feeds: Record<string, unknown> = {
        ids: new ort!.Tensor('int64', BigInt64Array.from(pass.inputs, (x) => BigInt(x)), [T, B]),
        h0: new ort!.Tensor('float32', h0, [L, B, H]),
      };
      if (c.cell === 'lstm') feeds.c0 = new ort!.Tensor('float32', c0, [L, B, H]);
      const out = await session.run(feeds);
      expect(out.logits.dims).toEqual([T, B, V]);
      const logitsDiff = maxAbsDiff(out.logits.data as Float32Array, pass.logits);
      const hn = Float32Array.from(state.h.flatMap((h) => [...h]));
      const stateDiff = Math.max(maxAbsDiff(out.hn.data as Float32Array, hn),
        c.cell === 'lstm' ? maxAbsDiff(out.cn.data as Float32Array, Float32Array.from(state.c.flatMap((x) => [...x]))) : 0);
      expect(logitsDiff).toBeLessThanOrEqual(TOLERANCE);
      expect(stateDiff).toBeLessThanOrEqual(TOLERANCE);

      // stepping: one character at a time for 2 streams, hn fed back as h0, against charnn's step-by-step model
      const steps = 25;
      const stepPass = allocPass(net, 2, 1);
      const stepState = allocState(net, 2);
      let h = new Float32Array(L * 2 * H);
      let cc = new Float32Array(L * 2 * H);
      let stepDiff = 0;
      for (let t = 0; t < steps; t++) {
        const ids = [Math.floor(random() * V), Math.floor(random() * V)];
        stepPass.inputs.set(ids);
        forwardLogits(net, stepPass, stepState);
        carryState(net, stepPass, stepState);
        const stepFeeds: Record<string, unknown> = {
          ids: new ort!.Tensor('int64', BigInt64Array.from(ids, (x) => BigInt(x)), [1, 2]),
          h0: new ort!.Tensor('float32', h, [L, 2, H]),
        };
        if (c.cell === 'lstm') stepFeeds.c0 = new ort!.Tensor('float32', cc, [L, 2, H]);
        const o = await session.run(stepFeeds);
        stepDiff = Math.max(stepDiff, maxAbsDiff(o.logits.data as Float32Array, stepPass.logits));
        h = Float32Array.from(o.hn.data as Float32Array);
        if (c.cell === 'lstm') cc = Float32Array.from(o.cn.data as Float32Array);
      }
      console.log(`onnx ${c.cell} ${L}×${H}: max |Δ logit| sequence ${logitsDiff.toExponential(2)}, states ${stateDiff.toExponential(2)}, stepping ${stepDiff.toExponential(2)}`);
      expect(stepDiff).toBeLessThanOrEqual(TOLERANCE);
      // the comparison can fail: a model with one recurrent weight moved gives other logits
      net.params[net.layout.entries.find((e) => e.name === 'layer0.Wh')!.offset] += 0.5;
      forwardLogits(net, pass, allocState(net, B));
      expect(maxAbsDiff(out.logits.data as Float32Array, pass.logits)).toBeGreaterThan(10 * TOLERANCE);
    });
  }

  for (const cell of ['lstm', 'gru'] as const) {
    it(`bidirectional ${cell} 2×12: a masked window gives charnn's logits`, async () => {
      const net = randomNet({ cell, hiddenSize: 12, layers: 2, bidirectional: true, maskFrac: 0.2 }, `bi-${cell}`);
      const session = await ort!.InferenceSession.create(modelToOnnx(net.config, Float32Array.from(net.params)));
      const T = 30;
      const B = 2;
      const pass = allocBiPass(net, B, T);
      const random = createRandom('bi-inputs');
      for (let i = 0; i < T * B; i++) pass.inputs[i] = random() < 0.2 ? V : Math.floor(random() * V); // id V: the mask
      biForwardLogits(net, pass);
      const out = await session.run({ ids: new ort!.Tensor('int64', BigInt64Array.from(pass.inputs, (x) => BigInt(x)), [T, B]) });
      const diff = maxAbsDiff(out.logits.data as Float32Array, pass.logits);
      console.log(`onnx bidirectional ${cell} 2×12: max |Δ logit| ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(TOLERANCE);
    });
  }
});

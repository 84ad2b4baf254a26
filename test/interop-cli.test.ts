// export / import / train --init-from through the real command line: an exported and re-imported model scores,
// samples, fills and inspects exactly like the original; every bad input is one sentence, a non-zero exit and no
// file written; fine-tuning from a checkpoint beats a fresh run with the same budget.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCharnn, type CliResult } from './helpers/cli.js';
import { readCheckpoint, writeCheckpoint } from '../src/node/checkpoint-files.js';
import { decodeSafetensors, encodeSafetensors } from '../src/core/interop/safetensors.js';

const NAMES = join(ROOT, 'data', 'names.txt');
const SHAKESPEARE = join(ROOT, '..', 'shared', 'data', 'tinyshakespeare.txt');
const TINY = ['--hidden', '16', '--layers', '2', '--batch-size', '4', '--seq-length', '16', '--threads', '1'];

let work: string;
const charnn = (args: string[], input?: string): Promise<CliResult> => runCharnn(args, { cwd: work, input });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'charnn-interop-'));
  const trained = await charnn(['train', NAMES, ...TINY, '--model', 'gru', '--max-iters', '30', '--checkpoint-dir', 'ck', '--name', 'names']);
  expect(trained.code, trained.stderr).toBe(0);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('charnn export and import', () => {
  it('a model exported and imported again scores, samples, fills and inspects like the original', async () => {
    const exported = await charnn(['export', 'ck', '-o', 'names.safetensors']);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout.length).toBe(0); // stdout is for data
    expect(exported.stderr).toMatch(/Exported ck\/names_i000030.*\.ckpt \(gru 2×16, \d+ symbols\) to names\.safetensors/);
    const { metadata, tensors } = decodeSafetensors(new Uint8Array(readFileSync(join(work, 'names.safetensors'))));
    expect(metadata.format).toBe('charnn');
    expect([...tensors.keys()]).toContain('rnn.bias_hh_l1');

    const onnx = await charnn(['export', 'ck', '-o', 'names.onnx']);
    expect(onnx.code, onnx.stderr).toBe(0);
    expect(onnx.stderr).toMatch(/to names\.onnx \(onnx, [\d,]+ bytes\)/);
    const onnxBytes = readFileSync(join(work, 'names.onnx'));
    expect(onnxBytes[0]).toBe(0x08); // ModelProto.ir_version first (the graph itself is run in interop-onnx.test.ts)
    expect(onnxBytes.includes(Buffer.from('GRU'))).toBe(true);

    const imported = await charnn(['import', 'names.safetensors', '-o', 'back.ckpt']);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toContain('--init-from back.ckpt');

    const text = readFileSync(NAMES, 'utf8').slice(0, 3000);
    writeFileSync(join(work, 'held.txt'), text);
    const original = await charnn(['eval', 'held.txt', '-c', 'ck', '--json']);
    const roundTrip = await charnn(['eval', 'held.txt', '-c', 'back.ckpt', '--json']);
    expect(roundTrip.code, roundTrip.stderr).toBe(0);
    expect(JSON.parse(roundTrip.text)).toEqual(JSON.parse(original.text));

    const sampleA = await charnn(['sample', '-c', 'ck', '-n', '80', '--seed', '7']);
    const sampleB = await charnn(['sample', '-c', 'back.ckpt', '-n', '80', '--seed', '7']);
    expect(sampleB.code, sampleB.stderr).toBe(0);
    expect(sampleB.text).toBe(sampleA.text);
    expect(sampleB.text.length).toBeGreaterThan(40);

    const fill = await charnn(['fill', 'Ma_y', '-c', 'back.ckpt']);
    expect(fill.code, fill.stderr).toBe(0);
    expect(fill.text).toMatch(/^Ma[^_]y/u);
    expect(fill.text).toBe((await charnn(['fill', 'Ma_y', '-c', 'ck'])).text);
    const info = await charnn(['info', 'back.ckpt', '--json']);
    expect(JSON.parse(info.text).model).toEqual({ cell: 'gru', vocabSize: JSON.parse(info.text).vocab.size, hiddenSize: 16, layers: 2, dropout: 0 });
    const inspect = await charnn(['inspect', '-c', 'back.ckpt', '--top', '2', '--max-chars', '20'], 'Emma\nOlivia\n');
    expect(inspect.code, inspect.stderr).toBe(0);
  });

  it('refuses bad input with one sentence and a non-zero exit, writing nothing', async () => {
    writeFileSync(join(work, 'text.safetensors'), 'just some text that is long enough\n');
    const good = readFileSync(join(work, 'names.safetensors'));
    writeFileSync(join(work, 'cut.safetensors'), good.subarray(0, good.length - 10));
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(good));
    const extra = [...tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
    extra.push({ name: 'embedding.weight', shape: [2], data: new Float32Array(2) });
    writeFileSync(join(work, 'extra.safetensors'), encodeSafetensors(extra, metadata));
    const wrongVocab = { ...metadata, vocab: JSON.stringify(['a', 'b']) };
    writeFileSync(join(work, 'vocab.safetensors'), encodeSafetensors(extra.slice(0, -1), wrongVocab));
    const nanTensors = extra.slice(0, -1).map((t) => (t.name === 'decoder.bias' ? { ...t, data: Float32Array.from(t.data, (x, i) => (i === 0 ? NaN : x)) } : t));
    writeFileSync(join(work, 'nan.safetensors'), encodeSafetensors(nanTensors, metadata));

    const cases: Array<[string[], number, RegExp]> = [
      [['import', 'text.safetensors', '-o', 'x.ckpt'], 1, /'text.safetensors' is not a safetensors file/],
      [['import', 'cut.safetensors', '-o', 'x.ckpt'], 1, /damaged safetensors file .*truncated/],
      [['import', 'extra.safetensors', '-o', 'x.ckpt'], 1, /unexpected embedding\.weight/],
      [['import', 'vocab.safetensors', '-o', 'x.ckpt'], 1, /a model for \d+ symbols, but its vocabulary has 2/],
      [['import', 'nan.safetensors', '-o', 'x.ckpt'], 1, /NaN or infinite values in tensor 'decoder.bias'/],
      [['import', 'back.ckpt', '-o', 'x.ckpt'], 1, /already a charnn checkpoint/],
      [['import', 'names.onnx', '-o', 'x.ckpt'], 1, /'names.onnx' is an ONNX model; charnn imports safetensors files/],
      [['import', 'missing.safetensors', '-o', 'x.ckpt'], 1, /'missing.safetensors' does not exist/],
      [['import', 'names.safetensors'], 2, /Give the checkpoint to write/],
      [['import', 'names.safetensors', '-o', 'x.bin'], 2, /must end in \.ckpt/],
      [['export', 'ck'], 2, /Give the file to write/],
      [['export', 'ck', '-o', 'x.bin'], 2, /Cannot tell the format from 'x.bin'/],
      [['export', 'ck', '-o', 'x.bin', '--format', 'pdf'], 2, /--format must be one of safetensors, onnx, got 'pdf'/],
      [['export', 'text.safetensors', '-o', 'x.safetensors'], 1, /corrupt|not a charnn|checkpoint/i],
      [['train', NAMES, '--resume', 'back.ckpt'], 2, /was imported .* --init-from back\.ckpt/],
      [['train', NAMES, '--init-from', 'back.ckpt', '--hidden', '32'], 2, /--hidden 32 differs from back\.ckpt's 16/],
      [['train', NAMES, '--init-from', 'back.ckpt', '--resume', 'ck'], 2, /give one of them/],
    ];
    // a file PyTorch code wrote without charnn's metadata: refused without a vocabulary, imported with one
    writeFileSync(join(work, 'plain.safetensors'), encodeSafetensors(extra.slice(0, -1), {}));
    cases.push([['import', 'plain.safetensors', '-o', 'x.ckpt'], 1, /no charnn metadata .* --vocab-from/]);
    const results = await Promise.all(cases.map(([args]) => charnn(args)));
    for (const [i, [args, code, message]] of cases.entries()) {
      const result = results[i];
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(code);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(result.stderr).not.toMatch(/internal error|    at /);
    }
    expect(existsSync(join(work, 'x.ckpt')) || existsSync(join(work, 'x.safetensors')) || existsSync(join(work, 'x.bin'))).toBe(false);

    const plain = await charnn(['import', 'plain.safetensors', '--vocab-from', NAMES, '-o', 'plain.ckpt']);
    expect(plain.code, plain.stderr).toBe(0);
    expect((await charnn(['sample', '-c', 'plain.ckpt', '-n', '60', '--seed', '7'])).text).toBe((await charnn(['sample', '-c', 'ck', '-n', '60', '--seed', '7'])).text);

    // a checkpoint whose weights went NaN has no model to export, and an existing export stays as it was
    const { header, tensors: ckptTensors } = await readCheckpoint(join(work, 'back.ckpt'));
    (ckptTensors.get('params') as Float32Array)[5] = NaN;
    await writeCheckpoint(join(work, 'nan.ckpt'), header, [...ckptTensors].map(([name, data]) => ({ name, data })));
    const nanExport = await charnn(['export', 'nan.ckpt', '-o', 'names.safetensors']);
    expect(nanExport.code).toBe(1);
    expect(nanExport.stderr).toMatch(/NaN or infinite weights/);
    expect(readFileSync(join(work, 'names.safetensors'))).toEqual(good);

    // a corpus with characters outside the checkpoint's vocabulary is refused, naming them
    writeFileSync(join(work, 'other.txt'), 'Zoë and Émile\n'.repeat(50));
    const outside = await charnn(['train', 'other.txt', '--init-from', 'back.ckpt', '--max-iters', '2']);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toMatch(/not in the model's vocabulary: .*'É'.*'ë'.*back\.ckpt/);
  });
});

describe.skipIf(!existsSync(SHAKESPEARE))(`train --init-from${existsSync(SHAKESPEARE) ? '' : ` (skipped: no text at ${SHAKESPEARE})`}`, () => {
  it("fine-tuning a pretrained model reaches a lower validation loss on a second corpus than a fresh run with the same budget", async () => {
    const all = readFileSync(SHAKESPEARE, 'utf8');
    writeFileSync(join(work, 'first.txt'), all.slice(0, 120_000));
    const vocab = new Set(all.slice(0, 120_000));
    // the second corpus: a later part of the play text, in the first one's vocabulary
    writeFileSync(join(work, 'second.txt'), [...all.slice(600_000, 640_000)].filter((c) => vocab.has(c)).join(''));
    const shape = ['--model', 'lstm', '--hidden', '48', '--layers', '1', '--batch-size', '16', '--seq-length', '32', '--threads', '1'];
    const pre = await charnn(['train', 'first.txt', ...shape, '--max-iters', '100', '--checkpoint-dir', 'pre', '--eval-every', '100']);
    expect(pre.code, pre.stderr).toBe(0);
    const budget = ['--max-iters', '25', '--eval-every', '25', '--json', '--seed', '5'];
    const tuned = await charnn(['train', 'second.txt', '--init-from', 'pre', '--lr', '0.02', ...budget, '--checkpoint-dir', 'tuned']);
    const fresh = await charnn(['train', 'second.txt', ...shape, '--lr', '0.02', ...budget, '--checkpoint-dir', 'fresh']);
    expect(tuned.code, tuned.stderr).toBe(0);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(tuned.stderr).toMatch(/from the weights of pre\/first_i000100/);
    const lastVal = (r: CliResult) => r.text.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.val_loss !== undefined).at(-1).val_loss as number;
    const tunedLoss = lastVal(tuned);
    const freshLoss = lastVal(fresh);
    console.log(`--init-from: val loss on second.txt after 25 iterations ${tunedLoss.toFixed(4)}, fresh run ${freshLoss.toFixed(4)}`);
    expect(tunedLoss).toBeLessThan(freshLoss - 0.2);
  });
});

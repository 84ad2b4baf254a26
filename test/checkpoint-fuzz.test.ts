// Seeded mutations of a valid checkpoint: every read either returns exactly the original contents (possible only
// when the mutation changed nothing) or throws a CharnnError naming the file. Nothing else, and nothing slow.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import seedrandom from 'seedrandom';
import { CharnnError } from '../src/core/errors.js';
import { encodeCheckpoint, type CheckpointContents, type TensorData } from '../src/core/checkpoint/format.js';
import { readCheckpoint, readCheckpointHeader } from '../src/node/checkpoint-files.js';

const MUTATIONS = 600;
const SLOW_READ_MS = 1000;

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(join(tmpdir(), 'charnn-fuzz-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const header = { runName: 'fuzz', iteration: 42, valLoss: 1.25, savedAt: '2026-11-26T00:00:00.000Z', vocab: ['a', 'b', 'é', '\n'] };
const tensors: Array<{ name: string; data: TensorData }> = (() => {
  const random = seedrandom('fuzz-tensors');
  return [
    { name: 'wx', data: Float32Array.from({ length: 24 }, () => random() - 0.5) },
    { name: 'b', data: Float64Array.from({ length: 5 }, () => random()) },
    { name: 'ids', data: Uint16Array.of(3, 1, 4) },
    { name: 'none', data: new Int32Array(0) },
    { name: 'bytes', data: Uint8Array.of(1, 2, 3, 4, 5) },
  ];
})();
const original = Buffer.from(encodeCheckpoint(header, tensors));

function sameAsOriginal(contents: CheckpointContents): boolean {
  if (JSON.stringify(contents.header) !== JSON.stringify(header)) return false;
  if (contents.tensors.size !== tensors.length) return false;
  return tensors.every(({ name, data }) => {
    const back = contents.tensors.get(name);
    return back !== undefined && back.constructor === data.constructor &&
      Buffer.from(back.buffer, back.byteOffset, back.byteLength).equals(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
}

type Mutation = { kind: string; bytes: Buffer };

function mutate(random: () => number): Mutation {
  const int = (n: number) => Math.floor(random() * n);
  const bytes = Buffer.from(original);
  const headerLength = original.readUInt32LE(12);
  switch (int(7)) {
    case 0: return { kind: 'truncate', bytes: bytes.subarray(0, int(bytes.length + 1)) };
    case 1: { // a few bit flips anywhere
      for (let flips = 1 + int(8); flips > 0; flips--) bytes[int(bytes.length)] ^= 1 << int(8);
      return { kind: 'bit flips', bytes };
    }
    case 2: { // bit flips concentrated in the prefix: magic, version, header length
      for (let flips = 1 + int(3); flips > 0; flips--) bytes[int(16)] ^= 1 << int(8);
      return { kind: 'prefix flips', bytes };
    }
    case 3: { // a length or version field set to a huge or random value
      const field = [8, 12][int(2)];
      bytes.writeUInt32LE([0xfffffff0, 0xffffffff, 0x7fffffff, 0x04000001, int(2 ** 32), headerLength + 8 * (1 + int(4))][int(6)], field);
      return { kind: `u32 @${field}`, bytes };
    }
    case 4: { // a byte of the JSON header replaced: digits, quotes and brackets are where the structure lives
      const at = 16 + int(headerLength);
      bytes[at] = '0123456789"[]{},:-e. x'.charCodeAt(int(22));
      return { kind: 'header byte', bytes };
    }
    case 5: { // garbage appended
      const garbage = Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256)));
      return { kind: 'append', bytes: Buffer.concat([bytes, garbage]) };
    }
    default: { // a random range overwritten with random bytes
      const start = int(bytes.length);
      const end = Math.min(bytes.length, start + 1 + int(32));
      for (let i = start; i < end; i++) bytes[i] = int(256);
      return { kind: 'overwrite', bytes };
    }
  }
}

describe('checkpoint fuzz', () => {
  it(`${MUTATIONS} seeded mutations: exact contents or a CharnnError naming the file`, async () => {
    const random = seedrandom('checkpoint-fuzz-v1');
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < MUTATIONS; i++) {
      const { kind, bytes } = mutate(random);
      const path = join(dir, `m${i}.ckpt`);
      fs.writeFileSync(path, bytes);
      for (const which of ['full', 'header'] as const) {
        const started = performance.now();
        const result = await (which === 'full' ? readCheckpoint(path) : readCheckpointHeader(path))
          .then((value) => ({ value }), (error: unknown) => ({ error }));
        const elapsed = performance.now() - started;
        expect(elapsed, `${kind} #${i} took ${elapsed.toFixed(0)} ms`).toBeLessThan(SLOW_READ_MS);
        if ('error' in result) {
          const context = `${which} read, ${kind} #${i}: ${String(result.error)}`;
          expect(result.error, context).toBeInstanceOf(CharnnError);
          const message = (result.error as CharnnError).message;
          expect(message, context).toContain(path);
          expect(message.includes('\n'), context).toBe(false);
          outcomes[`${kind} → error`] = (outcomes[`${kind} → error`] ?? 0) + 1;
        } else if (which === 'full') {
          // A full read succeeding is only possible when the mutation was a no-op.
          expect(bytes.equals(original), `${kind} #${i} read successfully but changed the file`).toBe(true);
          expect(sameAsOriginal(result.value as CheckpointContents), `${kind} #${i}`).toBe(true);
        } else {
          // A header read skips the tensor data, so damage confined there may pass; the header must still be intact.
          expect(JSON.stringify(result.value), `${kind} #${i}`).toBe(JSON.stringify(header));
        }
      }
      fs.rmSync(path);
    }
    // Every kind of mutation was exercised, and most were caught.
    expect(Object.keys(outcomes).filter((k) => k.endsWith('error')).length).toBeGreaterThanOrEqual(7);
  });

  it('structure-aware mutations with valid checksums still end in contents that match the table or a CharnnError', async () => {
    // Checksums hide the structural checks from blind mutation; here the table is mutated and the CRCs recomputed.
    const random = seedrandom('checkpoint-fuzz-structured');
    const int = (n: number) => Math.floor(random() * n);
    const headerLength = original.readUInt32LE(12);
    const dataOffset = 16 + headerLength + ((8 - ((16 + headerLength) % 8)) % 8);
    const parsed = JSON.parse(original.subarray(16, 16 + headerLength).toString('utf8'));
    const data = original.subarray(dataOffset, original.length - 8);
    const weird = [-1, 0, 1, 2.5, 2 ** 31, 2 ** 32 - 1, 2 ** 53, 1e308, -0, null, '5', [], {}, true, 'float32', 'float16', '', '__proto__'];
    for (let i = 0; i < 300; i++) {
      const table = structuredClone(parsed.tensors) as Array<Record<string, unknown>>;
      const target = table[int(table.length)];
      const op = int(5);
      if (op === 0) target[['name', 'dtype', 'length'][int(3)]] = weird[int(weird.length)];
      else if (op === 1) table.splice(int(table.length), 1);
      else if (op === 2) table.push(structuredClone(table[int(table.length)]));
      else if (op === 3) target.length = (target.length as number) + int(9) - 4;
      else delete target[['name', 'dtype', 'length'][int(3)]];
      const json = Buffer.from(JSON.stringify({ ...parsed, tensors: table }));
      const prefix = Buffer.from(original.subarray(0, 16));
      prefix.writeUInt32LE(json.length, 12);
      const headerRegion = Buffer.concat([prefix, json, Buffer.alloc((8 - ((16 + json.length) % 8)) % 8)]);
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(zlib.crc32(headerRegion) >>> 0, 0);
      trailer.writeUInt32LE(zlib.crc32(data) >>> 0, 4);
      const path = join(dir, `s${i}.ckpt`);
      fs.writeFileSync(path, Buffer.concat([headerRegion, data, trailer]));
      try {
        const contents = await readCheckpoint(path);
        // Accepted: then it must be internally consistent with the table it was given.
        expect([...contents.tensors.keys()]).toEqual(table.map((t) => t.name));
        for (const t of table) expect(contents.tensors.get(t.name as string)!.length).toBe(t.length);
      } catch (error) {
        expect(error, String(error)).toBeInstanceOf(CharnnError);
        expect((error as CharnnError).message).toContain(path);
      }
      fs.rmSync(path);
    }
  });
});

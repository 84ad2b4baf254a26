// The checkpoint file format against its written spec: exact bytes, round trips, atomic saves, one clear
// CharnnError for every kind of bad file, and the naming / finding / pruning of checkpoint files.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import seedrandom from 'seedrandom';
import { CharnnError } from '../src/core/errors.js';
import {
  CHECKPOINT_EXTENSION, CHECKPOINT_MAGIC, MAX_HEADER_BYTES, checkpointFileName, crc32, crc32Reference, swapByteOrder,
  type TensorData,
} from '../src/core/checkpoint/format.js';
import {
  listCheckpoints, pruneCheckpoints, readCheckpoint, readCheckpointHeader, readCheckpointInfo, resolveCheckpoint,
  writeCheckpoint, writeCheckpointSync,
} from '../src/node/checkpoint-files.js';
import { nodePlatform } from '../src/node/platform.js';
import { platform } from '../src/core/platform.js';

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(join(tmpdir(), 'charnn-ckpt-')); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const bytesOf = (data: TensorData) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);
const zlibCrc = (bytes: Uint8Array) => zlib.crc32(bytes) >>> 0;
const pad8 = (n: number) => (8 - (n % 8)) % 8;

/** An independent encoder written from the layout comment, so hostile files can be built with valid checksums. */
function buildFile(opts: {
  headerText: string; data?: Uint8Array; version?: number; headerLength?: number; magic?: Uint8Array;
  headerCrc?: number; dataCrc?: number;
}): Buffer {
  const json = Buffer.from(opts.headerText, 'utf8');
  const prefix = Buffer.alloc(16);
  Buffer.from(opts.magic ?? CHECKPOINT_MAGIC).copy(prefix, 0);
  prefix.writeUInt32LE(opts.version ?? 1, 8);
  prefix.writeUInt32LE(opts.headerLength ?? json.length, 12);
  const headerRegion = Buffer.concat([prefix, json, Buffer.alloc(pad8(16 + json.length))]);
  const data = Buffer.from(opts.data ?? new Uint8Array(0));
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(opts.headerCrc ?? zlibCrc(headerRegion), 0);
  trailer.writeUInt32LE(opts.dataCrc ?? zlibCrc(data), 4);
  return Buffer.concat([headerRegion, data, trailer]);
}

/** Raw data section for tensors: each one's bytes plus zero padding to 8. */
function dataSection(...tensors: TensorData[]): Buffer {
  return Buffer.concat(tensors.flatMap((t) => [bytesOf(t), Buffer.alloc(pad8(t.byteLength))]));
}

async function expectCharnnError(promise: Promise<unknown>, path: string, pattern?: RegExp): Promise<CharnnError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(CharnnError);
  const message = (error as CharnnError).message;
  expect(message).toContain(path);
  if (pattern) expect(message).toMatch(pattern);
  expect(message.split('\n')).toHaveLength(1);
  return error as CharnnError;
}

function sampleTensors() {
  const random = seedrandom('round-trip');
  const f32 = Float32Array.from({ length: 37 }, () => random() * 2 - 1);
  f32[0] = NaN; f32[1] = -0; f32[2] = Infinity; f32[3] = 3.4e38; f32[4] = 1e-45; // specials survive bit-exact
  const f64 = Float64Array.from({ length: 11 }, () => random() * 1e300);
  f64[0] = -Infinity; f64[1] = Number.MIN_VALUE;
  const backing = Int32Array.from({ length: 10 }, (_, i) => i * -123456789);
  return [
    { name: 'embedding.weight', data: f32 },
    { name: 'f64/with slashes', data: f64 },
    { name: 'int32 view', data: backing.subarray(3, 8) }, // a view at a non-zero byteOffset
    { name: 'uint32', data: Uint32Array.of(0, 1, 0xffffffff) },
    { name: 'uint16 odd', data: Uint16Array.of(1, 2, 65535) }, // 6 bytes: exercises padding
    { name: 'vocab bytes', data: Uint8Array.from(Buffer.from('héllo\n')) },
    { name: 'empty', data: new Float32Array(0) },
  ];
}

const sampleHeader = {
  runName: 'shakespeare', iteration: 1200, valLoss: 1.5432, savedAt: '2026-11-26T06:00:00.000Z',
  vocab: ['\n', ' ', 'é', '日本', '🎭', '"', '\\', '\u0000'], options: { cell: 'lstm', hiddenSize: 128, nested: [1, [2, null]] },
};

describe('round trip', () => {
  it('returns every dtype, an empty tensor and a unicode header exactly, from both writers', async () => {
    const tensors = sampleTensors();
    const asyncPath = join(dir, 'a.ckpt');
    const syncPath = join(dir, 's.ckpt');
    await writeCheckpoint(asyncPath, sampleHeader, tensors);
    writeCheckpointSync(syncPath, sampleHeader, tensors);
    expect(fs.readFileSync(asyncPath).equals(fs.readFileSync(syncPath))).toBe(true);

    const { header, tensors: loaded } = await readCheckpoint(asyncPath);
    expect(header).toEqual(sampleHeader);
    expect([...loaded.keys()]).toEqual(tensors.map((t) => t.name));
    for (const { name, data } of tensors) {
      const back = loaded.get(name)!;
      expect(back.constructor).toBe(data.constructor);
      expect(back.length).toBe(data.length);
      expect(bytesOf(back).equals(bytesOf(data))).toBe(true);
      expect(back.byteOffset).toBe(0); // each tensor owns its buffer
      expect(back.buffer.byteLength).toBe(back.byteLength);
    }
    expect(await readCheckpointHeader(asyncPath)).toEqual(sampleHeader);
  });

  it('writes exactly the bytes the layout comment specifies', async () => {
    const weights = Float32Array.of(1, -2.5, 3);
    const ids = Uint16Array.of(7);
    const path = join(dir, 'golden.ckpt');
    await writeCheckpoint(path, { runName: 'g', note: 'ü' }, [{ name: 'w', data: weights }, { name: 'ids', data: ids }]);
    const headerText = JSON.stringify({
      runName: 'g', note: 'ü',
      tensors: [{ name: 'w', dtype: 'float32', length: 3 }, { name: 'ids', dtype: 'uint16', length: 1 }],
    });
    const expected = buildFile({ headerText, data: dataSection(weights, ids) });
    const actual = fs.readFileSync(path);
    expect(actual.equals(expected)).toBe(true);
    expect(actual.subarray(0, 8).toString('latin1')).toBe('\x89RNN\r\n\x1a\n');
    expect(actual.length % 8).toBe(0);
    const info = await readCheckpointInfo(path);
    expect(info.version).toBe(1);
    expect(info.fileBytes).toBe(actual.length);
    for (const t of info.tensors) expect(t.byteOffset % 8).toBe(0);
    expect(info.tensors.map(({ name, dtype, length }) => ({ name, dtype, length }))).toEqual(JSON.parse(headerText).tensors);
  });

  it('reads the header without reading tensor data', async () => {
    const path = join(dir, 'h.ckpt');
    const data = Float64Array.of(1, 2, 3);
    const file = buildFile({ headerText: JSON.stringify({ runName: 'h', tensors: [{ name: 'x', dtype: 'float64', length: 3 }] }), data: dataSection(data) });
    file[file.length - 8 - 5] ^= 0x10; // damage tensor data only
    fs.writeFileSync(path, file);
    expect(await readCheckpointHeader(path)).toEqual({ runName: 'h' });
    await expectCharnnError(readCheckpoint(path), path, /tensor data checksum/);
  });

  it('snapshots the tensors when the async write starts, so training can carry on', async () => {
    const path = join(dir, 'snap.ckpt');
    const weights = Float32Array.of(1, 2, 3);
    const pending = writeCheckpoint(path, {}, [{ name: 'w', data: weights }]);
    weights.fill(99);
    await pending;
    expect(Array.from((await readCheckpoint(path)).tensors.get('w')!)).toEqual([1, 2, 3]);
  });

  it('refuses a header with the reserved key, duplicate or bad names, and unsupported arrays, creating nothing', async () => {
    const path = join(dir, 'bad.ckpt');
    const w = { name: 'w', data: new Float32Array(2) };
    await expect(writeCheckpoint(path, { tensors: [] }, [w])).rejects.toThrow(/reserved/);
    expect(() => writeCheckpointSync(path, { tensors: 1 }, [w])).toThrow(/reserved/);
    await expect(writeCheckpoint(path, {}, [w, w])).rejects.toThrow(/duplicate/);
    await expect(writeCheckpoint(path, {}, [{ name: '', data: new Float32Array(1) }])).rejects.toThrow(/name/);
    await expect(writeCheckpoint(path, {}, [{ name: 'i8', data: new Int8Array(1) as unknown as TensorData }])).rejects.toThrow(/i8/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('atomic saves', () => {
  /** A tensor whose data is readable once (while the save is planned) and then throws (while it is written). */
  function failingOnSecondRead(name: string) {
    let reads = 0;
    return {
      name,
      get data(): TensorData {
        if (++reads > 1) throw new Error('simulated failure while writing');
        return new Float32Array(1000);
      },
    };
  }

  it('a sync save that fails midway leaves the previous file byte-identical and no temp file', async () => {
    const path = join(dir, 'run.ckpt');
    writeCheckpointSync(path, { version: 'old' }, [{ name: 'w', data: Float32Array.of(1, 2) }]);
    const before = fs.readFileSync(path);
    const big = { name: 'big', data: new Float32Array(1 << 16) }; // written to the temp file before the failure
    expect(() => writeCheckpointSync(path, { version: 'new' }, [big, failingOnSecondRead('boom')])).toThrow('simulated failure');
    expect(fs.readFileSync(path).equals(before)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['run.ckpt']);
  });

  it('an async save that fails leaves the previous file byte-identical and no temp file', async () => {
    const path = join(dir, 'run.ckpt');
    await writeCheckpoint(path, { version: 'old' }, [{ name: 'w', data: Float32Array.of(1, 2) }]);
    const before = fs.readFileSync(path);
    await expect(writeCheckpoint(path, { version: 'new' }, [failingOnSecondRead('boom')])).rejects.toThrow('simulated failure');
    expect(fs.readFileSync(path).equals(before)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['run.ckpt']);
  });

  it('a save that fails at the final rename removes its fully written temp file', async () => {
    const path = join(dir, 'occupied.ckpt');
    fs.mkdirSync(path);
    fs.writeFileSync(join(path, 'keep-me'), 'x'); // a non-empty directory cannot be renamed over
    const tensors = [{ name: 'w', data: new Float32Array(100) }];
    await expectCharnnError(writeCheckpoint(path, {}, tensors), path, /directory/);
    const syncError = (() => { try { writeCheckpointSync(path, {}, tensors); } catch (e) { return e; } })();
    expect(syncError).toBeInstanceOf(CharnnError);
    expect(fs.readdirSync(dir)).toEqual(['occupied.ckpt']);
    expect(fs.readdirSync(path)).toEqual(['keep-me']);
  });

  // Root ignores directory permissions, so this runs only as an ordinary user (as on CI).
  it.skipIf(process.getuid?.() === 0 || process.platform === 'win32')('a save into an unwritable directory leaves the previous file', async () => {
    const path = join(dir, 'run.ckpt');
    writeCheckpointSync(path, { version: 'old' }, [{ name: 'w', data: Float32Array.of(1) }]);
    const before = fs.readFileSync(path);
    fs.chmodSync(dir, 0o555);
    try {
      await expectCharnnError(writeCheckpoint(path, { version: 'new' }, []), path, /permission denied/);
      expect(() => writeCheckpointSync(path, { version: 'new' }, [])).toThrow(/permission denied/);
    } finally {
      fs.chmodSync(dir, 0o755);
    }
    expect(fs.readFileSync(path).equals(before)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['run.ckpt']);
  });

  it('a save into a missing directory is one clear sentence', async () => {
    const path = join(dir, 'nope', 'x.ckpt');
    await expectCharnnError(writeCheckpoint(path, {}, []), path, /directory does not exist/);
    expect(() => writeCheckpointSync(path, {}, [])).toThrow(CharnnError);
  });
});

describe('hostile files', () => {
  const table = [{ name: 'w', dtype: 'float32', length: 3 }];
  const weights = Float32Array.of(1, 2, 3);
  const validText = JSON.stringify({ runName: 'r', tensors: table });
  const valid = () => buildFile({ headerText: validText, data: dataSection(weights) });
  const withHeader = (header: unknown, data: Uint8Array = dataSection(weights)) => buildFile({ headerText: JSON.stringify(header), data });

  async function rejects(bytes: Uint8Array | null, pattern: RegExp, expectFn?: Parameters<typeof readCheckpoint>[1]) {
    const path = join(dir, 'hostile.ckpt');
    fs.rmSync(path, { force: true, recursive: true });
    if (bytes) fs.writeFileSync(path, bytes);
    await expectCharnnError(readCheckpoint(path, expectFn), path, pattern);
    // Reading only the header must catch everything except damage inside the tensor data.
    if (pattern.source.includes('tensor data')) await readCheckpointHeader(path);
    else if (!expectFn) await expectCharnnError(readCheckpointHeader(path), path, pattern);
  }

  it('the valid base file reads', async () => {
    const path = join(dir, 'ok.ckpt');
    fs.writeFileSync(path, valid());
    expect(Array.from((await readCheckpoint(path)).tensors.get('w')!)).toEqual([1, 2, 3]);
  });

  it('missing, directory, empty, short, not ours, text-mangled', async () => {
    await rejects(null, /does not exist/);
    const sub = join(dir, 'dir.ckpt');
    fs.mkdirSync(sub);
    await expectCharnnError(readCheckpoint(sub), sub, /is a directory/);
    await rejects(new Uint8Array(0), /is empty/);
    await rejects(valid().subarray(0, 5), /truncated/);
    await rejects(valid().subarray(0, 20), /truncated/);
    await rejects(Buffer.from('hello, this is a text file that is long enough'), /not a charnn checkpoint/);
    await rejects(Buffer.from('\x89PNG\r\n\x1a\n0000000000000000', 'latin1'), /not a charnn checkpoint/);
    const crlfToLf = Buffer.from(valid().toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    await rejects(crlfToLf, /text mode/);
    const lfToCrlf = Buffer.from(valid().toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
    await rejects(lfToCrlf, /text mode/);
  });

  it('a fifo or other special file is refused without hanging', async () => {
    const fifo = join(dir, 'pipe.ckpt');
    try { execFileSync('mkfifo', [fifo]); } catch { return; } // no mkfifo on this platform
    await expectCharnnError(readCheckpoint(fifo), fifo, /not a regular file/);
  });

  it('versions this build does not read', async () => {
    await rejects(buildFile({ headerText: validText, data: dataSection(weights), version: 2 }), /version 2.*reads only version 1.*upgrade/);
    await rejects(buildFile({ headerText: validText, data: dataSection(weights), version: 0 }), /unknown format version 0/);
    await rejects(buildFile({ headerText: validText, data: dataSection(weights), version: 0xffffffff }), /unknown format version 4294967295/);
  });

  it('header lengths past the cap or the end of the file', async () => {
    await rejects(buildFile({ headerText: validText, data: dataSection(weights), headerLength: 0xfffffff0 }), /exceeds the 67108864-byte limit/);
    await rejects(buildFile({ headerText: validText, data: dataSection(weights), headerLength: MAX_HEADER_BYTES }), /runs past the end/);
    await rejects(buildFile({ headerText: validText, data: dataSection(weights), headerLength: validText.length + 200 }), /runs past the end/);
  });

  it('headers that are not JSON objects', async () => {
    await rejects(buildFile({ headerText: '{"runName": "r", tensors: []}' }), /not valid UTF-8 JSON/);
    await rejects(buildFile({ headerText: '' }), /not valid UTF-8 JSON/);
    const badUtf8 = buildFile({ headerText: '{"a":"xx","tensors":[]}' });
    badUtf8[16 + 6] = 0xff; // invalid UTF-8 inside the string; fix the header CRC so only the decoder can object
    badUtf8.writeUInt32LE(zlibCrc(badUtf8.subarray(0, badUtf8.length - 8)), badUtf8.length - 8);
    await rejects(badUtf8, /not valid UTF-8 JSON/);
    await rejects(withHeader([1, 2], new Uint8Array(0)), /not a JSON object/);
    await rejects(withHeader(null, new Uint8Array(0)), /not a JSON object/);
    await rejects(withHeader({ runName: 'r' }, new Uint8Array(0)), /no 'tensors' table/);
    await rejects(withHeader({ tensors: { w: 1 } }, new Uint8Array(0)), /no 'tensors' table/);
  });

  it('headers that would make JSON.parse build gigabytes are refused before parsing', async () => {
    await rejects(buildFile({ headerText: `{"a":${'['.repeat(300)}${']'.repeat(300)},"tensors":[]}` }), /nests deeper than 256 levels/);
    const manyArrays = `{"a":[${'[],'.repeat(4 * 1024 * 1024)}[]],"tensors":[]}`; // 12 MiB of text
    await rejects(buildFile({ headerText: manyArrays }), /more than 4194304 arrays and objects/);
    // Brackets and escaped quotes inside strings are text, not structure.
    const path = join(dir, 'strings.ckpt');
    const header = { s: '['.repeat(1000), q: '\\"[[[{{{\\', deep: [[[[{ ok: [1] }]]]] };
    await writeCheckpoint(path, header, []);
    expect((await readCheckpoint(path)).header).toEqual(header);
    // And the writer refuses to produce what the reader would refuse.
    const tooDeep = join(dir, 'deep.ckpt');
    let nested: unknown = [];
    for (let i = 0; i < 300; i++) nested = [nested];
    await expectCharnnError(writeCheckpoint(tooDeep, { nested }, []), tooDeep, /Cannot save.*nests deeper than 256/);
    expect(() => writeCheckpointSync(tooDeep, { note: 'x'.repeat(MAX_HEADER_BYTES) }, [])).toThrow(/over the 67108864-byte limit/);
    expect(fs.existsSync(tooDeep)).toBe(false);
  });

  it('malformed tensor tables', async () => {
    const entry = (over: Record<string, unknown>) => ({ tensors: [{ ...table[0], ...over }] });
    await rejects(withHeader({ tensors: [7] }), /entry 0 is not an object/);
    await rejects(withHeader(entry({ name: '' })), /invalid name/);
    await rejects(withHeader(entry({ name: 42 })), /invalid name/);
    await rejects(withHeader(entry({ name: 'a\nb' })), /invalid name/);
    await rejects(withHeader(entry({ name: 'x'.repeat(1000) })), /invalid name/);
    await rejects(withHeader({ tensors: [table[0], table[0]] }), /appears twice/);
    await rejects(withHeader(entry({ dtype: 'float16' })), /unknown dtype "float16"/);
    await rejects(withHeader(entry({ dtype: 'constructor' })), /unknown dtype/);
    await rejects(withHeader(entry({ dtype: '__proto__' })), /unknown dtype/);
    for (const length of [-1, 1.5, '3', null, 1e300, 2 ** 53, 2 ** 53 + 2, 0xfffffff0]) {
      await rejects(withHeader(entry({ length })), /impossible length|more data than/);
    }
    // Many individually plausible lengths whose sum is far beyond the file: must stop early, not overflow.
    const many = Array.from({ length: 10_000 }, (_, i) => ({ name: `t${i}`, dtype: 'float64', length: 3 }));
    await rejects(withHeader({ tensors: many }), /more data than/);
  });

  it('sizes that do not match the file exactly', async () => {
    await rejects(valid().subarray(0, valid().length - 1), /truncated or corrupt/);
    await rejects(valid().subarray(0, valid().length - 16), /truncated or corrupt/);
    await rejects(Buffer.concat([valid(), Buffer.alloc(8)]), /8 bytes more than its header describes/);
    await rejects(Buffer.concat([valid(), Buffer.from('x')]), /1 bytes more/);
  });

  it('checksums catch damage that keeps the structure intact', async () => {
    const headerFlip = Buffer.from(valid().toString('latin1').replace('"r"', '"s"'), 'latin1');
    await rejects(headerFlip, /header checksum mismatch/);
    // Damage that breaks the JSON is reported as damage, not as whatever the parser tripped over.
    const brokenJson = Buffer.from(valid().toString('latin1').replace('"dtype"', '"dtyp\u0001"'), 'latin1');
    await rejects(brokenJson, /header checksum mismatch \(the header is damaged\)/);
    const dataFlip = valid();
    dataFlip[dataFlip.length - 8 - 8 - 1] ^= 1; // last byte of the float32 data (before its padding)
    await rejects(dataFlip, /tensor data checksum mismatch/);
    const padFlip = valid();
    padFlip[dataFlip.length - 8 - 1] = 1; // a padding byte
    await rejects(padFlip, /tensor data checksum mismatch/);
    const trailerFlip = valid();
    trailerFlip[trailerFlip.length - 1] ^= 0x80;
    await rejects(trailerFlip, /tensor data checksum mismatch/);
  });

  it("expect() runs first and its verdict and the tensor shapes it asks for are enforced", async () => {
    const path = join(dir, 'e.ckpt');
    const damaged = valid();
    damaged[damaged.length - 8 - 8 - 1] ^= 1; // tensor data damaged: only a full read would notice
    fs.writeFileSync(path, damaged);
    let seen: Record<string, unknown> | undefined;
    const rejecting = (header: Record<string, unknown>): never => {
      seen = header;
      throw new CharnnError('hiddenSize must be a positive integer.');
    };
    const error = await expectCharnnError(readCheckpoint(path, rejecting), path, /cannot be loaded: hiddenSize must be a positive integer\.$/);
    expect(error.message).not.toMatch(/checksum/); // expect() ran before the data was read
    expect(seen).toEqual({ runName: 'r' }); // without the reserved table

    fs.writeFileSync(path, valid());
    const wants = (entries: Array<[string, string, number]>) => () => new Map(entries.map(([n, dtype, length]) => [n, { dtype, length }]));
    expect((await readCheckpoint(path, wants([['w', 'float32', 3]]))).tensors.get('w')!.length).toBe(3);
    await rejects(valid(), /'w' as 3 × float32, but the model expects 4 × float32/, wants([['w', 'float32', 4]]));
    await rejects(valid(), /'w' as 3 × float32, but the model expects 3 × float64/, wants([['w', 'float64', 3]]));
    await rejects(valid(), /lacks tensor 'b'/, wants([['w', 'float32', 3], ['b', 'float32', 1]]));
    await rejects(valid(), /tensor 'w' that this model does not use/, wants([]));
    // A non-CharnnError from expect() is a bug in the model layer: it must surface as is.
    await expect(readCheckpoint(path, () => { throw new TypeError('bug'); })).rejects.toThrow(TypeError);
  });
});

describe('crc32 and byte order', () => {
  it('the fallback matches zlib and the standard check value', () => {
    expect(crc32Reference(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    const random = seedrandom('crc');
    const bytes = Uint8Array.from({ length: 10_000 }, () => Math.floor(random() * 256));
    expect(crc32Reference(bytes)).toBe(zlibCrc(bytes));
    for (const [start, length] of [[0, 1], [3, 7], [1, 8], [5, 9], [0, 15], [7, 9_993]]) {
      const slice = bytes.subarray(start, start + length);
      expect(crc32Reference(slice), `${start}+${length}`).toBe(zlibCrc(slice));
    }
    expect(crc32Reference(bytes.subarray(5000), crc32Reference(bytes.subarray(0, 5000)))).toBe(zlibCrc(bytes)); // continuation
    expect(crc32Reference(new Uint8Array(0))).toBe(0);
    // An empty view of an empty buffer continues the CRC (zlib alone restarts it, as for a NULL buffer).
    expect(crc32(new Uint8Array(new Int32Array(0).buffer, 0, 0), 0xdeadbeef)).toBe(0xdeadbeef);
  });

  it('on Node, big buffers take zlib\'s crc32, which gives the twin\'s values (whole, in pieces big and small, empty)', () => {
    expect(platform()).toBe(nodePlatform);
    if (typeof (zlib as { crc32?: unknown }).crc32 !== 'function') {
      return void console.warn(`this Node (${process.version}) has no zlib.crc32: checkpoints use the table-driven CRC`);
    }
    const random = seedrandom('crc-native');
    const bytes = new Uint8Array(3 * 2 ** 20 + 12_345);
    for (let i = 0; i < bytes.length; i += 4) bytes[i] = Math.floor(random() * 256); // values, and zero runs
    const expected = crc32Reference(bytes);
    expect(crc32(bytes)).toBe(expected);
    let piecewise = 0;
    for (const [at, end] of [[0, 1_500_000], [1_500_000, 1_500_100], [1_500_100, bytes.length]]) piecewise = crc32(bytes.subarray(at, end), piecewise);
    expect(piecewise).toBe(expected);
    expect(crc32(new Uint8Array(0), 0x12345678)).toBe(0x12345678);
  });

  it('an empty tensor does not hide damage in the tensors before it', async () => {
    const path = join(dir, 'empty-between.ckpt');
    await writeCheckpoint(path, {}, [{ name: 'a', data: Uint8Array.of(1, 2, 3) }, { name: 'empty', data: new Int32Array(0) }]);
    const bytes = fs.readFileSync(path);
    const info = await readCheckpointInfo(path);
    bytes[info.tensors[0].byteOffset + 1] ^= 4;
    fs.writeFileSync(path, bytes);
    await expectCharnnError(readCheckpoint(path), path, /tensor data checksum mismatch/);
  });

  it('swapByteOrder reverses each element', () => {
    const bytes = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    swapByteOrder(bytes, 4);
    expect(Array.from(bytes)).toEqual([4, 3, 2, 1, 8, 7, 6, 5]);
    swapByteOrder(bytes, 2);
    expect(Array.from(bytes)).toEqual([3, 4, 1, 2, 7, 8, 5, 6]);
  });
});

describe('checkpoint file names', () => {
  it('follows char-rnn style and sorts by iteration', () => {
    expect(checkpointFileName('shakespeare', 1200, 1.54321)).toBe('shakespeare_i001200_v1.5432.ckpt');
    expect(checkpointFileName('run', 0, undefined)).toBe('run_i000000_v-.ckpt');
    expect(checkpointFileName('run', 7, NaN)).toBe('run_i000007_v-.ckpt');
    const iterations = [999_999, 5, 1200, 50, 0, 100_000];
    const names = iterations.map((i) => checkpointFileName('run', i, 2 - i / 1e6));
    expect([...names].sort()).toEqual([...iterations].sort((a, b) => a - b).map((i) => checkpointFileName('run', i, 2 - i / 1e6)));
    for (const name of names) expect(name.endsWith(CHECKPOINT_EXTENSION)).toBe(true);
  });

  it('refuses run names that would escape or hide the file', () => {
    for (const bad of ['', '../up', 'a/b', 'a\\b', '.hidden', 'tab\there']) {
      expect(() => checkpointFileName(bad, 1, 1)).toThrow(CharnnError);
    }
  });
});

describe('finding and pruning checkpoints', () => {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  /** Saves a checkpoint of `runName` at `iteration`, saved `iteration` minutes after t0 unless told otherwise. */
  function save(runName: string, iteration: number, valLoss: number | null, extra: Record<string, unknown> = {}, fileName?: string) {
    const path = join(dir, fileName ?? checkpointFileName(runName, iteration, valLoss ?? undefined));
    writeCheckpointSync(path, { runName, iteration, valLoss, savedAt: new Date(t0 + iteration * 60_000).toISOString(), ...extra }, [
      { name: 'w', data: Float32Array.of(iteration) },
    ]);
    return path;
  }

  it('listCheckpoints skips temp files, other extensions, directories and unreadable checkpoints', async () => {
    const good = save('a', 1, 2);
    fs.writeFileSync(join(dir, `.a_i000002_v-.ckpt.123.abcdef.tmp`), fs.readFileSync(good));
    fs.writeFileSync(join(dir, 'notes.txt'), 'x');
    fs.writeFileSync(join(dir, 'broken.ckpt'), 'not a checkpoint');
    fs.mkdirSync(join(dir, 'sub.ckpt'));
    const listed = await listCheckpoints(dir);
    expect(listed.map((c) => c.path)).toEqual([good]);
    expect(listed[0].header).toMatchObject({ runName: 'a', iteration: 1, valLoss: 2 });
    expect(listed[0].mtimeMs).toBeGreaterThan(0);
    await expectCharnnError(listCheckpoints(join(dir, 'missing')), join(dir, 'missing'), /does not exist/);
  });

  it('resolveCheckpoint: a file as is, best by valLoss, newest by savedAt', async () => {
    save('a', 100, 2.0);
    const best = save('a', 200, 1.2);
    save('a', 300, null);
    const newest = save('b', 400, 1.9);
    expect(await resolveCheckpoint(dir, 'best')).toBe(best);
    expect(await resolveCheckpoint(dir, 'newest')).toBe(newest);
    expect(await resolveCheckpoint(best, 'newest')).toBe(best);
  });

  it('resolveCheckpoint: without any valLoss, best is the newest; savedAt outranks mtime', async () => {
    const older = save('a', 1, null);
    const newer = save('a', 2, null);
    fs.utimesSync(newer, new Date(t0), new Date(t0)); // mtime says older, savedAt says newer
    expect(await resolveCheckpoint(dir, 'best')).toBe(newer);
    expect(await resolveCheckpoint(dir, 'newest')).toBe(newer);
    // Without savedAt, mtime decides.
    const noDate = join(dir, 'nodate.ckpt');
    writeCheckpointSync(noDate, { runName: 'a' }, []);
    fs.utimesSync(noDate, new Date(t0 + 1e9), new Date(t0 + 1e9));
    expect(await resolveCheckpoint(dir, 'newest')).toBe(noDate);
    fs.utimesSync(older, new Date(t0 + 2e9), new Date(t0 + 2e9));
    expect(await resolveCheckpoint(dir, 'newest')).toBe(noDate); // older's savedAt still says older
  });

  it('resolveCheckpoint: nothing to find is one sentence saying where it looked', async () => {
    await expectCharnnError(resolveCheckpoint(dir, 'best'), dir, /No readable \.ckpt checkpoint in .*charnn train/);
    const missing = join(dir, 'missing.ckpt');
    await expectCharnnError(resolveCheckpoint(missing, 'best'), missing, /does not exist.*charnn train/);
    fs.writeFileSync(join(dir, 'junk.ckpt'), 'junk');
    await expectCharnnError(resolveCheckpoint(dir, 'newest'), dir, /No readable/);
  });

  it('pruneCheckpoints keeps the newest `keep` and the best, and only touches its own run', async () => {
    const losses = [3, 2.5, 1.1, 2.2, 2.1, 2.0, 1.9];
    const ours = losses.map((loss, i) => save('a', (i + 1) * 10, loss));
    const theirs = [save('b', 5, 0.5), save('b', 15, 9)];
    const sameNameOtherRun = save('a2', 1000, 5, {}, 'a_i999999_v5.0000.ckpt'); // named like ours, header says a2
    const noRunName = join(dir, 'anon.ckpt');
    writeCheckpointSync(noRunName, { iteration: 3 }, []);
    fs.writeFileSync(join(dir, 'a_i000001_v-.ckpt'), 'corrupt: never deleted on a guess');

    const deleted = await pruneCheckpoints(dir, 'a', 2);
    expect(deleted.sort()).toEqual([ours[0], ours[1], ours[3], ours[4]].sort());
    const left = fs.readdirSync(dir).map((n) => join(dir, n));
    for (const kept of [ours[2], ours[5], ours[6], ...theirs, sameNameOtherRun, noRunName, join(dir, 'a_i000001_v-.ckpt')]) {
      expect(left).toContain(kept);
    }
    expect(await pruneCheckpoints(dir, 'a', 2)).toEqual([]); // idempotent
    expect((await pruneCheckpoints(dir, 'a', 0)).sort()).toEqual([ours[5], ours[6]].sort()); // best survives keep = 0
    expect(fs.existsSync(ours[2])).toBe(true);
    await expectCharnnError(pruneCheckpoints(dir, 'a', -1), '-1', /keep/);
    await expectCharnnError(pruneCheckpoints(dir, 'a', 1.5), '1.5', /keep/);
  });

  it('pruneCheckpoints with no valLoss anywhere keeps just the newest `keep`', async () => {
    const paths = [1, 2, 3, 4].map((i) => save('a', i, null));
    expect((await pruneCheckpoints(dir, 'a', 1)).sort()).toEqual(paths.slice(0, 3).sort());
    expect(fs.existsSync(paths[3])).toBe(true);
  });
});

// The data layer: UTF-8 decoding across chunk boundaries, vocabularies, the user's mistakes as one-sentence errors,
// and char-rnn's contiguous-stream batch layout.

import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { CharnnError } from '../src/core/errors.js';
import {
  corpusFromText,
  decodeIds,
  describeChar,
  encodeText,
  idArrayFor,
  makeVocab,
  type Corpus,
  type IdArray,
} from '../src/core/data/corpus.js';
import { readCorpus } from '../src/node/corpus-files.js';
import { BatchLoader, splitCorpus } from '../src/core/data/batches.js';

const dir = mkdtempSync(join(tmpdir(), 'charnn-data-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCounter = 0;
function tempFile(contents: Uint8Array | string): string {
  const path = join(dir, `input-${fileCounter++}.txt`);
  writeFileSync(path, contents);
  return path;
}

/** What a correct decoder gives: the platform's UTF-8 decoder (BOM dropped), split into code points. */
function referenceSymbols(bytes: Uint8Array): string[] {
  return Array.from(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
}

function sortedUnique(symbols: string[]): string[] {
  return [...new Set(symbols)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
}

function expectCorpusMatches(corpus: Corpus, symbols: string[]): void {
  expect(corpus.vocab.encoding).toBe('utf8');
  expect(corpus.vocab.symbols).toEqual(sortedUnique(symbols));
  expect(corpus.ids.length).toBe(symbols.length);
  expect(Array.from(corpus.ids, (id) => corpus.vocab.symbols[id])).toEqual(symbols);
}

/** Deterministic text mixing 1-, 2-, 3- and 4-byte UTF-8 characters, so sequences land on every chunk offset. */
function mixedText(length: number, seed: number): string {
  const alphabet = ['a', 'b', ' ', '\n', 'é', 'ß', 'Ж', '€', '世', '界', 'あ', '🙂', '𝄞', '👍', 'e\u0301', '\u200b'];
  let state = seed >>> 0;
  let text = '';
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    text += alphabet[state % alphabet.length];
  }
  return text;
}

async function expectCharnnError(promise: Promise<unknown> | (() => unknown), pattern: RegExp): Promise<CharnnError> {
  let caught: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CharnnError);
  const message = (caught as CharnnError).message;
  expect(message).toMatch(pattern);
  expect(message).not.toContain('\n'); // one sentence, printable as one line
  return caught as CharnnError;
}

describe('corpusFromText', () => {
  it('counts an emoji or CJK character as one symbol and a combining mark as its own', () => {
    const text = 'héllo 🙂 世界 e\u0301!🙂';
    const corpus = corpusFromText(text);
    expectCorpusMatches(corpus, Array.from(text));
    expect(corpus.ids.length).toBe(15);
    expect(corpus.vocab.symbols).toContain('🙂');
    expect(corpus.vocab.symbols).toContain('\u0301');
    expect(corpus.vocab.idOf.get(0x1f642)).toBe(corpus.vocab.symbols.indexOf('🙂'));
    expect(corpus.bytes).toBe(Buffer.byteLength(text));
    expect(decodeIds(corpus.ids, corpus.vocab)).toBe(text);
  });

  it('drops one leading byte-order mark, not a second one', () => {
    const corpus = corpusFromText('\ufeff\ufeffab');
    expect(decodeIds(corpus.ids, corpus.vocab)).toBe('\ufeffab');
  });

  it('rejects an unpaired surrogate and an empty text', async () => {
    await expectCharnnError(() => corpusFromText('ab\ud83dcd'), /unpaired surrogate \(U\+D83D\) at index 2/);
    await expectCharnnError(() => corpusFromText(''), /empty/);
    await expectCharnnError(() => corpusFromText('\ufeff'), /empty/);
  });
});

describe('readCorpus: decoding', () => {
  it('decodes multi-byte text exactly as TextDecoder does, whatever the chunk boundaries', async () => {
    const text = mixedText(1200, 7);
    const bytes = Buffer.from(text, 'utf8');
    const path = tempFile(bytes);
    const expected = referenceSymbols(bytes);
    for (const chunkSize of [1, 2, 3, 5, 7, 64, 4093, 1 << 20]) {
      const corpus = await readCorpus(path, { chunkSize });
      expectCorpusMatches(corpus, expected);
      expect(corpus.bytes).toBe(bytes.length);
    }
  });

  it('decodes long ASCII runs between multi-byte characters at every alignment (the word-at-a-time path)', async () => {
    let state = 99;
    const next = (n: number): number => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) >>> 8) % n;
    const others = ['é', '€', '🙂', '世', '\u200b'];
    let text = '';
    while (text.length < 8000) {
      const run = next(40);
      for (let j = 0; j < run; j++) text += String.fromCharCode(32 + next(95));
      text += next(3) === 0 ? '\n' : others[next(others.length)];
    }
    const bytes = Buffer.from(text, 'utf8');
    const expected = referenceSymbols(bytes);
    const path = tempFile(bytes);
    for (const chunkSize of [3, 4, 5, 13, 64, 4096]) {
      expectCorpusMatches(await readCorpus(path, { chunkSize }), expected);
    }
    // Stdin pieces at every byte offset modulo 4 of one buffer.
    const pieces: Buffer[] = [];
    for (let start = 0, size = 1; start < bytes.length; start += size, size = 1 + ((size * 7) % 37)) pieces.push(bytes.subarray(start, start + size));
    expectCorpusMatches(await readCorpus('-', { stdin: Readable.from(pieces) }), expected);
    // Raw bytes take the same word path.
    const raw = await readCorpus(path, { raw: true, chunkSize: 13 });
    expect(Array.from(raw.ids, (id) => raw.vocab.symbols[id].charCodeAt(0))).toEqual(Array.from(bytes));
  });

  it('sees a character wherever it falls in a word of plain text', async () => {
    for (let offset = 0; offset < 12; offset++) {
      const chars = Array.from('a'.repeat(40));
      chars[offset] = 'b';
      chars[offset + 13] = 'ä';
      const text = chars.join('');
      const path = tempFile(text);
      for (const raw of [false, true]) {
        const corpus = await readCorpus(path, { raw });
        expect(decodeIds(corpus.ids, corpus.vocab)).toBe(text);
        expect(corpus.vocab.symbols.length).toBe(raw ? 4 : 3);
      }
    }
  });

  it('finds a NUL or an invalid byte at any offset inside long ASCII text', async () => {
    const ascii = Buffer.from('The quick brown fox jumps over the lazy dog; '.repeat(3), 'ascii');
    for (let offset = 0; offset < 40; offset++) {
      for (const [bad, pattern] of [[0x00, /NUL byte at offset (\d+)/], [0x80, /not valid UTF-8: the byte at offset (\d+)/]] as const) {
        const bytes = Buffer.from(ascii);
        bytes[offset] = bad;
        const path = tempFile(bytes);
        for (const chunkSize of [7, 1024]) {
          const error = await expectCharnnError(readCorpus(path, { chunkSize }), pattern);
          expect(Number(pattern.exec(error.message)![1])).toBe(offset);
        }
      }
    }
  });

  it('strips a byte-order mark even when it straddles chunks, and keeps it in raw mode', async () => {
    const body = Buffer.from('世界 ok', 'utf8');
    const path = tempFile(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]));
    for (const chunkSize of [1, 2, 1024]) {
      const corpus = await readCorpus(path, { chunkSize });
      expectCorpusMatches(corpus, Array.from('世界 ok'));
      expect(corpus.bytes).toBe(body.length + 3);
    }
    const raw = await readCorpus(path, { raw: true });
    expect(raw.ids.length).toBe(body.length + 3);
    expect(raw.vocab.idOf.has(0xef)).toBe(true);
  });

  it('reads stdin delivered in pieces that split characters, and reports progress up to the end', async () => {
    const text = mixedText(500, 11);
    const bytes = Buffer.from(text, 'utf8');
    const pieces: Buffer[] = [];
    for (let start = 0, size = 1; start < bytes.length; start += size, size = (size % 5) + 1) {
      pieces.push(bytes.subarray(start, start + size));
    }
    const calls: [number, number | undefined][] = [];
    const corpus = await readCorpus('-', { stdin: Readable.from(pieces), onProgress: (read, total) => calls.push([read, total]) });
    expectCorpusMatches(corpus, referenceSymbols(bytes));
    expect(calls.at(-1)).toEqual([3 * bytes.length, 3 * bytes.length]);
    for (let i = 1; i < calls.length; i++) expect(calls[i][0]).toBeGreaterThanOrEqual(calls[i - 1][0]);
  });

  it('reports file progress per chunk, ending at twice the size (two passes)', async () => {
    const bytes = Buffer.from(mixedText(2000, 3), 'utf8');
    const path = tempFile(bytes);
    const calls: [number, number | undefined][] = [];
    // Progress is throttled to 8 MiB steps, so a small file reports only its end.
    await readCorpus(path, { chunkSize: 100, onProgress: (read, total) => calls.push([read, total]) });
    expect(calls.at(-1)).toEqual([2 * bytes.length, 2 * bytes.length]);
    for (const [read, total] of calls) expect(read).toBeLessThanOrEqual(total!);
  });

  it('accepts the edges of valid UTF-8 (U+0080, U+07FF, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF)', async () => {
    const edges = [0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff];
    const text = edges.map((code) => `x${String.fromCodePoint(code)}`).join('');
    const bytes = Buffer.from(text, 'utf8');
    const corpus = await readCorpus(tempFile(bytes), { chunkSize: 3 });
    expectCorpusMatches(corpus, referenceSymbols(bytes));
  });

  it('gives the offset of the first invalid sequence, also across chunk boundaries', async () => {
    // [bytes, offset where the first invalid sequence starts]
    const cases: [number[], number, string][] = [
      [[0x61, 0x62, 0x80, 0x61], 2, 'stray continuation byte'],
      [[0x61, 0x62, 0x63, 0xc0, 0x80], 3, 'overlong 2-byte NUL'],
      [[0x61, 0xc1, 0xbf], 1, 'overlong 2-byte'],
      [[0x61, 0xe0, 0x80, 0x80], 1, 'overlong 3-byte'],
      [[0x61, 0xf0, 0x80, 0x80, 0x80], 1, 'overlong 4-byte'],
      [[0x61, 0x62, 0xed, 0xa0, 0x80], 2, 'UTF-8-encoded surrogate U+D800'],
      [[0x78, 0xf4, 0x90, 0x80, 0x80], 1, 'above U+10FFFF'],
      [[0x78, 0xf5, 0x80, 0x80, 0x80], 1, 'lead byte F5'],
      [[0xc3, 0xa9, 0xe2, 0x82], 2, 'truncated at end of file'],
      [[0x61, 0x62, 0xc3, 0x78], 2, 'missing continuation'],
      [[0xe4, 0xb8, 0x96, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x99, 0x82, 0xe2, 0x28, 0xa1], 10, 'bad second byte after valid multi-byte text'],
      [[0xff, 0x61], 0, 'byte FF'],
    ];
    for (const [bytes, offset, what] of cases) {
      // Sanity: the platform decoder agrees the input is invalid.
      expect(() => new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes)), what).toThrow();
      const path = tempFile(new Uint8Array(bytes));
      for (const chunkSize of [1, 2, 1024]) {
        const error = await expectCharnnError(readCorpus(path, { chunkSize }), /not valid UTF-8/);
        expect(error.message, `${what}, chunk size ${chunkSize}`).toContain(`at offset ${offset} (0x${bytes[offset].toString(16).toUpperCase().padStart(2, '0')})`);
        expect(error.message).toContain('--raw');
      }
      // The same bytes are fine as raw bytes.
      const raw = await readCorpus(path, { raw: true });
      expect(Array.from(raw.ids, (id) => raw.vocab.symbols[id].charCodeAt(0))).toEqual(bytes);
    }
  });
});

describe('readCorpus: user mistakes', () => {
  it('names a missing file', async () => {
    const missing = join(dir, 'no-such-file.txt');
    const error = await expectCharnnError(readCorpus(missing), /No such file/);
    expect(error.message).toContain(missing);
  });

  it('refuses a directory', async () => {
    const sub = join(dir, 'a-directory');
    mkdirSync(sub, { recursive: true });
    await expectCharnnError(readCorpus(sub), /a-directory is a directory/);
  });

  it('refuses an empty file, a file holding only a byte-order mark, and empty stdin', async () => {
    await expectCharnnError(readCorpus(tempFile('')), /is empty/);
    await expectCharnnError(readCorpus(tempFile(new Uint8Array([0xef, 0xbb, 0xbf]))), /is empty/);
    await expectCharnnError(readCorpus('-', { stdin: Readable.from([]) }), /^Standard input is empty/);
  });

  it('calls a file with NUL bytes binary, suggests --raw, and reads it with --raw', async () => {
    const bytes = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0xff]);
    const path = tempFile(bytes);
    await expectCharnnError(readCorpus(path, { chunkSize: 2 }), /binary file \(it has a NUL byte at offset 4\).*--raw/);
    const raw = await readCorpus(path, { raw: true, chunkSize: 2 });
    expect(raw.vocab.encoding).toBe('bytes');
    expect(raw.vocab.symbols.map((symbol) => symbol.charCodeAt(0))).toEqual([0x00, 0x03, 0x04, 0x4b, 0x50, 0xff]);
    expect(Array.from(raw.ids, (id) => raw.vocab.symbols[id].charCodeAt(0))).toEqual(Array.from(bytes));
  });

  it('recognises UTF-16 by its byte-order mark', async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('hi', 'utf16le')]);
    await expectCharnnError(readCorpus(tempFile(utf16)), /UTF-16/);
  });

  it('names the characters outside an existing vocabulary', async () => {
    const vocab = corpusFromText('abc \n').vocab;
    const ok = await readCorpus(tempFile('cab\n'), { vocab });
    expect(ok.vocab).toBe(vocab);
    expect(decodeIds(ok.ids, vocab)).toBe('cab\n');
    const error = await expectCharnnError(readCorpus(tempFile('abé\u200bcé'), { vocab }), /2 characters that are not in the model's vocabulary/);
    expect(error.message).toContain("'é', U+200B");
    await expectCharnnError(readCorpus(tempFile('abc'), { vocab, raw: true }), /cannot be read with --raw/);
    // A byte model reads its text as bytes whether or not --raw was given.
    const bytesVocab = (await readCorpus(tempFile('abc é'), { raw: true })).vocab;
    const asBytes = await readCorpus(tempFile('é cab'), { vocab: bytesVocab, raw: false });
    expect(asBytes.vocab.encoding).toBe('bytes');
    expect(asBytes.ids.length).toBe(6);
    expect(decodeIds(asBytes.ids, bytesVocab)).toBe('é cab');
    await expectCharnnError(readCorpus(tempFile('ü'), { vocab: bytesVocab }), /a character that is not in the model's vocabulary: 0xBC\./);
  });
});

describe('vocabularies', () => {
  it('picks the smallest id array that fits', () => {
    expect(idArrayFor(1, 3)).toBeInstanceOf(Uint8Array);
    expect(idArrayFor(256, 3)).toBeInstanceOf(Uint8Array);
    expect(idArrayFor(257, 3)).toBeInstanceOf(Uint16Array);
    expect(idArrayFor(65536, 3)).toBeInstanceOf(Uint16Array);
    expect(idArrayFor(65537, 3)).toBeInstanceOf(Uint32Array);
    expect(idArrayFor(300, 7).length).toBe(7);
    // A text with more than 256 distinct characters needs 16-bit ids.
    const cjk = Array.from({ length: 300 }, (_, i) => String.fromCodePoint(0x4e00 + i)).join('');
    const corpus = corpusFromText(cjk);
    expect(corpus.ids).toBeInstanceOf(Uint16Array);
    expect(corpus.vocab.symbols.length).toBe(300);
    expect(corpusFromText('abc').ids).toBeInstanceOf(Uint8Array);
  });

  it('rebuilds a stored vocabulary and rejects one that could not have been built', async () => {
    const built = corpusFromText('héllo 🙂 世界').vocab;
    const rebuilt = makeVocab(built.symbols);
    expect(rebuilt.symbols).toEqual(built.symbols);
    expect([...rebuilt.idOf]).toEqual([...built.idOf]);
    await expectCharnnError(() => makeVocab(['b', 'a']), /out of order/);
    await expectCharnnError(() => makeVocab(['a', 'a']), /appears twice/);
    await expectCharnnError(() => makeVocab(['a', 'bc']), /symbol 1 \("bc"\) is not a single Unicode code point/);
    await expectCharnnError(() => makeVocab(['a', '\ud800']), /not a single Unicode code point/);
    await expectCharnnError(() => makeVocab([]), /no symbols/);
    await expectCharnnError(() => makeVocab(['a', '\u0100'], 'bytes'), /symbol 1 \("Ā"\) is not a single byte/);
    await expectCharnnError(() => makeVocab(['a', '世'], 'bytes'), /not a single byte/);
    expect(makeVocab(['\n', 'a', '\u00e9'], 'bytes').idOf.get(0xe9)).toBe(2);
  });

  it('encodes and decodes strings, naming unknown characters', async () => {
    const vocab = corpusFromText('abc 🙂\n').vocab;
    const ids = encodeText('a 🙂 cab', vocab);
    expect(decodeIds(ids, vocab)).toBe('a 🙂 cab');
    expect(ids.length).toBe(7);
    await expectCharnnError(() => encodeText('abz\u0007', vocab), /characters that are not in the model's vocabulary: U\+0007, 'z'\./);
    await expectCharnnError(() => encodeText('abz', vocab), /^The text has a character that is not in the model's vocabulary: 'z'\.$/);
  });

  it('encodes text for a byte vocabulary as its UTF-8 bytes', () => {
    const bytesVocab = makeVocab(Array.from({ length: 256 }, (_, byte) => String.fromCharCode(byte)), 'bytes');
    const ids = encodeText('é!', bytesVocab);
    expect(Array.from(ids)).toEqual([0xc3, 0xa9, 0x21]);
    expect(decodeIds(ids, bytesVocab)).toBe('é!');
  });

  it('describes characters readably, including invisible ones', () => {
    expect(describeChar('a')).toBe("'a'");
    expect(describeChar(' ')).toBe("' '");
    expect(describeChar('\n')).toBe("'\\n'");
    expect(describeChar('\t')).toBe("'\\t'");
    expect(describeChar('🙂')).toBe("'🙂'");
    expect(describeChar('世')).toBe("'世'");
    expect(describeChar('\u200b')).toBe('U+200B');
    expect(describeChar('\u0301')).toBe('U+0301');
    expect(describeChar('\u0000')).toBe('U+0000');
    expect(describeChar('\u00a0')).toBe('U+00A0');
    expect(describeChar('\u{1f642}'.slice(0, 1))).toBe('U+D83D');
    expect(describeChar('\u00e9', 'bytes')).toBe('0xE9');
    expect(describeChar('a', 'bytes')).toBe("'a'");
    expect(describeChar('\u0000', 'bytes')).toBe('0x00');
    expect(describeChar('\n', 'bytes')).toBe("'\\n'");
  });
});

describe('splitCorpus', () => {
  it('takes the last floor(N * valFrac) ids as validation, as views on the same memory', () => {
    const ids = new Uint16Array(Array.from({ length: 103 }, (_, i) => i));
    const { train, val } = splitCorpus(ids, 0.1);
    expect(val.length).toBe(10);
    expect(train.length).toBe(93);
    expect(train.buffer).toBe(ids.buffer);
    expect(val.buffer).toBe(ids.buffer);
    expect(val[0]).toBe(93);
    val[0] = 999;
    expect(ids[93]).toBe(999);
    const none = splitCorpus(ids, 0);
    expect(none.val.length).toBe(0);
    expect(none.train.length).toBe(103);
  });

  it('refuses a fraction outside [0, 1)', async () => {
    const ids = new Uint8Array(10);
    for (const bad of [1, 1.5, -0.1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expectCharnnError(() => splitCorpus(ids, bad), /must be at least 0 and less than 1/);
    }
  });
});

describe('BatchLoader', () => {
  const range = (n: number): IdArray => Uint8Array.from({ length: n }, (_, i) => i);

  it('lays a batch out time-major from B contiguous streams (hand-computed)', () => {
    // N = 21, B = 2, T = 3: L = floor(20 / 2) = 10 ids per stream, floor(10 / 3) = 3 batches.
    // Stream 0 covers ids 0…9 (+ target 10), stream 1 ids 10…19 (+ target 20).
    const loader = new BatchLoader(range(21), 2, 3);
    expect(loader.streamLength).toBe(10);
    expect(loader.batchesPerEpoch).toBe(3);
    const inputs = new Int32Array(6);
    const targets = new Int32Array(6);
    loader.fill(1, inputs, targets);
    // Batch 1 is steps 3…5 of each stream: inputs[t*B + b].
    expect(Array.from(inputs)).toEqual([3, 13, 4, 14, 5, 15]);
    expect(Array.from(targets)).toEqual([4, 14, 5, 15, 6, 16]);
    loader.fill(2, inputs, targets);
    expect(Array.from(inputs)).toEqual([6, 16, 7, 17, 8, 18]);
    expect(Array.from(targets)).toEqual([7, 17, 8, 18, 9, 19]);
  });

  it('keeps every stream contiguous from one batch to the next', () => {
    let state = 12345;
    const ids = Uint8Array.from({ length: 1000 }, () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24);
    const B = 7;
    const T = 9;
    const loader = new BatchLoader(ids, B, T);
    expect(loader.batchesPerEpoch).toBe(Math.floor(Math.floor(999 / B) / T));
    const previous = { inputs: new Int32Array(T * B), targets: new Int32Array(T * B) };
    const current = { inputs: new Int32Array(T * B), targets: new Int32Array(T * B) };
    loader.fill(0, previous.inputs, previous.targets);
    for (let k = 1; k < loader.batchesPerEpoch; k++) {
      loader.fill(k, current.inputs, current.targets);
      for (let b = 0; b < B; b++) {
        // Within a batch each target is the next input; across batches the stream picks up where it left off.
        for (let t = 0; t + 1 < T; t++) expect(current.targets[t * B + b]).toBe(current.inputs[(t + 1) * B + b]);
        expect(previous.targets[(T - 1) * B + b]).toBe(current.inputs[b]);
        expect(current.inputs[b]).toBe(ids[b * loader.streamLength + k * T]);
      }
      previous.inputs.set(current.inputs);
      previous.targets.set(current.targets);
    }
  });

  it('needs B×T+1 ids and says how to fix it when there are fewer', async () => {
    expect(new BatchLoader(range(2 * 3 + 1), 2, 3).batchesPerEpoch).toBe(1);
    const error = await expectCharnnError(() => new BatchLoader(range(6), 2, 3, 'training text'), /training text has 6 characters/);
    expect(error.message).toContain('needs at least 7');
    expect(error.message).toMatch(/lower --batch-size or --seq-length/);
    await expectCharnnError(() => new BatchLoader(range(100), 0, 3), /batch size/);
    await expectCharnnError(() => new BatchLoader(range(100), 2, 2.5), /sequence length/);
  });

  it('forEvaluation picks the largest batch size that still gives one batch', () => {
    // N = 21, T = 3: B ≤ floor(20 / 3) = 6.
    const loader = BatchLoader.forEvaluation(range(21), 50, 3)!;
    expect(loader.batchSize).toBe(6);
    expect(loader.batchesPerEpoch).toBe(1);
    expect(() => new BatchLoader(range(21), 7, 3)).toThrow(CharnnError);
    expect(BatchLoader.forEvaluation(range(21), 4, 3)!.batchSize).toBe(4);
    expect(BatchLoader.forEvaluation(range(4), 8, 3)!.batchSize).toBe(1);
    expect(BatchLoader.forEvaluation(range(3), 8, 3)).toBeNull();
    expect(BatchLoader.forEvaluation(range(0), 8, 3)).toBeNull();
  });
});

describe('data/names.txt', () => {
  it('holds each Moby first name once, one per line, and reads as a corpus', async () => {
    const path = fileURLToPath(new URL('../data/names.txt', import.meta.url));
    const text = readFileSync(path, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const names = text.slice(0, -1).split('\n');
    expect(names.length).toBe(8422); // 4,944 female + 3,897 male distinct names, 419 of them in both lists
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[A-Z][A-Za-z-]*[a-z]$/);
    const corpus = await readCorpus(path);
    expect(corpus.ids.length).toBe(text.length);
    expect(corpus.vocab.symbols[0]).toBe('\n');
  });
});

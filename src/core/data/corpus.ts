// Text → ids: checks a training text chunk by chunk, builds its vocabulary and encodes it into the smallest typed
// array that holds its ids. Never materialises the corpus as one JavaScript string, so several-gigabyte files fit
// (V8 strings stop near 512M characters); memory is ~1 byte per character for V ≤ 256. Where the chunks come from
// (a string, bytes in memory, a file or stdin in node/corpus-files.ts) is the caller's business.

import { CharnnError } from '../errors.js';
import { utf8Decode, utf8Encode } from '../bytes.js';

export type IdArray = Uint8Array | Uint16Array | Uint32Array;

export interface Vocab {
  /** 'utf8': each symbol is one Unicode code point; 'bytes': each symbol is one raw byte (char-rnn's behaviour). */
  readonly encoding: 'utf8' | 'bytes';
  /** symbols[id]: for utf8 a one-code-point string; for bytes a one-char string with charCode = the byte. Sorted ascending by code point / byte. */
  readonly symbols: readonly string[];
  /** code point (or byte) → id */
  readonly idOf: ReadonlyMap<number, number>;
}

export interface Corpus {
  vocab: Vocab;
  ids: IdArray;
  /** Bytes of input read (including a stripped byte-order mark). */
  bytes: number;
}

/** How a text becomes ids: with an existing vocabulary, or a new one; as UTF-8 code points or raw bytes. */
export interface EncodeOptions {
  /** Encode with an existing vocabulary (eval, resume); characters outside it → CharnnError naming them. */
  vocab?: Vocab;
  /** Train on raw bytes instead of UTF-8 code points. */
  raw?: boolean;
}
const CODE_POINT_LIMIT = 0x110000;
// V8 refuses typed arrays longer than this (2^32 elements in Node 20).
const MAX_IDS = 2 ** 32;
const MAX_NAMED_UNKNOWN = 10;

// ---------------------------------------------------------------------------------------------------------------
// Vocabulary

/** Rebuilds a vocabulary from a stored symbol list (e.g. a checkpoint's), checking it is one we could have built. */
export function makeVocab(symbols: readonly string[], encoding: 'utf8' | 'bytes' = 'utf8'): Vocab {
  if (encoding !== 'utf8' && encoding !== 'bytes') {
    throw new CharnnError(`Invalid vocabulary: unknown encoding ${JSON.stringify(encoding)} (expected 'utf8' or 'bytes').`);
  }
  if (!Array.isArray(symbols) || symbols.length === 0) {
    throw new CharnnError('Invalid vocabulary: it has no symbols.');
  }
  const idOf = new Map<number, number>();
  let previous = -1;
  for (let id = 0; id < symbols.length; id++) {
    const symbol = symbols[id];
    const code = symbolCode(symbol, encoding);
    if (code < 0) {
      const expected = encoding === 'bytes' ? 'a single byte' : 'a single Unicode code point';
      throw new CharnnError(`Invalid vocabulary: symbol ${id} (${JSON.stringify(symbol)}) is not ${expected}.`);
    }
    if (code <= previous) {
      const problem = code === previous ? 'appears twice' : 'is out of order (symbols must be sorted ascending)';
      throw new CharnnError(`Invalid vocabulary: symbol ${id} (${describeChar(symbol, encoding)}) ${problem}.`);
    }
    idOf.set(code, id);
    previous = code;
  }
  return { encoding, symbols: Object.freeze([...symbols]), idOf };
}

/** The code point (or byte) a vocabulary symbol stands for, or -1 when it is not exactly one. */
function symbolCode(symbol: unknown, encoding: 'utf8' | 'bytes'): number {
  if (typeof symbol !== 'string' || symbol.length === 0) return -1;
  const code = symbol.codePointAt(0)!;
  if (encoding === 'bytes') return symbol.length === 1 && code <= 0xff ? code : -1;
  if (code >= 0xd800 && code <= 0xdfff) return -1; // a lone surrogate cannot be encoded as UTF-8
  return symbol.length === (code > 0xffff ? 2 : 1) ? code : -1;
}

function vocabFromSeen(seen: Uint8Array, encoding: 'utf8' | 'bytes'): Vocab {
  const symbols: string[] = [];
  for (let code = 0; code < seen.length; code++) {
    if (seen[code] !== 0) symbols.push(encoding === 'bytes' ? String.fromCharCode(code) : String.fromCodePoint(code));
  }
  return makeVocab(symbols, encoding);
}

/** The smallest unsigned typed array whose elements can hold ids 0 … vocabSize-1. */
export function idArrayFor(vocabSize: number, length: number): IdArray {
  if (vocabSize <= 0x100) return new Uint8Array(length);
  if (vocabSize <= 0x10000) return new Uint16Array(length);
  return new Uint32Array(length);
}

/** How to name a character in a message: 'a', '\n', U+200B (invisible, control and combining characters), 0xE9 (raw bytes beyond ASCII). */
export function describeChar(symbol: string, encoding: 'utf8' | 'bytes' = 'utf8'): string {
  const code = symbol.codePointAt(0) ?? -1;
  if (code < 0) return "''";
  if (code === 0x0a) return "'\\n'";
  if (code === 0x09) return "'\\t'";
  if (code === 0x0d) return "'\\r'";
  if (code === 0x27) return "'\\''";
  if (code === 0x5c) return "'\\\\'";
  // Spaces other than ' ', controls, format characters and lone combining marks would be invisible or would
  // merge with the quotes, so they are named by number instead; so is any raw byte beyond ASCII.
  const printable = code === 0x20 || /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(String.fromCodePoint(code));
  if (encoding === 'bytes' && (code >= 0x80 || !printable)) return `0x${hex(code, 2)}`;
  return printable ? `'${String.fromCodePoint(code)}'` : `U+${hex(code, 4)}`;
}

function hex(value: number, digits: number): string {
  return value.toString(16).toUpperCase().padStart(digits, '0');
}

/** "'é', U+200B and 3 more" */
function listChars(codes: readonly number[], encoding: 'utf8' | 'bytes'): string {
  const named = codes
    .slice(0, MAX_NAMED_UNKNOWN)
    .map((code) => describeChar(encoding === 'bytes' ? String.fromCharCode(code) : String.fromCodePoint(code), encoding));
  const more = codes.length - named.length;
  return more > 0 ? `${named.join(', ')} and ${more} more` : named.join(', ');
}

// ---------------------------------------------------------------------------------------------------------------
// Strings (short texts: prime text, tests, a corpus given inline)

/** Encodes a string with an existing vocabulary; for a bytes vocabulary the string's UTF-8 bytes are the symbols. */
export function encodeText(text: string, vocab: Vocab): IdArray {
  const codes = vocab.encoding === 'bytes' ? utf8Encode(text) : Array.from(text, (char) => char.codePointAt(0)!);
  const ids = idArrayFor(vocab.symbols.length, codes.length);
  const unknown = new Set<number>();
  for (let i = 0; i < codes.length; i++) {
    const id = vocab.idOf.get(codes[i]);
    if (id === undefined) unknown.add(codes[i]);
    else ids[i] = id;
  }
  if (unknown.size > 0) {
    const codesSorted = [...unknown].sort((a, b) => a - b);
    throw new CharnnError(
      `The text has ${unknown.size === 1 ? 'a character that is' : 'characters that are'} not in the model's vocabulary: ${listChars(codesSorted, vocab.encoding)}.`,
    );
  }
  return ids;
}

/** Turns ids back into text; for a bytes vocabulary the bytes are decoded as UTF-8 (invalid sequences → U+FFFD). */
export function decodeIds(ids: ArrayLike<number>, vocab: Vocab): string {
  const symbols = vocab.symbols;
  if (vocab.encoding === 'bytes') {
    const bytes = new Uint8Array(ids.length);
    for (let i = 0; i < ids.length; i++) bytes[i] = symbolAt(symbols, ids[i]).charCodeAt(0);
    return utf8Decode(bytes);
  }
  const parts: string[] = new Array(ids.length);
  for (let i = 0; i < ids.length; i++) parts[i] = symbolAt(symbols, ids[i]);
  return parts.join('');
}

function symbolAt(symbols: readonly string[], id: number): string {
  const symbol = symbols[id];
  if (symbol === undefined) throw new Error(`internal error: id ${id} is outside a vocabulary of ${symbols.length}`);
  return symbol;
}

/** Builds a UTF-8 corpus (vocabulary from the text itself) from a string; a leading byte-order mark is dropped. */
export function corpusFromText(text: string): Corpus {
  // In a /u regex a surrogate class matches only unpaired halves, which UTF-8 cannot represent.
  const lone = /[\uD800-\uDFFF]/u.exec(text);
  if (lone) {
    throw new CharnnError(`The text has an unpaired surrogate (U+${hex(lone[0].charCodeAt(0), 4)}) at index ${lone.index}, which is not a character.`);
  }
  const bytes = utf8Encode(text);
  return encodeMemory(new MemorySource('the text', [bytes], bytes.length), 'utf8', undefined, undefined);
}

/**
 * Encodes a text given as bytes (a file's contents): UTF-8 unless options.raw or an existing vocabulary says raw
 * bytes; `name` names the text in messages.
 */
export function corpusFromBytes(bytes: Uint8Array, options: EncodeOptions & { name?: string } = {}): Corpus {
  const encoding = encodingFor(options);
  return encodeMemory(new MemorySource(options.name ?? 'the text', [bytes], bytes.length), encoding, options.vocab, undefined);
}

/** An existing vocabulary decides how the text is read; only an explicit raw against a UTF-8 model is a mistake. */
export function encodingFor(options: EncodeOptions): 'utf8' | 'bytes' {
  if (!options.vocab) return options.raw ? 'bytes' : 'utf8';
  if (options.raw === true && options.vocab.encoding === 'utf8') {
    throw new CharnnError('This model was trained on UTF-8 characters, not raw bytes, so the text cannot be read with --raw.');
  }
  return options.vocab.encoding;
}

// ---------------------------------------------------------------------------------------------------------------
// Sources of chunks

/** Calls onProgress about once per chunk, and once at the end with the final total. */
export class Progress {
  bytesRead = 0;
  total: number | undefined = undefined;
  private lastReported = 0;
  constructor(private readonly onProgress: ((bytesRead: number, totalBytes: number | undefined) => void) | undefined) {}

  advance(bytes: number): void {
    this.bytesRead += bytes;
    // Stdin arrives in 64 KiB pieces: report every 8 MiB rather than every piece.
    if (this.onProgress && this.bytesRead - this.lastReported >= 8 * 1024 * 1024) this.report();
  }

  finish(): void {
    if (this.bytesRead !== this.lastReported || this.bytesRead === 0) this.report();
  }

  private report(): void {
    this.lastReported = this.bytesRead;
    this.onProgress?.(this.bytesRead, this.total);
  }
}

// A text is walked twice chunk by chunk from a start offset (a file on disk, or pieces held in memory):
// forEachChunk calls visit(chunk, offsetOfChunk) in order until visit returns false.

/** Returns false to stop early (the text is already known to be bad). */
export type ChunkVisitor = (chunk: Uint8Array, offset: number) => boolean;

export interface ChunkSource {
  /** Names the text in messages: a path, 'standard input', 'the text'. */
  readonly name: string;
  /** The first n bytes (fewer if the text is shorter). */
  head(n: number): Uint8Array | Promise<Uint8Array>;
  forEachChunk(startOffset: number, visit: ChunkVisitor, progress: Progress | undefined): void | Promise<void>;
}

/** Pieces held in memory; never concatenated, so the total may exceed the largest typed array. */
export class MemorySource implements ChunkSource {
  constructor(readonly name: string, private readonly pieces: readonly Uint8Array[], readonly size: number) {}

  forEachChunk(startOffset: number, visit: ChunkVisitor, progress: Progress | undefined): void {
    progress?.advance(Math.min(startOffset, this.size));
    let offset = 0;
    for (const piece of this.pieces) {
      const skip = Math.min(piece.length, Math.max(0, startOffset - offset));
      const keepGoing = skip === piece.length || visit(skip === 0 ? piece : piece.subarray(skip), offset + skip);
      offset += piece.length;
      progress?.advance(piece.length - skip);
      if (!keepGoing) break;
    }
  }

  head(n: number): Uint8Array {
    const out = new Uint8Array(Math.min(n, this.size));
    let filled = 0;
    for (const piece of this.pieces) {
      if (filled === out.length) break;
      const take = Math.min(piece.length, out.length - filled);
      out.set(piece.subarray(0, take), filled);
      filled += take;
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The two passes: scan (check, collect symbols, count) then encode.

/**
 * UTF-8 decoder state carried across chunk boundaries (the WHATWG decoder's state machine): a sequence can start
 * in one chunk and end in the next.
 */
interface DecoderState {
  /** Continuation bytes still expected for the current sequence (0 between characters). */
  needed: number;
  /** Bits of the code point decoded so far. */
  codePoint: number;
  /** Allowed range of the next continuation byte; narrower than 0x80–0xBF right after E0, ED, F0 and F4, which is what rejects overlong forms, surrogates and code points above U+10FFFF. */
  lower: number;
  upper: number;
  /** Offset of the current sequence's first byte, for error messages. */
  sequenceStart: number;
}

interface ScanState extends DecoderState {
  count: number;
  /** Offset of the first invalid sequence's first byte, or of the first NUL byte; -1 while the text is fine. */
  errorOffset: number;
  errorIsNul: boolean;
  /** First byte of the current (or invalid) sequence, to show in the message. */
  leadByte: number;
}

function newDecoderState(): DecoderState {
  return { needed: 0, codePoint: 0, lower: 0x80, upper: 0xbf, sequenceStart: 0 };
}

// The hot loops take plain text four bytes at a time: an Int32Array view over the 4-byte-aligned middle of a chunk
// lets one load and two mask tests clear a word of ASCII (about 2.5× a byte loop). Word k covers chunk bytes
// first + 4k … first + 4k + 3, and on a little-endian machine (checked once) byte j of the word is (word >>> 8j) & 0xFF.
// Anything else (non-ASCII, NUL, the unaligned ends) goes through the byte loop, which tests compare to TextDecoder.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const HIGH_BITS = 0x80808080 | 0; // a byte ≥ 0x80 somewhere in the word
const ONES = 0x01010101;

interface AlignedWords {
  words: Int32Array;
  /** Index in the chunk of the first byte of words[0]. */
  first: number;
}

function alignedWords(chunk: Uint8Array): AlignedWords {
  const first = (4 - (chunk.byteOffset & 3)) & 3;
  const count = LITTLE_ENDIAN && chunk.length > first ? (chunk.length - first) >>> 2 : 0;
  return { words: count > 0 ? new Int32Array(chunk.buffer, chunk.byteOffset + first, count) : new Int32Array(0), first };
}

/**
 * Pass 1 over one chunk of UTF-8: marks every code point in `seen` and counts them. Stops at the first NUL byte or
 * invalid sequence, recording where it starts in state.errorOffset.
 */
function scanUtf8Chunk(chunk: Uint8Array, chunkOffset: number, state: ScanState, seen: Uint8Array): void {
  const { words, first } = alignedWords(chunk);
  const wordCount = words.length;
  let needed = state.needed;
  let codePoint = state.codePoint;
  let lower = state.lower;
  let upper = state.upper;
  let sequenceStart = state.sequenceStart;
  let count = state.count;
  const length = chunk.length;
  let i = 0;
  while (i < length) {
    const byte = chunk[i++];
    if (needed === 0) {
      if (byte < 0x80) {
        if (byte === 0) {
          state.errorOffset = chunkOffset + i - 1;
          state.errorIsNul = true;
          return;
        }
        seen[byte] = 1;
        count++;
        if (i >= first && ((i - first) & 3) === 0) {
          // Aligned in plain text: whole words while they are ASCII without NUL ((w - 0x01…) & ~w & 0x80… finds a zero byte).
          let k = (i - first) >>> 2;
          const startWord = k;
          while (k < wordCount) {
            const word = words[k];
            if ((word & HIGH_BITS) !== 0 || ((word - ONES) & ~word & HIGH_BITS) !== 0) break;
            seen[word & 0xff] = 1;
            seen[(word >>> 8) & 0xff] = 1;
            seen[(word >>> 16) & 0xff] = 1;
            seen[word >>> 24] = 1;
            k++;
          }
          count += 4 * (k - startWord);
          i = first + 4 * k;
        }
        continue;
      }
      sequenceStart = chunkOffset + i - 1;
      state.leadByte = byte;
      if (byte >= 0xc2 && byte <= 0xdf) {
        needed = 1;
        codePoint = byte & 0x1f;
      } else if (byte >= 0xe0 && byte <= 0xef) {
        if (byte === 0xe0) lower = 0xa0; // E0 80–9F would be overlong
        else if (byte === 0xed) upper = 0x9f; // ED A0–BF would be a surrogate
        needed = 2;
        codePoint = byte & 0x0f;
      } else if (byte >= 0xf0 && byte <= 0xf4) {
        if (byte === 0xf0) lower = 0x90; // F0 80–8F would be overlong
        else if (byte === 0xf4) upper = 0x8f; // F4 90+ would exceed U+10FFFF
        needed = 3;
        codePoint = byte & 0x07;
      } else {
        // 80–BF (a stray continuation), C0/C1 (always overlong), F5–FF (beyond U+10FFFF).
        state.errorOffset = sequenceStart;
        state.errorIsNul = false;
        return;
      }
      continue;
    }
    if (byte < lower || byte > upper) {
      state.errorOffset = sequenceStart;
      state.errorIsNul = false;
      return;
    }
    lower = 0x80;
    upper = 0xbf;
    codePoint = (codePoint << 6) | (byte & 0x3f);
    if (--needed === 0) {
      seen[codePoint] = 1;
      count++;
    }
  }
  state.needed = needed;
  state.codePoint = codePoint;
  state.lower = lower;
  state.upper = upper;
  state.sequenceStart = sequenceStart;
  state.count = count;
}

/**
 * Pass 2 over one chunk of (already validated) UTF-8: writes idOfCode[codePoint] for each character into ids from
 * `position`; returns the new position, or -1 if the bytes are not those pass 1 saw (the file changed in between).
 */
function encodeUtf8Chunk(chunk: Uint8Array, state: DecoderState, idOfCode: Int32Array, ids: IdArray, position: number): number {
  const { words, first } = alignedWords(chunk);
  const wordCount = words.length;
  let needed = state.needed;
  let codePoint = state.codePoint;
  const length = chunk.length;
  const capacity = ids.length;
  let i = 0;
  while (i < length) {
    const byte = chunk[i++];
    if (needed === 0) {
      if (byte < 0x80) {
        const id = idOfCode[byte];
        if (id < 0 || position === capacity) return -1;
        ids[position++] = id;
        if (i >= first && ((i - first) & 3) === 0) {
          let k = (i - first) >>> 2;
          const wordLimit = Math.min(wordCount, k + ((capacity - position) >>> 2));
          let anyUnknown = 0; // OR of the ids written: negative if some byte had no id
          while (k < wordLimit) {
            const word = words[k];
            if ((word & HIGH_BITS) !== 0) break;
            const id0 = idOfCode[word & 0xff];
            const id1 = idOfCode[(word >>> 8) & 0xff];
            const id2 = idOfCode[(word >>> 16) & 0xff];
            const id3 = idOfCode[word >>> 24];
            anyUnknown |= id0 | id1 | id2 | id3;
            ids[position] = id0;
            ids[position + 1] = id1;
            ids[position + 2] = id2;
            ids[position + 3] = id3;
            position += 4;
            k++;
          }
          if (anyUnknown < 0) return -1;
          i = first + 4 * k;
        }
        continue;
      }
      if (byte >= 0xf0) {
        needed = 3;
        codePoint = byte & 0x07;
      } else if (byte >= 0xe0) {
        needed = 2;
        codePoint = byte & 0x0f;
      } else {
        needed = 1;
        codePoint = byte & 0x1f;
      }
      continue;
    }
    codePoint = (codePoint << 6) | (byte & 0x3f);
    if (--needed === 0) {
      const id = codePoint < CODE_POINT_LIMIT ? idOfCode[codePoint] : -1;
      if (id < 0 || position === capacity) return -1;
      ids[position++] = id;
    }
  }
  state.needed = needed;
  state.codePoint = codePoint;
  return position;
}

/** Pass 1 for raw bytes: every byte is a symbol. */
function scanBytesChunk(chunk: Uint8Array, seen: Uint8Array): void {
  const { words, first } = alignedWords(chunk);
  const wordCount = words.length;
  const head = wordCount > 0 ? first : chunk.length;
  for (let i = 0; i < head; i++) seen[chunk[i]] = 1;
  for (let k = 0; k < wordCount; k++) {
    const word = words[k];
    seen[word & 0xff] = 1;
    seen[(word >>> 8) & 0xff] = 1;
    seen[(word >>> 16) & 0xff] = 1;
    seen[word >>> 24] = 1;
  }
  for (let i = head + 4 * wordCount; i < chunk.length; i++) seen[chunk[i]] = 1;
}

/** Pass 2 for raw bytes; returns the new position, or -1 if a byte has no id or the ids are full (the file changed). */
function encodeBytesChunk(chunk: Uint8Array, idOfByte: Int32Array, ids: IdArray, position: number): number {
  const length = chunk.length;
  if (position + length > ids.length) return -1;
  const { words, first } = alignedWords(chunk);
  const wordCount = words.length;
  const head = wordCount > 0 ? first : length;
  let anyUnknown = 0; // OR of the ids written: negative if some byte had no id
  for (let i = 0; i < head; i++) {
    const id = idOfByte[chunk[i]];
    anyUnknown |= id;
    ids[position + i] = id;
  }
  let out = position + head;
  for (let k = 0; k < wordCount; k++) {
    const word = words[k];
    const id0 = idOfByte[word & 0xff];
    const id1 = idOfByte[(word >>> 8) & 0xff];
    const id2 = idOfByte[(word >>> 16) & 0xff];
    const id3 = idOfByte[word >>> 24];
    anyUnknown |= id0 | id1 | id2 | id3;
    ids[out] = id0;
    ids[out + 1] = id1;
    ids[out + 2] = id2;
    ids[out + 3] = id3;
    out += 4;
  }
  for (let i = head + 4 * wordCount; i < length; i++) {
    const id = idOfByte[chunk[i]];
    anyUnknown |= id;
    ids[out++] = id;
  }
  return anyUnknown < 0 ? -1 : position + length;
}

/**
 * One encoding of one source: pass 1 (scan) checks the text, collects its symbol set and counts its symbols; pass 2
 * (encode) writes the ids. The visitors are fields so the sync (memory) and async (file) drivers can share them.
 */
class EncodeJob {
  readonly startOffset: number;
  private readonly seen: Uint8Array; // [256 or 0x110000] 1 where the byte / code point occurs
  private readonly scanState: ScanState = { ...newDecoderState(), count: 0, errorOffset: -1, errorIsNul: false, leadByte: 0 };
  private bytes: number;
  private vocab: Vocab | undefined;
  private ids: IdArray = new Uint8Array(0);
  private position = 0;
  private readonly decoder = newDecoderState();
  private idOfCode: Int32Array = new Int32Array(0);

  constructor(
    private readonly name: string,
    private readonly encoding: 'utf8' | 'bytes',
    private readonly givenVocab: Vocab | undefined,
    private readonly head: Uint8Array, // the first 3 bytes (fewer if shorter)
    private readonly progress: Progress | undefined,
  ) {
    const hasBom = encoding === 'utf8' && head.length === 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
    this.startOffset = hasBom ? 3 : 0;
    this.bytes = this.startOffset;
    this.seen = new Uint8Array(encoding === 'bytes' ? 0x100 : CODE_POINT_LIMIT);
  }

  readonly scan: ChunkVisitor = (chunk, offset) => {
    this.bytes = offset + chunk.length;
    if (this.encoding === 'bytes') {
      scanBytesChunk(chunk, this.seen);
      this.scanState.count += chunk.length;
      return true;
    }
    scanUtf8Chunk(chunk, offset, this.scanState, this.seen);
    return this.scanState.errorOffset < 0;
  };

  /** Throws the user's mistake, if pass 1 found one; otherwise fixes the vocabulary and allocates the ids. */
  finishScan(): void {
    const state = this.scanState;
    const name = capitalize(this.name);
    if (state.errorOffset < 0 && state.needed > 0) state.errorOffset = state.sequenceStart; // truncated at the end
    if (state.errorOffset >= 0) throw this.textError();
    const count = state.count;
    if (count === 0) throw new CharnnError(`${name} is empty.`);
    if (count >= MAX_IDS) throw new CharnnError(`${name} has ${count} characters; at most ${MAX_IDS - 1} fit in memory at once.`);

    const vocab = this.givenVocab ?? vocabFromSeen(this.seen, this.encoding);
    if (this.givenVocab) {
      const unknown: number[] = [];
      for (let code = 0; code < this.seen.length; code++) if (this.seen[code] !== 0 && !vocab.idOf.has(code)) unknown.push(code);
      if (unknown.length > 0) {
        const what = unknown.length === 1 ? 'a character that is' : `${unknown.length} characters that are`;
        throw new CharnnError(`${name} has ${what} not in the model's vocabulary: ${listChars(unknown, this.encoding)}.`);
      }
    }
    this.vocab = vocab;
    this.idOfCode = new Int32Array(this.seen.length).fill(-1);
    for (const [code, id] of vocab.idOf) if (code < this.idOfCode.length) this.idOfCode[code] = id;
    this.ids = idArrayFor(vocab.symbols.length, count);
  }

  readonly encode: ChunkVisitor = (chunk) => {
    this.position = this.encoding === 'bytes'
      ? encodeBytesChunk(chunk, this.idOfCode, this.ids, this.position)
      : encodeUtf8Chunk(chunk, this.decoder, this.idOfCode, this.ids, this.position);
    return this.position >= 0;
  };

  finish(): Corpus {
    if (this.position !== this.ids.length) throw new CharnnError(`${capitalize(this.name)} changed while it was being read; try again.`);
    this.progress?.finish();
    return { vocab: this.vocab!, ids: this.ids, bytes: this.bytes };
  }

  private textError(): CharnnError {
    const name = capitalize(this.name);
    const { errorOffset: offset, leadByte } = this.scanState;
    if (this.scanState.errorIsNul) {
      return new CharnnError(`${name} looks like a binary file (it has a NUL byte at offset ${offset}); if you mean to train on its raw bytes, pass --raw.`);
    }
    const head = this.head;
    if (offset === 0 && head.length >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))) {
      return new CharnnError(`${name} is UTF-16 text, not UTF-8; convert it (iconv -f UTF-16 -t UTF-8) or pass --raw to train on its raw bytes.`);
    }
    return new CharnnError(
      `${name} is not valid UTF-8: the byte at offset ${offset} (0x${hex(leadByte, 2)}) does not start a valid character; if it is not UTF-8 text, pass --raw to train on its raw bytes.`,
    );
  }
}

export function encodeMemory(source: MemorySource, encoding: 'utf8' | 'bytes', vocab: Vocab | undefined, progress: Progress | undefined): Corpus {
  const job = new EncodeJob(source.name, encoding, vocab, source.head(3), progress);
  source.forEachChunk(job.startOffset, job.scan, progress);
  job.finishScan();
  source.forEachChunk(job.startOffset, job.encode, progress);
  return job.finish();
}

/** Encodes a source read asynchronously (a file): both passes await its chunks. */
export async function encodeSource(source: ChunkSource, encoding: 'utf8' | 'bytes', vocab: Vocab | undefined, progress: Progress | undefined): Promise<Corpus> {
  const job = new EncodeJob(source.name, encoding, vocab, await source.head(3), progress);
  await source.forEachChunk(job.startOffset, job.scan, progress);
  job.finishScan();
  await source.forEachChunk(job.startOffset, job.encode, progress);
  return job.finish();
}

function capitalize(name: string): string {
  // File paths keep their case; only our own descriptions ('standard input', 'the text') start a sentence.
  return name === 'standard input' || name === 'the text' ? name[0].toUpperCase() + name.slice(1) : name;
}

// The checkpoint file format: how a header object and named tensors become bytes and come back, and how
// checkpoint files are named. Bytes in, bytes out: where they are stored is the caller's business (node/checkpoint-files.ts
// for files; a browser keeps them in memory). It knows nothing about models; the model layer supplies the header
// and checks it (through `expect`) before any tensor memory is allocated.
//
// File layout, version 1 (all integers little-endian, every section starts on an 8-byte boundary):
//
//   offset  size  field
//   0       8     magic  89 52 4E 4E 0D 0A 1A 0A  ("\x89RNN\r\n\x1a\n", after PNG's signature: the high byte
//                        catches 7-bit transfers, CR LF and the lone LF catch text-mode newline conversion
//                        in either direction, and 1A stops `type` on Windows from dumping binary)
//   8       4     u32 format version (1)
//   12      4     u32 header byte length L (at most 64 MiB)
//   16      L     UTF-8 JSON header: the caller's header object plus a reserved key
//                   "tensors": [{ "name": string, "dtype": "float32"|"float64"|"int32"|"uint32"|"uint16"|"uint8",
//                                 "length": element count }, ...]
//   16+L    0..7  zero padding to an 8-byte boundary; the tensor data starts at D = 16 + L + padding
//   D       ...   each tensor's raw little-endian elements in table order, each followed by zero padding
//                 to an 8-byte boundary (so every tensor can be viewed in place as a typed array)
//   end-8   4     u32 CRC-32 (IEEE, as zlib/PNG) of bytes [0, D): magic, version, length, header, padding
//   end-4   4     u32 CRC-32 of bytes [D, end-8): all tensor data and its padding
//
// The file size is fully determined by the header, so a reader checks it against the real size before reading
// or allocating any tensor; the two checksums catch bit flips that leave the structure intact. Readers refuse
// any version other than the one they know: the version is bumped only when old readers would misread a file.

import { CharnnError, assert } from '../errors.js';
import { platform } from '../platform.js';

export const CHECKPOINT_EXTENSION = '.ckpt';
export const CHECKPOINT_FORMAT_VERSION = 1;
export const CHECKPOINT_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x89, 0x52, 0x4e, 0x4e, 0x0d, 0x0a, 0x1a, 0x0a);
/** A header this large is not a model description but a corrupt length field; refusing it bounds allocation. */
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;
/** Deeper than any real header (they nest about 4 levels): bounds what JSON.parse builds, with the next limit. */
export const MAX_HEADER_DEPTH = 256;
/** Arrays and objects in a header: room for a million-point loss history several times over. */
export const MAX_HEADER_CONTAINERS = 4 * 1024 * 1024;

export type TensorData = Float32Array | Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;
export interface CheckpointContents { header: Record<string, unknown>; tensors: Map<string, TensorData> }
export type CheckpointDtype = 'float32' | 'float64' | 'int32' | 'uint32' | 'uint16' | 'uint8';
export interface TensorEntry { name: string; dtype: CheckpointDtype; length: number }
/** What `readCheckpointInfo` reports without reading tensor data (for `charnn inspect` and listings). */
export interface CheckpointInfo {
  header: Record<string, unknown>;
  tensors: Array<TensorEntry & { byteOffset: number; byteLength: number }>;
  version: number;
  fileBytes: number;
  mtimeMs: number;
}

export const PREFIX_BYTES = 16; // magic + version + header length
export const TRAILER_BYTES = 8; // two CRC-32s
const ALIGN = 8;
const MAX_TENSOR_NAME_LENGTH = 256;
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const DTYPES: Record<CheckpointDtype, { new (length: number): TensorData; readonly BYTES_PER_ELEMENT: number }> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  uint16: Uint16Array,
  uint8: Uint8Array,
};

const padTo8 = (byteLength: number): number => (ALIGN - (byteLength % ALIGN)) % ALIGN;
const ZEROS = new Uint8Array(ALIGN);
// ---------------------------------------------------------------------------------------------------------------
// CRC-32

// Slicing-by-8: eight 256-entry tables (table k advances a byte's contribution by k further bytes) let the loop
// consume 8 bytes per step; about 4x the one-table loop (~1 GB/s: a 3×512 model's checkpoint in ~50 ms).
const CRC_TABLES = (() => {
  const tables = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    tables[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) {
      const previous = tables[(k - 1) * 256 + n];
      tables[k * 256 + n] = (previous >>> 8) ^ tables[previous & 0xff];
    }
  }
  return tables;
})();

/** Table-driven CRC-32; the same results as zlib.crc32, in plain JavaScript so it runs anywhere. */
export function crc32Reference(bytes: Uint8Array, previous = 0): number {
  const T = CRC_TABLES;
  let crc = ~previous;
  let i = 0;
  for (const end8 = bytes.length - (bytes.length % 8); i < end8; i += 8) {
    const low = crc ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    crc = T[1792 + (low & 0xff)] ^ T[1536 + ((low >>> 8) & 0xff)] ^ T[1280 + ((low >>> 16) & 0xff)] ^ T[1024 + (low >>> 24)] ^
      T[768 + bytes[i + 4]] ^ T[512 + bytes[i + 5]] ^ T[256 + bytes[i + 6]] ^ T[bytes[i + 7]];
  }
  for (; i < bytes.length; i++) crc = T[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

/**
 * CRC-32 (IEEE, as zlib/PNG) of `bytes`, continuing from `previous` (the CRC of the bytes before them): the
 * platform's where it has one (Node's zlib for big buffers), else crc32Reference.
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  const native = platform().crc32;
  return native && bytes.length > 0 ? native(bytes, previous) : crc32Reference(bytes, previous);
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

function dtypeOf(data: TensorData): CheckpointDtype | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof Uint16Array) return 'uint16';
  // Uint8ClampedArray is not a Uint8Array subclass, so it lands below as unsupported rather than silently here.
  if (data instanceof Uint8Array) return 'uint8';
  return undefined;
}

function isValidTensorName(name: unknown): name is string {
  // Control characters are refused so a name can always be printed on one line in an error message.
  return typeof name === 'string' && name.length > 0 && name.length <= MAX_TENSOR_NAME_LENGTH && !/[\u0000-\u001f\u007f]/.test(name);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Swaps each element's bytes in place: the file is little-endian whatever the host is. */
export function swapByteOrder(bytes: Uint8Array, bytesPerElement: number): void {
  for (let start = 0; start + bytesPerElement <= bytes.length; start += bytesPerElement) {
    for (let i = start, j = start + bytesPerElement - 1; i < j; i++, j--) {
      const t = bytes[i];
      bytes[i] = bytes[j];
      bytes[j] = t;
    }
  }
}

function littleEndianBytes(data: TensorData): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return bytes;
  const swapped = bytes.slice();
  swapByteOrder(swapped, data.BYTES_PER_ELEMENT);
  return swapped;
}

export interface EncodePlan { prefixAndHeader: Uint8Array; table: TensorEntry[]; fileBytes: number }

/**
 * Validates the caller's arguments and encodes everything before the tensor data. Touches no file. A header
 * beyond the reader's limits is refused here: a save must never produce a file that cannot be loaded.
 */
export function planCheckpoint(path: string, header: Record<string, unknown>, tensors: ReadonlyArray<{ name: string; data: TensorData }>): EncodePlan {
  assert(isPlainObject(header), 'checkpoint header must be a plain object');
  assert(!Object.hasOwn(header, 'tensors'), "checkpoint header key 'tensors' is reserved for the tensor table");
  const table: TensorEntry[] = [];
  const seen = new Set<string>();
  let fileBytes = 0;
  for (const { name, data } of tensors) {
    assert(isValidTensorName(name), `invalid tensor name ${JSON.stringify(name)}`);
    assert(!seen.has(name), `duplicate tensor name '${name}'`);
    seen.add(name);
    const dtype = dtypeOf(data);
    assert(dtype !== undefined, `tensor '${name}' is not a Float32/Float64/Int32/Uint32/Uint16/Uint8Array`);
    table.push({ name, dtype, length: data.length });
    fileBytes += data.byteLength + padTo8(data.byteLength);
  }
  const json = new TextEncoder().encode(JSON.stringify({ ...header, tensors: table }));
  if (json.length > MAX_HEADER_BYTES) {
    throw new CharnnError(`Cannot save checkpoint '${path}': its header is ${json.length} bytes, over the ${MAX_HEADER_BYTES}-byte limit.`);
  }
  const shapeProblem = jsonShapeProblem(json);
  if (shapeProblem) throw new CharnnError(`Cannot save checkpoint '${path}': its header ${shapeProblem}.`);
  const prefixAndHeader = new Uint8Array(PREFIX_BYTES + json.length + padTo8(PREFIX_BYTES + json.length)); // zero-filled
  prefixAndHeader.set(CHECKPOINT_MAGIC, 0);
  const view = new DataView(prefixAndHeader.buffer);
  view.setUint32(8, CHECKPOINT_FORMAT_VERSION, true);
  view.setUint32(12, json.length, true);
  prefixAndHeader.set(json, PREFIX_BYTES);
  fileBytes += prefixAndHeader.length + TRAILER_BYTES;
  return { prefixAndHeader, table, fileBytes };
}

/**
 * The file's bytes in order, produced lazily so the synchronous writer streams tensors straight from the
 * caller's arrays. Each tensor is looked up again here; if it changed shape since planning, the write aborts.
 */
export function* checkpointChunks(plan: EncodePlan, tensors: ReadonlyArray<{ name: string; data: TensorData }>): Generator<Uint8Array> {
  yield plan.prefixAndHeader;
  let dataCrc = 0;
  for (let i = 0; i < plan.table.length; i++) {
    const data = tensors[i].data;
    const entry = plan.table[i];
    assert(dtypeOf(data) === entry.dtype && data.length === entry.length, `tensor '${entry.name}' changed while being saved`);
    const bytes = littleEndianBytes(data);
    dataCrc = crc32(bytes, dataCrc);
    yield bytes;
    const padding = ZEROS.subarray(0, padTo8(bytes.length));
    if (padding.length > 0) {
      dataCrc = crc32(padding, dataCrc);
      yield padding;
    }
  }
  const trailer = new Uint8Array(TRAILER_BYTES);
  const view = new DataView(trailer.buffer);
  view.setUint32(0, crc32(plan.prefixAndHeader), true);
  view.setUint32(4, dataCrc, true);
  yield trailer;
}

/** The whole checkpoint as one buffer: a snapshot, so the caller may keep mutating its tensors afterwards. */
export function encodeCheckpoint(
  header: Record<string, unknown>,
  tensors: ReadonlyArray<{ name: string; data: TensorData }>,
  path = '(in memory)', // only for error messages
): Uint8Array {
  const plan = planCheckpoint(path, header, tensors);
  const out = new Uint8Array(plan.fileBytes);
  let offset = 0;
  for (const chunk of checkpointChunks(plan, tensors)) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  assert(offset === plan.fileBytes, 'checkpoint size miscomputed');
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading: every check that bounds an allocation runs before that allocation.

/**
 * Where a checkpoint's bytes come from: a file (node/checkpoint-files.ts reads just the parts asked for) or bytes
 * in memory (bytesSource). `read` fills `into` from `position` or throws a CharnnError naming the source.
 */
export interface ByteSource {
  readonly size: number;
  /** Modification time in ms since the epoch, where known (0 otherwise). */
  readonly mtimeMs: number;
  read(into: Uint8Array, position: number): Promise<void>;
}

/** A ByteSource over bytes in memory. */
export function bytesSource(bytes: Uint8Array, mtimeMs = 0): ByteSource {
  return {
    size: bytes.length,
    mtimeMs,
    async read(into, position) {
      assert(position >= 0 && position + into.length <= bytes.length, 'read outside the checkpoint bytes');
      into.set(bytes.subarray(position, position + into.length));
    },
  };
}

const corrupt = (path: string, what: string): CharnnError =>
  new CharnnError(`Checkpoint '${path}' is corrupt: ${what}.`);

function startsLikeMagic(bytes: Uint8Array): boolean {
  for (let i = 0; i < Math.min(bytes.length, CHECKPOINT_MAGIC.length); i++) if (bytes[i] !== CHECKPOINT_MAGIC[i]) return false;
  return true;
}

function describeWrongMagic(path: string, bytes: Uint8Array): CharnnError {
  // The signature's CR LF / LF pair exists so text-mode copies are recognizable; say so rather than "not ours".
  const startsWith = (pattern: number[]) => pattern.every((byte, i) => bytes[i] === byte);
  const crlfToLf = [0x89, 0x52, 0x4e, 0x4e, 0x0a, 0x1a, 0x0a];
  const lfToCrlf = [0x89, 0x52, 0x4e, 0x4e, 0x0d, 0x0d, 0x0a, 0x1a, 0x0d, 0x0a];
  if (startsWith(crlfToLf) || startsWith(lfToCrlf)) {
    return new CharnnError(`Checkpoint '${path}' has had its line endings converted (it was copied in text mode); copy it again in binary mode.`);
  }
  return new CharnnError(`'${path}' is not a charnn checkpoint (it does not start with the charnn magic bytes).`);
}

interface Layout { info: CheckpointInfo; dataCrc: number }

/** Reads and validates everything but the tensor data: magic, version, header, table, total size, header CRC. */
async function readLayout(source: ByteSource, path: string): Promise<Layout> {
  const { size, mtimeMs } = source;
  if (size === 0) throw new CharnnError(`Checkpoint '${path}' is empty.`);
  const prefix = new Uint8Array(Math.min(size, PREFIX_BYTES));
  await source.read(prefix, 0);
  if (!startsLikeMagic(prefix)) throw describeWrongMagic(path, prefix);
  if (size < PREFIX_BYTES + TRAILER_BYTES) throw new CharnnError(`Checkpoint '${path}' is truncated (only ${size} bytes).`);

  const prefixView = new DataView(prefix.buffer);
  const version = prefixView.getUint32(8, true);
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    // Small numbers above ours are plausibly a newer charnn; anything else is damage.
    if (version > CHECKPOINT_FORMAT_VERSION && version < 1000) {
      throw new CharnnError(`Checkpoint '${path}' uses format version ${version}, but this charnn reads only version ${CHECKPOINT_FORMAT_VERSION}; upgrade charnn to load it.`);
    }
    throw corrupt(path, `unknown format version ${version} (this charnn reads version ${CHECKPOINT_FORMAT_VERSION})`);
  }

  const headerLength = prefixView.getUint32(12, true);
  if (headerLength > MAX_HEADER_BYTES) throw corrupt(path, `its header length (${headerLength} bytes) exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const dataOffset = PREFIX_BYTES + headerLength + padTo8(PREFIX_BYTES + headerLength);
  if (dataOffset + TRAILER_BYTES > size) {
    throw new CharnnError(`Checkpoint '${path}' is truncated or corrupt: its header (${headerLength} bytes) runs past the end of the ${size}-byte file.`);
  }
  const headerRegion = new Uint8Array(dataOffset);
  headerRegion.set(prefix, 0);
  await source.read(headerRegion.subarray(PREFIX_BYTES), PREFIX_BYTES);
  const trailer = new Uint8Array(TRAILER_BYTES);
  await source.read(trailer, size - TRAILER_BYTES);
  const trailerView = new DataView(trailer.buffer);

  // A header failing its checksum is reported as damage, whatever its parse trips over; one that passes but is
  // malformed was written that way, and the precise complaint is the useful one. (A truncated or extended file
  // also fails the checksum, since its trailer moved, so the size checks speak first when the header parses.)
  const headerIntact = crc32(headerRegion) === trailerView.getUint32(0, true);
  let parsed: ParsedHeader;
  try {
    parsed = parseHeader(path, headerRegion.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength), dataOffset, size);
  } catch (error) {
    if (error instanceof CharnnError && !headerIntact) throw corrupt(path, 'header checksum mismatch (the header is damaged)');
    throw error;
  }
  const { header, tensors, expectedSize } = parsed;
  if (expectedSize > size) {
    throw new CharnnError(`Checkpoint '${path}' is truncated or corrupt: its header describes more data than the file's ${size} bytes hold.`);
  }
  if (expectedSize < size) {
    throw new CharnnError(`Checkpoint '${path}' is corrupt: it has ${size - expectedSize} bytes more than its header describes (${expectedSize}).`);
  }
  if (!headerIntact) throw corrupt(path, 'header checksum mismatch');
  return { info: { header, tensors, version, fileBytes: size, mtimeMs }, dataCrc: trailerView.getUint32(4, true) };
}

/**
 * Bounds what JSON.parse will build: 64 MiB of `[[[[…` or `[],[],…` would become tens of millions of arrays,
 * gigabytes of heap, and a fatal out-of-memory crash instead of an error. A byte scan suffices because UTF-8
 * continuation bytes never look like ASCII brackets or quotes.
 */
function jsonShapeProblem(json: Uint8Array): string | undefined {
  let depth = 0;
  let containers = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const byte = json[i];
    if (inString) {
      if (byte === 0x5c) i++; // backslash: skip the escaped byte
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x5b || byte === 0x7b) { // [ {
      if (++depth > MAX_HEADER_DEPTH) return `nests deeper than ${MAX_HEADER_DEPTH} levels`;
      if (++containers > MAX_HEADER_CONTAINERS) return `holds more than ${MAX_HEADER_CONTAINERS} arrays and objects`;
    } else if (byte === 0x5d || byte === 0x7d) { // ] }
      depth--;
    }
  }
  return undefined;
}

interface ParsedHeader { header: Record<string, unknown>; tensors: CheckpointInfo['tensors']; expectedSize: number }

/** The JSON header and its tensor table, validated; `expectedSize` stops growing once it passes the file size. */
function parseHeader(path: string, json: Uint8Array, dataOffset: number, size: number): ParsedHeader {
  const shapeProblem = jsonShapeProblem(json);
  if (shapeProblem) throw corrupt(path, `its header ${shapeProblem}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch {
    throw corrupt(path, 'its header is not valid UTF-8 JSON');
  }
  if (!isPlainObject(parsed)) throw corrupt(path, 'its header is not a JSON object');
  const { tensors: rawTable, ...header } = parsed;
  if (!Array.isArray(rawTable)) throw corrupt(path, "its header has no 'tensors' table");

  // Sizes are plain numbers checked against the real file size as they accumulate, so nothing can overflow
  // and no allocation can later exceed the file's own size.
  const tensors: CheckpointInfo['tensors'] = [];
  const names = new Set<string>();
  let offset = dataOffset;
  for (let i = 0; i < rawTable.length; i++) {
    const entry: unknown = rawTable[i];
    if (!isPlainObject(entry)) throw corrupt(path, `tensor table entry ${i} is not an object`);
    const { name, dtype, length } = entry;
    if (!isValidTensorName(name)) throw corrupt(path, `tensor table entry ${i} has an invalid name`);
    if (names.has(name)) throw corrupt(path, `tensor '${name}' appears twice in its table`);
    names.add(name);
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype)) {
      throw corrupt(path, `tensor '${name}' has unknown dtype ${JSON.stringify(dtype) ?? '(missing)'}`);
    }
    const bytesPerElement = DTYPES[dtype as CheckpointDtype].BYTES_PER_ELEMENT;
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
      throw corrupt(path, `tensor '${name}' has impossible length ${JSON.stringify(length) ?? '(missing)'}`);
    }
    // Larger than the whole file: most often a truncated file (a cut-off download or copy), so let the caller
    // report it as truncated rather than calling a sound header damaged because the trailer moved.
    if (length > size / bytesPerElement) return { header, tensors, expectedSize: Number.POSITIVE_INFINITY };
    const byteLength = length * bytesPerElement;
    tensors.push({ name, dtype: dtype as CheckpointDtype, length, byteOffset: offset, byteLength });
    offset += byteLength + padTo8(byteLength);
    if (offset + TRAILER_BYTES > size) break; // already too big for the file; the caller reports it
  }
  return { header, tensors, expectedSize: offset + TRAILER_BYTES };
}

/** Header, tensor table and sizes of a checkpoint, reading only its header bytes (and its 8-byte trailer). */
/** Header, tensor table and sizes of a checkpoint, reading only its header bytes (and its 8-byte trailer). */
export async function decodeCheckpointInfo(source: ByteSource, path: string): Promise<CheckpointInfo> {
  return (await readLayout(source, path)).info;
}

function checkExpectations(
  path: string,
  info: CheckpointInfo,
  expect: (header: Record<string, unknown>) => ReadonlyMap<string, { dtype: string; length: number }>,
): void {
  let expected: ReadonlyMap<string, { dtype: string; length: number }>;
  try {
    expected = expect(info.header);
  } catch (error) {
    // The model layer does not know the path; add it so the sentence stands on its own.
    if (error instanceof CharnnError && !error.message.includes(path)) {
      throw new CharnnError(`Checkpoint '${path}' cannot be loaded: ${error.message.replace(/\.$/, '')}.`);
    }
    throw error;
  }
  const present = new Set<string>();
  for (const { name, dtype, length } of info.tensors) {
    present.add(name);
    const want = expected.get(name);
    if (want === undefined) throw new CharnnError(`Checkpoint '${path}' has a tensor '${name}' that this model does not use.`);
    if (want.dtype !== dtype || want.length !== length) {
      throw new CharnnError(`Checkpoint '${path}' has tensor '${name}' as ${length} × ${dtype}, but the model expects ${want.length} × ${want.dtype}.`);
    }
  }
  for (const name of expected.keys()) {
    if (!present.has(name)) throw new CharnnError(`Checkpoint '${path}' lacks tensor '${name}', which the model needs.`);
  }
}

/**
 * Reads a whole checkpoint. `expect(header)` is the model layer's schema check: it throws CharnnError for a bad
 * header and returns the exact element count (and dtype) it expects for every tensor; it runs BEFORE any tensor
 * data is read or allocated. Every tensor gets its own ArrayBuffer.
 */
export async function decodeCheckpoint(
  source: ByteSource | Uint8Array,
  path: string,
  expect?: (header: Record<string, unknown>) => ReadonlyMap<string, { dtype: string; length: number }>,
): Promise<CheckpointContents> {
  const from = source instanceof Uint8Array ? bytesSource(source) : source;
  {
    const layout = await readLayout(from, path);
    if (expect) checkExpectations(path, layout.info, expect);
    const tensors = new Map<string, TensorData>();
    const padding = new Uint8Array(ALIGN);
    let dataCrc = 0;
    for (const { name, dtype, length, byteOffset, byteLength } of layout.info.tensors) {
      let data: TensorData;
      try {
        data = new DTYPES[dtype](length);
      } catch {
        throw new CharnnError(`Checkpoint '${path}' cannot be loaded: tensor '${name}' (${byteLength} bytes) does not fit in memory.`);
      }
      const bytes = new Uint8Array(data.buffer, 0, byteLength);
      await from.read(bytes, byteOffset);
      dataCrc = crc32(bytes, dataCrc);
      const pad = padding.subarray(0, padTo8(byteLength));
      if (pad.length > 0) {
        await from.read(pad, byteOffset + byteLength);
        dataCrc = crc32(pad, dataCrc);
      }
      if (!HOST_IS_LITTLE_ENDIAN) swapByteOrder(bytes, data.BYTES_PER_ELEMENT);
      tensors.set(name, data);
    }
    if (dataCrc !== layout.dataCrc) throw corrupt(path, 'tensor data checksum mismatch');
    return { header: layout.info.header, tensors };
  }
}
// ---------------------------------------------------------------------------------------------------------------
// Naming

/** Iteration digits in file names: enough that names of a run sort by iteration up to a million iterations. */
const ITERATION_DIGITS = 6;

/** Refuses run names that would escape the directory, hide the file, or clash with temp files. */
export function checkRunName(runName: string): void {
  if (typeof runName !== 'string' || runName.length === 0) throw new CharnnError('The run name must not be empty.');
  if (/[/\\\u0000-\u001f\u007f]/.test(runName) || runName.startsWith('.')) {
    throw new CharnnError(`The run name '${runName}' cannot be used in a file name (no slashes, control characters or leading dot).`);
  }
}

/** char-rnn style, e.g. `shakespeare_i001200_v1.5432.ckpt`; `_v-` when there is no finite validation loss. */
export function checkpointFileName(runName: string, iteration: number, valLoss: number | undefined): string {
  checkRunName(runName);
  assert(Number.isSafeInteger(iteration) && iteration >= 0, `iteration must be a non-negative integer, got ${iteration}`);
  const loss = valLoss !== undefined && Number.isFinite(valLoss) ? valLoss.toFixed(4) : '-';
  return `${runName}_i${String(iteration).padStart(ITERATION_DIGITS, '0')}_v${loss}${CHECKPOINT_EXTENSION}`;
}

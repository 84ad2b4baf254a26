// The safetensors file format (Hugging Face's, read by PyTorch, JAX, Rust candle …), bytes in, bytes out:
//
//   offset  size  field
//   0       8     u64 little-endian N: byte length of the header
//   8       N     UTF-8 JSON: { "<name>": { "dtype": "F32", "shape": [d0, d1, …], "data_offsets": [begin, end] }, …,
//                               "__metadata__": { "<key>": "<string value>", … } }   (padded with spaces)
//   8+N     …     the tensors' raw little-endian elements; data_offsets are relative to this point, and the
//                 tensors tile it exactly (no gaps, no overlap, nothing after the last)
//
// charnn writes float32 only; it reads F32, F64, F16 and BF16 (models trained in half precision) into float32.
// Every check that bounds an allocation runs before it, so a corrupt length never allocates gigabytes.

import { CharnnError } from '../errors.js';

export interface NamedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array; // row-major, shape's product elements
}

export interface SafetensorsContents {
  tensors: Map<string, { shape: number[]; dtype: string; data: Float32Array }>;
  metadata: Record<string, string>;
}

const HEADER_LENGTH_BYTES = 8;
/** The reference implementation refuses headers over 100 MB; so do we (a corrupt length, not a real header). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
const ELEMENT_BYTES: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** A file's bytes: the header (8-byte aligned with trailing spaces, as the reference writer does), then the data. */
export function encodeSafetensors(tensors: readonly NamedTensor[], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new Error(`internal error: safetensors metadata '${key}' must be a string`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const t of tensors) {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (elements !== t.data.length) throw new Error(`internal error: tensor '${t.name}' has ${t.data.length} elements, shape says ${elements}`);
    if (t.name === METADATA_KEY || Object.hasOwn(header, t.name)) throw new Error(`internal error: tensor name '${t.name}' repeated or reserved`);
    header[t.name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + 4 * elements] };
    offset += 4 * elements;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padding = (8 - (json.length % 8)) % 8;
  if (padding > 0) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(padding));
  const out = new Uint8Array(HEADER_LENGTH_BYTES + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, HEADER_LENGTH_BYTES);
  let at = HEADER_LENGTH_BYTES + json.length;
  for (const t of tensors) {
    if (HOST_IS_LITTLE_ENDIAN) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    } else {
      for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i], true);
    }
    at += t.data.byteLength;
  }
  return out;
}

/**
 * Parses a safetensors file. Throws CharnnError "<label> is not a safetensors file (…)" or "… is damaged (…)"
 * naming the first problem; never reads outside `bytes`.
 */
export function decodeSafetensors(bytes: Uint8Array, label = 'The file'): SafetensorsContents {
  const notSafetensors = (why: string) => new CharnnError(`${label} is not a safetensors file (${why}).`);
  const damaged = (why: string) => new CharnnError(`${label} is a damaged safetensors file (${why}).`);
  if (bytes.length < HEADER_LENGTH_BYTES) throw notSafetensors(`it has ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength < 2n || headerLength > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
    throw notSafetensors(`its header length field says ${headerLength} bytes`);
  }
  const N = Number(headerLength);
  if (HEADER_LENGTH_BYTES + N > bytes.length) throw damaged(`its header needs ${N} bytes but only ${bytes.length - HEADER_LENGTH_BYTES} follow: truncated`);
  if (bytes[HEADER_LENGTH_BYTES] !== 0x7b /* { */) throw notSafetensors('its header is not a JSON object');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER_LENGTH_BYTES, HEADER_LENGTH_BYTES + N)));
  } catch {
    throw notSafetensors('its header is not valid UTF-8 JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw notSafetensors('its header is not a JSON object');

  const metadata: Record<string, string> = {};
  const rawMetadata = (header as Record<string, unknown>)[METADATA_KEY];
  if (rawMetadata !== undefined) {
    if (typeof rawMetadata !== 'object' || rawMetadata === null || Array.isArray(rawMetadata)) throw notSafetensors('__metadata__ is not an object');
    for (const [key, value] of Object.entries(rawMetadata)) {
      if (typeof value !== 'string') throw notSafetensors(`__metadata__.${key} is not a string`);
      metadata[key] = value;
    }
  }

  const dataStart = HEADER_LENGTH_BYTES + N;
  const dataBytes = bytes.length - dataStart;
  const entries: Array<{ name: string; dtype: string; shape: number[]; begin: number; end: number }> = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) continue;
    if (typeof raw !== 'object' || raw === null) throw notSafetensors(`the entry of tensor '${name}' is not an object`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string') throw notSafetensors(`tensor '${name}' has no dtype`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw notSafetensors(`tensor '${name}' has no valid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[1] < offsets[0]) {
      throw notSafetensors(`tensor '${name}' has no valid data_offsets`);
    }
    const elementBytes = ELEMENT_BYTES[dtype];
    if (elementBytes === undefined) {
      throw new CharnnError(`${label} holds tensor '${name}' as ${dtype}; charnn reads floating-point tensors (F32, F64, F16, BF16) only.`);
    }
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    if (elements * elementBytes !== offsets[1] - offsets[0]) {
      throw damaged(`tensor '${name}' of shape [${shape.join(', ')}] ${dtype} needs ${elements * elementBytes} bytes, its offsets span ${offsets[1] - offsets[0]}`);
    }
    if (offsets[1] > dataBytes) throw damaged(`tensor '${name}' ends at byte ${offsets[1]} of the data, which has ${dataBytes}: truncated`);
    entries.push({ name, dtype, shape: shape as number[], begin: offsets[0], end: offsets[1] });
  }
  // the tensors must tile the data exactly: sorted by offset, each starts where the previous ended
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of sorted) {
    if (e.begin !== expected) throw damaged(`tensor '${e.name}' starts at byte ${e.begin} of the data, expected ${expected} (a gap or an overlap)`);
    expected = e.end;
  }
  if (expected !== dataBytes) throw damaged(`${dataBytes - expected} bytes follow the last tensor`);

  const tensors: SafetensorsContents['tensors'] = new Map();
  for (const e of entries) {
    tensors.set(e.name, { shape: e.shape, dtype: e.dtype, data: toFloat32(bytes, dataStart + e.begin, dataStart + e.end, e.dtype) });
  }
  return { tensors, metadata };
}

/** The elements in bytes [begin, end) as float32 (a copy: the caller may keep it after the file buffer goes). */
function toFloat32(bytes: Uint8Array, begin: number, end: number, dtype: string): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = (end - begin) / ELEMENT_BYTES[dtype];
  const out = new Float32Array(n);
  if (dtype === 'F32') {
    if (HOST_IS_LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes.subarray(begin, end));
    else for (let i = 0; i < n; i++) out[i] = view.getFloat32(begin + 4 * i, true);
  } else if (dtype === 'F64') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(begin + 8 * i, true);
  } else if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(begin + 2 * i, true) << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(begin + 2 * i, true));
  }
  return out;
}

/** IEEE 754 binary16 → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero, subnormal
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

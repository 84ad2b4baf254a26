// Bytes and text without Node's Buffer, so the core runs in a browser too: UTF-8 through the standard
// TextEncoder/TextDecoder, base64 by hand (atob/btoa work on Latin-1 strings and are slow on megabytes).

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** UTF-8 bytes to a string; an invalid sequence becomes U+FFFD, as the WHATWG decoder does. */
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUE_OF = (() => {
  const table = new Int16Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) table[ALPHABET.charCodeAt(i)] = i;
  return table;
})();

export function base64Encode(bytes: Uint8Array): string {
  const parts: string[] = [];
  const CHUNK = 3 * 4096; // a multiple of 3, so only the last chunk is padded
  for (let start = 0; start < bytes.length; start += CHUNK) {
    const end = Math.min(start + CHUNK, bytes.length);
    let out = '';
    for (let i = start; i < end; i += 3) {
      const b0 = bytes[i], b1 = i + 1 < end ? bytes[i + 1] : 0, b2 = i + 2 < end ? bytes[i + 2] : 0;
      const triple = (b0 << 16) | (b1 << 8) | b2;
      out += ALPHABET[triple >> 18] + ALPHABET[(triple >> 12) & 63]
        + (i + 1 < end ? ALPHABET[(triple >> 6) & 63] : '=') + (i + 2 < end ? ALPHABET[triple & 63] : '=');
    }
    parts.push(out);
  }
  return parts.join('');
}

/** Standard base64 (padding optional, no whitespace) to bytes; throws on any other character. */
export function base64Decode(text: string): Uint8Array {
  let length = text.length;
  while (length > 0 && text.charCodeAt(length - 1) === 0x3d) length--; // '='
  const out = new Uint8Array(Math.floor((length * 3) / 4));
  let bits = 0, value = 0, o = 0;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    const v = code < 128 ? VALUE_OF[code] : -1;
    if (v < 0) throw new Error(`internal error: invalid base64 character at ${i}`);
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

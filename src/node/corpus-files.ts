// Training texts from files and standard input, read in chunks and handed to the core's encoder
// (core/data/corpus.ts). A regular file is read twice from disk (scan, then encode); stdin and pipes, which can be
// read only once, are kept in memory as the pieces they arrived in.

import { open, type FileHandle } from 'node:fs/promises';
import { CharnnError } from '../core/errors.js';
import {
  encodeMemory, encodeSource, encodingFor, MemorySource, Progress,
  type ChunkSource, type ChunkVisitor, type Corpus, type EncodeOptions,
} from '../core/data/corpus.js';

export interface ReadCorpusOptions extends EncodeOptions {
  /**
   * Called about once per chunk. Every byte is counted each time it is handled: a file is read twice (vocabulary
   * pass, encoding pass), so totalBytes is twice its size; stdin is received once and then scanned twice in memory,
   * so totalBytes is three times its size, and undefined while it is still arriving. The last call has
   * bytesRead === totalBytes.
   */
  onProgress?: (bytesRead: number, totalBytes: number | undefined) => void;
  /** For tests; default process.stdin. */
  stdin?: NodeJS.ReadableStream;
  /** Bytes per read; small values let tests put multi-byte sequences across chunk boundaries. Default 16 MiB. */
  chunkSize?: number;
}

const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

/** Reads a training text from a path, or from stdin when source is '-', and encodes it. */
export async function readCorpus(source: string, options: ReadCorpusOptions = {}): Promise<Corpus> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error(`internal error: chunkSize must be a positive integer, got ${chunkSize}`);

  const encoding = encodingFor(options);

  const progress = new Progress(options.onProgress);
  if (source === '-') {
    const stdin = options.stdin ?? process.stdin;
    if (options.stdin === undefined && process.stdin.isTTY) {
      throw new CharnnError('Standard input is a terminal; pipe the text in (cat input.txt | charnn …) or give a file path.');
    }
    const memory = await collect('standard input', stdin, progress);
    return encodeMemory(memory, encoding, options.vocab, progress);
  }

  const handle = await openForReading(source);
  try {
    const stats = await handle.stat();
    if (stats.isDirectory()) throw new CharnnError(`${source} is a directory, not a text file.`);
    if (!stats.isFile()) {
      // A pipe or device (/dev/stdin, <(…)) can be read only once: keep it in memory like stdin.
      const memory = await collect(source, handle.createReadStream({ autoClose: false }), progress);
      return encodeMemory(memory, encoding, options.vocab, progress);
    }
    progress.total = 2 * stats.size;
    return await encodeSource(new FileSource(source, handle, stats.size, chunkSize), encoding, options.vocab, progress);
  } finally {
    await handle.close();
  }
}

async function openForReading(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CharnnError(`No such file: ${path}.`);
    if (code === 'EACCES' || code === 'EPERM') throw new CharnnError(`Cannot read ${path}: permission denied.`);
    if (code === 'EISDIR') throw new CharnnError(`${path} is a directory, not a text file.`);
    throw new CharnnError(`Cannot open ${path}: ${(error as Error).message}.`);
  }
}

class FileSource implements ChunkSource {
  // Two buffers so the next chunk is read while this one is decoded.
  private readonly buffers: [Buffer, Buffer];
  constructor(readonly name: string, private readonly handle: FileHandle, size: number, chunkSize: number) {
    const length = Math.max(1, Math.min(chunkSize, size));
    this.buffers = [Buffer.allocUnsafe(length), Buffer.allocUnsafe(length)];
  }

  async forEachChunk(startOffset: number, visit: ChunkVisitor, progress: Progress | undefined): Promise<void> {
    progress?.advance(startOffset);
    let position = startOffset;
    let which = 0;
    let pending = this.read(this.buffers[which], position);
    for (;;) {
      const bytesRead = await pending;
      if (bytesRead === 0) break;
      const chunk = this.buffers[which].subarray(0, bytesRead);
      which ^= 1;
      pending = this.read(this.buffers[which], position + bytesRead);
      const keepGoing = visit(chunk, position);
      position += bytesRead;
      progress?.advance(bytesRead);
      if (!keepGoing) {
        await pending.catch(() => 0); // the handle must not be closed under an outstanding read
        break;
      }
    }
  }

  async head(n: number): Promise<Uint8Array> {
    const bytes = Buffer.alloc(n);
    return bytes.subarray(0, await this.read(bytes, 0));
  }

  private async read(into: Buffer, position: number): Promise<number> {
    try {
      return (await this.handle.read(into, 0, into.length, position)).bytesRead;
    } catch (error) {
      throw new CharnnError(`Cannot read ${this.name}: ${(error as Error).message}.`);
    }
  }
}

/** Collects a stream as a list of Buffers; never concatenated, so the total may exceed the largest Buffer. */
async function collect(name: string, stream: NodeJS.ReadableStream, progress: Progress): Promise<MemorySource> {
  const pieces: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const piece of stream) {
      const bytes = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : (piece as Uint8Array);
      pieces.push(bytes);
      size += bytes.length;
      progress.advance(bytes.length);
    }
  } catch (error) {
    throw new CharnnError(`Cannot read ${name}: ${(error as Error).message}.`);
  }
  // From here on both in-memory passes count too, so the bar keeps moving forwards.
  progress.total = 3 * size;
  return new MemorySource(name, pieces, size);
}

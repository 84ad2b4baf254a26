// Checkpoint files: atomic writing (temp file, fsync, rename), reading from disk, and finding, choosing and pruning
// the checkpoints in a directory. The byte format itself is core/checkpoint/format.ts.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { CharnnError } from '../core/errors.js';
import { expectedTensors, parseHeader, type CheckpointHeader } from '../core/snapshot.js';
import {
  CHECKPOINT_EXTENSION, checkpointChunks, decodeCheckpoint, decodeCheckpointInfo, encodeCheckpoint, planCheckpoint,
  type ByteSource, type CheckpointContents, type CheckpointInfo, type TensorData,
} from '../core/checkpoint/format.js';

/** One read/write call moves at most this much: the OS caps single transfers near 2 GiB. */
const IO_CHUNK_BYTES = 1 << 30;

// ---------------------------------------------------------------------------------------------------------------
// Atomic writing

function tempPathFor(path: string): string {
  // A dot-file ending in .tmp: invisible to `ls`, never mistaken for a checkpoint, unique per process and call.
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

function saveError(path: string, error: unknown, what = 'checkpoint'): unknown {
  if (error instanceof CharnnError || !(error instanceof Error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const reason: Record<string, string> = {
    ENOENT: 'its directory does not exist',
    ENOTDIR: 'part of its directory path is a file',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'the file system is read-only',
    ENOSPC: 'the disk is full',
    EDQUOT: 'the disk quota is exhausted',
    EISDIR: 'a directory with that name is in the way',
  };
  if (code === undefined) return error; // not an I/O failure: a bug or an exception from the caller's data
  return new CharnnError(`Cannot save ${what} '${path}': ${reason[code] ?? `${code} (${error.message})`}.`);
}

/** Makes the rename durable. Best effort: some platforms cannot open or fsync a directory. */
function fsyncDirectorySync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // The data itself is already fsynced; only the rename's durability is in doubt, which is no reason to fail a save.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch {
    // See fsyncDirectorySync.
  } finally {
    await handle?.close();
  }
}

/**
 * Atomic: writes `<dir>/.<basename>.<pid>.<random>.tmp`, fsyncs, renames over `path`, fsyncs the directory.
 * Never leaves a half-written `.ckpt`; on failure removes the temp file and leaves any existing file at `path`
 * untouched. The tensors are copied before the first await, so training may go on while the write proceeds.
 */
export async function writeCheckpoint(
  path: string,
  header: Record<string, unknown>,
  tensors: ReadonlyArray<{ name: string; data: TensorData }>,
): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(header, tensors, path));
}

/**
 * Writes `bytes` to `path` the way checkpoints are written (temp file, fsync, rename, fsync the directory): a reader
 * sees the old file or the whole new one, never part of it. `what` names the file in error messages.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array, what = 'checkpoint'): Promise<void> {
  const tempPath = tempPathFor(path);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(tempPath, 'wx');
    for (let offset = 0; offset < bytes.length; ) {
      const { bytesWritten } = await handle.write(bytes, offset, Math.min(IO_CHUNK_BYTES, bytes.length - offset));
      offset += bytesWritten;
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tempPath, path);
  } catch (error) {
    await handle?.close().catch(() => {});
    await fsp.rm(tempPath, { force: true }).catch(() => {});
    throw saveError(path, error, what);
  }
  await fsyncDirectory(dirname(path));
}

/** Same as writeCheckpoint, synchronously (for a save during Ctrl-C handling); streams from the caller's arrays. */
export function writeCheckpointSync(
  path: string,
  header: Record<string, unknown>,
  tensors: ReadonlyArray<{ name: string; data: TensorData }>,
): void {
  const plan = planCheckpoint(path, header, tensors);
  const tempPath = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tempPath, 'wx');
    for (const chunk of checkpointChunks(plan, tensors)) {
      for (let offset = 0; offset < chunk.length; ) {
        offset += fs.writeSync(fd, chunk, offset, Math.min(IO_CHUNK_BYTES, chunk.length - offset));
      }
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tempPath, path);
  } catch (error) {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* already failing; the original error is the one to report */ }
    }
    try { fs.rmSync(tempPath, { force: true }); } catch { /* as above */ }
    throw saveError(path, error);
  }
  fsyncDirectorySync(dirname(path));
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

interface OpenCheckpoint { handle: fsp.FileHandle; size: number; mtimeMs: number }

async function openCheckpoint(path: string): Promise<OpenCheckpoint> {
  // stat before open: opening a FIFO for reading would block until a writer appears.
  let stats: fs.Stats;
  try {
    stats = await fsp.stat(path);
  } catch (error) {
    throw readError(path, error);
  }
  if (stats.isDirectory()) throw new CharnnError(`Checkpoint '${path}' is a directory, not a checkpoint file.`);
  if (!stats.isFile()) throw new CharnnError(`Checkpoint '${path}' is not a regular file.`);
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path, 'r');
  } catch (error) {
    throw readError(path, error);
  }
  try {
    const current = await handle.stat(); // the file we opened, which may have been replaced since the stat above
    if (!current.isFile()) throw new CharnnError(`Checkpoint '${path}' is not a regular file.`);
    return { handle, size: current.size, mtimeMs: current.mtimeMs };
  } catch (error) {
    await handle.close();
    throw readError(path, error);
  }
}

function readError(path: string, error: unknown): unknown {
  if (error instanceof CharnnError || !(error instanceof Error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === undefined) return error;
  if (code === 'ENOENT') return new CharnnError(`Checkpoint '${path}' does not exist.`);
  if (code === 'ENOTDIR') return new CharnnError(`Checkpoint '${path}' does not exist (part of the path is a file).`);
  if (code === 'EISDIR') return new CharnnError(`Checkpoint '${path}' is a directory, not a checkpoint file.`);
  if (code === 'EACCES' || code === 'EPERM') return new CharnnError(`Checkpoint '${path}' cannot be read: permission denied.`);
  return new CharnnError(`Checkpoint '${path}' cannot be read: ${code} (${error.message}).`);
}


/** Fills `into` from the file at `position`; a short file here means it shrank while being read. */
async function readExactly(handle: fsp.FileHandle, path: string, into: Uint8Array, position: number): Promise<void> {
  for (let offset = 0; offset < into.length; ) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(into, offset, Math.min(IO_CHUNK_BYTES, into.length - offset), position + offset));
    } catch (error) {
      throw readError(path, error);
    }
    if (bytesRead === 0) throw new CharnnError(`Checkpoint '${path}' was truncated while being read.`);
    offset += bytesRead;
  }
}

/** The open file as a ByteSource: only the parts the decoder asks for are read. */
function fileSource(opened: OpenCheckpoint, path: string): ByteSource {
  return { size: opened.size, mtimeMs: opened.mtimeMs, read: (into, position) => readExactly(opened.handle, path, into, position) };
}

/** Header, tensor table and sizes of a checkpoint, reading only its header bytes (and its 8-byte trailer). */
export async function readCheckpointInfo(path: string): Promise<CheckpointInfo> {
  const opened = await openCheckpoint(path);
  try {
    return await decodeCheckpointInfo(fileSource(opened, path), path);
  } finally {
    await opened.handle.close();
  }
}

/** The caller's header as written (without the tensor table); reads only the header bytes. */
export async function readCheckpointHeader(path: string): Promise<Record<string, unknown>> {
  return (await readCheckpointInfo(path)).header;
}

/**
 * Reads a whole checkpoint file. `expect(header)` is the model layer's schema check (see decodeCheckpoint): it runs
 * before any tensor data is read or allocated. Every tensor gets its own ArrayBuffer.
 */
export async function readCheckpoint(
  path: string,
  expect?: (header: Record<string, unknown>) => ReadonlyMap<string, { dtype: string; length: number }>,
): Promise<CheckpointContents> {
  const opened = await openCheckpoint(path);
  try {
    return await decodeCheckpoint(fileSource(opened, path), path, expect);
  } finally {
    await opened.handle.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Finding and pruning

export interface ListedCheckpoint { path: string; header: Record<string, unknown>; mtimeMs: number }

/** Files in `dir` ending in .ckpt whose header reads, sorted by file name; temp and unreadable files are skipped. */
export async function listCheckpoints(dir: string): Promise<ListedCheckpoint[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CharnnError(`Checkpoint directory '${dir}' does not exist.`);
    if (code === 'ENOTDIR') throw new CharnnError(`'${dir}' is not a directory.`);
    if (code === 'EACCES' || code === 'EPERM') throw new CharnnError(`Checkpoint directory '${dir}' cannot be read: permission denied.`);
    throw error;
  }
  const listed: ListedCheckpoint[] = [];
  for (const name of names.filter((n) => n.endsWith(CHECKPOINT_EXTENSION)).sort()) {
    const path = join(dir, name);
    try {
      const info = await readCheckpointInfo(path);
      listed.push({ path, header: info.header, mtimeMs: info.mtimeMs });
    } catch (error) {
      if (!(error instanceof CharnnError)) throw error; // a bug, not a bad file
    }
  }
  return listed;
}

function finiteValLoss(checkpoint: ListedCheckpoint): number | undefined {
  const valLoss = checkpoint.header.valLoss;
  return typeof valLoss === 'number' && Number.isFinite(valLoss) ? valLoss : undefined;
}

function savedAtMs(checkpoint: ListedCheckpoint): number {
  const savedAt = checkpoint.header.savedAt;
  const parsed = typeof savedAt === 'string' ? Date.parse(savedAt) : NaN;
  return Number.isFinite(parsed) ? parsed : checkpoint.mtimeMs;
}

/** Newest first: header.savedAt (mtime when absent), then mtime, then iteration, then name, so ties are stable. */
function newestFirst(a: ListedCheckpoint, b: ListedCheckpoint): number {
  const iteration = (c: ListedCheckpoint) => (typeof c.header.iteration === 'number' ? c.header.iteration : -1);
  return savedAtMs(b) - savedAtMs(a) || b.mtimeMs - a.mtimeMs || iteration(b) - iteration(a) || (a.path < b.path ? 1 : a.path > b.path ? -1 : 0);
}

/** The lowest finite valLoss, the newest among equals; undefined when none has one. */
function bestOf(checkpoints: ListedCheckpoint[]): ListedCheckpoint | undefined {
  let best: ListedCheckpoint | undefined;
  for (const c of [...checkpoints].sort(newestFirst)) {
    const loss = finiteValLoss(c);
    if (loss !== undefined && (best === undefined || loss < finiteValLoss(best)!)) best = c;
  }
  return best;
}

/**
 * A file is returned as is (after checking it exists and is not a directory). A directory: 'best' = the checkpoint
 * with the lowest numeric header.valLoss, or the newest where none has one; 'newest' = newest.
 */
export async function resolveCheckpoint(pathOrDir: string, prefer: 'best' | 'newest'): Promise<string> {
  let stats: fs.Stats;
  try {
    stats = await fsp.stat(pathOrDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new CharnnError(`No checkpoint at '${pathOrDir}': it does not exist; run \`charnn train\` first or pass the path of a ${CHECKPOINT_EXTENSION} file.`);
    }
    throw readError(pathOrDir, error);
  }
  if (!stats.isDirectory()) return pathOrDir;
  const checkpoints = await listCheckpoints(pathOrDir);
  if (checkpoints.length === 0) {
    throw new CharnnError(`No readable ${CHECKPOINT_EXTENSION} checkpoint in '${pathOrDir}'; run \`charnn train\` first or pass the path of a checkpoint file.`);
  }
  const newest = [...checkpoints].sort(newestFirst)[0];
  return ((prefer === 'best' ? bestOf(checkpoints) : undefined) ?? newest).path;
}

const TEMP_FILE = /^\.(.+\.ckpt)\.(\d+)\.[0-9a-f]+\.tmp$/;

/**
 * Deletes the temp files that writers killed mid-save (kill -9, power loss) left in `dir`: those whose writing
 * process no longer exists. A live writer's temp file is never touched. Returns the deleted paths.
 */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  const deleted: string[] = [];
  for (const name of await fsp.readdir(dir)) {
    const match = TEMP_FILE.exec(name);
    if (!match || processIsAlive(Number(match[2]))) continue;
    try {
      await fsp.unlink(join(dir, name));
      deleted.push(join(dir, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return deleted;
}

function processIsAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Keeps the `keep` newest checkpoints of run `runName` in `dir` plus, always, its best (lowest valLoss) one, and
 * deletes that run's other checkpoints. Files of other runs, and files whose header cannot be read, are never
 * touched: a checkpoint is only deleted on the evidence of its own header.
 */
export async function pruneCheckpoints(dir: string, runName: string, keep: number): Promise<string[]> {
  if (!Number.isSafeInteger(keep) || keep < 0) throw new CharnnError(`The number of checkpoints to keep must be a whole number ≥ 0, not ${keep}.`);
  const ours = (await listCheckpoints(dir)).filter((c) => c.header.runName === runName).sort(newestFirst);
  const kept = new Set(ours.slice(0, keep));
  const best = bestOf(ours);
  if (best) kept.add(best);
  const deleted: string[] = [];
  for (const c of ours) {
    if (kept.has(c)) continue;
    try {
      await fsp.unlink(c.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // someone else pruned it first
      throw new CharnnError(`Cannot delete old checkpoint '${c.path}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
    }
    deleted.push(c.path);
  }
  return deleted;
}

/**
 * Reads and checks a whole model checkpoint (a file, or a directory's best): its path, header and parameters; a file
 * that is not a charnn model checkpoint is refused in one sentence.
 */
export async function readModelCheckpoint(pathOrDir: string): Promise<{ path: string; header: CheckpointHeader; params: Float32Array }> {
  const path = await resolveCheckpoint(pathOrDir, 'best');
  let header: CheckpointHeader | undefined;
  const { tensors } = await readCheckpoint(path, (raw) => {
    try {
      header = parseHeader(raw);
    } catch (error) {
      if (error instanceof CharnnError) throw new CharnnError(`'${path}' is not a charnn model checkpoint: ${error.message.replace(/^it is not a valid charnn model checkpoint \(|\)$/g, '')}.`);
      throw error;
    }
    return expectedTensors(header);
  });
  return { path, header: header!, params: tensors.get('params') as Float32Array };
}

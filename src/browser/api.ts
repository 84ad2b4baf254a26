// What a page needs around the core: checkpoint bytes from wherever they are (bytes, a Blob or File, a URL),
// training runs from a string with the same defaults as `charnn train`, and samples streamed as text chunks with
// event-loop turns between them (so a Stop button, or a worker's stop message, gets through).
//
// Dimension legend: B batch streams, T time steps (seqLength).

import { utf8Encode } from '../core/bytes.js';
import { bytesSource, decodeCheckpointInfo } from '../core/checkpoint/format.js';
import { corpusFromBytes, describeChar, type Corpus } from '../core/data/corpus.js';
import { BatchLoader, splitCorpus } from '../core/data/batches.js';
import { CharnnError } from '../core/errors.js';
import type { Kernels } from '../core/kernels/types.js';
import { modelFromBytes, type CharModel } from '../core/lm.js';
import type { CellType } from '../core/model.js';
import { DEFAULT_LEARNING_RATE, type OptimizerName } from '../core/optim.js';
import { platform } from '../core/platform.js';
import { sampleIds, type SampleOptions } from '../core/sample.js';
import { parseHeader, type TrainConfig } from '../core/snapshot.js';
import { TrainingRun } from '../core/train.js';

/** Where checkpoint bytes come from: the bytes themselves, a Blob or File (a dropped file), or a URL to fetch. */
export type ByteSourceLike = Uint8Array | ArrayBuffer | Blob | URL | string;

/** The bytes of a source; a URL is fetched (a failed request or an HTTP error is one CharnnError sentence). */
export async function readBytes(source: ByteSourceLike): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof Blob === 'function' && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  const url = String(source);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new CharnnError(`Could not fetch '${url}': ${(error as Error).message.replace(/\.$/, '')}.`);
  }
  if (!response.ok) throw new CharnnError(`Could not fetch '${url}': the server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}.`);
  return new Uint8Array(await response.arrayBuffer());
}

/** How a source is named in messages: a File's name, a URL's last path segment, else 'the checkpoint'. */
function nameOf(source: ByteSourceLike): string {
  const file = source as { name?: unknown };
  if (typeof file.name === 'string' && file.name !== '') return file.name;
  if (typeof source === 'string' || source instanceof URL) {
    const path = String(source).split(/[?#]/)[0];
    return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1)) || String(source);
  }
  return 'the checkpoint';
}

/** A model from checkpoint bytes, a Blob/File or a URL: `charnn sample` and this give the same text for a seed. */
export async function loadModelFrom(source: ByteSourceLike, options: { name?: string; kernels?: Kernels } = {}): Promise<CharModel> {
  const name = options.name ?? nameOf(source);
  return modelFromBytes(await readBytes(source), { ...options, name });
}

/**
 * Generated text in chunks of about `chunkMs` of work each, with an event-loop turn between chunks. The prime is
 * read, not repeated (the CLI prints it before the sample: so does a page). A byte-level model's bytes are decoded
 * as UTF-8 as they come. Stop early by leaving the loop (`break`).
 */
export async function* streamSample(model: CharModel, options: SampleOptions, { chunkMs = 16 } = {}): AsyncGenerator<string, void, undefined> {
  const bytes = model.vocab.encoding === 'bytes';
  const decoder = new TextDecoder('utf-8');
  const pending = new Uint8Array(4096);
  let chunk = '';
  let used = 0;
  let since = performance.now();
  let count = 0;
  for (const ch of model.sample(options)) {
    if (bytes) {
      pending[used++] = ch.charCodeAt(0);
      if (used === pending.length) {
        chunk += decoder.decode(pending, { stream: true });
        used = 0;
      }
    } else {
      chunk += ch;
    }
    // the clock is read every 32 characters: a read costs about as much as a character of a small model
    if ((++count & 31) === 0 && performance.now() - since >= chunkMs) {
      if (bytes) {
        chunk += decoder.decode(pending.subarray(0, used), { stream: true });
        used = 0;
      }
      yield chunk;
      chunk = '';
      await platform().yieldToEventLoop();
      since = performance.now();
    }
  }
  if (bytes) chunk += decoder.decode(pending.subarray(0, used));
  if (chunk !== '') yield chunk;
}

/** A sample as one string (e.g. a preview while training), from a loaded model or a training run's network. */
export function sampleText(from: CharModel | TrainingRun, options: SampleOptions): string {
  const { net, vocab } = from;
  let out = '';
  const bytes: number[] = [];
  for (const id of sampleIds(net, vocab, options)) {
    if (vocab.encoding === 'bytes') bytes.push(vocab.symbols[id].charCodeAt(0));
    else out += vocab.symbols[id];
  }
  return vocab.encoding === 'bytes' ? new TextDecoder('utf-8').decode(Uint8Array.from(bytes)) : out;
}

/** The settings of a new run from a text; everything left out is `charnn train`'s default. */
export interface TextTrainingOptions {
  cell?: CellType;           // 'lstm'
  layers?: number;           // 2
  hiddenSize?: number;       // 128
  dropout?: number;          // 0
  seqLength?: number;        // T = 50
  batchSize?: number;        // B = 50, or fewer for a small text so an epoch has at least 64 iterations
  optimizer?: OptimizerName; // 'adagrad'
  lr?: number;               // 0.05 for adagrad, 0.002 for rmsprop and adam
  gradClip?: number;         // 5
  lrDecay?: number;          // 0.97 per epoch …
  lrDecayAfter?: number;     // … after 10 epochs
  valFrac?: number;          // 0.1 of the text held out
  valBatches?: number;       // 100 batches per validation
  evalEvery?: number;        // once per epoch, at most every 1000 iterations
  seed?: number;             // 123
  raw?: boolean;             // train on bytes instead of UTF-8 characters
  runName?: string;          // from corpusName: 'names.txt' → 'names'
  corpusName?: string;       // 'text'
}

// `charnn train`'s defaults (src/cli/commands/train.ts), so a page run and a CLI run of the same text match
const DEFAULT_BATCH_SIZE = 50;
const MIN_DEFAULT_EPOCH_ITERS = 64;
const DEFAULT_SEED = 123;
const MAX_EVAL_EVERY = 1000;
const DEFAULT_VAL_BATCHES = 100;

/** The text as a corpus; an empty text, or one of a single repeated character, has nothing to learn. */
function corpusOf(text: string | Uint8Array, name: string, raw: boolean): Corpus {
  const bytes = typeof text === 'string' ? utf8Encode(text) : text;
  if (bytes.length === 0) throw new CharnnError(`${name} is empty: there is nothing to learn from it.`);
  const corpus = corpusFromBytes(bytes, { name, raw });
  if (corpus.vocab.symbols.length < 2) {
    throw new CharnnError(`${name} is one character (${describeChar(corpus.vocab.symbols[0], corpus.vocab.encoding)}) repeated: there is nothing to learn from it.`);
  }
  return corpus;
}

/** A new training run on a text (string, or a file's bytes), seeded: the same text and options give the same run. */
export function createTrainingRun(text: string | Uint8Array, options: TextTrainingOptions = {}): TrainingRun {
  const corpusName = options.corpusName ?? 'text';
  const corpus = corpusOf(text, corpusName === 'text' ? 'The text' : `'${corpusName}'`, options.raw ?? false);
  const valFrac = options.valFrac ?? 0.1;
  const seqLength = options.seqLength ?? 50;
  const { train } = splitCorpus(corpus.ids, valFrac);
  const batchSize = options.batchSize ?? Math.max(1, Math.min(DEFAULT_BATCH_SIZE, Math.floor((train.length - 1) / (MIN_DEFAULT_EPOCH_ITERS * seqLength))));
  if (train.length < batchSize * seqLength + 1) {
    throw new CharnnError(
      `The text is too short to train on: ${train.length} characters of it are for training, and batches of ${batchSize} × ${seqLength} need at least ${batchSize * seqLength + 1}; use a longer text or shorter sequences.`,
    );
  }
  const batchesPerEpoch = new BatchLoader(train, batchSize, seqLength).batchesPerEpoch;
  const optimizer = options.optimizer ?? 'adagrad';
  const training: TrainConfig = {
    batchSize, seqLength, optimizer,
    lr: options.lr ?? DEFAULT_LEARNING_RATE[optimizer],
    gradClip: options.gradClip ?? 5,
    lrDecay: options.lrDecay ?? 0.97,
    lrDecayAfter: options.lrDecayAfter ?? 10,
    valFrac,
    evalEvery: options.evalEvery ?? Math.min(batchesPerEpoch, MAX_EVAL_EVERY),
    valBatches: options.valBatches ?? DEFAULT_VAL_BATCHES,
    seed: options.seed ?? DEFAULT_SEED,
  };
  return TrainingRun.create({
    corpus,
    model: { cell: options.cell ?? 'lstm', layers: options.layers ?? 2, hiddenSize: options.hiddenSize ?? 128, dropout: options.dropout ?? 0 },
    training,
    runName: options.runName ?? runNameOf(corpusName),
    corpusName,
    threads: 1,
  });
}

/** names.txt → names */
function runNameOf(corpusName: string): string {
  const base = corpusName.replace(/^.*[/\\]/, '').replace(/\.[^.]*$/, '').replace(/^\.+/, '').replace(/[\u0000-\u001f\u007f]/g, '');
  return base.length > 0 ? base : 'run';
}

/**
 * Continues a run from its checkpoint (bytes, Blob/File or URL) on the text it was trained on, exactly: the same
 * weights, optimizer state, data position, hidden state and random state as an uninterrupted run at that iteration.
 */
export async function resumeTrainingRun(
  checkpoint: ByteSourceLike, text: string | Uint8Array, options: { name?: string; corpusName?: string } = {},
): Promise<TrainingRun> {
  const name = options.name ?? nameOf(checkpoint);
  const bytes = await readBytes(checkpoint);
  const info = await decodeCheckpointInfo(bytesSource(bytes), name);
  let header;
  try {
    header = parseHeader(info.header);
  } catch (error) {
    if (error instanceof CharnnError) throw new CharnnError(`'${name}' cannot be resumed: ${error.message.replace(/\.$/, '')}.`);
    throw error;
  }
  const corpusName = options.corpusName ?? header.corpus.name;
  const corpus = corpusOf(text, `'${corpusName}'`, header.vocab.encoding === 'bytes');
  return TrainingRun.resume(bytes, corpus, { name, corpusName, threads: 1 });
}

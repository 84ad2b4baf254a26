// `charnn sample`: loads a checkpoint and streams generated characters to stdout as they come, written in chunks
// (every ~16 ms or 4 KiB) so a fast sampler is not slowed by a write per character, yet a person sees text flow.
// --num-samples makes many samples side by side (one per line, or JSON lines), --novel keeps only those that are not
// in the training text, --beam searches for the likeliest continuation instead of sampling.

import { randomInt } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { CharnnError } from '../../core/errors.js';
import type { CharModel } from '../../core/lm.js';
import type { NoveltyCheck, NoveltyMode } from '../../core/novelty.js';
import type { Sample } from '../../core/sample.js';
import { decimal, oneOf, seed, UsageError, wholeNumber } from '../options.js';
import { printNote, printWarning, style, writeJsonLine, yieldToEventLoop } from '../output.js';

export interface SampleCliOptions {
  checkpoint: string;
  length: number;
  temp: number;
  topK?: number;
  topP?: number;
  prime?: string;
  primeFile?: string;
  seed?: number;
  stop?: string;
  numSamples?: number;
  json: boolean;
  novel?: true | NoveltyMode;
  corpus?: string;
  beam?: number;
}

/** --novel with --num-samples n stops after drawing this many times n samples (and at least NOVEL_MIN_DRAWS). */
const NOVEL_DRAW_FACTOR = 10;
const NOVEL_MIN_DRAWS = 100;

const FLUSH_INTERVAL_MS = 16; // about one frame: text appears to flow
const FLUSH_BYTES = 4096;

export function registerSampleCommand(program: Command): void {
  program
    .command('sample')
    .description('generate text from a trained model and stream it to stdout')
    .option('-c, --checkpoint <path>', 'a checkpoint file, or a directory: its checkpoint with the lowest validation loss', 'checkpoints')
    .option('-n, --length <n>', 'characters to generate (after the prime text)', wholeNumber('--length', 1), 1000)
    .option('-t, --temp <t>', 'temperature: below 1 is safer, above 1 wilder, 0 always picks the likeliest', decimal('--temp', { atLeast: 0, atMost: 100 }), 1)
    .option('-k, --top-k <k>', 'sample only among the k likeliest characters', wholeNumber('--top-k', 1))
    .option('--top-p <p>', 'nucleus sampling: only among the likeliest characters whose probabilities add up to p (after --temp and --top-k)', decimal('--top-p', { above: 0, atMost: 1 }))
    .option('-p, --prime <text>', 'text to start with; the output begins with it')
    .option('--prime-file <file>', 'read the prime text from a file, or - for standard input (newlines and any Unicode welcome)')
    .option('-s, --seed <n>', 'random seed: the same seed gives the same text (default: random); sample i of --num-samples uses seed + i', seed('--seed'))
    .option('--stop <string>', 'stop as soon as this string has been generated')
    .option('--num-samples <n>', 'make n samples side by side, each ending at --stop or --length, one per line', wholeNumber('--num-samples', 1))
    .option('--json', 'one JSON object per sample on stdout: {"index", "text", "logprob"} (text includes the prime; logprob in nats)', false)
    .option('--novel [mode]', `keep only samples that are not in the training text: "line" (no line of the sample is a line of it), "substring" (the sample does not occur in it), default: line for a corpus of short lines, else substring; with --num-samples, sampling goes on until n are new (at most ${NOVEL_DRAW_FACTOR}×n samples, at least ${NOVEL_MIN_DRAWS})`, oneOf('--novel', ['line', 'substring'] as const))
    .option('--corpus <file>', 'with --novel: the training text (default: the path recorded in the checkpoint)')
    .option('--beam <k>', 'beam search with k beams: the likeliest continuation of the prime (deterministic), its log-probability on stderr', wholeNumber('--beam', 1))
    .addHelpText('after', `
Sample i of --num-samples is exactly what a single run with --seed <seed + i> prints.

Examples:
  charnn sample --temp 0.8
  charnn sample -n 200 --prime "The " --seed 42
  charnn sample -n 1000000 | head -c 500
  charnn sample --stop $'\\n\\n' --checkpoint checkpoints/names_i000200_v1.9873.ckpt
  charnn sample --num-samples 200 --stop $'\\n' --novel --temp 0.8
  charnn sample --num-samples 5 --stop $'\\n' --json --top-p 0.9
  charnn sample --beam 8 --prime Mar --stop $'\\n'
  charnn sample --prime-file opening.txt -n 500`)
    .action(async (options: SampleCliOptions, command: Command) => {
      await sample(options, (name) => command.getOptionValueSource(name) === 'cli');
    });
}

/** Options that do not combine, refused before the model is even loaded. */
function refuseConflicts(options: SampleCliOptions, explicit: (name: string) => boolean): void {
  if (options.prime !== undefined && options.primeFile !== undefined) throw new UsageError('Give the prime text either with --prime or with --prime-file, not both.');
  if (options.corpus !== undefined && options.novel === undefined) throw new UsageError('--corpus is the training text for --novel; add --novel, or drop --corpus.');
  if (options.beam !== undefined) {
    const random = ['temp', 'topK', 'topP', 'seed', 'numSamples', 'novel'].filter((name) => explicit(name));
    if (random.length > 0) {
      const flags: Record<string, string> = { temp: '--temp', topK: '--top-k', topP: '--top-p', seed: '--seed', numSamples: '--num-samples', novel: '--novel' };
      throw new UsageError(`--beam searches for the single likeliest continuation, with no randomness, so it does not combine with ${random.map((n) => flags[n]).join(', ')}.`);
    }
  }
}

/** The prime text from --prime-file: a file, or - for standard input, read whole as UTF-8. */
async function readPrimeFile(source: string): Promise<string> {
  if (source === '-') {
    if (process.stdin.isTTY) throw new CharnnError('--prime-file - reads standard input, which is a terminal; pipe the prime in (cat prime.txt | charnn sample --prime-file -).');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(source, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CharnnError(`The prime file '${source}' does not exist.`);
    if (code === 'EISDIR') throw new CharnnError(`The prime file '${source}' is a directory, not a text file.`);
    throw new CharnnError(`Cannot read the prime file '${source}': ${code ?? (error as Error).message}.`);
  }
}

async function sample(options: SampleCliOptions, explicit: (name: string) => boolean): Promise<void> {
  // only the sampling path is loaded: no training code, no spinner
  const { loadModel, BIDIRECTIONAL_SAMPLING_REFUSAL } = await import('../../core/lm.js');
  const { primeIds, validateSampleOptions } = await import('../../core/sample.js');

  refuseConflicts(options, explicit);
  const prime = options.primeFile !== undefined ? await readPrimeFile(options.primeFile) : options.prime;
  const model = await loadModel(options.checkpoint);
  // the library refuses too, but only once sampling starts: after the prime would already be on stdout
  if (model.bidirectional) throw new CharnnError(BIDIRECTIONAL_SAMPLING_REFUSAL);
  const sampleOptions = {
    length: options.length,
    temperature: options.temp,
    topK: options.topK,
    topP: options.topP,
    prime,
    seed: options.seed ?? randomInt(2 ** 31),
    stop: options.stop,
  };
  validateSampleOptions(sampleOptions);
  // checked before anything is written, so a bad prime never leaves half an output behind
  if (prime) primeIds(prime, model.vocab);

  if (process.stderr.isTTY && (await isDirectory(options.checkpoint)) && options.beam === undefined) {
    printNote(style().dim(`(${model.path}, seed ${sampleOptions.seed})`));
  }
  if (options.beam !== undefined) return beam(model, { width: options.beam, length: options.length, prime, stop: options.stop }, options.json);
  if (options.numSamples !== undefined || options.json || options.novel !== undefined) {
    const novelty = options.novel !== undefined ? await noveltyFor(model, options) : undefined;
    return many(model, { ...sampleOptions, numSamples: options.numSamples ?? 1 }, options.json, novelty);
  }

  // a byte-level model yields one byte per symbol; the bytes go out as they are and the terminal reassembles UTF-8
  const encoding: BufferEncoding = model.vocab.encoding === 'bytes' ? 'latin1' : 'utf8';
  const out = new ChunkedWriter(process.stdout, encoding);
  if (prime) await out.write(model.vocab.encoding === 'bytes' ? Buffer.from(prime, 'utf8').toString('latin1') : prime);
  await out.flush();
  let last = '';
  for (const ch of model.sample(sampleOptions)) {
    await out.write(ch);
    last = ch;
  }
  // a terminal prompt should not start mid-line; a pipe gets exactly the generated bytes
  if (process.stdout.isTTY && last !== '\n') await out.write('\n');
  await out.flush();
}

/** The samples, one per line (a sample ending in a newline gets no second one) or as JSON lines; --novel filters. */
async function many(
  model: CharModel, options: Parameters<CharModel['sampleMany']>[0] & { seed: number }, json: boolean, novelty: NoveltyCheck | undefined,
): Promise<void> {
  const { sampleMany } = await import('../../core/sample.js');
  const n = options.numSamples;
  const prime = options.prime ?? '';
  const kept: Array<{ sample: Sample; text: string }> = [];
  let examined = 0; // samples judged (drawn and looked at until n were kept)
  let copies = 0;
  const limit = novelty ? Math.max(NOVEL_MIN_DRAWS, NOVEL_DRAW_FACTOR * n) : n;
  // without --novel one round of n; with it, rounds of streams (seeds continuing) until n are new or the limit
  while (kept.length < n && examined < limit) {
    // plain output has no use for the scores: leaving them out saves an exponential per vocabulary entry a character
    const round = sampleMany(model.net, model.vocab, { ...options, numSamples: Math.min(n, limit - examined), firstStream: examined, logprob: json });
    for (const sample of round) {
      if (kept.length === n) break;
      examined++;
      const text = prime + model.decode(sample.ids);
      if (novelty && !novelty.isNew(text)) copies++;
      else kept.push({ sample, text });
    }
  }
  const bytes = model.vocab.encoding === 'bytes';
  const out = new ChunkedWriter(process.stdout, bytes ? 'latin1' : 'utf8');
  for (const { sample, text } of kept) {
    if (json) {
      await out.flush();
      writeJsonLine({ index: sample.index, text, logprob: sample.logprob });
      continue;
    }
    // a byte-level model's bytes go out as they are, as a single sample's do
    const raw = bytes ? Buffer.from(prime, 'utf8').toString('latin1') + sample.ids.map((id) => model.vocab.symbols[id]).join('') : text;
    await out.write(raw.endsWith('\n') ? raw : `${raw}\n`);
  }
  await out.flush();
  if (novelty) {
    const how = novelty.mode === 'line' ? 'whole lines' : 'substrings';
    printNote(`${kept.length} new, ${copies} ${copies === 1 ? 'copy' : 'copies'} of the training text (${how}) among ${examined} samples.`);
    if (kept.length < n) printWarning(`only ${kept.length} of the ${n} samples asked for are new after ${examined} samples, the limit; try a higher --temp.`);
  }
}

/** The training text for --novel: --corpus, or the path the checkpoint recorded. */
async function noveltyFor(model: CharModel, options: SampleCliOptions): Promise<NoveltyCheck> {
  const { noveltyCheck } = await import('../../core/novelty.js');
  const recorded = model.header.corpus.name;
  const source = options.corpus ?? recorded;
  if (options.corpus === undefined && recorded === 'stdin') {
    throw new CharnnError('--novel needs the training text, and this model was trained on standard input: give it with --corpus <file>.');
  }
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    const where = options.corpus === undefined ? ` (the path recorded in the checkpoint, from this directory); give the training text with --corpus <file>` : '';
    throw new CharnnError(`--novel cannot read the training text '${source}': ${code}${where}.`);
  }
  const chars = model.vocab.encoding === 'bytes' ? Buffer.byteLength(text, 'utf8') : [...text].length;
  if (chars !== model.header.corpus.chars) {
    printWarning(`'${source}' has ${chars} characters but the model was trained on ${model.header.corpus.chars}; novelty is judged against '${source}' as it is.`);
  }
  return noveltyCheck(text, options.novel === true ? undefined : options.novel);
}

/** --beam: the likeliest continuation, on stdout like a sample (the prime first); its log-probability on stderr. */
async function beam(model: CharModel, options: Parameters<CharModel['beam']>[0], json: boolean): Promise<void> {
  const result = model.beam(options);
  const text = (options.prime ?? '') + result.text;
  if (json) {
    writeJsonLine({ text, logprob: result.logprob });
    return;
  }
  process.stdout.write(process.stdout.isTTY && !text.endsWith('\n') ? `${text}\n` : text);
  printNote(`log-probability ${result.logprob.toFixed(4)} nats (${(result.logprob / Math.LN2).toFixed(3)} bits), ${result.stopped ? 'ended at --stop' : `${options.length} characters`}; beam of ${options.width}.`);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Collects text and writes it every FLUSH_INTERVAL_MS or FLUSH_BYTES, waiting when the reader is slow. */
class ChunkedWriter {
  private pending = '';
  private lastFlush = performance.now();

  constructor(private readonly stream: NodeJS.WriteStream, private readonly encoding: BufferEncoding) {}

  async write(text: string): Promise<void> {
    this.pending += text;
    if (this.pending.length >= FLUSH_BYTES || performance.now() - this.lastFlush >= FLUSH_INTERVAL_MS) await this.flush();
  }

  async flush(): Promise<void> {
    this.lastFlush = performance.now();
    if (this.pending.length === 0) return;
    const chunk = Buffer.from(this.pending, this.encoding);
    this.pending = '';
    if (!this.stream.write(chunk)) await new Promise<void>((resolve) => this.stream.once('drain', resolve));
    // lets a closed pipe's EPIPE arrive (and end the process quietly) instead of generating into the void
    await yieldToEventLoop();
  }
}

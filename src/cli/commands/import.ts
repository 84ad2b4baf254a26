// `charnn import model.safetensors -o model.ckpt`: a model from PyTorch (or charnn's own export) as an ordinary
// checkpoint that sample, eval, info, inspect and fill read. Nothing is written unless the whole file checks out.

import { basename, extname } from 'node:path';
import type { Command } from 'commander';
import { CharnnError } from '../../core/errors.js';
import { UsageError } from '../options.js';
import { formatCount, printNote } from '../output.js';

export interface ImportCliOptions {
  output?: string;
  name?: string;
  vocabFrom?: string;
  raw: boolean;
}

/** A safetensors file larger than this is not a char-rnn model; refusing it bounds the read. */
const MAX_IMPORT_BYTES = 8 * 1024 ** 3;

export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description('turn a safetensors model (from charnn export or PyTorch) into a charnn checkpoint')
    .argument('<file>', 'a .safetensors file with PyTorch names: rnn.weight_ih_l0 …, decoder.weight, decoder.bias')
    .option('-o, --output <file.ckpt>', 'the checkpoint to write (required)')
    .option('--name <name>', 'run name stored in the checkpoint (default: the input file name)')
    .option('--vocab-from <text>', 'for a file without charnn metadata: the text the model was trained on (its sorted characters are the vocabulary)')
    .option('--raw', 'with --vocab-from: the model reads raw bytes, not UTF-8 characters', false)
    .addHelpText('after', `
Examples:
  charnn import model.safetensors -o checkpoints/model.ckpt && charnn sample -c checkpoints/model.ckpt
  charnn import my_torch_model.safetensors --vocab-from input.txt -o mine.ckpt`)
    .action(async (file: string, options: ImportCliOptions) => {
      await importModel(file, options);
    });
}

async function importModel(file: string, options: ImportCliOptions): Promise<void> {
  if (options.output === undefined) throw new UsageError('Give the checkpoint to write: charnn import <file> -o model.ckpt.');
  if (extname(options.output) !== '.ckpt') throw new UsageError(`The output '${options.output}' must end in .ckpt, so sample, eval and the other commands find it.`);
  if (options.raw && options.vocabFrom === undefined) throw new UsageError('--raw applies only with --vocab-from.');
  const { checkRunName } = await import('../../core/checkpoint/format.js');
  const { writeCheckpoint } = await import('../../node/checkpoint-files.js');
  const { safetensorsToCheckpoint } = await import('../../core/interop/convert.js');
  const runName = options.name ?? (basename(file, extname(file)).replace(/^\.+/, '') || 'imported');
  checkRunName(runName);
  let vocab;
  if (options.vocabFrom !== undefined) {
    const { readCorpus } = await import('../../node/corpus-files.js');
    vocab = (await readCorpus(options.vocabFrom, { raw: options.raw })).vocab;
  }
  if (extname(file).toLowerCase() === '.onnx') {
    throw new CharnnError(`'${file}' is an ONNX model; charnn imports safetensors files (export the model from PyTorch as .safetensors, see examples/pytorch).`);
  }
  const bytes = await readWholeFile(file);
  const { CHECKPOINT_MAGIC } = await import('../../core/checkpoint/format.js');
  if (CHECKPOINT_MAGIC.every((b, i) => bytes[i] === b)) throw new CharnnError(`'${file}' is already a charnn checkpoint; use it as it is (import reads .safetensors files).`);
  const { header, tensors } = safetensorsToCheckpoint(bytes, { label: `'${file}'`, runName, source: file, vocab });
  await writeCheckpoint(options.output, header as unknown as Record<string, unknown>, tensors);
  const m = header.model;
  printNote(
    `Imported ${file} (${m.bidirectional ? 'bidirectional ' : ''}${m.cell} ${m.layers}×${m.hiddenSize}, ${formatCount(m.vocabSize)} symbols) as ${options.output}; ` +
    `it has no training history, so fine-tune it with charnn train <text> --init-from ${options.output}.`,
  );
}

async function readWholeFile(file: string): Promise<Uint8Array> {
  const { readFile, stat } = await import('node:fs/promises');
  let size: number;
  try {
    const stats = await stat(file);
    if (stats.isDirectory()) throw new CharnnError(`'${file}' is a directory, not a safetensors file.`);
    size = stats.size;
  } catch (error) {
    if (error instanceof CharnnError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new CharnnError(`'${file}' does not exist.`);
    throw new CharnnError(`'${file}' cannot be read: ${code ?? (error as Error).message}.`);
  }
  if (size > MAX_IMPORT_BYTES) throw new CharnnError(`'${file}' is ${formatCount(size)} bytes, more than the ${formatCount(MAX_IMPORT_BYTES)} charnn imports.`);
  try {
    return new Uint8Array(await readFile(file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CharnnError(`'${file}' cannot be read: ${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code ?? (error as Error).message}.`);
  }
}

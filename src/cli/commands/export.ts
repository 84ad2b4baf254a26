// `charnn export [checkpoint] -o model.safetensors|model.onnx`: a checkpoint's model for other frameworks. safetensors
// with PyTorch's names (examples/pytorch loads it into nn.LSTM/GRU/RNN + nn.Linear), or an ONNX graph of standard
// recurrent operators for any ONNX runtime. The file is written atomically: never half there.

import { extname } from 'node:path';
import type { Command } from 'commander';
import { oneOf, UsageError } from '../options.js';
import { formatCount, printNote } from '../output.js';

export const EXPORT_FORMATS = ['safetensors', 'onnx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportCliOptions {
  output?: string;
  format?: ExportFormat;
}

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('write a model as safetensors (for PyTorch) or ONNX (for any ONNX runtime)')
    .argument('[checkpoint]', 'a checkpoint file, or a directory: its checkpoint with the lowest validation loss', 'checkpoints')
    .option('-o, --output <file>', 'the file to write (required)')
    .option('--format <name>', 'safetensors or onnx (default: from the output file extension)', oneOf('--format', EXPORT_FORMATS))
    .addHelpText('after', `
Examples:
  charnn export -o model.safetensors                  the best checkpoint in checkpoints/, for PyTorch
  charnn export checkpoints/names_i000210.ckpt -o names.onnx
  /usr/bin/python3 examples/pytorch/train_ddp.py --init model.safetensors …   (see "When one machine is not enough")`)
    .action(async (checkpoint: string, options: ExportCliOptions) => {
      await exportModel(checkpoint, options);
    });
}

export function formatFor(output: string, format: ExportFormat | undefined): ExportFormat {
  if (format) return format;
  const ext = extname(output).toLowerCase();
  if (ext === '.safetensors') return 'safetensors';
  if (ext === '.onnx') return 'onnx';
  throw new UsageError(`Cannot tell the format from '${output}': name it .safetensors or .onnx, or give --format safetensors|onnx.`);
}


async function exportModel(pathOrDir: string, options: ExportCliOptions): Promise<void> {
  if (options.output === undefined) throw new UsageError('Give the file to write: charnn export [checkpoint] -o model.safetensors (or model.onnx).');
  const format = formatFor(options.output, options.format);
  const { writeFileAtomic } = await import('../../node/checkpoint-files.js');
  const { readModelCheckpoint } = await import('../../node/checkpoint-files.js');
  const { path, header, params } = await readModelCheckpoint(pathOrDir);
  const bytes = format === 'safetensors'
    ? (await import('../../core/interop/convert.js')).checkpointToSafetensors(header, params)
    : (await import('../../core/interop/onnx.js')).checkpointToOnnx(header, params);
  await writeFileAtomic(options.output, bytes, `the ${format} file`);
  const m = header.model;
  printNote(
    `Exported ${path} (${m.bidirectional ? 'bidirectional ' : ''}${m.cell} ${m.layers}×${m.hiddenSize}, ${m.vocabSize} symbols) ` +
    `to ${options.output} (${format}, ${formatCount(bytes.length)} bytes).`,
  );
}

// `charnn fill [text|file|-]`: prints the text with every mask character replaced by the model's choice; all else
// passes through unchanged. A bidirectional checkpoint reads both sides of each gap; a left-to-right one only the
// text before it, and says so on stderr. The filling itself is the library's CharModel.fill().

import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { CharnnError } from '../../core/errors.js';
import { UsageError } from '../options.js';
import { formatCount, printNote, StatusLine, style } from '../output.js';

export interface FillCliOptions {
  checkpoint: string;
  mask: string;
}

export function registerFillCommand(program: Command): void {
  program
    .command('fill')
    .description('fill in missing characters: every mask character (default _) is replaced by the model\'s choice')
    .argument('[text]', 'the text itself, a file path, or - (the default) to read standard input')
    .option('-c, --checkpoint <path>', 'a checkpoint file, or a directory: its checkpoint with the lowest validation loss', 'checkpoints')
    .option('-m, --mask <char>', 'the character that marks a missing one', '_')
    .addHelpText('after', `
A model trained with --bidirectional reads both sides of each gap; runs of gaps are filled the most confident
first, re-reading after each (one pass of the model per gap). A left-to-right model fills each gap in order from
the text before it.

Examples:
  charnn fill 'To be, or not to b_, that is the qu_____n'
  charnn fill damaged.txt --mask '?' > repaired.txt
  echo 'Wh_t's in a n_me?' | charnn fill --checkpoint checkpoints/shakespeare-bi`)
    .action(async (source: string | undefined, options: FillCliOptions) => {
      await fill(source, options);
    });
}

async function fill(source: string | undefined, options: FillCliOptions): Promise<void> {
  const { loadModel } = await import('../../core/lm.js');
  if (Array.from(options.mask).length !== 1) throw new UsageError(`--mask must be a single character, got '${options.mask}'.`);
  const text = await readInput(source);
  const model = await loadModel(options.checkpoint);
  if (!model.bidirectional) {
    printNote(
      `${style().yellow('note:')} ${model.path} reads left to right, so each gap is filled from the text before it only; a model trained with --bidirectional uses both sides.`,
    );
  }
  const gaps = Array.from(text).filter((c) => c === options.mask).length;
  if (gaps === 0) printNote(`${style().yellow('note:')} the text has no '${options.mask}' to fill; it is printed unchanged.`);
  const status = await StatusLine.start(`Filling ${formatCount(gaps)} gaps…`, gaps > 0 && StatusLine.canShow());
  let result;
  try {
    result = model.fill(text, { mask: options.mask });
  } finally {
    status.stop();
  }
  // a terminal prompt should not start mid-line; a pipe or file gets exactly the text's length back
  const newline = process.stdout.isTTY && !result.text.endsWith('\n') ? '\n' : '';
  process.stdout.write(result.text + newline);
}

/** No argument or '-': standard input; an existing file: its contents; anything else: the text itself. */
async function readInput(source: string | undefined): Promise<string> {
  if (source === undefined || source === '-') {
    if (source === undefined && process.stdin.isTTY) {
      throw new UsageError("Give the text to fill: charnn fill 'To b_ or not', a file, or - to read standard input.");
    }
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  let isFile = false;
  try {
    const info = await stat(source);
    if (info.isDirectory()) throw new CharnnError(`${source} is a directory; give the text, a text file, or - for standard input.`);
    isFile = info.isFile();
  } catch (error) {
    if (error instanceof CharnnError) throw error;
    // not a path: the argument is the text
  }
  if (!isFile) return source;
  try {
    return await readFile(source, 'utf8');
  } catch (error) {
    throw new CharnnError(`Cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
}

// The charnn command: builds the commander program, registers one command per file, and is the one error
// boundary: a user's mistake becomes one sentence on stderr and a non-zero exit code; a bug becomes "internal error".

import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CharnnError } from '../core/errors.js';
import { UsageError } from './options.js';
import { installStdoutGuard, printError } from './output.js';
import { registerTrainCommand } from './commands/train.js';
import { registerSampleCommand } from './commands/sample.js';
import { registerEvalCommand } from './commands/eval.js';
import { registerInfoCommand } from './commands/info.js';
import { registerInspectCommand } from './commands/inspect.js';
import { registerFillCommand } from './commands/fill.js';
import { registerExportCommand } from './commands/export.js';
import { registerImportCommand } from './commands/import.js';
import { registerWebCommand } from './commands/web.js';

const EXIT_USER_ERROR = 1;
const EXIT_USAGE = 2;
const EXIT_INTERNAL = 70; // EX_SOFTWARE from sysexits.h

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command('charnn')
    .description('Character-level RNN, LSTM and GRU language models: train on a text, then sample new text from it.')
    .version(packageVersion(), '-v, --version')
    .showSuggestionAfterError()
    .addHelpText('after', `
Start here:
  charnn train data/names.txt        train on a text file (checkpoints go to checkpoints/)
  charnn sample --temp 0.8           write new text from the best checkpoint
  charnn <command> --help            every option of a command`)
    .configureOutput({ outputError: () => {} }) // errors are printed once, by the boundary in main()
    .exitOverride()
    // the Node platform (files, threads, kernels) under the core, loaded only when a command runs: --help stays fast
    .hook('preAction', async () => {
      await import('../node/platform.js');
    });
  registerTrainCommand(program);
  registerSampleCommand(program);
  registerEvalCommand(program);
  registerInfoCommand(program);
  registerInspectCommand(program);
  registerFillCommand(program);
  registerExportCommand(program);
  registerImportCommand(program);
  registerWebCommand(program);
  // commands added later inherit the same behaviour
  for (const command of program.commands) command.configureOutput({ outputError: () => {} }).exitOverride();
  return program;
}

/** Runs the CLI on process.argv-style arguments and sets process.exitCode; never throws. */
export async function main(argv: string[], program: Command = buildProgram()): Promise<void> {
  installStdoutGuard();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.exitCode = report(error);
  }
}

/** Prints what went wrong and returns the exit code. */
function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // --help and --version also arrive here, as "errors" with exit code 0
    if (error.exitCode === 0) return 0;
    if (error.code === 'commander.help' || error.code === 'commander.helpDisplayed') return EXIT_USAGE;
    const message = error.message.replace(/^error: /, '').replace(/\n\(Did you mean (.*)\?\)$/, ' (did you mean $1?)');
    printError(/[.?!)]$/.test(message) ? message : `${message}; see charnn --help.`);
    return EXIT_USAGE;
  }
  if (error instanceof UsageError) {
    printError(error.message);
    return EXIT_USAGE;
  }
  if (error instanceof CharnnError) {
    printError(error.message);
    return EXIT_USER_ERROR;
  }
  const detail = error instanceof Error ? error.message : String(error);
  printError(`internal error: ${detail}`);
  if (process.env.CHARNN_DEBUG === '1' && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  else process.stderr.write('This is a bug in charnn; run again with CHARNN_DEBUG=1 to see where it happened, and report it.\n');
  return EXIT_INTERNAL;
}

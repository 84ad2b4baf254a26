// `charnn eval <file|->`: how well a trained model predicts a text, in nats and bits per character and perplexity.
// A bidirectional model is scored on masked characters instead: loss and accuracy where a seeded fraction is masked.

import type { Command } from 'commander';
import { decimal, UsageError } from '../options.js';
import { formatCount, printNote, StatusLine, writeJsonLine } from '../output.js';

export interface EvalCliOptions {
  checkpoint: string;
  json: boolean;
  maskFrac?: number;
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description("measure a model's loss on a text (a file, or - for standard input)")
    .argument('<text>', 'the text to score: a file path, or - to read standard input')
    .option('-c, --checkpoint <path>', 'a checkpoint file, or a directory: its checkpoint with the lowest validation loss', 'checkpoints')
    .option('--json', 'print one JSON object: loss, bpc, perplexity, chars (bidirectional: loss, accuracy, masked, chars)', false)
    .option('--mask-frac <f>', "bidirectional models: fraction of the characters masked (seeded; default: the model's training fraction)", decimal('--mask-frac', { above: 0, below: 1 }))
    .addHelpText('after', `
Examples:
  charnn eval held-out.txt
  tail -n 500 data/names.txt | charnn eval - --json | jq .bpc`)
    .action(async (source: string, options: EvalCliOptions) => {
      await evaluate(source, options);
    });
}

async function evaluate(source: string, options: EvalCliOptions): Promise<void> {
  const { loadModel } = await import('../../core/lm.js');
  const { readCorpus } = await import('../../node/corpus-files.js');
  const model = await loadModel(options.checkpoint);
  // characters outside the model's vocabulary are refused by the reader, by name
  const corpus = await readCorpus(source, { vocab: model.vocab });
  const status = await StatusLine.start(`Scoring ${formatCount(corpus.ids.length)} characters…`, !options.json && StatusLine.canShow());
  if (model.bidirectional) {
    let masked;
    try {
      masked = model.evaluateMasked(corpus.ids, { maskFrac: options.maskFrac, seed: 0 });
    } finally {
      status.stop();
    }
    if (options.json) {
      writeJsonLine({ loss: masked.loss, accuracy: masked.accuracy, masked: masked.masked, chars: masked.chars });
      return;
    }
    process.stdout.write(
      `masked loss ${masked.loss.toFixed(4)} nats/char\naccuracy ${(100 * masked.accuracy).toFixed(2)}% of ${masked.masked} masked characters restored\nchars ${masked.chars}\n`,
    );
    if (process.stderr.isTTY) printNote(`(${model.path}; bidirectional: scored on masked characters, ${options.maskFrac ?? model.config.maskFrac} of them)`);
    return;
  }
  if (options.maskFrac !== undefined) {
    status.stop();
    throw new UsageError('--mask-frac applies only to a bidirectional model; this one reads left to right.');
  }
  let result;
  try {
    result = model.evaluate(corpus.ids);
  } finally {
    status.stop();
  }
  if (options.json) {
    writeJsonLine({ loss: result.loss, bpc: result.bpc, perplexity: result.perplexity, chars: result.chars });
    return;
  }
  process.stdout.write(
    `loss ${result.loss.toFixed(4)} nats/char\nbpc ${result.bpc.toFixed(4)} bits/char\nperplexity ${result.perplexity.toFixed(3)}\nchars ${result.chars}\n`,
  );
  if (process.stderr.isTTY) printNote(`(${model.path})`);
}

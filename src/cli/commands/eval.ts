// `charnn eval <file|->`: how well a trained model predicts a text, in nats and bits per character and perplexity.

import type { Command } from 'commander';
import { formatCount, printNote, StatusLine, writeJsonLine } from '../output.js';

export interface EvalCliOptions {
  checkpoint: string;
  json: boolean;
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description("measure a model's loss on a text (a file, or - for standard input)")
    .argument('<text>', 'the text to score: a file path, or - to read standard input')
    .option('-c, --checkpoint <path>', 'a checkpoint file, or a directory: its checkpoint with the lowest validation loss', 'checkpoints')
    .option('--json', 'print one JSON object: loss, bpc, perplexity, chars', false)
    .addHelpText('after', `
Examples:
  charnn eval held-out.txt
  tail -n 500 data/names.txt | charnn eval - --json | jq .bpc`)
    .action(async (source: string, options: EvalCliOptions) => {
      await evaluate(source, options);
    });
}

async function evaluate(source: string, options: EvalCliOptions): Promise<void> {
  const { loadModel } = await import('../../lm.js');
  const { readCorpus } = await import('../../data/corpus.js');
  const model = await loadModel(options.checkpoint);
  // characters outside the model's vocabulary are refused by the reader, by name
  const corpus = await readCorpus(source, { vocab: model.vocab });
  const status = await StatusLine.start(`Scoring ${formatCount(corpus.ids.length)} characters…`, !options.json && StatusLine.canShow());
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

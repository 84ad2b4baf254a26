// `charnn eval <file|->`: how well a trained model predicts a text, in nats and bits per character and perplexity.
// A bidirectional model is scored on masked characters instead: loss and accuracy where a seeded fraction is masked.
// --per-char adds a line per character (log-probability, rank, the model's top guesses) before the summary.

import type { Command } from 'commander';
import type { IdArray } from '../../core/data/corpus.js';
import type { CharModel } from '../../core/lm.js';
import { decimal, UsageError, wholeNumber } from '../options.js';
import { formatCount, printNote, StatusLine, writeJsonLine } from '../output.js';

export interface EvalCliOptions {
  checkpoint: string;
  json: boolean;
  maskFrac?: number;
  perChar: boolean;
  top?: number;
}

const DEFAULT_TOP = 5; // guesses listed per character with --per-char

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description("measure a model's loss on a text (a file, or - for standard input)")
    .argument('<text>', 'the text to score: a file path, or - to read standard input')
    .option('-c, --checkpoint <path>', 'a checkpoint file, or a directory: its checkpoint with the lowest validation loss', 'checkpoints')
    .option('--json', 'print one JSON object: loss, bpc, perplexity, chars (bidirectional: loss, accuracy, masked, chars)', false)
    .option('--per-char', 'a line per character first: position, character, log-probability (nats), rank and the top guesses; then the summary', false)
    .option('--top <k>', `with --per-char: how many of the model's top guesses each line lists (default ${DEFAULT_TOP})`, wholeNumber('--top', 0, 1000))
    .option('--mask-frac <f>', "bidirectional models: fraction of the characters masked (seeded; default: the model's training fraction)", decimal('--mask-frac', { above: 0, below: 1 }))
    .addHelpText('after', `
Examples:
  charnn eval held-out.txt
  tail -n 500 data/names.txt | charnn eval - --json | jq .bpc
  echo 'Anna' | charnn eval - --per-char --json --top 3`)
    .action(async (source: string, options: EvalCliOptions) => {
      await evaluate(source, options);
    });
}

async function evaluate(source: string, options: EvalCliOptions): Promise<void> {
  const { loadModel } = await import('../../core/lm.js');
  const { readCorpus } = await import('../../node/corpus-files.js');
  if (options.top !== undefined && !options.perChar) throw new UsageError('--top lists the guesses of --per-char; add --per-char.');
  const model = await loadModel(options.checkpoint);
  // characters outside the model's vocabulary are refused by the reader, by name
  const corpus = await readCorpus(source, { vocab: model.vocab });
  const status = await StatusLine.start(`Scoring ${formatCount(corpus.ids.length)} characters…`, !options.json && StatusLine.canShow());
  if (model.bidirectional && options.perChar) {
    status.stop();
    throw new UsageError('--per-char scores a left-to-right model; a bidirectional one is scored on masked characters only.');
  }
  if (options.perChar) {
    status.stop();
    return perChar(model, corpus.ids, options);
  }
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

/** --per-char: a line per character, then the summary of exactly those characters. */
async function perChar(model: CharModel, ids: IdArray, options: EvalCliOptions): Promise<void> {
  const { scoreChars } = await import('../../core/scores.js');
  const symbols = model.vocab.symbols;
  const lines: string[] = [];
  const flush = () => {
    if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
    lines.length = 0;
  };
  const summary = scoreChars(model.net, ids, options.top ?? DEFAULT_TOP, (s) => {
    const top = s.top.map((t) => ({ char: symbols[t.id], logprob: t.logprob }));
    lines.push(options.json
      ? JSON.stringify({ position: s.position, char: symbols[s.id], logprob: s.logprob, rank: s.rank, top })
      : [s.position, JSON.stringify(symbols[s.id]), s.logprob.toFixed(4), s.rank, top.map((t) => `${JSON.stringify(t.char)}:${t.logprob.toFixed(3)}`).join(' ')].join('\t'));
    if (lines.length >= 1024) flush();
  });
  flush();
  const { loss, chars } = summary;
  if (options.json) {
    writeJsonLine({ loss, bpc: loss / Math.LN2, perplexity: Math.exp(loss), chars });
    return;
  }
  process.stdout.write(`loss ${loss.toFixed(4)} nats/char\nbpc ${(loss / Math.LN2).toFixed(4)} bits/char\nperplexity ${Math.exp(loss).toFixed(3)}\nchars ${chars}\n`);
}

// `charnn info [checkpoint]`: what a checkpoint holds — model, size, vocabulary, training settings and history —
// after reading and checking the whole file, so "info works" also means "this checkpoint loads".

import type { Command } from 'commander';
import { formatDuration } from '../options.js';
import { formatCount, writeJsonLine } from '../output.js';

export interface InfoCliOptions {
  json: boolean;
}

const HISTORY_ROWS = 12; // validation points shown; a long history is thinned evenly

export function registerInfoCommand(program: Command): void {
  program
    .command('info')
    .description('describe a checkpoint: model, parameters, vocabulary, training history, validation loss')
    .argument('[checkpoint]', 'a checkpoint file, or a directory: its checkpoint with the lowest validation loss', 'checkpoints')
    .option('--json', 'print one JSON object', false)
    .action(async (checkpoint: string, options: InfoCliOptions) => {
      await info(checkpoint, options);
    });
}

async function info(pathOrDir: string, options: InfoCliOptions): Promise<void> {
  const { readModelCheckpoint } = await import('../../node/checkpoint-files.js');
  const { paramCount } = await import('../../core/snapshot.js');
  const { describeChar } = await import('../../core/data/corpus.js');
  const { statSync } = await import('node:fs');

  const { path, header: h } = await readModelCheckpoint(pathOrDir);
  const parameters = paramCount(h.model);
  const fileBytes = statSync(path).size;

  if (options.json) {
    writeJsonLine({
      path,
      fileBytes,
      runName: h.runName,
      savedAt: h.savedAt,
      iteration: h.iteration,
      epoch: h.epoch,
      trainLoss: h.trainLoss,
      valLoss: h.valLoss,
      bestValLoss: h.bestValLoss,
      model: h.model,
      parameters,
      vocab: { encoding: h.vocab.encoding, size: h.vocab.symbols.length, symbols: h.vocab.symbols },
      training: h.training,
      corpus: h.corpus,
      elapsedMs: h.elapsedMs,
      history: h.history,
    });
    return;
  }

  const loss = (x: number | null) => (x === null ? '–' : `${x.toFixed(4)} (${(x / Math.LN2).toFixed(3)} bpc)`);
  // printable characters as themselves; whitespace, controls and (in a byte model) non-ASCII bytes by name
  const printable = h.vocab.encoding === 'bytes' ? /^[!-~]$/ : /^[\p{L}\p{N}\p{P}\p{S}]$/u;
  const symbols = h.vocab.symbols.map((s) => (printable.test(s) ? s : describeChar(s, h.vocab.encoding))).join(' ');
  const t = h.training;
  const rows: Array<[string, string]> = [
    ['file', `${path} (${formatCount(fileBytes)} bytes)`],
    ['run', `${h.runName}, iteration ${h.iteration}, epoch ${h.epoch.toFixed(2)}, saved ${h.savedAt}`],
    ['model', `${h.model.bidirectional ? `bidirectional ${h.model.cell} (masked-character model, mask fraction ${h.model.maskFrac})` : h.model.cell}, ${h.model.layers} layer${h.model.layers === 1 ? '' : 's'} × ${h.model.hiddenSize} hidden, dropout ${h.model.dropout}`],
    ['parameters', formatCount(parameters)],
    ['vocabulary', `${h.vocab.symbols.length} ${h.vocab.encoding === 'bytes' ? 'bytes' : 'characters'}: ${symbols}`],
    typeof (h as { importedFrom?: unknown }).importedFrom === 'string'
      ? ['imported', `from ${(h as unknown as { importedFrom: string }).importedFrom} (no training history; fine-tune with train --init-from)`]
      : ['corpus', `${h.corpus.name}, ${formatCount(h.corpus.chars)} characters (${formatCount(h.corpus.trainChars)} training, ${formatCount(h.corpus.valChars)} validation)`],
    ['training', `${t.optimizer} lr ${t.lr}, batch ${t.batchSize} × ${t.seqLength}, grad clip ${t.gradClip}, lr decay ${t.lrDecay} after epoch ${t.lrDecayAfter}, seed ${t.seed}`],
    ['time', formatDuration(h.elapsedMs)],
    ['train loss', loss(h.trainLoss)],
    ['val loss', loss(h.valLoss)],
    ['best val loss', loss(h.bestValLoss)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  let text = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
  const points = h.history.filter((p) => p.valLoss !== undefined);
  if (points.length > 0) {
    text += `history\n  ${'iter'.padStart(8)}  ${'train'.padStart(7)}  ${'val'.padStart(7)}\n`;
    for (const p of thin(points, HISTORY_ROWS)) {
      text += `  ${String(p.iter).padStart(8)}  ${(p.loss === null ? '–' : p.loss.toFixed(4)).padStart(7)}  ${p.valLoss!.toFixed(4).padStart(7)}\n`;
    }
  }
  process.stdout.write(text);
}

/** At most `n` items spread evenly, always keeping the first and the last. */
function thin<T>(items: T[], n: number): T[] {
  if (items.length <= n) return items;
  const picked: T[] = [];
  for (let i = 0; i < n; i++) picked.push(items[Math.round((i * (items.length - 1)) / (n - 1))]);
  return picked;
}

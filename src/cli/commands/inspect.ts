// `charnn inspect [text]`: runs a model over a text and shows what it saw: a surprise heat map (default), one unit's
// activation (--neuron), the top-k guesses per character (--top), a web page (--html), or the units that track a
// regex (--correlate). The data goes to stdout, legends and notes to stderr; the analysis is src/inspect/.

import { writeFile } from 'node:fs/promises';
import { Chalk, type ChalkInstance } from 'chalk';
import type { Command } from 'commander';
import { CharnnError } from '../../core/errors.js';
import { oneOf, UsageError, wholeNumber } from '../options.js';
import { colorLevel, formatCount, printNote, StatusLine, style } from '../output.js';
import type { Coloring } from '../../core/inspect/terminal.js';
import type { TextAnalysis } from '../../core/inspect/analyze.js';
import type { UnitCorrelation } from '../../core/inspect/correlate.js';

export interface InspectCliOptions {
  checkpoint: string;
  neuron?: { layer: number; unit: number };
  top?: number;
  html?: string;
  correlate?: string;
  units: number;
  maxChars: number;
  correlateChars: number;
  start: number;
  width?: number;
  state: 'h' | 'c';
  json: boolean;
}

const DEFAULT_MAX_CHARS = 5_000;          // characters shown (or embedded in the page): a page stays near 2 MB for 2×128
const DEFAULT_CORRELATE_CHARS = 100_000;  // characters read to rank units: enough matches for a stable r
const DEFAULT_UNITS = 10;                 // units listed by --correlate
const PAGE_TOP_K = 5;                     // the page's tooltip shows the top-5

/** "1:42" → { layer: 1, unit: 42 }; the model's own bounds are checked once it is loaded. */
function parseNeuron(text: string): { layer: number; unit: number } {
  const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(text);
  if (!match) throw new UsageError(`--neuron takes <layer>:<index>, such as 0:42 (layers and units count from 0), got '${text}'.`);
  return { layer: Number(match[1]), unit: Number(match[2]) };
}

export function registerInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('look inside a model: which characters surprise it, what single units track, as terminal heat maps or a web page')
    .argument('[text]', 'the text to read: a file path, or - for standard input (the default)', '-')
    .option('-c, --checkpoint <path>', 'a checkpoint file, or a directory: its checkpoint with the lowest validation loss', 'checkpoints')
    .option('--neuron <layer:index>', "color by one unit's activation (-1 … 1) instead of by surprise", parseNeuron)
    .option('--top <k>', "a table instead of the heat map: each character's probability and the model's top-k guesses there", wholeNumber('--top', 1, 50))
    .option('--html <out.html>', 'write one self-contained web page: hover a character for its probability, top-5 and a unit; pick any unit')
    .option('--correlate <regex>', 'rank the units whose activation best tracks "inside a match of this regex" (multiline, Unicode)')
    .option('--state <h|c>', "a unit's activation: its hidden state h, or (LSTM) tanh of its cell state c, as in the blog", oneOf('--state', ['h', 'c'] as const), 'h')
    .option('--units <n>', `units listed by --correlate (default ${DEFAULT_UNITS})`, wholeNumber('--units', 1), DEFAULT_UNITS)
    .option('--max-chars <n>', `characters shown or put in the page (default ${formatCount(DEFAULT_MAX_CHARS)})`, wholeNumber('--max-chars', 1, 1_000_000), DEFAULT_MAX_CHARS)
    .option('--correlate-chars <n>', `characters --correlate reads from the start (default ${formatCount(DEFAULT_CORRELATE_CHARS)})`, wholeNumber('--correlate-chars', 2), DEFAULT_CORRELATE_CHARS)
    .option('--start <n>', 'first character to show; the model still reads the text before it', wholeNumber('--start', 0), 0)
    .option('--json', 'one JSON object per character instead of a view: position, char, prob, rank, top (the --top k guesses, default 5) and, with --neuron, value', false)
    .option('--width <columns>', 'wrap the heat map at this width (default: the terminal width, or 80)', wholeNumber('--width', 8, 10_000))
    .addHelpText('after', `
The probability of a character is what the model gave it having read the text before it; a unit's activation is
its hidden state h after reading the character (with --state c, tanh of an LSTM's cell state). Without color (not a terminal, NO_COLOR) the heat map prints a
line of digits under each line of text.

Examples:
  charnn inspect play.txt -c checkpoints/
  charnn inspect play.txt --correlate '^[A-Z][A-Z ]+:' --units 5
  charnn inspect play.txt --neuron 1:42 | less -R
  charnn inspect play.txt --state c --correlate '\\([^)]*\\)'
  head -c 2000 play.txt | charnn inspect - --top 5
  charnn inspect play.txt --json --neuron 1:42 | jq -c '[.char, .value]'
  charnn inspect play.txt --html inside.html --correlate '"[^"]*"'`)
    .action(async (source: string, options: InspectCliOptions) => {
      await inspect(source, options);
    });
}

async function inspect(source: string, options: InspectCliOptions): Promise<void> {
  const { loadModel } = await import('../../core/lm.js');
  const { readCorpus } = await import('../../node/corpus-files.js');
  const { analyzeText, checkStateKind } = await import('../../core/inspect/analyze.js');
  const { compilePattern, correlateUnits, matchIndicator } = await import('../../core/inspect/correlate.js');
  const terminal = await import('../../core/inspect/terminal.js');

  const pattern = options.correlate !== undefined ? compilePattern(options.correlate) : undefined;
  const model = await loadModel(options.checkpoint);
  const { layers: L, hiddenSize: H, cell } = model.config;
  if (model.config.bidirectional) {
    throw new CharnnError(`${model.path} is a bidirectional (fill-in) model; inspect reads text left to right, so give it a left-to-right model.`);
  }
  checkStateKind(cell, options.state);
  if (options.neuron && (options.neuron.layer >= L || options.neuron.unit >= H)) {
    throw new UsageError(
      `--neuron ${options.neuron.layer}:${options.neuron.unit} is outside this model: it has ${L} layer${L > 1 ? 's' : ''} (0–${L - 1}) of ${H} units (0–${H - 1}).`,
    );
  }
  // characters outside the model's vocabulary are refused by the reader, by name
  const corpus = await readCorpus(source, { vocab: model.vocab });
  const ids = corpus.ids;
  if (ids.length === 0) throw new CharnnError('The text is empty; there is nothing to inspect.');
  if (options.start >= ids.length) {
    throw new UsageError(`--start ${options.start} is past the end of the text (${formatCount(ids.length)} characters).`);
  }

  // --correlate alone prints the ranking; with --neuron, --top or --html it shows those views as well
  if (options.json && (options.html !== undefined || pattern !== undefined)) throw new UsageError('--json prints the per-character analysis; it does not combine with --html or --correlate.');
  const correlateOnly = pattern !== undefined && !options.neuron && options.top === undefined && options.html === undefined;
  const status = await StatusLine.start('Reading the text with the model…');
  let ranked: UnitCorrelation[] | undefined;
  let analysis: TextAnalysis | undefined;
  try {
    if (pattern) {
      const n = Math.min(ids.length, options.correlateChars);
      status.update(`Correlating ${L * H} units with /${options.correlate}/ over ${formatCount(n)} characters…`);
      const scope = ids.subarray(0, n);
      ranked = correlateUnits(model.net, scope, matchIndicator(scope, model.vocab, pattern), options.state);
    }
    if (!correlateOnly) {
      status.update(`Reading ${formatCount(Math.min(ids.length, options.start + options.maxChars))} characters…`);
      analysis = analyzeText(model.net, ids, {
        topK: Math.max(options.top ?? 0, PAGE_TOP_K), offset: options.start, length: options.maxChars, state: options.state,
      });
    }
  } finally {
    status.stop();
  }

  // --correlate: the ranking is the data
  if (ranked) {
    const top = ranked.slice(0, options.units);
    const rows = top.map((u, i) => `${String(i + 1).padStart(4)}  ${`${u.layer}:${u.unit}`.padEnd(7)}  ${u.r >= 0 ? '+' : '-'}${Math.abs(u.r).toFixed(3)}`);
    process.stdout.write(`rank  unit        r\n${rows.join('\n')}\n`);
    printNote(style().dim(
      `r: Pearson correlation of the unit's ${options.state === 'c' ? 'tanh(c)' : 'activation'} with "inside a match" over ${formatCount(Math.min(ids.length, options.correlateChars))} characters; ` +
      `negative r tracks the outside. View one with: --neuron ${top[0].layer}:${top[0].unit}${options.state === 'c' ? ' --state c' : ''}`,
    ));
  }

  if (!analysis) return;
  const shown = analysis.ids.length;
  if (options.start + shown < ids.length) {
    printNote(style().dim(`Showing characters ${options.start}–${options.start + shown - 1} of ${formatCount(ids.length)} (--start, --max-chars).`));
  }
  const coloring: Coloring = options.neuron ? { kind: 'neuron', ...options.neuron } : { kind: 'surprise' };
  if (options.json) {
    writeAnalysisJson(trimTopK(analysis, options.top ?? PAGE_TOP_K), model.vocab.symbols, options.neuron);
    return;
  }

  if (options.html !== undefined) {
    const { renderPage } = await import('../../core/inspect/html.js');
    const header = model.header;
    const details = [
      `${cell} ${L}×${H}${options.state === 'c' ? ', units show tanh(cell state)' : ''}`,
      `iteration ${formatCount(header.iteration)}`,
      ...(header.valLoss !== null ? [`val ${(header.valLoss / Math.LN2).toFixed(3)} bits/char`] : []),
      `${formatCount(shown)} characters of ${source === '-' ? 'standard input' : source}${options.start > 0 ? ` from ${formatCount(options.start)}` : ''}`,
      `${terminal.surpriseSummary(analysis).bitsPerChar.toFixed(3)} bits/char here`,
    ];
    const page = renderPage(analysis, model.vocab, {
      title: `charnn inspect — ${header.runName}`,
      details,
      coloring: options.neuron || !ranked ? coloring : { kind: 'neuron', layer: ranked[0].layer, unit: ranked[0].unit },
      correlations: ranked && options.correlate !== undefined ? { pattern: options.correlate, units: ranked.slice(0, options.units) } : undefined,
    });
    try {
      await writeFile(options.html, page);
    } catch (error) {
      throw new CharnnError(`Cannot write ${options.html}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
    }
    printNote(`Wrote ${style().bold(options.html)} (${formatCount(shown)} characters, ${(page.length / 1e6).toFixed(1)} MB); open it in a browser.`);
    return;
  }
  const out: ChalkInstance = new Chalk({ level: colorLevel(process.stdout) });
  if (options.top !== undefined) {
    process.stdout.write(terminal.renderTopTable(trimTopK(analysis, options.top), model.vocab, coloring, out));
    return;
  }
  const width = options.width ?? (process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : 80);
  process.stdout.write(terminal.renderHeatmap(analysis, model.vocab, coloring, { chalk: out, width }));
  process.stderr.write(terminal.renderLegend(analysis, coloring, style()));
}

/**
 * One line per character: what the heat map and the page show. prob and rank are null at the start of the text
 * (nothing came before it); value is the --neuron unit's activation after reading the character.
 */
function writeAnalysisJson(analysis: TextAnalysis, symbols: readonly string[], neuron: InspectCliOptions['neuron']): void {
  const K = analysis.topK;
  const H = analysis.hiddenSize;
  const lines: string[] = [];
  for (let n = 0; n < analysis.ids.length; n++) {
    const predicted = !Number.isNaN(analysis.probs[n]);
    const top: Array<{ char: string; prob: number }> = [];
    for (let k = 0; predicted && k < K; k++) top.push({ char: symbols[analysis.topIds[n * K + k]], prob: analysis.topProbs[n * K + k] });
    lines.push(JSON.stringify({
      position: analysis.offset + n,
      char: symbols[analysis.ids[n]],
      prob: predicted ? analysis.probs[n] : null,
      rank: predicted ? analysis.ranks[n] : null,
      top,
      ...(neuron && { value: analysis.activations[neuron.layer][n * H + neuron.unit] }),
    }));
    if (lines.length >= 1024) {
      process.stdout.write(`${lines.join('\n')}\n`);
      lines.length = 0;
    }
  }
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}

/** The analysis with only the first k guesses per position (it was made with at least the page's five). */
function trimTopK(analysis: TextAnalysis, k: number): TextAnalysis {
  const K = analysis.topK;
  if (k >= K) return analysis;
  const N = analysis.ids.length;
  const topIds = new Int32Array(N * k);
  const topProbs = new Float32Array(N * k);
  for (let n = 0; n < N; n++) {
    topIds.set(analysis.topIds.subarray(n * K, n * K + k), n * k);
    topProbs.set(analysis.topProbs.subarray(n * K, n * K + k), n * k);
  }
  return { ...analysis, topK: k, topIds, topProbs };
}

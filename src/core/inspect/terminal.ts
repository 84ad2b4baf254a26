// Terminal views of an analysed text, returned as strings (the CLI decides where they go and the color level):
// the heat map (each character's background colored by its probability or by one unit's activation; with no
// color, a line of digits under each line of text), its legend, and the top-k table.
//
// Dimension legend: N characters recorded, H hidden size, K top-k.

import type { ChalkInstance } from 'chalk';
import { describeChar, type Vocab } from '../data/corpus.js';
import type { TextAnalysis } from './analyze.js';
import { ACTIVATION_SCALE, colorAt, PROBABILITY_SCALE, textColorOn, type Scale } from './colors.js';

/** What the heat map colors by: the probability of each character, or one hidden unit's activation after it. */
export type Coloring = { kind: 'surprise' } | { kind: 'neuron'; layer: number; unit: number };

export interface TerminalOptions {
  chalk: ChalkInstance; // level 0 → plain text with digit lines
  width?: number;       // columns to wrap at (default 80)
}

/** The value the heat map shows at recorded position n: a probability in 0 … 1 (NaN: none), or an activation in -1 … 1. */
export function valueAt(analysis: TextAnalysis, coloring: Coloring, n: number): number {
  if (coloring.kind === 'surprise') return analysis.probs[n];
  return analysis.activations[coloring.layer][n * analysis.hiddenSize + coloring.unit];
}

function scaleFor(coloring: Coloring): Scale {
  return coloring.kind === 'surprise' ? PROBABILITY_SCALE : ACTIVATION_SCALE;
}

/** One digit for the plain view: probability in tenths (9 = 90% or more); activation -1 … 1 in ten bins (0 … 9). */
export function digitFor(coloring: Coloring, value: number): string {
  if (Number.isNaN(value)) return ' ';
  const unit = coloring.kind === 'surprise' ? value : (value + 1) / 2;
  return String(Math.max(0, Math.min(9, Math.floor(unit * 10))));
}

/** A visible stand-in for a character, and how many columns it takes. A newline shows as ↵ and also ends the line. */
export function glyph(symbol: string, encoding: Vocab['encoding']): { text: string; width: number } {
  const code = symbol.codePointAt(0)!;
  if (code === 0x0a) return { text: '↵', width: 1 };
  if (code === 0x09) return { text: '→', width: 1 };
  if (code === 0x20) return { text: ' ', width: 1 };
  if (encoding === 'bytes' && code >= 0x80) return { text: '·', width: 1 }; // one byte of a multi-byte character
  if (/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Z}]/u.test(symbol)) return { text: '·', width: 1 };
  if (/\p{M}/u.test(symbol)) return { text: `◌${symbol}`, width: 1 }; // a lone combining mark needs a base
  return { text: symbol, width: isWide(code) ? 2 : 1 };
}

/** East Asian wide and fullwidth characters and emoji take two columns (enough for alignment of the digit line). */
function isWide(code: number): boolean {
  return (code >= 0x1100 && code <= 0x115f) || (code >= 0x2e80 && code <= 0xa4cf && code !== 0x303f) ||
    (code >= 0xac00 && code <= 0xd7a3) || (code >= 0xf900 && code <= 0xfaff) || (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) || (code >= 0xffe0 && code <= 0xffe6) || (code >= 0x1f300 && code <= 0x1faff) ||
    (code >= 0x20000 && code <= 0x3fffd);
}

/** The text with each character colored (or, without color, followed by a digit line per text line). */
export function renderHeatmap(analysis: TextAnalysis, vocab: Vocab, coloring: Coloring, options: TerminalOptions): string {
  const { chalk } = options;
  const width = Math.max(8, options.width ?? 80);
  const plain = chalk.level === 0;
  const scale = scaleFor(coloring);
  const out: string[] = [];
  let line = '';
  let digits = '';
  let column = 0;
  const endLine = () => {
    out.push(plain ? `${line}\n${digits.trimEnd()}\n\n` : `${line}\n`);
    line = '';
    digits = '';
    column = 0;
  };
  for (let n = 0; n < analysis.ids.length; n++) {
    const symbol = vocab.symbols[analysis.ids[n]];
    const { text, width: w } = glyph(symbol, vocab.encoding);
    if (column + w > width) endLine();
    const value = valueAt(analysis, coloring, n);
    if (plain) {
      line += text;
      digits += digitFor(coloring, value).padEnd(w);
    } else if (Number.isNaN(value)) {
      line += text;
    } else {
      const background = colorAt(scale, value);
      line += chalk.bgRgb(...background).rgb(...textColorOn(background))(text);
    }
    column += w;
    if (symbol === '\n') endLine();
  }
  if (column > 0) endLine();
  return out.join('');
}

/** Bits per character over the recorded positions that have a prediction, and how many there are. */
export function surpriseSummary(analysis: TextAnalysis): { bitsPerChar: number; predicted: number } {
  let bits = 0;
  let predicted = 0;
  for (const p of analysis.probs) {
    if (Number.isNaN(p)) continue;
    bits -= Math.log2(Math.max(p, Number.MIN_VALUE));
    predicted++;
  }
  return { bitsPerChar: predicted > 0 ? bits / predicted : NaN, predicted };
}

/** Legend lines for stderr: what the colors (or digits) mean, and a one-line summary of the text. */
export function renderLegend(analysis: TextAnalysis, coloring: Coloring, chalk: ChalkInstance): string {
  const plain = chalk.level === 0;
  const lines: string[] = [];
  if (coloring.kind === 'surprise') {
    if (plain) {
      lines.push('Digits under each character: the probability the model gave it, in tenths (0 = below 10%, 9 = 90% or more; blank = the first character, which nothing predicts).');
    } else {
      const swatches = [0, 0.1, 0.3, 0.5, 0.7, 0.9, 1].map((p) => swatch(chalk, PROBABILITY_SCALE, p, p === 0 ? ' 0% ' : `${Math.round(p * 100)}%`.padStart(4)));
      lines.push(`Probability the model gave each character: ${swatches.join('')}  (red = surprising)`);
    }
    const { bitsPerChar, predicted } = surpriseSummary(analysis);
    if (predicted > 0) lines.push(`${predicted} characters predicted, ${bitsPerChar.toFixed(3)} bits per character.`);
  } else {
    const name = `${coloring.layer}:${coloring.unit}`;
    const what = stateName(analysis);
    if (plain) {
      lines.push(`Digits under each character: ${what} of unit ${name} after reading it, -1 … +1 in ten bins (0 = -1 … -0.8, 5 = 0 … 0.2, 9 = 0.8 … 1).`);
    } else {
      const swatches = [-1, -0.5, 0, 0.5, 1].map((a) => swatch(chalk, ACTIVATION_SCALE, a, (a > 0 ? `+${a}` : String(a)).padStart(4)));
      lines.push(`${what[0].toUpperCase()}${what.slice(1)} of unit ${name} after reading each character: ${swatches.join('')}`);
    }
    const values = analysis.activations[coloring.layer];
    const H = analysis.hiddenSize;
    let sum = 0, positive = 0;
    for (let n = 0; n < analysis.ids.length; n++) {
      const a = values[n * H + coloring.unit];
      sum += a;
      if (a > 0) positive++;
    }
    const N = analysis.ids.length;
    lines.push(`Unit ${name}: mean ${(sum / N).toFixed(3)}, positive on ${((100 * positive) / N).toFixed(0)}% of ${N} characters.`);
  }
  return lines.join('\n') + '\n';
}

/** What a unit's value is, in words: its activation (h) or tanh of its LSTM cell state. */
export function stateName(analysis: TextAnalysis): string {
  return analysis.state === 'c' ? 'tanh(cell state)' : 'activation';
}

function swatch(chalk: ChalkInstance, scale: Scale, value: number, label: string): string {
  const background = colorAt(scale, value);
  return chalk.bgRgb(...background).rgb(...textColorOn(background))(` ${label} `);
}

/** "41%", "3.2%", "<0.1%". */
export function formatPercent(p: number): string {
  if (Number.isNaN(p)) return '–';
  const pct = 100 * p;
  if (pct >= 9.95) return `${Math.round(pct)}%`;
  if (pct >= 0.05) return `${pct.toFixed(1)}%`;
  return '<0.1%';
}

/**
 * One row per character: position, the character, the probability the model gave it and its rank, the model's
 * top-k guesses for that position (the actual character marked), and with a neuron coloring that unit's activation.
 */
export function renderTopTable(analysis: TextAnalysis, vocab: Vocab, coloring: Coloring, chalk: ChalkInstance): string {
  const K = analysis.topK;
  const N = analysis.ids.length;
  const neuron = coloring.kind === 'neuron' ? coloring : null;
  const posWidth = Math.max(3, String(analysis.offset + N - 1).length);
  const name = (id: number) => describeChar(vocab.symbols[id], vocab.encoding);
  const charWidth = 8;
  const header = [
    'pos'.padStart(posWidth), 'char'.padEnd(charWidth), '     p', 'rank',
    ...(neuron ? [`${neuron.layer}:${neuron.unit}`.padStart(6)] : []),
    `top ${K} predicted here`,
  ].join('  ');
  const rows: string[] = [chalk.bold(header)];
  for (let n = 0; n < N; n++) {
    const p = analysis.probs[n];
    const id = analysis.ids[n];
    const pText = formatPercent(p).padStart(6);
    const cells = [
      String(analysis.offset + n).padStart(posWidth),
      name(id).padEnd(charWidth),
      Number.isNaN(p) ? pText : chalk.rgb(...colorAt(PROBABILITY_SCALE, p))(pText),
      (analysis.ranks[n] > 0 ? String(analysis.ranks[n]) : '–').padStart(4),
    ];
    if (neuron) {
      const a = valueAt(analysis, neuron, n);
      cells.push((a >= 0 ? `+${a.toFixed(3)}` : a.toFixed(3)).padStart(6));
    }
    const guesses: string[] = [];
    for (let k = 0; k < K; k++) {
      const guess = analysis.topIds[n * K + k];
      if (guess < 0) break;
      const text = `${name(guess)} ${formatPercent(analysis.topProbs[n * K + k])}`;
      // plain output marks the actual character with brackets; color output underlines it
      guesses.push(guess === id ? (chalk.level === 0 ? `[${text}]` : chalk.bold.underline(text)) : text);
    }
    cells.push(guesses.length > 0 ? guesses.join('  ') : '(first character: nothing to predict from)');
    rows.push(cells.join('  '));
  }
  return rows.join('\n') + '\n';
}

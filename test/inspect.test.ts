// `inspect` as a library: the chunked analysis against a step-by-step twin, regex indicators, the correlation
// ranking (a unit planted by hand to latch inside parentheses is found first), and the terminal renderings.

import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { Chalk } from 'chalk';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { allocPass, allocState, carryState, createNetwork, forwardLogits, initParams, type CellType, type Network } from '../src/core/model.js';
import { corpusFromText, encodeText, makeVocab } from '../src/core/data/corpus.js';
import { analyzeText } from '../src/core/inspect/analyze.js';
import { compilePattern, correlateUnits, matchIndicator } from '../src/core/inspect/correlate.js';
import { digitFor, renderHeatmap, renderLegend, renderTopTable } from '../src/core/inspect/terminal.js';
import { renderPage } from '../src/core/inspect/html.js';

const TEXT = 'ROMEO:\nBut soft (what light) through yonder "window" breaks?\nJULIET:\nAy me (sighs).\n';

function randomNet(cell: CellType, vocabSize: number, seed: string, layers = 2, hiddenSize = 6): Network {
  const net = createNetwork(referenceKernels('f64'), { cell, vocabSize, hiddenSize, layers, dropout: 0 });
  const random = seedrandom(seed);
  initParams(net, random);
  for (let i = 0; i < net.params.length; i++) net.params[i] += (random() - 0.5) * 2;
  return net;
}

/** The slow twin: one forward per character, as CharModel.step() does. */
function stepByStep(net: Network, ids: ArrayLike<number>) {
  const { vocabSize: V, hiddenSize: H, layers: L } = net.config;
  const pass = allocPass(net, 1, 1);
  const state = allocState(net, 1);
  const probs: number[][] = [];
  const hs: number[][][] = [];
  const cs: number[][][] = [];
  for (let t = 0; t < ids.length; t++) {
    pass.inputs[0] = ids[t];
    forwardLogits(net, pass, state);
    carryState(net, pass, state);
    const logits = Array.from(pass.logits.subarray(0, V));
    const max = Math.max(...logits);
    const exps = logits.map((x) => Math.exp(x - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    probs.push(exps.map((e) => e / sum)); // prediction for t + 1
    hs.push(Array.from({ length: L }, (_, l) => Array.from(state.h[l].subarray(0, H))));
    cs.push(Array.from({ length: L }, (_, l) => Array.from(state.c[l].subarray(0, state.c[l].length))));
  }
  return { probs, hs, cs };
}

describe('analyzeText', () => {
  for (const cell of ['rnn', 'lstm', 'gru'] as const) {
    it(`${cell}: chunked one-pass analysis equals step-by-step reading`, () => {
      const corpus = corpusFromText(TEXT);
      const net = randomNet(cell, corpus.vocab.symbols.length, cell);
      const ids = corpus.ids;
      const twin = stepByStep(net, ids);
      const analysis = analyzeText(net, ids, { topK: 5, chunk: 7 }); // chunk 7: state must carry across chunks
      expect(analysis.ids.length).toBe(ids.length);
      expect(Number.isNaN(analysis.probs[0])).toBe(true);
      expect(analysis.ranks[0]).toBe(0);
      expect(Array.from(analysis.topIds.subarray(0, 5))).toEqual([-1, -1, -1, -1, -1]);
      for (let t = 1; t < ids.length; t++) {
        const expected = twin.probs[t - 1];
        expect(analysis.probs[t]).toBeCloseTo(expected[ids[t]], 6);
        const order = expected.map((p, v) => [p, v]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
        expect(Array.from(analysis.topIds.subarray(t * 5, t * 5 + 5))).toEqual(order.slice(0, 5).map((x) => x[1]));
        expect(analysis.ranks[t]).toBe(order.findIndex((x) => x[1] === ids[t]) + 1);
        for (let l = 0; l < 2; l++) {
          for (let j = 0; j < 6; j++) expect(analysis.activations[l][t * 6 + j]).toBeCloseTo(twin.hs[t][l][j], 6);
        }
      }
    });
  }

  it('--state c: tanh of the LSTM cell state after each character; refused for a cell without one', () => {
    const corpus = corpusFromText(TEXT);
    const net = randomNet('lstm', corpus.vocab.symbols.length, 'cells');
    const twin = stepByStep(net, corpus.ids);
    const analysis = analyzeText(net, corpus.ids, { state: 'c', chunk: 9 });
    expect(analysis.state).toBe('c');
    for (let t = 0; t < corpus.ids.length; t++) {
      for (let l = 0; l < 2; l++) {
        for (let j = 0; j < 6; j++) expect(analysis.activations[l][t * 6 + j]).toBeCloseTo(Math.tanh(twin.cs[t][l][j]), 6);
      }
    }
    const gru = randomNet('gru', corpus.vocab.symbols.length, 'gru');
    expect(() => analyzeText(gru, corpus.ids, { state: 'c' })).toThrow('Only an LSTM has a cell state to inspect; this model is a gru, so use its hidden state (h).');
    const inside = matchIndicator(corpus.ids, corpus.vocab, compilePattern('"[^"]*"'));
    expect(() => correlateUnits(gru, corpus.ids, inside, 'c')).toThrow(/Only an LSTM/);
    // the ranking by c uses the same values the analysis records
    const ranked = correlateUnits(net, corpus.ids, inside, 'c');
    const best = ranked[0];
    const a = Array.from({ length: corpus.ids.length }, (_, t) => analysis.activations[best.layer][t * 6 + best.unit]);
    const mean = a.reduce((x, y) => x + y, 0) / a.length;
    const my = inside.reduce((x, y) => x + y, 0) / a.length;
    let sab = 0, saa = 0, syy = 0;
    a.forEach((v, t) => { sab += (v - mean) * (inside[t] - my); saa += (v - mean) ** 2; syy += (inside[t] - my) ** 2; });
    expect(best.r).toBeCloseTo(sab / Math.sqrt(saa * syy), 6);
  });

  it('a window (offset, length) reads the text before it and records the same values as the full analysis', () => {
    const corpus = corpusFromText(TEXT);
    const net = randomNet('lstm', corpus.vocab.symbols.length, 'window');
    const full = analyzeText(net, corpus.ids, { topK: 3 });
    const window = analyzeText(net, corpus.ids, { topK: 3, offset: 20, length: 15, chunk: 6 });
    expect(window.offset).toBe(20);
    expect(Array.from(window.ids)).toEqual(Array.from(corpus.ids.subarray(20, 35)));
    expect(Array.from(window.probs)).toEqual(Array.from(full.probs.subarray(20, 35)));
    expect(Array.from(window.topIds)).toEqual(Array.from(full.topIds.subarray(60, 105)));
    expect(Array.from(window.activations[1])).toEqual(Array.from(full.activations[1].subarray(20 * 6, 35 * 6)));
  });
});

describe('matchIndicator', () => {
  it('marks every character inside a match, by character (not UTF-16 unit), multiline', () => {
    const vocab = corpusFromText('ab"🦊c"\nXY: zq').vocab;
    const ids = encodeText('a"🦊c"b\nXY: z "q"', vocab);
    expect(Array.from(matchIndicator(ids, vocab, compilePattern('"[^"]*"')))).toEqual(
      [0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
    );
    // ^ is a line start: the speaker name on the second line, not 'a' on the first (no capitals there)
    expect(Array.from(matchIndicator(ids, vocab, compilePattern('^[A-Z]+:')))).toEqual(
      [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0],
    );
  });

  it('a bytes vocabulary is matched byte by byte', () => {
    const vocab = makeVocab(['"', 'a', 'b'], 'bytes');
    const ids = encodeText('a"ab"b', vocab);
    expect(Array.from(matchIndicator(ids, vocab, compilePattern('"[^"]*"')))).toEqual([0, 1, 1, 1, 1, 0]);
  });

  it('an invalid pattern is the user\'s mistake, in one sentence', () => {
    expect(() => compilePattern('(unclosed')).toThrow(/^The regular expression "\(unclosed" is invalid: .*\.$/);
  });
});

describe('correlateUnits', () => {
  /**
   * Two-layer rnn with random weights, then two planted units. Layer 0 unit 0 fires on the brackets:
   * tanh(+3) after '(', tanh(-3) after ')', 0 otherwise. Layer 1 unit 4 latches on it:
   * h = tanh(5·h_prev + 6·bracket), so it sits near +1 from '(' until ')' flips it to -1 (inside parentheses).
   */
  function plantedNet(text: string) {
    const corpus = corpusFromText(text);
    const { vocab } = corpus;
    const V = vocab.symbols.length, H = 6;
    const net = randomNet('rnn', V, 'planted', 2, H);
    const open = vocab.symbols.indexOf('('), close = vocab.symbols.indexOf(')');
    const p = net.p;
    for (let v = 0; v < V; v++) p['layer0.Wx'][v * H + 0] = v === open ? 3 : v === close ? -3 : 0;
    for (let i = 0; i < H; i++) p['layer0.Wh'][i * H + 0] = 0;
    p['layer0.b'][0] = 0;
    for (let i = 0; i < H; i++) {
      p['layer1.Wx'][i * H + 4] = i === 0 ? 6 : 0;
      p['layer1.Wh'][i * H + 4] = i === 4 ? 5 : 0;
    }
    p['layer1.b'][4] = 0;
    return { net, corpus };
  }

  const TEXT_WITH_PARENS = Array.from({ length: 12 }, (_, i) =>
    `line ${i} says (an aside${i % 3 ? ' here' : ''}) and then ${'more '.repeat(i % 4)}text.\n`).join('');

  it('ranks the planted parenthesis latch first, with the correlation printed as Pearson r', () => {
    const { net, corpus } = plantedNet(TEXT_WITH_PARENS);
    const inside = matchIndicator(corpus.ids, corpus.vocab, compilePattern('\\([^)]*\\)'));
    const ranked = correlateUnits(net, corpus.ids, inside);
    expect(ranked).toHaveLength(12);
    expect(ranked[0]).toMatchObject({ layer: 1, unit: 4 });
    expect(ranked[0].r).toBeGreaterThan(0.9);
    expect(Math.abs(ranked[1].r)).toBeLessThan(ranked[0].r - 0.2);
    // sorted by |r|
    for (let i = 1; i < ranked.length; i++) expect(Math.abs(ranked[i].r)).toBeLessThanOrEqual(Math.abs(ranked[i - 1].r));

    // r is Pearson's, recomputed from the recorded activations
    const analysis = analyzeText(net, corpus.ids);
    const pearson = (a: number[], y: number[]) => {
      const n = a.length, ma = a.reduce((s, x) => s + x, 0) / n, my = y.reduce((s, x) => s + x, 0) / n;
      let sab = 0, saa = 0, syy = 0;
      for (let i = 0; i < n; i++) { sab += (a[i] - ma) * (y[i] - my); saa += (a[i] - ma) ** 2; syy += (y[i] - my) ** 2; }
      return sab / Math.sqrt(saa * syy);
    };
    for (const { layer, unit, r } of ranked) {
      const a = Array.from({ length: corpus.ids.length }, (_, t) => analysis.activations[layer][t * 6 + unit]);
      expect(r).toBeCloseTo(pearson(a, Array.from(inside)), 6); // activations are recorded in float32
    }
  });

  it('a unit that tracks the complement is found too, with a negative r', () => {
    const { net, corpus } = plantedNet(TEXT_WITH_PARENS);
    for (let i = 0; i < 6; i++) net.p['layer1.Wx'][i * 6 + 4] *= -1; // now near -1 inside, +1 outside
    const inside = matchIndicator(corpus.ids, corpus.vocab, compilePattern('\\([^)]*\\)'));
    const [top] = correlateUnits(net, corpus.ids, inside);
    expect(top).toMatchObject({ layer: 1, unit: 4 });
    expect(top.r).toBeLessThan(-0.9);
  });

  it('refuses a pattern that matches nothing, or everything', () => {
    const { net, corpus } = plantedNet(TEXT_WITH_PARENS);
    expect(() => correlateUnits(net, corpus.ids, matchIndicator(corpus.ids, corpus.vocab, compilePattern('QQQ'))))
      .toThrow('The regular expression matches nothing in the text, so there is nothing to correlate with.');
    expect(() => correlateUnits(net, corpus.ids, matchIndicator(corpus.ids, corpus.vocab, compilePattern('[^]+'))))
      .toThrow(/covers the whole text/);
  });
});

describe('terminal rendering', () => {
  const corpus = corpusFromText('ab\nba ab\n');
  const net = randomNet('gru', corpus.vocab.symbols.length, 'render', 1, 4);
  const analysis = analyzeText(net, corpus.ids, { topK: 3 });
  const plain = new Chalk({ level: 0 });
  const color = new Chalk({ level: 3 });
  const ESC = '\u001b[';

  it('without color: each text line, then a line of probability digits under it; no escape codes', () => {
    const out = renderHeatmap(analysis, corpus.vocab, { kind: 'surprise' }, { chalk: plain });
    expect(out).not.toContain(ESC);
    const lines = out.split('\n');
    expect(lines[0]).toBe('ab↵');
    expect(lines[1]).toBe(` ${digitFor({ kind: 'surprise' }, analysis.probs[1])}${digitFor({ kind: 'surprise' }, analysis.probs[2])}`);
    expect(lines[2]).toBe('');
    expect(lines[3]).toBe('ba ab↵');
    expect(lines[4]).toMatch(/^\d{6}$/);
    expect(renderLegend(analysis, { kind: 'surprise' }, plain)).toMatch(/^Digits under each character: the probability/);
  });

  it('digits: probability in tenths, activation -1 … 1 in ten bins', () => {
    expect([0, 0.05, 0.1, 0.55, 0.9, 1].map((p) => digitFor({ kind: 'surprise' }, p)).join('')).toBe('001599');
    expect([-1, -0.81, 0, 0.5, 1].map((a) => digitFor({ kind: 'neuron', layer: 0, unit: 0 }, a)).join('')).toBe('00579');
    expect(digitFor({ kind: 'surprise' }, NaN)).toBe(' ');
  });

  it('wraps long lines at the given width, keeping digits under their characters', () => {
    const long = corpusFromText('abcdefghij'.repeat(3));
    const a = analyzeText(randomNet('rnn', long.vocab.symbols.length, 'wrap', 1, 3), long.ids);
    const lines = renderHeatmap(a, long.vocab, { kind: 'neuron', layer: 0, unit: 1 }, { chalk: plain, width: 12 }).split('\n');
    expect(lines[0]).toBe('abcdefghijab');
    expect(lines[1]).toHaveLength(12);
    expect(lines[3]).toBe('cdefghijabcd');
  });

  it('with color: 24-bit backgrounds, red for an unlikely character, and the legend swatches', () => {
    const out = renderHeatmap(analysis, corpus.vocab, { kind: 'surprise' }, { chalk: color });
    expect(out).toContain(`${ESC}48;2;`);
    expect(out.split('\n')).toHaveLength(3); // two text lines and the final newline, no digit lines
    const legend = renderLegend(analysis, { kind: 'neuron', layer: 0, unit: 2 }, color);
    expect(legend).toContain('Activation of unit 0:2');
    expect(legend).toContain(`${ESC}48;2;33;102;172m`); // -1 is blue
  });

  it('top-k table: one row per character, actual character bracketed in plain output', () => {
    const out = renderTopTable(analysis, corpus.vocab, { kind: 'neuron', layer: 0, unit: 1 }, plain);
    const rows = out.trimEnd().split('\n');
    expect(rows).toHaveLength(1 + corpus.ids.length);
    expect(rows[0]).toMatch(/^pos +char +p +rank +0:1 +top 3 predicted here$/);
    expect(rows[1]).toContain('(first character: nothing to predict from)');
    expect(rows[3]).toMatch(/^ {2}2 {2}'\\n'/);
    const rank = analysis.ranks[2];
    if (rank <= 3) expect(rows[3]).toContain("['\\n' ");
  });
});

describe('renderPage', () => {
  it('is one self-contained document: no external URL, data embedded safely', () => {
    const corpus = corpusFromText('say "</script><b>hi</b>" & go\n');
    const net = randomNet('lstm', corpus.vocab.symbols.length, 'page', 2, 4);
    const html = renderPage(analyzeText(net, corpus.ids), corpus.vocab, { title: 'A <title>', details: ['lstm 2×4'] });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/\b(src|href)=["']?https?:/);
    expect(html.match(/<\/script>/g)).toHaveLength(2); // the data's own </script> is escaped
    expect(html).toContain('<title>A &#60;title&#62;</title>');
    const json = /<script type="application\/json" id="data">(.*?)<\/script>/s.exec(html)![1];
    const data = JSON.parse(json);
    expect(data.ids).toHaveLength(corpus.ids.length);
    expect(Buffer.from(data.activations, 'base64')).toHaveLength(2 * 4 * corpus.ids.length);
  });
});

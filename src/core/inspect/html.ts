// `inspect --html`: one self-contained page (no network) with the heat map of an analysed text. Hovering or
// focusing a character shows its probability, the model's top-5 there and the selected unit's activation; a
// selector recolors the text by surprise or by any unit. Builds a string; the CLI writes it.
//
// Dimension legend: N characters on the page, L layers, H hidden size, K top-k.
// Size: activations are embedded as int8 (a·127, rounded; |h| ≤ 1 for every cell type, and |tanh(c)| ≤ 1), L·H·N bytes before base64;
// the CLI limits N (--max-chars) so a 2×128 model over 5,000 characters makes a page of about 1.8 MB.

import { base64Encode } from '../bytes.js';
import type { Vocab } from '../data/corpus.js';
import type { TextAnalysis } from './analyze.js';
import { ACTIVATION_SCALE, PROBABILITY_SCALE } from './colors.js';
import type { UnitCorrelation } from './correlate.js';
import type { Coloring } from './terminal.js';

export interface PageOptions {
  title?: string;
  /** Lines describing the model and text, shown under the title (e.g. "lstm 2×128, iteration 5000"). */
  details?: string[];
  /** What the page colors by when it opens. */
  coloring?: Coloring;
  /** Units ranked by --correlate, listed first in the selector with their r. */
  correlations?: { pattern: string; units: UnitCorrelation[] };
}

/** Everything the page script reads, as embedded JSON. */
interface PageData {
  title: string;
  details: string[];
  glyphs: string[];       // (V) how each vocabulary symbol is drawn
  names: string[];        // (V) how each symbol is named in the tooltip
  ids: number[];          // (N)
  offset: number;         // position of the first character in the full text
  probs: Array<number | null>; // (N) null where nothing predicts the character
  ranks: number[];        // (N) 0 where nothing predicts the character
  topK: number;           // K
  topIds: number[];       // (N*K) -1 where nothing predicts
  topProbs: number[];     // (N*K)
  layers: number;         // L
  hiddenSize: number;     // H
  activations: string;    // base64 of int8 (L, N, H): layer-major, then position, then unit
  probabilityScale: typeof PROBABILITY_SCALE;
  activationScale: typeof ACTIVATION_SCALE;
  initial: string;        // 'surprise' or 'l:u'
  state: 'h' | 'c';       // the activations are h, or tanh(c) of an LSTM
  correlations: { pattern: string; units: UnitCorrelation[] } | null;
}

export function renderPage(analysis: TextAnalysis, vocab: Vocab, options: PageOptions = {}): string {
  const { layers: L, hiddenSize: H, topK: K } = analysis;
  const N = analysis.ids.length;
  const quantized = new Int8Array(L * N * H); // (L, N, H)
  for (let l = 0; l < L; l++) {
    const a = analysis.activations[l];
    for (let e = 0; e < N * H; e++) quantized[l * N * H + e] = Math.max(-127, Math.min(127, Math.round(a[e] * 127)));
  }
  const round = (p: number) => Number(p.toPrecision(4));
  const coloring = options.coloring ?? { kind: 'surprise' };
  const data: PageData = {
    title: options.title ?? 'charnn inspect',
    details: options.details ?? [],
    glyphs: vocab.symbols.map((s) => pageGlyph(s, vocab.encoding)),
    names: vocab.symbols.map((s) => symbolName(s, vocab.encoding)),
    ids: Array.from(analysis.ids),
    offset: analysis.offset,
    probs: Array.from(analysis.probs, (p) => (Number.isNaN(p) ? null : round(p))),
    ranks: Array.from(analysis.ranks),
    topK: K,
    topIds: Array.from(analysis.topIds),
    topProbs: Array.from(analysis.topProbs, round),
    layers: L,
    hiddenSize: H,
    activations: base64Encode(new Uint8Array(quantized.buffer, quantized.byteOffset, quantized.byteLength)),
    probabilityScale: PROBABILITY_SCALE,
    activationScale: ACTIVATION_SCALE,
    initial: coloring.kind === 'surprise' ? 'surprise' : `${coloring.layer}:${coloring.unit}`,
    state: analysis.state,
    correlations: options.correlations ?? null,
  };
  return PAGE_HEAD.replace('%TITLE%', escapeHtml(data.title)) +
    `<script type="application/json" id="data">${jsonForScript(data)}</script>\n` +
    `<script>\n${PAGE_SCRIPT}</script>\n</body>\n</html>\n`;
}

/** JSON that cannot end its <script> element early: '<' and the line separators JavaScript once refused are escaped. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** How a symbol is drawn in the page's text (a newline shows as ↵ and breaks the line; invisible ones as ·). */
function pageGlyph(symbol: string, encoding: Vocab['encoding']): string {
  const code = symbol.codePointAt(0)!;
  if (code === 0x0a) return '↵';
  if (code === 0x09) return '→';
  if (code === 0x20) return ' ';
  if (encoding === 'bytes' && code >= 0x80) return '·';
  if (/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Z}]/u.test(symbol)) return '·';
  if (/\p{M}/u.test(symbol)) return `◌${symbol}`;
  return symbol;
}

/** How a symbol is named in the tooltip: itself, or a word where it would be invisible. */
function symbolName(symbol: string, encoding: Vocab['encoding']): string {
  const code = symbol.codePointAt(0)!;
  if (code === 0x0a) return '↵ newline';
  if (code === 0x20) return '␣ space';
  if (code === 0x09) return '→ tab';
  if (encoding === 'bytes' && code >= 0x80) return `byte 0x${code.toString(16).toUpperCase().padStart(2, '0')}`;
  if (/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Z}]/u.test(symbol)) return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return symbol;
}

const PAGE_HEAD = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>%TITLE%</title>
<style>
:root {
  --bg: #fbfbf9; --fg: #1d1f21; --muted: #61666d; --panel: #ffffff; --line: #dcdcd6; --accent: #2b6cb0;
  --mono: ui-monospace, "SF Mono", "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #16181b; --fg: #e6e6e3; --muted: #9aa0a6; --panel: #1f2226; --line: #34383d; --accent: #7fb3f0; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { padding: 20px 28px 12px; border-bottom: 1px solid var(--line); background: var(--panel); position: sticky; top: 0; z-index: 2; }
h1 { font-size: 19px; margin: 0 0 2px; font-weight: 650; letter-spacing: -0.01em; }
.details { color: var(--muted); font-size: 13px; margin: 0 0 12px; }
.controls { display: flex; flex-wrap: wrap; gap: 10px 22px; align-items: center; }
.controls label { font-weight: 600; font-size: 13px; margin-right: 6px; }
select, button { font: inherit; font-size: 14px; color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 4px 8px; }
select:focus-visible, button:focus-visible, .text:focus-within { outline: 2px solid var(--accent); outline-offset: 2px; }
button { cursor: pointer; min-width: 30px; }
.legend { display: flex; align-items: center; gap: 8px; font-size: 12px; color: var(--muted); }
.bar { width: 220px; height: 12px; border-radius: 3px; border: 1px solid var(--line); }
.hint { font-size: 12px; color: var(--muted); }
main { padding: 18px 28px 60px; }
.text { font: 15px/1.75 var(--mono); white-space: pre-wrap; word-break: break-all; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px; max-width: 1100px; }
.text span { border-radius: 2px; cursor: default; }
.text span:focus { outline: 2px solid var(--fg); outline-offset: 0; position: relative; z-index: 1; }
.text span.hot { box-shadow: 0 0 0 2px var(--fg); }
#tip { position: fixed; z-index: 10; min-width: 230px; max-width: 320px; background: var(--panel); color: var(--fg); border: 1px solid var(--line); border-radius: 8px; box-shadow: 0 6px 24px rgba(0,0,0,.18); padding: 10px 12px; font-size: 13px; pointer-events: none; }
#tip[hidden] { display: none; }
#tip .char { font: 600 20px/1.2 var(--mono); }
#tip .pos { color: var(--muted); font-size: 12px; margin-left: 6px; }
#tip .row { margin-top: 4px; }
#tip .k { color: var(--muted); }
#tip ol { list-style: none; margin: 6px 0 4px; padding: 0; }
#tip li { display: grid; grid-template-columns: 78px 1fr 48px; gap: 6px; align-items: center; padding: 1px 0; }
#tip li .sym { font-family: var(--mono); white-space: pre; overflow: hidden; text-overflow: ellipsis; }
#tip li .pbar { height: 8px; border-radius: 2px; background: var(--accent); opacity: .75; }
#tip li .pct { text-align: right; font-variant-numeric: tabular-nums; }
#tip li.actual { font-weight: 700; }
#tip li.actual .pbar { opacity: 1; background: #1a9850; }
#tip .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; vertical-align: -1px; margin-right: 4px; border: 1px solid var(--line); }
</style>
</head>
<body>
`;

// The page's script: plain ES2020, no template literals (it lives in one), reads #data and builds the page.
const PAGE_SCRIPT = String.raw`
'use strict';
var D = JSON.parse(document.getElementById('data').textContent);
var N = D.ids.length, H = D.hiddenSize, L = D.layers, K = D.topK;
var STATE = D.state === 'c' ? 'tanh(cell state)' : 'activation';
var raw = atob(D.activations);
var act = new Int8Array(raw.length);
for (var i = 0; i < raw.length; i++) act[i] = raw.charCodeAt(i) << 24 >> 24;

function el(tag, attrs, text) {
  var e = document.createElement(tag);
  if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function colorAt(scale, v) {
  if (!(v > scale[0][0])) return scale[0][1];
  for (var s = 1; s < scale.length; s++) {
    if (v <= scale[s][0]) {
      var f = (v - scale[s - 1][0]) / (scale[s][0] - scale[s - 1][0]), a = scale[s - 1][1], b = scale[s][1];
      return [0, 1, 2].map(function (i) { return Math.round(a[i] + f * (b[i] - a[i])); });
    }
  }
  return scale[scale.length - 1][1];
}
function textOn(c) {
  var lin = c.map(function (x) { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2] > 0.179 ? '#000' : '#fff';
}
function rgb(c) { return 'rgb(' + c[0] + ', ' + c[1] + ', ' + c[2] + ')'; }
function pct(p) {
  if (p === null) return '–';
  var x = 100 * p;
  return x >= 9.95 ? Math.round(x) + '%' : x >= 0.05 ? x.toFixed(1) + '%' : '<0.1%';
}
function activation(l, u, n) { return act[(l * N + n) * H + u] / 127; }
function signed(a) { return (a >= 0 ? '+' : '−') + Math.abs(a).toFixed(3); }

// header
document.title = D.title;
var header = el('header');
header.appendChild(el('h1', null, D.title));
if (D.details.length) header.appendChild(el('p', { class: 'details' }, D.details.join(' · ')));
var controls = el('div', { class: 'controls' });
var pick = el('div');
pick.appendChild(el('label', { for: 'coloring' }, 'Color by'));
var select = el('select', { id: 'coloring' });
select.appendChild(el('option', { value: 'surprise' }, 'Surprise: probability of each character'));
if (D.correlations) {
  var group = el('optgroup', { label: 'Units tracking /' + D.correlations.pattern + '/' });
  D.correlations.units.forEach(function (c) {
    group.appendChild(el('option', { value: c.layer + ':' + c.unit }, 'unit ' + c.layer + ':' + c.unit + '  (r = ' + c.r.toFixed(3) + ')'));
  });
  select.appendChild(group);
}
for (var l = 0; l < L; l++) {
  var g = el('optgroup', { label: 'Layer ' + l });
  for (var u = 0; u < H; u++) g.appendChild(el('option', { value: l + ':' + u }, 'unit ' + l + ':' + u));
  select.appendChild(g);
}
pick.appendChild(select);
var prev = el('button', { type: 'button', id: 'prev', title: 'previous unit', 'aria-label': 'previous unit' }, '‹');
var next = el('button', { type: 'button', id: 'next', title: 'next unit', 'aria-label': 'next unit' }, '›');
pick.appendChild(document.createTextNode(' '));
pick.appendChild(prev);
pick.appendChild(next);
controls.appendChild(pick);
var legend = el('div', { class: 'legend', id: 'legend', 'aria-live': 'polite' });
controls.appendChild(legend);
controls.appendChild(el('div', { class: 'hint' }, 'Hover a character, or Tab into the text and use the arrow keys.'));
header.appendChild(controls);
document.body.appendChild(header);

// text
var main = el('main');
var text = el('div', { class: 'text', id: 'text', role: 'group', 'aria-label': 'text, one focusable element per character' });
var spans = new Array(N);
var frag = document.createDocumentFragment();
for (var n = 0; n < N; n++) {
  var s = el('span', { 'data-i': String(n), tabindex: n === 0 ? '0' : '-1', 'aria-describedby': 'tip' }, D.glyphs[D.ids[n]]);
  spans[n] = s;
  frag.appendChild(s);
  if (D.names[D.ids[n]] === '↵ newline') frag.appendChild(document.createElement('br'));
}
text.appendChild(frag);
main.appendChild(text);
document.body.appendChild(main);
var tip = el('div', { id: 'tip', role: 'tooltip', hidden: '' });
document.body.appendChild(tip);

// coloring
var coloring = D.initial;
var neuron = D.initial !== 'surprise' ? D.initial : (D.correlations && D.correlations.units.length ? D.correlations.units[0].layer + ':' + D.correlations.units[0].unit : '0:0');
function parseUnit(v) { var p = v.split(':'); return { l: +p[0], u: +p[1] }; }
function valueAt(n) {
  if (coloring === 'surprise') return D.probs[n];
  var x = parseUnit(coloring);
  return activation(x.l, x.u, n);
}
function paint() {
  var scale = coloring === 'surprise' ? D.probabilityScale : D.activationScale;
  for (var n = 0; n < N; n++) {
    var v = valueAt(n), s = spans[n];
    if (v === null) { s.style.backgroundColor = ''; s.style.color = ''; continue; }
    var c = colorAt(scale, v);
    s.style.backgroundColor = rgb(c);
    s.style.color = textOn(c);
  }
  var stops = scale.map(function (st) { return rgb(st[1]) + ' ' + (100 * (st[0] - scale[0][0]) / (scale[scale.length - 1][0] - scale[0][0])) + '%'; });
  legend.textContent = '';
  var lo = coloring === 'surprise' ? '0% surprising' : '−1', hi = coloring === 'surprise' ? '100% expected' : '+1';
  legend.appendChild(el('span', null, lo));
  var bar = el('span', { class: 'bar', role: 'img', 'aria-label': coloring === 'surprise' ? 'red: low probability, green: high' : 'blue: −1, white: 0, red: +1' });
  bar.style.background = 'linear-gradient(to right, ' + stops.join(', ') + ')';
  legend.appendChild(bar);
  legend.appendChild(el('span', null, hi));
  legend.appendChild(el('span', null, coloring === 'surprise' ? '· probability the model gave each character' : '· ' + STATE + ' of unit ' + coloring + ' after reading each character'));
  select.value = coloring;
}
select.addEventListener('change', function () {
  coloring = select.value;
  if (coloring !== 'surprise') neuron = coloring;
  paint();
  if (current >= 0) show(current);
});
function stepUnit(d) {
  var x = parseUnit(coloring === 'surprise' ? neuron : coloring);
  var flat = (x.l * H + x.u + d + L * H) % (L * H);
  coloring = neuron = Math.floor(flat / H) + ':' + (flat % H);
  paint();
  if (current >= 0) show(current);
}
prev.addEventListener('click', function () { stepUnit(-1); });
next.addEventListener('click', function () { stepUnit(1); });

// tooltip
var current = -1;
function show(n) {
  current = n;
  spans.forEach(function (s) { s.classList.remove('hot'); });
  spans[n].classList.add('hot');
  tip.textContent = '';
  var head = el('div');
  head.appendChild(el('span', { class: 'char' }, D.names[D.ids[n]]));
  head.appendChild(el('span', { class: 'pos' }, 'position ' + (D.offset + n)));
  tip.appendChild(head);
  var p = D.probs[n];
  if (p === null) {
    tip.appendChild(el('div', { class: 'row k' }, 'The first character: nothing came before it to predict it from.'));
  } else {
    var row = el('div', { class: 'row', id: 'tip-prob' });
    var sw = el('span', { class: 'swatch' });
    sw.style.background = rgb(colorAt(D.probabilityScale, p));
    row.appendChild(sw);
    row.appendChild(document.createTextNode('probability ' + pct(p) + ' · rank ' + D.ranks[n] + ' · ' + (-Math.log2(Math.max(p, 1e-12))).toFixed(2) + ' bits'));
    tip.appendChild(row);
    tip.appendChild(el('div', { class: 'row k' }, 'Top ' + K + ' predicted here:'));
    var list = el('ol', { id: 'tip-top' });
    for (var k = 0; k < K; k++) {
      var id = D.topIds[n * K + k];
      if (id < 0) break;
      var q = D.topProbs[n * K + k];
      var li = el('li', id === D.ids[n] ? { class: 'actual' } : null);
      li.appendChild(el('span', { class: 'sym' }, D.names[id]));
      var track = el('span');
      var b = el('span', { class: 'pbar' });
      b.style.display = 'block';
      b.style.width = Math.max(2, Math.round(100 * q)) + '%';
      track.appendChild(b);
      li.appendChild(track);
      li.appendChild(el('span', { class: 'pct' }, pct(q)));
      list.appendChild(li);
    }
    tip.appendChild(list);
  }
  var x = parseUnit(neuron), a = activation(x.l, x.u, n);
  var unitRow = el('div', { class: 'row', id: 'tip-unit' });
  var sw2 = el('span', { class: 'swatch' });
  sw2.style.background = rgb(colorAt(D.activationScale, a));
  unitRow.appendChild(sw2);
  unitRow.appendChild(document.createTextNode('unit ' + neuron + (D.state === 'c' ? ' tanh(c)' : '') + ' = ' + signed(a)));
  tip.appendChild(unitRow);
  tip.hidden = false;
  place(spans[n]);
}
function place(target) {
  var r = target.getBoundingClientRect(), w = tip.offsetWidth, h = tip.offsetHeight;
  var left = Math.min(Math.max(8, r.left + r.width / 2 - w / 2), window.innerWidth - w - 8);
  var top = r.bottom + 8;
  if (top + h > window.innerHeight - 8) top = Math.max(8, r.top - h - 8);
  tip.style.left = left + 'px';
  tip.style.top = top + 'px';
}
function hide() {
  tip.hidden = true;
  if (current >= 0) spans[current].classList.remove('hot');
  current = -1;
}
text.addEventListener('mouseover', function (e) {
  var i = e.target && e.target.getAttribute && e.target.getAttribute('data-i');
  if (i !== null && i !== undefined) show(+i);
});
text.addEventListener('mouseleave', function () { if (!text.contains(document.activeElement)) hide(); });
text.addEventListener('focusin', function (e) {
  var i = e.target.getAttribute('data-i');
  if (i === null) return;
  spans.forEach(function (s) { s.tabIndex = -1; });
  e.target.tabIndex = 0; // roving tabindex: Tab leaves the text, and comes back to this character
  show(+i);
});
text.addEventListener('focusout', function (e) { if (!text.contains(e.relatedTarget)) hide(); });
function nearestOnLine(from, dir) {
  // the character on the next line (dir = 1) or previous line (dir = -1) closest in x
  var r0 = spans[from].getBoundingClientRect(), best = -1, bestDx = Infinity, lineTop = null;
  for (var n = from + dir; n >= 0 && n < N; n += dir) {
    var r = spans[n].getBoundingClientRect();
    if (Math.abs(r.top - r0.top) < r0.height / 2) continue;
    if (lineTop === null) lineTop = r.top;
    else if (Math.abs(r.top - lineTop) >= r0.height / 2) break;
    var dx = Math.abs(r.left - r0.left);
    if (dx < bestDx) { bestDx = dx; best = n; }
  }
  return best;
}
text.addEventListener('keydown', function (e) {
  var i = e.target.getAttribute('data-i');
  if (i === null) return;
  var n = +i, to = -1;
  if (e.key === 'ArrowRight') to = Math.min(N - 1, n + 1);
  else if (e.key === 'ArrowLeft') to = Math.max(0, n - 1);
  else if (e.key === 'ArrowDown') to = nearestOnLine(n, 1);
  else if (e.key === 'ArrowUp') to = nearestOnLine(n, -1);
  else if (e.key === 'Home') to = 0;
  else if (e.key === 'End') to = N - 1;
  else if (e.key === 'Escape') { hide(); return; }
  else return;
  e.preventDefault();
  if (to >= 0) spans[to].focus();
});
window.addEventListener('scroll', function () { if (current >= 0) place(spans[current]); }, { passive: true });
window.addEventListener('resize', function () { if (current >= 0) place(spans[current]); });
paint();
`;

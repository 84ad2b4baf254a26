// The `inspect --html` page in a real browser: Debian's chromium driven by playwright-core. Hovering or focusing a
// character shows its probability, the model's top-5 there and the selected unit's value; the selector recolors.
// Skips, saying why, only where no browser can be had (CI installs chromium when it is missing: see .ci/run).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumUnavailable, launchChromium } from '../src/bench/chromium.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import seedrandom from 'seedrandom';
import type { Browser, Page } from 'playwright-core';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { createNetwork, initParams } from '../src/core/model.js';
import { corpusFromText } from '../src/core/data/corpus.js';
import { analyzeText } from '../src/core/inspect/analyze.js';
import { renderPage } from '../src/core/inspect/html.js';
import { ACTIVATION_SCALE, colorAt, PROBABILITY_SCALE } from '../src/core/inspect/colors.js';
import { formatPercent } from '../src/core/inspect/terminal.js';



const skipReason = await chromiumUnavailable();
if (skipReason) console.warn(`browser test of the inspect page skipped: ${skipReason}`);

const TEXT = 'First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n';
const H = 5;
const corpus = corpusFromText(TEXT);
const net = createNetwork(referenceKernels('f32'), { cell: 'lstm', vocabSize: corpus.vocab.symbols.length, hiddenSize: H, layers: 2, dropout: 0 });
initParams(net, seedrandom('browser'));
for (let i = 0; i < net.params.length; i++) net.params[i] *= 6; // livelier activations and sharper predictions
const analysis = analyzeText(net, corpus.ids, { topK: 5 });
const nameOf = (id: number) => {
  const s = corpus.vocab.symbols[id];
  return s === '\n' ? '↵ newline' : s === ' ' ? '␣ space' : s;
};
// the browser's globals, for functions that run in the page (this project's TypeScript has no DOM library)
type PageGlobals = {
  getComputedStyle(element: unknown): { backgroundColor: string };
  document: { activeElement: { getAttribute(name: string): string | null } | null };
};
const rgb = (c: readonly number[]) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;

describe.skipIf(skipReason !== null)(`inspect page in Chromium${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let browser: Browser;
  let page: Page;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'charnn-browser-'));
    const file = join(dir, 'page.html');
    writeFileSync(file, renderPage(analysis, corpus.vocab, {
      title: 'test page', details: ['lstm 2×5'],
      correlations: { pattern: '^[A-Z]', units: [{ layer: 1, unit: 3, r: 0.5 }, { layer: 0, unit: 2, r: -0.25 }] },
    }));
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // a self-contained page asks the network for nothing
    const requests: string[] = [];
    page.on('request', (request) => { if (!request.url().startsWith('file:')) requests.push(request.url()); });
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('#text span[data-i]');
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('draws every character, colored by the probability the model gave it', async () => {
    const count = await page.locator('#text span[data-i]').count();
    expect(count).toBe(corpus.ids.length);
    const n = 7;
    const background = await page.locator(`#text span[data-i="${n}"]`).evaluate((e) => (globalThis as unknown as PageGlobals).getComputedStyle(e).backgroundColor);
    expect(background).toBe(rgb(colorAt(PROBABILITY_SCALE, Number(analysis.probs[n].toPrecision(4)))));
  });

  it('hovering a character shows its probability and the top-5 predictions there', async () => {
    const n = 16; // the 'B' of "Before"
    await page.hover(`#text span[data-i="${n}"]`);
    const tip = page.locator('#tip');
    await expect.poll(() => tip.isVisible()).toBe(true);
    const items = await page.locator('#tip-top li').allInnerTexts();
    expect(items).toHaveLength(5);
    const expected = Array.from(analysis.topIds.subarray(n * 5, n * 5 + 5), (id, k) => ({
      name: nameOf(id), pct: formatPercent(Number(analysis.topProbs[n * 5 + k].toPrecision(4))),
    }));
    items.forEach((text, k) => {
      const [name, pct] = text.split('\n').map((s) => s.trim()).filter((s) => s !== '');
      expect(name).toBe(expected[k].name);
      expect(pct).toBe(expected[k].pct);
    });
    const probability = await page.locator('#tip-prob').innerText();
    expect(probability).toContain(`probability ${formatPercent(Number(analysis.probs[n].toPrecision(4)))}`);
    expect(probability).toContain(`rank ${analysis.ranks[n]}`);
    // the tooltip sits on screen, near the character
    const box = (await tip.boundingBox())!;
    const charBox = (await page.locator(`#text span[data-i="${n}"]`).boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.y + box.height).toBeLessThanOrEqual(700);
    expect(Math.abs(box.y - (charBox.y + charBox.height))).toBeLessThan(40);
  });

  it('the first character says nothing predicts it', async () => {
    await page.hover('#text span[data-i="0"]');
    await expect.poll(() => page.locator('#tip').innerText()).toContain('nothing came before it');
  });

  it('keyboard: Tab focuses the text, arrow keys move, the tooltip follows focus', async () => {
    await page.mouse.move(990, 690); // away from the text
    await page.locator('#next').focus();
    await page.keyboard.press('Tab');
    const focused = () => page.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.getAttribute('data-i'));
    expect(await focused()).toBe('0');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    expect(await focused()).toBe('2');
    await expect.poll(() => page.locator('#tip .char').innerText()).toBe(nameOf(corpus.ids[2]));
    await expect.poll(() => page.locator('#tip-top li').count()).toBe(5);
    await page.keyboard.press('ArrowDown'); // to the line below: "Before …"
    const below = Number(await focused());
    expect(below).toBeGreaterThan(TEXT.indexOf('\n'));
    expect(below).toBeLessThan(TEXT.indexOf('\n', TEXT.indexOf('\n') + 1));
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('#tip').isVisible()).toBe(false);
  });

  it('the selector recolors by a unit, whose value the tooltip shows', async () => {
    const options = await page.locator('#coloring option').allInnerTexts();
    expect(options[0]).toMatch(/^Surprise/);
    expect(options[1]).toBe('unit 1:3  (r = 0.500)'); // --correlate's ranking comes first
    expect(options).toHaveLength(1 + 2 + 2 * H);
    await page.selectOption('#coloring', '0:2');
    const n = 20;
    const a = Math.round(analysis.activations[0][n * H + 2] * 127) / 127;
    const background = await page.locator(`#text span[data-i="${n}"]`).evaluate((e) => (globalThis as unknown as PageGlobals).getComputedStyle(e).backgroundColor);
    expect(background).toBe(rgb(colorAt(ACTIVATION_SCALE, a)));
    await page.hover(`#text span[data-i="${n}"]`);
    await expect.poll(() => page.locator('#tip-unit').innerText()).toBe(`unit 0:2 = ${a >= 0 ? '+' : '−'}${Math.abs(a).toFixed(3)}`);
    expect(await page.locator('#legend').innerText()).toContain('activation of unit 0:2');
    await page.click('#next');
    expect(await page.locator('#coloring').inputValue()).toBe('0:3');
  });
});

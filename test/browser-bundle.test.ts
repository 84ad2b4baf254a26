// charnn/browser, the ES module bundle (dist/browser/charnn.js, built by npm run build): it imports nothing from
// Node, package.json exports it, src/browser's runtime code imports nothing from Node, and in Chromium (a page
// that is not cross-origin isolated, so no SharedArrayBuffer) it loads a checkpoint's bytes and streams the CLI's
// text, trains from a string, and its checkpoint bytes load back.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumUnavailable, launchChromium } from '../src/bench/chromium.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ROOT, runCharnn } from './helpers/cli.js';

const BUNDLE = join(ROOT, 'dist', 'browser', 'charnn.js');
const NODE_MODULES = ['fs', 'path', 'os', 'worker_threads', 'v8', 'crypto', 'child_process', 'url', 'util', 'zlib'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('the browser bundle', () => {
  it('exists, is what package.json exports as charnn/browser, and imports nothing from Node', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { default: string; types: string }> };
    expect(join(ROOT, pkg.exports['./browser'].default)).toBe(BUNDLE);
    expect(existsSync(join(ROOT, pkg.exports['./browser'].types))).toBe(true);
    const code = readFileSync(BUNDLE, 'utf8');
    expect(code).not.toMatch(/["']node:/);
    for (const name of NODE_MODULES) expect(code, name).not.toMatch(new RegExp(`(?:from\\s*|import\\s*\\(\\s*|require\\s*\\(\\s*)["']${name}["']`));
    // an ES module with the API the README shows
    expect(code).toMatch(/^export \{[\s\S]*\bloadModelFrom\b[\s\S]*\};?\s*$/m);
  });

  it("src/browser's runtime code (the library, the page and its worker) imports nothing from Node", () => {
    const problems: string[] = [];
    for (const file of sources(join(ROOT, 'src', 'browser'))) {
      const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        if (match[1].startsWith('node:') || NODE_MODULES.includes(match[1])) problems.push(`${relative(ROOT, file)} imports ${match[1]}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

const skipReason = await chromiumUnavailable();
if (skipReason) console.warn(`browser test of charnn/browser skipped: ${skipReason}`);

// the browser's globals, for functions that run in the page (this project's TypeScript has no DOM library)
type Charnn = {
  loadModelFrom(source: unknown, options?: unknown): Promise<{ chars: string[]; net: { kernels: { name: string } }; evaluate(text: string): { bitsPerChar: number } }>;
  streamSample(model: unknown, options: unknown): AsyncIterable<string>;
  createTrainingRun(text: string, options: unknown): { step(): { loss: number }; checkpointBytes(): Uint8Array; checkpointName(): string; evaluate(): number | null };
  modelFromBytes(bytes: Uint8Array): Promise<unknown>;
  sampleText(from: unknown, options: unknown): string;
};
type PageGlobals = { charnn: Charnn; crossOriginIsolated: boolean; SharedArrayBuffer?: unknown };

describe.skipIf(skipReason !== null)(`charnn/browser in Chromium${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let browser: Browser;
  let page: Page;
  let dir: string;
  let model: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'charnn-bundle-'));
    const trained = await runCharnn(['train', join(ROOT, 'data', 'names.txt'), '--max-iters', '20', '--hidden', '32', '--checkpoint-dir', 'ck', '--json'], { cwd: dir });
    expect(trained.code).toBe(0);
    model = join(dir, 'ck', readdirSync(join(dir, 'ck'))[0]);
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto('about:blank');
    // the bundle, imported as a page imports a module (from a data: URL here: no server needed)
    const url = `data:text/javascript;base64,${readFileSync(BUNDLE).toString('base64')}`;
    // (a string, so the test runner does not rewrite the dynamic import for Node)
    await page.evaluate(`import(${JSON.stringify(url)}).then((m) => { globalThis.charnn = m; })`);
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loads checkpoint bytes without SharedArrayBuffer and streams exactly the CLI text', async () => {
    const bytes = readFileSync(model).toString('base64');
    const result = await page.evaluate(async (base64) => {
      const g = globalThis as unknown as PageGlobals;
      const raw = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const m = await g.charnn.loadModelFrom(new Blob([raw]), { name: 'names.ckpt' });
      let text = 'Ma';
      for await (const chunk of g.charnn.streamSample(m, { prime: 'Ma', length: 500, temperature: 0.9, topK: 10, seed: 21 })) text += chunk;
      return { text, kernels: m.net.kernels.name, isolated: g.crossOriginIsolated, sab: typeof g.SharedArrayBuffer };
    }, bytes);
    expect(result.isolated).toBe(false);
    expect(result.sab).toBe('undefined');
    expect(result.kernels).toBe('wasm-simd-unshared');
    const cli = await runCharnn(['sample', '-c', model, '--prime', 'Ma', '-n', '500', '--temp', '0.9', '--top-k', '10', '--seed', '21'], { cwd: dir });
    expect(result.text).toBe(cli.text);
  });

  it("the README's example page (examples/browser-page.html), served over HTTP, fetches a model and generates the CLI's text", async () => {
    // only the example, the bundle and the model: what a static file server would give it
    const files: Record<string, [string, string]> = {
      '/examples/browser-page.html': [join(ROOT, 'examples', 'browser-page.html'), 'text/html'],
      '/dist/browser/charnn.js': [BUNDLE, 'text/javascript'],
      '/examples/names.ckpt': [model, 'application/octet-stream'],
    };
    const server: Server = createServer((request, response) => {
      const file = files[request.url!.split('?')[0]];
      response.writeHead(file ? 200 : 404, { 'content-type': file?.[1] ?? 'text/plain' });
      response.end(file ? readFileSync(file[0]) : 'not found');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const example = await browser.newPage();
      const errors: string[] = [];
      example.on('pageerror', (error) => errors.push(error.message));
      await example.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/examples/browser-page.html?model=names.ckpt`);
      await example.click('#generate:not([disabled])');
      await example.waitForSelector('#out[data-done]');
      const cli = await runCharnn(['sample', '-c', model, '--prime', 'Mar', '-n', '300', '--temp', '0.8', '--seed', '7'], { cwd: dir });
      expect(await example.locator('#out').textContent()).toBe(cli.text);
      expect(errors).toEqual([]);
      await example.close();
    } finally {
      server.close();
    }
  });

  it('trains from a string; the checkpoint bytes load back as a model', async () => {
    const text = readFileSync(join(ROOT, 'data', 'names.txt'), 'utf8').slice(0, 20000);
    const result = await page.evaluate(async (corpus) => {
      const { charnn } = globalThis as unknown as PageGlobals;
      const run = charnn.createTrainingRun(corpus, { layers: 1, hiddenSize: 32, corpusName: 'names.txt' });
      const before = run.evaluate()!;
      const losses: number[] = [];
      for (let i = 0; i < 60; i++) losses.push(run.step().loss);
      const after = run.evaluate()!;
      const bytes = run.checkpointBytes();
      const loaded = await charnn.modelFromBytes(bytes);
      return { before, after, name: run.checkpointName(), first: losses[0], sample: charnn.sampleText(loaded, { length: 80, seed: 1 }) };
    }, text);
    expect(result.after).toBeLessThan(result.before);
    expect(result.name).toMatch(/^names_i000060_v\d\.\d{4}\.ckpt$/);
    expect(result.sample).toHaveLength(80);
  });
});

// The `charnn web` page in a real browser (Debian's chromium via playwright-core), opened from file:// as a user
// would: a seeded sample is byte for byte what `charnn sample` prints (URL settings, the form, prime, top-k, stop);
// training in the page lowers the validation loss and its download is a checkpoint the CLI samples; a run continued
// from a downloaded checkpoint equals an uninterrupted one; damaged files give their sentence; and the page asks the
// network for nothing. Skips, saying why, only where no browser can be had (CI installs chromium: see .ci/run).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumUnavailable, launchChromium } from '../src/bench/chromium.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { decodeCheckpoint } from '../src/core/checkpoint/format.js';
import { ROOT, runCharnn } from './helpers/cli.js';



const skipReason = await chromiumUnavailable();
if (skipReason) console.warn(`browser test of the charnn web page skipped: ${skipReason}`);

const NAMES = join(ROOT, 'data', 'names.txt');
const PAGE_LIMIT_BYTES = 400 * 1024;

describe.skipIf(skipReason !== null)(`charnn web page in Chromium${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let browser: Browser;
  let dir: string;
  let model: string;
  const opened: Array<{ page: Page; requests: string[]; errors: string[]; url: string }> = [];

  const cli = async (args: string[], env?: Record<string, string>) => {
    const result = await runCharnn(args, { cwd: dir, env });
    expect(result.stderr.includes('Error') ? result.stderr : '').toBe('');
    expect(result.code).toBe(0);
    return result;
  };

  /** Opens a page from file://, recording every request it makes and every error it throws. */
  async function open(file: string, query = ''): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
    const entry = { page, requests: [] as string[], errors: [] as string[], url: pathToFileURL(join(dir, file)).href + query };
    page.on('request', (request) => entry.requests.push(request.url()));
    page.on('pageerror', (error) => entry.errors.push(error.message));
    opened.push(entry);
    await page.goto(entry.url);
    return page;
  }

  const outputWhenDone = async (page: Page) => {
    await page.waitForSelector('#output[data-state="done"]');
    return (await page.locator('#output').textContent()) ?? '';
  };

  async function downloadModel(page: Page, name: string): Promise<string> {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-model')]);
    const path = join(dir, name);
    await download.saveAs(path);
    return path;
  }

  async function trainInPage(page: Page, budgetIters: number, kind: '#train' | '#continue' = '#train'): Promise<void> {
    await page.fill('#budget', String(budgetIters));
    await page.selectOption('#budget-unit', 'iterations');
    await page.click(kind);
    await page.waitForSelector('#train-status[data-state="done"], #train-status[data-state="error"]');
    expect(await page.locator('#message').isVisible() ? await page.locator('#message').textContent() : '').toBe('');
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'charnn-web-'));
    // the names model, trained by the CLI for a few dozen iterations: enough to be a model with opinions
    await cli(['train', NAMES, '--max-iters', '40', '--hidden', '48', '--checkpoint-dir', 'ck', '--json']);
    model = join(dir, 'ck', readdirSync(join(dir, 'ck')).find((f) => f.endsWith('.ckpt'))!);
    await cli(['web', '-c', 'ck', '-o', 'names.html']);
    await cli(['web', '-o', 'empty.html']);
    browser = await launchChromium();
  });

  afterAll(async () => {
    // every page, whatever it did, asked for nothing but itself and the blob: URLs it made (its worker, downloads)
    for (const { requests, errors, url } of opened) {
      expect(requests.filter((r) => r !== url && !r.startsWith('blob:')), url).toEqual([]);
      expect(errors, url).toEqual([]);
    }
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes a page under 400 KB without a model, and says the size of the model it carries', async () => {
    expect(statSync(join(dir, 'empty.html')).size).toBeLessThan(PAGE_LIMIT_BYTES);
    const html = readFileSync(join(dir, 'empty.html'), 'utf8');
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-[^']+' 'wasm-unsafe-eval'; worker-src blob:;/);
    const page = await open('names.html');
    await page.waitForSelector('#model-info[data-bytes]');
    expect(await page.locator('#model-info').textContent()).toContain(`${Math.round(statSync(model).size / 1024)} KB`);
    await page.close();
  });

  it('?seed=7&temp=0.8&length=300&run shows exactly what charnn sample --seed 7 --temp 0.8 -n 300 prints', async () => {
    const page = await open('names.html', '?seed=7&temp=0.8&length=300&run');
    const text = await outputWhenDone(page);
    const expected = (await cli(['sample', '-c', model, '--seed', '7', '--temp', '0.8', '-n', '300'])).text;
    expect(expected.length).toBeGreaterThan(250);
    expect(text).toBe(expected);
    await page.close();
  });

  it('with prime, top-k and stop from the URL, the same text as the CLI', async () => {
    const cases: Array<[string, string[]]> = [
      ['?prime=Mar&temp=0.8&topk=5&length=300&seed=7&stop=%0A&run', ['--prime', 'Mar', '--temp', '0.8', '--top-k', '5', '-n', '300', '--seed', '7', '--stop', '\n']],
      ['?prime=Jo&temp=1.3&topk=3&length=400&seed=123456&stop=%0A%0A&run', ['--prime', 'Jo', '--temp', '1.3', '--top-k', '3', '-n', '400', '--seed', '123456', '--stop', '\n\n']],
      ['?temp=1.2&topp=0.6&length=300&seed=11&run', ['--temp', '1.2', '--top-p', '0.6', '-n', '300', '--seed', '11']],
      ['?temp=0&length=50&seed=1&run', ['--temp', '0', '-n', '50', '--seed', '1']],
    ];
    for (const [query, args] of cases) {
      const page = await open('names.html', query);
      const text = await outputWhenDone(page);
      const expected = (await cli(['sample', '-c', model, ...args])).text;
      expect(text, query).toBe(expected);
      if (args.includes('--prime')) expect(text.startsWith(args[args.indexOf('--prime') + 1])).toBe(true);
      await page.close();
    }
  });

  it('a byte-level (--raw) model: the page decodes its UTF-8 bytes into the text the CLI prints', async () => {
    const text = 'Café crème, naïve façade — über Straße; 東京と大阪。\n'.repeat(60);
    writeFileSync(join(dir, 'accents.txt'), text);
    await cli(['train', 'accents.txt', '--raw', '--max-iters', '60', '--hidden', '32', '--layers', '1', '--checkpoint-dir', 'raw', '--json']);
    await cli(['web', '-c', 'raw', '-o', 'raw.html']);
    const page = await open('raw.html', '?prime=Caf%C3%A9&temp=0.5&length=400&seed=5&run');
    const shown = await outputWhenDone(page);
    const printed = await cli(['sample', '-c', 'raw', '--prime', 'Café', '--temp', '0.5', '-n', '400', '--seed', '5']);
    expect(printed.stdout.length).toBe(400 + Buffer.byteLength('Café'));
    expect(/[^\x00-\x7f]/.test(printed.text)).toBe(true); // the sample has multi-byte characters to decode
    expect(shown).toBe(new TextDecoder().decode(printed.stdout));
    await page.close();
  });

  it('the form generates the same text, and puts its settings in the URL so the link reproduces it', async () => {
    const page = await open('names.html');
    await page.waitForSelector('#model-info[data-bytes]');
    await page.fill('#prime', 'El');
    await page.fill('#temp', '0.9');
    await page.fill('#length', '120');
    await page.fill('#seed', '42');
    await page.fill('#stop', '\\n');
    await page.click('#generate');
    const text = await outputWhenDone(page);
    expect(text).toBe((await cli(['sample', '-c', model, '--prime', 'El', '--temp', '0.9', '-n', '120', '--seed', '42', '--stop', '\n'])).text);
    const params = new URL(page.url()).searchParams;
    expect(Object.fromEntries(params)).toEqual({ prime: 'El', temp: '0.9', length: '120', seed: '42', stop: '\n' });
    // Stop ends a long sample part way; what is shown is the start of the same text
    await page.fill('#stop', '');
    await page.fill('#length', '5000000');
    await page.click('#generate');
    await expect.poll(async () => ((await page.locator('#output').textContent()) ?? '').length, { timeout: 20_000 }).toBeGreaterThan(2000);
    await page.click('#halt');
    await page.waitForSelector('#output[data-state="stopped"]');
    const stopped = (await page.locator('#output').textContent())!;
    expect(stopped.length).toBeLessThan(5_000_000);
    expect(await page.locator('#output > div').count()).toBeGreaterThan(0); // drawn in blocks, not one text node
    const start = (await cli(['sample', '-c', model, '--prime', 'El', '--temp', '0.9', '-n', '2000', '--seed', '42'])).text;
    expect(stopped.startsWith(start)).toBe(true);
    await page.close();
  });

  it('Samples above 1 makes them side by side, a line each: what charnn sample --num-samples prints', async () => {
    const page = await open('names.html', '?prime=Ma&temp=0.8&length=40&seed=7&stop=%0A&samples=12&run');
    const text = await outputWhenDone(page);
    const expected = (await cli(['sample', '-c', model, '--prime', 'Ma', '--temp', '0.8', '-n', '40', '--seed', '7', '--stop', '\n', '--num-samples', '12'])).text;
    expect(text).toBe(expected);
    expect(text.split('\n')).toHaveLength(13); // 12 lines and the empty rest after the last newline
    await page.close();
    // a link asking for too many is refused in one sentence (the form's own bounds stop typed ones)
    const refused = await open('names.html', '?samples=20000&run');
    await expect.poll(() => refused.locator('#message').textContent()).toBe('Samples must be a whole number from 1 to 10,000.');
    await refused.close();
  });

  it('Beam gives charnn sample --beam\'s text, and its log-probability in the message', async () => {
    const page = await open('names.html', '?prime=Mar&length=40&stop=%0A&beam=8&run');
    const text = await outputWhenDone(page);
    const result = await cli(['sample', '-c', model, '--beam', '8', '--prime', 'Mar', '-n', '40', '--stop', '\n']);
    expect(text).toBe(result.text);
    expect(text.startsWith('Mar')).toBe(true);
    const logprob = /log-probability (-?\d+\.\d{4}) nats/.exec(result.stderr)?.[1];
    expect(logprob, result.stderr).toBeDefined();
    await expect.poll(() => page.locator('#message').textContent()).toBe(
      `Log-probability ${logprob} nats (${(Number(logprob) / Math.LN2).toFixed(3)} bits), ended at the stop string; beam of 8.`,
    );
    await page.fill('#samples', '3');
    await page.click('#generate');
    await expect.poll(() => page.locator('#message').textContent()).toBe('Beam search gives one text: set Samples to 1, or empty the beam.');
    await page.close();
  });

  it('a damaged checkpoint, a file that is not one, and a text with nothing to learn each give their sentence', async () => {
    const page = await open('names.html');
    await page.waitForSelector('#model-info[data-bytes]');
    const bytes = readFileSync(model);
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 100] ^= 0x10; // a bit of the tensor data
    await page.setInputFiles('#load-file', { name: 'damaged.ckpt', mimeType: 'application/octet-stream', buffer: damaged });
    await expect.poll(() => page.locator('#message').textContent()).toMatch(/^Checkpoint 'damaged\.ckpt' is corrupt/);
    await page.setInputFiles('#load-file', { name: 'notes.ckpt', mimeType: 'application/octet-stream', buffer: Buffer.from('some notes, not a model\n') });
    await expect.poll(() => page.locator('#message').textContent()).toBe("'notes.ckpt' is not a charnn checkpoint (it does not start with the charnn magic bytes).");
    await page.setInputFiles('#load-file', { name: 'cut.ckpt', mimeType: 'application/octet-stream', buffer: bytes.subarray(0, 5000) });
    await expect.poll(() => page.locator('#message').textContent()).toMatch(/^Checkpoint 'cut\.ckpt' is truncated/);
    await page.setInputFiles('#train-file', { name: 'empty.txt', mimeType: 'text/plain', buffer: Buffer.alloc(0) });
    await expect.poll(() => page.locator('#train-file-info').textContent()).toContain('empty.txt');
    await page.click('#train');
    await expect.poll(() => page.locator('#message').textContent()).toBe("'empty.txt' is empty: there is nothing to learn from it.");
    await page.setInputFiles('#train-file', { name: 'aaa.txt', mimeType: 'text/plain', buffer: Buffer.from('a'.repeat(5000)) });
    await expect.poll(() => page.locator('#train-file-info').textContent()).toContain('aaa.txt');
    await page.click('#train');
    await expect.poll(() => page.locator('#message').textContent()).toBe("'aaa.txt' is one character ('a') repeated: there is nothing to learn from it.");
    // the page still works, with the model it had
    await page.fill('#seed', '3');
    await page.fill('#length', '40');
    await page.click('#generate');
    expect(await outputWhenDone(page)).toBe((await cli(['sample', '-c', model, '--seed', '3', '-n', '40'])).text);
    await page.close();
  });

  it('trains on a text: the validation loss falls, and the download is a checkpoint the CLI samples, the same text as the page', async () => {
    const page = await open('empty.html');
    await page.setInputFiles('#train-file', NAMES);
    await page.fill('#layers', '1');
    await page.fill('#hidden', '32');
    await trainInPage(page, 140); // validations at 66 and 132 (once per epoch) and at the end
    const valLosses = JSON.parse((await page.locator('#val-loss').getAttribute('data-history'))!) as number[];
    expect(valLosses).toHaveLength(3);
    expect(valLosses[2]).toBeLessThan(valLosses[0]);
    expect(valLosses[2]).toBeLessThan(Math.log(54) - 0.5); // well below a uniform guess over the 54 characters
    expect(await page.locator('#preview').textContent()).not.toBe('');
    const path = await downloadModel(page, 'trained.ckpt');
    const sampled = await cli(['sample', '-c', path, '-n', '200', '--seed', '9', '--temp', '0.7']);
    expect(sampled.text).toHaveLength(200);
    // the trained model is now the page's: Generate gives what the CLI gives from the download
    await page.fill('#seed', '9');
    await page.fill('#temp', '0.7');
    await page.fill('#length', '200');
    await page.click('#generate');
    expect(await outputWhenDone(page)).toBe(sampled.text);
    const info = await cli(['info', path]);
    expect(info.text + info.stderr).toContain('140');
    // the page's defaults are charnn train's: the CLI on one thread, on the same (WebAssembly) kernels as the page,
    // trains the same weights
    await cli(['train', NAMES, '--layers', '1', '--hidden', '32', '--max-iters', '140', '--threads', '1', '--checkpoint-dir', 'same', '--json'], { CHARNN_KERNELS: 'wasm' });
    const fromCli = await decodeCheckpoint(readFileSync(join(dir, 'same', readdirSync(join(dir, 'same')).sort().pop()!)), 'cli');
    const fromPage = await decodeCheckpoint(readFileSync(path), 'page');
    expect(fromPage.header.training).toEqual(fromCli.header.training);
    for (const [name, data] of fromCli.tensors) {
      expect(Buffer.from(fromPage.tensors.get(name)!.buffer).equals(Buffer.from(data.buffer)), name).toBe(true);
    }
    await page.close();
  });

  it('a bidirectional checkpoint offers Fill instead of Generate, and fills as charnn fill does', async () => {
    await cli(['train', NAMES, '--bidirectional', '--max-iters', '15', '--hidden', '16', '--layers', '1', '--checkpoint-dir', 'bi', '--json']);
    await cli(['web', '-c', 'bi', '-o', 'bi.html']);
    const page = await open('bi.html');
    await page.waitForSelector('#model-info[data-bytes]');
    expect(await page.locator('#fill-panel').isVisible()).toBe(true);
    expect(await page.locator('#generate-panel').isVisible()).toBe(false);
    expect(await page.locator('#message').textContent()).toMatch(/bidirectional model/);
    const gappy = 'Mar_a\nJo_n\nE__a\n';
    await page.fill('#fill-input', gappy);
    await page.click('#fill');
    await page.waitForSelector('#fill-output[data-state="done"]');
    const filled = (await page.locator('#fill-output').textContent())!;
    expect(filled).not.toContain('_');
    expect(filled).toBe((await cli(['fill', gappy, '-c', 'bi'])).text);
    await page.close();
  });

  it('a tab closed mid-training leaves its last whole checkpoint, which the next page offers', async () => {
    const context = await browser.newContext({ acceptDownloads: true });
    const url = pathToFileURL(join(dir, 'empty.html')).href;
    const first = await context.newPage();
    await first.goto(url);
    await first.setInputFiles('#train-file', NAMES);
    await first.fill('#layers', '1');
    await first.fill('#hidden', '16');
    await first.fill('#budget', '100000');
    await first.selectOption('#budget-unit', 'iterations');
    await first.click('#train');
    // two validations (66, 132) have happened, so the first one's checkpoint has surely reached the storage
    const validations = async () => (JSON.parse((await first.locator('#val-loss').getAttribute('data-history')) ?? '[]') as number[]).length;
    await expect.poll(validations, { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
    await first.close(); // mid-training: no beforeunload prompt in a test
    const second = await context.newPage();
    const errors: string[] = [];
    second.on('pageerror', (error) => errors.push(error.message));
    await second.goto(url);
    await second.waitForSelector('#kept:not([hidden])');
    const text = (await second.locator('#kept-text').textContent())!;
    expect(text).toMatch(/^A training run in this page did not finish .* Its last whole checkpoint, names_i\d{6}_v\d\.\d{4}\.ckpt \(.*, from the validation at iteration \d+\), was kept in this browser\.$/);
    const [download] = await Promise.all([second.waitForEvent('download'), second.click('#kept-download')]);
    const path = join(dir, 'kept.ckpt');
    await download.saveAs(path);
    const kept = await decodeCheckpoint(readFileSync(path), 'kept');
    expect((kept.header.iteration as number) % 66).toBe(0);
    expect(text).toContain(`iteration ${kept.header.iteration}`);
    await cli(['sample', '-c', path, '-n', '20', '--seed', '1']);
    await second.click('#kept-load');
    await expect.poll(() => second.locator('#model-name').textContent()).toBe(download.suggestedFilename());
    expect(await second.locator('#kept').isHidden()).toBe(true);
    // offered once: a third page finds nothing kept
    const third = await context.newPage();
    await third.goto(url);
    await third.waitForSelector('#model-info');
    await third.waitForTimeout(300);
    expect(await third.locator('#kept').isHidden()).toBe(true);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('two tabs training at once: neither offers the other\'s live run, and one finishing keeps the other\'s checkpoint', async () => {
    const context = await browser.newContext({ acceptDownloads: true });
    const url = pathToFileURL(join(dir, 'empty.html')).href;
    const startTraining = async (page: Page, iterations: number) => {
      await page.goto(url);
      await page.setInputFiles('#train-file', NAMES);
      await page.fill('#layers', '1');
      await page.fill('#hidden', '16');
      await page.fill('#budget', String(iterations));
      await page.selectOption('#budget-unit', 'iterations');
      await page.click('#train');
    };
    const validations = async (page: Page) => (JSON.parse((await page.locator('#val-loss').getAttribute('data-history')) ?? '[]') as number[]).length;
    const long = await context.newPage();
    await startTraining(long, 100_000);
    await expect.poll(() => validations(long), { timeout: 60_000 }).toBeGreaterThanOrEqual(2); // its checkpoint is kept
    // a second tab, opened while the first trains: nothing to offer (the first is alive), and it trains to the end
    const short = await context.newPage();
    await startTraining(short, 70);
    await short.waitForSelector('#train-status[data-state="done"]', { timeout: 60_000 });
    expect(await short.locator('#kept').isHidden()).toBe(true);
    await long.close();
    // the first tab's checkpoint outlived the second run's end, and is offered now that its tab is gone
    const third = await context.newPage();
    await third.goto(url);
    await third.waitForSelector('#kept:not([hidden])');
    const offered = (await third.locator('#kept-text').textContent())!;
    const iteration = Number(/^A training run in this page did not finish .*, from the validation at iteration (\d+)\), was kept in this browser\.$/.exec(offered)?.[1]);
    expect(iteration % 66, offered).toBe(0); // the long run's (it validates every 66; the short one ended at 70)
    expect(iteration).toBeGreaterThanOrEqual(132);
    await third.click('#kept-discard');
    await expect.poll(() => third.locator('#kept').isHidden()).toBe(true);
    const fourth = await context.newPage();
    await fourth.goto(url);
    await fourth.waitForSelector('#model-info');
    await fourth.waitForTimeout(300);
    expect(await fourth.locator('#kept').isHidden()).toBe(true);
    await context.close();
  });

  it('continuing a downloaded checkpoint gives exactly the uninterrupted run', async () => {
    const page = await open('empty.html');
    await page.setInputFiles('#train-file', NAMES);
    await page.fill('#layers', '1');
    await page.fill('#hidden', '24');
    await page.selectOption('#cell', 'gru');
    await trainInPage(page, 30);
    const whole = await downloadModel(page, 'whole.ckpt');
    await trainInPage(page, 12);
    const half = await downloadModel(page, 'half.ckpt');
    await page.setInputFiles('#load-file', half);
    await expect.poll(() => page.locator('#model-name').textContent()).toBe('half.ckpt');
    await trainInPage(page, 30, '#continue');
    expect(await page.locator('#run-info').textContent()).toContain('continuing at iteration 12');
    const resumed = await downloadModel(page, 'resumed.ckpt');

    const a = await decodeCheckpoint(readFileSync(whole), 'whole');
    const b = await decodeCheckpoint(readFileSync(resumed), 'resumed');
    expect(b.header.iteration).toBe(30);
    // it did continue: its history has the validation at the end of the first part, which the whole run lacks
    const iterationsOf = (h: Record<string, unknown>) => (h.history as Array<{ iter: number }>).map((p) => p.iter);
    expect(iterationsOf(b.header)).toEqual([12, 30]);
    expect(iterationsOf(a.header)).toEqual([30]);
    expect(b.header.randomState).toEqual(a.header.randomState);
    expect([...b.tensors.keys()]).toEqual([...a.tensors.keys()]);
    for (const [name, data] of a.tensors) {
      expect(Buffer.from((b.tensors.get(name)!).buffer).equals(Buffer.from(data.buffer)), name).toBe(true);
    }
    await page.close();
  });
});

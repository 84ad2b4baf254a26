// `npm run screenshots`: remakes the README's pictures of the two pages charnn writes, with the project's Chromium
// driver: examples/web-page.png (`charnn web`: a model trained in the page on data/names.txt, its chart, and names
// generated from it) and examples/inspect-page.png (`charnn inspect --html`, hovering a character). The models are
// trained here, seeded, so the pictures come out the same each time (up to timings shown in the page).
//
//   node dist/bench/screenshots.js [--out examples]

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { launchChromium } from './chromium.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'charnn.js');
const outFlag = process.argv.indexOf('--out');
const OUT = outFlag >= 0 ? process.argv[outFlag + 1] : join(ROOT, 'examples');
const NAMES = join(ROOT, 'data', 'names.txt');

const work = mkdtempSync(join(tmpdir(), 'charnn-shots-'));
function charnn(...args: string[]): string {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`charnn ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

mkdirSync(OUT, { recursive: true });
charnn('web', '-o', 'page.html');
// the quick start's model, for the inspect page
charnn('train', NAMES, '--checkpoint-dir', 'ck', '--json', '--threads', '1');
const model = join(work, 'ck', readdirSync(join(work, 'ck')).sort().pop()!);
writeFileSync(join(work, 'names.txt'), 'Marianne\nJosephine\nAlbert\nQuentin\nEmma\nTheodora\nZygmunt\nLucy\n');
charnn('inspect', 'names.txt', '-c', model, '--html', 'inspect.html');

const browser = await launchChromium();
try {
  // --- the charnn web page: train in it, then generate -----------------------------------------------------------
  const page = await browser.newPage({ viewport: { width: 1040, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(pathToFileURL(join(work, 'page.html')).href);
  await page.setInputFiles('#train-file', NAMES);
  await page.fill('#budget', '6');
  await page.selectOption('#budget-unit', 'epochs');
  await page.click('#train');
  await page.waitForSelector('#train-status[data-state="done"]', { timeout: 600_000 });
  await page.fill('#prime', '');
  await page.fill('#temp', '0.8');
  await page.fill('#length', '240');
  await page.fill('#seed', '2');
  await page.click('#generate');
  await page.waitForSelector('#output[data-state="done"]');
  await page.evaluate('document.getElementById("output").scrollTop = 0');
  await page.screenshot({ path: join(OUT, 'web-page.png'), fullPage: true });
  await page.close();

  // --- the inspect page, hovering a character ---------------------------------------------------------------------
  const inspect = await browser.newPage({ viewport: { width: 900, height: 720 }, deviceScaleFactor: 1 });
  await inspect.goto(pathToFileURL(join(work, 'inspect.html')).href);
  await inspect.waitForSelector('#text span[data-i]');
  await inspect.hover('#text span[data-i="57"]'); // the 'u' of "Lucy", on the last line: the tooltip opens below
  await inspect.waitForSelector('#tip', { state: 'visible' });
  await inspect.screenshot({ path: join(OUT, 'inspect-page.png') });
  await inspect.close();
} finally {
  await browser.close();
  rmSync(work, { recursive: true, force: true });
}
console.log(`wrote ${join(OUT, 'web-page.png')} and ${join(OUT, 'inspect-page.png')}`);

// `charnn web`: writes the self-contained browser page (built by src/browser/build.mjs into dist/browser/page.html)
// with, given -c, the model inside it as base64. The page works from file:// with no network request: generate,
// train, load. Written to a temp file and renamed, so a failed run never leaves half a page.

import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { CharnnError } from '../../core/errors.js';
import { printNote, style } from '../output.js';

export interface WebCliOptions {
  checkpoint?: string;
  output?: string;
}

const MODEL_MARKER = '<!-- charnn:model -->';

export function registerWebCommand(program: Command): void {
  program
    .command('web')
    .description('write one self-contained web page that generates, trains and loads models, offline, in the browser')
    .option('-c, --checkpoint <path>', 'embed this model: a checkpoint file, or a directory (its checkpoint with the lowest validation loss)')
    .option('-o, --output <page.html>', 'where to write the page (default: <run name>.html with -c, else charnn.html)')
    .addHelpText('after', `
Examples:
  charnn web -c checkpoints/ -o names.html
  charnn web                      # an empty page: train or load a model in it
The page reads settings from its URL: names.html?prime=Mar&temp=0.8&topk=5&length=300&seed=7&stop=%0A&run`)
    .action(async (options: WebCliOptions) => {
      await web(options);
    });
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

async function web(options: WebCliOptions): Promise<void> {
  const templateUrl = new URL('../../browser/page.html', import.meta.url);
  let page: string;
  try {
    page = await readFile(templateUrl, 'utf8');
  } catch {
    throw new CharnnError(`The page template ${templateUrl.pathname} is missing; build it with npm run build.`);
  }
  if (!page.includes(MODEL_MARKER)) throw new CharnnError(`The page template ${templateUrl.pathname} has no model marker; rebuild it with npm run build.`);
  const pageBytes = Buffer.byteLength(page);

  let outPath = options.output;
  let modelNote = 'no model inside (train or load one in the page)';
  if (options.checkpoint !== undefined) {
    const { resolveCheckpoint } = await import('../../node/checkpoint-files.js');
    const { decodeCheckpoint } = await import('../../core/checkpoint/format.js');
    const { expectedTensors, parseHeader } = await import('../../core/snapshot.js');
    const path = await resolveCheckpoint(options.checkpoint, 'best');
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      throw new CharnnError(`Cannot read checkpoint '${path}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
    }
    // checked end to end (header, tensor sizes, CRCs) before it goes into a page
    const { header } = await decodeCheckpoint(bytes, path, (raw) => expectedTensors(parseHeader(raw)));
    const runName = parseHeader(header).runName;
    const name = basename(path);
    const element = `<script id="charnn-model" type="application/octet-stream" data-name="${escapeAttribute(name)}">${bytes.toString('base64')}</script>`;
    page = page.split(MODEL_MARKER).join(element).replace('<title>charnn</title>', `<title>${escapeAttribute(runName)} · charnn</title>`);
    outPath ??= `${runName}.html`;
    modelNote = `${name} inside, ${(bytes.length / 1024).toFixed(0)} KB`;
  }
  outPath ??= 'charnn.html';

  const absolute = resolve(outPath);
  if (await isDirectory(absolute)) throw new CharnnError(`'${outPath}' is a directory; give a file name for the page with -o.`);
  const temp = `${absolute}.${process.pid}.tmp`;
  try {
    await writeFile(temp, page);
    await rename(temp, absolute);
  } catch (error) {
    await rm(temp, { force: true });
    throw new CharnnError(`Cannot write ${outPath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
  printNote(
    `Wrote ${style().bold(outPath)} (${(Buffer.byteLength(page) / 1024).toFixed(0)} KB: the page ${(pageBytes / 1024).toFixed(0)} KB, ${modelNote}); ` +
    `open ${pathToFileURL(absolute).href}`,
  );
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

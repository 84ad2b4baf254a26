// Bundles the browser side with esbuild (run by `npm run build`, after tsc):
//   dist/browser/charnn.js  the library, an ES module: `import { loadModelFrom, … } from 'charnn/browser'`
//   dist/browser/page.html  the `charnn web` page: its script and its worker's inlined, a strict CSP with their
//                           hashes, and a `<!-- charnn:model -->` marker where `charnn web -c` puts the model.
// Everything is bundled (the kernels' WebAssembly is in the JavaScript as base64), so nothing is fetched at run time.

import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const outDir = here('../../dist/browser/');
const pkg = JSON.parse(await readFile(here('../../package.json'), 'utf8'));

const common = { bundle: true, platform: 'browser', target: 'es2022', write: false, logLevel: 'warning', legalComments: 'none' };

async function bundle(entry, options) {
  const result = await build({ ...common, entryPoints: [here(entry)], ...options });
  return result.outputFiles[0].text;
}

const library = await bundle('./index.ts', { format: 'esm' });
const worker = await bundle('./page/worker.ts', { format: 'iife', minify: true });
const main = await bundle('./page/main.ts', { format: 'iife', minify: true });

// The page's promises, checked here so a broken page is never written: no Node import anywhere in what runs in
// the browser, and nothing in the inlined scripts that would end their <script> element early.
for (const [name, code] of [['charnn.js', library], ['worker', worker], ['page script', main]]) {
  const nodeImport = /\b(?:from\s*|import\s*\(\s*|require\s*\(\s*)["'](node:[^"']+|fs|path|os|worker_threads|v8|crypto)["']/.exec(code);
  if (nodeImport) throw new Error(`browser bundle ${name} imports ${nodeImport[1]}`);
}
for (const [name, code] of [['worker', worker], ['page script', main]]) {
  if (/<\/script|<!--/i.test(code)) throw new Error(`the ${name} contains "</script" or "<!--", which would break the inlined page`);
}

const sha256 = (text) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
let template = await readFile(here('./page/page.html'), 'utf8');
const style = /<style>([\s\S]*?)<\/style>/.exec(template)[1];
const csp = [
  "default-src 'none'",
  `script-src ${sha256(main)} 'wasm-unsafe-eval'`,
  'worker-src blob:',
  `style-src ${sha256(style)}`,
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');
// split/join rather than replace: a bundle may contain `$&`-like sequences that String.replace would interpret
const fill = (text, marker, value) => text.split(marker).join(value);
template = fill(template, '{{CSP}}', csp);
template = fill(template, '{{VERSION}}', pkg.version);
template = fill(template, '{{WORKER}}', worker);
template = fill(template, '{{MAIN}}', main);

await mkdir(outDir, { recursive: true });
await writeFile(`${outDir}charnn.js`, library);
await writeFile(`${outDir}page.html`, template);
const kb = (text) => `${(Buffer.byteLength(text) / 1024).toFixed(0)} KB`;
console.log(`wrote dist/browser/charnn.js (${kb(library)}) and dist/browser/page.html (${kb(template)}: worker ${kb(worker)}, page script ${kb(main)})`);

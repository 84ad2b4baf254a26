// `npm run bench:browser`: training and sampling throughput of charnn in a web page (Chromium, one Web Worker,
// the charnn/browser bundle: plain-memory WebAssembly kernels) beside the CLI's code on one thread (the Node
// platform, as `charnn train --threads 1` and `charnn sample` run it), in one run, taking turns so that the shared
// machine's load hits both alike. 2×128 LSTM, tiny-shakespeare, B 50 × T 50, Adagrad. A benchmark, not a test.
//
//   node dist/bench/browser.js [--repeats 7] [--iters 20] [--chars 20000] [--data PATH]

import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import '../node/platform.js';
import { corpusFromText } from '../core/data/corpus.js';
import { modelFromBytes } from '../core/lm.js';
import { defaultKernels, trainingKernels } from '../core/platform.js';
import { sampleIds } from '../core/sample.js';
import { TrainingRun } from '../core/train.js';
import { build } from 'esbuild';
import { launchChromium } from './chromium.js';

const args = process.argv.slice(2);
const valueOf = (flag: string) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const REPEATS = Number(valueOf('--repeats') ?? 7);
const ITERS = Number(valueOf('--iters') ?? 20);        // training steps per timed repeat
const CHARS = Number(valueOf('--chars') ?? 20_000);    // sampled characters per timed repeat
const DATA = valueOf('--data') ?? fileURLToPath(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../browser/charnn.js', import.meta.url));
const B = 50, T = 50;
const SETTINGS = { cell: 'lstm', layers: 2, hiddenSize: 128, batchSize: B, seqLength: T, seed: 0, corpusName: 'tinyshakespeare.txt' } as const;

if (!existsSync(DATA)) {
  console.error(`bench:browser: no corpus at ${DATA} (tiny-shakespeare is expected in ../shared/data next to the repository; --data PATH)`);
  process.exit(1);
}
const text = readFileSync(DATA, 'utf8');

// --- the CLI's side: the Node platform, one thread ------------------------------------------------------------

const corpus = corpusFromText(text);
const nodeRun = TrainingRun.create({
  corpus,
  model: { cell: 'lstm', layers: 2, hiddenSize: 128, dropout: 0 },
  training: {
    batchSize: B, seqLength: T, optimizer: 'adagrad', lr: 0.05, gradClip: 5, lrDecay: 0.97, lrDecayAfter: 10,
    valFrac: 0.1, evalEvery: 1e9, valBatches: 100, seed: 0,
  },
  runName: 'bench', corpusName: 'tinyshakespeare.txt', threads: 1,
});
const nodeModel = await modelFromBytes(nodeRun.checkpointBytes());
let nodeSeed = 0;
const node = {
  train(iters: number): number {
    const start = performance.now();
    for (let i = 0; i < iters; i++) nodeRun.step();
    return (iters * B * T) / ((performance.now() - start) / 1000);
  },
  sample(chars: number): number {
    const start = performance.now();
    let count = 0;
    for (const _ of sampleIds(nodeModel.net, nodeModel.vocab, { length: chars, temperature: 1, seed: nodeSeed++ })) count++;
    if (count !== chars) throw new Error('sampler stopped early');
    return chars / ((performance.now() - start) / 1000);
  },
};

// --- the page's side: Chromium, the bundle in one worker -------------------------------------------------------

// The ES module bundle as a classic script (a blob: module worker may not import from a data: URL), as the
// charnn web page's worker has it: the same code, wrapped so that its exports land on `charnn`.
const classic = await build({ entryPoints: [BUNDLE], bundle: true, format: 'iife', globalName: 'charnn', write: false, logLevel: 'warning' });
const WORKER = `${classic.outputFiles[0].text}
let run, model, seed = 0;
self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'setup') {
      run = charnn.createTrainingRun(data.text, data.settings);
      model = await charnn.modelFromBytes(run.checkpointBytes());
      self.postMessage({ kernels: run.net.kernels.name + ' / ' + model.net.kernels.name, isolated: self.crossOriginIsolated });
    } else if (data.type === 'train') {
      const start = performance.now();
      for (let i = 0; i < data.iters; i++) run.step();
      self.postMessage({ rate: data.iters * run.charsPerIteration / ((performance.now() - start) / 1000) });
    } else if (data.type === 'sample') {
      const start = performance.now();
      let count = 0;
      for (const _ of charnn.sampleIds(model.net, model.vocab, { length: data.chars, temperature: 1, seed: seed++ })) count++;
      self.postMessage({ rate: count / ((performance.now() - start) / 1000) });
    }
  } catch (error) {
    self.postMessage({ error: String(error && error.stack || error) });
  }
};`;

const browser = await launchChromium();
const page = await browser.newPage();
await page.goto('about:blank');
const version = browser.version();
type Reply = { rate?: number; error?: string; kernels?: string; isolated?: boolean };
await page.evaluate(`(() => {
  const url = URL.createObjectURL(new Blob([${JSON.stringify(WORKER)}], { type: 'text/javascript' }));
  globalThis.benchWorker = new Worker(url);
  globalThis.ask = (message) => new Promise((resolve) => {
    globalThis.benchWorker.onmessage = ({ data }) => resolve(data);
    globalThis.benchWorker.onerror = (event) => resolve({ error: 'the worker failed: ' + event.message });
    globalThis.benchWorker.postMessage(message);
  });
})()`);
const ask = async (message: unknown): Promise<Reply> => {
  const reply = (await page.evaluate(`globalThis.ask(${JSON.stringify(message)})`)) as Reply;
  if (reply.error) throw new Error(`in the page: ${reply.error}`);
  return reply;
};
const setup = await ask({ type: 'setup', text, settings: SETTINGS });
const web = {
  train: async (iters: number) => (await ask({ type: 'train', iters })).rate!,
  sample: async (chars: number) => (await ask({ type: 'sample', chars })).rate!,
};

// --- measure --------------------------------------------------------------------------------------------------

console.log(`charnn bench:browser: Node ${process.version} (kernels ${trainingKernels().name} for training, ${defaultKernels().name} for sampling, 1 thread)`);
console.log(`  beside Chromium ${version}, one Web Worker, cross-origin isolated: ${setup.isolated} (kernels ${setup.kernels})`);
console.log(`  2×128 LSTM, tiny-shakespeare, B ${B} × T ${T}, Adagrad; ${ITERS} steps and ${CHARS} sampled characters per repeat, ${REPEATS} repeats, taking turns`);
console.log(`  load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

// warm-up: JIT, first allocations
node.train(3);
await web.train(3);
node.sample(2000);
await web.sample(2000);

const rates = { nodeTrain: [] as number[], webTrain: [] as number[], nodeSample: [] as number[], webSample: [] as number[] };
for (let r = 0; r < REPEATS; r++) {
  rates.nodeTrain.push(node.train(ITERS));
  rates.webTrain.push(await web.train(ITERS));
  rates.nodeSample.push(node.sample(CHARS));
  rates.webSample.push(await web.sample(CHARS));
}
await browser.close();

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
const k = (x: number) => `${(x / 1000).toFixed(1)}k`;
const cell = (v: number[]) => `${k(median(v))} (${k(Math.min(...v))}–${k(Math.max(...v))})`;
// the ratio of each turn's pair, so a load change between turns cancels
const ratios = (a: number[], b: number[]) => a.map((x, i) => x / b[i]);
const ratioCell = (v: number[]) => `${median(v).toFixed(2)}× (${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)})`;

console.log('');
console.log('                  CLI code, 1 thread (chars/s)   page, 1 worker (chars/s)   page / CLI, per turn (median, min–max)');
console.log(`training          ${cell(rates.nodeTrain).padEnd(31)}${cell(rates.webTrain).padEnd(27)}${ratioCell(ratios(rates.webTrain, rates.nodeTrain))}`);
console.log(`sampling          ${cell(rates.nodeSample).padEnd(31)}${cell(rates.webSample).padEnd(27)}${ratioCell(ratios(rates.webSample, rates.nodeSample))}`);
console.log('');
console.log(`load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

// The `charnn web` page: Generate (settings in the URL, so a link reproduces a text), Train (a live chart, a
// download that `charnn sample -c` reads, continue training exactly), Load (any .ckpt; a bidirectional model fills
// instead). All computing happens in the Web Worker built from the inlined bundle (worker.ts); this file only
// reads the form and draws.

import { drawChart, type Series } from './chart.js';
import { forgetCheckpoint, keptCheckpoints } from './kept.js';
import type { FromWorker, ModelInfo, SampleRequest, ToWorker, TrainBudgetRequest, TrainSettings } from './protocol.js';

const CHECKPOINT_MAGIC = [0x89, 0x52, 0x4e, 0x4e, 0x0d, 0x0a, 0x1a, 0x0a];

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`page: no #${id}`);
  return element as T;
};
const input = (id: string) => $<HTMLInputElement>(id);
const button = (id: string) => $<HTMLButtonElement>(id);

// --- the worker ------------------------------------------------------------------------------------------------

const workerSource = $('charnn-worker').textContent ?? '';
const worker = new Worker(URL.createObjectURL(new Blob([workerSource], { type: 'text/javascript' })));
const send = (message: ToWorker, transfer: Transferable[] = []) => worker.postMessage(message, transfer);

type Job = 'idle' | 'load' | 'sample' | 'fill' | 'train';
let job: Job = 'idle';
let model: ModelInfo | null = null;
let trainingText: { name: string; bytes: ArrayBuffer } | null = null;
let lastCheckpoint: { bytes: ArrayBuffer; name: string } | null = null;
let pendingRun = false; // the URL asked to generate at once, as soon as a model is there

// --- messages --------------------------------------------------------------------------------------------------

function say(text: string, kind: 'error' | 'info' = 'error'): void {
  const box = $('message');
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = text === '';
}

/** Says what is wrong with a field; null, for the reader that gives up. */
function invalid(message: string): null {
  say(message);
  return null;
}

// --- formatting ------------------------------------------------------------------------------------------------

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function formatRate(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
}

function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

/** The stop field shows control characters as escapes (\n, \t, \r, \\); the URL carries the string itself. */
function unescapeField(text: string): string {
  return text.replace(/\\(n|t|r|\\)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c === 'r' ? '\r' : '\\'));
}
function escapeField(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r');
}

// --- state of the controls -------------------------------------------------------------------------------------

function refresh(): void {
  const idle = job === 'idle';
  const generative = model !== null && !model.bidirectional;
  button('generate').disabled = !idle || !generative;
  button('halt').disabled = job !== 'sample';
  button('fill').disabled = !idle || !model;
  button('train').disabled = !idle || !trainingText;
  button('continue').disabled = !idle || !trainingText || !model;
  button('train-stop').disabled = job !== 'train';
  button('download-model').disabled = !(job === 'train' || lastCheckpoint);
  $('fill-panel').hidden = !(model && model.bidirectional);
  $('generate-panel').hidden = !!(model && model.bidirectional);
  document.body.dataset.job = job;
}

function showModel(info: ModelInfo): void {
  model = info;
  const where = info.origin === 'embedded' ? 'embedded in this page' : info.origin === 'trained' ? 'trained in this page' : 'loaded from a file';
  const kind = `${info.bidirectional ? 'bidirectional ' : ''}${info.cell.toUpperCase()} ${info.layers}×${info.hiddenSize}`;
  const loss = info.valLoss !== null ? `, validation loss ${info.valLoss.toFixed(3)}` : '';
  $('model-name').textContent = info.name;
  $('model-info').textContent =
    `${kind} · ${info.vocabSize} characters · ${formatBytes(info.bytes)} · ${info.iteration} iterations on ${info.corpusName.replace(/^.*[/\\]/, '')}${loss} · ${where}`;
  $('model-info').dataset.bytes = String(info.bytes);
  if (info.bidirectional) {
    say('This is a bidirectional model: it fills in missing characters from both sides, so it cannot write text left to right. Use Fill below.', 'info');
  } else {
    say('');
  }
  refresh();
}

// --- Generate --------------------------------------------------------------------------------------------------

// The text streams in as blocks of about BLOCK_CHARS, each ending at a line break (so it renders as one text), and
// is drawn at most once a frame: appending to one huge text node would lay all of it out again for every chunk,
// and a long sample would freeze the page. #output's text content is the text, exactly.
const output = $('output');
const BLOCK_CHARS = 4096;
let block: Text | null = null;
let blockEndsLine = false;
let pendingOutput = '';
let flushScheduled = false;

function clearOutput(): void {
  output.replaceChildren();
  block = null;
  pendingOutput = '';
}

function appendOutput(text: string): void {
  pendingOutput += text;
  if (!flushScheduled) {
    flushScheduled = true;
    requestAnimationFrame(flushOutput);
  }
}

function flushOutput(): void {
  flushScheduled = false;
  const follow = output.scrollHeight - output.scrollTop - output.clientHeight < 80;
  let text = pendingOutput;
  pendingOutput = '';
  while (text !== '') {
    if (!block || (block.length >= BLOCK_CHARS && blockEndsLine)) {
      const element = document.createElement('div');
      block = document.createTextNode('');
      element.append(block);
      output.append(element);
    }
    // fill the block, then run on to the next line break
    const room = BLOCK_CHARS - block.length;
    const newline = room > text.length ? -1 : text.indexOf('\n', Math.max(0, room - 1));
    const take = room > text.length || newline < 0 ? text.length : newline + 1;
    block.appendData(text.slice(0, take));
    blockEndsLine = text.charCodeAt(take - 1) === 10;
    text = text.slice(take);
  }
  if (follow) output.scrollTop = output.scrollHeight;
}

function readSampleRequest(): SampleRequest | null {
  const temperature = Number(input('temp').value);
  if (input('temp').value.trim() === '' || !(temperature >= 0 && temperature <= 100)) return invalid('The temperature must be a number from 0 to 100.');
  const length = Number(input('length').value);
  if (!(Number.isSafeInteger(length) && length >= 1)) return invalid('The length must be a whole number of characters, at least 1.');
  const topKText = input('topk').value.trim();
  const topK = topKText === '' ? undefined : Number(topKText);
  if (topK !== undefined && !(Number.isSafeInteger(topK) && topK >= 1)) return invalid('Top-k must be a whole number of at least 1, or empty for all characters.');
  const topPText = input('topp').value.trim();
  const topP = topPText === '' ? undefined : Number(topPText);
  if (topP !== undefined && !(topP > 0 && topP <= 1)) return invalid('Top-p must be a number above 0 and at most 1, or empty for all characters.');
  const seedText = input('seed').value.trim();
  // as the CLI: a random seed when none is given, shown in the form (and the URL) so the text can be made again
  const seed = seedText === '' ? Math.floor(Math.random() * 2 ** 31) : Number(seedText);
  if (!(Number.isSafeInteger(seed) && seed >= 0)) return invalid('The seed must be a whole number (0 or more), or empty for a random one.');
  if (seedText === '') input('seed').value = String(seed);
  const stop = unescapeField(input('stop').value);
  const prime = input('prime').value;
  const samples = Number(input('samples').value.trim() || '1');
  if (!(Number.isSafeInteger(samples) && samples >= 1 && samples <= MAX_SAMPLES)) {
    return invalid(`Samples must be a whole number from 1 to ${MAX_SAMPLES.toLocaleString('en-US')}.`);
  }
  const beamText = input('beam').value.trim();
  const beam = beamText === '' ? undefined : Number(beamText);
  if (beam !== undefined && !(Number.isSafeInteger(beam) && beam >= 1 && beam <= MAX_BEAM)) {
    return invalid(`The beam must be a whole number from 1 to ${MAX_BEAM.toLocaleString('en-US')}, or empty for sampling.`);
  }
  if (beam !== undefined && samples > 1) return invalid('Beam search gives one text: set Samples to 1, or empty the beam.');
  const request: SampleRequest = { prime: prime === '' ? undefined : prime, temperature, topK, topP, length, seed, stop: stop === '' ? undefined : stop };
  if (samples > 1) request.samples = samples;
  if (beam !== undefined) request.beam = beam;
  return request;
}

/** The widest beam the page searches (a step runs beam-width rows). */
const MAX_BEAM = 1000;

/** Samples side by side the page makes at once (the CLI has no limit; the page's are made in one uninterruptible call). */
const MAX_SAMPLES = 10_000;

/** The settings as URL parameters (prime, temp, topk, topp, length, seed, stop, samples above 1, beam; run generates). */
function linkFor(request: SampleRequest, run: boolean): string {
  const params = new URLSearchParams();
  if (request.prime !== undefined) params.set('prime', request.prime);
  params.set('temp', String(request.temperature));
  if (request.topK !== undefined) params.set('topk', String(request.topK));
  if (request.topP !== undefined) params.set('topp', String(request.topP));
  params.set('length', String(request.length));
  params.set('seed', String(request.seed));
  if (request.stop !== undefined) params.set('stop', request.stop);
  if (request.samples !== undefined) params.set('samples', String(request.samples));
  if (request.beam !== undefined) params.set('beam', String(request.beam));
  let query = params.toString();
  if (run) query += '&run';
  return `${location.href.split(/[?#]/)[0]}?${query}`;
}

function generate(): void {
  if (!model || model.bidirectional || job !== 'idle') return;
  const request = readSampleRequest();
  if (!request) return;
  say('');
  try {
    history.replaceState(null, '', linkFor(request, false));
  } catch {
    // some browsers refuse to rewrite a file:// URL; the link button still gives it
  }
  clearOutput();
  output.dataset.state = 'running';
  job = 'sample';
  refresh();
  send({ type: 'sample', request });
}

function applyUrlSettings(): void {
  const params = new URLSearchParams(location.search);
  const set = (name: string, id: string, transform = (v: string) => v) => {
    const value = params.get(name);
    if (value !== null) input(id).value = transform(value);
  };
  set('prime', 'prime');
  set('temp', 'temp');
  set('topk', 'topk');
  set('topp', 'topp');
  set('length', 'length');
  set('seed', 'seed');
  set('stop', 'stop', escapeField);
  set('samples', 'samples');
  set('beam', 'beam');
  pendingRun = params.has('run');
}

function download(data: BlobPart, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function copy(text: string, what: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    say(`${what} copied.`, 'info');
  } catch {
    say(`The browser did not allow copying; select the ${what.toLowerCase()} and copy it by hand.`);
  }
}

// --- Train -----------------------------------------------------------------------------------------------------

const chartCanvas = $<HTMLCanvasElement>('chart');
let trainSeries: Series = { label: 'training', color: '#2563eb', points: [] };
let valSeries: Series = { label: 'validation', color: '#ea580c', points: [], dots: true };
let chartXMax = 0;
let runStartIteration = 0; // where this session's training began (a continued run starts part way)
const redraw = () => drawChart(chartCanvas, [trainSeries, valSeries], chartXMax);

function readBudget(): TrainBudgetRequest | null {
  const value = Number(input('budget').value);
  const unit = $<HTMLSelectElement>('budget-unit').value;
  if (!(value > 0 && Number.isFinite(value))) return invalid('The budget must be a positive number.');
  if (unit === 'iterations') {
    if (!Number.isSafeInteger(value)) return invalid('A budget in iterations must be a whole number.');
    return { maxIters: value };
  }
  if (unit === 'epochs') return { epochs: value };
  return { timeLimitMs: value * (unit === 'minutes' ? 60_000 : 1000) };
}

function readTrainSettings(): TrainSettings | null {
  const whole = (id: string, what: string, min: number, max: number): number | null => {
    const v = Number(input(id).value);
    if (!(Number.isSafeInteger(v) && v >= min && v <= max)) return invalid(`${what} must be a whole number from ${min} to ${max}.`);
    return v;
  };
  const layers = whole('layers', 'Layers', 1, 16);
  const hiddenSize = whole('hidden', 'The hidden size', 1, 4096);
  const seqLength = whole('seq-length', 'The sequence length', 1, 10_000);
  const seed = whole('train-seed', 'The seed', 0, Number.MAX_SAFE_INTEGER);
  if (layers === null || hiddenSize === null || seqLength === null || seed === null) return null;
  return { cell: $<HTMLSelectElement>('cell').value as TrainSettings['cell'], layers, hiddenSize, seqLength, seed };
}

function startTraining(kind: 'train' | 'continue'): void {
  if (job !== 'idle' || !trainingText) return;
  const budget = readBudget();
  if (!budget) return;
  say('');
  const text = trainingText.bytes.slice(0);
  if (kind === 'train') {
    const settings = readTrainSettings();
    if (!settings) return;
    send({ type: 'train', text, corpusName: trainingText.name, settings, budget }, [text]);
  } else {
    send({ type: 'continue', text, corpusName: trainingText.name, budget }, [text]);
  }
  job = 'train';
  lastCheckpoint = null;
  $('train-status').textContent = 'Starting…';
  $('train-status').dataset.state = 'running';
  refresh();
}

function setTrainingText(file: File): void {
  file.arrayBuffer().then((bytes) => {
    trainingText = { name: file.name, bytes };
    $('train-file-info').textContent = `${file.name} · ${formatBytes(bytes.byteLength)}`;
    say('');
    refresh();
  }, () => say(`The file '${file.name}' could not be read.`));
}

// --- Load ------------------------------------------------------------------------------------------------------

async function isCheckpoint(file: File): Promise<boolean> {
  if (file.name.toLowerCase().endsWith('.ckpt')) return true;
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  return head.length === 8 && CHECKPOINT_MAGIC.every((b, i) => head[i] === b);
}

function loadCheckpoint(file: File): void {
  if (job !== 'idle') return void say('Wait for the current job to finish (or stop it) before loading a model.');
  file.arrayBuffer().then((bytes) => {
    job = 'load';
    refresh();
    send({ type: 'load', bytes, name: file.name, origin: 'file' }, [bytes]);
  }, () => say(`The file '${file.name}' could not be read.`));
}

async function takeFiles(files: FileList | null): Promise<void> {
  for (const file of Array.from(files ?? [])) {
    if (await isCheckpoint(file)) loadCheckpoint(file);
    else setTrainingText(file);
  }
}

// --- from the worker -------------------------------------------------------------------------------------------

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const m = event.data;
  switch (m.type) {
    case 'model':
      if (job === 'load') job = 'idle';
      showModel(m.info);
      if (pendingRun && !m.info.bidirectional && job === 'idle') {
        pendingRun = false;
        generate();
      }
      break;
    case 'text':
      appendOutput(m.text);
      break;
    case 'done':
      job = 'idle';
      flushOutput(); // all of the text is in #output before it says done
      output.dataset.state = m.stopped ? 'stopped' : 'done';
      if (m.note) say(m.note, 'info');
      refresh();
      break;
    case 'filled':
      job = 'idle';
      $('fill-output').textContent = m.text;
      $('fill-output').dataset.state = 'done';
      if (m.leftContextOnly) say('This model reads left to right, so it filled each gap from the text before it only.', 'info');
      refresh();
      break;
    case 'run':
      trainSeries = { ...trainSeries, points: m.history.filter((p) => p.loss !== null).map((p) => [p.iter, p.loss as number]) };
      valSeries = { ...valSeries, points: m.history.filter((p) => p.valLoss !== undefined).map((p) => [p.iter, p.valLoss as number]) };
      $('run-info').textContent = `${m.runName}: ${m.description}${m.iteration > 0 ? `, continuing at iteration ${m.iteration}` : ''}`;
      chartXMax = 0;
      runStartIteration = m.iteration;
      redraw();
      break;
    case 'progress': {
      const p = m.progress;
      trainSeries.points.push([p.iteration, p.loss]);
      chartXMax = Number.isFinite(p.totalIters) ? p.totalIters : 0;
      const remaining = Number.isFinite(p.totalIters)
        ? (p.totalIters - p.iteration) * (p.elapsedMs / Math.max(1, p.iteration - runStartIteration))
        : (p.timeLimitMs ?? Infinity) - p.elapsedMs;
      const of = Number.isFinite(p.totalIters) ? ` of ${p.totalIters}` : '';
      $('train-status').textContent =
        `iteration ${p.iteration}${of} · epoch ${p.epoch.toFixed(2)} · loss ${p.loss.toFixed(3)} · ${formatRate(p.charsPerSec)} chars/s · ETA ${formatDuration(remaining)}`;
      redraw();
      break;
    }
    case 'eval':
      valSeries.points.push([m.iteration, m.valLoss]);
      $('val-loss').textContent = m.valLoss.toFixed(4);
      $('val-loss').dataset.history = JSON.stringify(valSeries.points.map((p) => p[1]));
      redraw();
      break;
    case 'preview':
      $('preview').textContent = m.text;
      $('preview-title').textContent = `Sample at iteration ${m.iteration} (temperature 0.8)`;
      break;
    case 'checkpoint':
      if (m.final) {
        job = 'idle';
        lastCheckpoint = { bytes: m.bytes, name: m.name };
        $('train-status').dataset.state = 'done';
        $('train-status').textContent += ` · done: ${m.name} (${formatBytes(m.bytes.byteLength)})`;
        refresh();
      } else {
        download(m.bytes, m.name, 'application/octet-stream');
      }
      break;
    case 'error':
      if (m.job === 'sample') {
        flushOutput();
        output.dataset.state = 'error';
      }
      if (m.job === 'train') $('train-status').dataset.state = 'error';
      if (m.job !== 'checkpoint') job = 'idle';
      say(m.message);
      refresh();
      break;
  }
};

worker.onerror = (event) => {
  job = 'idle';
  say(`The worker failed: ${event.message}`);
  refresh();
};

// --- wiring ----------------------------------------------------------------------------------------------------

$('generate-form').addEventListener('submit', (event) => {
  event.preventDefault();
  generate();
});
button('halt').addEventListener('click', () => send({ type: 'stop' }));
button('copy').addEventListener('click', () => void copy(output.textContent ?? '', 'Text'));
button('download-text').addEventListener('click', () => download(output.textContent ?? '', 'sample.txt', 'text/plain;charset=utf-8'));
button('share').addEventListener('click', () => {
  const request = readSampleRequest();
  if (request) void copy(linkFor(request, true), 'Link');
});
button('fill').addEventListener('click', () => {
  if (job !== 'idle') return;
  job = 'fill';
  refresh();
  send({ type: 'fill', text: $<HTMLTextAreaElement>('fill-input').value });
});
button('train').addEventListener('click', () => startTraining('train'));
button('continue').addEventListener('click', () => startTraining('continue'));
button('train-stop').addEventListener('click', () => send({ type: 'stop' }));
button('download-model').addEventListener('click', () => {
  if (job === 'train') send({ type: 'checkpoint' });
  else if (lastCheckpoint) download(lastCheckpoint.bytes, lastCheckpoint.name, 'application/octet-stream');
});
input('train-file').addEventListener('change', () => void takeFiles(input('train-file').files));
input('load-file').addEventListener('change', () => void takeFiles(input('load-file').files));

document.addEventListener('dragover', (event) => {
  event.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', (event) => {
  if (event.relatedTarget === null) document.body.classList.remove('dragging');
});
document.addEventListener('drop', (event) => {
  event.preventDefault();
  document.body.classList.remove('dragging');
  void takeFiles(event.dataTransfer?.files ?? null);
});

// Closing the tab ends a run: the browser asks first. What Download gives is always a whole checkpoint.
window.addEventListener('beforeunload', (event) => {
  if (job === 'train') event.preventDefault();
});
window.addEventListener('resize', redraw);

// --- a run the last tab did not finish ---------------------------------------------------------------------------

async function offerKept(): Promise<void> {
  const [first, ...others] = await keptCheckpoints();
  if (!first) return;
  const { key, kept } = first;
  $('kept-text').textContent =
    `A training run in this page did not finish (its tab was closed or reloaded). Its last whole checkpoint, ` +
    `${kept.name} (${formatBytes(kept.bytes.byteLength)}, from the validation at iteration ${kept.iteration}), was kept in this browser.` +
    (others.length > 0 ? ` ${others.length} more ${others.length === 1 ? 'run was' : 'runs were'} kept as well: each is offered after this one.` : '');
  $('kept').hidden = false;
  const done = () => {
    $('kept').hidden = true;
    void forgetCheckpoint(key).then(offerKept);
  };
  button('kept-download').onclick = () => download(kept.bytes, kept.name, 'application/octet-stream');
  button('kept-load').onclick = () => {
    if (job !== 'idle') return void say('Wait for the current job to finish (or stop it) before loading a model.');
    lastCheckpoint = { bytes: kept.bytes.slice(0), name: kept.name };
    job = 'load';
    refresh();
    send({ type: 'load', bytes: kept.bytes.slice(0), name: kept.name, origin: 'file' });
    done();
  };
  button('kept-discard').onclick = done;
}

// --- start -----------------------------------------------------------------------------------------------------

applyUrlSettings();
refresh();
redraw();
void offerKept();
const embedded = document.getElementById('charnn-model');
if (embedded) {
  const base64 = (embedded.textContent ?? '').trim();
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  job = 'load';
  send({ type: 'load', bytes: bytes.buffer, name: embedded.dataset.name ?? 'model.ckpt', origin: 'embedded' }, [bytes.buffer]);
} else if (pendingRun) {
  say('This link generates text, but this page has no model in it: load a .ckpt file (Load, below) and it will.', 'info');
}

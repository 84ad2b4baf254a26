// `npm run bench`: charnn against PyTorch at its best on this machine, side by side in one run. For each
// configuration (B 50 × T 50, tiny-shakespeare, V 65, Adagrad, clip 5): training chars/s of every charnn kernel set
// that is available (CHARNN_KERNELS=native, wasm, …) on 1 and 2 threads, PyTorch on 1 and 2 threads and the better
// of the two, the ratios to that, and the GFLOP/s each achieves beside the machine's sgemm peak measured in the same
// run; then single-stream sampling, charnn against PyTorch's step-by-step loop.
//
// Every contender runs in its own long-lived process (src/bench/arm.ts for a charnn kernel set, the `serve` mode of
// src/bench/torch_reference.py for PyTorch at one thread count), warmed up, and answers one timed run per request;
// the bench asks them in turns (A B C A B C …, the order rotating each round) so a change in the machine's load hits
// every contender alike. Rates are the median of the repeats with min–max beside it. A contender whose process fails
// is reported in the table, not fatal. A benchmark, not a test.
//
//   node dist/bench/run.js [--quick] [--repeats N] [--no-torch] [--data PATH] [--only lstm-2x128,...]
//                          [--kernels native,wasm]

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gateWidth, type CellType } from '../core/cells/workspace.js';

interface Config {
  name: string;
  cell: CellType;
  layers: number;
  hidden: number;
  bidirectional?: boolean; // the masked bidirectional model (charnn only: no PyTorch twin, no sampling)
  trainIters: number;  // steps per timed repeat
  sampleChars: number; // characters per timed repeat
}

const B = 50, T = 50, V = 65;
const CONFIGS: Config[] = [
  { name: 'lstm-2x128', cell: 'lstm', layers: 2, hidden: 128, trainIters: 20, sampleChars: 10000 },
  { name: 'lstm-3x512', cell: 'lstm', layers: 3, hidden: 512, trainIters: 3, sampleChars: 1000 },
  { name: 'gru-2x128', cell: 'gru', layers: 2, hidden: 128, trainIters: 20, sampleChars: 10000 },
  { name: 'rnn-2x128', cell: 'rnn', layers: 2, hidden: 128, trainIters: 40, sampleChars: 10000 },
  { name: 'bilstm-2x128', cell: 'lstm', layers: 2, hidden: 128, bidirectional: true, trainIters: 10, sampleChars: 0 },
];
/** The kernel sets tried, fastest first; a set whose process reports other kernels or fails is listed as unavailable. */
const KERNEL_SETS = ['native', 'wasm'];

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const { values: options } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    repeats: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    data: { type: 'string', default: `${repoRoot}../shared/data/tinyshakespeare.txt` },
    only: { type: 'string' },
    kernels: { type: 'string', default: KERNEL_SETS.join(',') },
  },
});
const quick = options.quick!;
const REPEATS = Number(options.repeats ?? (quick ? 2 : 5));
const scale = quick ? 0.25 : 1; // --quick: shorter timed runs
const dataPath = options.data!;
const only = options.only?.split(',');
const kernelSets = options.kernels!.split(',').filter(Boolean);
const PYTHON = '/usr/bin/python3';
const TORCH_SCRIPT = `${repoRoot}src/bench/torch_reference.py`;
const ARM_SCRIPT = fileURLToPath(new URL('./arm.js', import.meta.url));
const REQUEST_TIMEOUT_MS = 15 * 60_000;

const log = (message: string) => process.stderr.write(`${message}\n`);

// --- contenders in child processes -----------------------------------------------------------------------------

interface Timing { units: number; wall: number; cpu: number }

/** A child process speaking the bench's JSON-lines protocol: a first line when ready, then one reply per request. */
class Contender {
  private readonly child: ChildProcess;
  private readonly lines: AsyncIterator<string>;
  private stderrTail = '';
  failure: string | null = null;

  constructor(readonly label: string, command: string, argv: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(command, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (chunk: Buffer) => { this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000); });
    this.child.on('error', (error) => { this.failure ??= error.message; });
    this.lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
  }

  /** Its next line as JSON, or null (and `failure` set) when it exits, stops answering or says {"error"}. */
  async next(): Promise<Record<string, unknown> | null> {
    if (this.failure) return null;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), REQUEST_TIMEOUT_MS); });
    const result = await Promise.race([this.lines.next(), timeout]);
    clearTimeout(timer);
    if (result === 'timeout') return this.fail(`no answer within ${REQUEST_TIMEOUT_MS / 60_000} min`);
    if (result.done) {
      const lastErr = this.stderrTail.trim().split('\n').filter(Boolean).pop();
      return this.fail(`exited${this.child.exitCode !== null ? ` with status ${this.child.exitCode}` : ''}${lastErr ? `: ${lastErr}` : ''}`);
    }
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(result.value) as Record<string, unknown>;
    } catch {
      return this.fail(`answered something that is not JSON: ${result.value.slice(0, 120)}`);
    }
    if (typeof message.error === 'string') return this.fail(message.error);
    return message;
  }

  async request(job: object): Promise<Timing | null> {
    if (this.failure) return null;
    this.child.stdin!.write(`${JSON.stringify(job)}\n`);
    return (await this.next()) as Timing | null;
  }

  private fail(reason: string): null {
    this.failure = reason;
    log(`  ${this.label}: ${reason}`);
    this.close();
    return null;
  }

  close(): void {
    if (this.child.exitCode === null && !this.child.killed) {
      this.child.stdin!.end();
      this.child.kill();
    }
  }
}

function charnnContender(set: string, config: Config): Contender {
  const argv = [
    ARM_SCRIPT, '--cell', config.cell, '--layers', String(config.layers), '--hidden', String(config.hidden),
    '--train-iters', String(Math.max(1, Math.round(config.trainIters * scale))),
    '--sample-chars', String(Math.round(config.sampleChars * scale)), '--data', dataPath,
    ...(config.bidirectional ? ['--bidirectional'] : []),
  ];
  return new Contender(`charnn ${set}`, process.execPath, argv, { ...process.env, CHARNN_KERNELS: set });
}

function torchContender(threads: number, config: Config | null): Contender {
  const model = config
    ? ['--jobs', 'train,sample', '--model', config.cell, '--layers', String(config.layers), '--hidden', String(config.hidden),
      '--iters', String(Math.max(1, Math.round(config.trainIters * scale))), '--chars', String(Math.round(config.sampleChars * scale)),
      '--warmup', '1', '--data', dataPath, '--batch', String(B), '--seq', String(T), '--vocab', String(V)]
    : ['--jobs', 'sgemm'];
  return new Contender(`torch ${threads}t`, PYTHON, [TORCH_SCRIPT, 'serve', '--threads', String(threads), ...model], process.env);
}

/** Why PyTorch cannot run here, or null when it can. */
function torchMissing(): string | null {
  if (options['no-torch']) return 'skipped (--no-torch)';
  if (!existsSync(PYTHON)) return `skipped: ${PYTHON} not found`;
  if (spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) return `skipped: ${PYTHON} cannot import torch`;
  return null;
}

// --- measuring ---------------------------------------------------------------------------------------------------

interface Arm { key: string; contender: Contender; job: object }

interface Rate { median: number; min: number; max: number; cpu: number; runs: number }

/** REPEATS rounds; in each, every arm runs once, the order rotated by one each round. Rates in units per second. */
async function measure(arms: Arm[]): Promise<Map<string, Rate | string>> {
  const samples = new Map<string, Timing[]>(arms.map((arm) => [arm.key, []]));
  for (let round = 0; round < REPEATS; round++) {
    for (let i = 0; i < arms.length; i++) {
      const arm = arms[(i + round) % arms.length];
      const timing = await arm.contender.request(arm.job);
      if (timing) samples.get(arm.key)!.push(timing);
    }
  }
  const out = new Map<string, Rate | string>();
  for (const arm of arms) {
    const timings = samples.get(arm.key)!;
    if (arm.contender.failure || timings.length === 0) {
      out.set(arm.key, `failed: ${arm.contender.failure ?? 'no runs'}`);
      continue;
    }
    const rates = timings.map((t) => t.units / t.wall);
    out.set(arm.key, {
      median: median(rates), min: Math.min(...rates), max: Math.max(...rates),
      cpu: median(timings.map((t) => t.units / t.cpu)), runs: rates.length,
    });
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Floating-point operations of the GEMMs in one training step (forward + backward), 2 per multiply-add. With
 * N = B·T rows, G gates and D directions (2 bidirectional): each layer and direction has an input GEMM (N×I·I×G,
 * I = D·H above the first layer, none for the first: its one-hot input is a row lookup) and, over the T steps, the
 * recurrent products (N×H·H×G); backward does each twice (dW and dX): 3·N·G·(I + H) multiply-adds. The output
 * layer: N·D·H·V forward, twice that backward.
 */
export function trainingStepFlops(
  cell: CellType, layers: number, H: number, vocab: number, batch: number, steps: number, bidirectional = false,
): number {
  const N = batch * steps;
  const G = gateWidth(cell, H);
  const D = bidirectional ? 2 : 1;
  let macs = 3 * N * D * H * vocab;
  for (let l = 0; l < layers; l++) macs += D * 3 * N * G * ((l === 0 ? 0 : D * H) + H);
  return 2 * macs;
}

// --- output --------------------------------------------------------------------------------------------------------

const k = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0));
const rateCell = (r: Rate | string | undefined) => (r === undefined ? '—' : typeof r === 'string' ? r : `${k(r.median)} (${k(r.min)}–${k(r.max)})`);
const isRate = (r: Rate | string | undefined): r is Rate => typeof r === 'object';
const ratio = (a: Rate | string | undefined, b: Rate | string | undefined) => (isRate(a) && isRate(b) ? `${(a.median / b.median).toFixed(2)}×` : '—');

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)) + 2);
  return [header, ...rows].map((row) => row.map((c, i) => c.padEnd(widths[i])).join('').trimEnd()).join('\n');
}

/** The better of two rates and which one it is. */
function better(one: Rate | string | undefined, two: Rate | string | undefined): { rate: Rate | string | undefined; threads: number | null } {
  if (isRate(one) && isRate(two)) return one.median >= two.median ? { rate: one, threads: 1 } : { rate: two, threads: 2 };
  if (isRate(one)) return { rate: one, threads: 1 };
  if (isRate(two)) return { rate: two, threads: 2 };
  return { rate: one ?? two, threads: null };
}

// --- the run -------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(dataPath)) {
    log(`bench: no corpus at ${dataPath} (tiny-shakespeare lives in ../shared/data next to the repository; --data PATH).`);
    process.exitCode = 1;
    return;
  }
  const missing = torchMissing();
  const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
  const cpuInfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const family = /cpu family\s*:\s*(\d+)/.exec(cpuInfo)?.[1], modelNo = /model\s*:\s*(\d+)/.exec(cpuInfo)?.[1];
  console.log(`charnn bench: Node ${process.version}, ${cpus().length} × ${cpuModel}${family ? ` (family ${family} model ${modelNo})` : ''}`);
  console.log(`B ${B} × T ${T}, V ${V}, Adagrad, clip 5; median of ${REPEATS} interleaved repeats (min–max)${quick ? ', --quick' : ''}`);
  console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other processes skew wall-clock rates)`);

  // the machine's sgemm peak, with PyTorch's BLAS set up as for PyTorch's runs
  let peak: Map<string, Rate | string> = new Map();
  if (!missing) {
    log('sgemm peak …');
    const peakers = [1, 2].map((threads) => torchContender(threads, null));
    const ready = await Promise.all(peakers.map((c) => c.next()));
    const setups = ready.filter((r) => r !== null).map((r) => r.setup as Record<string, unknown>);
    if (setups.length > 0) {
      const setup = setups[0];
      const flush = setups.map((s) => Object.entries(s.flush_verified as Record<string, boolean>)
        .map(([n, ok]) => `${n} thread${n === '1' ? '' : 's'} ${ok ? 'verified' : 'NOT on every thread'}`)).flat().join(', ');
      console.log(`PyTorch ${String(setup.torch)}: OpenBLAS core ${String(setup.core)}${setup.coretype_set ? ` (OPENBLAS_CORETYPE=${String(setup.coretype_set)}; by itself it picked ${String(setup.core_detected)})` : ' (its own choice)'}; ` +
        `subnormals flushed: ${flush}; OMP_WAIT_POLICY=${String(setup.omp_wait_policy)}`);
    }
    peak = await measure(peakers.map((contender, i) => ({ key: `${i + 1}`, contender, job: { job: 'sgemm' } })));
    for (const c of peakers) c.close();
    const g = (r: Rate | string | undefined) => (isRate(r) ? `${(r.median / 1e9).toFixed(0)} GFLOP/s (${(r.min / 1e9).toFixed(0)}–${(r.max / 1e9).toFixed(0)})` : rateCell(r));
    console.log(`sgemm peak (numpy/OpenBLAS 2048³, as PyTorch is set up): 1 thread ${g(peak.get('1'))}, 2 threads ${g(peak.get('2'))}`);
  } else {
    console.log(`PyTorch: ${missing}`);
  }
  console.log('');

  const trainRows: string[][] = [];
  const sampleRows: string[][] = [];
  const unavailable = new Map<string, string>();
  for (const config of CONFIGS) {
    if (only && !only.includes(config.name)) continue;
    log(`${config.name}: starting contenders …`);
    const charnn = kernelSets.filter((set) => !unavailable.has(set)).map((set) => ({ set, contender: charnnContender(set, config) }));
    const torch = missing || config.bidirectional ? [] : [1, 2].map((threads) => torchContender(threads, config));
    const trainArms: Arm[] = [];
    const sampleArms: Arm[] = [];
    const threads2 = new Map<string, number>();
    for (const { set, contender } of charnn) {
      const ready = await contender.next();
      if (!ready) {
        unavailable.set(set, contender.failure ?? 'failed');
        continue;
      }
      const name = String(ready.kernels);
      if (!name.startsWith(set)) {
        unavailable.set(set, `CHARNN_KERNELS=${set} ran ${name}`);
        contender.close();
        continue;
      }
      threads2.set(set, Number(ready.threads2));
      trainArms.push({ key: `${set} 1`, contender, job: { job: 'train', threads: 1 } });
      if (Number(ready.threads2) === 2) trainArms.push({ key: `${set} 2`, contender, job: { job: 'train', threads: 2 } });
      if (!config.bidirectional) sampleArms.push({ key: set, contender, job: { job: 'sample' } });
    }
    const torchReady: Array<boolean> = [];
    for (const [i, contender] of torch.entries()) {
      torchReady.push((await contender.next()) !== null);
      if (!torchReady[i]) continue;
      trainArms.push({ key: `torch ${i + 1}`, contender, job: { job: 'train' } });
      sampleArms.push({ key: `torch ${i + 1}`, contender, job: { job: 'sample' } });
    }
    log(`${config.name}: training …`);
    const train = await measure(trainArms);
    log(`${config.name}: sampling …`);
    const sample = await measure(sampleArms);
    for (const { contender } of charnn) contender.close();
    for (const contender of torch) contender.close();

    const torchBest = better(train.get('torch 1'), train.get('torch 2'));
    const torchFailed = missing ?? (torchReady.some((ok) => !ok) ? `failed: ${torch.find((c) => c.failure)?.failure}` : undefined);
    const flops = trainingStepFlops(config.cell, config.layers, config.hidden, V, B, T, config.bidirectional) / (B * T); // per character
    const gflops = (r: Rate | string | undefined, threads: number | null) => {
      if (!isRate(r) || threads === null) return '—';
      const g = (r.median * flops) / 1e9;
      const p = peak.get(String(threads));
      return `${g.toFixed(1)}${isRate(p) ? ` (${((100 * g * 1e9) / p.median).toFixed(0)}% of ${threads}t peak)` : ''}`;
    };
    for (const { set } of charnn) {
      if (unavailable.has(set)) continue;
      const one = train.get(`${set} 1`);
      const two = threads2.get(set) === 2 ? train.get(`${set} 2`) : 'no 2-thread run with these kernels';
      const best = better(one, two);
      trainRows.push([
        config.name, `charnn ${set}`, rateCell(one), rateCell(two), best.threads ? `${best.threads}t` : '—',
        ratio(best.rate, torchBest.rate), ratio(one, train.get('torch 1')), ratio(two, train.get('torch 2')), gflops(best.rate, best.threads),
      ]);
      if (!config.bidirectional) sampleRows.push([config.name, `charnn ${set}`, rateCell(sample.get(set)), ratio(sample.get(set), better(sample.get('torch 1'), sample.get('torch 2')).rate)]);
    }
    if (config.bidirectional) {
      trainRows.push([config.name, 'torch', '(no PyTorch twin of the masked bidirectional model)', '', '', '', '', '', '']);
    } else if (torchFailed && !isRate(torchBest.rate)) {
      trainRows.push([config.name, 'torch', torchFailed, '', '', '', '', '', '']);
    } else {
      trainRows.push([
        config.name, 'torch', rateCell(train.get('torch 1')), rateCell(train.get('torch 2')), torchBest.threads ? `${torchBest.threads}t` : '—',
        '1.00×', '', '', gflops(torchBest.rate, torchBest.threads),
      ]);
      const sampleBest = better(sample.get('torch 1'), sample.get('torch 2'));
      sampleRows.push([config.name, `torch (1t ${rateCell(sample.get('torch 1'))}, 2t ${rateCell(sample.get('torch 2'))})`, rateCell(sampleBest.rate) + (sampleBest.threads ? ` ${sampleBest.threads}t` : ''), '1.00×']);
    }
  }

  console.log('Training, chars/s; ratios against PyTorch at its best (the better of its 1 and 2 threads); GFLOP/s of the');
  console.log(`step's GEMMs (forward + backward) at the better thread count, beside the sgemm peak at that count`);
  console.log(table(['config', 'implementation', '1 thread', '2 threads', 'best', '/torch best', '1t/torch 1t', '2t/torch 2t', 'GFLOP/s (best)'], trainRows));
  console.log('');
  console.log('Sampling, one stream, temperature 1, chars/s');
  console.log(table(['config', 'implementation', 'chars/s', '/torch best'], sampleRows));
  for (const [set, why] of unavailable) console.log(`kernels ${set}: unavailable (${why})`);
  console.log('');
  console.log(`load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

await main();

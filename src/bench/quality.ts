// `npm run bench:quality`: the best model each recipe makes in a wall-clock budget, on this machine, in one run.
// Contenders, each a process of its own, one at a time on a machine left otherwise alone:
// - charnn: `charnn train <corpus> --time <budget>` (the plan for the budget; every other option its default,
//   except --val-batches 0 so its validation loss is over the whole validation split);
// - gpt: a small GPT as nanoGPT's CPU configuration, in PyTorch (src/bench/quality_reference.py);
// - lstm: char-rnn in PyTorch with charnn's former default recipe (2×128, Adagrad 0.05, per-epoch decay).
// Every number is the validation loss (nats per character) of the contender's best validation, over the whole
// held-out last 10% of the corpus. PyTorch runs at its best (quality_reference.py), with the better of 1 and 2
// threads measured at the start. Runs take turns (charnn, gpt, lstm, charnn, …) so a change in the machine's load
// hits all alike; each cell shows the median of the runs and their min–max. A benchmark, not a test.
//
//   node dist/bench/quality.js [--budgets 100s,10m] [--long] [--runs 3] [--corpora shakespeare,typescript]
//                              [--only charnn,gpt,lstm] [--out results.jsonl [--resume]] [--parallel]
//
// --out appends each run's result as a JSON line when it ends; with --resume the runs already in that file are
// not run again, and count in the table (so a bench stopped part way goes on where it stopped).
//
// The default (2 corpora × 2 budgets × 3 runs × 3 contenders) takes about 3.5 hours; --long adds the 30-minute
// budget (another 4.5 hours).

import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const SHAKESPEARE = join(repoRoot, '..', 'shared', 'data', 'tinyshakespeare.txt');
/** The second corpus: code, not prose. TypeScript's compiler (a locked dev dependency), cut to tiny-shakespeare's length. */
const TYPESCRIPT_SOURCE = join(repoRoot, 'node_modules', 'typescript', 'lib', 'typescript.js');
const CORPUS_CHARS = 1_115_394;

const { values: options } = parseArgs({
  options: {
    budgets: { type: 'string', default: '100s,10m' },
    long: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    corpora: { type: 'string', default: 'shakespeare,typescript' },
    only: { type: 'string', default: 'charnn,gpt,lstm' },
    out: { type: 'string' },
    resume: { type: 'boolean', default: false },
    parallel: { type: 'boolean', default: false },
  },
});
/**
 * --parallel: two runs at a time, each on one thread pinned to a core of its own (taskset), which halves the
 * bench's time on a 2-core machine. PyTorch then runs on 1 thread; the bench says when 2 would have been faster.
 */
const parallel = options.parallel!;

type Contender = 'charnn' | 'gpt' | 'lstm';
interface Result { corpus: string; budget: string; contender: Contender; seed: number; valLoss: number; detail: string }

function seconds(budget: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)$/.exec(budget);
  if (!m) throw new Error(`A budget is a number with s, m or h, e.g. 100s or 10m; got '${budget}'.`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
}

function corpusPath(name: string, work: string): string {
  if (name === 'shakespeare') {
    if (!existsSync(SHAKESPEARE)) throw new Error(`tiny-shakespeare is not at ${SHAKESPEARE}.`);
    return SHAKESPEARE;
  }
  if (name === 'typescript') {
    const path = join(work, 'typescript.txt');
    const text = Array.from(readFileSync(TYPESCRIPT_SOURCE, 'utf8')).slice(0, CORPUS_CHARS).join('');
    writeFileSync(path, text);
    return path;
  }
  if (existsSync(name)) return name;
  throw new Error(`Unknown corpus '${name}': shakespeare, typescript, or a file path.`);
}

/** Runs a command, resolving with its stdout; its stderr goes to ours with a prefix. */
function run(command: string, args: string[], label: string, core?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = core === undefined ? [command, args] : ['taskset', ['-c', String(core), command, ...args]];
    const child = spawn(cmd, argv, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let lastErr = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      lastErr = (lastErr + text).slice(-2000);
      for (const line of text.split(/\r|\n/)) if (/^(Plan|Re-planned|Training|Done|Best|gpt iter|lstm iter|torch )/.test(line)) process.stderr.write(`  [${label}] ${line}\n`);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${label} exited with ${code}: ${lastErr.trim().split('\n').pop()}`))));
  });
}

const PYTHON = '/usr/bin/python3';
const REFERENCE = join(repoRoot, 'src', 'bench', 'quality_reference.py');

/** PyTorch's better thread count for this model and corpus, each measured in its own process. */
async function bestThreads(model: 'gpt' | 'lstm', corpus: string): Promise<{ threads: number; rates: string }> {
  const rates: Array<{ threads: number; rate: number }> = [];
  for (const threads of [1, 2]) {
    const out = await run(PYTHON, [REFERENCE, 'speed', '--model', model, '--data', corpus, '--threads', String(threads)], `${model} speed`);
    const r = JSON.parse(out.trim().split('\n').pop()!) as { chars_per_sec: number };
    rates.push({ threads, rate: r.chars_per_sec });
  }
  const best = rates.reduce((a, b) => (b.rate > a.rate ? b : a));
  return { threads: best.threads, rates: rates.map((r) => `${r.threads}t ${Math.round(r.rate)}`).join(', ') };
}

async function runCharnn(corpus: string, budget: string, seed: number, work: string, core?: number): Promise<Omit<Result, 'corpus' | 'budget' | 'contender' | 'seed'>> {
  const dir = mkdtempSync(join(work, 'ck-'));
  try {
    const out = await run(process.execPath, [join(repoRoot, 'bin', 'charnn.js'), 'train', corpus, '--time', budget, '--seed', String(seed),
      '--val-batches', '0', '--checkpoint-dir', dir, '--json', ...(core === undefined ? [] : ['--threads', '1'])], 'charnn', core);
    const vals = out.trim().split('\n').map((l) => JSON.parse(l) as { iter: number; val_loss?: number }).filter((e) => e.val_loss !== undefined);
    const best = vals.reduce((a, b) => (b.val_loss! < a.val_loss! ? b : a));
    const last = JSON.parse(out.trim().split('\n').pop()!) as { iter: number };
    return { valLoss: best.val_loss!, detail: `best at iteration ${best.iter} of ${last.iter}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runReference(model: 'gpt' | 'lstm', corpus: string, budget: string, seed: number, threads: number, core?: number): Promise<Omit<Result, 'corpus' | 'budget' | 'contender' | 'seed'>> {
  const out = await run(PYTHON, [REFERENCE, 'run', '--model', model, '--data', corpus, '--budget', String(seconds(budget)),
    '--seed', String(seed), '--threads', String(threads)], model, core);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { val_loss: number; best_iter: number; iterations: number };
  return { valLoss: r.val_loss, detail: `best at iteration ${r.best_iter} of ${r.iterations}, ${threads} thread${threads > 1 ? 's' : ''}` };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const budgets = options.budgets!.split(',').concat(options.long ? ['30m'] : []);
  budgets.forEach(seconds);
  const runs = Number(options.runs);
  const contenders = options.only!.split(',') as Contender[];
  if (options.resume && !options.out) throw new Error('--resume goes on from the results in --out <file>: give the file.');
  const earlier: Result[] = options.resume && existsSync(options.out!)
    ? readFileSync(options.out!, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Result)
    : [];
  const jobKey = (r: { corpus: string; budget: string; seed: number; contender: string }) => `${r.corpus}|${r.budget}|${r.seed}|${r.contender}`;
  const done = new Set(earlier.map(jobKey));
  const work = mkdtempSync(join(tmpdir(), 'charnn-quality-'));
  console.log(`# charnn bench:quality — ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, load ${loadavg()[0].toFixed(2)} at start`);
  console.log(`# budgets ${budgets.join(', ')}; ${runs} runs per cell; validation loss in nats per character over the whole last 10%`);
  const results: Result[] = earlier.filter((r) => budgets.includes(r.budget) && contenders.includes(r.contender) && options.corpora!.split(',').includes(r.corpus));
  if (options.resume) console.log(`# --resume: ${results.length} runs already in ${options.out}`);
  try {
    // every corpus's PyTorch thread counts first; then the runs, a seed at a time across corpora and contenders,
    // so a bench stopped part way has the same runs of every cell
    const corpora = new Map<string, { path: string; threads: Partial<Record<'gpt' | 'lstm', number>> }>();
    for (const corpusName of options.corpora!.split(',')) {
      const corpus = { path: corpusPath(corpusName, work), threads: {} as Partial<Record<'gpt' | 'lstm', number>> };
      corpora.set(corpusName, corpus);
      for (const model of ['gpt', 'lstm'] as const) {
        if (!contenders.includes(model)) continue;
        const best = await bestThreads(model, corpus.path);
        corpus.threads[model] = best.threads;
        console.log(`# ${corpusName}: PyTorch ${model} chars/s ${best.rates} → ${best.threads} thread${best.threads > 1 ? 's' : ''}` +
          (parallel ? (best.threads > 1 ? ' (WARNING: --parallel runs it on 1 thread, below its best)' : '; --parallel: every run on 1 thread, two at a time') : ''));
      }
    }
    const jobs: Array<{ corpusName: string; budget: string; seed: number; contender: Contender }> = [];
    for (const budget of budgets) {
      for (let seed = 1; seed <= runs; seed++) for (const corpusName of corpora.keys()) for (const contender of contenders) {
        if (!done.has(jobKey({ corpus: corpusName, budget, seed, contender }))) jobs.push({ corpusName, budget, seed, contender });
      }
    }
    const runJob = async ({ corpusName, budget, seed, contender }: (typeof jobs)[number], core?: number) => {
      const { path, threads } = corpora.get(corpusName)!;
      const started = Date.now();
      const r = contender === 'charnn' ? await runCharnn(path, budget, seed, work, core)
        : await runReference(contender, path, budget, seed, core === undefined ? threads[contender]! : 1, core);
      const result: Result = { corpus: corpusName, budget, contender, seed, ...r };
      results.push(result);
      if (options.out) appendFileSync(options.out, `${JSON.stringify(result)}\n`);
      console.log(`${corpusName}\t${budget}\t${contender}\tseed ${seed}\t${r.valLoss.toFixed(4)}\t(${r.detail}; ${((Date.now() - started) / 1000).toFixed(0)} s)`);
    };
    if (!parallel) {
      for (const job of jobs) await runJob(job);
    } else {
      // two lanes, one per core, each taking the next job when it is free
      let next = 0;
      const lane = async (core: number) => {
        while (next < jobs.length) await runJob(jobs[next++], core);
      };
      await Promise.all([lane(0), lane(1)]);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log('\n| corpus | budget | ' + contenders.join(' | ') + ' |');
  console.log('|---|---|' + contenders.map(() => '---|').join(''));
  const cells = new Map<string, number[]>();
  for (const r of results) cells.set(`${r.corpus}|${r.budget}|${r.contender}`, [...(cells.get(`${r.corpus}|${r.budget}|${r.contender}`) ?? []), r.valLoss]);
  for (const corpusName of options.corpora!.split(',')) {
    for (const budget of budgets) {
      const row = contenders.map((c) => {
        const xs = cells.get(`${corpusName}|${budget}|${c}`) ?? [];
        return xs.length ? `${median(xs).toFixed(3)} (${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)})` : '—';
      });
      console.log(`| ${corpusName} | ${budget} | ${row.join(' | ')} |`);
    }
  }
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exitCode = 1;
});

// `charnn train --time`: the plan for the budget on the first line, what it chose in the checkpoint, options the
// user gave kept, --no-plan keeping the defaults, and a resumed planned run finishing its planned time.
// Budgets of a few seconds on the generated corpus, one thread, so the file runs in well under a minute.

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCharnn } from './helpers/cli.js';
import { readCheckpointInfo } from '../src/node/checkpoint-files.js';
import { parseHeader } from '../src/core/snapshot.js';
import { CharnnError } from '../src/core/errors.js';

let work: string;
let corpus: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'charnn-plan-'));
  corpus = join(work, 'text.txt');
  // 60k characters of a fixed pseudo-random word text
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'far', 'away', 'home'];
  let state = 7;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let text = '';
  while (text.length < 60_000) text += Array.from({ length: 4 + Math.floor(next() * 6) }, () => words[Math.floor(next() * words.length)]).join(' ') + '.\n';
  writeFileSync(corpus, text);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const charnn = (args: string[]) => runCharnn(args, { cwd: ROOT });

/** Starts charnn, sends SIGINT (Ctrl-C) after `ms`, and resolves with its exit code and stderr. */
/**
 * Runs charnn and sends it SIGINT `ms` after its first line on stdout (a --json run's first iteration): counted from
 * the start instead, a loaded machine (the whole suite on two cores) sometimes sent it before the CLI was
 * listening, and Node's default handler ended the process (code null, not 130).
 */
function interruptAfter(args: string[], ms: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', () => {
      timer ??= setTimeout(() => child.kill('SIGINT'), ms);
    });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stderr });
    });
  });
}

async function headerOfOnlyRun(dir: string) {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ckpt')).sort();
  return parseHeader((await readCheckpointInfo(join(dir, files[files.length - 1]))).header);
}

describe('charnn train --time (planned)', () => {
  it('says its plan first, trains the model it planned with the schedule it planned, and keeps to the time', async () => {
    const dir = join(work, 'planned');
    const started = performance.now();
    const r = await charnn(['train', corpus, '--time', '4s', '--threads', '1', '--checkpoint-dir', dir]);
    const seconds = (performance.now() - started) / 1000;
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines[0]).toMatch(/^Plan for 4(\.0)?s on this machine: lstm 2×(\d+), .*characters per parameter.*dropout [\d.]+.*warm-up/);
    const hidden = Number(/lstm 2×(\d+)/.exec(lines[0])![1]);
    const h = await headerOfOnlyRun(dir);
    expect(h.model.hiddenSize).toBe(hidden);
    expect(h.training.schedule).toMatchObject({ finalLrFrac: 0.02, decayStart: 0.8 });
    expect(h.training.schedule!.endMs).toBeGreaterThan(3000);
    expect(h.training.schedule!.endMs).toBeLessThanOrEqual(4000);
    // the measurement is part of the budget: calibration + training + the last validation and save
    expect(h.elapsedMs).toBeGreaterThanOrEqual(h.training.schedule!.endMs! - 50);
    // … and stops there: what comes after the time is up is one step, the last validation and the save
    expect(h.elapsedMs).toBeLessThan(4000 + 1000);
    expect(seconds).toBeGreaterThan(4);
  });

  it('keeps what the user gave: --hidden, --dropout and the schedule options', async () => {
    const dir = join(work, 'given');
    const r = await charnn(['train', corpus, '--time', '2s', '--hidden', '24', '--dropout', '0.15', '--warmup', '7', '--decay-start', '0.5',
      '--threads', '1', '--checkpoint-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n')[0]).toMatch(/^Plan for 2(\.0)?s on this machine: lstm 2×24, hidden size 24 as given; dropout 0.15/);
    const h = await headerOfOnlyRun(dir);
    expect(h.model).toMatchObject({ hiddenSize: 24, dropout: 0.15 });
    expect(h.training.schedule).toMatchObject({ warmupIters: 7, decayStart: 0.5 });
  });

  it('--no-plan keeps the defaults and char-rnn\'s schedule, and only stops at the time', async () => {
    const dir = join(work, 'unplanned');
    const r = await charnn(['train', corpus, '--time', '1s', '--no-plan', '--threads', '1', '--checkpoint-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/^Plan/m);
    const h = await headerOfOnlyRun(dir);
    expect(h.model).toMatchObject({ hiddenSize: 128, layers: 2, dropout: 0 });
    expect(h.training.schedule).toBeUndefined();
  });

  it('a planned run interrupted and resumed without a budget trains to its planned end', async () => {
    const dir = join(work, 'resumed');
    const first = await interruptAfter(['train', corpus, '--time', '4s', '--hidden', '16', '--json', '--threads', '1', '--checkpoint-dir', dir], 1000);
    expect(first.code, first.stderr).toBe(130);
    const before = await headerOfOnlyRun(dir);
    const endMs = before.training.schedule!.endMs!;
    expect(before.elapsedMs).toBeLessThan(endMs - 500);
    const resumed = await charnn(['train', '--resume', dir, '--json', '--threads', '1']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const after = await headerOfOnlyRun(dir);
    expect(after.training.schedule).toEqual(before.training.schedule);
    expect(after.elapsedMs).toBeGreaterThanOrEqual(endMs);
    expect(after.elapsedMs).toBeLessThan(endMs + 1500); // the last step, validation and save
    // the rate followed the plan to its floor: the last iteration's rate is the schedule's end
    const last = JSON.parse(resumed.text.trim().split('\n').pop()!) as { lr: number };
    expect(last.lr).toBeLessThan(0.05 * 0.1);
    const again = await charnn(['train', '--resume', dir, '--threads', '1']);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toMatch(/^charnn: The run has already trained for its planned \S+; give --time, --max-iters or --epochs to train further\.$/);
  });

  it('--lr-schedule cosine without --time decays over the iteration budget', async () => {
    const dir = join(work, 'cosine-iters');
    const r = await charnn(['train', corpus, '--lr-schedule', 'cosine', '--max-iters', '6', '--hidden', '8', '--json', '--threads', '1', '--checkpoint-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    const rates = r.text.trim().split('\n').map((l) => (JSON.parse(l) as { lr: number }).lr);
    expect(rates).toHaveLength(6);
    for (let i = 0; i < 6; i++) expect(rates[i]).toBeCloseTo(0.05 * (0.02 + (0.98 * (1 + Math.cos((Math.PI * i) / 6))) / 2), 12);
    expect((await headerOfOnlyRun(dir)).training.schedule).toEqual({ warmupIters: 0, finalLrFrac: 0.02, endIters: 6 });
  });

  it('a checkpoint whose schedule is damaged is refused in one sentence, not a TypeError', async () => {
    const dir = join(work, 'damaged');
    const r = await charnn(['train', corpus, '--lr-schedule', 'cosine', '--max-iters', '2', '--hidden', '8', '--threads', '1', '--checkpoint-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    const file = readdirSync(dir).find((f) => f.endsWith('.ckpt'))!;
    const raw = (await readCheckpointInfo(join(dir, file))).header;
    const withSchedule = (schedule: unknown) => ({ ...raw, training: { ...(raw.training as object), schedule } });
    expect(() => parseHeader(withSchedule(null))).toThrow(CharnnError);
    expect(() => parseHeader(withSchedule(null))).toThrow('training.schedule: A learning-rate schedule must be an object');
    expect(() => parseHeader(withSchedule({ warmupIters: 0, finalLrFrac: 0.02 }))).toThrow('needs one planned end');
    expect(() => parseHeader(withSchedule({ warmupIters: 0, finalLrFrac: 0.02, endIters: 5, endMs: 9 }))).toThrow('needs one planned end');
    expect(() => parseHeader(withSchedule({ warmupIters: 0, finalLrFrac: 2, endIters: 5 }))).toThrow('final learning-rate fraction');
    expect(parseHeader(withSchedule({ warmupIters: 0, finalLrFrac: 0.02, decayStart: 0.8, endIters: 5 })).training.schedule!.decayStart).toBe(0.8);
  });

  it('refuses schedule options without the cosine schedule', async () => {
    const r = await charnn(['train', corpus, '--max-iters', '3', '--warmup', '5', '--checkpoint-dir', join(work, 'x')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('charnn: --warmup applies to the cosine schedule; add --lr-schedule cosine.');
  });
});

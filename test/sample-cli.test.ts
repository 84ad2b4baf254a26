// charnn sample's many-sample, novelty, prime-file and beam options, end to end on tiny models.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCharnn } from './helpers/cli.js';

const TINY = ['--hidden', '16', '--layers', '1', '--batch-size', '4', '--seq-length', '16', '--threads', '1'];
const ITEMS = ['anna', 'bob', 'eve', 'otto', 'ada', 'nan'];

let work: string;
let namesCk: string;
let itemsCk: string;
let itemsPath: string;

const charnn = (args: string[], options: { input?: string; env?: Record<string, string> } = {}) => runCharnn(args, { cwd: work, ...options });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'charnn-sample-'));
  namesCk = join(work, 'names-ck');
  itemsCk = join(work, 'items-ck');
  // a corpus of six names repeated: a model trained on it mostly copies them
  let state = 7;
  const lines: string[] = [];
  for (let i = 0; i < 600; i++) lines.push(ITEMS[(state = (state * 48271) % 2147483647) % ITEMS.length]);
  itemsPath = join(work, 'items.txt');
  writeFileSync(itemsPath, `${lines.join('\n')}\n`);
  const [names, items] = await Promise.all([
    charnn(['train', join(ROOT, 'data', 'names.txt'), ...TINY, '--max-iters', '40', '--seed', '1', '--checkpoint-dir', namesCk]),
    charnn(['train', itemsPath, ...TINY, '--max-iters', '150', '--lr', '0.1', '--seed', '1', '--checkpoint-dir', itemsCk]),
  ]);
  expect(names.code).toBe(0);
  expect(items.code).toBe(0);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('charnn sample --num-samples', () => {
  // the plain-SIMD kernels compute a row the same whatever the batch size (see sampleMany); the FMA build rounds differently
  // (test/sample-many.test.ts holds the reference kernels to the same in the library)
  for (const env of [{ CHARNN_FMA: 'off' }] as Array<Record<string, string>>) {
    it(`sample i is byte for byte the single sample with --seed <seed + i> (${Object.entries(env)[0].join('=')})`, async () => {
      const args = ['sample', '-c', namesCk, '--stop', '\n', '--temp', '1.2', '--top-p', '0.95'];
      const many = await charnn([...args, '--num-samples', '6', '--seed', '9'], { env });
      expect(many.code).toBe(0);
      const singles = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => charnn([...args, '--seed', String(9 + i)], { env })));
      expect(many.text).toBe(singles.map((r) => r.text).join(''));
      expect(many.text.split('\n')).toHaveLength(7); // six lines, each ended by its own stop newline
    });
  }

  it('plain output puts each sample on its own line (no second newline after one of its own); --json: index, text, logprob', async () => {
    const args = ['sample', '-c', namesCk, '-n', '4', '--num-samples', '30', '--prime', 'Ma', '--seed', '2'];
    const json = await charnn([...args, '--json']);
    const records = json.text.trimEnd().split('\n').map((l) => JSON.parse(l) as { index: number; text: string; logprob: number });
    expect(records.map((r) => r.index)).toEqual([...Array(30).keys()]);
    for (const r of records) {
      expect(r.text.startsWith('Ma')).toBe(true);
      expect(Array.from(r.text)).toHaveLength(6);
      expect(r.logprob).toBeLessThan(0);
    }
    expect(records.some((r) => r.text.endsWith('\n'))).toBe(true); // both cases occur
    expect(records.some((r) => !r.text.endsWith('\n'))).toBe(true);
    const plain = await charnn(args);
    expect(plain.text).toBe(records.map((r) => (r.text.endsWith('\n') ? r.text : `${r.text}\n`)).join(''));
  });
});

describe('charnn sample --novel', () => {
  it('never prints a line of the corpus, and says on stderr how many were new and how many copies', async () => {
    const args = ['sample', '-c', itemsCk, '--num-samples', '20', '--stop', '\n', '--seed', '1'];
    const all = await charnn(args);
    const copied = all.text.split('\n').filter((line) => ITEMS.includes(line));
    expect(copied.length).toBeGreaterThan(5); // the model mostly copies, so the filter has work to do
    const novel = await charnn([...args, '--novel']);
    expect(novel.code).toBe(0);
    const lines = novel.text.split('\n').filter((l) => l.length > 0);
    for (const line of lines) expect(ITEMS).not.toContain(line);
    const counts = /(\d+) new, (\d+) cop(?:y|ies) of the training text \(whole lines\) among (\d+) samples/.exec(novel.stderr);
    expect(counts).not.toBeNull();
    expect(Number(counts![1])).toBe(lines.length);
    expect(Number(counts![1]) + Number(counts![2])).toBe(Number(counts![3]));
  });

  it('needs a readable training text: the recorded path, --corpus, else exit 1 with one sentence', async () => {
    const stdinCk = join(work, 'stdin-ck');
    const trained = await charnn(['train', '-', ...TINY, '--max-iters', '5', '--checkpoint-dir', stdinCk], { input: ITEMS.join('\n').repeat(40) });
    expect(trained.code).toBe(0);
    const refused = await charnn(['sample', '-c', stdinCk, '--novel', '--num-samples', '2', '-n', '5']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/trained on standard input: give it with --corpus <file>\.\n$/);
    const given = await charnn(['sample', '-c', stdinCk, '--novel', '--corpus', itemsPath, '--num-samples', '2', '-n', '5']);
    expect(given.code).toBe(0);
    const missing = await charnn(['sample', '-c', stdinCk, '--novel', '--corpus', join(work, 'nope.txt')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('charnn sample --prime-file and --beam', () => {
  it('reads the prime from a file or standard input, newlines and Unicode included', async () => {
    const primePath = join(work, 'prime.txt');
    writeFileSync(primePath, 'Anna\nBob\nMa');
    const fromFile = await charnn(['sample', '-c', namesCk, '--prime-file', primePath, '-n', '10', '--seed', '4']);
    const inline = await charnn(['sample', '-c', namesCk, '--prime', 'Anna\nBob\nMa', '-n', '10', '--seed', '4']);
    expect(fromFile.code).toBe(0);
    expect(fromFile.text).toBe(inline.text);
    const fromStdin = await charnn(['sample', '-c', namesCk, '--prime-file', '-', '-n', '10', '--seed', '4'], { input: 'Anna\nBob\nMa' });
    expect(fromStdin.text).toBe(inline.text);
    const unknown = await charnn(['sample', '-c', namesCk, '--prime-file', '-', '-n', '3'], { input: 'Ma→' });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('the model never saw');
    const missing = await charnn(['sample', '-c', namesCk, '--prime-file', join(work, 'absent.txt')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/The prime file '.*absent\.txt' does not exist\.\n$/);
  });

  it('--beam is deterministic, starts with the prime, and reports the log-probability on stderr', async () => {
    const args = ['sample', '-c', namesCk, '--beam', '4', '--prime', 'Ma', '--stop', '\n', '-n', '20'];
    const [a, b] = await Promise.all([charnn(args), charnn(args)]);
    expect(a.code).toBe(0);
    expect(a.text).toBe(b.text);
    expect(a.text.startsWith('Ma')).toBe(true);
    expect(a.stderr).toMatch(/^log-probability -\d+\.\d{4} nats/);
    const json = JSON.parse((await charnn([...args, '--json'])).text) as { text: string; logprob: number };
    expect(json.text).toBe(a.text);
  });

  it('bad values and combinations exit 2 with one sentence', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--top-p', '0'], /--top-p must be a number above 0 and at most 1, got '0'\./],
      [['--top-p', '1.5'], /--top-p must be a number above 0 and at most 1/],
      [['--beam', '0'], /--beam must be a whole number of at least 1/],
      [['--num-samples', '-1'], /--num-samples must be a whole number of at least 1/],
      [['--beam', '2', '--temp', '0.5'], /does not combine with --temp/],
      [['--prime', 'a', '--prime-file', 'x'], /either with --prime or with --prime-file/],
      [['--corpus', 'x'], /add --novel/],
      [['--novel', 'words'], /--novel must be one of line, substring/],
    ];
    const results = await Promise.all(cases.map(([args]) => charnn(['sample', '-c', namesCk, ...args])));
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i];
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

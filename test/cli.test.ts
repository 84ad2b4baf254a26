// End-to-end tests of the charnn command line: the real bin/charnn.js as a child process, on tiny models so the
// whole file runs in seconds. Needs a build (npm test builds first).

import { spawn } from 'node:child_process';
import { BIN, ROOT, runCharnn, type CliResult } from './helpers/cli.js';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NAMES = join(ROOT, 'data', 'names.txt');
// small enough that training takes a fraction of a second, big enough to learn something
// one thread: the machine is shared with other test files (the stdin test checks --threads 2)
const TINY = ['--hidden', '16', '--layers', '1', '--batch-size', '4', '--seq-length', '16', '--threads', '1'];

type Result = CliResult;

function charnn(args: string[], options: { input?: string | Buffer; env?: Record<string, string>; cwd?: string } = {}): Promise<Result> {
  return runCharnn(args, { ...options, cwd: options.cwd ?? work });
}

/** Every file in a directory with its SHA-256: "unchanged afterwards" means equal snapshots. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) files[name] = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex');
  return files;
}

/** A few KB of text with multi-byte characters, from a fixed LCG so every run trains on the same bytes. */
function generatedCorpus(): string {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'naïve', 'café', 'über', 'déjà', 'vu', '→', 'dog', 'ran'];
  let state = 12345;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const lines: string[] = [];
  for (let i = 0; i < 400; i++) {
    const n = 3 + Math.floor(next() * 6);
    lines.push(Array.from({ length: n }, () => words[Math.floor(next() * words.length)]).join(' ') + '.');
  }
  return lines.join('\n') + '\n';
}

const codePoints = (s: string) => Array.from(s).length;

let work: string;
let corpusPath: string;
let ckDir: string;   // checkpoints of the generated corpus
let namesDir: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'charnn-cli-'));
  corpusPath = join(work, 'words.txt');
  writeFileSync(corpusPath, generatedCorpus());
  ckDir = join(work, 'ck');
  namesDir = join(work, 'names-ck');
  const trained = await charnn(['train', corpusPath, ...TINY, '--max-iters', '40', '--eval-every', '20', '--seed', '1', '--checkpoint-dir', ckDir]);
  expect(trained.stderr).toContain('Best checkpoint');
  expect(trained.code).toBe(0);
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('charnn train', () => {
  it('trains on a generated corpus: checkpoints named by iteration and validation loss, nothing on stdout', () => {
    const files = readdirSync(ckDir).filter((f) => f.endsWith('.ckpt'));
    expect(files).toContain(files.find((f) => /^words_i000040_v\d+\.\d{4}\.ckpt$/.test(f)));
    expect(files.some((f) => /^words_i000020_v\d+\.\d{4}\.ckpt$/.test(f))).toBe(true);
  });

  it('trains on data/names.txt with --json: only JSON lines on stdout, with the documented fields', async () => {
    const r = await charnn(['train', NAMES, ...TINY, '--max-iters', '30', '--eval-every', '10', '--sample-every', '15', '--seed', '3', '--json', '--checkpoint-dir', namesDir]);
    expect(r.code).toBe(0);
    const lines = r.text.trimEnd().split('\n');
    expect(lines).toHaveLength(30);
    const records = lines.map((line) => JSON.parse(line) as Record<string, number>);
    records.forEach((rec, i) => {
      expect(rec.iter).toBe(i + 1);
      for (const key of ['epoch', 'loss', 'lr', 'chars_per_sec', 'elapsed']) expect(typeof rec[key]).toBe('number');
    });
    expect(records.filter((rec) => 'val_loss' in rec).map((rec) => rec.iter)).toEqual([10, 20, 30]);
    // the --sample-every samples and the summary went to stderr
    expect(r.stderr).toContain('sample at iteration 15');
    expect(r.stderr).toMatch(/Best checkpoint: .*names_i000030_v\d+\.\d{4}\.ckpt/);
  });

  it('trains from standard input', async () => {
    const dir = join(work, 'stdin-ck');
    const r = await charnn(['train', '-', ...TINY, '--threads', '2', '--max-iters', '10', '--checkpoint-dir', dir], { input: readFileSync(NAMES) });
    expect(r.stderr).toContain('Best checkpoint');
    // the first line names the kernels and their threads
    expect(r.stderr.split('\n')[0]).toMatch(/; (native|wasm)-[\w-]+ kernels on 2 threads\.$/);
    expect(r.code).toBe(0);
    expect(readdirSync(dir).some((f) => /^stdin_i000010_v.*\.ckpt$/.test(f))).toBe(true);
  });

  it('gives a second run of the same corpus its own name and leaves the first run untouched', async () => {
    const dir = join(work, 'collide');
    await charnn(['train', corpusPath, ...TINY, '--max-iters', '5', '--checkpoint-dir', dir, '--seed', '1']);
    const before = snapshot(dir);
    const r = await charnn(['train', corpusPath, ...TINY, '--max-iters', '5', '--checkpoint-dir', dir, '--seed', '2']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("this run is named 'words-2'");
    const after = snapshot(dir);
    for (const [name, hash] of Object.entries(before)) expect(after[name]).toBe(hash);
    expect(Object.keys(after).some((f) => f.startsWith('words-2_i000005'))).toBe(true);
  });

  it('resumes to a total --max-iters and refuses options that would change the model', async () => {
    const dir = join(work, 'resume');
    mkdirSync(dir);
    for (const f of readdirSync(ckDir)) copyFileSync(join(ckDir, f), join(dir, f));
    const refused = await charnn(['train', corpusPath, '--resume', dir, '--hidden', '32', '--max-iters', '60']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--hidden 32 differs from the checkpoint's 16/);
    const r = await charnn(['train', corpusPath, '--resume', dir, '--max-iters', '60', '--json']);
    expect(r.code).toBe(0);
    const iters = r.text.trimEnd().split('\n').map((l) => (JSON.parse(l) as { iter: number }).iter);
    expect(iters[0]).toBe(41);
    expect(iters.at(-1)).toBe(60);
    expect(readdirSync(dir).some((f) => f.startsWith('words_i000060_'))).toBe(true);
    const done = await charnn(['train', corpusPath, '--resume', dir, '--max-iters', '60']);
    expect(done.code).toBe(1);
    expect(done.stderr).toMatch(/already at iteration 60/);
  });

  it('--json into a reader that goes away (| head -1): stops, saves, exits 0', async () => {
    const dir = join(work, 'head');
    const r = await new Promise<{ code: number | null; stderr: string; out: string }>((resolvePromise) => {
      const child = spawn('bash', ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" train "${NAMES}" ${TINY.join(' ')} --max-iters 1000000 --json --checkpoint-dir "${dir}" | head -n 1`], { cwd: work });
      let out = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('close', (code) => resolvePromise({ code, stderr, out }));
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ iter: 1 });
    expect(r.stderr).toMatch(/Stopped because the reader of the output went away/);
    expect(readdirSync(dir).some((f) => f.endsWith('.ckpt'))).toBe(true);
  });

  it('Ctrl-C finishes the step, saves a checkpoint that loads, says where, and exits 130', async () => {
    const dir = join(work, 'interrupted');
    const child = spawn(process.execPath, [BIN, 'train', NAMES, ...TINY, '--max-iters', '1000000', '--json', '--checkpoint-dir', dir], {
      cwd: work, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    await new Promise<void>((resolveFirstLine) => {
      let stdout = '';
      child.stdout.on('data', (b: Buffer) => {
        stdout += b.toString();
        if (stdout.includes('\n')) resolveFirstLine();
      });
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolveExit) => child.on('close', resolveExit));
    expect(code).toBe(130);
    const saved = /saved (\S+\.ckpt)/.exec(stderr)?.[1];
    expect(saved, stderr).toBeDefined();
    const info = await charnn(['info', saved!, '--json']);
    expect(info.code).toBe(0);
    expect((JSON.parse(info.text) as { iteration: number }).iteration).toBeGreaterThan(0);
  });
});

describe('charnn sample', () => {
  it('gives identical bytes for the same seed, and exactly --length code points', async () => {
    const a = await charnn(['sample', '-c', ckDir, '-n', '300', '--seed', '7']);
    const b = await charnn(['sample', '-c', ckDir, '-n', '300', '--seed', '7']);
    expect(a.code).toBe(0);
    expect(a.stdout.equals(b.stdout)).toBe(true);
    expect(codePoints(a.text)).toBe(300);
    expect(a.stderr).toBe(''); // not a terminal: no note about which checkpoint
    const c = await charnn(['sample', '-c', ckDir, '-n', '300', '--seed', '8']);
    expect(c.stdout.equals(a.stdout)).toBe(false);
  });

  it('starts the output with the prime text, then --length characters', async () => {
    const r = await charnn(['sample', '-c', ckDir, '-n', '50', '--prime', 'the café ', '--seed', '1']);
    expect(r.code).toBe(0);
    expect(r.text.startsWith('the café ')).toBe(true);
    expect(codePoints(r.text)).toBe(codePoints('the café ') + 50);
  });

  it('stops right after generating the --stop string', async () => {
    const r = await charnn(['sample', '-c', ckDir, '-n', '5000', '--stop', '.', '--seed', '2']);
    expect(r.code).toBe(0);
    expect(r.text.endsWith('.')).toBe(true);
    expect(r.text.indexOf('.')).toBe(r.text.length - 1);
  });

  it('exits quietly with status 0 when the reader closes the pipe', async () => {
    const r = await new Promise<{ code: number | null; stderr: string; out: string }>((resolvePromise) => {
      const child = spawn('bash', ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" sample -c "${ckDir}" -n 1000000 | head -c 100`], { cwd: work });
      let out = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString('latin1')));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('close', (code) => resolvePromise({ code, stderr, out }));
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(Buffer.byteLength(r.out, 'latin1')).toBe(100);
  });

  it('uses no escape codes when not on a terminal, and honours FORCE_COLOR and NO_COLOR', async () => {
    const plain = await charnn(['sample', '-c', join(work, 'nowhere')]);
    expect(plain.stderr).not.toContain('\u001b[');
    const forced = await charnn(['sample', '-c', join(work, 'nowhere')], { env: { FORCE_COLOR: '1' } });
    expect(forced.stderr).toContain('\u001b[');
    const both = await charnn(['sample', '-c', join(work, 'nowhere')], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(both.stderr).not.toContain('\u001b[');
  });
});

describe('charnn eval and info', () => {
  it('eval prints nats, bits and perplexity; --json one object', async () => {
    const human = await charnn(['eval', corpusPath, '-c', ckDir]);
    expect(human.code).toBe(0);
    expect(human.text).toMatch(/loss \d+\.\d+ nats\/char\nbpc \d+\.\d+ bits\/char\nperplexity \d+\.\d+/);
    const json = await charnn(['eval', '-', '-c', ckDir, '--json'], { input: readFileSync(corpusPath) });
    expect(json.code).toBe(0);
    const result = JSON.parse(json.text) as { loss: number; bpc: number; perplexity: number; chars: number };
    expect(result.bpc).toBeCloseTo(result.loss / Math.LN2, 10);
    expect(result.perplexity).toBeCloseTo(Math.exp(result.loss), 8);
    expect(result.chars).toBeGreaterThan(1000);
  });

  it('info describes the best checkpoint of a directory', async () => {
    const human = await charnn(['info', ckDir]);
    expect(human.code).toBe(0);
    expect(human.text).toMatch(/model\s+lstm, 1 layer × 16 hidden/);
    expect(human.text).toMatch(/history/);
    const json = JSON.parse((await charnn(['info', ckDir, '--json'])).text) as Record<string, unknown>;
    expect(json.iteration).toBe(40);
    expect(json.parameters).toBeGreaterThan(0);
    expect((json.history as unknown[]).length).toBe(2);
  });
});

describe('user mistakes: one sentence on stderr, a non-zero exit, checkpoints untouched', () => {
  let before: Record<string, string>;
  const cases: Array<{ name: string; args: () => string[]; message: RegExp; code?: number; input?: string }> = [];
  const add = (name: string, args: () => string[], message: RegExp, code = 1, input?: string) => cases.push({ name, args, message, code, input });

  const train = (...args: string[]) => ['train', ...args, ...TINY, '--max-iters', '5', '--checkpoint-dir', ckDir];
  add('missing corpus', () => train(join(work, 'nothere.txt')), /No such file: .*nothere\.txt\./);
  add('empty corpus', () => train(join(work, 'empty.txt')), /empty\.txt is empty\./);
  add('too-small corpus', () => train(join(work, 'tiny.txt')), /has 3 characters, but --batch-size 4 × --seq-length 16 needs at least 65/);
  add('binary corpus', () => train(join(work, 'binary.dat')), /binary file \(it has a NUL byte at offset 6\)/);
  add('non-UTF-8 corpus', () => train(join(work, 'latin1.txt')), /not valid UTF-8: the byte at offset 3 \(0xE9\)/);
  add('directory as corpus', () => train(work), /is a directory, not a text file/);
  add('no corpus at all', () => ['train'], /Give the text to train on/, 2);
  add('--hidden 0', () => train(corpusPath, '--hidden', '0'), /^charnn: --hidden must be a whole number from 1 to 8192, got '0'\.$/, 2);
  add('negative --layers', () => train(corpusPath, '--layers', '-2'), /--layers must be a whole number from 1 to 64, got '-2'\./, 2);
  add('NaN --lr', () => train(corpusPath, '--lr', 'NaN'), /--lr must be a number above 0/, 2);
  add('--dropout out of range', () => train(corpusPath, '--dropout', '1.5'), /--dropout must be a number at least 0 and below 1/, 2);
  add('--seq-length out of range', () => train(corpusPath, '--seq-length', '1e9'), /--seq-length must be a whole number from 1 to 100000/, 2);
  add('--max-iters 0', () => train(corpusPath, '--max-iters', '0'), /--max-iters must be a whole number of at least 1/, 2);
  add('--time 0s', () => train(corpusPath, '--time', '0s'), /--time must be a duration above zero/, 2);
  add('--threads 0', () => train(corpusPath, '--threads', '0'), /--threads must be a whole number from 1 to 256/, 2);
  add('checkpoint dir is a file', () => ['train', corpusPath, ...TINY, '--checkpoint-dir', corpusPath], /is a file, not a directory/);
  add('unknown option', () => ['train', corpusPath, '--hiden', '3'], /unknown option '--hiden'.*did you mean --hidden/, 2);
  add('unknown command', () => ['smaple'], /unknown command 'smaple' \(did you mean sample\?\)/, 2);
  add('--temp negative', () => ['sample', '-c', ckDir, '--temp', '-1'], /--temp must be a number at least 0/, 2);
  add('--length 0', () => ['sample', '-c', ckDir, '-n', '0'], /--length must be a whole number of at least 1, got '0'/, 2);
  add('missing checkpoint', () => ['sample', '-c', join(work, 'nothere')], /No checkpoint at .*nothere.*does not exist/);
  add('directory without checkpoints', () => ['sample', '-c', join(work, 'emptydir')], /No readable \.ckpt checkpoint in/);
  add('truncated checkpoint', () => ['sample', '-c', join(work, 'truncated.ckpt')], /truncated|corrupt/);
  add('foreign checkpoint', () => ['info', join(work, 'foreign.ckpt')], /is not a charnn checkpoint/);
  add('prime outside the vocabulary', () => ['sample', '-c', ckDir, '--prime', 'cat €✓'], /The prime text has characters the model never saw: '€', '✓'\./);
  add('eval text outside the vocabulary', () => ['eval', '-', '-c', ckDir], /not in the model's vocabulary: .*'Q'/, 1, 'the QUIZ');

  beforeAll(() => {
    writeFileSync(join(work, 'empty.txt'), '');
    writeFileSync(join(work, 'tiny.txt'), 'abc');
    writeFileSync(join(work, 'binary.dat'), Buffer.from([...Buffer.from('GIF89a'), 0x00, 0x01, ...Array(200).fill(7)]));
    writeFileSync(join(work, 'latin1.txt'), Buffer.from('caf\xe9 au lait\n'.repeat(20), 'latin1'));
    writeFileSync(join(work, 'foreign.ckpt'), 'this is not a checkpoint\n');
    mkdirSync(join(work, 'emptydir'), { recursive: true });
    const newest = readdirSync(ckDir).filter((f) => f.endsWith('.ckpt')).sort().at(-1)!;
    copyFileSync(join(ckDir, newest), join(work, 'truncated.ckpt'));
    truncateSync(join(work, 'truncated.ckpt'), Math.floor(statSync(join(work, 'truncated.ckpt')).size / 2));
    before = snapshot(ckDir);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const r = await charnn(c.args(), { input: c.input });
      expect(r.code, r.stderr).toBe(c.code);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(c.message);
      expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
      expect(r.stdout.length).toBe(0);
    });
  }

  afterAll(() => {
    expect(snapshot(ckDir)).toEqual(before);
  });
});

describe('the command itself', () => {
  it('--help lists the commands and exits 0', async () => {
    const r = await charnn(['--help']);
    expect(r.code).toBe(0);
    for (const command of ['train', 'sample', 'eval', 'info']) expect(r.text).toContain(command);
  });

  it('--version prints the version', async () => {
    const r = await charnn(['--version']);
    expect(r.code).toBe(0);
    expect(r.text.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

// examples/pytorch/train_ddp.py with two processes (gloo on 127.0.0.1) fine-tunes a model charnn exported: both
// processes end with identical weights, equal (to float rounding) to one process taking all the streams, and charnn,
// after importing the result, gives the held-out loss PyTorch computed and samples from it. Skips without torch.

import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCharnn } from './helpers/cli.js';
import { decodeSafetensors } from '../src/core/interop/safetensors.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'examples', 'pytorch', 'train_ddp.py');
const NAMES = join(ROOT, 'data', 'names.txt');

const probe = spawnSync(PYTHON, ['-c', 'import torch.distributed as d; assert d.is_available() and d.is_gloo_available()'], { encoding: 'utf8' });
const skipReason = probe.error || probe.status !== 0 ? `${PYTHON} cannot import torch with gloo (install Debian's python3-torch)` : null;
if (skipReason) console.warn(`DDP test skipped: ${skipReason}`);

/** A TCP port nobody listens on right now, on the loopback interface. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function python(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT, ...args], { env: { ...process.env, OMP_NUM_THREADS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b; });
    child.stderr.on('data', (b: Buffer) => { stderr += b; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const weights = (path: string) => decodeSafetensors(new Uint8Array(readFileSync(path))).tensors;
function maxAbsDiff(a: ReturnType<typeof weights>, b: ReturnType<typeof weights>): number {
  let worst = 0;
  for (const [name, t] of a) {
    const u = b.get(name)!.data;
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i] - u[i]));
  }
  return worst;
}

describe.skipIf(skipReason !== null)(`DistributedDataParallel fine-tuning${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'charnn-ddp-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const charnn = (args: string[]) => runCharnn(args, { cwd: dir });

  it('two gloo processes hold identical weights, and charnn imports the result with the loss PyTorch measured', async () => {
    const trained = await charnn(['train', NAMES, '--model', 'lstm', '--hidden', '24', '--layers', '2', '--batch-size', '8', '--seq-length', '16', '--max-iters', '20', '--threads', '1', '--checkpoint-dir', 'ck']);
    expect(trained.code, trained.stderr).toBe(0);
    expect((await charnn(['export', 'ck', '-o', 'base.safetensors'])).code).toBe(0);

    const common = [NAMES, '--init', join(dir, 'base.safetensors'), '--batch-size', '8', '--seq-length', '16', '--max-iters', '40', '--threads', '1'];
    const port = String(await freePort());
    const ranks = await Promise.all([0, 1].map((rank) => python(
      [...common, '-o', join(dir, 'tuned.safetensors'), '--write-val', join(dir, 'held.txt'), '--rank-weights', join(dir, 'ranks')],
      { RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port },
    )));
    for (const r of ranks) expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(ranks[0].stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ iters: 40, processes: 2 });
    expect(ranks[1].stdout).toBe(''); // only process 0 reports

    // the two processes agree bit for bit, and they trained: the weights moved from the export
    expect(readFileSync(join(dir, 'ranks', 'rank0.safetensors'))).toEqual(readFileSync(join(dir, 'ranks', 'rank1.safetensors')));
    const tuned = weights(join(dir, 'tuned.safetensors'));
    expect(maxAbsDiff(tuned, weights(join(dir, 'base.safetensors')))).toBeGreaterThan(0.05);
    // 2 × 4 streams with averaged gradients is the same training as 1 × 8 streams, up to float rounding (which
    // Adagrad amplifies where a gradient is tiny: its first step moves every weight by ±lr; measured 2e-3 here),
    // while a wrong split (one process taking 4 of the streams alone) ended 0.46 away in a trial with a 1×32 LSTM
    const single = await python([...common, '-o', join(dir, 'single.safetensors')], {});
    expect(single.code, single.stderr).toBe(0);
    const split = maxAbsDiff(tuned, weights(join(dir, 'single.safetensors')));
    console.log(`DDP 2x4 streams vs 1x8: max |Δw| = ${split.toExponential(2)}; held-out loss ${summary.val_loss}`);
    expect(split).toBeLessThan(1e-2);

    const imported = await charnn(['import', 'tuned.safetensors', '-o', 'tuned.ckpt']);
    expect(imported.code, imported.stderr).toBe(0);
    const evaluated = await charnn(['eval', 'held.txt', '-c', 'tuned.ckpt', '--json']);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const ours = JSON.parse(evaluated.text);
    console.log(`charnn eval of the import: ${ours.loss} over ${ours.chars} characters; PyTorch: ${summary.val_loss} over ${summary.val_chars}`);
    expect(ours.chars).toBe(summary.val_chars);
    expect(Math.abs(ours.loss - summary.val_loss)).toBeLessThanOrEqual(1e-4);

    const sample = await charnn(['sample', '-c', 'tuned.ckpt', '-n', '200', '--seed', '3']);
    expect(sample.code, sample.stderr).toBe(0);
    expect([...sample.text].length).toBe(200);
  });

  it('fine-tunes a bidirectional model as a masked-character model, which charnn then scores better', async () => {
    const trained = await charnn(['train', NAMES, '--bidirectional', '--model', 'gru', '--hidden', '16', '--layers', '1', '--batch-size', '8', '--seq-length', '24', '--max-iters', '10', '--threads', '1', '--checkpoint-dir', 'bi']);
    expect(trained.code, trained.stderr).toBe(0);
    expect((await charnn(['export', 'bi', '-o', 'bi.safetensors'])).code).toBe(0);
    const tuned = await python([NAMES, '--init', join(dir, 'bi.safetensors'), '-o', join(dir, 'bi-tuned.safetensors'), '--batch-size', '8', '--seq-length', '24', '--max-iters', '60', '--threads', '1'], {});
    expect(tuned.code, tuned.stderr).toBe(0);
    expect(JSON.parse(tuned.stdout.trim().split('\n').at(-1)!)).toHaveProperty('val_accuracy');
    expect((await charnn(['import', 'bi-tuned.safetensors', '-o', 'bi-tuned.ckpt'])).code).toBe(0);
    const score = async (checkpoint: string) => JSON.parse((await charnn(['eval', NAMES, '-c', checkpoint, '--json'])).text).loss as number;
    const before = await score('bi');
    const after = await score('bi-tuned.ckpt');
    console.log(`bidirectional masked loss on names.txt: ${before.toFixed(4)} before PyTorch fine-tuning, ${after.toFixed(4)} after`);
    expect(after).toBeLessThan(before - 0.1);
    const fill = await charnn(['fill', 'Ma_y', '-c', 'bi-tuned.ckpt']);
    expect(fill.code, fill.stderr).toBe(0);
  });
});

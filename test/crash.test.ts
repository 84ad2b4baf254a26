// Crash safety: training is killed with SIGKILL at seeded random moments while it writes a checkpoint every
// iteration; every .ckpt left behind must load, and training must resume from the newest one.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { readCheckpoint } from '../src/node/checkpoint-files.js';
import { expectedTensors, parseHeader } from '../src/core/snapshot.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charnn.js');

function corpus(): string {
  const random = seedrandom('crash-corpus');
  const words = ['alpha', 'beta', 'gamma', 'delta', 'épsilon', 'zeta', '🦊', 'eta', 'theta'];
  return Array.from({ length: 3000 }, () => words[Math.floor(random() * words.length)]).join(' ') + '\n';
}

/** Starts training and SIGKILLs it `afterMs` after its first JSON line (so it is mid-run, mid-save or mid-step). */
function trainAndKill(args: string[], afterMs: number): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let armed = false;
    child.stdout.on('data', () => {
      if (armed) return;
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), afterMs);
    });
    child.stderr.resume();
    child.on('error', fail);
    child.on('close', () => done());
  });
}

describe('kill -9 during training', () => {
  it('every checkpoint left behind loads, after 8 kills at random moments, and the run resumes from them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'charnn-crash-'));
    const text = join(dir, 'corpus.txt');
    writeFileSync(text, corpus());
    const ckpts = join(dir, 'ckpt');
    const common = [
      text, '--hidden', '24', '--layers', '2', '--batch-size', '4', '--seq-length', '32', '--threads', '1',
      '--checkpoint-every', '1', '--keep', '4', '--checkpoint-dir', ckpts, '--json', '--max-iters', '100000',
    ];
    const random = seedrandom('kill-moments');
    let kills = 0;
    for (let round = 0; round < 8; round++) {
      const resume = round === 0 ? ['--name', 'crash'] : ['--resume', ckpts];
      await trainAndKill([...common, ...resume], Math.floor(random() * 400));
      kills++;
      const files = readdirSync(ckpts).filter((f) => f.endsWith('.ckpt'));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const { header } = await readCheckpoint(join(ckpts, file), (raw) => expectedTensors(parseHeader(raw)));
        expect(header.runName).toBe('crash');
      }
    }
    expect(kills).toBe(8);

    // a finite resume finishes cleanly and clears the temp files the killed writers left
    const newest = readdirSync(ckpts).filter((f) => f.endsWith('.ckpt')).sort().at(-1)!;
    const at = Number(/_i(\d+)_/.exec(newest)![1]);
    const finish = spawnSync(process.execPath, [BIN, 'train', ...common.slice(0, -2), '--max-iters', String(at + 2), '--resume', ckpts], { encoding: 'utf8' });
    expect(finish.status, finish.stderr).toBe(0);
    expect(readdirSync(ckpts).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('removeStaleTempFiles', () => {
  it("deletes temp files of dead writers only, never a live writer's or a checkpoint", async () => {
    const { removeStaleTempFiles } = await import('../src/node/checkpoint-files.js');
    const dir = mkdtempSync(join(tmpdir(), 'charnn-stale-'));
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const deadTemp = `.run_i000001_v-.ckpt.${dead}.0a1b2c.tmp`;
    const liveTemp = `.run_i000002_v-.ckpt.${process.pid}.3d4e5f.tmp`;
    for (const name of [deadTemp, liveTemp, 'run_i000001_v-.ckpt', 'notes.tmp']) writeFileSync(join(dir, name), 'x');
    expect(await removeStaleTempFiles(dir)).toEqual([join(dir, deadTemp)]);
    expect(readdirSync(dir).sort()).toEqual([liveTemp, 'notes.tmp', 'run_i000001_v-.ckpt'].sort());
    rmSync(dir, { recursive: true, force: true });
  });
});

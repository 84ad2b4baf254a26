// `charnn web` as a command: the page it writes (CSP, the model inside, its name and title), and the one-sentence
// errors for a missing or damaged checkpoint and an unusable output path, with nothing left behind. The page
// itself is tested in Chromium (web.test.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCharnn } from './helpers/cli.js';

describe('charnn web', () => {
  let dir: string;
  let model: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'charnn-web-cli-'));
    const trained = await runCharnn(['train', join(ROOT, 'data', 'names.txt'), '--max-iters', '3', '--hidden', '8', '--layers', '1', '--checkpoint-dir', 'ck', '--json'], { cwd: dir });
    expect(trained.code).toBe(0);
    model = join(dir, 'ck', readdirSync(join(dir, 'ck'))[0]);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('embeds the model, names the page after the run, and says so on stderr (stdout stays empty)', async () => {
    const result = await runCharnn(['web', '-c', 'ck'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toMatch(/^Wrote names\.html \(\d+ KB: the page \d+ KB, names_i000003_v\d\.\d{4}\.ckpt inside, \d+ KB\); open file:\/\//);
    const html = readFileSync(join(dir, 'names.html'), 'utf8');
    expect(html).toContain('<title>names · charnn</title>');
    const embedded = /<script id="charnn-model" type="application\/octet-stream" data-name="([^"]+)">([A-Za-z0-9+/=]+)<\/script>/.exec(html)!;
    expect(embedded[1]).toBe(model.slice(model.lastIndexOf('/') + 1));
    expect(Buffer.from(embedded[2], 'base64').equals(readFileSync(model))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a missing checkpoint, a damaged one and a directory as the output, in one sentence each', async () => {
    const missing = await runCharnn(['web', '-c', 'nowhere.ckpt'], { cwd: dir });
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const damaged = Buffer.from(readFileSync(model));
    damaged[damaged.length - 20] ^= 1;
    writeFileSync(join(dir, 'damaged.ckpt'), damaged);
    const bad = await runCharnn(['web', '-c', 'damaged.ckpt', '-o', 'bad.html'], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Checkpoint 'damaged\.ckpt' is corrupt/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    mkdirSync(join(dir, 'out'));
    const toDir = await runCharnn(['web', '-o', 'out'], { cwd: dir });
    expect(toDir.code).toBe(1);
    expect(toDir.stderr).toContain("'out' is a directory");
    expect(readdirSync(dir).filter((f) => f === 'bad.html' || f.endsWith('.tmp'))).toEqual([]);
  });
});

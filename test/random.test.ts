// The generator (src/core/random.ts, Alea written out) against seedrandom's alea, which it replaced for speed and
// whose numbers and states every seed, checkpoint and test before it was made with: the same numbers for the same
// seed, the same state at every point, and a state restored in either continuing the same sequence.

import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { createRandom } from '../src/core/random.js';

const seeds: Array<string | number> = [
  0, 1, 2, 123, -7, 2 ** 53 - 1, 1.5, 1e21, NaN, '', ' ', 'x', 'charnn', 'seed:17', 'naïve ünïcödé', '🎲 dice', 'a'.repeat(300),
];

describe('the seeded generator', () => {
  it.each(seeds.map((s) => [String(s), s]))('gives seedrandom\'s alea numbers and states for the seed %s', (_, seed) => {
    const ours = createRandom(seed);
    const theirs = seedrandom.alea(String(seed), { state: true });
    for (let i = 0; i < 2000; i++) {
      if (i % 500 === 0) expect(ours.state()).toEqual(theirs.state());
      const [a, b] = [ours(), theirs()];
      if (!Object.is(a, b)) throw new Error(`draw ${i}: ${a} against ${b}`);
    }
  });

  it('continues a restored state, its own or seedrandom\'s, exactly', () => {
    const ours = createRandom('resume');
    const theirs = seedrandom.alea('resume', { state: true });
    for (let i = 0; i < 777; i++) { ours(); theirs(); }
    const fromOurs = createRandom('ignored', ours.state());
    const fromTheirs = createRandom('ignored', theirs.state());
    const theirsFromOurs = seedrandom.alea('', { state: ours.state() });
    for (let i = 0; i < 1000; i++) {
      const expected = theirs();
      expect([ours(), fromOurs(), fromTheirs(), theirsFromOurs()]).toEqual([expected, expected, expected, expected]);
    }
  });

  it('draws in [0, 1) and differs between seeds', () => {
    const a = createRandom(1), b = createRandom(2);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.slice(0, 5)).not.toEqual(Array.from({ length: 5 }, () => b()));
  });
});

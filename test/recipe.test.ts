// The time-budget plan (src/core/recipe.ts): which hidden size, dropout and warm-up it picks from measured speeds,
// with a fake machine (speeds and a clock given here) so each choice can be checked against the rule by hand.

import { describe, expect, it } from 'vitest';
import {
  CANDIDATE_HIDDEN_SIZES, CHARS_PER_PARAM, MAX_USEFUL_EPOCHS, planForBudget, replannedDropout, type PlanRequest,
} from '../src/core/recipe.js';
import { paramCount } from '../src/core/snapshot.js';

const V = 65;
const params = (hiddenSize: number) => paramCount({ cell: 'lstm', vocabSize: V, hiddenSize, layers: 2, dropout: 0 });

/**
 * A machine where training costs `nsPerParamChar` nanoseconds per parameter per character (0.05 is about this
 * machine's native kernels: 2×128 at ~90k chars/s), `dropoutCost` more with dropout on, and measuring is free.
 */
function machine(nsPerParamChar: number, extra: Partial<PlanRequest> = {}, dropoutCost = 0):
  PlanRequest & { measuredSizes: number[]; timings: Array<{ h: number; dropout: number; ms: number }> } {
  const measuredSizes: number[] = [];
  const timings: Array<{ h: number; dropout: number; ms: number }> = [];
  return {
    budgetMs: 100_000, trainChars: 1_000_000, vocabSize: V, cell: 'lstm', layers: 2, batchSize: 50, seqLength: 50,
    measure: async (h, dropout, ms) => {
      measuredSizes.push(h);
      timings.push({ h, dropout, ms });
      return 1 / (nsPerParamChar * 1e-6 * params(h) * (dropout > 0 ? 1 + dropoutCost : 1)); // characters per ms
    },
    now: () => 0,
    measuredSizes,
    timings,
    ...extra,
  };
}

/** The rule's dropout by hand, for a model seeing `epochs` passes over a text of `trainChars`. */
function expectedDropout(epochs: number, hiddenSize: number, trainChars: number): number {
  const pull = (epochs * params(hiddenSize)) / trainChars;
  return Number((Math.round(Math.min(0.3, Math.max(0, 0.035 * (pull - 2))) / 0.05) * 0.05).toFixed(10));
}

/** What the rule says by hand: the largest candidate whose useful characters reach CHARS_PER_PARAM per parameter. */
function expectedHidden(request: PlanRequest, charsPerMs: (h: number) => number): number {
  let best = CANDIDATE_HIDDEN_SIZES[0];
  for (const h of CANDIDATE_HIDDEN_SIZES) {
    const chars = Math.min(charsPerMs(h) * request.budgetMs * 0.95, MAX_USEFUL_EPOCHS * request.trainChars);
    if (chars >= CHARS_PER_PARAM * params(h)) best = h;
    else break;
  }
  return best;
}

describe('planForBudget', () => {
  it('picks the largest size that sees 20 characters per parameter, and measures one size past it', async () => {
    const request = machine(0.05);
    const plan = await planForBudget(request);
    const want = expectedHidden(request, (h) => 1 / (0.05e-6 * params(h)));
    expect(plan.hiddenSize).toBe(want);
    expect(want).toBeGreaterThan(CANDIDATE_HIDDEN_SIZES[0]); // the case is not trivial
    expect(plan.charsPerParam).toBeGreaterThanOrEqual(CHARS_PER_PARAM);
    const next = CANDIDATE_HIDDEN_SIZES[CANDIDATE_HIDDEN_SIZES.indexOf(want) + 1];
    expect(request.measuredSizes).toEqual(CANDIDATE_HIDDEN_SIZES.slice(0, CANDIDATE_HIDDEN_SIZES.indexOf(next) + 1));
    expect(plan.reason).toContain(`${next} would see fewer`);
  });

  it('a longer budget or a faster machine picks a larger model; a slower one a smaller', async () => {
    const base = (await planForBudget(machine(0.05))).hiddenSize;
    expect((await planForBudget(machine(0.05, { budgetMs: 600_000 }))).hiddenSize).toBeGreaterThan(base);
    expect((await planForBudget(machine(0.005))).hiddenSize).toBeGreaterThan(base);
    expect((await planForBudget(machine(0.8))).hiddenSize).toBeLessThan(base);
  });

  it('a small text caps the size: passes beyond 16 add nothing', async () => {
    const big = await planForBudget(machine(0.005));
    const small = await planForBudget(machine(0.005, { trainChars: 100_000 }));
    expect(small.hiddenSize).toBeLessThan(big.hiddenSize);
    expect(MAX_USEFUL_EPOCHS * 100_000).toBeGreaterThanOrEqual(CHARS_PER_PARAM * params(small.hiddenSize));
  });

  it('dropout grows with passes over the text times parameters per character, from none to 0.3', async () => {
    const once = await planForBudget(machine(0.05, { trainChars: 1e9 }));
    expect(once.plannedEpochs).toBeLessThan(1);
    expect(once.dropout).toBe(0);
    const many = await planForBudget(machine(0.005, { trainChars: 50_000 }));
    expect(many.plannedEpochs).toBeGreaterThan(10);
    expect(many.dropout).toBe(0.3);
    for (const trainChars of [300_000, 600_000, 1_000_000]) {
      const some = await planForBudget(machine(0.05, { hiddenSize: 128, trainChars }));
      expect(some.dropout).toBe(expectedDropout(some.plannedEpochs, 128, trainChars));
    }
    expect((await planForBudget(machine(0.05, { hiddenSize: 128, trainChars: 300_000 }))).dropout).toBeGreaterThan(0);
  });

  it('keeps a hidden size and a dropout the user gave, measuring only that size', async () => {
    const request = machine(0.05, { hiddenSize: 300, dropout: 0.5 });
    const plan = await planForBudget(request);
    expect(plan).toMatchObject({ hiddenSize: 300, dropout: 0.5 });
    expect(request.measuredSizes).toEqual([300]);
  });

  it('the calibration spends the budget: a slow measurement leaves fewer planned iterations', async () => {
    let clock = 0;
    const slow = machine(0.05, { now: () => clock });
    const measure = slow.measure;
    slow.measure = async (h, dropout, ms) => {
      clock += 5000;
      return measure(h, dropout, ms);
    };
    const quick = await planForBudget(machine(0.05, { hiddenSize: 128, trainChars: 1e9 }));
    const costly = await planForBudget({ ...slow, hiddenSize: 128, trainChars: 1e9 }); // no dropout: one measurement
    expect(costly.calibrationMs).toBe(5000);
    expect(costly.plannedIters).toBeCloseTo(quick.plannedIters * 0.95, -1);
    expect(quick.warmupIters).toBe(Math.round(0.02 * quick.plannedIters));
  });

  it('times the chosen size again with its dropout, and plans the passes and the dropout from that speed', async () => {
    // 2×192 for 10 minutes on a 1 MB text: dropout is planned, and costs 30% more time on this machine
    const request = machine(0.05, { hiddenSize: 192, budgetMs: 600_000 }, 0.3);
    const plan = await planForBudget(request);
    expect(request.timings).toEqual([{ h: 192, dropout: 0, ms: 600 }, { h: 192, dropout: expect.any(Number), ms: 1200 }]);
    const retimed = request.timings[1].dropout;
    expect(retimed).toBeGreaterThan(0);
    const slower = 1 / (0.05e-6 * params(192) * 1.3);
    expect(plan.plannedEpochs).toBeCloseTo((slower * 600_000 * 0.95) / 1_000_000, 6);
    expect(plan.dropout).toBe(expectedDropout(plan.plannedEpochs, 192, 1_000_000));
    const free = await planForBudget(machine(0.05, { hiddenSize: 192, budgetMs: 600_000 }, 0));
    expect(free.plannedEpochs).toBeGreaterThan(plan.plannedEpochs * 1.29);
    expect(plan.measured.map((m) => m.dropout)).toEqual([0, retimed]);
  });

  it('times each size for a thousandth of the budget, from 150 ms to 1 s; no second timing without dropout', async () => {
    for (const [budgetMs, ms] of [[20_000, 150], [100_000, 150], [600_000, 600], [3_600_000, 1000]]) {
      const request = machine(0.05, { budgetMs, trainChars: 1e10 });
      await planForBudget(request);
      expect(new Set(request.timings.map((t) => t.ms))).toEqual(new Set([ms]));
      expect(request.timings.every((t) => t.dropout === 0)).toBe(true);
    }
  });

  it('re-planning: the dropout for the passes the run makes at the speed it has trained at so far', () => {
    const trainChars = 1_000_000;
    const p = params(192);
    // 10% of 10 minutes at 40k chars/s: 24 passes in all
    const { dropout, passes } = replannedDropout(40_000 * 60, 60_000, 600_000, p, trainChars);
    expect(passes).toBeCloseTo(24, 10);
    expect(dropout).toBe(expectedDropout(24, 192, trainChars));
    expect(replannedDropout(60_000 * 60, 60_000, 600_000, p, trainChars).dropout).toBeGreaterThan(replannedDropout(30_000 * 60, 60_000, 600_000, p, trainChars).dropout);
    expect(replannedDropout(1000, 60_000, 600_000, p, trainChars).dropout).toBe(0); // far from memorising: none
  });
});

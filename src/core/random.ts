// The one source of randomness: a seeded generator (seedrandom's Alea) whose state can be saved in a checkpoint
// and restored, so the same seed gives the same bytes and a resumed run continues the same random sequence.

import seedrandom from 'seedrandom';

export type RandomState = seedrandom.State.Alea;

export interface Random {
  (): number; // uniform in [0, 1)
  state(): RandomState;
}

export function createRandom(seed: string | number, state?: RandomState): Random {
  return seedrandom.alea(String(seed), { state: state ?? true });
}

export function isRandomState(value: unknown): value is RandomState {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return ['c', 's0', 's1', 's2'].every((key) => typeof s[key] === 'number' && Number.isFinite(s[key]));
}

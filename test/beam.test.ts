// Beam search against exhaustive search on a tiny model (3 characters, 5 steps: 243 continuations) where greedy
// decoding is not optimal: a first character that looks worse leads to a likelier whole.

import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { referenceKernels } from '../src/core/kernels/reference.js';
import { allocPass, allocState, carryState, createNetwork, forwardLogits, initParams, type Network } from '../src/core/model.js';
import { makeVocab } from '../src/core/data/corpus.js';
import { beamSearch, validateBeamOptions } from '../src/core/beam.js';

const vocab = makeVocab(['\n', 'a', 'b']);
const LENGTH = 5;

function tinyModel(): Network {
  const net = createNetwork(referenceKernels('f64'), { cell: 'lstm', vocabSize: 3, hiddenSize: 4, layers: 1, dropout: 0 });
  const random = seedrandom('beam-15'); // a seed where greedy misses the best continuation (checked below)
  initParams(net, random);
  for (let i = 0; i < net.params.length; i++) net.params[i] += (random() - 0.5) * 4;
  return net;
}

/** ln p(ids | newline) read one character at a time. */
function logprobOf(net: Network, ids: number[]): number {
  const pass = allocPass(net, 1, 1);
  const state = allocState(net, 1);
  let total = 0;
  const read = (id: number) => {
    pass.inputs[0] = id;
    forwardLogits(net, pass, state);
    carryState(net, pass, state);
  };
  read(0);
  for (const id of ids) {
    const logits = Array.from(pass.logits);
    const max = Math.max(...logits);
    total += logits[id] - max - Math.log(logits.reduce((s, x) => s + Math.exp(x - max), 0));
    read(id);
  }
  return total;
}

/** Every continuation of up to LENGTH characters (ending at the first newline when `stopAtNewline`), the likeliest. */
function exhaustive(net: Network, stopAtNewline: boolean): { ids: number[]; logprob: number; count: number } {
  let best = { ids: [] as number[], logprob: -Infinity };
  let count = 0;
  const visit = (ids: number[]) => {
    const ended = ids.length === LENGTH || (stopAtNewline && ids.length > 0 && ids[ids.length - 1] === 0);
    if (ended) {
      count++;
      const logprob = logprobOf(net, ids);
      if (logprob > best.logprob) best = { ids, logprob };
      return;
    }
    for (let v = 0; v < 3; v++) visit([...ids, v]);
  };
  visit([]);
  return { ...best, count };
}

describe('beam search', () => {
  const net = tinyModel();

  it('finds the most likely continuation where greedy decoding does not, and equals exhaustive search', () => {
    const best = exhaustive(net, false);
    expect(best.count).toBe(243);
    const greedy = beamSearch(net, vocab, { width: 1, length: LENGTH });
    expect(greedy.logprob).toBeLessThan(best.logprob - 0.1);
    expect(greedy.ids).not.toEqual(best.ids);
    for (const width of [2, 3, 81]) {
      const beam = beamSearch(net, vocab, { width, length: LENGTH });
      expect(beam.ids, `width ${width}`).toEqual(best.ids);
      expect(beam.logprob).toBeCloseTo(best.logprob, 10);
      expect(beam.stopped).toBe(false);
    }
    expect(greedy.logprob).toBeCloseTo(logprobOf(net, greedy.ids), 10);
  });

  it('with a stop string: continuations end at it, and a wide beam still equals exhaustive search', () => {
    const best = exhaustive(net, true);
    const beam = beamSearch(net, vocab, { width: 81, length: LENGTH, stop: '\n' });
    expect(beam.ids).toEqual(best.ids);
    expect(beam.logprob).toBeCloseTo(best.logprob, 10);
    expect(beam.stopped).toBe(best.ids[best.ids.length - 1] === 0 && best.ids.indexOf(0) === best.ids.length - 1);
    const narrow = beamSearch(net, vocab, { width: 2, length: LENGTH, stop: '\n' });
    expect(narrow.logprob).toBeLessThanOrEqual(best.logprob + 1e-12);
    expect(narrow.logprob).toBeCloseTo(logprobOf(net, narrow.ids), 10);
  });

  it('is deterministic and refuses a width below 1', () => {
    expect(beamSearch(net, vocab, { width: 3, length: 4, prime: 'ab' })).toEqual(beamSearch(net, vocab, { width: 3, length: 4, prime: 'ab' }));
    expect(() => validateBeamOptions({ width: 0, length: 5 })).toThrow(/--beam must be a positive whole number/);
  });
});

// Per-character scores of a text under a model: for every character after the first, the log-probability the model
// gave it having read all the text before it, its rank among the model's guesses, and the top-k guesses there.
// The text is read as one stream from a zero state, in chunks (the inspect reader), so every prediction sees the
// whole text before it; the mean of the negated log-probabilities is the text's loss.
//
// Dimension legend: N characters scored (the text's length - 1), V vocabulary size, K top-k.

import type { IdArray } from './data/corpus.js';
import { CharnnError } from './errors.js';
import { forEachChunk } from './inspect/analyze.js';
import type { Network } from './model.js';

export interface CharScore {
  position: number;  // index of the character in the text (1 … length-1)
  id: number;        // the character
  logprob: number;   // ln p(char | text before it), nats
  rank: number;      // 1 + how many characters the model found likelier there
  top: Array<{ id: number; logprob: number }>; // the K likeliest characters there, likeliest first (ties: lower id)
}

export interface ScoreSummary {
  loss: number;  // nats per character: -mean(logprob)
  chars: number; // characters scored
}

/** Calls `visit` for each character of ids[1 …] in order; returns the loss over them. */
export function scoreChars(net: Network, ids: IdArray, topK: number, visit: (score: CharScore) => void): ScoreSummary {
  if (ids.length < 2) throw new CharnnError('The text to score must have at least 2 characters.');
  if (!Number.isInteger(topK) || topK < 0) throw new CharnnError(`The number of top guesses must be a whole number, got ${topK}.`);
  const V = net.config.vocabSize;
  const K = Math.min(topK, V);
  const logProbs = new Float64Array(V); // (V) ln softmax of one logits row
  const order = new Int32Array(V);
  let total = 0;
  // logits of row r (position start + r) predict position start + r + 1
  forEachChunk(net, ids, ids.length - 1, (pass, start, count) => {
    for (let r = 0; r < count; r++) {
      const position = start + r + 1;
      let max = -Infinity;
      for (let v = 0; v < V; v++) if (pass.logits[r * V + v] > max) max = pass.logits[r * V + v];
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(pass.logits[r * V + v] - max);
      const logSum = Math.log(sum);
      for (let v = 0; v < V; v++) logProbs[v] = pass.logits[r * V + v] - max - logSum;
      const id = ids[position];
      const logprob = logProbs[id];
      let rank = 1;
      for (let v = 0; v < V; v++) if (logProbs[v] > logprob) rank++;
      const top: CharScore['top'] = [];
      if (K > 0) {
        for (let v = 0; v < V; v++) order[v] = v;
        order.sort((a, b) => logProbs[b] - logProbs[a] || a - b);
        for (let k = 0; k < K; k++) top.push({ id: order[k], logprob: logProbs[order[k]] });
      }
      total += logprob;
      visit({ position, id, logprob, rank, top });
    }
  });
  return { loss: -total / (ids.length - 1), chars: ids.length - 1 };
}

// A trained model loaded for use: the blog's step API (`rnn.reset(); const probs = rnn.step('a')`), streaming
// samples, and evaluation of a text. Rebuilt from the config saved in the checkpoint.

import { decodeCheckpoint } from './checkpoint/format.js';
import { decodeIds, encodeText, makeVocab, type IdArray, type Vocab } from './data/corpus.js';
import { evaluateIds, type Evaluation } from './evaluate.js';
import { checkpointFiles, defaultKernels } from './platform.js';
import type { Kernels } from './kernels/types.js';
import {
  allocPass, allocState, carryState, createNetwork, forwardLogits, freezeWeights, resetState,
  type CarriedState, type ModelConfig, type Network, type Pass,
} from './model.js';
import { sampleIds, sampleMany, primeIds, type ManySampleOptions, type SampleOptions } from './sample.js';
import { expectedTensors, parseHeader, type CheckpointHeader } from './snapshot.js';
import { CharnnError } from './errors.js';
import { evaluateMaskedIds, type MaskedEvaluation } from './bidirectional.js';
import { fillText, type FillOptions, type FillResult } from './fill.js';
import { beamSearch, type BeamOptions } from './beam.js';
import { scoreChars } from './scores.js';

/** Why a bidirectional model cannot generate text; the CLI's sample command says the same. */
export const BIDIRECTIONAL_SAMPLING_REFUSAL =
  'This is a bidirectional model: it predicts a character from the text on both sides of it, so it cannot write text left to right (the right side does not exist yet); use it to fill in missing characters (charnn fill) or train a model without --bidirectional to sample.';

export class CharModel {
  readonly net: Network;
  readonly vocab: Vocab;
  readonly header: CheckpointHeader;
  readonly path: string;
  private readonly pass: Pass;
  private readonly state: CarriedState;

  constructor(net: Network, vocab: Vocab, header: CheckpointHeader, path: string) {
    this.net = net;
    this.vocab = vocab;
    this.header = header;
    this.path = path;
    this.pass = allocPass(net, 1, 1);
    this.state = allocState(net, 1);
  }

  get config(): ModelConfig {
    return this.net.config;
  }

  /** The characters the model knows; step() returns probabilities in this order. */
  get chars(): readonly string[] {
    return this.vocab.symbols;
  }

  /** Sets the hidden state to zeros, as at the start of a text. */
  reset(): void {
    resetState(this.state);
  }

  /**
   * Reads one character (a one-character string or a vocabulary id), updates the hidden state, and returns the
   * probability of every character coming next, indexed like `chars`.
   */
  step(x: string | number): Float32Array {
    if (this.net.config.bidirectional) throw new CharnnError(BIDIRECTIONAL_SAMPLING_REFUSAL);
    const V = this.net.config.vocabSize;
    let id: number;
    if (typeof x === 'number') {
      if (!Number.isInteger(x) || x < 0 || x >= V) throw new CharnnError(`step() takes an id from 0 to ${V - 1}, got ${x}.`);
      id = x;
    } else {
      const ids = primeIds(x, this.vocab);
      if (ids.length !== 1) throw new CharnnError(`step() takes one character, got ${JSON.stringify(x)}.`);
      id = ids[0];
    }
    this.pass.inputs[0] = id;
    forwardLogits(this.net, this.pass, this.state);
    carryState(this.net, this.pass, this.state);
    const logits = this.pass.logits;
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[v]);
    const probs = new Float32Array(V);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[v] - max);
    for (let v = 0; v < V; v++) probs[v] = Math.exp(logits[v] - max) / sum;
    return probs;
  }

  /** Generated characters one at a time (the prime is read, not repeated). Independent of step()'s state. */
  *sample(options: SampleOptions): Generator<string> {
    if (this.net.config.bidirectional) throw new CharnnError(BIDIRECTIONAL_SAMPLING_REFUSAL);
    for (const id of sampleIds(this.net, this.vocab, options)) yield this.vocab.symbols[id];
  }

  /**
   * options.numSamples independent samples, made side by side as streams of one batched step; stream i is seeded
   * with streamSeed(seed, i) (seed + i for a numeric seed). Each has the generated text (without the prime) and its
   * log-probability under the model, in nats (NaN with `logprob: false`, which is faster). Independent of step()'s
   * state.
   */
  sampleMany(options: ManySampleOptions): Array<{ index: number; text: string; logprob: number }> {
    if (this.net.config.bidirectional) throw new CharnnError(BIDIRECTIONAL_SAMPLING_REFUSAL);
    return sampleMany(this.net, this.vocab, options).map((s) => ({ index: s.index, text: this.decode(s.ids), logprob: s.logprob }));
  }

  /** Beam search: the likeliest continuation of options.prime that ends at options.stop or options.length. */
  beam(options: BeamOptions): { text: string; logprob: number; stopped: boolean } {
    if (this.net.config.bidirectional) throw new CharnnError(BIDIRECTIONAL_SAMPLING_REFUSAL);
    const result = beamSearch(this.net, this.vocab, options);
    return { text: this.decode(result.ids), logprob: result.logprob, stopped: result.stopped };
  }

  encode(text: string): IdArray {
    return encodeText(text, this.vocab);
  }

  decode(ids: ArrayLike<number>): string {
    return decodeIds(ids, this.vocab);
  }

  /** Loss of the model on a text (or ids in its vocabulary): nats and bits per character, perplexity. */
  evaluate(text: string | IdArray): Evaluation {
    if (this.net.config.bidirectional) {
      throw new CharnnError('A bidirectional model has no left-to-right loss: evaluate it on masked characters (evaluateMasked).');
    }
    return evaluateIds(this.net, typeof text === 'string' ? this.encode(text) : text);
  }

  /**
   * Per-character scores: for every character after the first, ln p(char | all the text before it), its rank
   * among the model's guesses and the top `top` guesses (default 5); the loss is -mean(logprob), nats per character.
   */
  scoreChars(text: string | IdArray, options: { top?: number } = {}): {
    chars: Array<{ position: number; char: string; logprob: number; rank: number; top: Array<{ char: string; logprob: number }> }>;
    loss: number; bpc: number; perplexity: number; count: number;
  } {
    if (this.net.config.bidirectional) throw new CharnnError('A bidirectional model has no left-to-right scores: evaluate it on masked characters (evaluateMasked).');
    const symbols = this.vocab.symbols;
    const chars: ReturnType<CharModel['scoreChars']>['chars'] = [];
    const summary = scoreChars(this.net, typeof text === 'string' ? this.encode(text) : text, options.top ?? 5, (s) => {
      chars.push({ position: s.position, char: symbols[s.id], logprob: s.logprob, rank: s.rank, top: s.top.map((t) => ({ char: symbols[t.id], logprob: t.logprob })) });
    });
    return { chars, loss: summary.loss, bpc: summary.loss / Math.LN2, perplexity: Math.exp(summary.loss), count: summary.chars };
  }

  /** Whether this is a bidirectional (masked-character) model, which fills gaps from both sides and cannot sample. */
  get bidirectional(): boolean {
    return this.net.config.bidirectional === true;
  }

  /**
   * Bidirectional models: loss and accuracy at a seeded random maskFrac of the text's characters (default: the
   * fraction it was trained with), each predicted from both sides of its window.
   */
  evaluateMasked(text: string | IdArray, options: { maskFrac?: number; seed?: number | string } = {}): MaskedEvaluation {
    if (!this.net.config.bidirectional) throw new CharnnError('Masked-character evaluation needs a bidirectional model; evaluate this one with evaluate().');
    return evaluateMaskedIds(this.net, typeof text === 'string' ? this.encode(text) : text, {
      ...options, seqLength: this.header.training.seqLength,
    });
  }

  /**
   * The text with every mask character (default '_') replaced by the model's choice; all else unchanged. A
   * left-to-right model fills from the left context only (result.leftContextOnly).
   */
  fill(text: string, options: FillOptions = {}): FillResult {
    return fillText(this.net, this.vocab, text, options);
  }
}

/**
 * Loads a checkpoint file, or from a directory the checkpoint with the lowest validation loss (the newest where
 * none has one). Needs a platform with files (Node); anywhere, modelFromBytes takes the checkpoint's bytes.
 */
export async function loadModel(pathOrDir: string, options: { kernels?: Kernels } = {}): Promise<CharModel> {
  const files = checkpointFiles('Loading a model from a path');
  const path = await files.resolve(pathOrDir, 'best');
  let header: CheckpointHeader | undefined;
  const { tensors } = await files.read(path, (raw) => {
    header = parseHeader(raw);
    return expectedTensors(header);
  });
  return modelFrom(header, tensors, path, options);
}

/** A model from a checkpoint's bytes (a download, a dropped file, an embedded model); `name` names it in messages. */
export async function modelFromBytes(bytes: Uint8Array, options: { kernels?: Kernels; name?: string } = {}): Promise<CharModel> {
  const name = options.name ?? 'the checkpoint';
  let header: CheckpointHeader | undefined;
  const { tensors } = await decodeCheckpoint(bytes, name, (raw) => {
    header = parseHeader(raw);
    return expectedTensors(header);
  });
  return modelFrom(header, tensors, name, options);
}

function modelFrom(
  header: CheckpointHeader | undefined, tensors: Map<string, unknown>, path: string, options: { kernels?: Kernels },
): CharModel {
  if (!header) throw new CharnnError(`'${path}' is not a charnn model checkpoint.`);
  const vocab = makeVocab(header.vocab.symbols, header.vocab.encoding);
  const net = createNetwork(options.kernels ?? defaultKernels(), header.model);
  net.params.set(tensors.get('params') as Float32Array);
  // a loaded model's weights never change: its products use them packed once (to the bit the same results)
  if (!header.model.bidirectional) freezeWeights(net);
  return new CharModel(net, vocab, header, path);
}

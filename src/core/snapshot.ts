// What a charnn checkpoint holds, and the checks a loaded one must pass: the JSON header's schema, and the
// exact tensor sizes its model config implies (checked before any tensor data is read).
//
// Tensors: 'params' (the flat parameter buffer, layout from modelParamSpecs), the optimizer's state buffers
// (same layout), and the hidden state carried between batches: 'state.h.<l>' and, for lstm, 'state.c.<l>' (B, H).
// Bidirectional models (model.bidirectional, absent = false) read independent windows and carry no state.

import { CharnnError } from './errors.js';
import { CELL_TYPES, modelParamSpecs, validateModelConfig, type ModelConfig } from './model.js';
import { makeLayout } from './params.js';
import { OPTIMIZERS, type OptimizerName } from './optim.js';
import { isRandomState, type RandomState } from './random.js';

export const CHECKPOINT_FORMAT = 'charnn-lm';

export interface TrainConfig {
  batchSize: number;     // B streams
  seqLength: number;     // T steps of truncated backpropagation
  optimizer: OptimizerName;
  lr: number;
  gradClip: number;      // max global gradient norm, 0 = no clipping
  lrDecay: number;       // multiply the rate by this once per epoch …
  lrDecayAfter: number;  // … from this epoch on
  valFrac: number;       // the last valFrac of the text is held out for validation
  evalEvery: number;     // iterations between validation losses
  valBatches: number;    // batches per validation (0 = the whole validation split)
  seed: number;
  /** A learning-rate schedule to a planned end, in place of the per-epoch decay (absent: char-rnn's decay). */
  schedule?: LrSchedule;
}

/**
 * Warm-up, a constant rate, then cosine decay to a planned end:
 * lr·min(1, (i+1)/warmupIters)·(f + (1 - f)·(1 + cos πq)/2), q = max(0, p - s)/(1 - s), with f = finalLrFrac,
 * s = decayStart and p the share of the plan done: training time over endMs (a time budget; the run's elapsedMs
 * counts every millisecond of training, validations included, across resumes) or iterations over endIters.
 */
export interface LrSchedule {
  warmupIters: number;
  finalLrFrac: number;
  decayStart?: number; // share of the plan before the decay starts (absent: 0, cosine all the way)
  endMs?: number;
  endIters?: number;
}

/** What is wrong with a learning-rate schedule, as a sentence, or null when nothing is (it may come from a file). */
export function scheduleProblem(schedule: unknown): string | null {
  if (typeof schedule !== 'object' || schedule === null || Array.isArray(schedule)) return 'A learning-rate schedule must be an object.';
  const sc = schedule as Record<string, unknown>;
  const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!(isNumber(sc.warmupIters) && Number.isInteger(sc.warmupIters) && sc.warmupIters >= 0)) {
    return `The warm-up must be a whole number of iterations, got ${String(sc.warmupIters)}.`;
  }
  if (!(isNumber(sc.finalLrFrac) && sc.finalLrFrac >= 0 && sc.finalLrFrac <= 1)) return `The final learning-rate fraction must be from 0 to 1, got ${String(sc.finalLrFrac)}.`;
  if (sc.decayStart !== undefined && !(isNumber(sc.decayStart) && sc.decayStart >= 0 && sc.decayStart < 1)) {
    return `The decay start must be a share of the plan from 0 to below 1, got ${String(sc.decayStart)}.`;
  }
  const ends = [sc.endMs, sc.endIters].filter((e) => e !== undefined);
  if (ends.length !== 1 || !(isNumber(ends[0]) && ends[0] > 0)) return 'A learning-rate schedule needs one planned end: a time or an iteration.';
  return null;
}

export interface HistoryPoint {
  iter: number;
  loss: number | null;
  valLoss?: number;
}

export interface CheckpointHeader {
  format: typeof CHECKPOINT_FORMAT;
  runName: string;
  savedAt: string;
  iteration: number;
  epoch: number;
  trainLoss: number | null;
  valLoss: number | null;
  bestValLoss: number | null;
  model: ModelConfig;
  vocab: { encoding: 'utf8' | 'bytes'; symbols: string[] };
  training: TrainConfig;
  corpus: { name: string; chars: number; trainChars: number; valChars: number; batchesPerEpoch: number };
  optimizerSteps: number;
  randomState: RandomState;
  elapsedMs: number;
  history: HistoryPoint[];
}

export function optimizerBufferNames(name: OptimizerName): string[] {
  return name === 'adam' ? ['adam.m', 'adam.v'] : [`${name}.cache`];
}

export function paramCount(config: ModelConfig): number {
  return makeLayout(modelParamSpecs(config)).size;
}

/** Checks a header read from disk and returns it typed; throws CharnnError naming the first problem. */
export function parseHeader(raw: Record<string, unknown>): CheckpointHeader {
  const bad = (what: string): never => {
    throw new CharnnError(`it is not a valid charnn model checkpoint (${what})`);
  };
  if (raw.format !== CHECKPOINT_FORMAT) bad(`format is ${JSON.stringify(raw.format)}, expected ${JSON.stringify(CHECKPOINT_FORMAT)}`);
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const isLossOrNull = (v: unknown) => v === null || (typeof v === 'number' && Number.isFinite(v));
  if (typeof raw.runName !== 'string') bad('runName');
  if (!isCount(raw.iteration)) bad('iteration');
  if (!isLossOrNull(raw.trainLoss) || !isLossOrNull(raw.valLoss) || !isLossOrNull(raw.bestValLoss)) bad('losses');
  const model = raw.model;
  if (!isObject(model)) bad('model');
  const m = model as Record<string, unknown>;
  if (!CELL_TYPES.includes(m.cell as never)) bad('model.cell');
  for (const key of ['vocabSize', 'hiddenSize', 'layers']) if (!isCount(m[key])) bad(`model.${key}`);
  if (typeof m.dropout !== 'number') bad('model.dropout');
  try {
    validateModelConfig(m as unknown as ModelConfig);
  } catch (error) {
    bad(`model: ${(error as Error).message}`);
  }
  const vocab = raw.vocab;
  if (!isObject(vocab) || !Array.isArray(vocab.symbols) || !vocab.symbols.every((s) => typeof s === 'string')) bad('vocab');
  const v = vocab as Record<string, unknown>;
  if (v.encoding !== 'utf8' && v.encoding !== 'bytes') bad('vocab.encoding');
  if ((v.symbols as string[]).length !== m.vocabSize) bad('vocabulary size differs from model.vocabSize');
  const training = raw.training;
  if (!isObject(training)) bad('training');
  const t = training as Record<string, unknown>;
  for (const key of ['batchSize', 'seqLength']) if (!isCount(t[key]) || (t[key] as number) < 1) bad(`training.${key}`);
  if (!OPTIMIZERS.includes(t.optimizer as never)) bad('training.optimizer');
  for (const key of ['lr', 'gradClip', 'lrDecay', 'lrDecayAfter', 'valFrac', 'evalEvery', 'valBatches', 'seed']) {
    if (typeof t[key] !== 'number' || !Number.isFinite(t[key])) bad(`training.${key}`);
  }
  if (t.schedule !== undefined) {
    const problem = scheduleProblem(t.schedule);
    if (problem !== null) bad(`training.schedule: ${problem.replace(/\.$/, '')}`);
  }
  if (!isCount(raw.optimizerSteps)) bad('optimizerSteps');
  if (!isRandomState(raw.randomState)) bad('randomState');
  if (!Array.isArray(raw.history)) bad('history');
  const corpus = raw.corpus;
  if (!isObject(corpus) || !isCount(corpus.batchesPerEpoch)) bad('corpus');
  return raw as unknown as CheckpointHeader;
}

/** The tensors (and their exact sizes) a checkpoint with this header must hold. */
export function expectedTensors(header: CheckpointHeader): Map<string, { dtype: string; length: number }> {
  const { model, training } = header;
  const size = paramCount(model);
  const expected = new Map<string, { dtype: string; length: number }>();
  expected.set('params', { dtype: 'float32', length: size });
  for (const name of optimizerBufferNames(training.optimizer)) expected.set(name, { dtype: 'float32', length: size });
  const stateSize = training.batchSize * model.hiddenSize;
  for (let l = 0; l < (model.bidirectional ? 0 : model.layers); l++) {
    expected.set(`state.h.${l}`, { dtype: 'float32', length: stateSize });
    if (model.cell === 'lstm') expected.set(`state.c.${l}`, { dtype: 'float32', length: stateSize });
  }
  return expected;
}

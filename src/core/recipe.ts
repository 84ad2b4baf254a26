// Planning a training run for a time budget (`charnn train --time`): the model size, dropout and learning-rate
// schedule that give the lowest validation loss in the time this machine has. A short calibration measures how
// fast each candidate size trains here; the plan follows from how many characters each would see.
//
// The rule, and the measurements behind its constants, are in README "Training in a time budget":
// - size: the largest hidden size that would still see at least CHARS_PER_PARAM training characters per
//   parameter (the compute-optimal ratio), where passes over the text beyond MAX_USEFUL_EPOCHS count as nothing new;
// - dropout: none while the model is far from memorising the text, then more the more passes and parameters;
// - schedule: cosine decay to the end of the budget after a short warm-up (replacing char-rnn's per-epoch decay,
//   which a budget cuts off before it has decayed much).

import type { Corpus } from './data/corpus.js';
import type { CellType, ModelConfig } from './model.js';
import type { OptimizerName } from './optim.js';
import { paramCount, type TrainConfig } from './snapshot.js';
import { TrainingRun } from './train.js';

/** Hidden sizes a plan chooses from (when --hidden is not given), smallest first. */
export const CANDIDATE_HIDDEN_SIZES: readonly number[] = [32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024];
export const CHARS_PER_PARAM = 20;
export const MAX_USEFUL_EPOCHS = 16;
/**
 * Dropout follows the pull towards memorising the text: passes over it times parameters per character of it.
 * dropout = DROPOUT_SLOPE × (pull - DROPOUT_FREE_PULL), from 0 to MAX_DROPOUT (2×128 for 100 s on a 1 MB text,
 * pull ~2, learns best without: 0.1 cost it 0.09 nats; 2×192 for 10 minutes on one core, pull ~10–11, learns
 * better with 0.3 than with the 0.2 a slope of 0.025 gave it: TypeScript source, seeds 1 and 2, 1.0707 and 1.0244
 * against 1.0791 and 1.0755).
 */
export const DROPOUT_FREE_PULL = 2;
export const DROPOUT_SLOPE = 0.035;
export const MAX_DROPOUT = 0.3;
/**
 * The planned run's learning rate when none is given. Adagrad's own per-weight decay slows long runs; after a
 * warm-up it takes twice char-rnn's 0.05 (2×192 for 10 minutes on tiny-shakespeare: 1.568 against 1.599 at
 * iteration 2,807). The others keep their defaults.
 */
export const PLANNED_LEARNING_RATE: Readonly<Record<OptimizerName, number>> = { adagrad: 0.1, rmsprop: 2e-3, adam: 2e-3 };
export const WARMUP_SHARE = 0.02;       // of the planned iterations
export const DECAY_START = 0.8;         // constant rate for this share of the budget, then the cosine decay
/** Validations and checkpoints take about this share of a budget; the rest is training steps. */
const STEP_SHARE = 0.95;
/**
 * Each calibration measurement: one warm-up step, then steps for at least this share of the budget (and at least
 * two steps, and CALIBRATION_MIN_MS to CALIBRATION_MAX_MS). 150 ms of a 2×192 run on two threads read anything from
 * 28k to 64k chars/s against ~40k in the runs; 600 ms (a 10-minute budget), timed again with the dropout, read
 * 36k–51k against 45–48k, and the run's own speed corrects the rest (REPLAN_SHARE).
 */
export const CALIBRATION_SHARE = 0.001;
const CALIBRATION_MIN_MS = 150;
const CALIBRATION_MAX_MS = 1000;

export interface PlanRequest {
  budgetMs: number;
  trainChars: number;   // characters in the training split
  vocabSize: number;
  cell: CellType;
  layers: number;
  batchSize: number;
  seqLength: number;
  hiddenSize?: number;  // given by the user: kept
  dropout?: number;     // given by the user: kept
  /**
   * Training speed of a model with this hidden size and dropout on this machine, in characters per millisecond,
   * timed for about `ms` after a warm-up step.
   */
  measure(hiddenSize: number, dropout: number, ms: number): Promise<number>;
  /** Milliseconds since the plan started (the calibration spends the budget too). */
  now(): number;
}

export interface Plan {
  hiddenSize: number;
  dropout: number;
  warmupIters: number;
  decayStart: number;
  plannedIters: number;       // at the measured speed
  plannedEpochs: number;
  trainChars: number;         // in the training split the plan is for
  charsPerParam: number;
  measured: Array<{ hiddenSize: number; dropout: number; charsPerSec: number }>;
  calibrationMs: number;
  /** One clause: why this model. */
  reason: string;
}

/** The plan for a budget (see the file comment for the rule). */
export async function planForBudget(request: PlanRequest): Promise<Plan> {
  const started = request.now();
  const { trainChars, batchSize, seqLength } = request;
  const params = (hiddenSize: number) =>
    paramCount({ cell: request.cell, vocabSize: request.vocabSize, hiddenSize, layers: request.layers, dropout: 0 });
  const measured: Plan['measured'] = [];
  // characters a model at this speed sees in what is left of the budget once calibration is over
  const charsAt = (charsPerMs: number) => charsPerMs * Math.max(0, request.budgetMs - (request.now() - started)) * STEP_SHARE;
  const usefulChars = (chars: number) => Math.min(chars, MAX_USEFUL_EPOCHS * trainChars);
  const timingMs = Math.min(CALIBRATION_MAX_MS, Math.max(CALIBRATION_MIN_MS, CALIBRATION_SHARE * request.budgetMs));
  const measure = async (hiddenSize: number, dropout: number, ms: number) => {
    const speed = await request.measure(hiddenSize, dropout, ms);
    measured.push({ hiddenSize, dropout, charsPerSec: 1000 * speed });
    return speed;
  };

  let hiddenSize: number;
  let charsPerMs: number;
  let reason: string;
  if (request.hiddenSize !== undefined) {
    hiddenSize = request.hiddenSize;
    charsPerMs = await measure(hiddenSize, request.dropout ?? 0, timingMs);
    reason = `hidden size ${hiddenSize} as given`;
  } else {
    let chosen: { hiddenSize: number; charsPerMs: number } | null = null;
    let smallestFits = true;
    for (const candidate of CANDIDATE_HIDDEN_SIZES) {
      const speed = await measure(candidate, request.dropout ?? 0, timingMs);
      const fits = usefulChars(charsAt(speed)) >= CHARS_PER_PARAM * params(candidate);
      if (!fits && chosen !== null) break; // a larger model is slower and needs more characters still
      chosen = { hiddenSize: candidate, charsPerMs: speed };
      if (!fits) {
        smallestFits = false; // even the smallest does not fit: it is the best there is
        break;
      }
    }
    hiddenSize = chosen!.hiddenSize;
    charsPerMs = chosen!.charsPerMs;
    const next = CANDIDATE_HIDDEN_SIZES[CANDIDATE_HIDDEN_SIZES.indexOf(hiddenSize) + 1];
    reason = !smallestFits
      ? `the smallest size tried: too little ${usefulChars(Infinity) < CHARS_PER_PARAM * params(hiddenSize) ? 'text' : 'time'} for ${CHARS_PER_PARAM} characters per parameter`
      : `the largest that sees ${CHARS_PER_PARAM}+ characters per parameter in the time` +
        (next !== undefined && measured.some((m) => m.hiddenSize === next) ? ` (${next} would see fewer)` : '');
  }
  const dropoutFor = (charsPerMs: number) => request.dropout ?? dropoutForChars(charsAt(charsPerMs), params(hiddenSize), trainChars);
  let dropout = dropoutFor(charsPerMs);
  if (request.dropout === undefined && dropout > 0) {
    // Dropout costs time (masks drawn, applied, and through backward: a 2×192 LSTM on two threads trains ~15% slower
    // at 0.2), so the speed that sets the passes, and the passes the dropout, are those of the run with its dropout.
    charsPerMs = await measure(hiddenSize, dropout, 2 * timingMs);
    dropout = dropoutFor(charsPerMs);
  }
  const plannedChars = charsAt(charsPerMs);
  const plannedEpochs = plannedChars / trainChars;
  const plannedIters = Math.max(1, Math.floor(plannedChars / (batchSize * seqLength)));
  return {
    hiddenSize, dropout, plannedIters, plannedEpochs, trainChars,
    warmupIters: Math.round(WARMUP_SHARE * plannedIters),
    decayStart: DECAY_START,
    charsPerParam: plannedChars / params(hiddenSize),
    measured,
    calibrationMs: request.now() - started,
    reason,
  };
}

/** The rule's dropout for a model of `params` parameters that will see `chars` characters of a `trainChars` text. */
export function dropoutForChars(chars: number, params: number, trainChars: number): number {
  const pull = ((chars / trainChars) * params) / trainChars;
  return roundTo(Math.min(MAX_DROPOUT, Math.max(0, DROPOUT_SLOPE * (pull - DROPOUT_FREE_PULL))), 0.05);
}

/**
 * A planned run looks again once it has spent this share of its time: the calibration's seconds of timing can be
 * 20% off what the run makes (a shared machine, the native pool settling on its threads), and the dropout follows
 * the passes. The run's own speed so far, validations and checkpoints included, is the better measure.
 */
export const REPLAN_SHARE = 0.1;

/**
 * The dropout for the rest of a run that has trained `charsSoFar` characters in `elapsedMs` of its `budgetMs`, and
 * the passes over the text it is set for (the run's pace so far, to the end of the budget).
 */
export function replannedDropout(
  charsSoFar: number, elapsedMs: number, budgetMs: number, params: number, trainChars: number,
): { dropout: number; passes: number } {
  const projected = charsSoFar * Math.max(1, budgetMs / Math.max(1, elapsedMs));
  return { dropout: dropoutForChars(projected, params, trainChars), passes: projected / trainChars };
}

function roundTo(x: number, step: number): number {
  return Number((Math.round(x / step) * step).toFixed(10));
}

/**
 * Characters per millisecond that training this model reaches here: a throwaway run on the real corpus and batch
 * shape, one warm-up step, then steps for `ms` (at least two).
 */
export async function measureTrainingSpeed(
  corpus: Corpus, model: Omit<ModelConfig, 'vocabSize'>, training: TrainConfig, threads: number | undefined, ms: number,
): Promise<number> {
  const run = TrainingRun.create({ corpus, model, training, runName: 'calibration', corpusName: 'calibration', threads });
  try {
    run.step();
    const started = performance.now();
    let steps = 0;
    while (steps < 2 || performance.now() - started < ms) {
      run.step();
      steps++;
    }
    return (steps * run.charsPerIteration) / (performance.now() - started);
  } finally {
    run.close();
  }
}

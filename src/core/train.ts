// The training loop as a library: a TrainingRun holds the network, optimizer, data position, carried hidden
// state and random generator; step() is one iteration of truncated BPTT; runTraining() drives steps,
// validation and checkpoints until a budget is spent. Everything needed to continue exactly is checkpointed.
//
// Dimension legend: B batch streams, T time steps (seqLength), V vocabulary size, H hidden size.

import { CharnnError } from './errors.js';
import type { Corpus, Vocab } from './data/corpus.js';
import { makeVocab } from './data/corpus.js';
import { BatchLoader, splitCorpus } from './data/batches.js';
import type { Kernels } from './kernels/types.js';
import {
  allocPass, allocState, backward, carryState, createNetwork, forwardLoss, initParams, resetState,
  type CarriedState, type ModelConfig, type Network, type Pass,
} from './model.js';
import { clipGradNorm, createOptimizer, learningRateAt, optimizerStep, scheduledLearningRate, type Optimizer } from './optim.js';
import { createRandom, type Random } from './random.js';
import {
  CHECKPOINT_FORMAT, expectedTensors, optimizerBufferNames, parseHeader, scheduleProblem,
  type CheckpointHeader, type HistoryPoint, type TrainConfig,
} from './snapshot.js';
import { checkpointFileName, decodeCheckpoint, encodeCheckpoint, type CheckpointContents, type TensorData } from './checkpoint/format.js';
import { checkpointFiles, platform, trainingKernels, type BiParallelStep, type ParallelStep } from './platform.js';
import { lossSteps, runSteps, runStepsYielding, type BatchSteps } from './evaluate.js';
import { gradNorms, hiddenStats, stepStats, type StepStats } from './inspect/stats.js';
import { allocBiPass, biBackward, biForwardLoss, fillMaskedBatch, maskedLossSteps, type BiPass } from './bidirectional.js';

export type { TrainConfig } from './snapshot.js';

/** A loss above this (nats per character) after the first iterations means training has diverged. */
const EXPLODING_LOSS = 100;

export interface StepResult {
  iteration: number;   // iterations completed, including this one
  epoch: number;       // fractional epochs completed
  loss: number;        // this batch's training loss, nats per character
  gradNorm: number;    // global gradient norm before clipping
  lr: number;          // learning rate used for this step
  stats?: StepStats;   // hidden-state and gradient statistics, when the step was asked for them
}

export interface NewRunOptions {
  corpus: Corpus;
  model: Omit<ModelConfig, 'vocabSize'>;
  training: TrainConfig;
  runName: string;
  corpusName: string;
  kernels?: Kernels;
  /** Threads a training step splits its B streams across (default: the platform's, in Node os.availableParallelism()). */
  threads?: number;
  /**
   * Weights to start from instead of the seeded initialisation (fine-tuning, `train --init-from`), in the layout of
   * modelParamSpecs for this model; the optimizer state still starts fresh.
   */
  initParams?: Float32Array;
}

/** Options of TrainingRun.resume. */
export interface ResumeOptions {
  kernels?: Kernels;
  corpusName?: string;
  /** As in NewRunOptions; the thread count is not part of the checkpoint. */
  threads?: number;
  /** Names a checkpoint given as bytes in messages (default 'the checkpoint'). */
  name?: string;
}

export class TrainingRun {
  readonly net: Network;
  readonly vocab: Vocab;
  readonly training: TrainConfig;
  readonly runName: string;
  readonly corpusName: string;
  readonly trainLoader: BatchLoader;
  readonly valLoader: BatchLoader | null;
  readonly optimizer: Optimizer;
  readonly state: CarriedState;
  readonly corpusChars: number;
  random: Random;
  iteration = 0;
  lastLoss: number | null = null;
  valLoss: number | null = null;
  bestValLoss: number | null = null;
  elapsedMs = 0;
  history: HistoryPoint[] = [];
  private pass: Pass;
  /** With more than one thread: the step split across worker threads (its slice-0 pass holds the statistics). */
  private parallel: ParallelStep | null = null;
  /** The same for a bidirectional model: its B windows split across worker threads. */
  private biParallel: BiParallelStep | null = null;
  private valPass: Pass | null = null;
  /** Bidirectional models train as masked-character models on independent windows, with these passes instead. */
  private biPass: BiPass | null = null;
  private valBiPass: BiPass | null = null;
  /** Bidirectional models: accuracy at the masked positions of the last validation. */
  valAccuracy: number | null = null;
  private valState: CarriedState | null = null;

  private constructor(args: {
    net: Network; vocab: Vocab; training: TrainConfig; runName: string; corpusName: string; corpus: Corpus; random: Random;
    threads?: number;
  }) {
    this.net = args.net;
    this.vocab = args.vocab;
    this.training = args.training;
    this.runName = args.runName;
    this.corpusName = args.corpusName;
    this.random = args.random;
    const { batchSize: B, seqLength: T, valFrac } = args.training;
    const { train, val } = splitCorpus(args.corpus.ids, valFrac);
    this.corpusChars = args.corpus.ids.length;
    this.trainLoader = new BatchLoader(train, B, T, 'training text');
    this.valLoader = val.length > 0 ? BatchLoader.forEvaluation(val, B, T) : null;
    this.optimizer = createOptimizer(args.training.optimizer, args.net.kernels, args.net.layout.size);
    this.state = allocState(args.net, B);
    this.pass = allocPass(args.net, B, T);
    if (args.net.config.bidirectional) this.biPass = allocBiPass(args.net, B, T);
    // Data parallelism needs a platform with threads (and kernels it can share with them) and at least a stream
    // (bidirectional: a window) per thread. Otherwise, and with threads = 1, the step runs here.
    const threads = Math.min(resolveThreads(args.threads), B);
    const net = args.net;
    if (threads > 1) {
      if (net.config.bidirectional) this.biParallel = platform().createBiParallelStep?.(net, B, T, threads) ?? null;
      else this.parallel = platform().createParallelStep?.(net, B, T, this.state, threads) ?? null;
    }
  }

  /** Threads the training step runs on: the data-parallel workers, or the kernels' own (native) threads. */
  get threads(): number {
    return this.parallel?.threads ?? this.biParallel?.threads ?? this.net.kernels.threads ?? 1;
  }

  /**
   * Changes the dropout rate from the next step on (a planned run re-planning it once it knows its speed); 0 turns
   * it off. Only a run whose model had dropout when it was created has the mask buffers to turn it up.
   */
  setDropout(p: number): void {
    if (!(p >= 0 && p < 1)) throw new CharnnError(`Dropout must be at least 0 and below 1, got ${p}.`);
    if (p > 0 && !this.hasDropoutBuffers) throw new CharnnError('This run was created without dropout, so it cannot turn dropout on.');
    this.net.config.dropout = p;
  }

  /** Whether the passes were made with dropout's mask buffers (allocPass gives them only to a model with dropout). */
  private get hasDropoutBuffers(): boolean {
    return this.pass.masks[0].length > 0;
  }

  /** Stops the worker threads, if any (they do not keep the process alive; this frees them early). */
  close(): void {
    this.parallel?.close();
    this.parallel = null;
    this.biParallel?.close();
    this.biParallel = null;
  }

  /** A fresh run: weights initialised from the seed, hidden state zero, iteration 0. */
  static create(options: NewRunOptions): TrainingRun {
    validateTrainConfig(options.training);
    const kernels = options.kernels ?? trainingKernels(resolveThreads(options.threads));
    const config: ModelConfig = { ...options.model, vocabSize: options.corpus.vocab.symbols.length };
    const net = createNetwork(kernels, config);
    if (options.initParams) {
      if (options.initParams.length !== net.layout.size) {
        throw new CharnnError(`The initial weights have ${options.initParams.length} values, but this model has ${net.layout.size} parameters.`);
      }
      net.params.set(options.initParams);
    } else {
      initParams(net, createRandom(`${options.training.seed}:init`));
    }
    return new TrainingRun({
      net, vocab: options.corpus.vocab, training: options.training, runName: options.runName,
      corpusName: options.corpusName, corpus: options.corpus, random: createRandom(`${options.training.seed}:train`),
      threads: options.threads,
    });
  }

  /**
   * Continues a run from a checkpoint, bit for bit: weights, optimizer state, iteration (hence data position and
   * learning rate), carried hidden state and random state. The corpus must have the checkpoint's vocabulary. The
   * checkpoint is a file path (where the platform has files), or its bytes; `options.name` names bytes in messages.
   */
  static async resume(checkpoint: string | Uint8Array, corpus: Corpus, options: ResumeOptions = {}): Promise<TrainingRun> {
    const path = typeof checkpoint === 'string' ? checkpoint : options.name ?? 'the checkpoint';
    const expect = (raw: Record<string, unknown>) => expectedTensors(parseHeader(raw));
    const { header, tensors }: CheckpointContents = typeof checkpoint === 'string'
      ? await checkpointFiles('Resuming from a checkpoint path').read(checkpoint, expect)
      : await decodeCheckpoint(checkpoint, path, expect);
    const h = parseHeader(header);
    const vocab = makeVocab(h.vocab.symbols, h.vocab.encoding);
    if (!sameVocab(vocab, corpus.vocab)) {
      throw new CharnnError(
        `The corpus has a different vocabulary from the checkpoint ${path} (${corpus.vocab.symbols.length} vs ${vocab.symbols.length} characters): resume with the corpus it was trained on.`,
      );
    }
    const net = createNetwork(options.kernels ?? trainingKernels(resolveThreads(options.threads)), h.model);
    const run = new TrainingRun({
      net, vocab, training: h.training, runName: h.runName, corpusName: options.corpusName ?? h.corpus.name,
      corpus, random: createRandom('', h.randomState), threads: options.threads,
    });
    if (run.trainLoader.batchesPerEpoch !== h.corpus.batchesPerEpoch || run.corpusChars !== h.corpus.chars) {
      throw new CharnnError(
        `The corpus is not the one the checkpoint ${path} was trained on (${run.corpusChars} characters, expected ${h.corpus.chars}): resume with the same corpus.`,
      );
    }
    net.params.set(tensors.get('params') as Float32Array);
    for (const buffer of run.optimizer.buffers) buffer.data.set(tensors.get(buffer.name) as Float32Array);
    run.optimizer.steps = h.optimizerSteps;
    for (let l = 0; l < (h.model.bidirectional ? 0 : h.model.layers); l++) {
      run.state.h[l].set(tensors.get(`state.h.${l}`) as Float32Array);
      if (h.model.cell === 'lstm') run.state.c[l].set(tensors.get(`state.c.${l}`) as Float32Array);
    }
    run.iteration = h.iteration;
    run.lastLoss = h.trainLoss;
    run.valLoss = h.valLoss;
    run.bestValLoss = h.bestValLoss;
    run.elapsedMs = h.elapsedMs;
    run.history = h.history;
    return run;
  }

  get batchesPerEpoch(): number {
    return this.trainLoader.batchesPerEpoch;
  }

  get epoch(): number {
    return this.iteration / this.batchesPerEpoch;
  }

  get charsPerIteration(): number {
    return this.training.batchSize * this.training.seqLength;
  }

  learningRate(): number {
    const { lr, lrDecay, lrDecayAfter, schedule } = this.training;
    if (schedule) return scheduledLearningRate(lr, schedule, this.iteration, this.elapsedMs);
    return learningRateAt(lr, Math.floor(this.iteration / this.batchesPerEpoch), lrDecay, lrDecayAfter);
  }

  /**
   * One iteration: next batch, forward, backward, clip, optimizer step, carry the hidden state. With `stats`,
   * also measures the hidden states of this forward and the per-layer gradient norms before clipping.
   */
  step(options: { stats?: boolean } = {}): StepResult {
    const net = this.net;
    const batchIndex = this.iteration % this.batchesPerEpoch;
    const bi = this.biPass;
    if (bi) {
      fillMaskedBatch(this.trainLoader, batchIndex, bi, net.config.vocabSize, net.config.maskFrac!, this.random);
    } else {
      // a new epoch starts every stream from its beginning, so from a zero state
      if (batchIndex === 0) resetState(this.state);
      this.trainLoader.fill(batchIndex, this.pass.inputs, this.pass.targets);
    }
    const lr = this.learningRate();

    // forward / backward
    net.grads.fill(0);
    const dropoutRandom = net.config.dropout > 0 ? this.random : undefined;
    const parallel = this.parallel;
    // with threads, forward AND backward (and the state carry) happen here, split across the workers
    const loss = bi ? (this.biParallel ? this.biParallel.forwardBackward(bi, dropoutRandom) : biForwardLoss(net, bi, dropoutRandom))
      : parallel ? parallel.forwardBackward(this.pass.inputs, this.pass.targets, dropoutRandom)
      : forwardLoss(net, this.pass, this.state, dropoutRandom);
    if (!Number.isFinite(loss) || (loss > EXPLODING_LOSS && this.iteration > 10)) {
      throw new CharnnError(
        `Training diverged at iteration ${this.iteration + 1} (loss ${loss}): lower the learning rate (now ${lr}) or the gradient clip.`,
      );
    }
    // statistics of the forward (with threads: of the main thread's slice of the streams)
    const hidden = options.stats && !bi ? hiddenStats(net, parallel?.pass ?? this.pass) : undefined;
    if (bi) {
      if (!this.biParallel) biBackward(net, bi);
    } else if (!parallel) backward(net, this.pass);
    const stats = hidden ? stepStats(hidden, gradNorms(net)) : undefined;

    // clip, step
    const gradNorm = clipGradNorm(net.grads, this.training.gradClip > 0 ? this.training.gradClip : Infinity);
    if (!Number.isFinite(gradNorm)) {
      throw new CharnnError(`Training diverged at iteration ${this.iteration + 1} (gradient norm ${gradNorm}): lower the learning rate (now ${lr}).`);
    }
    optimizerStep(this.optimizer, net.params, net.grads, lr);
    if (!bi && !parallel) carryState(net, this.pass, this.state);

    this.iteration++;
    this.lastLoss = loss;
    return { iteration: this.iteration, epoch: this.epoch, loss, gradNorm, lr, ...(stats && { stats }) };
  }

  /**
   * Mean loss (nats per character) over the validation split, or up to training.valBatches of it, from a zero
   * state carried across its batches (bidirectional: the masked-character loss, the same masked positions every
   * time). Returns null when there is no validation split or `shouldStop` asked to stop part way.
   */
  evaluate(shouldStop?: () => boolean): number | null {
    return runSteps(this.validation(), shouldStop);
  }

  /** `evaluate`, letting the event loop run between batches so Ctrl-C interrupts a long validation within a batch. */
  evaluateYielding(shouldStop?: () => boolean): Promise<number | null> {
    return runStepsYielding(this.validation(), shouldStop);
  }

  private *validation(): BatchSteps<number | null> {
    const loader = this.valLoader;
    if (!loader) return null;
    const batches = this.training.valBatches > 0 ? Math.min(this.training.valBatches, loader.batchesPerEpoch) : loader.batchesPerEpoch;
    let valLoss: number;
    if (this.net.config.bidirectional) {
      this.valBiPass ??= allocBiPass(this.net, loader.batchSize, loader.seqLength);
      const result = yield* maskedLossSteps(this.net, loader, this.valBiPass, batches, this.net.config.maskFrac!, this.training.seed);
      valLoss = result.loss;
      this.valAccuracy = result.accuracy;
    } else {
      this.valPass ??= allocPass(this.net, loader.batchSize, loader.seqLength);
      this.valState ??= allocState(this.net, loader.batchSize);
      valLoss = yield* lossSteps(this.net, loader, this.valPass, this.valState, batches);
    }
    this.valLoss = valLoss;
    if (this.bestValLoss === null || valLoss < this.bestValLoss) this.bestValLoss = valLoss;
    this.history.push({ iter: this.iteration, loss: this.lastLoss, valLoss });
    return valLoss;
  }

  /** The checkpoint header and tensors for the current moment. */
  snapshot(): { header: CheckpointHeader; tensors: Array<{ name: string; data: TensorData }> } {
    const header: CheckpointHeader = {
      format: CHECKPOINT_FORMAT,
      runName: this.runName,
      savedAt: new Date().toISOString(),
      iteration: this.iteration,
      epoch: this.epoch,
      trainLoss: this.lastLoss,
      valLoss: this.valLoss,
      bestValLoss: this.bestValLoss,
      model: this.net.config,
      vocab: { encoding: this.vocab.encoding, symbols: [...this.vocab.symbols] },
      training: this.training,
      corpus: {
        name: this.corpusName, chars: this.corpusChars, trainChars: this.trainLoader.streamLength * this.training.batchSize,
        valChars: Math.floor(this.corpusChars * this.training.valFrac), batchesPerEpoch: this.batchesPerEpoch,
      },
      optimizerSteps: this.optimizer.steps,
      randomState: this.random.state(),
      elapsedMs: this.elapsedMs,
      history: this.history,
    };
    const f32 = (a: ArrayLike<number>) => (a instanceof Float32Array ? a : Float32Array.from(a));
    const tensors: Array<{ name: string; data: TensorData }> = [{ name: 'params', data: f32(this.net.params) }];
    for (const b of this.optimizer.buffers) tensors.push({ name: b.name, data: f32(b.data) });
    // bidirectional models carry no state between batches, so have none to save
    for (let l = 0; l < (this.net.config.bidirectional ? 0 : this.net.config.layers); l++) {
      tensors.push({ name: `state.h.${l}`, data: f32(this.state.h[l]) });
      if (this.net.config.cell === 'lstm') tensors.push({ name: `state.c.${l}`, data: f32(this.state.c[l]) });
    }
    return { header, tensors };
  }

  /** This moment's checkpoint as bytes (what save() writes): what a page downloads, and what resume() takes. */
  checkpointBytes(): Uint8Array {
    const { header, tensors } = this.snapshot();
    return encodeCheckpoint(header as unknown as Record<string, unknown>, tensors);
  }

  /** The file name this moment's checkpoint gets: char-rnn style, e.g. `names_i000660_v2.1949.ckpt`. */
  checkpointName(): string {
    return checkpointFileName(this.runName, this.iteration, this.valLoss ?? undefined);
  }

  /** The path this moment's checkpoint gets in `dir`. */
  checkpointPath(dir: string): string {
    return checkpointFiles('Saving a checkpoint to a directory').join(dir, this.checkpointName());
  }

  async save(dir: string): Promise<string> {
    const files = checkpointFiles('Saving a checkpoint to a directory');
    const path = files.join(dir, this.checkpointName());
    const { header, tensors } = this.snapshot();
    await files.write(path, header as unknown as Record<string, unknown>, tensors);
    return path;
  }

  /** Synchronous save, for the last checkpoint on the way out of a signal handler. */
  saveSync(dir: string): string {
    const files = checkpointFiles('Saving a checkpoint to a directory');
    const path = files.join(dir, this.checkpointName());
    const { header, tensors } = this.snapshot();
    files.writeSync(path, header as unknown as Record<string, unknown>, tensors);
    return path;
  }
}

function sameVocab(a: Vocab, b: Vocab): boolean {
  return a.encoding === b.encoding && a.symbols.length === b.symbols.length && a.symbols.every((s, i) => s === b.symbols[i]);
}

/** The thread count asked for, checked; absent = the platform's default (in Node, the cores it may use). */
function resolveThreads(threads: number | undefined): number {
  if (threads === undefined) return platform().defaultThreads();
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= 256)) {
    throw new CharnnError(`The number of threads must be an integer from 1 to 256, got ${threads}.`);
  }
  return threads;
}

export function validateTrainConfig(t: TrainConfig): void {
  const int = (v: number, min: number) => Number.isInteger(v) && v >= min;
  if (!int(t.batchSize, 1)) throw new CharnnError(`The batch size must be a positive integer, got ${t.batchSize}.`);
  if (!int(t.seqLength, 1)) throw new CharnnError(`The sequence length must be a positive integer, got ${t.seqLength}.`);
  if (!(t.lr > 0 && Number.isFinite(t.lr))) throw new CharnnError(`The learning rate must be a positive number, got ${t.lr}.`);
  if (!(t.gradClip >= 0 && Number.isFinite(t.gradClip))) throw new CharnnError(`The gradient clip must be 0 (off) or positive, got ${t.gradClip}.`);
  if (!(t.lrDecay > 0 && t.lrDecay <= 1)) throw new CharnnError(`The learning-rate decay must be above 0 and at most 1, got ${t.lrDecay}.`);
  if (!int(t.lrDecayAfter, 0)) throw new CharnnError(`The epoch to start learning-rate decay must be a whole number, got ${t.lrDecayAfter}.`);
  if (!(t.valFrac >= 0 && t.valFrac < 1)) throw new CharnnError(`The validation fraction must be at least 0 and below 1, got ${t.valFrac}.`);
  if (!int(t.evalEvery, 1)) throw new CharnnError(`The evaluation interval must be a positive integer, got ${t.evalEvery}.`);
  if (!int(t.valBatches, 0)) throw new CharnnError(`The number of validation batches must be a whole number, got ${t.valBatches}.`);
  if (!Number.isFinite(t.seed)) throw new CharnnError(`The seed must be a number, got ${t.seed}.`);
  const problem = t.schedule !== undefined ? scheduleProblem(t.schedule) : null;
  if (problem !== null) throw new CharnnError(problem);
}

export interface TrainBudget {
  maxIters?: number;    // stop after this many iterations in total (counting those before a resume)
  epochs?: number;      // stop after this many epochs in total
  timeLimitMs?: number; // stop after this much training time in this process
}

export interface IterationEvent extends StepResult {
  charsPerSec: number; // over this process's training so far
  elapsedMs: number;   // training time in this process
  totalIters: number;  // the iteration the budget ends at (Infinity for a time-only budget)
}

export interface TrainingHooks {
  onIteration?(event: IterationEvent): void;
  onEval?(event: { iteration: number; epoch: number; valLoss: number; bestValLoss: number }): void;
  onCheckpoint?(path: string): void;
  /**
   * Once per run: the validation loss went up at two validations in a row while the mean training loss since the
   * validation before went down: the model is learning the training text rather than the language (overfitting).
   */
  onOverfitting?(event: { iteration: number; valLoss: number; bestIteration: number; bestValLoss: number }): void;
  /** Polled between steps and between validation batches; true ends training after the current step. */
  shouldStop?(): boolean;
}

export interface RunTrainingOptions {
  budget: TrainBudget;
  checkpointDir?: string;      // no directory: no checkpoints
  checkpointEvery?: number;    // iterations between checkpoints (besides the one at the end)
  keep?: number;               // checkpoints of this run to keep besides its best one (default: all)
  statsEvery?: number;         // iterations between hidden-state statistics in onIteration events (0/absent: none)
  patience?: number;           // stop once this many validations in a row have not improved on the best (absent: never)
  hooks?: TrainingHooks;
}

export interface TrainingSummary {
  iterations: number;
  stoppedBy: 'budget' | 'signal' | 'patience';
  trainLoss: number | null;
  valLoss: number | null;
  bestValLoss: number | null;
  bestIteration: number | null; // the iteration of the best validation loss
  lastCheckpoint: string | null;
  bestCheckpoint: string | null;
}

/** Runs steps until the budget is spent or hooks.shouldStop(); validates every evalEvery iterations and at the end. */
export async function runTraining(run: TrainingRun, options: RunTrainingOptions): Promise<TrainingSummary> {
  const { budget, hooks = {}, checkpointDir, checkpointEvery = 0, keep, statsEvery = 0, patience } = options;
  if (patience !== undefined && !(Number.isInteger(patience) && patience >= 1)) throw new CharnnError(`--patience must be a whole number of validations of at least 1, got ${patience}.`);
  const fromEpochs = budget.epochs !== undefined ? Math.ceil(budget.epochs * run.batchesPerEpoch) : Infinity;
  const totalIters = Math.min(budget.maxIters ?? Infinity, fromEpochs);
  if (totalIters === Infinity && budget.timeLimitMs === undefined) throw new CharnnError('Give training a budget: iterations, epochs or time.');
  const started = performance.now();
  const startIteration = run.iteration;
  let lastCheckpoint: string | null = null;
  let bestCheckpoint: string | null = null;
  let stoppedBy: TrainingSummary['stoppedBy'] = 'budget';

  const save = async () => {
    if (checkpointDir === undefined) return;
    lastCheckpoint = await run.save(checkpointDir);
    if (run.valLoss !== null && run.valLoss === run.bestValLoss) bestCheckpoint = lastCheckpoint;
    hooks.onCheckpoint?.(lastCheckpoint);
    if (keep !== undefined) await checkpointFiles('Pruning checkpoints').prune(checkpointDir, run.runName, keep);
  };
  const watch = new ValidationWatch(run.history, patience);
  const evaluate = async () => {
    const valLoss = await run.evaluateYielding(hooks.shouldStop);
    if (valLoss === null) return;
    const { overfitting } = watch.validated(run.iteration, valLoss);
    hooks.onEval?.({ iteration: run.iteration, epoch: run.epoch, valLoss, bestValLoss: run.bestValLoss! });
    if (overfitting) hooks.onOverfitting?.({ iteration: run.iteration, valLoss, bestIteration: watch.bestIteration!, bestValLoss: run.bestValLoss! });
  };

  // the run's training time counts everything from here to the end (validations and checkpoints too): it is what a
  // time budget spends, and the clock a time-planned learning-rate schedule follows
  let ticked = started;
  const clock = () => {
    const now = performance.now();
    run.elapsedMs += now - ticked;
    ticked = now;
  };
  while (run.iteration < totalIters) {
    clock();
    const elapsed = performance.now() - started;
    if (budget.timeLimitMs !== undefined && elapsed >= budget.timeLimitMs) break;
    if (hooks.shouldStop?.()) {
      stoppedBy = 'signal';
      break;
    }
    const result = run.step({ stats: statsEvery > 0 && (run.iteration + 1) % statsEvery === 0 });
    clock();
    watch.trained(result.loss);
    const elapsedMs = performance.now() - started;
    hooks.onIteration?.({
      ...result,
      elapsedMs,
      charsPerSec: ((run.iteration - startIteration) * run.charsPerIteration) / (elapsedMs / 1000),
      totalIters,
    });
    const last = run.iteration >= totalIters;
    if (!last && run.iteration % run.training.evalEvery === 0) await evaluate();
    if (!last && checkpointEvery > 0 && run.iteration % checkpointEvery === 0) await save();
    if (watch.outOfPatience) {
      stoppedBy = 'patience';
      break;
    }
    // let signal handlers and output streams run between steps
    await platform().yieldToEventLoop();
  }
  if (hooks.shouldStop?.()) stoppedBy = 'signal';
  if (stoppedBy === 'budget' && run.iteration > startIteration) await evaluate();
  // the last validation may be the one that ran out of patience
  if (stoppedBy === 'budget' && watch.outOfPatience) stoppedBy = 'patience';
  clock();
  if (run.iteration > startIteration || lastCheckpoint === null) await save();
  return {
    iterations: run.iteration, stoppedBy, trainLoss: run.lastLoss, valLoss: run.valLoss, bestValLoss: run.bestValLoss, bestIteration: watch.bestIteration,
    lastCheckpoint, bestCheckpoint: bestCheckpoint ?? lastCheckpoint,
  };
}

/**
 * What the validation losses of a run say: when it last improved (early stopping after `patience` validations without
 * a new best) and whether it is overfitting (the validation loss rose at two validations in a row while the mean
 * training loss since the validation before fell; reported once). A resumed run replays its recorded history first.
 */
class ValidationWatch {
  bestIteration: number | null = null;
  outOfPatience = false;
  private best = Infinity;
  private sinceBest = 0;
  private previousVal: number | null = null;
  private previousTrainMean: number | null = null;
  private trainSum = 0;
  private trainSteps = 0;
  private risingWhileTrainFalls = 0;
  private warned = false;

  constructor(history: readonly HistoryPoint[], private readonly patience: number | undefined) {
    for (const point of history) if (point.valLoss !== undefined) this.record(point.iter, point.valLoss);
  }

  /** A training step's loss, for the mean since the last validation. */
  trained(loss: number): void {
    this.trainSum += loss;
    this.trainSteps++;
  }

  /** A validation's loss; `overfitting` is true the one time the warning is due. */
  validated(iteration: number, valLoss: number): { overfitting: boolean } {
    const trainMean = this.trainSteps > 0 ? this.trainSum / this.trainSteps : null;
    const rising = this.previousVal !== null && valLoss > this.previousVal;
    const trainFalling = trainMean !== null && this.previousTrainMean !== null && trainMean < this.previousTrainMean;
    this.risingWhileTrainFalls = rising && trainFalling ? this.risingWhileTrainFalls + 1 : 0;
    this.previousTrainMean = trainMean;
    this.trainSum = 0;
    this.trainSteps = 0;
    this.record(iteration, valLoss);
    if (this.patience !== undefined && this.sinceBest >= this.patience) this.outOfPatience = true;
    const overfitting = this.risingWhileTrainFalls >= 2 && !this.warned && this.bestIteration !== null;
    if (overfitting) this.warned = true;
    return { overfitting };
  }

  private record(iteration: number, valLoss: number): void {
    if (valLoss < this.best) {
      this.best = valLoss;
      this.bestIteration = iteration;
      this.sinceBest = 0;
    } else {
      this.sinceBest++;
    }
    this.previousVal = valLoss;
  }
}

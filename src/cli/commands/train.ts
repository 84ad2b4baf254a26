// `charnn train [corpus]`: parses the training options, reads the corpus, starts or resumes a run, and shows
// progress (a live line on a terminal, log lines otherwise, JSON lines on stdout with --json). Ctrl-C finishes the
// step, saves a checkpoint and says where. The training itself is the library's runTraining().

import { mkdir, access, constants as fsConstants, stat } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import type { Command } from 'commander';
import type { CellType } from '../../core/model.js';
import type { OptimizerName } from '../../core/optim.js';
import type { CheckpointHeader, TrainConfig } from '../../core/snapshot.js';
import type { IterationEvent, TrainingRun, TrainingSummary } from '../../core/train.js';
import type { Corpus } from '../../core/data/corpus.js';
import type { Plan } from '../../core/recipe.js';
import { CharnnError } from '../../core/errors.js';
import { decimal, duration, formatDuration, oneOf, seed, UsageError, wholeNumber } from '../options.js';
import { formatCount, printNote, printWarning, StatusLine, style, whenStdoutCloses, writeJsonLine } from '../output.js';
import { exitCodeFor, onInterrupt, type StopSignal } from '../signals.js';
import { formatStepStats, statsJson, type StepStats } from '../../core/inspect/stats.js';

type LrScheduleName = 'char-rnn' | 'cosine';

/** The options as commander hands them over (defaults applied; budget and lr defaults are decided later). */
export interface TrainCliOptions {
  model: CellType;
  layers: number;
  hidden: number;
  seqLength: number;
  batchSize?: number;      // undefined: DEFAULT_BATCH_SIZE, fewer streams for small corpora
  optimizer: OptimizerName;
  lr?: number;
  gradClip: number;
  dropout: number;
  bidirectional: boolean;
  maskFrac: number;
  lrDecay: number;
  lrDecayAfter: number;
  lrSchedule?: LrScheduleName; // undefined: cosine for a planned --time run, char-rnn's per-epoch decay otherwise
  warmup?: number;             // cosine warm-up iterations
  lrFinal?: number;            // the cosine schedule's last rate, as a share of lr
  decayStart?: number;         // the cosine schedule's constant share before it decays
  plan: boolean;               // --no-plan: a --time run keeps the defaults instead of planning the model for the budget
  epochs?: number;
  maxIters?: number;
  time?: number;            // milliseconds
  valFrac: number;
  valBatches: number;
  evalEvery?: number;
  checkpointEvery?: number;
  checkpointDir: string;
  keep: number;
  name?: string;
  resume?: string;
  initFrom?: string;
  seed: number;
  sampleEvery?: number;
  json: boolean;
  raw: boolean;
  threads?: number;
  stats?: number | true;    // --stats [every]: hidden-state statistics every this many iterations
  patience?: number;        // stop after this many validations without a new best
}

const DEFAULT_EPOCHS = 10;            // when no budget flag is given
const DEFAULT_VAL_BATCHES = 100;      // a stable estimate (250k characters at 50×50) that a 70 MB validation split would not give in minutes
const DEFAULT_BATCH_SIZE = 50;        // char-rnn's, for corpora big enough to give it …
const MIN_DEFAULT_EPOCH_ITERS = 64;   // … at least this many updates per epoch; smaller corpora get fewer streams
// char-rnn's default, so the same command gives the same run. Some seeds sit on the unigram plateau (loss ~3.17 on
// names.txt) through the first epochs, and ten epochs of names.txt are only 210 updates: the README's quick start
// was checked with this seed.
const DEFAULT_SEED = 123;
const MAX_EVAL_EVERY = 1000;          // validate once per epoch, but at least this often
const SAMPLE_EVERY_LENGTH = 200;      // characters in a --sample-every sample (as min-char-rnn)
const STATUS_REFRESH_MS = 100;        // live line updates; faster is unreadable and costs terminal time
const DEFAULT_STATS_EVERY = 10;       // --stats without a number: hidden-state statistics every this many iterations
const FINAL_LR_FRAC = 0.02;           // the cosine schedule ends at this share of --lr

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train a model on a text file, or - for standard input')
    .argument('[corpus]', 'text to train on: a file path, or - to read standard input')
    .option('--model <type>', 'cell type: rnn, lstm or gru', oneOf('--model', ['rnn', 'lstm', 'gru'] as const), 'lstm')
    .option('--layers <n>', 'recurrent layers', wholeNumber('--layers', 1, 64), 2)
    .option('--hidden <n>', 'hidden units per layer', wholeNumber('--hidden', 1, 8192), 128)
    .option('--seq-length <n>', 'characters per sequence (steps of backpropagation through time)', wholeNumber('--seq-length', 1, 100_000), 50)
    .option('--batch-size <n>', `sequences per batch (default: ${DEFAULT_BATCH_SIZE}, or fewer for a small corpus so an epoch has at least ${MIN_DEFAULT_EPOCH_ITERS} iterations)`, wholeNumber('--batch-size', 1, 100_000))
    .option('--optimizer <name>', 'adagrad, rmsprop or adam', oneOf('--optimizer', ['adagrad', 'rmsprop', 'adam'] as const), 'adagrad')
    .option('--lr <x>', 'learning rate (default: 0.05 for adagrad, 0.1 in a planned --time run; 0.002 for rmsprop and adam)', decimal('--lr', { above: 0, atMost: 100 }))
    .option('--grad-clip <x>', 'clip the gradient norm to this (0 = no clipping)', decimal('--grad-clip', { atLeast: 0 }), 5)
    .option('--dropout <p>', 'dropout probability between layers', decimal('--dropout', { atLeast: 0, below: 1 }), 0)
    .option('--bidirectional', 'a deep bidirectional model that reads both sides of each character, trained to restore masked characters: it fills gaps (charnn fill) but cannot sample', false)
    .option('--mask-frac <f>', 'with --bidirectional: fraction of the characters masked in training', decimal('--mask-frac', { above: 0, below: 1 }), 0.15)
    .option('--lr-schedule <name>', `char-rnn (multiply by --lr-decay every epoch from --lr-decay-after) or cosine (warm up over --warmup iterations, then decay to ${FINAL_LR_FRAC} of --lr at the end of the budget) (default: cosine with a planned --time, char-rnn otherwise)`, oneOf('--lr-schedule', ['char-rnn', 'cosine'] as const))
    .option('--lr-final <f>', `with the cosine schedule: the rate it ends at, as a share of --lr (1 = constant after the warm-up) (default: ${FINAL_LR_FRAC})`, decimal('--lr-final', { atLeast: 0, atMost: 1 }))
    .option('--decay-start <share>', 'with the cosine schedule: the share of the budget at a constant rate before the decay starts (default: 0 for --lr-schedule cosine, planned with --time)', decimal('--decay-start', { atLeast: 0, below: 1 }))
    .option('--warmup <iters>', 'with the cosine schedule: iterations of linear warm-up (default: 2% of the planned iterations with --time, else 0)', wholeNumber('--warmup', 0))
    .option('--lr-decay <f>', 'multiply the learning rate by this every epoch…', decimal('--lr-decay', { above: 0, atMost: 1 }), 0.97)
    .option('--lr-decay-after <epochs>', '…starting after this many epochs', wholeNumber('--lr-decay-after', 0), 10)
    .option('--epochs <n>', `train for this many epochs (default: ${DEFAULT_EPOCHS} when no --max-iters or --time is given)`, decimal('--epochs', { above: 0 }))
    .option('--max-iters <n>', 'stop at this iteration (counting from the start of the run, also after --resume)', wholeNumber('--max-iters', 1))
    .option('--time <duration>', 'train for this much time, e.g. 90s, 10m, 1h30m, making the best model it can in that time: model size, dropout and learning-rate schedule planned from a short measurement of this machine (options you give are kept)', duration('--time'))
    .option('--no-plan', 'with --time: keep the defaults and only stop when the time is up')
    .option('--val-frac <f>', 'fraction of the text held out for validation', decimal('--val-frac', { atLeast: 0, below: 1 }), 0.1)
    .option('--val-batches <n>', 'batches per validation, from the start of the validation text (0 = all of it)', wholeNumber('--val-batches', 0), DEFAULT_VAL_BATCHES)
    .option('--eval-every <iters>', 'iterations between validations (default: once per epoch, at most 1000)', wholeNumber('--eval-every', 1))
    .option('--patience <n>', 'stop early once the validation loss has not improved for n validations in a row (the best checkpoint stays the one to sample)', wholeNumber('--patience', 1))
    .option('--checkpoint-every <iters>', 'iterations between checkpoints (default: at every validation)', wholeNumber('--checkpoint-every', 1))
    .option('--checkpoint-dir <dir>', 'where checkpoints go', 'checkpoints')
    .option('--keep <n>', "checkpoints of this run to keep besides its best one", wholeNumber('--keep', 0), 5)
    .option('--name <name>', 'run name, the start of checkpoint file names (default: the corpus file name)')
    .option('--resume <checkpoint>', 'continue a run from a checkpoint file, or from the newest checkpoint in a directory')
    .option('--init-from <checkpoint>', "a new run starting from a checkpoint's weights (fine-tuning; model and vocabulary come from it, optimizer state starts fresh)")
    .option('--seed <n>', 'random seed for initialisation and dropout; the same seed gives the same run', seed('--seed'), DEFAULT_SEED)
    .option('--sample-every <iters>', 'print a short sample to stderr every this many iterations', wholeNumber('--sample-every', 1))
    .option('--json', 'write one JSON object per iteration to stdout instead of the live status line', false)
    .option('--raw', 'train on raw bytes instead of UTF-8 characters', false)
    .option('--threads <n>', 'threads a training step is split across (default: one per CPU core; with the WebAssembly kernels at most --batch-size)', wholeNumber('--threads', 1, 256))
    .option('--stats [every]', `per-layer hidden-state mean/variance, saturation and gradient norms every n iterations (default ${DEFAULT_STATS_EVERY}), in the status line and --json`, wholeNumber('--stats', 1))
    .addHelpText('after', `
Examples:
  charnn train data/names.txt
  charnn train shakespeare.txt --hidden 256 --layers 3 --time 30m
  cat *.txt | charnn train - --name mixed --json | jq -c '{iter, loss, val_loss}'
  charnn train data/names.txt --resume checkpoints/ --max-iters 2000
  charnn train sonnets.txt --init-from checkpoints/shakespeare.ckpt --lr 0.02 --epochs 2`)
    .action(async (corpus: string | undefined, options: TrainCliOptions, command: Command) => {
      const explicit = (name: keyof TrainCliOptions) => command.getOptionValueSource(name) === 'cli';
      process.exitCode = await train(corpus, options, explicit);
    });
}

/**
 * char-rnn's 50 streams give a small corpus only a few updates per epoch (names.txt: 21, and after the default ten
 * epochs its samples are not yet names); fewer streams give more, smaller updates for the same characters, which
 * such a corpus needs far more than the larger batches' efficiency.
 */
function defaultBatchSize(trainChars: number, seqLength: number): number {
  const fitting = Math.floor((trainChars - 1) / (MIN_DEFAULT_EPOCH_ITERS * seqLength));
  return Math.max(1, Math.min(DEFAULT_BATCH_SIZE, fitting));
}

/** Trains and returns the exit code: 0, or 130 after Ctrl-C (143 after SIGTERM) once the checkpoint is saved. */
async function train(corpusArg: string | undefined, options: TrainCliOptions, explicit: (name: keyof TrainCliOptions) => boolean): Promise<number> {
  const { TrainingRun, runTraining } = await import('../../core/train.js');
  const { DEFAULT_LEARNING_RATE } = await import('../../core/optim.js');
  const { BatchLoader, splitCorpus } = await import('../../core/data/batches.js');
  const { readCheckpointInfo, removeStaleTempFiles, resolveCheckpoint } = await import('../../node/checkpoint-files.js');
  const { parseHeader, paramCount } = await import('../../core/snapshot.js');
  const { sampleIds } = await import('../../core/sample.js');

  let stopSignal: StopSignal | null = null;
  let stdoutClosed = false;
  let disposeInterrupt = () => {};
  let status: StatusLine | undefined;
  let openRun: TrainingRun | undefined; // its worker threads are stopped on every way out

  try {
    if (options.json) {
      // jq going away is no reason to lose the work: stop like Ctrl-C, but quietly and with status 0
      whenStdoutCloses(() => { stdoutClosed = true; });
    }

    // --- what to train on, and from where ------------------------------------------------------------------
    let resumeFrom: { path: string; header: CheckpointHeader } | undefined;
    let initFrom: { path: string; header: CheckpointHeader; params: Float32Array } | undefined;
    if (options.initFrom !== undefined) {
      if (options.resume !== undefined) throw new UsageError('--init-from starts a new run and --resume continues one; give one of them.');
      const { readModelCheckpoint } = await import('../../node/checkpoint-files.js');
      initFrom = await readModelCheckpoint(options.initFrom);
      refuseArchitectureChange(options, explicit, initFrom.header, initFrom.path);
    }
    if (options.resume !== undefined) {
      const path = await resolveCheckpoint(options.resume, 'newest');
      const info = await readCheckpointInfo(path);
      let header: CheckpointHeader;
      try {
        header = parseHeader(info.header);
      } catch (error) {
        if (error instanceof CharnnError) throw new CharnnError(`Checkpoint '${path}' cannot be resumed: ${error.message.replace(/\.$/, '')}.`);
        throw error;
      }
      if (typeof info.header.importedFrom === 'string') {
        throw new UsageError(`${path} was imported (from ${info.header.importedFrom}) and has no training state to resume; start a run from its weights with --init-from ${path}.`);
      }
      refuseConflictingOptions(options, explicit, header, path);
      resumeFrom = { path, header };
    }
    const corpusSource = corpusArg ?? resumeFrom?.header.corpus.name;
    if (corpusSource === undefined) throw new UsageError('Give the text to train on: charnn train <file>, or charnn train - to read standard input.');
    if (corpusArg === undefined && corpusSource === 'stdin') {
      throw new UsageError(`The checkpoint was trained on standard input; give the same text again: charnn train - --resume ${options.resume}.`);
    }

    if (corpusArg === undefined && !(await exists(corpusSource))) {
      throw new UsageError(`The checkpoint was trained on '${corpusSource}', which is not there (from this directory); give the corpus: charnn train <file> --resume ${options.resume}.`);
    }

    const checkpointDir = explicit('checkpointDir') || !resumeFrom ? options.checkpointDir : dirname(resumeFrom.path);
    await prepareCheckpointDir(checkpointDir);
    await removeStaleTempFiles(checkpointDir); // left by runs killed mid-save

    status = await StatusLine.start(`Reading ${corpusSource === '-' ? 'standard input' : corpusSource}…`, !options.json && StatusLine.canShow());
    const corpus = await readTrainingText(corpusSource, options, resumeFrom?.header ?? initFrom?.header, status, initFrom?.path);

    // --- the run ---------------------------------------------------------------------------------------------
    let run: TrainingRun;
    let plan: Plan | undefined;
    let budgetTimeMs = options.time;
    if (resumeFrom) {
      run = await TrainingRun.resume(resumeFrom.path, corpus, { corpusName: corpusArg === '-' ? 'stdin' : corpusSource, threads: options.threads });
    } else {
      const { train: trainIds } = splitCorpus(corpus.ids, options.valFrac);
      const training: TrainConfig = {
        batchSize: options.batchSize ?? defaultBatchSize(trainIds.length, options.seqLength),
        seqLength: options.seqLength,
        optimizer: options.optimizer,
        lr: options.lr ?? DEFAULT_LEARNING_RATE[options.optimizer],
        gradClip: options.gradClip,
        lrDecay: options.lrDecay,
        lrDecayAfter: options.lrDecayAfter,
        valFrac: options.valFrac,
        evalEvery: 1, // replaced below, once the epoch length is known
        valBatches: options.valBatches,
        seed: options.seed,
      };
      const batchesPerEpoch = new BatchLoader(trainIds, training.batchSize, training.seqLength, 'training text').batchesPerEpoch;
      training.evalEvery = options.evalEvery ?? Math.min(batchesPerEpoch, MAX_EVAL_EVERY);
      const runName = await freeRunName(options.name ?? defaultRunName(corpusSource), checkpointDir, explicit('name'));
      const from = initFrom?.header.model;
      const bidirectional = from ? from.bidirectional === true : options.bidirectional;
      const model = {
        cell: from?.cell ?? options.model, hiddenSize: from?.hiddenSize ?? options.hidden, layers: from?.layers ?? options.layers,
        dropout: options.dropout,
        ...(bidirectional && { bidirectional: true, maskFrac: explicit('maskFrac') || !from ? options.maskFrac : from.maskFrac }),
      };

      // --- a time budget: plan the model for it (fine-tuning keeps its model) -----------------------------------
      if (options.time !== undefined && options.plan && !initFrom) {
        const { measureTrainingSpeed, planForBudget, PLANNED_LEARNING_RATE } = await import('../../core/recipe.js');
        status.update(`Measuring how fast this machine trains, to plan ${formatDuration(options.time)}…`);
        const started = performance.now();
        plan = await planForBudget({
          budgetMs: options.time, trainChars: trainIds.length, vocabSize: corpus.vocab.symbols.length,
          cell: model.cell, layers: model.layers, batchSize: training.batchSize, seqLength: training.seqLength,
          hiddenSize: explicit('hidden') ? options.hidden : undefined, dropout: explicit('dropout') ? options.dropout : undefined,
          measure: (hiddenSize, dropout, ms) => measureTrainingSpeed(corpus, { ...model, hiddenSize, dropout }, training, options.threads, ms),
          now: () => performance.now() - started,
        });
        model.hiddenSize = plan.hiddenSize;
        model.dropout = plan.dropout;
        if (options.lr === undefined) training.lr = PLANNED_LEARNING_RATE[training.optimizer];
        budgetTimeMs = Math.max(1, options.time - plan.calibrationMs); // the measurement spent part of the budget
      }
      const schedule = options.lrSchedule ?? (plan ? 'cosine' : 'char-rnn');
      if (schedule === 'cosine') {
        const epochs = budgetEpochs(options, budgetTimeMs);
        const endIters = Math.min(options.maxIters ?? Infinity, epochs !== undefined ? Math.ceil(epochs * batchesPerEpoch) : Infinity);
        // the end comes first at the iteration limit, or when the time is up
        const decayStart = options.decayStart ?? plan?.decayStart;
        const byIters = endIters < Infinity && (budgetTimeMs === undefined || (plan !== undefined && endIters < plan.plannedIters));
        training.schedule = {
          warmupIters: options.warmup ?? plan?.warmupIters ?? 0, finalLrFrac: options.lrFinal ?? FINAL_LR_FRAC,
          ...(decayStart ? { decayStart } : {}),
          ...(byIters ? { endIters } : { endMs: budgetTimeMs! }),
        };
      } else {
        const given = (['warmup', 'lrFinal', 'decayStart'] as const).find((key) => explicit(key));
        if (given) throw new UsageError(`--${given.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} applies to the cosine schedule; add --lr-schedule cosine.`);
      }
      run = TrainingRun.create({
        corpus,
        model,
        initParams: initFrom?.params,
        training,
        runName,
        corpusName: corpusSource === '-' ? 'stdin' : corpusSource,
        threads: options.threads,
      });
    }
    openRun = run;
    if (explicit('maskFrac') && !run.net.config.bidirectional) throw new UsageError('--mask-frac applies only to a bidirectional model; add --bidirectional.');
    if (options.sampleEvery !== undefined && run.net.config.bidirectional) {
      throw new UsageError('--sample-every does not apply to a bidirectional model: it needs the text on both sides of a character, so it cannot generate text.');
    }
    if (run.valLoader === null && run.training.valFrac > 0) {
      printWarning(`The validation text (${run.training.valFrac} of the corpus) is shorter than one sequence, so there will be no validation loss; raise --val-frac or lower --seq-length.`);
    }

    // --- the budget ---------------------------------------------------------------------------------------------
    const noBudgetGiven = options.epochs === undefined && options.maxIters === undefined && options.time === undefined;
    // a resumed run planned for a time finishes that time (its schedule ends there), unless given another budget
    const plannedEndMs = run.training.schedule?.endMs;
    if (resumeFrom && noBudgetGiven && plannedEndMs !== undefined) {
      if (run.elapsedMs >= plannedEndMs) {
        throw new CharnnError(`The run has already trained for its planned ${formatDuration(plannedEndMs)}; give --time, --max-iters or --epochs to train further.`);
      }
      budgetTimeMs = plannedEndMs - run.elapsedMs;
    }
    const budget = { maxIters: options.maxIters, epochs: budgetEpochs(options, budgetTimeMs), timeLimitMs: budgetTimeMs };
    const budgetIters = Math.min(budget.maxIters ?? Infinity, budget.epochs !== undefined ? Math.ceil(budget.epochs * run.batchesPerEpoch) : Infinity);
    if (run.iteration >= budgetIters) {
      throw new CharnnError(
        `The checkpoint is already at iteration ${run.iteration}, which meets the budget of ${budgetIters} iterations; raise --max-iters or --epochs to train further.`,
      );
    }

    const model = run.net.config;
    const shape = `${model.bidirectional ? `bidirectional (mask fraction ${model.maskFrac}) ` : ''}${model.cell} ${model.layers}×${model.hiddenSize}`;
    const budgetText = [
      budgetIters < Infinity ? `${formatCount(budgetIters)} iterations` : null,
      budget.timeLimitMs !== undefined ? formatDuration(budget.timeLimitMs) : null,
    ].filter(Boolean).join(' or ');
    status.stop();
    if (plan) printNote(describePlan(plan, options.time!, run));
    printNote(
      `${resumeFrom ? `Resuming ${style().bold(run.runName)} at iteration ${run.iteration}` : `Training ${style().bold(run.runName)}`}` +
      `${initFrom ? ` from the weights of ${initFrom.path}` : ''}: ${shape}, ` +
      `${formatCount(paramCount(model))} parameters, ${formatCount(run.vocab.symbols.length)}-symbol vocabulary, ` +
      `${formatCount(run.trainLoader.streamLength * run.training.batchSize)} training characters in batches of ${run.training.batchSize}×${run.training.seqLength} ` +
      `(${run.batchesPerEpoch} iterations per epoch); ` +
      `budget ${budgetText}; seed ${run.training.seed}; ${run.net.kernels.name} kernels on ${run.threads} thread${run.threads === 1 ? '' : 's'}.`,
    );

    // --- train ----------------------------------------------------------------------------------------------
    status = await StatusLine.start('starting…', !options.json && StatusLine.canShow());
    // Until now Ctrl-C had nothing to save and simply ended the process; from here on it means "finish the step, save".
    const liveStatus = status;
    disposeInterrupt = onInterrupt((signal) => {
      stopSignal = signal;
      const message = `${style().yellow('Stopping')} after this step to save a checkpoint (Ctrl-C again to quit at once)…`;
      liveStatus.print(message);
    });
    const sampleText = (iteration: number) => {
      // its own generator seeded from the run's seed, so sampling never disturbs the run's random sequence
      const ids = sampleIds(run.net, run.vocab, { length: SAMPLE_EVERY_LENGTH, seed: `${run.training.seed}:sample:${iteration}` });
      const text = Array.from(ids, (id) => run.vocab.symbols[id]).join('');
      return run.vocab.encoding === 'bytes' ? Buffer.from(text, 'latin1').toString('utf8') : text;
    };
    const progress = new ProgressReporter(run, status, options, budget.timeLimitMs, sampleText);
    const replan = plan !== undefined && !explicit('dropout') && plan.dropout > 0 && budgetIters === Infinity
      ? await import('../../core/recipe.js') : null;
    let replanned = replan === null;
    const summary = await runTraining(run, {
      budget,
      checkpointDir,
      checkpointEvery: options.checkpointEvery ?? run.training.evalEvery,
      keep: options.keep,
      statsEvery: options.stats === undefined ? 0 : options.stats === true ? DEFAULT_STATS_EVERY : options.stats,
      patience: options.patience,
      hooks: {
        onIteration: (event) => {
          progress.iteration(event);
          if (!replanned && event.elapsedMs >= replan!.REPLAN_SHARE * budget.timeLimitMs!) {
            // the calibration timed seconds; the run has now trained long enough to know its own speed
            replanned = true;
            const before = run.net.config.dropout;
            const chars = event.charsPerSec * (event.elapsedMs / 1000);
            const { dropout: after, passes } = replan!.replannedDropout(chars, event.elapsedMs, budget.timeLimitMs!, paramCount(run.net.config), plan!.trainChars);
            if (after !== before) {
              run.setDropout(after);
              liveStatus.print(
                `Re-planned at iteration ${event.iteration}: dropout ${before} → ${after}, for the ~${passes.toFixed(0)} passes over the text ` +
                `this run makes at its ${formatCount(event.charsPerSec)} chars/s (the calibration said ${plan!.plannedEpochs.toFixed(0)}).`,
              );
            }
          }
        },
        onEval: (event) => progress.evaluated(event.valLoss),
        onOverfitting: (event) => liveStatus.print(
          `${style().yellow('warning:')} the validation loss rose at two validations in a row (now ${event.valLoss.toFixed(3)}) while the training loss fell: ` +
          `the model is overfitting. Validation was best at iteration ${event.bestIteration} (${event.bestValLoss.toFixed(3)}); ` +
          `that checkpoint is the one charnn sample picks${options.patience === undefined ? ' (--patience stops such a run early)' : ''}.`,
        ),
        shouldStop: () => stopSignal !== null || stdoutClosed,
      },
    });
    progress.finish();
    status.stop();
    disposeInterrupt();
    await reportEnd(run, summary, checkpointDir, corpusArg ?? corpusSource, stopSignal !== null, stdoutClosed);
    return stopSignal ? exitCodeFor(stopSignal) : 0;
  } finally {
    status?.stop();
    disposeInterrupt();
    openRun?.close();
  }
}

/** The budget's epochs: as given, or the default when neither iterations nor a time bound the run. */
function budgetEpochs(options: TrainCliOptions, timeLimitMs: number | undefined): number | undefined {
  return options.epochs ?? (options.maxIters === undefined && timeLimitMs === undefined ? DEFAULT_EPOCHS : undefined);
}

/** "Plan for 10m: lstm 2×256 (why), dropout 0.3 (why), cosine schedule …; measured …" */
function describePlan(plan: Plan, budgetMs: number, run: TrainingRun): string {
  const { cell, layers, hiddenSize, dropout } = run.net.config;
  const measured = plan.measured.map((m) => `${m.hiddenSize}${m.dropout > 0 ? ` (dropout ${m.dropout})` : ''}: ${formatCount(m.charsPerSec)}`).join(', ');
  const epochs = plan.plannedEpochs < 10 ? plan.plannedEpochs.toFixed(1) : plan.plannedEpochs.toFixed(0);
  const schedule = run.training.schedule
    ? `learning rate ${run.training.lr} after ${run.training.schedule.warmupIters} warm-up iterations, ` +
      `from ${Math.round(100 * (run.training.schedule.decayStart ?? 0))}% of the time cosine down to ${+(run.training.schedule.finalLrFrac * run.training.lr).toPrecision(3)}`
    : `learning rate ${run.training.lr}, char-rnn's per-epoch decay`;
  return `${style().bold('Plan')} for ${formatDuration(budgetMs)} on this machine: ${cell} ${layers}×${hiddenSize}, ${plan.reason}; ` +
    `dropout ${dropout} for about ${epochs} passes over the text; ${schedule}; ` +
    `~${formatCount(plan.plannedIters)} iterations (${formatCount(Math.round(plan.charsPerParam))} characters per parameter). ` +
    `Measured chars/s by hidden size, ${measured}, in ${formatDuration(plan.calibrationMs)} (--no-plan keeps the defaults).`;
}

/** --init-from takes the architecture from the checkpoint: an explicit option that contradicts it is a mistake. */
function refuseArchitectureChange(
  options: TrainCliOptions, explicit: (name: keyof TrainCliOptions) => boolean, header: CheckpointHeader, path: string,
): void {
  const fixed: Array<[keyof TrainCliOptions, string, unknown]> = [
    ['model', '--model', header.model.cell],
    ['layers', '--layers', header.model.layers],
    ['hidden', '--hidden', header.model.hiddenSize],
    ['bidirectional', '--bidirectional', header.model.bidirectional ?? false],
  ];
  for (const [key, flag, saved] of fixed) {
    if (explicit(key) && options[key] !== saved) {
      throw new UsageError(`${flag} ${String(options[key])} differs from ${path}'s ${String(saved)}; --init-from keeps the checkpoint's architecture, so drop ${flag}.`);
    }
  }
  if (explicit('raw') && options.raw && header.vocab.encoding !== 'bytes') {
    throw new UsageError(`--raw does not apply: ${path} reads UTF-8 characters, not raw bytes.`);
  }
}

/** Settings a checkpoint fixes; changing them mid-run would make a different model, so they are refused. */
function refuseConflictingOptions(
  options: TrainCliOptions, explicit: (name: keyof TrainCliOptions) => boolean, header: CheckpointHeader, path: string,
): void {
  const fixed: Array<[keyof TrainCliOptions, string, unknown]> = [
    ['model', '--model', header.model.cell],
    ['layers', '--layers', header.model.layers],
    ['hidden', '--hidden', header.model.hiddenSize],
    ['dropout', '--dropout', header.model.dropout],
    ['bidirectional', '--bidirectional', header.model.bidirectional ?? false],
    ['maskFrac', '--mask-frac', header.model.maskFrac],
    ['seqLength', '--seq-length', header.training.seqLength],
    ['batchSize', '--batch-size', header.training.batchSize],
    ['optimizer', '--optimizer', header.training.optimizer],
    ['lr', '--lr', header.training.lr],
    ['gradClip', '--grad-clip', header.training.gradClip],
    ['lrDecay', '--lr-decay', header.training.lrDecay],
    ['lrDecayAfter', '--lr-decay-after', header.training.lrDecayAfter],
    ['valFrac', '--val-frac', header.training.valFrac],
    ['valBatches', '--val-batches', header.training.valBatches],
    ['evalEvery', '--eval-every', header.training.evalEvery],
    ['seed', '--seed', header.training.seed],
    ['name', '--name', header.runName],
  ];
  for (const [key, flag, saved] of fixed) {
    if (explicit(key) && options[key] !== saved) {
      throw new UsageError(
        `${flag} ${String(options[key])} differs from the checkpoint's ${String(saved)} (${path}); a resumed run keeps its model and training settings, so drop ${flag} or start a new run.`,
      );
    }
  }
  if (explicit('raw') && options.raw && header.vocab.encoding !== 'bytes') {
    throw new UsageError(`--raw does not apply: the checkpoint ${path} was trained on UTF-8 characters, not raw bytes.`);
  }
}

async function readTrainingText(
  source: string, options: TrainCliOptions, header: CheckpointHeader | undefined, status: StatusLine, initFromPath?: string,
): Promise<Corpus> {
  const { makeVocab } = await import('../../core/data/corpus.js');
  const { readCorpus } = await import('../../node/corpus-files.js');
  const label = source === '-' ? 'standard input' : source;
  let lastUpdate = 0;
  const onProgress = (bytesRead: number, totalBytes: number | undefined) => {
    const now = performance.now();
    if (now - lastUpdate < STATUS_REFRESH_MS) return;
    lastUpdate = now;
    status.update(totalBytes ? `Reading ${label}… ${Math.floor((100 * bytesRead) / totalBytes)}%` : `Reading ${label}…`);
  };
  const vocab = header ? makeVocab(header.vocab.symbols, header.vocab.encoding) : undefined;
  try {
    return await readCorpus(source, { raw: options.raw, vocab, onProgress });
  } catch (error) {
    if (error instanceof CharnnError && initFromPath !== undefined && /not in the model's vocabulary/.test(error.message)) {
      // a fine-tuned model keeps its vocabulary: say which model, and what to do
      throw new CharnnError(`${error.message.replace(/\.$/, '')} (the model of ${initFromPath}, whose vocabulary --init-from keeps); remove them from the text or train a new model.`);
    }
    if (error instanceof CharnnError && source !== '-' && (await isDirectory(source))) {
      throw new CharnnError(`${source} is a directory, not a text file; give the path of a text file.`);
    }
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The directory must exist and be writable before training starts: finding out at the first save, possibly an
 * hour in, would throw the work away. Creating it is the one filesystem change the CLI makes itself.
 */
async function prepareCheckpointDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, fsConstants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new CharnnError(`The checkpoint directory '${dir}' is a file, not a directory; choose another --checkpoint-dir.`);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new CharnnError(`Cannot write checkpoints into '${dir}': permission denied; choose another --checkpoint-dir.`);
    throw new CharnnError(`Cannot use '${dir}' for checkpoints: ${code ?? (error as Error).message}.`);
  }
}

/** names.txt → names; standard input → stdin. */
function defaultRunName(source: string): string {
  if (source === '-') return 'stdin';
  const base = basename(source, extname(source)).replace(/^\.+/, '');
  return base.length > 0 ? base : 'run';
}

/**
 * A new run never writes over another run's checkpoints: if `wanted` is taken in the directory, take `wanted-2`,
 * `wanted-3`, … and say so.
 */
async function freeRunName(wanted: string, dir: string, chosenByUser: boolean): Promise<string> {
  const { checkRunName } = await import('../../core/checkpoint/format.js');
  const { listCheckpoints } = await import('../../node/checkpoint-files.js');
  const { readdir } = await import('node:fs/promises');
  checkRunName(wanted);
  const taken = new Set((await listCheckpoints(dir)).map((c) => c.header.runName));
  const files = await readdir(dir);
  const isTaken = (name: string) => taken.has(name) || files.some((f) => f.startsWith(`${name}_i`) && f.endsWith('.ckpt'));
  if (!isTaken(wanted)) return wanted;
  let n = 2;
  while (isTaken(`${wanted}-${n}`)) n++;
  const name = `${wanted}-${n}`;
  printNote(
    `${style().yellow('note:')} '${dir}' already has checkpoints of a run named '${wanted}'; this run is named '${name}' so they stay untouched` +
    `${chosenByUser ? '' : ' (choose with --name, or continue that run with --resume)'}.`,
  );
  return name;
}

/** Turns training events into the live line, log lines, JSON lines and --sample-every samples. */
class ProgressReporter {
  private pending: (IterationEvent & { valLoss?: number }) | null = null;
  private lastStatus = 0;
  private lastEvent: IterationEvent | null = null;
  private lastStats: StepStats | null = null;
  private readonly startIteration: number;
  private readonly startThreads: number;
  private saidFewerThreads = false;

  constructor(
    private readonly run: TrainingRun,
    private readonly status: StatusLine,
    private readonly options: TrainCliOptions,
    private readonly timeLimitMs: number | undefined,
    private readonly sampleText: (iteration: number) => string,
  ) {
    this.startIteration = run.iteration;
    this.startThreads = run.threads;
  }

  iteration(event: IterationEvent): void {
    this.flushJson();
    // the native kernels measure now and then whether all their threads beat one (not when another process keeps a core busy)
    if (!this.saidFewerThreads && this.run.threads < this.startThreads) {
      this.saidFewerThreads = true;
      const message = `One thread measured faster than ${this.startThreads} (small products, or a core busy with other work): training continues on ${this.run.threads}, and measures again every second.`;
      this.status.print(message);
    }
    this.lastEvent = event;
    if (event.stats) {
      this.lastStats = event.stats;
      // without a live line or JSON (a log file), statistics get a line of their own, like char-rnn's prints
      if (!this.status.live && !this.options.json) printNote(`iter ${event.iteration}  ${formatStepStats(event.stats)}`);
    }
    if (this.options.json) this.pending = event;
    const now = performance.now();
    if (this.status.live && now - this.lastStatus >= STATUS_REFRESH_MS) {
      this.lastStatus = now;
      this.status.update(this.describe(event));
    }
    if (this.options.sampleEvery !== undefined && event.iteration % this.options.sampleEvery === 0) this.printSample(event.iteration);
  }

  evaluated(valLoss: number): void {
    if (this.pending) {
      this.pending.valLoss = valLoss;
      this.flushJson();
    }
    if (this.lastEvent && this.status.live) this.status.update(this.describe(this.lastEvent));
    // without a live line (a log file, CI), one line per validation keeps the log readable
    else if (this.lastEvent && !this.options.json) printNote(this.describe(this.lastEvent));
  }

  finish(): void {
    this.flushJson();
  }

  private flushJson(): void {
    const e = this.pending;
    if (!e) return;
    this.pending = null;
    writeJsonLine({
      iter: e.iteration,
      epoch: round(e.epoch, 4),
      loss: e.loss,
      ...(e.valLoss !== undefined ? { val_loss: e.valLoss } : {}),
      lr: e.lr,
      chars_per_sec: Math.round(e.charsPerSec),
      elapsed: round(e.elapsedMs / 1000, 3),
      ...(e.stats ? { grad_norm: e.gradNorm, stats: statsJson(e.stats) } : {}),
    });
  }

  /** iter 120/210  epoch 5.71  loss 2.134  val 2.201 (3.18 bpc)  12,345 chars/s  ETA 42s */
  private describe(e: IterationEvent): string {
    const total = e.totalIters < Infinity ? `/${e.totalIters}` : '';
    const valLoss = this.run.valLoss;
    const val = valLoss !== null ? `  val ${valLoss.toFixed(3)} (${(valLoss / Math.LN2).toFixed(2)} bpc)` : '';
    const itersPerMs = (e.iteration - this.startIteration) / e.elapsedMs;
    let etaMs = e.totalIters < Infinity ? (e.totalIters - e.iteration) / itersPerMs : Infinity;
    if (this.timeLimitMs !== undefined) etaMs = Math.min(etaMs, this.timeLimitMs - e.elapsedMs);
    return `iter ${e.iteration}${total}  epoch ${e.epoch.toFixed(2)}  loss ${e.loss.toFixed(3)}${val}  ` +
      `${formatCount(e.charsPerSec)} chars/s  ETA ${formatDuration(etaMs)}` +
      (this.lastStats && this.status.live ? `  ${formatStepStats(this.lastStats)}` : '');
  }

  private printSample(iteration: number): void {
    const text = this.sampleText(iteration);
    this.status.print(`${style().dim(`--- sample at iteration ${iteration} ---`)}\n${text}\n${style().dim('---')}`);
  }
}

async function reportEnd(
  run: TrainingRun, summary: TrainingSummary, dir: string, corpusForResume: string, interrupted: boolean, stdoutClosed: boolean,
): Promise<void> {
  const s = style();
  const bpc = (loss: number) => (loss / Math.LN2).toFixed(3);
  if (interrupted) {
    printNote(
      `${s.yellow('Interrupted')} at iteration ${summary.iterations}; saved ${s.bold(summary.lastCheckpoint ?? '(nothing)')}\n` +
      `Continue with: charnn train ${corpusForResume} --resume ${summary.lastCheckpoint}`,
    );
    return;
  }
  const best = await bestCheckpointOfRun(dir, run.runName) ?? summary.bestCheckpoint;
  const losses = [
    summary.trainLoss !== null ? `train loss ${summary.trainLoss.toFixed(3)}` : null,
    summary.valLoss !== null ? `val loss ${summary.valLoss.toFixed(3)} (${bpc(summary.valLoss)} bits/char)` : null,
  ].filter(Boolean).join(', ');
  const ending = stdoutClosed ? s.yellow('Stopped because the reader of the output went away') : s.green('Done');
  printNote(`${ending}: ${summary.iterations} iterations, ${losses}, in ${formatDuration(run.elapsedMs)} of training.`);
  if (summary.stoppedBy === 'patience') {
    printNote(`Stopped early: the validation loss has not improved since iteration ${summary.bestIteration} (${summary.bestValLoss!.toFixed(3)}).`);
  }
  printNote(`Best checkpoint: ${s.bold(best ?? '(none)')}`);
  if (run.net.config.bidirectional) {
    if (run.valAccuracy !== null) printNote(`Masked characters restored on the validation text: ${(100 * run.valAccuracy).toFixed(1)}%.`);
    printNote(`Fill gaps with it: echo 'To be, or n_t to b_' | charnn fill -${dir === 'checkpoints' ? '' : ` --checkpoint ${dir}`}`);
  } else {
    printNote(`Sample from it:  charnn sample${dir === 'checkpoints' ? '' : ` --checkpoint ${dir}`}`);
  }
}

async function bestCheckpointOfRun(dir: string, runName: string): Promise<string | undefined> {
  const { listCheckpoints } = await import('../../node/checkpoint-files.js');
  let best: { path: string; valLoss: number } | undefined;
  for (const c of await listCheckpoints(dir)) {
    const valLoss = c.header.valLoss;
    if (c.header.runName !== runName || typeof valLoss !== 'number') continue;
    if (!best || valLoss <= best.valLoss) best = { path: c.path, valLoss };
  }
  return best?.path;
}

function round(x: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(x * scale) / scale;
}


// charnn as a library: load a model and step or sample it, train one, read corpora. The CLI is built on this.

export { BIDIRECTIONAL_SAMPLING_REFUSAL, CharModel, loadModel } from './lm.js';
export { DEFAULT_MASK_CHAR, fillIds, fillText, TO_FILL, type FillOptions, type FillResult } from './fill.js';
export { DEFAULT_MASK_FRAC, evaluateMaskedIds, type MaskedEvaluation } from './bidirectional.js';
export { TrainingRun, runTraining, validateTrainConfig } from './train.js';
export type { IterationEvent, NewRunOptions, RunTrainingOptions, StepResult, TrainBudget, TrainingHooks, TrainingSummary } from './train.js';
export type { CheckpointHeader, HistoryPoint, TrainConfig } from './snapshot.js';
export { paramCount } from './snapshot.js';
export { sampleIds, type SampleOptions } from './sample.js';
export { evaluateIds, type Evaluation } from './evaluate.js';
export { corpusFromText, readCorpus, encodeText, decodeIds, makeVocab, type Corpus, type IdArray, type Vocab } from './data/corpus.js';
export { BatchLoader, splitCorpus } from './data/batches.js';
export { CELL_TYPES, type CellType, type ModelConfig } from './model.js';
export { DEFAULT_LEARNING_RATE, OPTIMIZERS, type OptimizerName } from './optim.js';
export { analyzeText, type AnalyzeOptions, type TextAnalysis } from './inspect/analyze.js';
export { compilePattern, correlateUnits, matchIndicator, type UnitCorrelation } from './inspect/correlate.js';
export { renderHeatmap, renderLegend, renderTopTable, type Coloring } from './inspect/terminal.js';
export { renderPage, type PageOptions } from './inspect/html.js';
export type { LayerStats, StepStats } from './inspect/stats.js';
export { CharnnError } from './errors.js';
export { defaultKernels, referenceKernels, trainingKernels, type Kernels } from './kernels/index.js';

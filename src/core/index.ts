// charnn's portable API: everything that runs the same in Node and in a browser. Models come from checkpoint
// bytes, corpora from strings or bytes; the platform underneath (core/platform.ts) is installed by the entry point
// (src/index.ts for Node, browser/index.ts for pages).

export { BIDIRECTIONAL_SAMPLING_REFUSAL, CharModel, loadModel, modelFromBytes } from './lm.js';
export { DEFAULT_MASK_CHAR, fillIds, fillText, TO_FILL, type FillOptions, type FillResult } from './fill.js';
export { DEFAULT_MASK_FRAC, evaluateMaskedIds, type MaskedEvaluation } from './bidirectional.js';
export { TrainingRun, runTraining, validateTrainConfig } from './train.js';
export type { IterationEvent, NewRunOptions, ResumeOptions, RunTrainingOptions, StepResult, TrainBudget, TrainingHooks, TrainingSummary } from './train.js';
export type { CheckpointHeader, HistoryPoint, TrainConfig } from './snapshot.js';
export { paramCount } from './snapshot.js';
export { sampleIds, sampleMany, streamSeed, type ManySampleOptions, type Sample, type SampleOptions } from './sample.js';
export { beamSearch, type BeamOptions, type BeamResult } from './beam.js';
export { scoreChars, type CharScore, type ScoreSummary } from './scores.js';
export { detectNoveltyMode, noveltyCheck, type NoveltyCheck, type NoveltyMode } from './novelty.js';
export { evaluateIds, type Evaluation } from './evaluate.js';
export { corpusFromBytes, corpusFromText, encodeText, decodeIds, makeVocab, type Corpus, type IdArray, type Vocab } from './data/corpus.js';
export { BatchLoader, splitCorpus } from './data/batches.js';
export { CELL_TYPES, type CellType, type ModelConfig } from './model.js';
export { DEFAULT_LEARNING_RATE, OPTIMIZERS, type OptimizerName } from './optim.js';
export { analyzeText, type AnalyzeOptions, type TextAnalysis } from './inspect/analyze.js';
export { compilePattern, correlateUnits, matchIndicator, type UnitCorrelation } from './inspect/correlate.js';
export { renderHeatmap, renderLegend, renderTopTable, type Coloring } from './inspect/terminal.js';
export { renderPage, type PageOptions } from './inspect/html.js';
export type { LayerStats, StepStats } from './inspect/stats.js';
export { decodeCheckpoint, encodeCheckpoint, type CheckpointContents } from './checkpoint/format.js';
export { checkpointToSafetensors, modelToSafetensors, safetensorsToCheckpoint } from './interop/convert.js';
export { checkpointToOnnx, modelToOnnx } from './interop/onnx.js';
export { decodeSafetensors, encodeSafetensors } from './interop/safetensors.js';
export { CharnnError } from './errors.js';
export { defaultKernels, setPlatform, trainingKernels, type Platform } from './platform.js';
export { referenceKernels } from './kernels/reference.js';
export type { Kernels } from './kernels/types.js';

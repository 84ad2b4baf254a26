// The messages between the page (main.ts) and its Web Worker (worker.ts). The worker holds the model and the
// training run; the page only draws. One job at a time: a sample, a fill or a training run.

export interface ModelInfo {
  name: string;
  bytes: number;
  cell: string;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  bidirectional: boolean;
  iteration: number;
  valLoss: number | null;
  corpusName: string;
  corpusChars: number;
  /** Where it came from: embedded in the page, loaded from a file, or trained here. */
  origin: 'embedded' | 'file' | 'trained';
}

export interface SampleRequest {
  prime?: string;
  temperature: number;
  topK?: number;
  topP?: number;
  length: number;
  seed: number;
  stop?: string;
  /** n > 1: n samples side by side (charnn sample --num-samples n), each on its own line; sample i has seed + i. */
  samples?: number;
  /** k: beam search of width k instead of sampling (charnn sample --beam k): prime, length and stop apply. */
  beam?: number;
}

export interface TrainSettings {
  cell: 'lstm' | 'gru' | 'rnn';
  layers: number;
  hiddenSize: number;
  seqLength: number;
  seed: number;
}

/** Stop at this iteration or epoch (counted from the start of the run, also when continuing), or after this time. */
export interface TrainBudgetRequest {
  maxIters?: number;
  epochs?: number;
  timeLimitMs?: number;
}

export type ToWorker =
  | { type: 'load'; bytes: ArrayBuffer; name: string; origin: ModelInfo['origin'] }
  | { type: 'sample'; request: SampleRequest }
  | { type: 'fill'; text: string }
  | { type: 'train'; text: ArrayBuffer; corpusName: string; settings: TrainSettings; budget: TrainBudgetRequest }
  | { type: 'continue'; text: ArrayBuffer; corpusName: string; budget: TrainBudgetRequest }
  | { type: 'checkpoint' }
  | { type: 'stop' };

export interface Progress {
  iteration: number;
  totalIters: number;       // Infinity for a time budget
  epoch: number;
  loss: number;
  charsPerSec: number;
  elapsedMs: number;        // in this session
  timeLimitMs?: number;
}

export type FromWorker =
  | { type: 'model'; info: ModelInfo }
  | { type: 'text'; text: string }
  | { type: 'done'; stopped: boolean; note?: string }
  | { type: 'filled'; text: string; filled: number; leftContextOnly: boolean }
  | { type: 'run'; runName: string; description: string; iteration: number; history: Array<{ iter: number; loss: number | null; valLoss?: number }> }
  | { type: 'progress'; progress: Progress }
  | { type: 'eval'; iteration: number; valLoss: number; trainLoss: number | null }
  | { type: 'preview'; iteration: number; text: string }
  | { type: 'checkpoint'; bytes: ArrayBuffer; name: string; final: boolean }
  | { type: 'error'; message: string; job: 'load' | 'sample' | 'fill' | 'train' | 'checkpoint' };

// A charnn checkpoint <-> a safetensors file PyTorch loads: the tensors (torch-layout.ts) plus the `__metadata__`
// that makes the file self-describing, and the header that makes an imported model an ordinary checkpoint.
//
// __metadata__ (every value a string, as the format requires):
//   format          "charnn"
//   format_version  "1"
//   vocab           JSON array of the symbols in id order (one code point each; 'bytes': one char per byte value)
//   vocab_encoding  "utf8" (code points) or "bytes" (raw bytes)
//   config          JSON {"cell", "layers", "hidden_size", "vocab_size", "bidirectional", "mask_frac", "dropout",
//                         "seq_length"}  (seq_length: the BPTT / window length it was trained with)

import { CharnnError } from '../errors.js';
import { validateModelConfig, type ModelConfig } from '../model.js';
import { makeVocab, type Vocab } from '../data/corpus.js';
import { DEFAULT_LEARNING_RATE } from '../optim.js';
import { createRandom } from '../random.js';
import { CHECKPOINT_FORMAT, optimizerBufferNames, type CheckpointHeader, type TrainConfig } from '../snapshot.js';
import type { TensorData } from '../checkpoint/format.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';
import { fromTorchTensors, inferTorchConfig, SAFETENSORS_FORMAT, SAFETENSORS_FORMAT_VERSION, toTorchTensors } from './torch-layout.js';

/** The BPTT / window length an imported model gets when its file does not say (the CLI's --seq-length default). */
const DEFAULT_SEQ_LENGTH = 50;

/** The `__metadata__` of a model: strings only. */
export function charnnMetadata(config: ModelConfig, vocab: Pick<Vocab, 'encoding' | 'symbols'>, seqLength: number): Record<string, string> {
  return {
    format: SAFETENSORS_FORMAT,
    format_version: SAFETENSORS_FORMAT_VERSION,
    vocab: JSON.stringify(vocab.symbols),
    vocab_encoding: vocab.encoding,
    config: JSON.stringify({
      cell: config.cell,
      layers: config.layers,
      hidden_size: config.hiddenSize,
      vocab_size: config.vocabSize,
      bidirectional: config.bidirectional === true,
      mask_frac: config.bidirectional ? config.maskFrac : null,
      dropout: config.dropout,
      seq_length: seqLength,
    }),
  };
}

/** A model as a safetensors file. Refuses parameters with NaN or infinite values. */
export function modelToSafetensors(config: ModelConfig, vocab: Pick<Vocab, 'encoding' | 'symbols'>, params: Float32Array, seqLength: number): Uint8Array {
  refuseNonFinite(params);
  return encodeSafetensors(toTorchTensors(config, params), charnnMetadata(config, vocab, seqLength));
}

/** A checkpoint's model as a safetensors file. */
export function checkpointToSafetensors(header: CheckpointHeader, params: Float32Array): Uint8Array {
  return modelToSafetensors(header.model, header.vocab, params, header.training.seqLength);
}

export function refuseNonFinite(params: Float32Array): void {
  for (let i = 0; i < params.length; i++) {
    if (!Number.isFinite(params[i])) throw new CharnnError('The checkpoint has NaN or infinite weights (its training diverged); there is no model to export.');
  }
}

export interface ImportOptions {
  label?: string;     // names the file in messages, e.g. "'model.safetensors'"
  runName: string;    // the checkpoint's run name
  source: string;     // where it came from, kept in the header
  /** The vocabulary of a file without charnn's metadata (a model built in PyTorch by hand). */
  vocab?: Vocab;
  now?: Date;
}

export interface ImportedModel {
  header: CheckpointHeader & { importedFrom: string };
  tensors: Array<{ name: string; data: TensorData }>;
}

/** What a metadata field parses to, or a CharnnError naming the field. */
function metadataJson(metadata: Record<string, string>, key: string, label: string): unknown {
  const text = metadata[key];
  if (text === undefined) throw new CharnnError(`${label} has charnn's format tag but no '${key}' in its metadata.`);
  try {
    return JSON.parse(text);
  } catch {
    throw new CharnnError(`${label} has a '${key}' metadata entry that is not valid JSON.`);
  }
}

function configFromMetadata(metadata: Record<string, string>, label: string): { config: ModelConfig; seqLength: number } {
  const raw = metadataJson(metadata, 'config', label);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CharnnError(`${label} has a 'config' metadata entry that is not a JSON object.`);
  const c = raw as Record<string, unknown>;
  const config: ModelConfig = {
    cell: c.cell as ModelConfig['cell'],
    vocabSize: c.vocab_size as number,
    hiddenSize: c.hidden_size as number,
    layers: c.layers as number,
    dropout: typeof c.dropout === 'number' ? c.dropout : 0,
  };
  if (c.bidirectional === true) {
    config.bidirectional = true;
    config.maskFrac = c.mask_frac as number;
  }
  try {
    validateModelConfig(config);
  } catch (error) {
    if (error instanceof CharnnError) throw new CharnnError(`${label} describes a model charnn cannot build: ${error.message.replace(/\.$/, '')}.`);
    throw error;
  }
  const seqLength = Number.isSafeInteger(c.seq_length) && (c.seq_length as number) > 0 ? (c.seq_length as number) : DEFAULT_SEQ_LENGTH;
  return { config, seqLength };
}

function vocabFromMetadata(metadata: Record<string, string>, label: string): Vocab {
  const symbols = metadataJson(metadata, 'vocab', label);
  const encoding = metadata.vocab_encoding ?? 'utf8';
  if (!Array.isArray(symbols) || !symbols.every((s) => typeof s === 'string')) throw new CharnnError(`${label} has a 'vocab' metadata entry that is not a JSON array of strings.`);
  if (encoding !== 'utf8' && encoding !== 'bytes') throw new CharnnError(`${label} has vocab_encoding '${encoding}'; charnn knows 'utf8' and 'bytes'.`);
  try {
    return makeVocab(symbols as string[], encoding);
  } catch (error) {
    if (error instanceof CharnnError) throw new CharnnError(`${label} has an unusable vocabulary: ${error.message.replace(/^Invalid vocabulary: /, '').replace(/\.$/, '')}.`);
    throw error;
  }
}

/**
 * A safetensors file (charnn's, or PyTorch's with the same names) as a charnn checkpoint: the weights, a header with
 * the training defaults, zero optimizer state and zero carried state (for one stream). It has trained for 0
 * iterations as far as charnn knows, so it cannot be resumed: `train --init-from` fine-tunes it.
 */
export function safetensorsToCheckpoint(bytes: Uint8Array, options: ImportOptions): ImportedModel {
  const label = options.label ?? 'The file';
  const { tensors, metadata } = decodeSafetensors(bytes, label);
  let config: ModelConfig;
  let vocab: Vocab;
  let seqLength = DEFAULT_SEQ_LENGTH;
  if (metadata.format === SAFETENSORS_FORMAT) {
    if (metadata.format_version !== SAFETENSORS_FORMAT_VERSION) {
      throw new CharnnError(`${label} is charnn safetensors version ${metadata.format_version}; this charnn reads version ${SAFETENSORS_FORMAT_VERSION}.`);
    }
    ({ config, seqLength } = configFromMetadata(metadata, label));
    vocab = options.vocab ?? vocabFromMetadata(metadata, label);
  } else {
    if (!options.vocab) {
      throw new CharnnError(`${label} has no charnn metadata (vocabulary, cell type); give the text the model was trained on with --vocab-from so charnn can rebuild its vocabulary.`);
    }
    config = inferTorchConfig(tensors, label);
    vocab = options.vocab;
  }
  if (vocab.symbols.length !== config.vocabSize) {
    throw new CharnnError(`${label} has a model for ${config.vocabSize} symbols, but its vocabulary has ${vocab.symbols.length}.`);
  }
  const params = fromTorchTensors(config, tensors, label);

  const training: TrainConfig = {
    batchSize: 1, seqLength, optimizer: 'adagrad', lr: DEFAULT_LEARNING_RATE.adagrad, gradClip: 5, lrDecay: 0.97,
    lrDecayAfter: 10, valFrac: 0.1, evalEvery: 1000, valBatches: 100, seed: 0,
  };
  const header: ImportedModel['header'] = {
    format: CHECKPOINT_FORMAT,
    runName: options.runName,
    savedAt: (options.now ?? new Date()).toISOString(),
    iteration: 0,
    epoch: 0,
    trainLoss: null,
    valLoss: null,
    bestValLoss: null,
    model: config,
    vocab: { encoding: vocab.encoding, symbols: [...vocab.symbols] },
    training,
    corpus: { name: '(imported)', chars: 0, trainChars: 0, valChars: 0, batchesPerEpoch: 0 },
    optimizerSteps: 0,
    randomState: createRandom('import').state(),
    elapsedMs: 0,
    history: [],
    importedFrom: options.source,
  };
  const tensorsOut: ImportedModel['tensors'] = [{ name: 'params', data: params }];
  for (const name of optimizerBufferNames(training.optimizer)) tensorsOut.push({ name, data: new Float32Array(params.length) });
  for (let l = 0; l < (config.bidirectional ? 0 : config.layers); l++) {
    tensorsOut.push({ name: `state.h.${l}`, data: new Float32Array(config.hiddenSize) });
    if (config.cell === 'lstm') tensorsOut.push({ name: `state.c.${l}`, data: new Float32Array(config.hiddenSize) });
  }
  return { header, tensors: tensorsOut };
}

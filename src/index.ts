// charnn as a Node library: load a model and step or sample it, train one, read corpora from files and stdin.
// The portable core (src/core) with the Node platform installed under it; the CLI is built on this.

import './node/platform.js';

export * from './core/index.js';
export { readCorpus, type ReadCorpusOptions } from './node/corpus-files.js';
export { readCheckpoint, readCheckpointInfo, resolveCheckpoint, writeCheckpoint } from './node/checkpoint-files.js';

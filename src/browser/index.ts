// charnn in a web page or a Web Worker (`import … from 'charnn/browser'`, bundled by build.mjs into
// dist/browser/charnn.js): the portable core with the browser platform under it, plus loading models from bytes, a
// Blob/File or a URL, training from a string, and streaming samples. No network request unless you pass a URL.

import { setPlatform } from '../core/platform.js';
import { browserPlatform } from './platform.js';

setPlatform(browserPlatform);

export * from '../core/index.js';
export { browserPlatform } from './platform.js';
export {
  createTrainingRun, loadModelFrom, readBytes, resumeTrainingRun, sampleText, streamSample,
  type ByteSourceLike, type TextTrainingOptions,
} from './api.js';

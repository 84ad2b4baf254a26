// The second GEMM thread of the WebAssembly kernels (core/kernels/wasm.ts), as a Node worker thread.
//
// One worker instantiates the same module over the same memory. Jobs pass through a small Int32Array in that
// memory: the caller writes the arguments, bumps `posted` and notifies; the worker runs the GEMM on its own
// scratch, copies `posted` into `done` and notifies. Both sides spin briefly before sleeping in Atomics.wait,
// because an LSTM issues GEMMs back to back and a sleep/wake round trip costs tens of microseconds.

import { Worker } from 'node:worker_threads';
import { assert } from '../core/errors.js';
import type { GemmHelperFactory } from '../core/kernels/wasm.js';

const CONTROL_POSTED = 0; // job counter, written by the caller
const CONTROL_DONE = 1; // last finished job, written by the worker
const CONTROL_ARGS = 2; // form, M, N, K, a, lda, b, ldb, c, ldc, accumulate, scratch
const CONTROL_LENGTH = 16;
const SPIN_ITERATIONS = 20_000; // ~20-50 µs of polling before sleeping
const HELPER_TIMEOUT_MS = 60_000;

const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, controlOffset } = workerData;
const control = new Int32Array(memory.buffer, controlOffset, ${CONTROL_LENGTH});
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
const entries = [ex.gemmNN, ex.gemmNT, ex.gemmTN];
let seen = 0;
for (;;) {
  let spins = 0;
  while (Atomics.load(control, ${CONTROL_POSTED}) === seen) {
    if (++spins > ${SPIN_ITERATIONS}) { Atomics.wait(control, ${CONTROL_POSTED}, seen); spins = 0; }
  }
  seen = Atomics.load(control, ${CONTROL_POSTED});
  const p = ${CONTROL_ARGS};
  entries[control[p]](control[p + 1], control[p + 2], control[p + 3], control[p + 4], control[p + 5], control[p + 6],
    control[p + 7], control[p + 8], control[p + 9], control[p + 10], control[p + 11]);
  Atomics.store(control, ${CONTROL_DONE}, seen);
  Atomics.notify(control, ${CONTROL_DONE});
}
`;

/** Starts the helper thread (a GemmHelperFactory for createWasmKernels' `helper` option). */
export const startGemmHelper: GemmHelperFactory = (module, memory, alloc, scratchFloats) => {
  const controlView = alloc(CONTROL_LENGTH);
  const control = new Int32Array(controlView.buffer, controlView.byteOffset, CONTROL_LENGTH);
  const helperScratch = alloc(scratchFloats); // its own packing area: the two threads pack concurrently
  const worker = new Worker(HELPER_SOURCE, {
    eval: true,
    workerData: { module, memory, controlOffset: controlView.byteOffset },
  });
  worker.unref(); // an idle helper must not keep the process alive
  let posted = 0;
  return {
    start(form, M, N, K, a, lda, b, ldb, c, ldc, accumulate) {
      const p = CONTROL_ARGS;
      control[p] = form; control[p + 1] = M; control[p + 2] = N; control[p + 3] = K;
      control[p + 4] = a; control[p + 5] = lda; control[p + 6] = b; control[p + 7] = ldb;
      control[p + 8] = c; control[p + 9] = ldc; control[p + 10] = accumulate; control[p + 11] = helperScratch.byteOffset;
      posted = (posted + 1) | 0;
      Atomics.store(control, CONTROL_POSTED, posted); // the release that publishes the arguments above
      Atomics.notify(control, CONTROL_POSTED);
    },
    finish() {
      // A dead worker cannot tell us (its 'error' event needs the event loop this thread is blocking), so a
      // job that makes no progress for HELPER_TIMEOUT_MS is reported as the internal failure it is.
      let spins = 0;
      let sleptMs = 0;
      while (Atomics.load(control, CONTROL_DONE) !== posted) {
        if (++spins > SPIN_ITERATIONS) {
          if (Atomics.wait(control, CONTROL_DONE, Atomics.load(control, CONTROL_DONE), 100) === 'timed-out') {
            sleptMs += 100;
            assert(sleptMs < HELPER_TIMEOUT_MS, `wasm kernels: the helper thread did not finish a GEMM in ${HELPER_TIMEOUT_MS / 1000} s`);
          }
          spins = 0;
        }
      }
    },
    close() {
      void worker.terminate();
    },
  };
};

// Data parallelism for a training step: the B streams of a batch are split into contiguous slices, one per thread.
// The main thread runs forward/backward on slice 0 into net.grads; each worker thread (worker.ts) runs its slice
// into its own gradient buffer; then the main thread adds those in, in worker order, so results are deterministic
// for a given thread count. Everything lives in the WebAssembly memory the kernels share: weights and carried state
// are read and written in place, and the main thread allocates every worker's buffers, so it can fill their inputs
// and dropout masks itself. The workers and the hand-off are worker-pool.ts.
//
// Dimension legend: B batch streams, T time steps, H hidden size, L layers; a slice has Bs streams.

import {
  allocPass, backward, carryState, drawDropoutMasks, forwardLoss, type CarriedState, type Network, type Pass,
} from '../../core/model.js';
import { describe, sliceStarts, WorkerPool, type ShareableKernels } from './worker-pool.js';

/** Streams b0 … b1-1 of every layer's carried state, as views of the same memory. */
function stateSlice(state: CarriedState, H: number, b0: number, b1: number): CarriedState {
  return {
    batchSize: b1 - b0,
    h: state.h.map((a) => a.subarray(b0 * H, b1 * H)),
    c: state.c.map((a) => (a.length > 0 ? a.subarray(b0 * H, b1 * H) : a)),
  };
}

export class DataParallelStep {
  readonly threads: number;
  /** The pass of slice 0 (the main thread's streams): statistics of a step are taken over it. */
  readonly pass: Pass;
  private readonly starts: number[];
  private readonly passes: Pass[];
  private readonly mainState: CarriedState;
  private readonly pool: WorkerPool;

  constructor(private readonly net: Network & { kernels: ShareableKernels }, B: number, private readonly T: number, state: CarriedState, threads: number) {
    const H = net.config.hiddenSize;
    this.threads = threads;
    this.starts = sliceStarts(B, threads);
    this.passes = [];
    for (let s = 0; s < threads; s++) this.passes.push(allocPass(net, this.starts[s + 1] - this.starts[s], T));
    this.pass = this.passes[0];
    this.mainState = stateSlice(state, H, this.starts[0], this.starts[1]);

    this.pool = new WorkerPool(net, threads - 1, (w) => ({
      pass: describe(this.passes[w]),
      state: describe(stateSlice(state, H, this.starts[w], this.starts[w + 1])),
      totalPositions: T * B,
    }));
  }

  /**
   * One forward/backward over the batch in `inputs`/`targets` ((T·B) ids, time-major), split across the threads:
   * leaves the summed gradients in net.grads (zeroed first), carries every slice's final state into the run's
   * state, and returns the mean loss. With `dropoutRandom`, draws the masks of the whole batch here.
   */
  forwardBackward(inputs: Int32Array, targets: Int32Array, dropoutRandom?: () => number): number {
    const { net, T, starts, passes } = this;
    const B = starts[starts.length - 1];
    // each slice's columns of the batch
    for (let s = 0; s < passes.length; s++) {
      const pass = passes[s];
      const b0 = starts[s];
      const width = starts[s + 1] - b0;
      for (let t = 0; t < T; t++) {
        for (let b = 0; b < width; b++) {
          pass.inputs[t * width + b] = inputs[t * B + b0 + b];
          pass.targets[t * width + b] = targets[t * B + b0 + b];
        }
      }
    }
    const dropout = net.config.dropout > 0 && dropoutRandom !== undefined;
    if (dropout) drawDropoutMasks(passes, starts, net.config.dropout, dropoutRandom);

    // hand the other slices to the workers, run slice 0 here
    this.pool.post({ dropout });
    net.grads.fill(0);
    const mainLoss = forwardLoss(net, this.pass, this.mainState, dropout ? 'masks-drawn' : undefined);
    backward(net, this.pass, T * B);
    carryState(net, this.pass, this.mainState);

    // gather: losses weighted by slice size, gradients summed in worker order
    const lossSum = mainLoss * T * (starts[1] - starts[0]) + this.pool.gather();
    return lossSum / (T * B);
  }

  /** Stops the worker threads. */
  close(): void {
    this.pool.close();
  }
}

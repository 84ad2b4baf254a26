// Data parallelism for a bidirectional (masked-character) training step: the B windows of a batch are independent
// (no state carried in or out), so they split into contiguous slices, one per thread, as in data-parallel.ts. The
// main thread masks the whole batch and draws every dropout mask (the same draws, in the same order, as one thread
// would), hands each worker its slice, runs slice 0 itself, then adds the workers' gradients in worker order: the
// result is deterministic for a given thread count. The loss is a mean over the masked positions of the WHOLE batch,
// so every slice scales its gradient by 1/M with M counted over all slices; a slice with no masked position adds
// nothing and skips its pass.
//
// Dimension legend: B batch windows, T time steps, N = T·B rows; a slice has Bs windows.

import { assert } from '../../core/errors.js';
import { allocBiPass, biBackward, biForwardLoss, drawBiDropoutMasks, type BiPass } from '../../core/bidirectional.js';
import type { Network } from '../../core/model.js';
import { describe, shareable, sliceStarts, WorkerPool, type ShareableKernels } from './worker-pool.js';

export class BiDataParallelStep {
  readonly threads: number;
  private readonly starts: number[];
  private readonly slices: BiPass[];
  private readonly pool: WorkerPool;

  constructor(private readonly net: Network & { kernels: ShareableKernels }, B: number, private readonly T: number, threads: number) {
    assert(shareable(net.kernels) && net.config.bidirectional === true, 'BiDataParallelStep needs a bidirectional network on shared kernels');
    this.threads = threads;
    this.starts = sliceStarts(B, threads);
    this.slices = [];
    for (let s = 0; s < threads; s++) this.slices.push(allocBiPass(net, this.starts[s + 1] - this.starts[s], T));

    this.pool = new WorkerPool(net, threads - 1, (w) => ({
      pass: describe(this.slices[w]), state: null, totalPositions: T * B, bidirectional: true,
    }));
  }

  /**
   * Forward/backward of the masked batch in `batch` (inputs, targets, masked: the whole batch, masked by the caller),
   * split across the threads: leaves the summed gradients in net.grads (zeroed first) and returns the mean loss over
   * the masked positions. With `dropoutRandom`, draws the masks of the whole batch here.
   */
  forwardBackward(batch: BiPass, dropoutRandom?: () => number): number {
    const { net, T, starts, slices } = this;
    const B = starts[starts.length - 1];
    assert(batch.B === B && batch.T === T, 'BiDataParallelStep: the batch has another shape than the slices');
    // each slice's windows of the batch, and the masked positions of the whole batch
    let totalMasked = 0;
    const counts: number[] = [];
    for (let s = 0; s < slices.length; s++) {
      const slice = slices[s];
      const b0 = starts[s];
      const width = starts[s + 1] - b0;
      let count = 0;
      for (let t = 0; t < T; t++) {
        for (let b = 0; b < width; b++) {
          const src = t * B + b0 + b, dst = t * width + b;
          slice.inputs[dst] = batch.inputs[src];
          slice.targets[dst] = batch.targets[src];
          count += slice.masked[dst] = batch.masked[src];
        }
      }
      counts.push(count);
      totalMasked += count;
    }
    assert(totalMasked > 0, 'a masked batch needs at least one masked position');
    batch.maskedCount = totalMasked;
    const dropout = net.config.dropout > 0 && dropoutRandom !== undefined;
    if (dropout) drawBiDropoutMasks(slices, starts, net.config.dropout, dropoutRandom);

    this.pool.post({ dropout, totalMasked });
    net.grads.fill(0);
    let lossSum = 0;
    if (counts[0] > 0) {
      lossSum = biForwardLoss(net, slices[0], dropout ? 'masks-drawn' : undefined) * counts[0];
      biBackward(net, slices[0], totalMasked);
    }

    // gather: loss sums, gradients added in worker order
    lossSum += this.pool.gather();
    return lossSum / totalMasked;
  }

  /** Stops the worker threads. */
  close(): void {
    this.pool.close();
  }
}

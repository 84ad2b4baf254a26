// Data parallelism for a bidirectional (masked-character) training step: the B windows of a batch are independent
// (no state carried in or out), so they split into contiguous slices, one per thread, as in data-parallel.ts. The
// main thread masks the whole batch and draws every dropout mask (the same draws, in the same order, as one thread
// would), hands each worker its slice, runs slice 0 itself, then adds the workers' gradients in worker order: the
// result is deterministic for a given thread count. The loss is a mean over the masked positions of the WHOLE batch,
// so every slice scales its gradient by 1/M with M counted over all slices; a slice with no masked position adds
// nothing and skips its pass.
//
// Dimension legend: B batch windows, T time steps, N = T·B rows; a slice has Bs windows.

import { Worker } from 'node:worker_threads';
import { assert, CharnnError } from '../../core/errors.js';
import { allocBiPass, biBackward, biForwardLoss, drawBiDropoutMasks, type BiPass } from '../../core/bidirectional.js';
import type { Network } from '../../core/model.js';
import { attachOverheadBytes } from '../../core/kernels/wasm-fused.js';
import {
  CONTROL, SPIN_POLLS, describe, shareable, sliceStarts, workerUrl, type BufferRef, type ShareableKernels, type WorkerSetup,
} from './data-parallel.js';

const STARTUP_TIMEOUT_MS = 60_000;
const STEP_TIMEOUT_MS = 600_000;

export class BiDataParallelStep {
  readonly threads: number;
  private readonly starts: number[];
  private readonly slices: BiPass[];
  private readonly workerGrads: Float32Array[] = [];
  private readonly controls: Int32Array[] = [];
  private readonly lossSlots: Float64Array[] = [];
  private readonly messages: Uint8Array[] = [];
  private readonly workers: Worker[] = [];
  private posted = 0;
  private closed = false;

  constructor(private readonly net: Network & { kernels: ShareableKernels }, B: number, private readonly T: number, threads: number) {
    assert(shareable(net.kernels) && net.config.bidirectional === true, 'BiDataParallelStep needs a bidirectional network on shared kernels');
    const k = net.kernels;
    this.threads = threads;
    this.starts = sliceStarts(B, threads);
    this.slices = [];
    for (let s = 0; s < threads; s++) this.slices.push(allocBiPass(net, this.starts[s + 1] - this.starts[s], T));

    for (let w = 1; w < threads; w++) {
      const grads = k.alloc(net.layout.size) as Float32Array;
      const region = k.alloc(attachOverheadBytes() / 4);
      const controlView = k.alloc(CONTROL.CONTROL_INTS + 2 + CONTROL.MESSAGE_BYTES / 4);
      const control = new Int32Array(controlView.buffer, controlView.byteOffset, CONTROL.CONTROL_INTS);
      this.workerGrads.push(grads);
      this.controls.push(control);
      this.lossSlots.push(new Float64Array(controlView.buffer, controlView.byteOffset + CONTROL.CONTROL_INTS * 4, 1));
      this.messages.push(new Uint8Array(controlView.buffer, controlView.byteOffset + (CONTROL.CONTROL_INTS + 2) * 4, CONTROL.MESSAGE_BYTES));
      const setup: WorkerSetup = {
        memory: k.memory,
        fusedMultiplyAdd: k.fusedMultiplyAdd,
        regionStart: region.byteOffset,
        regionBytes: region.length * 4,
        controlOffset: controlView.byteOffset,
        config: net.config,
        params: describe(net.params) as BufferRef,
        grads: describe(grads) as BufferRef,
        pass: describe(this.slices[w]),
        state: null,
        totalPositions: T * B,
        bidirectional: true,
      };
      const worker = new Worker(workerUrl(), { workerData: setup });
      worker.unref(); // idle workers must not keep the process alive
      this.workers.push(worker);
    }
    for (let w = 0; w < this.workers.length; w++) {
      const control = this.controls[w];
      const deadline = Date.now() + STARTUP_TIMEOUT_MS;
      while (Atomics.load(control, CONTROL.STATUS) === 0 && Date.now() < deadline) Atomics.wait(control, CONTROL.STATUS, 0, 100);
      this.throwIfFailed(w);
      if (Atomics.load(control, CONTROL.STATUS) !== 1) {
        this.close();
        throw new CharnnError(`Training worker thread ${w + 1} did not start within ${STARTUP_TIMEOUT_MS / 1000} s.`);
      }
    }
  }

  /**
   * Forward/backward of the masked batch in `batch` (inputs, targets, masked: the whole batch, masked by the caller),
   * split across the threads: leaves the summed gradients in net.grads (zeroed first) and returns the mean loss over
   * the masked positions. With `dropoutRandom`, draws the masks of the whole batch here.
   */
  forwardBackward(batch: BiPass, dropoutRandom?: () => number): number {
    assert(!this.closed, 'BiDataParallelStep used after close()');
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

    this.posted = (this.posted + 1) | 0;
    for (const control of this.controls) {
      control[CONTROL.DROPOUT] = dropout ? 1 : 0;
      control[CONTROL.TOTAL] = totalMasked;
      Atomics.store(control, CONTROL.POSTED, this.posted); // publishes the flags and the inputs written above
      Atomics.notify(control, CONTROL.POSTED);
    }
    net.grads.fill(0);
    let lossSum = 0;
    if (counts[0] > 0) {
      lossSum = biForwardLoss(net, slices[0], dropout ? 'masks-drawn' : undefined) * counts[0];
      biBackward(net, slices[0], totalMasked);
    }

    // gather: loss sums, gradients added in worker order
    for (let w = 0; w < this.workers.length; w++) {
      const control = this.controls[w];
      for (let spins = 0; spins < SPIN_POLLS && Atomics.load(control, CONTROL.DONE) !== this.posted; spins++);
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      while (Atomics.load(control, CONTROL.DONE) !== this.posted && Atomics.load(control, CONTROL.STATUS) === 1 && Date.now() < deadline) {
        Atomics.wait(control, CONTROL.DONE, Atomics.load(control, CONTROL.DONE), 1000);
      }
      this.throwIfFailed(w);
      assert(Atomics.load(control, CONTROL.DONE) === this.posted, `training worker ${w + 1} did not finish its slice`);
      lossSum += this.lossSlots[w][0];
      net.kernels.addInPlace(net.grads, this.workerGrads[w], net.layout.size);
    }
    return lossSum / totalMasked;
  }

  private throwIfFailed(w: number): void {
    if (Atomics.load(this.controls[w], CONTROL.STATUS) !== 2) return;
    const bytes = this.messages[w];
    const end = bytes.indexOf(0);
    const message = Buffer.from(bytes.slice(0, end < 0 ? bytes.length : end)).toString('utf8');
    this.close();
    throw new Error(`training worker thread ${w + 1} failed: ${message}`);
  }

  /** Stops the worker threads. */
  close(): void {
    this.closed = true;
    for (const worker of this.workers) void worker.terminate();
  }
}

// Data parallelism for a training step: the B streams of a batch are split into contiguous slices, one per thread.
// The main thread runs forward/backward on slice 0 into net.grads; each worker thread (worker.ts) runs its slice
// into its own gradient buffer; then the main thread adds those in, in worker order, so results are deterministic
// for a given thread count. Everything lives in the WebAssembly memory the kernels share: weights and carried state
// are read and written in place, and the main thread allocates every worker's buffers, so it can fill their inputs
// and dropout masks itself. Hand-off is synchronous, through Atomics.wait/notify, so TrainingRun.step() stays so.
//
// Dimension legend: B batch streams, T time steps, H hidden size, L layers; a slice has Bs streams.

import { Worker } from 'node:worker_threads';
import { assert, CharnnError } from '../../core/errors.js';
import type { Kernels } from '../../core/kernels/types.js';
import type { SharedWasmMemory } from '../../core/kernels/wasm.js';
import { attachOverheadBytes } from '../../core/kernels/wasm-fused.js';
import {
  allocPass, backward, carryState, drawDropoutMasks, forwardLoss,
  type CarriedState, type ModelConfig, type Network, type Pass,
} from '../../core/model.js';

/** Kernels that can be shared with worker threads: a WebAssembly backend over a shared memory. */
export interface ShareableKernels extends Kernels {
  readonly memory: SharedWasmMemory;
  readonly fusedMultiplyAdd: boolean;
}

export function shareable(kernels: Kernels): kernels is ShareableKernels {
  const k = kernels as Partial<ShareableKernels>;
  return k.memory !== undefined && k.memory.buffer instanceof SharedArrayBuffer && typeof k.fusedMultiplyAdd === 'boolean';
}

// Control block of one worker: Int32 slots in the shared memory.
const POSTED = 0; // job counter, written by the main thread
const DONE = 1; // last finished job, written by the worker
const STATUS = 2; // 0 starting, 1 ready, 2 failed
const DROPOUT = 3; // job flag: apply the masks the main thread drew
const TOTAL = 4; // bidirectional jobs: masked positions in the whole batch (the loss is a mean over them)
const CONTROL_INTS = 8; // + a float64 loss sum at byte 32
const MESSAGE_BYTES = 1024; // a failing worker's error message, UTF-8
const STARTUP_TIMEOUT_MS = 60_000;
/**
 * Polls of the control word before sleeping in Atomics.wait (~0.2-0.5 ms). A thread that sleeps at every hand-off must
 * be rescheduled twice per step, and on a busy machine a woken thread can wait a whole time slice for its core.
 */
export const SPIN_POLLS = 20_000;
const STEP_TIMEOUT_MS = 600_000;

/** A typed array of the shared memory as (kind, byte offset, length); structured-cloneable. */
export interface BufferRef {
  kind: 'f32' | 'i32';
  offset: number;
  length: number;
}

export type Described = BufferRef | number | boolean | string | null | Described[] | { [key: string]: Described };

/** What worker.ts receives. */
export interface WorkerSetup {
  memory: SharedWasmMemory;
  fusedMultiplyAdd: boolean;
  regionStart: number;
  regionBytes: number;
  controlOffset: number;
  config: ModelConfig;
  params: BufferRef;
  grads: BufferRef;
  pass: Described;
  state: Described;
  totalPositions: number; // T·B of the whole batch: the loss is a mean over all of it
  bidirectional?: boolean; // pass is a BiPass (bidirectional-parallel.ts), state is null
}

/** Replaces every typed array of `value` (a Pass, a CarriedState) by a BufferRef; other fields are copied. */
export function describe(value: unknown): Described {
  if (value instanceof Float32Array || value instanceof Int32Array) {
    return { kind: value instanceof Float32Array ? 'f32' : 'i32', offset: value.byteOffset, length: value.length };
  }
  if (Array.isArray(value)) return value.map(describe);
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: Described } = {};
    for (const [key, field] of Object.entries(value)) out[key] = describe(field);
    return out;
  }
  assert(['number', 'boolean', 'string'].includes(typeof value) || value === null, `cannot share a ${typeof value}`);
  return value as Described;
}

/** Streams b0 … b1-1 of every layer's carried state, as views of the same memory. */
function stateSlice(state: CarriedState, H: number, b0: number, b1: number): CarriedState {
  return {
    batchSize: b1 - b0,
    h: state.h.map((a) => a.subarray(b0 * H, b1 * H)),
    c: state.c.map((a) => (a.length > 0 ? a.subarray(b0 * H, b1 * H) : a)),
  };
}

/** Splits B streams into `threads` contiguous slices as even as possible: the start of each, then B. */
export function sliceStarts(B: number, threads: number): number[] {
  const starts = [0];
  for (let s = 1; s <= threads; s++) starts.push(Math.round((s * B) / threads));
  return starts;
}

/** Where the compiled worker is: beside this file in dist/; from src/ (vitest), the build's copy in dist/. */
export function workerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../../dist/node/parallel/worker.js', here) : new URL('./worker.js', here);
}

export class DataParallelStep {
  readonly threads: number;
  /** The pass of slice 0 (the main thread's streams): statistics of a step are taken over it. */
  readonly pass: Pass;
  private readonly starts: number[];
  private readonly passes: Pass[];
  private readonly mainState: CarriedState;
  private readonly workerGrads: Float32Array[] = [];
  private readonly controls: Int32Array[] = [];
  private readonly lossSlots: Float64Array[] = [];
  private readonly messages: Uint8Array[] = [];
  private readonly workers: Worker[] = [];
  private posted = 0;
  private closed = false;

  constructor(private readonly net: Network & { kernels: ShareableKernels }, B: number, private readonly T: number, state: CarriedState, threads: number) {
    const k = net.kernels;
    const H = net.config.hiddenSize;
    this.threads = threads;
    this.starts = sliceStarts(B, threads);
    this.passes = [];
    for (let s = 0; s < threads; s++) this.passes.push(allocPass(net, this.starts[s + 1] - this.starts[s], T));
    this.pass = this.passes[0];
    this.mainState = stateSlice(state, H, this.starts[0], this.starts[1]);

    for (let w = 1; w < threads; w++) {
      const grads = k.alloc(net.layout.size) as Float32Array;
      const region = k.alloc(attachOverheadBytes() / 4);
      const controlView = k.alloc(CONTROL_INTS + 2 + MESSAGE_BYTES / 4);
      const control = new Int32Array(controlView.buffer, controlView.byteOffset, CONTROL_INTS);
      this.workerGrads.push(grads);
      this.controls.push(control);
      this.lossSlots.push(new Float64Array(controlView.buffer, controlView.byteOffset + CONTROL_INTS * 4, 1));
      this.messages.push(new Uint8Array(controlView.buffer, controlView.byteOffset + (CONTROL_INTS + 2) * 4, MESSAGE_BYTES));
      const setup: WorkerSetup = {
        memory: k.memory,
        fusedMultiplyAdd: k.fusedMultiplyAdd,
        regionStart: region.byteOffset,
        regionBytes: region.length * 4,
        controlOffset: controlView.byteOffset,
        config: net.config,
        params: describe(net.params) as BufferRef,
        grads: describe(grads) as BufferRef,
        pass: describe(this.passes[w]),
        state: describe(stateSlice(state, H, this.starts[w], this.starts[w + 1])),
        totalPositions: T * B,
      };
      const worker = new Worker(workerUrl(), { workerData: setup });
      worker.unref(); // idle workers must not keep the process alive
      this.workers.push(worker);
    }
    // wait until every worker has built its kernels and views (step() must not block on module loading later)
    for (let w = 0; w < this.workers.length; w++) {
      const control = this.controls[w];
      const deadline = Date.now() + STARTUP_TIMEOUT_MS;
      while (Atomics.load(control, STATUS) === 0 && Date.now() < deadline) Atomics.wait(control, STATUS, 0, 100);
      this.throwIfFailed(w);
      if (Atomics.load(control, STATUS) !== 1) {
        this.close();
        throw new CharnnError(`Training worker thread ${w + 1} did not start within ${STARTUP_TIMEOUT_MS / 1000} s.`);
      }
    }
  }

  /**
   * One forward/backward over the batch in `inputs`/`targets` ((T·B) ids, time-major), split across the threads:
   * leaves the summed gradients in net.grads (zeroed first), carries every slice's final state into the run's
   * state, and returns the mean loss. With `dropoutRandom`, draws the masks of the whole batch here.
   */
  forwardBackward(inputs: Int32Array, targets: Int32Array, dropoutRandom?: () => number): number {
    assert(!this.closed, 'DataParallelStep used after close()');
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
    this.posted = (this.posted + 1) | 0;
    for (const control of this.controls) {
      control[DROPOUT] = dropout ? 1 : 0;
      Atomics.store(control, POSTED, this.posted); // publishes the flag and the inputs written above
      Atomics.notify(control, POSTED);
    }
    net.grads.fill(0);
    const mainLoss = forwardLoss(net, this.pass, this.mainState, dropout ? 'masks-drawn' : undefined);
    backward(net, this.pass, T * B);
    carryState(net, this.pass, this.mainState);

    // gather: losses weighted by slice size, gradients summed in worker order
    let lossSum = mainLoss * T * (starts[1] - starts[0]);
    for (let w = 0; w < this.workers.length; w++) {
      const control = this.controls[w];
      for (let spins = 0; spins < SPIN_POLLS && Atomics.load(control, DONE) !== this.posted; spins++);
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      while (Atomics.load(control, DONE) !== this.posted && Atomics.load(control, STATUS) === 1 && Date.now() < deadline) {
        Atomics.wait(control, DONE, Atomics.load(control, DONE), 1000);
      }
      this.throwIfFailed(w);
      assert(Atomics.load(control, DONE) === this.posted, `training worker ${w + 1} did not finish its slice`);
      lossSum += this.lossSlots[w][0];
      net.kernels.addInPlace(net.grads, this.workerGrads[w], net.layout.size);
    }
    return lossSum / (T * B);
  }

  private throwIfFailed(w: number): void {
    if (Atomics.load(this.controls[w], STATUS) !== 2) return;
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

export const CONTROL = { POSTED, DONE, STATUS, DROPOUT, TOTAL, CONTROL_INTS, MESSAGE_BYTES } as const;

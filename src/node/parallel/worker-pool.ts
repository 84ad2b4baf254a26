// The worker threads of a data-parallel training step (data-parallel.ts, bidirectional-parallel.ts): each runs its
// slice of the batch (worker.ts) into a gradient buffer of its own, and talks to the main thread through a control
// block in the kernels' shared memory. Hand-off is synchronous, through Atomics.wait/notify, so a training step stays
// a plain function call; the main thread adds the workers' gradients in worker order, so results are deterministic
// for a given thread count.

import { Worker } from 'node:worker_threads';
import { assert, CharnnError } from '../../core/errors.js';
import { utf8Decode } from '../../core/bytes.js';
import type { Kernels } from '../../core/kernels/types.js';
import type { SharedWasmMemory } from '../../core/kernels/wasm.js';
import { attachOverheadBytes } from '../../core/kernels/wasm-fused.js';
import type { ModelConfig, Network } from '../../core/model.js';

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
export const CONTROL = { POSTED, DONE, STATUS, DROPOUT, TOTAL, CONTROL_INTS, MESSAGE_BYTES } as const;

const STARTUP_TIMEOUT_MS = 60_000;
const STEP_TIMEOUT_MS = 600_000;
/**
 * Polls of the control word before sleeping in Atomics.wait (~0.2-0.5 ms). A thread that sleeps at every hand-off must
 * be rescheduled twice per step, and on a busy machine a woken thread can wait a whole time slice for its core.
 */
export const SPIN_POLLS = 20_000;

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

/** Worker w's slice: what its setup adds to the shared parts (memory, weights, its gradient buffer and control block). */
export type SliceSetup = Pick<WorkerSetup, 'pass' | 'state' | 'totalPositions' | 'bidirectional'>;

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

/** Splits B streams into `threads` contiguous slices as even as possible: the start of each, then B. */
export function sliceStarts(B: number, threads: number): number[] {
  const starts = [0];
  for (let s = 1; s <= threads; s++) starts.push(Math.round((s * B) / threads));
  return starts;
}

/** Where the compiled worker is: beside this file in dist/; from src/ (vitest), the build's copy in dist/. */
function workerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../../dist/node/parallel/worker.js', here) : new URL('./worker.js', here);
}

export class WorkerPool {
  private readonly grads: Float32Array[] = [];
  private readonly controls: Int32Array[] = [];
  private readonly lossSlots: Float64Array[] = [];
  private readonly messages: Uint8Array[] = [];
  private readonly workers: Worker[] = [];
  private posted = 0;
  private closed = false;

  /**
   * Starts `count` workers, worker w (1 … count) on the slice `slice(w)` describes, and waits until every one has built
   * its kernels and views (a step must not block on module loading later).
   */
  constructor(private readonly net: Network & { kernels: ShareableKernels }, count: number, slice: (w: number) => SliceSetup) {
    const k = net.kernels;
    for (let w = 1; w <= count; w++) {
      const grads = k.alloc(net.layout.size) as Float32Array;
      const region = k.alloc(attachOverheadBytes() / 4);
      const controlView = k.alloc(CONTROL_INTS + 2 + MESSAGE_BYTES / 4);
      this.grads.push(grads);
      this.controls.push(new Int32Array(controlView.buffer, controlView.byteOffset, CONTROL_INTS));
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
        ...slice(w),
      };
      const worker = new Worker(workerUrl(), { workerData: setup });
      worker.unref(); // idle workers must not keep the process alive
      this.workers.push(worker);
    }
    for (let i = 0; i < this.workers.length; i++) {
      const control = this.controls[i];
      const deadline = Date.now() + STARTUP_TIMEOUT_MS;
      while (Atomics.load(control, STATUS) === 0 && Date.now() < deadline) Atomics.wait(control, STATUS, 0, 100);
      this.throwIfFailed(i);
      if (Atomics.load(control, STATUS) !== 1) {
        this.close();
        throw new CharnnError(`Training worker thread ${i + 1} did not start within ${STARTUP_TIMEOUT_MS / 1000} s.`);
      }
    }
  }

  /** Starts a job on every worker: the flags of this job (dropout masks drawn; for a masked batch its masked count). */
  post(job: { dropout: boolean; totalMasked?: number }): void {
    assert(!this.closed, 'a data-parallel step used after close()');
    this.posted = (this.posted + 1) | 0;
    for (const control of this.controls) {
      control[DROPOUT] = job.dropout ? 1 : 0;
      if (job.totalMasked !== undefined) control[TOTAL] = job.totalMasked;
      Atomics.store(control, POSTED, this.posted); // publishes the flags and the inputs written before this call
      Atomics.notify(control, POSTED);
    }
  }

  /** Waits for every worker's slice, in worker order, adds its gradients into net.grads, and returns their loss sums. */
  gather(): number {
    let lossSum = 0;
    for (let i = 0; i < this.workers.length; i++) {
      const control = this.controls[i];
      for (let spins = 0; spins < SPIN_POLLS && Atomics.load(control, DONE) !== this.posted; spins++);
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      while (Atomics.load(control, DONE) !== this.posted && Atomics.load(control, STATUS) === 1 && Date.now() < deadline) {
        Atomics.wait(control, DONE, Atomics.load(control, DONE), 1000);
      }
      this.throwIfFailed(i);
      assert(Atomics.load(control, DONE) === this.posted, `training worker ${i + 1} did not finish its slice`);
      lossSum += this.lossSlots[i][0];
      this.net.kernels.addInPlace(this.net.grads, this.grads[i], this.net.layout.size);
    }
    return lossSum;
  }

  private throwIfFailed(i: number): void {
    if (Atomics.load(this.controls[i], STATUS) !== 2) return;
    const bytes = this.messages[i];
    const end = bytes.indexOf(0);
    const message = utf8Decode(bytes.slice(0, end < 0 ? bytes.length : end));
    this.close();
    throw new Error(`training worker thread ${i + 1} failed: ${message}`);
  }

  /** Stops the worker threads. */
  close(): void {
    this.closed = true;
    for (const worker of this.workers) void worker.terminate();
  }
}

// A data-parallel training worker (see data-parallel.ts): rebuilds the network, its slice's pass and carried state
// as views of the main thread's WebAssembly memory, then runs forward/backward on its slice each time the main
// thread posts a job, into its own gradient buffer.
//
// Dimension legend as in data-parallel.ts.

import { workerData } from 'node:worker_threads';
import { attachWasmKernels } from '../../core/kernels/wasm-fused.js';
import { biBackward, biForwardLoss, type BiPass } from '../../core/bidirectional.js';
import { backward, carryState, forwardLoss, modelParamSpecs, type CarriedState, type Network, type Pass } from '../../core/model.js';
import { makeLayout, namedViews } from '../../core/params.js';
import { CONTROL, SPIN_POLLS, type BufferRef, type Described, type WorkerSetup } from './worker-pool.js';

const setup = workerData as WorkerSetup;
const control = new Int32Array(setup.memory.buffer, setup.controlOffset, CONTROL.CONTROL_INTS);
const lossSlot = new Float64Array(setup.memory.buffer, setup.controlOffset + CONTROL.CONTROL_INTS * 4, 1);
const message = new Uint8Array(setup.memory.buffer, setup.controlOffset + (CONTROL.CONTROL_INTS + 2) * 4, CONTROL.MESSAGE_BYTES);

function fail(error: unknown): void {
  const text = Buffer.from(error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error), 'utf8');
  message.fill(0);
  message.set(text.subarray(0, CONTROL.MESSAGE_BYTES - 1));
  Atomics.store(control, CONTROL.STATUS, 2);
  Atomics.notify(control, CONTROL.STATUS);
  Atomics.notify(control, CONTROL.DONE);
}

try {
  const { kernels, viewAt, idsAt } = attachWasmKernels(setup);
  const view = (ref: BufferRef) => (ref.kind === 'f32' ? viewAt(ref.offset, ref.length) : idsAt(ref.offset, ref.length));
  const rebuild = (d: Described): unknown => {
    if (Array.isArray(d)) return d.map(rebuild);
    if (d !== null && typeof d === 'object') {
      if ('kind' in d && 'offset' in d && 'length' in d && typeof d.offset === 'number') return view(d as BufferRef);
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(d)) out[key] = rebuild(field);
      return out;
    }
    return d;
  };
  const layout = makeLayout(modelParamSpecs(setup.config));
  const params = view(setup.params) as Float32Array;
  const grads = view(setup.grads) as Float32Array;
  const net: Network = {
    config: setup.config, kernels, layout, params, grads, p: namedViews(params, layout), g: namedViews(grads, layout),
  };
  const pass = rebuild(setup.pass) as Pass;
  const state = rebuild(setup.state) as CarriedState;
  const positions = pass.T * pass.B;
  const biPass = setup.bidirectional ? (pass as unknown as BiPass) : null;

  Atomics.store(control, CONTROL.STATUS, 1);
  Atomics.notify(control, CONTROL.STATUS);
  let seen = 0;
  for (;;) {
    // the next step comes a few ms after this one: poll before sleeping (see SPIN_POLLS)
    for (let spins = 0; spins < SPIN_POLLS && Atomics.load(control, CONTROL.POSTED) === seen; spins++);
    Atomics.wait(control, CONTROL.POSTED, seen);
    const posted = Atomics.load(control, CONTROL.POSTED);
    if (posted === seen) continue;
    seen = posted;
    const dropout = control[CONTROL.DROPOUT] === 1;
    grads.fill(0);
    if (biPass) {
      // windows are independent: no state; a slice without a masked position adds nothing
      let count = 0;
      for (let r = 0; r < positions; r++) count += biPass.masked[r];
      lossSlot[0] = 0;
      if (count > 0) {
        lossSlot[0] = biForwardLoss(net, biPass, dropout ? 'masks-drawn' : undefined) * count;
        biBackward(net, biPass, control[CONTROL.TOTAL]);
      }
    } else {
      const loss = forwardLoss(net, pass, state, dropout ? 'masks-drawn' : undefined);
      backward(net, pass, setup.totalPositions);
      carryState(net, pass, state);
      lossSlot[0] = loss * positions;
    }
    Atomics.store(control, CONTROL.DONE, seen);
    Atomics.notify(control, CONTROL.DONE);
  }
} catch (error) {
  fail(error);
}

// The browser platform under the core (see core/platform.ts): the WebAssembly kernels over a plain (non-shared)
// memory, because a page that is not cross-origin isolated (every file:// page) has no SharedArrayBuffer; one
// thread (run the work in a Web Worker so the page stays responsive); no files (models are bytes in, bytes out).

import { portableKernels, type Platform } from '../core/platform.js';
import type { Kernels } from '../core/kernels/types.js';

let modelKernels: Kernels | undefined;
let trainingKernels: Kernels | undefined;

// An event-loop turn without setTimeout's 4 ms clamp (after five nested timeouts), which training pays per step:
// a message to a port of our own is delivered as the next task. Unavailable (rare): setTimeout.
// (typed locally: the project's lib has no DOM, and Node's MessagePort types lack onmessage)
interface Channel {
  port1: { onmessage: (() => void) | null };
  port2: { postMessage(message: unknown): void };
}
const MessageChannelClass = (globalThis as unknown as { MessageChannel?: new () => Channel }).MessageChannel;
let channel: Channel | undefined;
const waiting: Array<() => void> = [];

function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!MessageChannelClass) return void setTimeout(resolve, 0);
    if (!channel) {
      channel = new MessageChannelClass();
      channel.port1.onmessage = () => waiting.shift()?.();
    }
    waiting.push(resolve);
    channel.port2.postMessage(0);
  });
}

export const browserPlatform: Platform = {
  // plain SIMD for loaded models (the same text as the CLI, whatever the engine's relaxed SIMD does) ...
  defaultKernels: () => (modelKernels ??= portableKernels({ fma: 'off', shared: false })),
  // ... and the FMA build, where the engine runs relaxed SIMD, for training (as the CLI trains)
  trainingKernels: () => (trainingKernels ??= portableKernels({ fma: 'auto', shared: false })),
  defaultThreads: () => 1,
  yieldToEventLoop,
};

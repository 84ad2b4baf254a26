// Ctrl-C during long work: the first one asks the work to wind down (finish the step, save); the handler then
// steps aside, so a second Ctrl-C gets the operating system's default and ends the process at once, even in the
// middle of a long synchronous step when no JavaScript could run.

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** Calls `onFirst` on the first SIGINT or SIGTERM; returns a function that removes the handlers. */
export function onInterrupt(onFirst: (signal: StopSignal) => void): () => void {
  const signals: StopSignal[] = ['SIGINT', 'SIGTERM'];
  const handler = (signal: StopSignal) => {
    dispose();
    onFirst(signal);
  };
  const dispose = () => {
    for (const signal of signals) process.removeListener(signal, handler);
  };
  for (const signal of signals) process.on(signal, handler);
  return dispose;
}

/** The shell's convention for "ended by signal N": 128 + N (130 for Ctrl-C). */
export function exitCodeFor(signal: StopSignal): number {
  return signal === 'SIGINT' ? 130 : 143;
}

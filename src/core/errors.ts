// Errors a user can cause (bad path, bad option, bad file). The CLI prints their message as one sentence
// and exits non-zero; anything else reaching the CLI's error boundary is an internal bug.

export class CharnnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CharnnError';
  }
}

/** Internal invariant: fails loudly, never shown to a user as their mistake. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`internal error: ${message}`);
}

// Parsers for command-line values. Each one refuses a bad value with one sentence that names the option, so a typo
// never reaches the library as NaN, 0 or a negative number.

/** A mistake in how the command was typed (exit code 2, like commander's own usage errors). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

// Decimal numbers as people type them: 5, -3, 0.5, .5, 1e-3. Not '', ' ', '0x10', 'NaN', 'Infinity' or '5abc',
// which Number() or parseFloat() would let through as something the user did not mean.
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;

function parseDecimal(text: string): number {
  return DECIMAL.test(text.trim()) ? Number(text) : NaN;
}

/** A whole number in [min, max]; 1e4 is accepted (it is a whole number). */
export function wholeNumber(flag: string, min: number, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  return (text) => {
    const value = parseDecimal(text);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new UsageError(`${flag} must be a whole number ${range}, got '${text}'.`);
    }
    return value;
  };
}

export interface NumberRange {
  above?: number;  // exclusive lower bound
  atLeast?: number;
  below?: number;  // exclusive upper bound
  atMost?: number;
}

function describeRange(range: NumberRange): string {
  const parts: string[] = [];
  if (range.above !== undefined) parts.push(`above ${range.above}`);
  if (range.atLeast !== undefined) parts.push(`at least ${range.atLeast}`);
  if (range.below !== undefined) parts.push(`below ${range.below}`);
  if (range.atMost !== undefined) parts.push(`at most ${range.atMost}`);
  return parts.join(' and ');
}

/** A finite decimal number within `range`. */
export function decimal(flag: string, range: NumberRange): (text: string) => number {
  return (text) => {
    const value = parseDecimal(text);
    const ok = Number.isFinite(value)
      && (range.above === undefined || value > range.above)
      && (range.atLeast === undefined || value >= range.atLeast)
      && (range.below === undefined || value < range.below)
      && (range.atMost === undefined || value <= range.atMost);
    if (!ok) throw new UsageError(`${flag} must be a number ${describeRange(range)}, got '${text}'.`);
    return value;
  };
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PART = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)/gy;

/** Parses 90s, 10m, 1h30m, 500ms or a plain number of seconds into milliseconds; refuses 0. */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (DECIMAL.test(trimmed)) {
    const seconds = Number(trimmed);
    return seconds > 0 && Number.isFinite(seconds) ? seconds * 1000 : undefined;
  }
  let total = 0;
  let consumed = 0;
  DURATION_PART.lastIndex = 0;
  for (let match = DURATION_PART.exec(trimmed); match; match = DURATION_PART.exec(trimmed)) {
    total += Number(match[1]) * DURATION_UNITS_MS[match[2]];
    consumed = DURATION_PART.lastIndex;
  }
  return consumed === trimmed.length && consumed > 0 && total > 0 && Number.isFinite(total) ? total : undefined;
}

export function duration(flag: string): (text: string) => number {
  return (text) => {
    const ms = parseDurationMs(text);
    if (ms === undefined) throw new UsageError(`${flag} must be a duration above zero such as 90s, 10m or 1h30m, got '${text}'.`);
    return ms;
  };
}

export function oneOf<T extends string>(flag: string, choices: readonly T[]): (text: string) => T {
  return (text) => {
    const value = text.toLowerCase() as T;
    if (!choices.includes(value)) throw new UsageError(`${flag} must be one of ${choices.join(', ')}, got '${text}'.`);
    return value;
  };
}

/** A seed: any whole number from 0 to 2^53 - 1, so it survives a round trip through JSON and the checkpoint. */
export const seed = (flag: string) => wholeNumber(flag, 0);

/** "1m05s", "3h02m", "12s", "1.4s": how long something takes, at a glance. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 9950) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const totalSeconds = Math.max(0, Math.round(ms / 1000));
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (hours > 0) return `${hours}h${two(minutes)}m`;
  if (minutes > 0) return `${minutes}m${two(seconds)}s`;
  return `${seconds}s`;
}

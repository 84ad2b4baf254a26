// The CLI's pieces in-process: value parsers, the colour decision, and the error boundary's exit codes.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram, main } from '../src/cli/main.js';
import { decimal, duration, formatDuration, oneOf, parseDurationMs, UsageError, wholeNumber } from '../src/cli/options.js';
import { colorLevel, formatCount } from '../src/cli/output.js';
import { CharnnError } from '../src/core/errors.js';

describe('value parsers', () => {
  it('whole numbers: accepts 5, 1e3; refuses 0, negatives, fractions, NaN, junk and out-of-range values with one sentence', () => {
    const layers = wholeNumber('--layers', 1, 64);
    expect(layers('5')).toBe(5);
    expect(wholeNumber('--max-iters', 1)('1e3')).toBe(1000);
    for (const bad of ['0', '-1', '1.5', 'NaN', 'Infinity', '', ' ', '5x', '0x10', '65']) {
      expect(() => layers(bad), bad).toThrow(UsageError);
    }
    expect(() => layers('0')).toThrow(/^--layers must be a whole number from 1 to 64, got '0'\.$/);
  });

  it('decimals respect open and closed bounds', () => {
    const dropout = decimal('--dropout', { atLeast: 0, below: 1 });
    expect(dropout('0')).toBe(0);
    expect(dropout('.5')).toBe(0.5);
    expect(() => dropout('1')).toThrow(/--dropout must be a number at least 0 and below 1, got '1'\./);
    expect(() => decimal('--lr', { above: 0 })('0')).toThrow(/above 0/);
    expect(() => decimal('--lr', { above: 0 })('NaN')).toThrow(UsageError);
  });

  it('durations: units, combinations, plain seconds; never zero', () => {
    expect(parseDurationMs('90s')).toBe(90_000);
    expect(parseDurationMs('10m')).toBe(600_000);
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('500ms')).toBe(500);
    expect(parseDurationMs('1.5h')).toBe(5_400_000);
    expect(parseDurationMs('45')).toBe(45_000);
    for (const bad of ['0', '0s', '-5s', '10x', 'm', '', '5 m', '1h-30m']) expect(parseDurationMs(bad), bad).toBeUndefined();
    expect(() => duration('--time')('0s')).toThrow(/--time must be a duration above zero/);
    expect(formatDuration(1400)).toBe('1.4s');
    expect(formatDuration(65_000)).toBe('1m05s');
    expect(formatDuration(3 * 3_600_000 + 120_000)).toBe('3h02m');
  });

  it('choices are case-insensitive and list the alternatives', () => {
    const model = oneOf('--model', ['rnn', 'lstm', 'gru'] as const);
    expect(model('GRU')).toBe('gru');
    expect(() => model('transformer')).toThrow(/--model must be one of rnn, lstm, gru, got 'transformer'\./);
  });
});

describe('formatCount', () => {
  it('groups digits by three with commas, as en-US does, for every count the CLI prints', () => {
    const values = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 12_345, 999_999, 1_000_000, 12_345_678, 2 ** 31, 2 ** 53 - 1, 1e20, -7, -1234, -1_000_000, 0.4, 1.5, 999.6, 1e21];
    for (const n of values) expect(formatCount(n), String(n)).toBe(Math.round(n).toLocaleString('en-US'));
  });
});

describe('colour decision', () => {
  const tty = { isTTY: true, hasColors: () => false } as unknown as NodeJS.WriteStream;
  const pipe = { isTTY: false } as unknown as NodeJS.WriteStream;
  it('colour only on terminals; NO_COLOR beats FORCE_COLOR; FORCE_COLOR colours pipes', () => {
    expect(colorLevel(tty, {})).toBe(1);
    expect(colorLevel(pipe, {})).toBe(0);
    expect(colorLevel(tty, { TERM: 'dumb' })).toBe(0);
    expect(colorLevel(tty, { NO_COLOR: '1' })).toBe(0);
    expect(colorLevel(tty, { NO_COLOR: '' })).toBe(1); // an empty NO_COLOR does not count (no-color.org)
    expect(colorLevel(pipe, { FORCE_COLOR: '1' })).toBe(1);
    expect(colorLevel(pipe, { FORCE_COLOR: '3' })).toBe(3);
    expect(colorLevel(tty, { FORCE_COLOR: '0' })).toBe(0);
    expect(colorLevel(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(0);
  });
});

describe('error boundary', () => {
  afterEach(() => {
    process.exitCode = undefined;
    vi.restoreAllMocks();
  });

  async function run(error: unknown, env: Record<string, string> = {}): Promise<{ code: number | string | undefined; stderr: string }> {
    const program = buildProgram();
    program.command('boom').action(() => {
      throw error;
    });
    let stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    const saved = { ...process.env };
    Object.assign(process.env, { NO_COLOR: '1' }, env);
    try {
      await main(['node', 'charnn', 'boom'], program);
    } finally {
      process.env = saved;
    }
    return { code: process.exitCode, stderr };
  }

  it("a CharnnError is the user's mistake: its sentence and exit code 1", async () => {
    const r = await run(new CharnnError('No such file: x.txt.'));
    expect(r).toEqual({ code: 1, stderr: 'charnn: No such file: x.txt.\n' });
  });

  it('a usage error exits 2', async () => {
    expect((await run(new UsageError('--x must be positive.'))).code).toBe(2);
  });

  it('anything else is a bug: "internal error", exit 70, the stack only with CHARNN_DEBUG=1', async () => {
    const quiet = await run(new TypeError('undefined is not a function'));
    expect(quiet.code).toBe(70);
    expect(quiet.stderr).toMatch(/^charnn: internal error: undefined is not a function\n.*CHARNN_DEBUG=1/);
    expect(quiet.stderr).not.toMatch(/\n\s+at /);
    const debug = await run(new TypeError('undefined is not a function'), { CHARNN_DEBUG: '1' });
    expect(debug.code).toBe(70);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});

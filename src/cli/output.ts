// Everything the CLI writes: stdout carries only data (sampled text, JSON lines, reports); progress, warnings and
// errors go to stderr. Colour and the live status line appear only on terminals, and NO_COLOR / FORCE_COLOR decide
// over that (chalk alone ignores NO_COLOR).

import { Chalk, type ChalkInstance } from 'chalk';
import type { Ora } from 'ora';

type ColorLevel = 0 | 1 | 2 | 3;

/** https://no-color.org and the FORCE_COLOR convention, then: a terminal that is not TERM=dumb. */
export function colorLevel(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): ColorLevel {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  const force = env.FORCE_COLOR;
  if (force !== undefined) {
    if (force === '' || force === 'true') return 1;
    if (force === 'false') return 0;
    const level = Number.parseInt(force, 10);
    if (Number.isInteger(level)) return Math.max(0, Math.min(3, level)) as ColorLevel;
  }
  if (!stream.isTTY || env.TERM === 'dumb') return 0;
  if (stream.hasColors?.(2 ** 24)) return 3;
  if (stream.hasColors?.(256)) return 2;
  return 1;
}

let stderrChalk: ChalkInstance | undefined;

/** Styles for text bound for stderr: plain when stderr is not a terminal or colour is turned off. */
export function style(): ChalkInstance {
  stderrChalk ??= new Chalk({ level: colorLevel(process.stderr) });
  return stderrChalk;
}

export function printError(message: string): void {
  process.stderr.write(`${style().red.bold('charnn:')} ${message}\n`);
}

export function printWarning(message: string): void {
  process.stderr.write(`${style().yellow('warning:')} ${message}\n`);
}

/** A line for the person at the terminal (or the log file): never on stdout. */
export function printNote(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function writeJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

let onStdoutClosed: () => void = () => process.exit(0);

/**
 * A reader that goes away early (`charnn sample | head`) is a normal end, not an error: by default exit quietly
 * with status 0. Training replaces this with "stop after this step and save".
 */
export function installStdoutGuard(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') onStdoutClosed();
    else throw error;
  });
}

export function whenStdoutCloses(handler: () => void): void {
  onStdoutClosed = handler;
}

/** Gives the event loop a turn, so pending stream errors (EPIPE) and signals are delivered. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * One live line on stderr (an ora spinner) when stderr is a terminal that reports its width; otherwise inert, and
 * the caller prints log lines instead. ora is imported only here, lazily, so commands that never show it start fast.
 */
export class StatusLine {
  private constructor(private readonly spinner: Ora | null) {}

  static async start(text: string, enabled = StatusLine.canShow()): Promise<StatusLine> {
    if (!enabled) return new StatusLine(null);
    const { default: ora } = await import('ora');
    const spinner = ora({
      text: fitToTerminal(text),
      stream: process.stderr,
      color: colorLevel(process.stderr) > 0 ? 'cyan' : false,
      // ora would put stdin in raw mode, turning Ctrl-C into an emitted event that a blocked step never sees;
      // cooked mode keeps the real SIGINT, so a second Ctrl-C still kills at once.
      discardStdin: false,
      // hiding the cursor registers exit handlers on SIGINT that would fight ours
      hideCursor: false,
      isEnabled: true,
    }).start();
    return new StatusLine(spinner);
  }

  /** Terminals that report 0 columns (some CI and serial consoles) would make ora clear infinitely many lines. */
  static canShow(): boolean {
    return process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0;
  }

  get live(): boolean {
    return this.spinner !== null;
  }

  update(text: string): void {
    if (this.spinner) this.spinner.text = fitToTerminal(text);
  }

  /** Prints text above the live line, which carries on below it. */
  print(text: string): void {
    if (!this.spinner) {
      process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
      return;
    }
    this.spinner.clear();
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    this.spinner.render();
  }

  stop(): void {
    this.spinner?.stop();
  }
}

/** One terminal row, so ora never has to clear wrapped lines. */
function fitToTerminal(text: string): string {
  const room = Math.max(10, (process.stderr.columns || 80) - 3);
  return text.length > room ? `${text.slice(0, room - 1)}…` : text;
}

/**
 * 12345678 → "12,345,678" (fixed grouping: output must not depend on the machine's language). Written out rather
 * than toLocaleString('en-US'), whose first call loads ICU's locale data: 40 ms of every command's start-up, since
 * --help texts are built with it.
 */
export function formatCount(n: number): string {
  const rounded = Math.round(n);
  if (!Number.isFinite(rounded) || Math.abs(rounded) >= 1e21) return rounded.toLocaleString('en-US');
  const digits = String(Math.abs(rounded));
  let grouped = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let i = grouped.length; i < digits.length; i += 3) grouped += `,${digits.slice(i, i + 3)}`;
  return rounded < 0 ? `-${grouped}` : grouped;
}

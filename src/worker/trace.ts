/**
 * Tracing for gateways and workers, switched by `SWITCHYARD_DEBUG` (execnet's `EXECNET_DEBUG`):
 * `1` appends to a per-process file `$TMPDIR/switchyard-debug-<pid>`, `2` writes to stderr. Every
 * line is `[pid] message`. Off (and free) by default.
 * @module
 */
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let level = parseLevel(process.env['SWITCHYARD_DEBUG']);

function parseLevel(v: string | undefined): number {
  const n = Number(v);
  return n === 1 || n === 2 ? n : 0;
}

/** The current trace level (0 off, 1 file, 2 stderr). */
export function traceLevel(): number {
  return level;
}

/** Sets the trace level (the worker takes its host's level from the config). */
export function setTraceLevel(n: number): void {
  level = n === 1 || n === 2 ? n : 0;
}

/** The trace file of this process (used when the level is 1). */
export function traceFile(): string {
  return join(tmpdir(), `switchyard-debug-${process.pid}`);
}

/** Writes one trace line when tracing is on. `msg` is built only then. */
export function trace(msg: () => string): void {
  if (level === 0) return;
  const line = `[${process.pid}] ${msg()}\n`;
  try {
    if (level === 2) process.stderr.write(line);
    else appendFileSync(traceFile(), line);
  } catch {
    // Tracing must never break the traced code.
  }
}

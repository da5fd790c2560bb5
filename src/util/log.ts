/**
 * Logging (pino). The Manager logs connection events at `info` and per-request detail only at
 * `debug`, so that logging is never on the hot path at the default level.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';

/** The logger type used across Switchyard. */
export type Logger = pino.Logger;

/** Converts an msl-network level name (any case) or pino level to a pino level; `undefined` if unknown. */
export function toPinoLevel(level: string): pino.LevelWithSilent | undefined {
  switch (level.toUpperCase()) {
    case 'DEBUG':
      return 'debug';
    case 'INFO':
      return 'info';
    case 'WARN':
    case 'WARNING':
      return 'warn';
    case 'ERROR':
      return 'error';
    case 'CRITICAL':
    case 'FATAL':
      return 'fatal';
    case 'TRACE':
      return 'trace';
    case 'SILENT':
      return 'silent';
    default:
      return undefined;
  }
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level?: string | undefined;
  /** Also append to this file (its directory is created). */
  file?: string | undefined;
  /** Write to stdout (default true). */
  stdout?: boolean | undefined;
  name?: string | undefined;
}

/** Creates a logger writing to stdout and/or a file. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = toPinoLevel(options.level ?? 'INFO') ?? 'info';
  if (level === 'silent') return pino({ level: 'silent' });
  const streams: pino.StreamEntry[] = [];
  if (options.stdout !== false) streams.push({ level, stream: pino.destination({ dest: 1, sync: false }) });
  if (options.file) {
    mkdirSync(dirname(options.file), { recursive: true });
    streams.push({ level, stream: pino.destination({ dest: options.file, sync: false, mkdir: true }) });
  }
  if (streams.length === 0) return pino({ level: 'silent' });
  return pino({ level, name: options.name, base: { pid: process.pid } }, pino.multistream(streams));
}

/** A logger that writes nothing (the default for embedded use and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * The `logging` network manager: one line per callout, in GCT's exact format, to a file
 * (`manager=logging;file=/var/log/switchyard/net.log;`) or to stdout. It never changes anything and
 * never vetoes.
 *
 * Line format (GCT `globus_net_manager_logging.c`):
 * `<gct_callout>:<manager>: task-id=<id> transport=<t>` immediately followed by `[scope, name, value] `
 * for each attr of the operation, then `<local contact> ` and/or `<remote contact> ` for the callouts
 * that GCT gives them, then a newline. Example:
 * `post_accept:logging: task-id=42 transport=tcp[tcp, port, 42] 127.0.0.1:5000 127.0.0.1:40112 `
 * @module
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { NetManagerConfigError } from '../../errors.ts';
import { CALLOUT_SPECS } from '../callouts.ts';
import { CALLOUTS, type Callout, type CalloutInfo, type NetManager } from '../types.ts';

/** Bytes a log file buffers before a callout waits for the disk (the stream's high-water mark). */
export const LOG_HIGH_WATER_MARK = 64 * 1024;

/**
 * Formats one log line exactly as GCT's logging manager does, newline included.
 * `managerName` is the chain entry's name (normally `"logging"`).
 */
export function formatLogLine(managerName: string, callout: Callout, info: Pick<CalloutInfo, 'taskId' | 'transport' | 'attrs' | 'localContact' | 'remoteContact'>): string {
  const spec = CALLOUT_SPECS[callout];
  let line = `${spec.gctName}:${managerName}: task-id=${info.taskId} transport=${info.transport}`;
  for (const a of info.attrs) line += `[${a[0]}, ${a[1]}, ${a[2]}] `;
  if (spec.local && info.localContact !== undefined) line += `${info.localContact} `;
  if (spec.remote && info.remoteContact !== undefined) line += `${info.remoteContact} `;
  return `${line}\n`;
}

interface LogTarget {
  readonly stream: Writable;
  failed: boolean;
  refs: number;
  /** Set for files this module opened; undefined for stdout or a caller's stream. */
  readonly path: string | undefined;
  /** The wait for the stream to drain, while one is under way. */
  drained?: Promise<void> | undefined;
}

/** Open log files, shared by every logging manager of the process (GCT caches them per path too). */
const files = new Map<string, Promise<LogTarget>>();

function waitWritable(stream: Writable): Promise<void> {
  return new Promise<void>((done) => {
    const finish = (): void => {
      stream.off('drain', finish);
      stream.off('error', finish);
      stream.off('close', finish);
      done();
    };
    stream.on('drain', finish);
    stream.on('error', finish);
    stream.on('close', finish);
  });
}

function openFile(path: string): Promise<LogTarget> {
  let pending = files.get(path);
  if (pending === undefined) {
    pending = new Promise<LogTarget>((ok, fail) => {
      const stream: WriteStream = createWriteStream(path, { flags: 'a', highWaterMark: LOG_HIGH_WATER_MARK });
      const target: LogTarget = { stream, failed: false, refs: 0, path };
      const onOpenError = (err: Error): void => {
        files.delete(path);
        fail(new NetManagerConfigError('logging', `The logging manager cannot open ${path} for appending: ${err.message}`, undefined, { cause: err }));
      };
      stream.once('error', onOpenError);
      stream.once('ready', () => {
        stream.off('error', onOpenError);
        stream.on('error', (err) => {
          // GCT's logging manager never fails a callout; a broken log is reported once, loudly.
          if (!target.failed) {
            target.failed = true;
            process.emitWarning(`The network-manager log ${path} failed and is no longer written: ${err.message}`, {
              code: 'SWITCHYARD_WARN_NETMGR_LOG',
            });
          }
        });
        ok(target);
      });
    });
    files.set(path, pending);
  }
  return pending.then((t) => {
    t.refs++;
    return t;
  });
}

async function releaseFile(target: LogTarget): Promise<void> {
  target.refs--;
  if (target.refs > 0 || target.path === undefined) return;
  files.delete(target.path);
  const stream = target.stream;
  if (stream.destroyed) return;
  await new Promise<void>((done) => {
    stream.once('close', () => done());
    stream.end();
  });
}

/** Options of {@link createLoggingManager}. */
export interface LoggingManagerOptions {
  /** Append to this file (opened once per path and shared). Default: stdout. */
  readonly file?: string | undefined;
  /** Write to this stream instead (tests, custom sinks); not closed by the manager. */
  readonly stream?: Writable | undefined;
  /** Name in each line and in errors. Default `"logging"`. */
  readonly name?: string | undefined;
}

/**
 * Creates a logging manager implementing all nine callouts. Each callout writes its line and
 * resolves at once, or, when the stream's buffer is full (64 KiB for files), when it drains; lines
 * stay in call order. It never rejects: a write error after opening emits one process warning
 * (`SWITCHYARD_WARN_NETMGR_LOG`) and later lines are dropped.
 *
 * Rejects with {@link NetManagerConfigError} when the file cannot be opened for appending (GCT falls
 * back to stdout silently; we say so at start instead).
 * @example
 * const log = await createLoggingManager({ file: '/var/log/switchyard/net.log' });
 */
export async function createLoggingManager(options: LoggingManagerOptions = {}): Promise<NetManager> {
  const name = options.name ?? 'logging';
  const target: LogTarget = options.file !== undefined
    ? await openFile(resolve(options.file))
    : { stream: options.stream ?? process.stdout, failed: false, refs: 1, path: undefined };
  let closed = false;
  const write = (callout: Callout, info: CalloutInfo): Promise<void> | undefined => {
    if (closed || target.failed || target.stream.destroyed) return undefined;
    if (target.stream.write(formatLogLine(name, callout, info))) return undefined;
    // One wait per stream, however many callouts find it full.
    target.drained ??= waitWritable(target.stream).finally(() => (target.drained = undefined));
    return target.drained;
  };
  const manager: Record<string, unknown> = { name };
  for (const c of CALLOUTS) {
    manager[c] = (info: CalloutInfo): Promise<void> | undefined => write(c, info);
  }
  manager['close'] = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await releaseFile(target);
  };
  return manager as NetManager;
}

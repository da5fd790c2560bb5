/**
 * Long-lived child processes with their stdio: the worker processes of gateways (popen, via, the
 * socket-gateway server) and the `ssh` client. The only place that spawns them (house style:
 * transport/ owns child-process stdio); short-lived programs with a deadline use
 * `child-process.ts`.
 *
 * A handle gives the stdio streams, any extra descriptors (3, 4, ...) as sockets, a promise of the
 * exit that never rejects, a kill that is a no-op once the process is gone, and a terminate that
 * escalates from SIGTERM to SIGKILL.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { guardTimer } from '../util/timers.ts';

/** What a standard descriptor of the child is connected to. */
export type StdioMode = 'pipe' | 'inherit' | 'ignore';

/** Options of {@link spawnProcess}. */
export interface SpawnProcessOptions {
  program: string;
  args: readonly string[];
  /** Environment of the child (default: this process's). */
  env?: NodeJS.ProcessEnv | undefined;
  cwd?: string | undefined;
  stdin?: StdioMode | undefined;
  stdout?: StdioMode | undefined;
  stderr?: StdioMode | undefined;
  /**
   * Number of extra descriptors (3, 4, ...) to open as socketpairs; they are {@link ProcessHandle.pipes}.
   * Default 0.
   */
  extraPipes?: number | undefined;
}

/** How a process ended. `error` is set when it could not be started (e.g. `ENOENT`). */
export interface ProcessExit {
  code: number | null;
  signal: string | null;
  error?: Error | undefined;
}

/** A running (or finished) child process. */
export interface ProcessHandle {
  /** Undefined when the program could not be started. */
  readonly pid: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Descriptors 3, 4, ... (as many as `extraPipes`), each a socket of a socketpair. */
  readonly pipes: readonly Socket[];
  /** Resolves (never rejects) once the process has exited or failed to start. */
  readonly exited: Promise<ProcessExit>;
  /** Resolves (never rejects) once the process exited and its stdout/stderr reached their end. */
  readonly closed: Promise<ProcessExit>;
  /** True until the process exited or failed to start. */
  readonly running: boolean;
  /** Sends `signal` (default SIGKILL) unless the process is already gone. */
  kill(signal?: NodeJS.Signals): void;
  /**
   * SIGTERM, then SIGKILL after `graceMs` if the process is still running. Resolves with the
   * exit; never rejects.
   */
  terminate(graceMs: number): Promise<ProcessExit>;
  /** Whether the process and its streams keep this process's event loop alive. */
  ref(on: boolean): void;
}

/**
 * Spawns `program`. Never throws for a missing program: `exited` then resolves with the spawn
 * error. Errors on the pipes (EPIPE after the child died) are swallowed; the reader sees the end.
 *
 * @example
 * ```ts
 * const p = spawnProcess({ program: 'node', args: ['-e', 'process.exit(3)'] });
 * console.log((await p.exited).code); // 3
 * ```
 */
export function spawnProcess(options: SpawnProcessOptions): ProcessHandle {
  const extra = options.extraPipes ?? 0;
  const stdio: Array<StdioMode> = [options.stdin ?? 'ignore', options.stdout ?? 'inherit', options.stderr ?? 'inherit'];
  for (let i = 0; i < extra; i++) stdio.push('pipe');
  const child: ChildProcess = spawn(options.program, [...options.args], {
    stdio,
    env: options.env ?? process.env,
    cwd: options.cwd,
    windowsHide: true,
  });
  const pipes: Socket[] = [];
  for (let i = 0; i < extra; i++) {
    const s = child.stdio[3 + i] as Socket | null;
    if (s) {
      s.on('error', () => {});
      pipes.push(s);
    }
  }
  child.stdin?.on('error', () => {});
  child.stdout?.on('error', () => {});
  child.stderr?.on('error', () => {});
  let running = true;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('error', (error) => {
      running = false;
      resolve({ code: null, signal: null, error });
    });
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });
  const closed = new Promise<ProcessExit>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const kill = (signal: NodeJS.Signals = 'SIGKILL'): void => {
    if (!running || child.exitCode !== null || child.signalCode !== null) return;
    try {
      child.kill(signal);
    } catch {
      // Already gone between the check and the signal.
    }
  };
  return {
    pid: child.pid,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    pipes,
    exited,
    closed,
    get running() {
      return running;
    },
    kill,
    async terminate(graceMs) {
      kill('SIGTERM');
      const timer = guardTimer(() => kill('SIGKILL'), graceMs);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },
    ref(on) {
      for (const h of [child, child.stdin, child.stdout, child.stderr, ...pipes] as Array<{ ref?(): void; unref?(): void } | null>) {
        if (!h) continue;
        if (on) h.ref?.();
        else h.unref?.();
      }
    },
  };
}

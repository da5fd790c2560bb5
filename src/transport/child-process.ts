/**
 * Running a short-lived external program: input on stdin, bounded stdout, a deadline, abort, and a
 * kill that escalates from SIGTERM to SIGKILL. The only place outside gateways that spawns
 * processes (house style: transport/ owns child-process stdio).
 * @module
 */
import { spawn } from 'node:child_process';
import { guardTimer } from '../util/timers.ts';

/** Options of {@link runProgram}. */
export interface RunProgramOptions {
  program: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv | undefined;
  /** Written to stdin, which is then closed. */
  input: string;
  /** Milliseconds before the program is killed and the run fails with `timeout`. */
  timeoutMs: number;
  /** Most bytes of stdout kept; more kills the program (`output`). */
  maxOutputBytes: number;
  /** Characters of stderr kept (the tail). */
  stderrTailChars: number;
  /** Milliseconds between SIGTERM and SIGKILL. */
  killGraceMs: number;
  signal?: AbortSignal | undefined;
}

/** How a run ended. */
export type RunOutcome =
  | { kind: 'exited'; exitCode: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string }
  | { kind: 'timeout'; stderr: string }
  | { kind: 'aborted'; reason: unknown; stderr: string }
  | { kind: 'output'; stderr: string }
  | { kind: 'spawn'; error: Error; stderr: string };

/**
 * Runs `program`. `outcome` resolves (never rejects) with how the run ended, as soon as that is
 * known; `exited` resolves once the process is really gone (callers that bound how many run at
 * once hold their slot until then).
 */
export function runProgram(o: RunProgramOptions): { outcome: Promise<RunOutcome>; exited: Promise<void> } {
  let markExited!: () => void;
  const exited = new Promise<void>((done) => {
    markExited = done;
  });
  const outcome = new Promise<RunOutcome>((resolve) => {
    const child = spawn(o.program, [...o.args], { stdio: ['pipe', 'pipe', 'pipe'], env: o.env ?? process.env, windowsHide: true });
    const out: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      killTimer = guardTimer(() => child.kill('SIGKILL'), o.killGraceMs);
    };
    const settle = (r: RunOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const timer = guardTimer(() => {
      settle({ kind: 'timeout', stderr });
      kill();
    }, o.timeoutMs);
    const onAbort = (): void => {
      settle({ kind: 'aborted', reason: o.signal?.reason, stderr });
      kill();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) onAbort();
    child.on('error', (error) => {
      settle({ kind: 'spawn', error, stderr });
      markExited();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (settled) return;
      outBytes += chunk.length;
      if (outBytes > o.maxOutputBytes) {
        settle({ kind: 'output', stderr });
        kill();
        return;
      }
      out.push(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-o.stderrTailChars);
    });
    // A program that exits without reading its input makes the write fail with EPIPE; its exit
    // status decides the outcome.
    child.stdin.on('error', () => {});
    child.stdin.end(o.input);
    child.on('close', (exitCode, signal) => {
      clearTimeout(killTimer);
      markExited();
      settle({ kind: 'exited', exitCode, signal, stdout: Buffer.concat(out), stderr });
    });
  });
  return { outcome, exited };
}

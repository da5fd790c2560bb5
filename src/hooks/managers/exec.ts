/**
 * The `exec` network manager (`manager=exec;program=/usr/local/bin/netpolicy;arg=--site=x;`): runs
 * an external program for each callout. GCT planned this manager ("implemented in any external
 * process") but shipped only an empty stub and deleted it in 2015.
 *
 * Protocol, one process per callout:
 * - **stdin**: one JSON object and a newline, then end of input:
 *   `{"callout":"preConnect","gctCallout":"pre_connect","taskId":"...","transport":"tcp",
 *   "remoteContact":"host:1875","attrs":[["tcp","iface","10.0.0.5"]],"managerAttrs":{...}}`
 *   (`localContact` / `remoteContact` only when known).
 * - **stdout**: nothing, `null` (no change), or one JSON object `{"attrs": [...], "contact": "h:p"}`
 *   with the same rules as any manager's return value.
 * - **exit status**: 0 accepts; anything else vetoes the operation, with the last line of stderr in
 *   the error message.
 * - **bounds**: a timeout per run (`timeout=` ms, default 5000; then SIGTERM, and SIGKILL one
 *   second later), at most 1 MiB of stdout, the last 4 KiB of stderr kept, at most `concurrency=`
 *   programs at once (default 4) with at most 256 callouts waiting for a turn.
 * @module
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { AbortError, NetManagerConfigError, NetManagerExecError, QueueFullError, TimeoutError } from '../../errors.ts';
import { describe } from '../attrs.ts';
import { runProgram } from '../../transport/child-process.ts';
import { CALLOUT_SPECS, isCallout } from '../callouts.ts';
import { CALLOUTS, type Callout, type CalloutInfo, type NetManager } from '../types.ts';

/** Options of {@link createExecManager}. */
export interface ExecManagerOptions {
  /** The program: an absolute or relative path, or a name looked up in `PATH`. */
  readonly program: string;
  /** Arguments, in order (`arg=` attrs). */
  readonly args?: readonly string[] | undefined;
  /** Milliseconds one run may take. Default 5000. */
  readonly timeout?: number | undefined;
  /** Callouts that run the program; the others are not implemented. Default all nine. */
  readonly callouts?: readonly Callout[] | undefined;
  /** Programs running at once. Default 4. */
  readonly concurrency?: number | undefined;
  /** Callouts waiting for a turn before further ones fail with `QueueFullError`. Default 256. */
  readonly maxQueued?: number | undefined;
  /** Most bytes read from stdout. Default 1 MiB. */
  readonly maxOutputBytes?: number | undefined;
  /** Environment of the program. Default: this process's. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Name in errors. Default `"exec"`. */
  readonly name?: string | undefined;
}

/** Defaults of the exec manager's bounds. */
export const EXEC_DEFAULTS = Object.freeze({
  timeout: 5000,
  concurrency: 4,
  maxQueued: 256,
  maxOutputBytes: 1024 * 1024,
  stderrTailBytes: 4096,
  killGraceMs: 1000,
});

/** A counting semaphore with a bounded, abortable wait queue. */
class Slots {
  #free: number;
  readonly #waiters: Array<() => void> = [];
  readonly #maxQueued: number;
  readonly #what: string;
  constructor(count: number, maxQueued: number, what: string) {
    this.#free = count;
    this.#maxQueued = maxQueued;
    this.#what = what;
  }
  acquire(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortError(`a turn to run ${this.#what}`, { cause: signal.reason }));
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    if (this.#waiters.length >= this.#maxQueued) return Promise.reject(new QueueFullError(`exec manager (${this.#what})`, this.#maxQueued));
    return new Promise<void>((ok, fail) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        ok();
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(grant);
        if (i >= 0) this.#waiters.splice(i, 1);
        fail(new AbortError(`a turn to run ${this.#what}`, { cause: signal?.reason }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(grant);
    });
  }
  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }
}

function positiveInt(name: string, v: number | undefined, dflt: number, what: string): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < 1) throw new NetManagerConfigError(name, `The exec manager's ${what} must be a positive integer, not ${describe(v)}`);
  return n;
}

/**
 * Creates an exec manager. Rejects with {@link NetManagerConfigError} when `program` is empty, a
 * program given as a path is not executable, or a bound is not a positive integer.
 *
 * Each callout resolves with the program's JSON answer (checked by the chain like any return
 * value) and rejects with {@link NetManagerExecError} when the program cannot start, exits
 * non-zero or by a signal, runs past its timeout (cause `TimeoutError`), writes more than
 * `maxOutputBytes` or writes something that is not JSON; with {@link QueueFullError} when too many
 * callouts wait; with `AbortError` when the callout's signal aborts (the program is killed).
 * @example
 * const m = await createExecManager({ program: '/usr/local/bin/netpolicy', callouts: ['preAccept'] });
 */
export async function createExecManager(options: ExecManagerOptions): Promise<NetManager> {
  const name = options.name ?? 'exec';
  const program = options.program;
  if (typeof program !== 'string' || program === '') {
    throw new NetManagerConfigError(name, 'The exec manager needs program=<path or name of the program to run>');
  }
  if (/[/\\]/.test(program)) {
    try {
      await access(program, constants.X_OK);
    } catch (err) {
      throw new NetManagerConfigError(name, `The exec manager cannot run ${program}: ${(err as Error).message}`, undefined, { cause: err });
    }
  }
  const timeout = positiveInt(name, options.timeout, EXEC_DEFAULTS.timeout, 'timeout');
  const concurrency = positiveInt(name, options.concurrency, EXEC_DEFAULTS.concurrency, 'concurrency');
  const maxQueued = positiveInt(name, options.maxQueued, EXEC_DEFAULTS.maxQueued, 'maxQueued');
  const maxOutputBytes = positiveInt(name, options.maxOutputBytes, EXEC_DEFAULTS.maxOutputBytes, 'maxOutputBytes');
  const args = [...(options.args ?? [])];
  const callouts = options.callouts ?? CALLOUTS;
  const slots = new Slots(concurrency, maxQueued, program);

  const runOnce = (callout: Callout, info: CalloutInfo): { result: Promise<unknown>; exited: Promise<void> } => {
    const spec = CALLOUT_SPECS[callout];
    const input: Record<string, unknown> = { callout, gctCallout: spec.gctName, taskId: info.taskId, transport: info.transport };
    if (info.localContact !== undefined) input['localContact'] = info.localContact;
    if (info.remoteContact !== undefined) input['remoteContact'] = info.remoteContact;
    input['attrs'] = info.attrs;
    input['managerAttrs'] = info.managerAttrs;

    const run = runProgram({
      program,
      args,
      env: options.env,
      input: `${JSON.stringify(input)}\n`,
      timeoutMs: timeout,
      maxOutputBytes,
      stderrTailChars: EXEC_DEFAULTS.stderrTailBytes,
      killGraceMs: EXEC_DEFAULTS.killGraceMs,
      signal: info.signal,
    });
    const fail = (message: string, stderr: string, facts: { exitCode?: number | null; signal?: string | null } = {}, cause?: unknown): never => {
      throw new NetManagerExecError(program, callout, message, { ...facts, stderr }, cause === undefined ? undefined : { cause });
    };
    const result = run.outcome.then((r): unknown => {
      switch (r.kind) {
        case 'timeout':
          return fail(`${program} did not finish ${callout} within ${timeout} ms and was killed (raise timeout=)`, r.stderr, {}, new TimeoutError(`${program} in ${callout}`, timeout));
        case 'aborted':
          throw new AbortError(`${program} in ${callout}`, { cause: r.reason });
        case 'output':
          return fail(`${program} wrote more than ${maxOutputBytes} bytes to stdout in ${callout}`, r.stderr);
        case 'spawn':
          return fail(`${program} could not be started for ${callout}: ${r.error.message}`, r.stderr, {}, r.error);
        case 'exited': {
          if (r.signal !== null) return fail(`${program} was ended by ${r.signal} in ${callout}`, r.stderr, { exitCode: null, signal: r.signal });
          if (r.exitCode !== 0) {
            const last = r.stderr.trim().split(/\r?\n/).pop() ?? '';
            return fail(`${program} exited with code ${r.exitCode} in ${callout}${last ? `: ${last}` : ''}`, r.stderr, { exitCode: r.exitCode, signal: null });
          }
          const text = r.stdout.toString('utf8').trim();
          if (text === '') return undefined;
          try {
            return JSON.parse(text) as unknown;
          } catch (err) {
            return fail(`${program} wrote invalid JSON to stdout in ${callout}: ${(err as Error).message}`, r.stderr, { exitCode: 0 }, err);
          }
        }
      }
    });
    const exited = run.exited;
    return { result, exited };
  };

  const manager: Record<string, unknown> = { name };
  for (const c of callouts) {
    if (!isCallout(c)) {
      throw new NetManagerConfigError(name, `The exec manager's callouts list names ${JSON.stringify(c)}, which is not a callout (${CALLOUTS.join(', ')})`);
    }
    manager[c] = async (info: CalloutInfo): Promise<unknown> => {
      await slots.acquire(info.signal);
      let run: { result: Promise<unknown>; exited: Promise<void> };
      try {
        run = runOnce(c, info);
      } catch (err) {
        slots.release();
        throw err;
      }
      // The slot is held until the process is really gone, so at most `concurrency` exist at once.
      void run.exited.then(() => slots.release());
      return run.result;
    };
  }
  return manager as NetManager;
}

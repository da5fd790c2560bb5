/**
 * Chains of network managers: the analogue of GCT's `globus_net_manager_context`.
 *
 * Rules (see docs/hooks.md):
 * - Managers run in **configuration order** (list order = run order). GCT's code runs them in
 *   reverse while its documentation promises configuration order; we keep the promise.
 * - Each manager sees the latest attrs and contact; a returned `attrs` replaces the list, a
 *   returned `contact` replaces the contact (postListen and preConnect only), nothing means no change.
 * - The first throw or rejection stops the chain and rejects with `NetManagerError` naming the
 *   manager and callout; later managers are not called.
 * - `global` attrs are copied into every manager's `managerAttrs`.
 * @module
 */
import { AbortError, ClosedError, InvalidArgumentError, NetManagerError, NetManagerResultError, QueueFullError, TimeoutError } from '../errors.ts';
import { bounded } from '../util/timers.ts';
import { GLOBAL_SCOPE, attrsToRecord, copyAttrs, describe } from './attrs.ts';
import { CALLOUT_SPECS, isCallout } from './callouts.ts';
import { parseContact } from './contact.ts';
import { newTaskId } from './task-id.ts';
import {
  CALLOUTS,
  type Attr,
  type Callout,
  type CalloutFn,
  type CalloutInfo,
  type ChainOutcome,
  type ChainRunInfo,
  type ConnectionCallouts,
  type ConnectionRunInfo,
  type NetHooks,
  type NetManager,
} from './types.ts';

/** A manager with the configuration the chain gives it. */
export interface ChainEntry {
  /** Name used in errors and as the scope of its attrs; defaults to `manager.name`, else `hooks[i]`. */
  readonly name?: string | undefined;
  readonly manager: NetManager;
  /** The manager's own attrs (its scope); the chain puts the chain's `globals` before them. */
  readonly attrs?: readonly Attr[] | undefined;
  /** True when the chain created the manager and must `close()` it with itself. Default false. */
  readonly owned?: boolean | undefined;
}

/** A chain's view of one manager. */
export interface ResolvedEntry {
  readonly name: string;
  readonly manager: NetManager;
  /** `global` attrs first, then the manager's own, in order (GCT's per-entry attr list). */
  readonly attrs: readonly Attr[];
  /** {@link attrs} as name → value, later ones winning; what callouts get as `managerAttrs`. */
  readonly managerAttrs: Readonly<Record<string, string>>;
  readonly owned: boolean;
}

/** Options of {@link createChain}. */
export interface ChainOptions {
  /** Attrs copied to every manager (their scope should be `global`). */
  readonly globals?: readonly Attr[] | undefined;
  /** Task id for every connection that is not given one (`task-id=` in an option string). */
  readonly taskId?: string | undefined;
  /**
   * Milliseconds one manager may take for one callout before the chain gives up with a
   * `NetManagerError` caused by a `TimeoutError` (and aborts the callout's `signal`).
   * Default 10000; `Infinity` waits forever.
   */
  readonly timeout?: number | undefined;
}

/** Default {@link ChainOptions.timeout}. */
export const DEFAULT_CALLOUT_TIMEOUT_MS = 10_000;
/** Default bound of calls waiting in one {@link ConnectionHooks}. */
export const DEFAULT_MAX_PENDING_CALLOUTS = 16;

const RESULT_KEYS = new Set(['attrs', 'contact']);

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(`a non-Error value was thrown: ${describe(err)}`, { cause: err });
}

/** Checks a returned attr list and returns a frozen copy. Throws NetManagerResultError. */
function checkAttrList(callout: Callout, list: unknown): readonly Attr[] {
  if (!Array.isArray(list)) {
    throw new NetManagerResultError(callout, 'attrs', `attrs returned from ${callout} must be an array of [scope, name, value], not ${describe(list)}`);
  }
  const out: Attr[] = [];
  list.forEach((a: unknown, i) => {
    if (!Array.isArray(a) || a.length !== 3) {
      throw new NetManagerResultError(callout, 'attr', `attr ${i} returned from ${callout} must be a [scope, name, value] triple, not ${describe(a)}`);
    }
    (['scope', 'name', 'value'] as const).forEach((part, j) => {
      if (typeof a[j] !== 'string') {
        throw new NetManagerResultError(callout, part, `the ${part} of attr ${i} returned from ${callout} must be a string, not ${describe(a[j])}`);
      }
    });
    out.push(Object.freeze([a[0] as string, a[1] as string, a[2] as string] as const));
  });
  return Object.freeze(out);
}

interface RunState {
  attrs: readonly Attr[];
  contact: string | undefined;
}

/**
 * Applies one manager's return value to the running state, or throws NetManagerResultError.
 * Contacts: `""` means "no change" (GCT's driver ignores an empty contact); a contact from any
 * callout other than postListen or preConnect is an error, since nothing would use it.
 */
function applyResult(callout: Callout, result: unknown, state: RunState): void {
  if (result === undefined || result === null) return;
  if (typeof result !== 'object' || Array.isArray(result)) {
    throw new NetManagerResultError(callout, 'result', `${callout} must return nothing or an object { attrs?, contact? }, not ${describe(result)}`);
  }
  for (const key of Object.keys(result)) {
    if (!RESULT_KEYS.has(key)) {
      throw new NetManagerResultError(callout, 'result', `${callout} returned an object with the unknown key ${JSON.stringify(key)}; only attrs and contact are read`);
    }
  }
  const spec = CALLOUT_SPECS[callout];
  const { attrs, contact } = result as { attrs?: unknown; contact?: unknown };
  const hasAttrs = attrs !== undefined && attrs !== null;
  const hasContact = contact !== undefined && contact !== null && contact !== '';
  if (spec.output === 'none' && (hasAttrs || hasContact)) {
    throw new NetManagerResultError(callout, 'result', `${callout} cannot change attrs or contacts; it must return nothing`);
  }
  if (hasContact) {
    if (spec.output !== 'contact') {
      throw new NetManagerResultError(
        callout,
        'contact',
        `only postListen and preConnect may return a contact; ${callout} returned ${describe(contact)}`,
      );
    }
    if (typeof contact !== 'string') {
      throw new NetManagerResultError(callout, 'contact', `the contact returned from ${callout} must be a "host:port" string, not ${describe(contact)}`);
    }
    try {
      parseContact(contact);
    } catch (err) {
      throw new NetManagerResultError(callout, 'contact', (err as Error).message, { cause: err });
    }
    state.contact = contact;
  }
  if (hasAttrs) state.attrs = checkAttrList(callout, attrs);
}

function checkRunInfo(callout: unknown, info: unknown): asserts info is ChainRunInfo {
  if (!isCallout(callout)) {
    throw new InvalidArgumentError('callout', `Bad parameter, ${describe(callout)} is not a callout (one of ${CALLOUTS.join(', ')})`);
  }
  if (info === null || typeof info !== 'object') {
    throw new InvalidArgumentError('info', 'Bad parameter, No parameter may be NULL.');
  }
  const i = info as Partial<Record<string, unknown>>;
  for (const key of ['taskId', 'transport'] as const) {
    if (typeof i[key] !== 'string') {
      throw new InvalidArgumentError(key, `Bad parameter, ${callout} needs ${key} as a string (No parameter may be NULL.)`);
    }
  }
  if (!Array.isArray(i['attrs'])) {
    throw new InvalidArgumentError('attrs', `Bad parameter, ${callout} needs attrs as an array (No parameter may be NULL.)`);
  }
  const spec = CALLOUT_SPECS[callout];
  const contact = typeof i['contact'] === 'string' ? i['contact'] : undefined;
  const local = spec.rewrites === 'local' ? (contact ?? i['localContact']) : i['localContact'];
  const remote = spec.rewrites === 'remote' ? (contact ?? i['remoteContact']) : i['remoteContact'];
  if (spec.local && typeof local !== 'string') {
    throw new InvalidArgumentError('localContact', `Bad parameter, ${callout} needs localContact (No parameter may be NULL.)`);
  }
  if (spec.remote && typeof remote !== 'string') {
    throw new InvalidArgumentError('remoteContact', `Bad parameter, ${callout} needs remoteContact (No parameter may be NULL.)`);
  }
}

function isEntry(x: NetManager | ChainEntry): x is ChainEntry {
  if (x === null || typeof x !== 'object') return false;
  return typeof (x as { manager?: unknown }).manager === 'object' && (x as { manager?: unknown }).manager !== null;
}

/**
 * A chain of network managers. Implements {@link NetHooks} for transport/, plus
 * {@link NetManagerChain.forConnection} (serialized per connection) and `close()`.
 */
export class NetManagerChain implements NetHooks {
  /** True when no manager implements any callout: transport then skips all hook work. */
  readonly empty: boolean;
  /** The managers in run order. */
  readonly entries: readonly ResolvedEntry[];
  /** Task id used for connections that are not given one, or `undefined` (a fresh id each). */
  readonly taskId: string | undefined;
  /** Milliseconds each manager may take per callout. */
  readonly timeout: number;
  readonly #byCallout: Readonly<Record<Callout, readonly ResolvedEntry[]>>;
  #closing: Promise<void> | undefined;

  /** Prefer {@link createChain}. Throws {@link InvalidArgumentError} for a bad entry or option. */
  constructor(entries: Iterable<NetManager | ChainEntry>, options: ChainOptions = {}) {
    const timeout = options.timeout ?? DEFAULT_CALLOUT_TIMEOUT_MS;
    if (typeof timeout !== 'number' || !(timeout > 0)) {
      throw new InvalidArgumentError('timeout', `The callout timeout must be a positive number of milliseconds (or Infinity), not ${describe(timeout)}`);
    }
    if (options.taskId !== undefined && (typeof options.taskId !== 'string' || options.taskId === '')) {
      throw new InvalidArgumentError('taskId', 'The task id must be a non-empty string');
    }
    const globals = copyAttrs(options.globals ?? []);
    const resolved: ResolvedEntry[] = [];
    let index = 0;
    for (const item of entries) {
      const entry: ChainEntry = isEntry(item) ? item : { manager: item };
      const manager = entry.manager;
      if (manager === null || typeof manager !== 'object') {
        throw new InvalidArgumentError('hooks', `Network manager ${index} is ${describe(manager)}, not an object with callouts`);
      }
      for (const c of CALLOUTS) {
        const fn: unknown = manager[c];
        if (fn !== undefined && typeof fn !== 'function') {
          throw new InvalidArgumentError('hooks', `Network manager ${index}'s ${c} is ${describe(fn)}, not a function`);
        }
      }
      const name = entry.name ?? manager.name ?? `hooks[${index}]`;
      const attrs = Object.freeze([...globals, ...copyAttrs(entry.attrs ?? [])].map((a) => Object.freeze(a)));
      resolved.push(
        Object.freeze({
          name,
          manager,
          attrs,
          managerAttrs: Object.freeze(attrsToRecord(attrs, [GLOBAL_SCOPE, name])),
          owned: entry.owned === true,
        }),
      );
      index++;
    }
    const byCallout = {} as Record<Callout, readonly ResolvedEntry[]>;
    for (const c of CALLOUTS) byCallout[c] = Object.freeze(resolved.filter((e) => typeof e.manager[c] === 'function'));
    this.#byCallout = Object.freeze(byCallout);
    this.entries = Object.freeze(resolved);
    this.empty = CALLOUTS.every((c) => byCallout[c].length === 0);
    this.taskId = options.taskId;
    this.timeout = timeout;
  }

  /**
   * Runs `callout` through every manager that implements it, in order. Resolves with the final
   * attrs (a new array) and contact: for postListen the local contact and for preConnect the remote
   * contact after every manager had its say; for other callouts `info.contact` unchanged.
   *
   * Rejects with {@link InvalidArgumentError} when a required input is missing (each callout needs
   * the contacts GCT passes it: see `CALLOUT_SPECS`), {@link ClosedError} after `close()`,
   * {@link AbortError} when `info.signal` aborts, and {@link NetManagerError} (message "A network
   * manager (X) errored in preAccept: ...") when a manager throws, rejects, times out or returns a
   * value it may not ({@link NetManagerResultError} as the cause).
   */
  async run(callout: Callout, info: ChainRunInfo): Promise<ChainOutcome> {
    checkRunInfo(callout, info);
    if (this.#closing) throw new ClosedError('This network manager chain');
    const spec = CALLOUT_SPECS[callout];
    const state: RunState = {
      attrs: info.attrs,
      contact: spec.rewrites === 'local' ? (info.contact ?? info.localContact) : spec.rewrites === 'remote' ? (info.contact ?? info.remoteContact) : info.contact,
    };
    const entries = this.#byCallout[callout];
    // The caller's attrs are copied and frozen so that no manager can change them in place.
    if (entries.length > 0) state.attrs = Object.freeze(copyAttrs(info.attrs).map((a) => Object.freeze(a)));
    for (const entry of entries) {
      const fn = entry.manager[callout] as CalloutFn;
      const calloutInfo = {
        taskId: info.taskId,
        transport: info.transport,
        localContact: spec.rewrites === 'local' ? state.contact : info.localContact,
        remoteContact: spec.rewrites === 'remote' ? state.contact : info.remoteContact,
        attrs: state.attrs,
        managerAttrs: entry.managerAttrs,
      };
      let result: unknown;
      try {
        result = await this.#invoke(entry, callout, fn, calloutInfo, info.signal);
      } catch (err) {
        if (err instanceof AbortError && info.signal?.aborted) throw err;
        throw new NetManagerError(entry.name, callout, { cause: toError(err) });
      }
      try {
        applyResult(callout, result, state);
      } catch (err) {
        throw new NetManagerError(entry.name, callout, { cause: err });
      }
    }
    return { attrs: state.attrs.map((a) => [a[0], a[1], a[2]] as Attr), contact: state.contact };
  }

  #invoke(
    entry: ResolvedEntry,
    callout: Callout,
    fn: CalloutFn,
    base: Omit<CalloutInfo, 'signal'>,
    callerSignal: AbortSignal | undefined,
  ): Promise<unknown> {
    const guarded = Number.isFinite(this.timeout) || callerSignal !== undefined;
    if (!guarded) return Promise.resolve().then(() => fn.call(entry.manager, base));
    const controller = new AbortController();
    const signal = callerSignal ? AbortSignal.any([callerSignal, controller.signal]) : controller.signal;
    const call = Promise.resolve().then(() => fn.call(entry.manager, { ...base, signal }));
    return bounded(call, `network manager ${entry.name} in ${callout}`, { timeout: this.timeout, signal: callerSignal }, (reason) => {
      controller.abort(reason);
    }).catch((err: unknown) => {
      if (err instanceof TimeoutError) {
        throw new TimeoutError(`network manager ${entry.name} in ${callout} (raise the chain's timeout option if it needs longer)`, err.timeoutMs);
      }
      throw err;
    });
  }

  /**
   * A serialized view for one connection or listener: its callouts run one at a time in call
   * order, with one task id (`options.taskId`, else the chain's `task-id=`, else a fresh
   * {@link newTaskId}). `transport` defaults to `"tcp"`.
   */
  forConnection(options: { taskId?: string | undefined; transport?: string | undefined; maxPending?: number | undefined } = {}): ConnectionHooks {
    return new ConnectionHooks(this, {
      taskId: options.taskId ?? this.taskId ?? newTaskId(),
      transport: options.transport,
      maxPending: options.maxPending,
    });
  }

  /**
   * Closes the managers this chain created from configuration (closing their log files), in
   * reverse order. Later `run()` calls reject with {@link ClosedError}. Safe to call twice.
   * Rejects with the first manager's close error, after trying every manager.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      let first: unknown;
      for (const e of [...this.entries].reverse()) {
        if (!e.owned || typeof e.manager.close !== 'function') continue;
        try {
          await e.manager.close();
        } catch (err) {
          first ??= err;
        }
      }
      if (first !== undefined) throw first;
    })();
    return this.#closing;
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Creates a chain from managers (or entries with names and attrs) in run order.
 * Throws {@link InvalidArgumentError} when a manager is not an object of callout functions.
 * @example
 * const chain = createChain([
 *   { preListen: ({ attrs }) => ({ attrs: [...attrs, ['tcp', 'listen_range', '50000-51000']] }) },
 *   { name: 'no-10-net', preAccept: ({ remoteContact }) => { if (remoteContact?.startsWith('10.')) throw new Error('not from 10/8'); } },
 * ]);
 */
export function createChain(entries: Iterable<NetManager | ChainEntry>, options?: ChainOptions): NetManagerChain {
  return new NetManagerChain(entries, options);
}

/** Options of {@link ConnectionHooks}. */
export interface ConnectionHooksOptions {
  /** Task id of every callout; default a fresh {@link newTaskId}. */
  readonly taskId?: string | undefined;
  /** Transport name; default `"tcp"`. */
  readonly transport?: string | undefined;
  /** Calls allowed to wait at once; one more rejects with `QueueFullError`. Default 16. */
  readonly maxPending?: number | undefined;
}

/**
 * One connection's (or listener's) callouts, run one at a time in call order (GCT's python
 * manager took no lock; we serialise so that e.g. postClose never overtakes postConnect). A failed
 * call does not block the ones after it.
 */
export class ConnectionHooks implements ConnectionCallouts {
  readonly taskId: string;
  readonly transport: string;
  readonly #hooks: NetHooks;
  readonly #maxPending: number;
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  /** Throws {@link InvalidArgumentError} for a bad option. */
  constructor(hooks: NetHooks, options: ConnectionHooksOptions = {}) {
    const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING_CALLOUTS;
    if (!Number.isInteger(maxPending) || maxPending < 1) {
      throw new InvalidArgumentError('maxPending', `maxPending must be a positive integer, not ${describe(maxPending)}`);
    }
    this.#hooks = hooks;
    this.#maxPending = maxPending;
    this.taskId = options.taskId ?? newTaskId();
    this.transport = options.transport ?? 'tcp';
  }

  /** Calls started and not yet settled. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Runs one callout after every earlier call of this connection has settled; resolves and
   * rejects as {@link NetManagerChain.run}. Rejects at once with {@link QueueFullError} when
   * `maxPending` calls are already waiting.
   */
  run(callout: Callout, info: ConnectionRunInfo): Promise<ChainOutcome> {
    if (this.#pending >= this.#maxPending) {
      return Promise.reject(new QueueFullError(`network-manager callouts of task ${this.taskId}`, this.#maxPending));
    }
    this.#pending++;
    const call = this.#tail.then(() => this.#hooks.run(callout, { ...info, taskId: this.taskId, transport: this.transport }));
    this.#tail = call.then(
      () => undefined,
      () => undefined,
    );
    return call.finally(() => {
      this.#pending--;
    });
  }
}

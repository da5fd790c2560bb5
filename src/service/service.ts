/**
 * Services: subclass {@link Service}; its public methods become callable by linked clients.
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Channel } from '../channel/index.ts';
import { AbortError, ClosedError, InvalidArgumentError } from '../errors.ts';
import { LANGUAGE, OS_NAME, Session, type IncomingRequest, type ManagerConnectOptions } from '../rpc/session.ts';
import { describeParams, type ParamInfo } from './params.ts';

/** Who made the request being handled (available as `this.request` inside a method). */
export interface RequestContext {
  /** The client's network name, `name[host:port]`. */
  readonly requester: string;
  /** The attribute called. */
  readonly attribute: string;
  /** True when the Manager reports the requester as an administrator (native dialect only). */
  readonly requesterIsAdmin: boolean;
  /**
   * Aborts when the caller gave up on this call (its timeout or signal, or it disconnected). Only
   * a Switchyard Manager tells services (native dialect); it never aborts otherwise. Read it at the
   * start of a method (`const { signal } = this.request!`) and pass it to what the method waits
   * on; the reply of an aborted call is dropped by the caller.
   */
  readonly signal: AbortSignal;
}

/** The context of one request; its AbortController is made only when `signal` is read. */
class CallContext implements RequestContext {
  #controller: AbortController | undefined;
  #cancelled = false;
  constructor(
    readonly requester: string,
    readonly attribute: string,
    readonly requesterIsAdmin: boolean,
  ) {}

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#cancelled) this.#controller.abort(new AbortError(`the reply to ${this.attribute}: its caller gave up`));
    }
    return this.#controller.signal;
  }

  /** The caller gave up. */
  cancel(): void {
    this.#cancelled = true;
    this.#controller?.abort(new AbortError(`the reply to ${this.attribute}: its caller gave up`));
  }
}

/** Who may call a method: `'any'`, `'admin'`, or a predicate (return false or a reason string to refuse). */
export type AccessRule = 'any' | 'admin' | ((request: RequestContext) => boolean | string);

/** Arguments schema of a method: a TypeBox schema per positional argument. */
export type MethodSchema = readonly TSchema[];

/** Options of a {@link Service}. */
export interface ServiceOptions {
  /** The registered name (unique on the Manager). Default: the class name. */
  name?: string | undefined;
  /** Most clients that may link at once; 0 or less means unlimited (msl-network's `max_clients`). */
  maxClients?: number | undefined;
  /** Public names to hide from the advertised attributes (they stay callable, as in msl-network). */
  ignoreAttributes?: readonly string[] | undefined;
  /** Send JavaScript stack lines as the error traceback (default false: nothing internal leaks). */
  sendTracebacks?: boolean | undefined;
  /**
   * Keep `this.request` valid across `await`s (AsyncLocalStorage). Default: on when a method of the
   * class mentions `request`, off otherwise (it costs about a fifth of a busy service's throughput).
   */
  requestContext?: boolean | undefined;
}

const BASE_NAMES = new Set<string>([
  'constructor',
  'start',
  'disconnect',
  'whenStopped',
  'emitNotification',
  'emitNotificationWith',
  'request',
  'name',
  'maxClients',
  'networkName',
  'isConnected',
  'shutdownHandler',
  'schemas',
  'access',
  'inFlight',
  'attributes',
  'onChannel',
  'openChannel',
]);

const current = new AsyncLocalStorage<RequestContext>();
/** The request whose synchronous part is running (when AsyncLocalStorage is not in use). */
let syncCurrent: RequestContext | undefined;

/** True when any function on `obj`'s prototype chain below Service mentions `request`. */
function mentionsRequest(obj: object): boolean {
  let proto = Object.getPrototypeOf(obj) as object | null;
  while (proto && proto !== Service.prototype && proto !== Object.prototype) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, key);
      for (const fn of [d?.value, d?.get, d?.set]) {
        if (typeof fn === 'function' && /\brequest\b/.test(Function.prototype.toString.call(fn))) return true;
      }
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return false;
}

class MethodError extends Error {
  constructor(
    readonly pyName: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Base class of services. Public methods (not starting with `_`) of a subclass are callable;
 * public non-function properties are returned as constants. Set `schemas` to validate arguments
 * with TypeBox and `access` to restrict methods.
 * @example
 * class Adder extends Service {
 *   add(a: number, b: number) { return a + b; }
 * }
 * const adder = new Adder();
 * await adder.start({ port: 1875, autoSave: true });
 */
export class Service {
  /** TypeBox schemas of method arguments, checked before a method runs. */
  protected schemas: Record<string, MethodSchema> = {};
  /** Access rules per method; methods without a rule are open to every linked client. */
  protected access: Record<string, AccessRule> = {};

  #session: Session | undefined;
  #options: ServiceOptions;
  #params = new Map<string, ParamInfo>();
  #compiled = new Map<string, ReturnType<typeof Compile>>();
  #stopped: Promise<void> | undefined;
  #inFlight = 0;
  /** Native requests whose method is still running, by route: a CANCEL aborts their signal. */
  readonly #cancellable = new Map<number, CallContext>();
  #asyncContext = false;

  constructor(options: ServiceOptions = {}) {
    this.#options = options;
  }

  /** The service's registered name. */
  get name(): string {
    return this.#options.name ?? this.constructor.name;
  }

  /** Most linked clients (≤ 0: unlimited). */
  get maxClients(): number {
    return this.#options.maxClients ?? -1;
  }

  /** This service's network name once connected. */
  get networkName(): string {
    return this.#session?.networkName ?? '';
  }

  /**
   * The request being handled, inside a method call (msl-network's `Service.request`); valid
   * across `await`s (see {@link ServiceOptions.requestContext}).
   */
  get request(): RequestContext | undefined {
    return syncCurrent ?? current.getStore();
  }

  /** True while connected to a Manager. */
  isConnected(): boolean {
    return this.#session !== undefined && !this.#session.closed;
  }

  /** The advertised attributes: method signatures and constant values. */
  protected attributes(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const hidden = new Set(this.#options.ignoreAttributes ?? []);
    for (const name of this.#methodNames()) {
      if (hidden.has(name)) continue;
      out[name] = this.#paramsOf(name).signature;
    }
    for (const key of Object.keys(this)) {
      if (key.startsWith('_') || BASE_NAMES.has(key) || hidden.has(key)) continue;
      const v = (this as Record<string, unknown>)[key];
      if (typeof v !== 'function') out[key] = v;
    }
    return out;
  }

  #methodCache: Set<string> | undefined;

  /** Public method names, computed once (the prototype chain does not change while serving). */
  #methodSet(): Set<string> {
    return (this.#methodCache ??= new Set(this.#methodNames()));
  }

  #methodNames(): string[] {
    const names = new Set<string>();
    let proto = Object.getPrototypeOf(this) as object | null;
    while (proto && proto !== Service.prototype && proto !== Object.prototype) {
      for (const key of Object.getOwnPropertyNames(proto)) {
        if (key.startsWith('_') || key.startsWith('#') || BASE_NAMES.has(key)) continue;
        const d = Object.getOwnPropertyDescriptor(proto, key);
        if (d && typeof d.value === 'function') names.add(key);
      }
      proto = Object.getPrototypeOf(proto) as object | null;
    }
    return [...names];
  }

  #paramsOf(name: string): ParamInfo {
    let p = this.#params.get(name);
    if (!p) {
      const fn = (this as unknown as Record<string, (...a: unknown[]) => unknown>)[name] as (...a: unknown[]) => unknown;
      p = describeParams(fn);
      this.#params.set(name, p);
    }
    return p;
  }

  /**
   * Connects to a Manager and registers. Resolves once registered (requests are then served until
   * {@link disconnect} or the Manager goes; see {@link whenStopped}). Rejects like `connect()`.
   */
  async start(options: ManagerConnectOptions = {}): Promise<void> {
    if (this.#session && !this.#session.closed) throw new InvalidArgumentError('start', `The ${this.name} service is already connected`);
    for (const [method, schema] of Object.entries(this.schemas)) {
      this.#compiled.set(method, Compile({ type: 'array', prefixItems: [...schema], items: false, minItems: 0 } as unknown as TSchema));
    }
    this.#asyncContext = this.#options.requestContext ?? mentionsRequest(this);
    const identity = {
      type: 'service',
      name: this.name,
      attributes: this.attributes(),
      language: LANGUAGE,
      os: OS_NAME,
      max_clients: this.maxClients,
    };
    const session = await Session.open(identity, options);
    this.#session = session;
    this.#stopped = session.whenClosed().then(() => {
      // Nobody can receive the replies of methods still running: let them stop.
      for (const ctx of this.#cancellable.values()) ctx.cancel();
      this.#cancellable.clear();
      return this.shutdownHandler();
    });
    session.setHandlers({
      onRequest: (req) => this.#handle(session, req),
      onCancel: (route) => {
        const ctx = this.#cancellable.get(route);
        this.#cancellable.delete(route);
        ctx?.cancel();
      },
      onChannel: (channel, meta, requester) => {
        try {
          const r = this.onChannel(channel, meta, new CallContext(requester, '', false));
          if (r instanceof Promise) r.catch((err: unknown) => channel.close(err instanceof Error ? err : new Error(String(err))));
        } catch (err) {
          channel.close(err instanceof Error ? err : new Error(String(err)));
        }
      },
    });
  }

  /** Resolves when the service has disconnected (and its `shutdownHandler` ran). */
  whenStopped(): Promise<void> {
    return this.#stopped ?? Promise.resolve();
  }

  /**
   * A linked client opened a channel (`link.$openChannel(meta)`). Override to stream: receive with
   * `for await (const item of channel)`, send with `await channel.send(item)`. The default refuses.
   * An exception closes the channel with that error.
   */
  protected onChannel(channel: Channel, meta: unknown, request: RequestContext): void | Promise<void> {
    void meta;
    channel.close(new Error(`The ${this.name} service does not accept channels (from ${request.requester})`));
  }

  /** Called once after the connection closes; override to clean up (msl-network's `shutdown_handler`). */
  protected shutdownHandler(): void | Promise<void> {}

  /** Disconnects from the Manager. Safe to call twice. */
  async disconnect(): Promise<void> {
    await this.#session?.close();
    await this.whenStopped();
  }

  /**
   * Emits a notification to every linked client: `emitNotification(...args)`; use
   * {@link emitNotificationWith} for keyword arguments.
   */
  emitNotification(...args: unknown[]): void {
    this.emitNotificationWith(args, {});
  }

  /**
   * Opens a channel to a linked client, named by its network name (`this.request.requester`
   * inside a method). The client accepts it with `link.$onChannel(handler)`; otherwise, or when no
   * linked client has that name, the channel ends with a `RemoteError` saying why. Native dialect
   * only: throws `ProtocolError` behind an msl-network Manager, `ClosedError` when not connected.
   *
   * @example
   * ```ts
   * async subscribe(): Promise<void> {
   *   const ch = this.openChannel(this.request!.requester, { kind: 'samples' });
   *   for (const block of instrument.blocks()) await ch.send(block);
   *   ch.close();
   * }
   * ```
   */
  openChannel(client: string, meta?: unknown): Channel {
    if (!this.#session || this.#session.closed) throw new ClosedError(`The connection of the ${this.name} service`);
    return this.#session.openChannel(client, meta);
  }

  /** Emits a notification with positional and keyword arguments. */
  emitNotificationWith(args: readonly unknown[], kwargs: Record<string, unknown>): void {
    if (!this.#session || this.#session.closed) throw new ClosedError(`The connection of the ${this.name} service`);
    this.#session.notify(this.name, args, kwargs);
  }

  #handle(session: Session, req: IncomingRequest): void {
    const ctx = new CallContext(req.requester, req.attribute, req.requesterIsAdmin);
    let result: unknown;
    try {
      if (this.#asyncContext) result = current.run(ctx, () => this.#invoke(req, ctx));
      else {
        syncCurrent = ctx;
        try {
          result = this.#invoke(req, ctx);
        } finally {
          syncCurrent = undefined;
        }
      }
    } catch (err) {
      this.#replyError(session, req, err);
      return;
    }
    if (result instanceof Promise) {
      this.#inFlight++;
      // Native requests have a route the Manager can cancel while the method runs.
      const cancellable = req.route > 0;
      if (cancellable) this.#cancellable.set(req.route, ctx);
      result.then(
        (v: unknown) => {
          this.#inFlight--;
          if (cancellable) this.#cancellable.delete(req.route);
          session.reply(req, v);
          this.#afterReply(session, req);
        },
        (err: unknown) => {
          this.#inFlight--;
          if (cancellable) this.#cancellable.delete(req.route);
          this.#replyError(session, req, err);
        },
      );
    } else {
      session.reply(req, result);
      this.#afterReply(session, req);
    }
  }

  #afterReply(session: Session, req: IncomingRequest): void {
    // msl-network: after shutdown_service replies, the service disconnects.
    if (req.attribute === 'shutdown_service' || req.attribute === 'shutdownService') void session.close();
  }

  #replyError(session: Session, req: IncomingRequest, err: unknown): void {
    if (err instanceof MethodError) {
      session.replyError(req, err.pyName, err.message, []);
      return;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    const tb = this.#options.sendTracebacks && e.stack ? e.stack.split('\n') : [];
    session.replyError(req, e.name || 'Error', e.message, tb);
  }

  #invoke(req: IncomingRequest, ctx: RequestContext): unknown {
    let attribute = req.attribute;
    if (attribute.startsWith('_')) throw new MethodError('PermissionError', 'Cannot request a private attribute');
    if (attribute === 'shutdown_service') attribute = 'shutdownService';
    const self = this as unknown as Record<string, unknown>;
    const isMethod = attribute !== 'constructor' && !BASE_NAMES.has(attribute) && this.#methodSet().has(attribute);
    if (!isMethod) {
      if (attribute === 'shutdownService') return null;
      if (!BASE_NAMES.has(attribute) && Object.prototype.hasOwnProperty.call(this, attribute) && typeof self[attribute] !== 'function') return self[attribute];
      throw new MethodError('AttributeError', `'${this.name}' object has no attribute '${req.attribute}'`);
    }
    const rule = this.access[attribute];
    if (rule !== undefined && rule !== 'any') {
      const verdict = rule === 'admin' ? ctx.requesterIsAdmin || 'only administrators may call it' : rule(ctx);
      if (verdict !== true) {
        throw new MethodError('PermissionError', `${ctx.requester} may not call ${this.name}.${attribute}${typeof verdict === 'string' ? `: ${verdict}` : ''}`);
      }
    }
    const params = this.#paramsOf(attribute);
    const args = params.bind(() => `${this.name}.${attribute}`, req.args, req.kwargs, (name, msg) => new MethodError(name, msg));
    const check = this.#compiled.get(attribute);
    if (check && !check.Check(args)) {
      const first = [...check.Errors(args)][0];
      const where = first?.instancePath ? `argument ${Number(first.instancePath.split('/')[1]) + 1}` : 'arguments';
      throw new MethodError('TypeError', `${this.name}.${attribute}(): ${where} ${first?.message ?? 'is invalid'}`);
    }
    const fn = self[attribute] as (...a: unknown[]) => unknown;
    return fn.apply(this, args);
  }

  /** Number of method calls still running. */
  get inFlight(): number {
    return this.#inFlight;
  }
}

/**
 * Clients: connect to a Manager, link with services and call them through typed proxies.
 * @module
 */
import { InvalidArgumentError, QueueFullError, RemoteError, TimeoutError } from '../errors.ts';
import type { Channel } from '../channel/index.ts';
import { LANGUAGE, OS_NAME, Session, type ManagerConnectOptions } from '../rpc/session.ts';
import { bounded, delay, type WaitOptions } from '../util/timers.ts';

/** Options of {@link connect}: msl-network's `connect()` options plus `name`. */
export interface ConnectOptions extends ManagerConnectOptions {
  /** The client's name (its network name becomes `name[host:port]`). Default `Client`. */
  name?: string | undefined;
  /** Most notifications buffered per iterator before it fails with {@link QueueFullError}. */
  notificationBuffer?: number | undefined;
}

/** Options of one call. */
export interface CallOptions extends WaitOptions {
  /** Keyword arguments for the service method (msl-network's `**kwargs`). */
  kwargs?: Record<string, unknown> | undefined;
}

/** A notification emitted by a service. */
export interface Notification {
  readonly service: string;
  readonly args: unknown[];
  readonly kwargs: Record<string, unknown>;
}

/** A service's entry as the Manager returns it from `link`. */
export interface ServiceIdentity {
  attributes: Record<string, unknown>;
  address: string;
  language: string;
  os: string;
  max_clients: number;
}

type AnyFn = (...args: never[]) => unknown;

/** The callable methods of a service type `T`, as remote calls. */
export type RemoteMethods<T> = {
  readonly [K in keyof T as T[K] extends AnyFn ? (K extends `$${string}` | `_${string}` ? never : K) : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

/** Operations every link has; `$`-prefixed so they never clash with service method names. */
export interface LinkOperations {
  /** The service's name. */
  readonly $service: string;
  /** The service's identity as the Manager returned it when linking. */
  readonly $identity: ServiceIdentity;
  /** Calls any attribute by name with positional args, keyword args and call options. */
  $call(attribute: string, args?: readonly unknown[], options?: CallOptions): Promise<unknown>;
  /** The same proxy, with call options (timeout, signal, kwargs) applied to every call. */
  $with(options: CallOptions): this;
  /** Takes a shared or exclusive lock on the service; resolves the names of all linked clients. */
  $acquireLock(options?: { shared?: boolean } & WaitOptions): Promise<string[]>;
  /** Releases this client's lock; resolves the names of clients still holding locks. */
  $releaseLock(options?: WaitOptions): Promise<string[]>;
  /** Subscribes to the service's notifications; returns a function that unsubscribes. */
  $onNotification(handler: (n: Notification) => void): () => void;
  /** The service's notifications as an async iterable (bounded buffer). */
  $notifications(options?: { signal?: AbortSignal }): AsyncIterable<Notification>;
  /** Calls the service's `shutdownService` (msl-network's `Link.shutdown_service`). */
  $shutdownService(...args: unknown[]): Promise<unknown>;
  /** Unlinks from the service. */
  $unlink(options?: WaitOptions): Promise<void>;
  /**
   * Opens a channel to the service through the Manager, for streaming in both directions with
   * end-to-end flow control (the service accepts it in `onChannel`). Native dialect only.
   */
  $openChannel(meta?: unknown): Channel;
  /**
   * Accepts the channels the service opens to this client (its `openChannel(requester, meta)`):
   * `handler` gets each with its meta. Without a handler they are refused with an error the
   * service sees. Returns a function that removes the handler. Native dialect only.
   */
  $onChannel(handler: (channel: Channel, meta: unknown) => void | Promise<void>): () => void;
}

/**
 * A link to a service: its methods as remote calls, plus {@link LinkOperations}. Buffers of 64 KiB
 * or more in the arguments are sent without a copy: do not modify them until the call settles.
 */
export type Link<T = Record<string, AnyFn>> = RemoteMethods<T> & LinkOperations;

/** Network directory from {@link Client.identities}. */
export interface ManagerIdentity {
  hostname: string;
  port: number;
  attributes: Record<string, unknown>;
  language: string;
  os: string;
  clients: Record<string, { name: string; address: string; language: string; os: string }>;
  services: Record<string, ServiceIdentity>;
}

class NotificationHub {
  private readonly handlers = new Map<string, Set<(n: Notification) => void>>();

  on(service: string, fn: (n: Notification) => void): () => void {
    let set = this.handlers.get(service);
    if (!set) this.handlers.set(service, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  emit(n: Notification): void {
    for (const fn of this.handlers.get(n.service) ?? []) {
      try {
        fn(n);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    for (const fn of this.handlers.get('*') ?? []) fn(n);
  }

  /** A bounded async iterable over notifications of `service` (`*` for all). */
  iterate(
    service: string,
    limit: number,
    signal: AbortSignal | undefined,
    closed: () => boolean,
    onClose: (fn: () => void) => () => void,
  ): AsyncIterable<Notification> {
    const hub = this;
    return {
      [Symbol.asyncIterator](): AsyncIterator<Notification> {
        const buf: Notification[] = [];
        let wake: (() => void) | undefined;
        let failure: Error | undefined;
        let done = false;
        const off = hub.on(service, (n) => {
          if (buf.length >= limit) {
            failure ??= new QueueFullError(`notifications of ${service}`, limit);
          } else buf.push(n);
          wake?.();
        });
        // Everything an iterator registered goes when it ends: a long-lived client may iterate often.
        let offClose: (() => void) | undefined;
        const finish = (): void => {
          done = true;
          off();
          signal?.removeEventListener('abort', finish);
          offClose?.();
          wake?.();
        };
        signal?.addEventListener('abort', finish, { once: true });
        offClose = onClose(finish);
        return {
          async next(): Promise<IteratorResult<Notification>> {
            for (;;) {
              if (buf.length > 0) return { value: buf.shift() as Notification, done: false };
              if (failure) {
                finish();
                throw failure;
              }
              if (done || closed()) {
                finish();
                return { value: undefined, done: true };
              }
              await new Promise<void>((r) => (wake = r));
              wake = undefined;
            }
          },
          async return(): Promise<IteratorResult<Notification>> {
            finish();
            return { value: undefined, done: true };
          },
        };
      },
    };
  }
}

/**
 * A connection to a Manager as a client. Create it with {@link connect}.
 */
export class Client {
  private readonly hub = new NotificationHub();
  private readonly links = new Map<string, ServiceIdentity>();
  private readonly closeHandlers = new Set<() => void>();
  private readonly serviceGoneHandlers = new Set<(service: string) => void>();
  /** Who accepts the channels each service opens to this client (see `$onChannel`). */
  private readonly channelHandlers = new Map<string, (channel: Channel, meta: unknown) => void | Promise<void>>();

  /** Not for direct use: use {@link connect}. */
  constructor(
    private readonly session: Session,
    private readonly options: ConnectOptions,
  ) {
    session.setHandlers({
      onNotification: (service, args, kwargs) => this.hub.emit({ service, args, kwargs }),
      onEvent: (event) => {
        if (event['event'] === 'serviceGone' && typeof event['service'] === 'string') {
          this.links.delete(event['service']);
          for (const fn of this.serviceGoneHandlers) fn(event['service']);
        }
      },
      onClose: () => {
        const handlers = [...this.closeHandlers];
        this.closeHandlers.clear();
        for (const fn of handlers) fn();
      },
      onChannel: (channel, meta, service) => {
        const handler = this.channelHandlers.get(service);
        if (!handler) {
          channel.close(new Error(`${this.networkName} accepts no channels from the ${service} service (link.$onChannel(handler) accepts them)`));
          return;
        }
        try {
          const r = handler(channel, meta);
          if (r instanceof Promise) r.catch((err: unknown) => channel.close(err instanceof Error ? err : new Error(String(err))));
        } catch (err) {
          channel.close(err instanceof Error ? err : new Error(String(err)));
        }
      },
    });
  }

  /** This client's network name, `name[host:port]`. */
  get networkName(): string {
    return this.session.networkName;
  }

  /** `Manager[host:port]` */
  get managerName(): string {
    return this.session.managerName;
  }

  /** `native` against a Switchyard Manager, `json` against a Python one (or when asked). */
  get dialect(): 'json' | 'native' {
    return this.session.dialect;
  }

  /** True until {@link disconnect} or the Manager closes the connection. */
  isConnected(): boolean {
    return !this.session.closed;
  }

  /**
   * Links with a service and returns a typed proxy of its methods. Rejects with
   * {@link RemoteError} when the service does not exist, is locked or is full.
   * @example
   * const adder = await client.link<{ add(a: number, b: number): number }>('Adder');
   * await adder.add(1, 2); // 3
   */
  async link<T = Record<string, AnyFn>>(service: string, options?: WaitOptions): Promise<Link<T>> {
    const identity = (await this.session.call('Manager', 'link', [service], {}, options)) as ServiceIdentity;
    this.links.set(service, identity);
    return this.makeLink<T>(service, identity, {});
  }

  private makeLink<T>(service: string, identity: ServiceIdentity, defaults: CallOptions): Link<T> {
    const client = this;
    const hasDefaults = Object.keys(defaults).length > 0;
    const NO_KWARGS: Record<string, unknown> = {};
    const call = (attribute: string, args: readonly unknown[] = [], o?: CallOptions): Promise<unknown> => {
      if (!hasDefaults && o === undefined) return client.session.call(service, attribute, args, NO_KWARGS);
      const merged: CallOptions = { ...defaults, ...o };
      return client.session.call(service, attribute, args, merged.kwargs ?? NO_KWARGS, merged);
    };
    // One function per method name, made on first use.
    const methods = new Map<string, (...args: unknown[]) => Promise<unknown>>();
    const ops: LinkOperations = {
      $service: service,
      $identity: identity,
      $call: call,
      $with: (o: CallOptions) => client.makeLink<T>(service, identity, { ...defaults, ...o }) as never,
      $acquireLock: async (o = {}) => (await client.session.call('Manager', 'acquire_lock', [service], { shared: o.shared ?? false }, o)) as string[],
      $releaseLock: async (o = {}) => (await client.session.call('Manager', 'release_lock', [service], {}, o)) as string[],
      $onNotification: (handler) => client.hub.on(service, handler),
      $notifications: (o = {}) =>
        client.hub.iterate(service, client.options.notificationBuffer ?? 1024, o.signal, () => client.session.closed, (fn) => client.onClosed(fn)),
      $shutdownService: (...args: unknown[]) => call('shutdown_service', args),
      $openChannel: (meta?: unknown) => client.session.openChannel(service, meta),
      $onChannel: (handler) => {
        client.channelHandlers.set(service, handler);
        return () => {
          if (client.channelHandlers.get(service) === handler) client.channelHandlers.delete(service);
        };
      },
      $unlink: async (o) => {
        await client.session.call('Manager', 'unlink', [service], {}, o);
        client.links.delete(service);
      },
    };
    return new Proxy(ops as Link<T>, {
      get(target, prop, receiver) {
        if (typeof prop === 'symbol' || prop in target) return Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'then') return undefined; // a Link is not a thenable
        let fn = methods.get(prop);
        if (!fn) methods.set(prop, (fn = (...args: unknown[]) => call(prop, args)));
        return fn;
      },
    });
  }

  /** Unlinks from a service (by name or link). */
  async unlink(link: string | LinkOperations, options?: WaitOptions): Promise<void> {
    const service = typeof link === 'string' ? link : link.$service;
    await this.session.call('Manager', 'unlink', [service], {}, options);
    this.links.delete(service);
  }

  /** The Manager's directory: its identity with every client and service. */
  async identities(options?: WaitOptions): Promise<ManagerIdentity> {
    return (await this.session.call('Manager', 'identity', [], {}, options)) as ManagerIdentity;
  }

  /**
   * Sends an admin request (`shutdown_manager`, `users_table.usernames`, ...). Logs in first
   * when the client was given `username` and `password` and the Manager requires it.
   */
  async adminRequest(attribute: string, args: readonly unknown[] = [], options?: CallOptions): Promise<unknown> {
    const kwargs = options?.kwargs ?? {};
    if (attribute === 'shutdown_manager') {
      await this.loginIfNeeded(options);
      // The Manager closes every connection instead of replying.
      void this.session.call('Manager', attribute, args, kwargs).catch(() => {});
      await bounded(this.session.whenClosed(), 'the Manager to shut down', { timeout: options?.timeout ?? 10_000, signal: options?.signal });
      return null;
    }
    try {
      return await this.session.call('Manager', attribute, args, kwargs, options);
    } catch (err) {
      if (this.session.dialect === 'native' && err instanceof RemoteError && /log in with Manager\.__login__/.test(err.remoteMessage) && (await this.loginIfNeeded(options))) {
        return this.session.call('Manager', attribute, args, kwargs, options);
      }
      throw err;
    }
  }

  private async loginIfNeeded(options?: WaitOptions): Promise<boolean> {
    if (this.session.dialect !== 'native') return false;
    const { username, password } = this.options;
    if (username === undefined || password === undefined) return false;
    await this.session.call('Manager', '__login__', [username, password], {}, options);
    return true;
  }

  /** Registers `fn` for when the connection closes; returns a function that unregisters it. */
  private onClosed(fn: () => void): () => void {
    this.closeHandlers.add(fn);
    return () => this.closeHandlers.delete(fn);
  }

  /** Calls `fn` when a linked service disconnects (native dialect only: msl-network does not say). */
  onServiceGone(fn: (service: string) => void): () => void {
    this.serviceGoneHandlers.add(fn);
    return () => this.serviceGoneHandlers.delete(fn);
  }

  /** Every notification from every linked service, as an async iterable. */
  notifications(options: { signal?: AbortSignal } = {}): AsyncIterable<Notification> {
    return this.hub.iterate('*', this.options.notificationBuffer ?? 1024, options.signal, () => this.session.closed, (fn) => this.onClosed(fn));
  }

  /** Opens another connection with the same options (msl-network's `spawn`). */
  spawn(name = 'Client'): Promise<Client> {
    return connect({ ...this.options, name });
  }

  /** Disconnects; pending calls reject with a connection-closed error. Safe to call twice. */
  async disconnect(options?: { timeout?: number }): Promise<void> {
    await this.session.close(options);
  }

  /** Resolves when the connection is closed (by either side). */
  whenClosed(): Promise<void> {
    return this.session.whenClosed();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.disconnect();
  }
}

/**
 * Connects to a Manager as a client.
 * @example
 * const client = await connect({ host: 'localhost', port: 1875, autoSave: true });
 * const adder = await client.link<{ add(a: number, b: number): number }>('Adder');
 * console.log(await adder.add(1, 2));
 * await client.disconnect();
 */
export async function connect(options: ConnectOptions = {}): Promise<Client> {
  const name = options.name ?? 'Client';
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError('name', 'The client name must be a non-empty string');
  const session = await Session.open({ type: 'client', name, language: LANGUAGE, os: OS_NAME }, options);
  return new Client(session, options);
}

/** A client with one link that waited for its service (msl-network's `LinkedClient`). */
export interface LinkedClient<T = Record<string, AnyFn>> {
  readonly client: Client;
  readonly link: Link<T>;
  /** Disconnects the client. */
  disconnect(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Connects and links with `service`, waiting up to `timeout` ms (default 10 s) for the service
 * to appear. Rejects with {@link TimeoutError} when it does not.
 */
export async function connectLinked<T = Record<string, AnyFn>>(service: string, options: ConnectOptions = {}): Promise<LinkedClient<T>> {
  const client = await connect({ name: 'LinkedClient', ...options });
  const timeout = options.timeout ?? 10_000;
  const deadline = Date.now() + timeout;
  try {
    for (;;) {
      try {
        const link = await client.link<T>(service, { signal: options.signal });
        return {
          client,
          link,
          disconnect: () => client.disconnect(),
          [Symbol.asyncDispose]: () => client.disconnect(),
        };
      } catch (err) {
        const missing = err instanceof RemoteError && err.remoteName === 'KeyError' && err.remoteMessage.includes('does not exist');
        if (!missing) throw err;
        if (Date.now() >= deadline) throw new TimeoutError(`the ${service} service to appear`, timeout, { cause: err });
        await delay(Math.min(50, Math.max(0, deadline - Date.now())), options.signal);
      }
    }
  } catch (err) {
    await client.disconnect().catch(() => {});
    throw err;
  }
}


/**
 * A gateway: a connection to one worker process, over which code is sent and channels run.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { attachMux } from '../channel/attach.ts';
import type { Channel } from '../channel/channel.ts';
import { DEFAULT_WINDOW, type ChannelMux } from '../channel/mux.ts';
import { AbortError, ConnectionClosedError, GatewayStartError, TimeoutError } from '../errors.ts';
import { deferred } from '../util/deferred.ts';
import { bounded, guardTimer, type WaitOptions } from '../util/timers.ts';
import { Target, WORKER_PROTOCOL, type RemoteInfo, type RemoteStatus, type RsyncRequest, type ServeRequest, type SpawnRequest, type WorkerConfig } from '../worker/protocol.ts';
import { trace, traceLevel } from '../worker/trace.ts';
import { openPopen, openSocket, openSsh, openVia, type ExitInfo, type GatewayIO, type IOContext, type OutputOption } from './io.ts';
import { codeCacheKey, codeCacheMode, dropCodeCache, getCodeCache, putCodeCache } from './code-cache.ts';
import { prepareSource, type RemoteSource } from './source.ts';
import type { XSpec } from './spec.ts';
import { workerSource } from './worker-source.ts';

/** Options of `makeGateway` / `Group.makeGateway`. */
export interface GatewayOptions {
  /**
   * Where the worker's stdout and stderr go: `'inherit'` (default: this process's stdout and
   * stderr), `'ignore'`, or a function called with each chunk. Over ssh the worker's stdout
   * arrives on stderr (the protocol owns ssh's stdout).
   */
  output?: OutputOption | undefined;
  /** Milliseconds to wait for the worker to start and say hello (default 30 s). */
  startTimeout?: number | undefined;
  /** Receive window per channel in bytes (default 1 MiB). */
  window?: number | undefined;
  /** Milliseconds running code gets after `exit()` before the worker exits anyway (default 500). */
  graceMs?: number | undefined;
  /**
   * Shared secret of a socket-gateway server. Default: the first line of the spec's
   * `secret_file=`, else `SWITCHYARD_WORKER_SECRET`.
   */
  secret?: string | undefined;
  /** PEM of the socket-gateway server's certificate (or its CA); enables TLS. Spec: `tls//ca=<file>`. */
  ca?: string | undefined;
  /** Cancels the start. */
  signal?: AbortSignal | undefined;
}

/** Options of {@link Gateway.terminate}, `Group.terminate` and `WorkerServer.close`. */
export interface TerminateOptions {
  /**
   * Milliseconds each worker gets to exit after the hang-up before it is killed (default 2000).
   * The whole call takes at most about this plus one second, whatever the workers do (a group
   * does it once per round of `via=` nesting).
   */
  timeout?: number | undefined;
  /**
   * Ends the graceful wait early: when it aborts (or has aborted), workers still running are
   * killed at once. The call still resolves; it never rejects with `AbortError`.
   */
  signal?: AbortSignal | undefined;
}

/** Processes of live gateways, killed when this process exits. */
const live = new Set<Gateway>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const gw of live) gw.kill();
  });
}

/**
 * A gateway to one worker. Create it with `makeGateway(spec)` or `group.makeGateway(spec)`.
 *
 * States: starting → open → exiting (after {@link exit}) → closed (the worker is gone). See
 * docs/gateways.md for the diagram.
 *
 * @example
 * ```ts
 * const gw = await makeGateway('popen');
 * const ch = gw.remoteExec(async (channel) => {
 *   await channel.send(process.pid);
 * });
 * console.log(await ch.receive({ timeout: 5000 }));
 * await gw.terminate();
 * ```
 */
export class Gateway {
  /** The id, e.g. `"gw0"`. */
  readonly id: string;
  readonly spec: XSpec;
  /** `host:port` (socket) or the ssh destination; `undefined` for popen. */
  readonly remoteAddress: string | undefined;
  /** Process id of the local child (popen: the worker; ssh: the ssh client). */
  readonly pid: number | undefined;
  private readonly mux: ChannelMux;
  private readonly io: GatewayIO;
  private info: RemoteInfo;
  private exiting = false;
  private joining = 0;
  private exitInfo: ExitInfo | undefined;
  private readonly exited: Promise<ExitInfo>;

  /** Not for direct use: create gateways with `makeGateway` or `Group.makeGateway`. */
  constructor(id: string, spec: XSpec, mux: ChannelMux, io: GatewayIO, info: RemoteInfo) {
    this.id = id;
    this.spec = spec;
    this.mux = mux;
    this.io = io;
    this.info = info;
    this.remoteAddress = io.remoteAddress;
    this.pid = io.pid;
    this.exited = io.exited.then((e) => {
      this.exitInfo = e;
      live.delete(this);
      trace(() => `gateway ${id}: worker gone (code ${e.code}, signal ${e.signal})`);
      return e;
    });
    live.add(this);
    installExitHook();
    this.updateRef(mux.size);
  }

  /** @internal Called by the mux when the number of open channels changes. */
  updateRef(size: number): void {
    // An idle gateway does not keep this process alive; one with open channels, or one that is
    // being joined, does.
    this.io.ref(size > 0 || this.joining > 0);
  }

  /**
   * Runs `source` in the worker with a fresh channel and returns that channel at once (the code
   * starts asynchronously; compile errors and exceptions arrive as a `RemoteError` on receive or
   * waitClose). The worker closes the channel when the code returns or its Promise settles,
   * unless the code set a callback on it. `kwargs` (any sendable value) is the code's second
   * argument (`kwargs` in a string source).
   *
   * `K`, the type of `kwargs`, is inferred from `kwargs` or from the function's annotated second
   * parameter, and the two must agree: `remoteExec((ch, kw: { n: number }) => ..., { n: 'x' })`
   * does not compile.
   *
   * Throws `RemoteSourceError` (a function that uses variables of its enclosing scope, a native
   * function, a class), `EncodeError` (kwargs), and `ConnectionClosedError` after {@link exit} or
   * when the worker is gone.
   */
  remoteExec<K = unknown>(source: RemoteSource<K>, kwargs?: K): Channel {
    this.assertOpen();
    const req = prepareSource(source, kwargs);
    return this.mux.open(Target.EXEC, req);
  }

  /**
   * A channel the worker learns about when it is first sent inside an item or used (execnet's
   * `newchannel()`). Throws `ConnectionClosedError` after {@link exit}.
   */
  newChannel(): Channel {
    this.assertOpen();
    return this.mux.newChannel();
  }

  /**
   * Asks the worker for its counts. Rejects with `TimeoutError`/`AbortError` from `options` and
   * `ConnectionClosedError`/`ChannelEOFError` when the worker is gone.
   */
  async remoteStatus(options?: WaitOptions): Promise<RemoteStatus> {
    this.assertOpen();
    const ch = this.mux.open(Target.STATUS);
    return (await ch.receive(options)) as RemoteStatus;
  }

  /**
   * Facts about the worker process (node version, platform, cwd, pid, ...), cached from its hello;
   * `{ update: true }` asks again (e.g. after code changed directory).
   */
  async remoteInfo(options?: WaitOptions & { update?: boolean }): Promise<RemoteInfo> {
    if (!options?.update) return this.info;
    this.assertOpen();
    const ch = this.mux.open(Target.INFO);
    this.info = (await ch.receive(options)) as RemoteInfo;
    return this.info;
  }

  /** True while the worker is connected (execnet's `hasreceiver()`). */
  get alive(): boolean {
    return !this.mux.closed && !this.exiting && this.exitInfo === undefined;
  }

  /** Number of open channels. */
  get channelCount(): number {
    return this.mux.size;
  }

  /**
   * Asks the worker to stop: this side hangs up, every channel ends, running code gets the
   * worker's grace time, then the worker exits. Does not wait (see {@link join}); a second call is
   * a no-op. Afterwards `remoteExec` and friends throw `ConnectionClosedError`.
   */
  exit(): void {
    if (this.exiting) return;
    this.exiting = true;
    trace(() => `gateway ${this.id}: exit`);
    this.io.link.end();
    for (const fn of this.onExit.splice(0)) fn();
  }

  /**
   * Resolves when the worker process is gone. Rejects with `TimeoutError`/`AbortError` from
   * `options` (the worker keeps running; see {@link kill}).
   */
  async join(options?: WaitOptions): Promise<void> {
    if (this.exitInfo) return;
    // Waiting for the worker keeps this process alive even when no channel is open.
    this.joining++;
    this.updateRef(this.mux.size);
    try {
      await bounded(this.exited, `gateway ${this.id} to exit`, options);
    } finally {
      this.joining--;
      this.updateRef(this.mux.size);
    }
  }

  /** Kills the worker now (SIGKILL, or closing its connection). Safe to call twice. */
  kill(): void {
    this.exiting = true;
    this.io.kill();
  }

  /**
   * {@link exit}, then {@link join} for `timeout` ms (default 2000) or until `signal` aborts, then
   * {@link kill} and a bounded wait (1 s) for the process to be reaped. Never hangs; never
   * rejects (not even when `signal` aborts). Safe to call twice.
   */
  async terminate(options?: TerminateOptions): Promise<void> {
    this.exit();
    try {
      await this.join({ timeout: options?.timeout ?? 2000, signal: options?.signal });
    } catch {
      trace(() => `gateway ${this.id}: did not exit in time, killing`);
      this.kill();
      await this.join({ timeout: 1000 }).catch(() => {});
    }
  }

  /** {@link terminate} with the default timeout (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.terminate();
  }

  /** How the worker ended, once it has. */
  get exitStatus(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** `<Gateway id='gw0' open, 2 active channels>` */
  toString(): string {
    const state = this.exitInfo ? 'closed' : this.exiting ? 'exiting' : 'open';
    return `<Gateway id='${this.id}' ${state}, ${this.mux.size} active channels>`;
  }

  /** @internal Hooks for the group. */
  readonly onExit: Array<() => void> = [];

  /** @internal Opens the channel of one `RSync` target. */
  _openRsync(request: RsyncRequest): Channel {
    this.assertOpen();
    return this.mux.open(Target.RSYNC, request);
  }

  /** @internal Opens the channel of an `installvia=` server on this gateway's host. */
  _serve(request: ServeRequest): Channel {
    this.assertOpen();
    return this.mux.open(Target.SERVE, request);
  }

  /** @internal Opens the relay channel of a `via=` child. */
  _spawnVia(request: SpawnRequest): Channel {
    this.assertOpen();
    return this.mux.open(Target.SPAWN, request);
  }

  private assertOpen(): void {
    if (!this.alive) {
      throw new ConnectionClosedError(`Gateway ${this.id} is ${this.exitInfo ? 'closed' : 'exiting'}; start a new one`, this.id);
    }
  }
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/i;

/**
 * True when `gw`'s worker runs on this host: popen, a `via=`/`installvia=` gateway of a local one,
 * or a socket/ssh gateway to a loopback address.
 */
function runsHere(gw: Gateway, lookup: (id: string) => Gateway | undefined, depth = 0): boolean {
  const spec = gw.spec;
  const parent = spec.via ?? spec.installvia;
  if (parent !== undefined) {
    const p = lookup(parent);
    return p !== undefined && depth < 16 && runsHere(p, lookup, depth + 1);
  }
  if (spec.type === 'popen') return true;
  if (spec.type === 'socket') return spec.socket !== undefined && LOOPBACK.test(spec.socket.host);
  const dest = (spec.ssh ?? []).filter((a) => !a.startsWith('-')).at(-1) ?? '';
  return LOOPBACK.test(dest.replace(/^[^@]*@/, ''));
}

/**
 * `installvia=<id>`: has gateway `<id>` listen on its host for this one gateway, with a fresh
 * random secret sent over `<id>`'s own channel, then connects to it as a socket gateway. When
 * `<id>` runs on this host it listens on `127.0.0.1:0` (or the `socket=` address); when it may run
 * on another host the spec must give `socket=host:port`, an address that host can listen on and
 * this one can reach (it is trusted as given). Closing the new gateway stops the server.
 */
async function openInstalled(ctx: StartContext, ioCtx: IOContext): Promise<GatewayIO> {
  const { spec, id, options } = ctx;
  const viaId = spec.installvia as string;
  const lookup = (v: string): Gateway | undefined => ctx.viaGateway?.(v);
  const host = lookup(viaId);
  if (!host) throw new GatewayStartError(spec.raw, `installvia=${viaId}: no gateway with that id in this group`);
  const local = runsHere(host, lookup);
  if (!local && spec.socket === undefined) {
    throw new GatewayStartError(
      spec.raw,
      `installvia=${viaId}: gateway ${viaId} runs on another host, whose loopback this host cannot reach; give the address it should listen on and this host can reach, e.g. socket=buildhost:9000//installvia=${viaId}`,
    );
  }
  const secret = randomBytes(32).toString('hex');
  const startTimeout = options.startTimeout ?? 30_000;
  let channel: Channel | undefined;
  let where: { host: string; port: number };
  try {
    channel = host._serve({
      host: spec.socket?.host ?? '127.0.0.1',
      port: spec.socket?.port ?? 0,
      secret,
      acceptTimeoutMs: startTimeout,
      killAfterMs: ioCtx.config.graceMs + 10_000,
    });
    where = (await channel.receive({ timeout: startTimeout, signal: options.signal })) as { host: string; port: number };
  } catch (err) {
    // Stop the server over there too (a timeout or abort here leaves it listening otherwise).
    channel?.close();
    throw new GatewayStartError(spec.raw, `Gateway ${id} (${spec.raw}): gateway ${viaId} could not serve it: ${(err as Error).message}`, {}, { cause: err });
  }
  // Here: the bound address (a wildcard means loopback). Elsewhere: the name the spec gave.
  const connectHost = !local ? (spec.socket as { host: string }).host : where.host === '0.0.0.0' || where.host === '::' ? '127.0.0.1' : where.host;
  trace(() => `gateway ${id}: ${viaId} serves it on ${where.host}:${where.port}`);
  let io: GatewayIO;
  try {
    io = await openSocket({ ...ioCtx, secret, socketAddress: { host: connectHost, port: where.port } }, undefined);
  } catch (err) {
    channel.close();
    throw err;
  }
  void io.exited.then(() => channel.close());
  return io;
}

/** What {@link startGateway} needs from a group. */
export interface StartContext {
  id: string;
  spec: XSpec;
  options: GatewayOptions;
  /** Resolves `via=` and `installvia=` ids. */
  viaGateway?: (id: string) => Gateway | undefined;
}

/**
 * Starts the worker for `spec` and resolves the open gateway once the worker said hello. Rejects
 * with {@link GatewayStartError} (with the exit code and stderr of a process that failed, e.g.
 * ssh's own message), `TimeoutError` after `startTimeout`, or `AbortError`.
 */
export async function startGateway(ctx: StartContext): Promise<Gateway> {
  const { spec, id, options } = ctx;
  const source = await workerSource();
  const window = options.window ?? DEFAULT_WINDOW;
  const config: WorkerConfig = {
    id,
    window,
    chdir: spec.chdir,
    env: spec.type === 'popen' || spec.type === 'ssh' ? undefined : { ...spec.env },
    graceMs: options.graceMs ?? 500,
    debug: traceLevel(),
    peerWindow: window,
  };
  const output = options.output ?? 'inherit';
  let io: GatewayIO;
  // popen workers get the code cache an earlier worker started the same way made, or make one.
  const cacheKey = spec.type === 'popen' && spec.via === undefined && codeCacheMode() !== 'off' ? codeCacheKey(spec.node ?? [process.execPath], source, spec.env) : undefined;
  const codeCache = cacheKey !== undefined ? getCodeCache(cacheKey) : undefined;
  if (cacheKey !== undefined && codeCache === undefined) config.produceCache = true;
  const ioCtx = { spec, config, source, output, secret: options.secret, codeCache, wait: { timeout: options.startTimeout ?? 30_000, signal: options.signal } };
  if (spec.via !== undefined) {
    const host = ctx.viaGateway?.(spec.via);
    if (!host) throw new GatewayStartError(spec.raw, `via=${spec.via}: no gateway with that id in this group`);
    io = openVia({ ...ioCtx, config: { ...config, env: { ...spec.env } }, viaChannel: (req) => host._spawnVia(req) });
  } else if (spec.installvia !== undefined) {
    io = await openInstalled(ctx, ioCtx);
  } else if (spec.type === 'popen') {
    io = openPopen(ioCtx);
  } else if (spec.type === 'ssh') {
    io = openSsh(ioCtx);
  } else {
    const tls = spec.get('tls') !== undefined || options.ca !== undefined;
    const caFile = spec.get('ca');
    let ca = options.ca;
    let secret = options.secret;
    try {
      if (ca === undefined && typeof caFile === 'string') ca = await readFile(caFile, 'utf8');
      if (secret === undefined && spec.secretFile !== undefined) secret = (await readFile(spec.secretFile, 'utf8')).split(/\r?\n/)[0]?.trim();
    } catch (err) {
      throw new GatewayStartError(spec.raw, `Gateway ${id} (${spec.raw}): ${(err as Error).message}`, {}, { cause: err });
    }
    io = await openSocket({ ...ioCtx, secret }, tls ? { ca } : undefined);
  }
  trace(() => `gateway ${id}: starting ${spec.raw} (pid ${io.pid ?? '-'})`);
  const hello = deferred<RemoteInfo>();
  let gateway: Gateway | undefined;
  const { mux } = attachMux(io.link, {
    initiator: true,
    window,
    peerName: id,
    onOpen: (channel, meta, target) => {
      if (target === Target.HELLO) {
        hello.resolve(meta as RemoteInfo);
        return;
      }
      if (target === Target.CODE_CACHE && cacheKey !== undefined) {
        channel.receive({ timeout: 10_000 }).then(
          (data) => {
            if (data instanceof Uint8Array) putCodeCache(cacheKey, data);
            channel.close();
          },
          () => channel.close(),
        );
        return;
      }
      channel.close(`The host accepts no channels of target ${JSON.stringify(target)}`);
    },
    onSizeChange: (size) => gateway?.updateRef(size),
  });
  const startTimeout = options.startTimeout ?? 30_000;
  const failed = io.exited.then(async (e): Promise<never> => {
    await io.stderrSettled();
    const tail = io.stderrTail().trim();
    const why = e.error
      ? e.error.message
      : e.signal
        ? `was killed by ${e.signal}`
        : `exited with code ${e.code}`;
    const program = spec.type === 'ssh' && spec.via === undefined ? 'ssh' : 'the worker process';
    throw new GatewayStartError(
      spec.raw,
      `Gateway ${id} (${spec.raw}) did not start: ${program} ${why}${tail ? `: ${tail.split('\n').slice(-5).join(' | ')}` : ''}`,
      { exitCode: e.code, signal: e.signal, stderr: tail },
      { cause: e.error },
    );
  });
  let info: RemoteInfo;
  try {
    info = await bounded(Promise.race([hello.promise, failed]), `gateway ${id} to start`, { timeout: startTimeout, signal: options.signal });
  } catch (err) {
    io.kill();
    // A worker that died before its hello with a cache in its preamble: never send that one again.
    if (codeCache !== undefined && cacheKey !== undefined && !(err instanceof AbortError)) dropCodeCache(cacheKey);
    if (err instanceof TimeoutError) {
      throw new GatewayStartError(spec.raw, `Gateway ${id} (${spec.raw}) did not start within ${startTimeout} ms${io.stderrTail() ? `: ${io.stderrTail().trim()}` : ''}`, { stderr: io.stderrTail() }, { cause: err });
    }
    throw err;
  }
  failed.catch(() => {});
  if (Math.floor(info.protocol) !== WORKER_PROTOCOL) {
    io.kill();
    throw new GatewayStartError(spec.raw, `Gateway ${id}: the worker speaks protocol ${info.protocol}, this host ${WORKER_PROTOCOL}`);
  }
  // A worker that understands pre-credited opens lets the first send of a channel go at once.
  if (Array.isArray(info.features) && info.features.includes('precredit')) mux.setPeerWindow(window);
  gateway = new Gateway(id, spec, mux, io, info);
  // A guard so that a worker that ignores the hang-up cannot keep a terminated gateway alive.
  const gw = gateway;
  gw.onExit.push(() => {
    guardTimer(() => {
      if (gw.exitStatus === undefined) gw.kill();
    }, config.graceMs + 10_000);
  });
  trace(() => `gateway ${id}: open (worker pid ${info.pid})`);
  return gateway;
}

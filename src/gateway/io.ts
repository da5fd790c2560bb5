/**
 * Starting a worker and getting a byte link to it, per gateway type: popen (a local child), ssh
 * (the system `ssh` client), socket (a `switchyard worker --listen` server) and via (a child of
 * another gateway's worker). Each returns a {@link GatewayIO}; the Gateway does the rest. Processes
 * are spawned by `transport/process.ts`, sockets opened by `transport/tcp.ts`.
 * @module
 */
import type { Readable } from 'node:stream';
import { streamLink, type FrameLink } from '../channel/attach.ts';
import type { Channel } from '../channel/channel.ts';
import { AbortError, GatewayStartError } from '../errors.ts';
import type { Connection } from '../transport/connection.ts';
import { resolveHooks } from '../transport/default-hooks.ts';
import { spawnProcess, type ProcessHandle } from '../transport/process.ts';
import { connect } from '../transport/tcp.ts';
import { deferred } from '../util/deferred.ts';
import { bounded, guardTimer, type WaitOptions } from '../util/timers.ts';
import { BOOTSTRAP, buildPreamble } from '../worker/bootstrap.ts';
import type { SpawnRequest, WorkerConfig } from '../worker/protocol.ts';
import { spawnWorker, workerSpawnEnv } from '../worker/spawn.ts';
import {
  clientProof,
  LineReader,
  newNonce,
  proofsEqual,
  RecordKind,
  recordHeader,
  RecordSplitter,
  serverProof,
  SOCKET_GREETING,
  SOCKET_PROTOCOL,
  type SocketRequest,
} from '../worker/socket-protocol.ts';
import { shellQuote, type XSpec } from './spec.ts';

/** How a worker process ended. */
export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** Set when the process could not be started or the connection failed. */
  error?: Error | undefined;
}

/** Where a worker's stdout and stderr go. */
export type OutputOption = 'inherit' | 'ignore' | ((chunk: Buffer, stream: 'stdout' | 'stderr') => void);

/** A started worker: its link and process handle. */
export interface GatewayIO {
  readonly link: FrameLink;
  /** Resolves when the worker process is gone (or the connection to it, for socket gateways). */
  readonly exited: Promise<ExitInfo>;
  /** Ends the worker now (SIGKILL, or closing the connection). */
  kill(): void;
  /** Lets the host process exit while the worker idles (`false`), or keeps it alive (`true`). */
  ref(on: boolean): void;
  /** The last 4 KiB of the worker's (or ssh's) stderr. */
  stderrTail(): string;
  /** Resolves when stderr has been read to its end (or after 500 ms), so that the tail is complete. */
  stderrSettled(): Promise<void>;
  readonly pid: number | undefined;
  /** `host:port` for socket gateways, the ssh destination for ssh gateways. */
  readonly remoteAddress: string | undefined;
}

/** What every transport needs. */
export interface IOContext {
  spec: XSpec;
  config: WorkerConfig;
  source: string;
  output: OutputOption;
  /** Shared secret for socket gateways. */
  secret?: string | undefined;
  /** Bounds on starting: the gateway's `startTimeout` and `signal` (socket gateways' connect and handshake). */
  wait?: WaitOptions | undefined;
  /** popen: a V8 code cache for the worker bundle (see `code-cache.ts`). */
  codeCache?: Uint8Array | undefined;
  /** For socket gateways: connect here instead of the spec's `socket=` (used by `installvia=`). */
  socketAddress?: { host: string; port: number } | undefined;
  /** For via: the gateway whose worker starts this one. */
  viaChannel?: (request: SpawnRequest) => Channel;
}

const TAIL = 4096;

/** Output sink: writes a chunk where `output` says and keeps the stderr tail. */
function outputSink(output: OutputOption, tail: { text: string }): (chunk: Buffer, which: 'stdout' | 'stderr') => void {
  return (chunk, which) => {
    if (which === 'stderr') tail.text = (tail.text + chunk.toString('utf8')).slice(-TAIL);
    if (output === 'ignore') return;
    if (output === 'inherit') (which === 'stdout' ? process.stdout : process.stderr).write(chunk);
    else output(chunk, which);
  };
}

function forward(stream: Readable | null, which: 'stdout' | 'stderr', sink: (chunk: Buffer, which: 'stdout' | 'stderr') => void): void {
  stream?.on('data', (chunk: Buffer) => sink(chunk, which));
}

function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = guardTimer(resolve, ms);
    void p.then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

function processIO(proc: ProcessHandle, link: FrameLink, tail: { text: string }, remoteAddress?: string): GatewayIO {
  return {
    link,
    exited: proc.exited,
    kill: () => {
      proc.kill('SIGKILL');
      link.destroy();
    },
    ref: (on) => proc.ref(on),
    stderrTail: () => tail.text,
    stderrSettled: () => settledWithin(proc.closed, 500),
    pid: proc.pid,
    remoteAddress,
  };
}

/** popen: a local child process with the protocol on descriptor 3. */
export function openPopen(ctx: IOContext): GatewayIO {
  const { env, config } = workerSpawnEnv(process.env, ctx.spec.env, ctx.config);
  const { process: proc, socket } = spawnWorker({
    node: ctx.spec.node ?? [process.execPath],
    env,
    nice: ctx.spec.nice,
    stdout: 'pipe',
    stderr: 'pipe',
    source: ctx.source,
    config,
    codeCache: ctx.codeCache,
  });
  const tail = { text: '' };
  const sink = outputSink(ctx.output, tail);
  forward(proc.stdout, 'stdout', sink);
  forward(proc.stderr, 'stderr', sink);
  return processIO(proc, streamLink(socket, socket), tail);
}

/**
 * ssh: `ssh [-F config] -o BatchMode=yes <args> '<remote command>'`. The remote shell moves the
 * protocol to descriptors 3 and 4 and points the worker's stdout at ssh's stderr, so nothing the
 * user's code prints can corrupt the protocol.
 */
export function openSsh(ctx: IOContext): GatewayIO {
  const spec = ctx.spec;
  const sshArgs = spec.ssh ?? [];
  const envPrefix = Object.entries(spec.env).map(([k, v]) => `${k}=${shellQuote(v)}`);
  const node = (spec.node ?? ['node']).map(shellQuote);
  const remote = [
    'exec',
    ...(envPrefix.length ? ['env', ...envPrefix] : []),
    ...(spec.nice !== undefined ? ['nice', '-n', String(spec.nice)] : []),
    ...node,
    '-e',
    `'${BOOTSTRAP}'`,
    '3',
    '4',
    '3<&0',
    '4>&1',
    '0</dev/null',
    '1>&2',
  ].join(' ');
  const args = [...(spec.sshConfig ? ['-F', spec.sshConfig] : []), '-o', 'BatchMode=yes', ...sshArgs, remote];
  const proc = spawnProcess({ program: 'ssh', args, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
  const tail = { text: '' };
  forward(proc.stderr, 'stderr', outputSink(ctx.output, tail));
  const stdin = proc.stdin as NonNullable<ProcessHandle['stdin']>;
  stdin.write(buildPreamble(ctx.source, ctx.config));
  const destination = sshArgs.filter((a) => !a.startsWith('-')).at(-1);
  return processIO(proc, streamLink(proc.stdout as Readable, stdin), tail, destination);
}

/**
 * The relay link of a socket gateway: protocol bytes travel as DATA records, `end()` sends the
 * EOF record (the worker finishes and exits; the server then reports the exit), STDOUT/STDERR
 * records go to `sink`, the EXIT record to `onExit`.
 */
function recordLink(conn: Connection, rest: Buffer, sink: (chunk: Buffer, which: 'stdout' | 'stderr') => void, onExit: (info: ExitInfo) => void): FrameLink {
  const splitter = new RecordSplitter();
  let dataHandler: ((chunk: Buffer) => void) | undefined;
  const early: Buffer[] = [];
  let ended = false;
  const onRecord = (kind: number, payload: Buffer): void => {
    if (kind === RecordKind.DATA) {
      if (dataHandler) dataHandler(payload);
      else early.push(Buffer.from(payload));
    } else if (kind === RecordKind.STDOUT) sink(Buffer.from(payload), 'stdout');
    else if (kind === RecordKind.STDERR) sink(Buffer.from(payload), 'stderr');
    else if (kind === RecordKind.EXIT) {
      let info: { code?: number | null; signal?: string | null; error?: string } = {};
      try {
        info = JSON.parse(payload.toString('utf8')) as typeof info;
      } catch {
        // A malformed exit report still means the worker is gone.
      }
      onExit({ code: info.code ?? null, signal: info.signal ?? null, error: info.error ? new Error(info.error) : undefined });
    }
  };
  const feed = (chunk: Buffer): void => {
    try {
      splitter.push(chunk, onRecord);
    } catch (err) {
      conn.destroy(err as Error);
    }
  };
  conn.onData(feed);
  if (rest.length > 0) feed(rest);
  return {
    onData(fn) {
      dataHandler = fn;
      for (const b of early.splice(0)) fn(b);
    },
    onClose(fn) {
      conn.onClose(fn);
    },
    write(chunk) {
      if (ended || conn.closed) return false;
      conn.write(recordHeader(RecordKind.DATA, chunk.length));
      return conn.write(chunk);
    },
    onDrain(fn) {
      conn.onDrain(fn);
    },
    end() {
      if (ended || conn.closed) return;
      ended = true;
      conn.write(recordHeader(RecordKind.EOF, 0));
    },
    destroy(err) {
      conn.destroy(err);
    },
  };
}

/**
 * socket: connects to `switchyard worker --listen` (through the network-manager hooks), proves the
 * shared secret and checks the server's proof (HMACs over fresh nonces: the secret never crosses
 * the wire), then relays through the worker process the server starts for this connection. The
 * worker's stdout and stderr arrive as records and go where `output` says.
 */
export async function openSocket(ctx: IOContext, tls: { ca?: string | undefined } | undefined): Promise<GatewayIO> {
  const { host, port } = ctx.socketAddress ?? (ctx.spec.socket as { host: string; port: number });
  const where = `${host}:${port}`;
  const secret = ctx.secret ?? process.env['SWITCHYARD_WORKER_SECRET'];
  if (!secret) {
    throw new GatewayStartError(
      ctx.spec.raw,
      `Socket gateway ${where} needs the server's shared secret: add secret_file=<path> to the spec, pass { secret }, or set SWITCHYARD_WORKER_SECRET`,
    );
  }
  let conn: Connection;
  try {
    conn = await connect({
      host,
      port,
      tls: tls ? { ca: tls.ca, checkHostname: false } : undefined,
      hooks: await resolveHooks(undefined),
      timeoutMs: ctx.wait?.timeout,
      signal: ctx.wait?.signal,
    });
  } catch (err) {
    if (err instanceof AbortError) throw err;
    throw new GatewayStartError(ctx.spec.raw, `Socket gateway ${where}: ${(err as Error).message}`, {}, { cause: err });
  }
  const lines = new LineReader();
  // A server that accepts and then says nothing must not hold makeGateway forever.
  const nextLine = (): Promise<string> => bounded(lines.next(), `the handshake of socket gateway ${where}`, ctx.wait);
  conn.onData((chunk) => lines.push(chunk));
  conn.onClose((err) => lines.fail(err ?? new Error('the server closed the connection during the handshake')));
  let pid: number | undefined;
  let rest: Buffer;
  try {
    const greeting = await nextLine();
    const g = new RegExp(`^${SOCKET_GREETING} (\\d+) ([0-9a-f]{16,128})$`).exec(greeting);
    if (!g) throw new Error(`it is not a switchyard worker server (it said ${JSON.stringify(greeting.slice(0, 80))})`);
    if (Number(g[1]) !== SOCKET_PROTOCOL) throw new Error(`it speaks socket protocol ${g[1]}, this host ${SOCKET_PROTOCOL}`);
    const serverNonce = g[2] as string;
    const clientNonce = newNonce();
    const request: SocketRequest = { config: ctx.config, env: { ...ctx.spec.env }, nice: ctx.spec.nice };
    const json = JSON.stringify(request);
    conn.write(Buffer.from(`AUTH ${clientProof(secret, serverNonce, clientNonce, json)} ${clientNonce} ${json}\n`));
    const answer = await nextLine();
    const ok = /^OK (\d+) ([0-9a-f]{64})$/.exec(answer);
    if (!ok) {
      const e = /^ERR (\S+) (.*)$/.exec(answer);
      throw new Error(e ? (e[2] as string) : `unexpected answer ${JSON.stringify(answer.slice(0, 80))}`);
    }
    if (!proofsEqual(ok[2] as string, serverProof(secret, serverNonce, clientNonce))) {
      throw new Error('the server could not prove that it knows the shared secret (a different server, or a different secret)');
    }
    pid = Number(ok[1]) || undefined;
    rest = lines.rest();
  } catch (err) {
    conn.destroy();
    if (err instanceof AbortError) throw err;
    throw new GatewayStartError(ctx.spec.raw, `Socket gateway ${where} refused: ${(err as Error).message}`, {}, { cause: err });
  }
  const tail = { text: '' };
  const exited = deferred<ExitInfo>();
  const link = recordLink(conn, rest, outputSink(ctx.output, tail), (info) => exited.resolve(info));
  conn.onClose((error) => exited.resolve({ code: null, signal: null, error }));
  const socket = (conn as { socket?: { ref(): void; unref(): void } }).socket;
  return {
    link,
    exited: exited.promise,
    kill: () => conn.destroy(),
    ref: (on) => (on ? socket?.ref() : socket?.unref()),
    stderrTail: () => tail.text,
    stderrSettled: () => settledWithin(exited.promise, 500),
    pid,
    remoteAddress: where,
  };
}

/**
 * A {@link FrameLink} over a channel that carries bytes items (the relay of a `via=` gateway).
 * Writes made in one event-loop turn travel as one item; the channel's credit is the backpressure.
 * A non-bytes item `{ exit }` reports how the relayed process ended.
 */
function channelLink(channel: Channel, onExit: (info: ExitInfo) => void): FrameLink {
  const closeHandlers: Array<(err: Error | undefined) => void> = [];
  let dataHandler: ((chunk: Buffer) => void) | undefined;
  let closed = false;
  let closeErr: Error | undefined;
  let pending: Uint8Array[] = [];
  let inFlight = 0;
  let drainHandlers: Array<() => void> = [];
  const END = Symbol('end');
  const early: Buffer[] = [];
  channel.setCallback(
    (item) => {
      if (item === END) {
        closed = true;
        for (const h of closeHandlers.splice(0)) h(closeErr);
        return;
      }
      if (item instanceof Uint8Array) {
        const b = Buffer.isBuffer(item) ? item : Buffer.from(item);
        if (dataHandler) dataHandler(b);
        else early.push(b);
        return;
      }
      const exit = (item as { exit?: { code: number | null; signal: string | null; error?: string } } | null)?.exit;
      if (exit) onExit(exit.error ? { code: exit.code, signal: exit.signal, error: new Error(exit.error) } : { code: exit.code, signal: exit.signal });
    },
    { endmarker: END },
  );
  channel.waitClose().catch((err: Error) => {
    closeErr = err;
  });
  const flush = (): void => {
    const chunks = pending;
    pending = [];
    if (chunks.length === 0 || closed) return;
    inFlight++;
    channel
      .send(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
      .catch(() => {})
      .finally(() => {
        inFlight--;
        if (inFlight === 0) for (const h of drainHandlers.splice(0)) h();
      });
  };
  return {
    onData(fn) {
      dataHandler = fn;
      for (const b of early.splice(0)) fn(b);
    },
    onClose(fn) {
      if (closed) queueMicrotask(() => fn(closeErr));
      else closeHandlers.push(fn);
    },
    write(chunk) {
      if (closed) return false;
      if (pending.length === 0) process.nextTick(flush);
      // Frames handed to a link are not changed afterwards (FrameLink.write): no copy.
      pending.push(chunk);
      return inFlight < 2;
    },
    onDrain(fn) {
      if (inFlight === 0) queueMicrotask(fn);
      else drainHandlers.push(fn);
    },
    end() {
      // Half-close: the relay ends the child's input and keeps relaying until the child exits.
      flush();
      void channel.send({ eof: true }).catch(() => {});
    },
    destroy() {
      pending = [];
      void channel.send({ kill: 'SIGKILL' }).catch(() => {});
      channel.close();
    },
  };
}

/** via: the worker of another gateway starts this worker as its child and relays its bytes. */
export function openVia(ctx: IOContext): GatewayIO {
  const request: SpawnRequest = {
    node: ctx.spec.node,
    env: { ...ctx.spec.env },
    nice: ctx.spec.nice,
    config: ctx.config,
  };
  const channel = (ctx.viaChannel as NonNullable<IOContext['viaChannel']>)(request);
  const exited = deferred<ExitInfo>();
  const link = channelLink(channel, (info) => exited.resolve(info));
  link.onClose((error) => exited.resolve({ code: null, signal: null, error }));
  return {
    link,
    exited: exited.promise,
    kill: () => link.destroy(),
    ref: () => {},
    stderrTail: () => '',
    stderrSettled: () => Promise.resolve(),
    pid: undefined,
    remoteAddress: undefined,
  };
}

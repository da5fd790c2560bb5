/**
 * Starting a worker and getting a byte link to it, per gateway type: popen (a local child), ssh
 * (the system `ssh` client), socket (a `switchyard worker --listen` server) and via (a child of
 * another gateway's worker). Each returns a {@link GatewayIO}; the Gateway does the rest.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import type { Readable } from 'node:stream';
import { streamLink, type FrameLink } from '../channel/attach.ts';
import type { Channel } from '../channel/channel.ts';
import { GatewayStartError } from '../errors.ts';
import { connect } from '../transport/tcp.ts';
import { resolveHooks } from '../transport/default-hooks.ts';
import { deferred } from '../util/deferred.ts';
import { BOOTSTRAP, buildPreamble } from '../worker/bootstrap.ts';
import type { SpawnRequest, WorkerConfig } from '../worker/protocol.ts';
import { spawnWorker } from '../worker/spawn.ts';
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
  /** For via: the gateway whose worker starts this one. */
  viaChannel?: (request: SpawnRequest) => Channel;
}

const TAIL = 4096;

function forward(stream: Readable | null, which: 'stdout' | 'stderr', output: OutputOption, tail?: { text: string }): void {
  if (!stream) return;
  stream.on('error', () => {});
  stream.on('data', (chunk: Buffer) => {
    if (tail) tail.text = (tail.text + chunk.toString('utf8')).slice(-TAIL);
    if (output === 'ignore') return;
    if (output === 'inherit') (which === 'stdout' ? process.stdout : process.stderr).write(chunk);
    else output(chunk, which);
  });
}

function childIO(child: ChildProcess, link: FrameLink, handles: Array<{ ref(): void; unref(): void } | null | undefined>, tail: { text: string }, remoteAddress?: string): GatewayIO {
  const exited = deferred<ExitInfo>();
  const stderrEnd = new Promise<void>((resolve) => {
    if (!child.stderr) resolve();
    child.stderr?.once('close', resolve);
    child.once('error', () => resolve());
  });
  child.once('error', (error) => exited.resolve({ code: null, signal: null, error }));
  child.once('exit', (code, signal) => exited.resolve({ code, signal }));
  return {
    link,
    exited: exited.promise,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      link.destroy();
    },
    ref: (on) => {
      for (const h of [child, ...handles]) {
        if (!h) continue;
        if (on) h.ref();
        else h.unref();
      }
    },
    stderrTail: () => tail.text,
    stderrSettled: () => Promise.race([stderrEnd, new Promise<void>((r) => setTimeout(r, 500).unref())]),
    pid: child.pid,
    remoteAddress,
  };
}

/** Environment for a local worker: without `NODE_EXTRA_CA_CERTS` unless the spec sets it (see docs). */
function workerEnv(spec: XSpec, config: WorkerConfig): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...spec.env };
  if (!('NODE_EXTRA_CA_CERTS' in spec.env) && env['NODE_EXTRA_CA_CERTS'] !== undefined) {
    // Loading extra CA certificates costs ~90 ms of every Node start; the worker puts the
    // variable back into its process.env so that programs it starts still get it.
    config.restoreExtraCaCerts = env['NODE_EXTRA_CA_CERTS'];
    delete env['NODE_EXTRA_CA_CERTS'];
  }
  return env;
}

/** popen: a local child process with the protocol on descriptor 3. */
export function openPopen(ctx: IOContext): GatewayIO {
  const env = workerEnv(ctx.spec, ctx.config);
  const { child, socket } = spawnWorker({
    node: ctx.spec.node ?? [process.execPath],
    env,
    nice: ctx.spec.nice,
    stdout: 'pipe',
    stderr: 'pipe',
    source: ctx.source,
    config: ctx.config,
  });
  const tail = { text: '' };
  forward(child.stdout, 'stdout', ctx.output);
  forward(child.stderr, 'stderr', ctx.output, tail);
  return childIO(child, streamLink(socket, socket), [socket, child.stdout as never, child.stderr as never], tail);
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
  const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
  const tail = { text: '' };
  forward(child.stderr, 'stderr', ctx.output, tail);
  child.stdin.on('error', () => {});
  child.stdin.write(buildPreamble(ctx.source, ctx.config));
  const destination = sshArgs.filter((a) => !a.startsWith('-')).at(-1);
  return childIO(child, streamLink(child.stdout, child.stdin), [child.stdout as never, child.stdin as never, child.stderr as never], tail, destination);
}

/** Reads `\n`-terminated lines from a link until `done` returns true; hands the rest over. */
function readLines(link: FrameLink, onLine: (line: string) => boolean): Promise<Buffer> {
  const d = deferred<Buffer>();
  let buf = Buffer.alloc(0);
  let finished = false;
  link.onData((chunk) => {
    if (finished) return;
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > 65536) d.reject(new Error('The socket-gateway server sent an overlong line'));
        return;
      }
      const line = buf.subarray(0, nl).toString('utf8');
      buf = buf.subarray(nl + 1);
      try {
        if (onLine(line)) {
          finished = true;
          d.resolve(buf);
          return;
        }
      } catch (err) {
        finished = true;
        d.reject(err);
        return;
      }
    }
  });
  link.onClose((err) => d.reject(err ?? new Error('The socket-gateway server closed the connection during the handshake')));
  return d.promise;
}

/** A link whose first delivered bytes are `head`, then the underlying link's data. */
function prefixed(link: FrameLink, head: Buffer): FrameLink {
  return {
    ...link,
    onData(fn) {
      link.onData(fn);
      if (head.length > 0) fn(head);
    },
  };
}

/** The socket handshake line prefix sent by the server. */
export const SOCKET_GREETING = 'SWITCHYARD-WORKER 1';

/** HMAC the client proves the shared secret with. */
export function socketProof(secret: string, nonce: string): string {
  return createHmac('sha256', secret).update(`switchyard-worker:${nonce}`).digest('hex');
}

/**
 * socket: connects to `switchyard worker --listen`, proves the shared secret (HMAC over the
 * server's nonce: the secret never crosses the wire), sends the config, and relays through the
 * worker process the server starts for this connection.
 */
export async function openSocket(ctx: IOContext, tls: { ca?: string | undefined } | undefined): Promise<GatewayIO> {
  const { host, port } = ctx.spec.socket as { host: string; port: number };
  const secret = ctx.secret ?? process.env['SWITCHYARD_WORKER_SECRET'];
  if (!secret) {
    throw new GatewayStartError(ctx.spec.raw, 'A socket gateway needs the server\'s shared secret: pass { secret } or set SWITCHYARD_WORKER_SECRET');
  }
  const conn = await connect({ host, port, tls: tls ? { ca: tls.ca, checkHostname: false } : undefined, hooks: await resolveHooks(undefined) });
  const exited = deferred<ExitInfo>();
  conn.onClose((error) => exited.resolve({ code: null, signal: null, error }));
  let pid: number | undefined;
  let stage = 0;
  let rest: Buffer;
  try {
    rest = await readLines(conn, (line) => {
      if (stage === 0) {
        if (!line.startsWith(`${SOCKET_GREETING} `)) throw new Error(`Not a switchyard worker server (it said ${JSON.stringify(line.slice(0, 80))})`);
        const nonce = line.slice(SOCKET_GREETING.length + 1);
        conn.write(Buffer.from(`AUTH ${socketProof(secret, nonce)} ${JSON.stringify({ config: ctx.config, env: ctx.spec.env, nice: ctx.spec.nice })}\n`));
        stage = 1;
        return false;
      }
      if (line.startsWith('OK')) {
        pid = Number(line.slice(3)) || undefined;
        return true;
      }
      throw new Error(line.startsWith('ERR ') ? line.slice(4) : `Unexpected answer ${JSON.stringify(line.slice(0, 80))}`);
    });
  } catch (err) {
    conn.destroy();
    throw new GatewayStartError(ctx.spec.raw, `Socket gateway ${host}:${port} refused: ${(err as Error).message}`, {}, { cause: err });
  }
  const link = prefixed(conn, rest);
  return {
    link,
    exited: exited.promise,
    kill: () => conn.destroy(),
    ref: (on) => {
      const s = (conn as { socket?: { ref(): void; unref(): void } }).socket;
      if (on) s?.ref();
      else s?.unref();
    },
    stderrTail: () => '',
    stderrSettled: () => Promise.resolve(),
    pid,
    remoteAddress: `${host}:${port}`,
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
  let pending: Buffer[] = [];
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
      pending.push(Buffer.from(chunk));
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

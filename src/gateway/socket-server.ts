/**
 * The socket-gateway server behind `switchyard worker --listen`: accepts connections through the
 * transport layer (so network-manager hooks apply), checks the shared secret, and gives every
 * accepted connection a worker process of its own, whose protocol bytes, stdout and stderr it
 * relays. Unlike execnet's socketserver it runs nothing for a peer that has not proved the secret.
 *
 * States of one connection: greeting sent → (AUTH verified) → relaying → worker exited (EXIT
 * record sent, connection ended). A wrong proof, a malformed line, a full server or no AUTH within
 * the handshake timeout ends it with an `ERR` line and no process is started.
 * @module
 */
import { GatewayServerError } from '../errors.ts';
import type { Attr, NetHooks } from '../hooks/types.ts';
import type { Connection } from '../transport/connection.ts';
import type { ProcessExit } from '../transport/process.ts';
import { listen, type ServerTlsOptions } from '../transport/tcp.ts';
import { guardTimer } from '../util/timers.ts';
import { spawnWorker } from '../worker/spawn.ts';
import type { WorkerConfig } from '../worker/protocol.ts';
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
} from './socket-protocol.ts';
import { workerSource } from './worker-source.ts';

/** Shortest shared secret accepted, characters. */
export const MIN_SECRET_LENGTH = 16;

/** Options of {@link startWorkerServer}. */
export interface WorkerServerOptions {
  /** Interface to bind (default `127.0.0.1`: loopback only). */
  host?: string | undefined;
  /** Port (0 picks a free one; see {@link WorkerServer.port}). */
  port: number;
  /** The shared secret clients must prove (at least {@link MIN_SECRET_LENGTH} characters). */
  secret: string;
  /** Serve TLS with this certificate and key. */
  tls?: ServerTlsOptions | undefined;
  /** Network-manager hook chain for listen/accept/close. */
  hooks?: NetHooks | undefined;
  /** Attrs for the hooks (from `--netmgr`). */
  attrs?: Attr[] | undefined;
  /** Workers running at once (default 64); more connections are refused with `ERR busy`. */
  maxWorkers?: number | undefined;
  /** Milliseconds a client has to send its `AUTH` line (default 10 s). */
  handshakeTimeoutMs?: number | undefined;
  /** Program and leading arguments that run workers (default: this process's node). */
  node?: string[] | undefined;
  /** Milliseconds a worker gets to exit after a hang-up before it is killed (default 10 s). */
  killAfterMs?: number | undefined;
  /** Receives one line per event (connections, refusals, worker exits). */
  log?: ((line: string) => void) | undefined;
}

/** A running socket-gateway server. */
export interface WorkerServer {
  readonly host: string;
  readonly port: number;
  /** The contact to give clients (after `postListen` hooks). */
  readonly contact: string;
  /** Workers currently running. */
  readonly workers: number;
  /**
   * Stops accepting, hangs up on every worker (they finish within their grace time), kills those
   * still running after `timeout` ms (default 2000) and resolves when all are gone. Safe to call twice.
   */
  close(options?: { timeout?: number }): Promise<void>;
}

interface Active {
  hangUp(): void;
  kill(): void;
  exited: Promise<ProcessExit>;
}

function validRequest(v: unknown): v is SocketRequest & { config: WorkerConfig } {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const c = r['config'] as Record<string, unknown> | undefined;
  if (typeof c !== 'object' || c === null || typeof c['id'] !== 'string' || typeof c['window'] !== 'number' || typeof c['graceMs'] !== 'number') return false;
  if (r['env'] !== undefined) {
    if (typeof r['env'] !== 'object' || r['env'] === null) return false;
    for (const x of Object.values(r['env'] as object)) if (typeof x !== 'string') return false;
  }
  return r['nice'] === undefined || Number.isInteger(r['nice']);
}

/**
 * Starts the server. Rejects with `GatewayServerError` for a missing or short secret and with the
 * transport's `SWITCHYARD_ERR_LISTEN` error when the address cannot be bound.
 *
 * @example
 * ```ts
 * const server = await startWorkerServer({ port: 8888, secret: readFileSync('secret', 'utf8').trim() });
 * // clients: makeGateway('socket=127.0.0.1:8888//secret_file=secret')
 * await server.close();
 * ```
 */
export async function startWorkerServer(options: WorkerServerOptions): Promise<WorkerServer> {
  const secret = options.secret;
  if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
    throw new GatewayServerError(
      'secret',
      `The socket-gateway server needs a shared secret of at least ${MIN_SECRET_LENGTH} characters (got ${typeof secret === 'string' ? secret.length : 0}); generate one, e.g. "openssl rand -hex 32 > secret", and pass --secret-file secret or set SWITCHYARD_WORKER_SECRET`,
    );
  }
  const source = await workerSource();
  const maxWorkers = options.maxWorkers ?? 64;
  const handshakeMs = options.handshakeTimeoutMs ?? 10_000;
  const killAfterMs = options.killAfterMs ?? 10_000;
  const log = options.log ?? (() => {});
  const active = new Set<Active>();
  const handshaking = new Set<Connection>();
  let closing = false;

  const serve = (conn: Connection): void => {
    const peer = `${conn.remoteAddress}:${conn.remotePort}`;
    const nonce = newNonce();
    const lines = new LineReader();
    handshaking.add(conn);
    let relay: ((chunk: Buffer) => void) | undefined;
    conn.onData((chunk) => (relay ? relay(chunk) : lines.push(chunk)));
    conn.onClose((err) => lines.fail(err ?? new Error('closed')));
    const refuse = (code: string, message: string): void => {
      log(`refused ${peer}: ${message}`);
      conn.write(Buffer.from(`ERR ${code} ${message}\n`));
      conn.end();
    };
    const timer = guardTimer(() => refuse('SWITCHYARD_ERR_TIMEOUT', `no authentication within ${handshakeMs} ms`), handshakeMs);
    conn.write(Buffer.from(`${SOCKET_GREETING} ${SOCKET_PROTOCOL} ${nonce}\n`));
    void lines.next().then(
      (line) => {
        clearTimeout(timer);
        handshaking.delete(conn);
        if (conn.closed) return;
        const m = /^AUTH ([0-9a-f]{64}) ([0-9a-f]{16,128}) (.*)$/.exec(line);
        if (!m) return refuse('SWITCHYARD_ERR_PROTOCOL', 'expected "AUTH <proof> <nonce> <request>"');
        const [, proof = '', clientNonce = '', json = ''] = m;
        if (!proofsEqual(proof, clientProof(secret, nonce, clientNonce, json))) {
          return refuse('SWITCHYARD_ERR_AUTH', 'authentication failed: the shared secret does not match');
        }
        let request: unknown;
        try {
          request = JSON.parse(json);
        } catch {
          request = undefined;
        }
        if (!validRequest(request)) return refuse('SWITCHYARD_ERR_PROTOCOL', 'malformed request');
        if (closing) return refuse('SWITCHYARD_ERR_BUSY', 'the server is shutting down');
        if (active.size >= maxWorkers) return refuse('SWITCHYARD_ERR_BUSY', `the server runs its limit of ${maxWorkers} workers; try again later`);
        start(conn, peer, request, clientNonce, nonce, lines.rest(), (fn) => (relay = fn));
      },
      () => {
        clearTimeout(timer);
        handshaking.delete(conn);
      },
    );
  };

  const start = (
    conn: Connection,
    peer: string,
    request: SocketRequest & { config: WorkerConfig },
    clientNonce: string,
    nonce: string,
    rest: Buffer,
    setRelay: (fn: (chunk: Buffer) => void) => void,
  ): void => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...request.env };
    const config: WorkerConfig = { ...request.config };
    if (!(request.env && 'NODE_EXTRA_CA_CERTS' in request.env) && env['NODE_EXTRA_CA_CERTS'] !== undefined) {
      config.restoreExtraCaCerts = env['NODE_EXTRA_CA_CERTS'];
      delete env['NODE_EXTRA_CA_CERTS'];
    }
    const { process: proc, socket } = spawnWorker({
      node: options.node ?? [process.execPath],
      env,
      nice: request.nice,
      stdout: 'pipe',
      stderr: 'pipe',
      source,
      config,
    });
    log(`gateway ${config.id} from ${peer}: worker pid ${proc.pid ?? '-'}`);
    let killTimer: NodeJS.Timeout | undefined;
    const entry: Active = {
      hangUp: () => {
        if (!socket.writableEnded) socket.end();
        killTimer ??= guardTimer(() => proc.kill('SIGKILL'), killAfterMs);
      },
      kill: () => proc.kill('SIGKILL'),
      exited: proc.closed,
    };
    active.add(entry);

    // Worker → client: protocol bytes and output as records. When the client is slow, every
    // source pauses until the connection drains.
    const sources = [socket, proc.stdout, proc.stderr].filter((s) => s !== null);
    let paused = false;
    const send = (kind: (typeof RecordKind)[keyof typeof RecordKind], chunk: Buffer): void => {
      conn.write(recordHeader(kind, chunk.length));
      if (!conn.write(chunk) && !paused) {
        paused = true;
        for (const s of sources) s.pause();
        conn.onDrain(() => {
          paused = false;
          for (const s of sources) s.resume();
        });
      }
    };
    socket.on('data', (c: Buffer) => send(RecordKind.DATA, c));
    proc.stdout?.on('data', (c: Buffer) => send(RecordKind.STDOUT, c));
    proc.stderr?.on('data', (c: Buffer) => send(RecordKind.STDERR, c));

    // Client → worker.
    const splitter = new RecordSplitter();
    const onRecord = (kind: number, payload: Buffer): void => {
      if (kind === RecordKind.DATA) {
        if (socket.writableEnded) return;
        if (!socket.write(Buffer.from(payload))) {
          conn.pause();
          socket.once('drain', () => conn.resume());
        }
      } else if (kind === RecordKind.EOF) {
        log(`gateway ${config.id} from ${peer}: host hung up`);
        entry.hangUp();
      } else {
        throw new Error(`unexpected record kind ${kind}`);
      }
    };
    setRelay((chunk) => {
      try {
        splitter.push(chunk, onRecord);
      } catch (err) {
        log(`gateway ${config.id} from ${peer}: ${(err as Error).message}; closing`);
        conn.destroy();
      }
    });
    conn.onClose(() => {
      // The client is gone without a hang-up (killed, or the network failed): the worker sees its
      // input end, gets its grace time, and is killed if it lingers.
      entry.hangUp();
    });
    conn.write(Buffer.from(`OK ${proc.pid ?? 0} ${serverProof(secret, nonce, clientNonce)}\n`));
    if (rest.length > 0) splitter.push(rest, onRecord);
    void proc.closed.then((exit) => {
      clearTimeout(killTimer);
      active.delete(entry);
      log(`gateway ${config.id} from ${peer}: worker exited (${exit.error ? exit.error.message : exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`);
      const info = Buffer.from(JSON.stringify({ code: exit.code, signal: exit.signal, error: exit.error?.message }));
      send(RecordKind.EXIT, info);
      conn.end();
    });
  };

  const listener = await listen({
    host: options.host ?? '127.0.0.1',
    port: options.port,
    tls: options.tls,
    hooks: options.hooks,
    attrs: options.attrs,
    onConnection: serve,
    onRejected: ({ remoteAddress, remotePort, error }) => log(`rejected ${remoteAddress}:${remotePort}: ${error.message}`),
  });

  let closed: Promise<void> | undefined;
  return {
    host: listener.host,
    port: listener.port,
    get contact() {
      return listener.contact;
    },
    get workers() {
      return active.size;
    },
    close(opts) {
      closed ??= (async () => {
        closing = true;
        const stopListening = listener.close();
        for (const c of handshaking) c.destroy();
        const all = [...active];
        for (const a of all) a.hangUp();
        const timeout = opts?.timeout ?? 2000;
        const done = Promise.all(all.map((a) => a.exited));
        let t: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise<void>((r) => (t = guardTimer(r, timeout)))]);
        clearTimeout(t);
        for (const a of active) a.kill();
        await Promise.race([done, new Promise<void>((r) => guardTimer(r, 1000))]);
        await stopListening;
      })();
      return closed;
    },
  };
}

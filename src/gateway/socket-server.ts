/**
 * The socket-gateway server behind `switchyard worker --listen`: accepts connections through the
 * transport layer (so network-manager hooks apply), checks the shared secret, and gives every
 * accepted connection a worker process of its own, whose protocol bytes, stdout and stderr it
 * relays (see `worker/socket-serve.ts`). Unlike execnet's socketserver it runs nothing for a peer
 * that has not proved the secret.
 * @module
 */
import { GatewayServerError } from '../errors.ts';
import type { Attr, NetHooks } from '../hooks/types.ts';
import { listen, type ServerTlsOptions } from '../transport/tcp.ts';
import { SocketWorkerHost } from '../worker/socket-serve.ts';
import type { TerminateOptions } from './gateway.ts';
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

/** A running socket-gateway server. Close it with {@link WorkerServer.close} or `await using`. */
export interface WorkerServer {
  readonly host: string;
  readonly port: number;
  /** The contact to give clients (after `postListen` hooks). */
  readonly contact: string;
  /** Workers currently running. */
  readonly workers: number;
  /**
   * Stops accepting, hangs up on every worker (they finish within their grace time), kills those
   * still running after `timeout` ms (default 2000) or as soon as `signal` aborts, and resolves
   * when all are gone (at most about a second after the kill). Never rejects with `AbortError`.
   * Safe to call twice: a later call returns the same Promise, and its `signal` can still cut the
   * wait short.
   */
  close(options?: TerminateOptions): Promise<void>;
  /** {@link close} with the default timeout. */
  [Symbol.asyncDispose](): Promise<void>;
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
  const log = options.log ?? (() => {});
  const host = new SocketWorkerHost({
    secret,
    source,
    maxWorkers: options.maxWorkers ?? 64,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    killAfterMs: options.killAfterMs ?? 10_000,
    node: options.node ?? [process.execPath],
    env: process.env,
    log,
  });

  const listener = await listen({
    host: options.host ?? '127.0.0.1',
    port: options.port,
    tls: options.tls,
    hooks: options.hooks,
    attrs: options.attrs,
    onConnection: (conn) => host.serve(conn),
    onRejected: ({ remoteAddress, remotePort, error }) => log(`rejected ${remoteAddress}:${remotePort}: ${error.message}`),
  });

  let closed: Promise<void> | undefined;
  let workersGone = false;
  // A second close of the host kills every worker at once, which also ends the first one's wait.
  const killNow = (): void => {
    if (!workersGone) void host.close(0).catch(() => {});
  };
  const close = (opts?: TerminateOptions): Promise<void> => {
    const signal = opts?.signal;
    if (closed === undefined) {
      closed = (async () => {
        const stopListening = listener.close();
        try {
          await host.close(signal?.aborted ? 0 : (opts?.timeout ?? 2000));
        } finally {
          workersGone = true;
        }
        await stopListening;
      })();
    } else if (signal?.aborted) {
      killNow();
    }
    if (signal && !signal.aborted && !workersGone) {
      signal.addEventListener('abort', killNow, { once: true });
      const detach = (): void => signal.removeEventListener('abort', killNow);
      closed.then(detach, detach);
    }
    return closed;
  };
  return {
    host: listener.host,
    port: listener.port,
    get contact() {
      return listener.contact;
    },
    get workers() {
      return host.workers;
    },
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}

/**
 * TCP and TLS listeners and connectors. Every listen, accept, connect and close passes through the
 * network-manager hook chain (`hooks/`), which may rewrite contacts, set socket options or veto.
 * @module
 */
import net from 'node:net';
import tls from 'node:tls';
import { ConnectError, SwitchyardError } from '../errors.ts';
import { ConnectionHooks } from '../hooks/chain.ts';
import { formatContact, parseContact } from '../hooks/contact.ts';
import { newTaskId } from '../hooks/task-id.ts';
import type { Attr, Callout, ChainOutcome, ConnectionCallouts, NetHooks } from '../hooks/types.ts';
import { guardTimer } from '../util/timers.ts';
import { SocketConnection, type Connection } from './connection.ts';
import { applySocketAttrs, connectOptionsFromAttrs, listenAttrs, listenOptionsFromAttrs } from './socket-options.ts';

// One contact format for hooks and transport (re-exported: transport's users import it from here).
export { formatContact, parseContact } from '../hooks/contact.ts';

/**
 * The callouts of one listener or connection, run one at a time (GCT's rule), or `undefined` when
 * the chain is empty: then no hook work happens at all.
 */
function connectionHooks(hooks: NetHooks | undefined, taskId: string | undefined): ConnectionCallouts | undefined {
  if (!hooks || hooks.empty) return undefined;
  return hooks.forConnection?.({ taskId, transport: 'tcp' }) ?? new ConnectionHooks(hooks, { taskId, transport: 'tcp' });
}

/** Runs one callout, or returns the input unchanged when there are no hooks. */
async function callout(
  cx: ConnectionCallouts | undefined,
  name: Callout,
  attrs: Attr[],
  contacts: { localContact?: string | undefined; remoteContact?: string | undefined; contact?: string | undefined },
): Promise<ChainOutcome> {
  if (!cx) return { attrs, contact: contacts.contact };
  return cx.run(name, { attrs, ...contacts });
}

/** TLS material for a server. */
export interface ServerTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  passphrase?: string | undefined;
}

/** Options of {@link listen}. */
export interface ListenOptions {
  /** Interface to bind; `undefined` means every interface (msl-network's default). */
  host?: string | undefined;
  port: number;
  /** TLS on when given. */
  tls?: ServerTlsOptions | undefined;
  hooks?: NetHooks | undefined;
  /** Attrs given by the caller (e.g. from `--netmgr`); hooks see and may change them. */
  attrs?: Attr[] | undefined;
  /** Called for each accepted connection, after the TLS handshake and the accept hooks. */
  onConnection: (conn: Connection) => void;
  /** Called when an incoming connection fails before it is handed over (TLS error, veto). */
  onRejected?: (info: { remoteAddress: string; remotePort: number; error: Error }) => void;
  /** Milliseconds allowed for a TLS handshake. */
  handshakeTimeoutMs?: number | undefined;
}

/** A listening server. */
export interface Listener {
  /** The port bound. */
  readonly port: number;
  readonly host: string;
  /** The contact to advertise (after `postListen` hooks). */
  readonly contact: string;
  /** Stops accepting; existing connections stay open. Resolves when the listener is closed. */
  close(): Promise<void>;
}

/**
 * Listens for TCP (or TLS) connections. Resolves once listening; rejects with a coded error when
 * the address is in use or a hook vetoes.
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  const hooks = options.hooks;
  const lx = connectionHooks(hooks, undefined);
  const request = { host: options.host, port: options.port };
  const pre = await callout(lx, 'preListen', lx ? [...(options.attrs ?? []), ...listenAttrs(request)] : (options.attrs ?? []), {});
  const bind = listenOptionsFromAttrs(pre.attrs, request);

  const accept = (socket: net.Socket): void => {
    socket.setNoDelay(true);
    const cx = connectionHooks(hooks, undefined);
    const taskId = cx?.taskId ?? newTaskId();
    const remoteAddress = socket.remoteAddress ?? '';
    const remotePort = socket.remotePort ?? 0;
    const remoteContact = formatContact(remoteAddress.replace(/^::ffff:/, ''), remotePort);
    let rejected = false;
    const reject = (error: Error): void => {
      if (rejected) return;
      rejected = true;
      socket.destroy();
      options.onRejected?.({ remoteAddress, remotePort, error });
    };
    // Until the connection is handed over (hooks and TLS may take a while), a reset by the peer
    // must not become an uncaught 'error'.
    const early = (err: Error): void => reject(err);
    socket.on('error', early);
    const handOver = (s: net.Socket, attrs: Attr[]): void => {
      socket.off('error', early);
      let closeHooksRun = false;
      const runClose = async (): Promise<void> => {
        if (closeHooksRun || !cx) return;
        closeHooksRun = true;
        await callout(cx, 'preClose', attrs, { localContact: contact, remoteContact });
      };
      const conn = new SocketConnection(s, taskId, runClose, () => {
        if (!cx) return;
        void (async () => {
          try {
            if (!closeHooksRun) await runClose();
            await callout(cx, 'postClose', attrs, { localContact: contact, remoteContact });
          } catch {
            // A veto after the fact changes nothing: the connection is already closed.
          }
        })();
      });
      options.onConnection(conn);
    };
    const afterTcp = (attrs: Attr[]): void => {
      if (!options.tls) {
        handOver(socket, attrs);
        return;
      }
      const secure = new tls.TLSSocket(socket, {
        isServer: true,
        secureContext,
      });
      const timer = guardTimer(() => secure.destroy(new SwitchyardError('SWITCHYARD_ERR_TLS_HANDSHAKE_TIMEOUT', 'TLS handshake timed out')), options.handshakeTimeoutMs ?? 10_000);
      secure.once('secure', () => {
        clearTimeout(timer);
        handOver(secure, attrs);
      });
      secure.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    };
    if (!cx) {
      afterTcp([]);
      return;
    }
    socket.pause();
    void (async () => {
      try {
        const preA = await callout(cx, 'preAccept', [...pre.attrs], { localContact: contact, remoteContact });
        const postA = await callout(cx, 'postAccept', preA.attrs, { localContact: contact, remoteContact });
        applySocketAttrs(socket, postA.attrs);
        socket.resume();
        afterTcp(postA.attrs);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    })();
  };

  const secureContext = options.tls
    ? tls.createSecureContext({ cert: options.tls.cert, key: options.tls.key, passphrase: options.tls.passphrase, minVersion: 'TLSv1.2' })
    : undefined;
  const server = net.createServer({ noDelay: true, pauseOnConnect: false }, accept);
  server.on('error', () => {
    // Errors after listening are per-connection; the listen error is handled below.
  });

  const tryListen = (port: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: bind.host, port }, () => {
        server.off('error', onError);
        resolve();
      });
    });

  let bound = false;
  let lastError: unknown;
  for (const port of bind.ports) {
    try {
      await tryListen(port);
      bound = true;
      break;
    } catch (err) {
      lastError = err;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
    }
  }
  if (!bound) {
    const e = lastError as NodeJS.ErrnoException;
    throw new SwitchyardError(
      'SWITCHYARD_ERR_LISTEN',
      `Cannot listen on ${formatContact(bind.host ?? '0.0.0.0', bind.ports[0] ?? options.port)}${bind.ports.length > 1 ? ` (tried ${bind.ports.length} ports)` : ''}: ${e?.message ?? 'unknown error'}`,
      { cause: lastError },
    );
  }
  const addr = server.address() as net.AddressInfo;
  let contact = formatContact(bind.host ?? '0.0.0.0', addr.port);
  try {
    const post = await callout(lx, 'postListen', pre.attrs, { localContact: contact, contact });
    if (post.contact) contact = post.contact;
  } catch (err) {
    server.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    port: addr.port,
    host: addr.address,
    get contact() {
      return contact;
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
      }).then(async () => {
        try {
          await callout(lx, 'endListen', pre.attrs, { localContact: contact });
        } catch {
          // The listener is closed either way.
        }
      });
      return closing;
    },
  };
}

/** TLS options of a client connection. */
export interface ClientTlsOptions {
  /** Trusted CA or the server's own self-signed certificate (PEM). */
  ca?: string | Buffer | undefined;
  /** Check that the certificate names the host (msl-network's `assert_hostname`). */
  checkHostname?: boolean | undefined;
  /** Name to verify and send as SNI; defaults to the host. */
  servername?: string | undefined;
  /** Accept any certificate (used only to fetch a certificate for trust on first use). */
  insecure?: boolean | undefined;
}

/** Options of {@link connect}. */
export interface ConnectOptions {
  host: string;
  port: number;
  tls?: ClientTlsOptions | undefined;
  hooks?: NetHooks | undefined;
  attrs?: Attr[] | undefined;
  /** Connect timeout in ms (default 10 s). */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  taskId?: string | undefined;
}

/**
 * Opens a TCP (or TLS) connection through the hook chain (`preConnect` may send it elsewhere).
 * Rejects with {@link ConnectError} carrying the host, port and the real cause.
 */
export async function connect(options: ConnectOptions): Promise<Connection> {
  const cx = connectionHooks(options.hooks, options.taskId);
  const taskId = cx?.taskId ?? options.taskId ?? newTaskId();
  let remoteContact = formatContact(options.host, options.port);
  const pre = await callout(cx, 'preConnect', options.attrs ?? [], { remoteContact, contact: remoteContact });
  const local = connectOptionsFromAttrs(pre.attrs);
  let { host, port } = { host: options.host, port: options.port };
  if (pre.contact && pre.contact !== remoteContact) {
    ({ host, port } = parseContact(pre.contact));
    remoteContact = pre.contact;
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    let s: net.Socket;
    const fail = (err: Error): void => {
      cleanup();
      s.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(new ConnectError(host, port, `Connecting to ${formatContact(host, port)} was aborted`, { cause: options.signal?.reason }));
    const timer = guardTimer(() => fail(new ConnectError(host, port, `Cannot connect to ${formatContact(host, port)} within ${timeoutMs} ms`)), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    if (options.signal?.aborted) {
      reject(new ConnectError(host, port, `Connecting to ${formatContact(host, port)} was aborted`));
      clearTimeout(timer);
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const t = options.tls;
    if (t) {
      s = tls.connect({
        host,
        port,
        ...local,
        ca: t.ca,
        servername: net.isIP(t.servername ?? host) ? undefined : (t.servername ?? host),
        rejectUnauthorized: t.insecure !== true,
        checkServerIdentity: t.checkHostname === false || t.insecure === true ? () => undefined : tls.checkServerIdentity,
      });
      s.once('secureConnect', () => {
        cleanup();
        resolve(s);
      });
    } else {
      s = net.connect({ host, port, noDelay: true, ...local });
      s.once('connect', () => {
        cleanup();
        resolve(s);
      });
    }
    s.once('error', (err) => fail(new ConnectError(host, port, `Cannot connect to ${formatContact(host, port)}: ${err.message}`, { cause: err })));
  });
  socket.setNoDelay(true);
  const localContact = formatContact(socket.localAddress ?? '', socket.localPort ?? 0);
  let attrs = pre.attrs;
  try {
    const post = await callout(cx, 'postConnect', attrs, { localContact, remoteContact });
    attrs = post.attrs;
    applySocketAttrs(socket, attrs);
  } catch (err) {
    socket.destroy();
    throw err;
  }
  let closeHooksRun = false;
  const runClose = async (): Promise<void> => {
    if (closeHooksRun || !cx) return;
    closeHooksRun = true;
    await callout(cx, 'preClose', attrs, { localContact, remoteContact });
  };
  return new SocketConnection(socket, taskId, runClose, () => {
    if (!cx) return;
    void (async () => {
      try {
        if (!closeHooksRun) await runClose();
        await callout(cx, 'postClose', attrs, { localContact, remoteContact });
      } catch {
        // Already closed.
      }
    })();
  });
}

/**
 * Fetches the certificate a TLS server presents, without trusting it (for trust on first use).
 * Resolves the PEM text; rejects with {@link ConnectError} when the server cannot be reached or
 * does not speak TLS.
 */
export function fetchServerCertificate(host: string, port: number, timeoutMs = 10_000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host, port, rejectUnauthorized: false, servername: net.isIP(host) ? undefined : host });
    const timer = guardTimer(() => {
      s.destroy();
      reject(new ConnectError(host, port, `Cannot get the certificate of ${formatContact(host, port)} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = s.getPeerX509Certificate();
      s.end();
      if (!cert) reject(new ConnectError(host, port, `${formatContact(host, port)} presented no certificate`));
      else resolve(cert.toString());
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(new ConnectError(host, port, `Cannot get the certificate of ${formatContact(host, port)}: ${err.message}`, { cause: err }));
    });
  });
}

/**
 * The Manager: the broker that services register with and clients link to. It speaks
 * msl-network's JSON lines to every peer and switches Switchyard peers to the native binary
 * dialect after the handshake; it routes between the two.
 *
 * Differences from msl-network (each pinned by a test, see docs/manager.md):
 * - requests need a link (and so respect locks and max_clients);
 * - replies and notifications are accepted only from the service they claim to come from;
 * - a request to a missing or departing service fails with the request's own uid;
 * - a malformed message never leaves a stale registry entry; oversize peers are told and dropped;
 * - the connection log and reverse DNS never block routing.
 * @module
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AuthenticationError, InvalidArgumentError, MessageTooLargeError, ProtocolError, SwitchyardError } from '../errors.ts';
import type { Connection } from '../transport/connection.ts';
import { ensureManagerCertificate, getFingerprint } from '../transport/certs.ts';
import { formatContact, listen, parseContact, type Listener } from '../transport/tcp.ts';
import { resolveHooks, type HooksOption } from '../transport/default-hooks.ts';
import { HOSTNAME } from '../util/host.ts';
import { silentLogger, toPinoLevel, type Logger } from '../util/log.ts';
import { deferred } from '../util/deferred.ts';
import { bounded } from '../util/timers.ts';
import { VERSION } from '../version.ts';
import { decodeValue, encodeValue } from '../wire/codec.ts';
import { parseJson } from '../wire/json.ts';
import { LANGUAGE, OS_NAME } from '../rpc/session.ts';
import { buildFrame, CH_OPEN_FLAG_CREDITED, CH_OPEN_FLAG_REF, FrameReader, FrameType, NATIVE_DIALECT, REQUEST_FLAG_ADMIN } from '../wire/protocol.ts';
import { parseTerminalInput } from '../wire/terminal.ts';
import { adminTableApi, openDatabase, pythonExceptionName, type ManagerDatabase } from './database.ts';
import { resolvePeerAddress } from './peer-address.ts';
import { Peer } from './peer.ts';
import {
  errorLine,
  managerResultLine,
  notificationLine,
  promptLine,
  pyError,
  pyRepr,
  requestLine,
  serviceResultLine,
  splitPyMessage,
  type PyError,
} from '../wire/msl-format.ts';
import { Registry, type Outcome, type ServiceEntry, type ServiceInfo } from './registry.ts';

/** msl-network's default port (the year the BIPM was founded). */
export const DEFAULT_PORT = 1875;
/** Default limit on one incoming message after authentication. */
export const DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024;
/** Limit on one incoming line before a peer has authenticated. */
export const HANDSHAKE_LINE_LIMIT = 1024 * 1024;

/** Options of {@link startManager}; names follow `msl-network start`. */
export interface ManagerOptions {
  /** Interface to listen on; default every interface (msl-network's default). */
  host?: string | undefined;
  /** Port; default 1875. 0 picks a free port. */
  port?: number | undefined;
  /** Plain TCP instead of TLS. */
  disableTls?: boolean | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  keyFilePassword?: string | undefined;
  /** Require this Manager password from every peer. */
  authPassword?: string | undefined;
  /** Require a user login (users in the database). */
  authLogin?: boolean | undefined;
  /** Accept only peers whose hostname is in the trusted-hostnames table. */
  authHostname?: boolean | undefined;
  /** The SQLite database file, or an open database. Default `$SWITCHYARD_HOME/manager.sqlite3`. */
  database?: string | ManagerDatabase | undefined;
  logger?: Logger | undefined;
  /** Largest message accepted from an authenticated peer (bytes). */
  maxMessageSize?: number | undefined;
  /** Milliseconds a new connection has to finish the handshake (default 30 s). */
  handshakeTimeout?: number | undefined;
  /**
   * Most requests awaiting a reply at one service (default 65,536); a request beyond it is refused
   * at once, so a service that stops answering cannot make the Manager's memory grow.
   */
  maxPendingPerService?: number | undefined;
  /**
   * Network-manager hooks for the listener and every accepted connection: a chain, or managers
   * and option strings (run after `$SWITCHYARD_HOME/netmgr.d` and `SWITCHYARD_NETMGR`).
   */
  hooks?: HooksOption | undefined;
}

/** A running Manager. */
export interface ManagerHandle {
  /** The port it listens on. */
  readonly port: number;
  /** `Manager[host:port]` */
  readonly networkName: string;
  /** The contact advertised (after hooks). */
  readonly contact: string;
  /** The certificate clients should trust (undefined with TLS disabled). */
  readonly certFile: string | undefined;
  /** Resolves when the Manager has stopped (by `close()` or an admin `shutdown_manager`). */
  readonly closed: Promise<void>;
  /** Stops accepting, disconnects every peer, flushes the connection log. Safe to call twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type AuthMode = 'none' | 'password' | 'login' | 'hostname';

interface PendingCall {
  client: Peer;
  /** uid for JSON clients; native clients use callId. */
  uid: string;
  callId: number;
  attribute: string;
  /** How many identical JSON keys are outstanding (terminal users reuse uid ""). */
  count: number;
  /** A CANCEL went to the service already. */
  cancelled?: boolean;
}

interface ServiceState {
  entry: ServiceEntry<Peer>;
  /** JSON services: pending calls keyed by `uid\0requester`. */
  pendingJson: Map<string, PendingCall>;
  /** Native services: pending calls keyed by route id. */
  pendingNative: Map<number, PendingCall>;
  nextRoute: number;
  /** Next channel id the Manager uses on the service's connection (even: the Manager accepted it). */
}

function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Starts a Manager. Resolves once it is listening; rejects with a coded error when the options are
 * inconsistent (e.g. several authentication methods), the certificate cannot be loaded or made,
 * or the port cannot be bound.
 * @example
 * const manager = await startManager({ port: 0, disableTls: true });
 * console.log(manager.networkName);
 * await manager.close();
 */
export async function startManager(options: ManagerOptions = {}): Promise<ManagerHandle> {
  const modes = [options.authPassword !== undefined, options.authLogin === true, options.authHostname === true].filter(Boolean).length;
  if (modes > 1) throw new InvalidArgumentError('auth', 'Cannot specify multiple authentication methods');
  const manager = new Manager(options);
  await manager.start();
  return manager.handle();
}

class Manager {
  private readonly log: Logger;
  private readonly registry = new Registry<Peer>();
  private readonly serviceStates = new Map<Peer, ServiceState>();
  private readonly peers = new Set<Peer>();
  private db!: ManagerDatabase;
  private ownsDb = false;
  private listener!: Listener;
  private nextPeerId = 1;
  private readonly authMode: AuthMode;
  private readonly maxMessage: number;
  private readonly handshakeTimeout: number;
  private networkName = '';
  private port = 0;
  /** The host and port the Manager advertises: its own, or what a postListen hook rewrote them to. */
  private advertised = { host: HOSTNAME, port: 0 };
  private certFile: string | undefined;
  private trustedHostnames: string[] = [];
  private readonly done = deferred<void>();
  private closing: Promise<void> | undefined;

  constructor(private readonly options: ManagerOptions) {
    this.log = options.logger ?? silentLogger();
    this.authMode = options.authPassword !== undefined ? 'password' : options.authLogin ? 'login' : options.authHostname ? 'hostname' : 'none';
    this.maxMessage = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.handshakeTimeout = options.handshakeTimeout ?? 30_000;
    if (!(this.maxMessage > 0)) throw new InvalidArgumentError('maxMessageSize', `maxMessageSize must be a positive number of bytes, got ${this.maxMessage}`);
  }

  async start(): Promise<void> {
    const o = this.options;
    if (typeof o.database === 'object') this.db = o.database;
    else {
      this.db = openDatabase(o.database);
      this.ownsDb = true;
    }
    if (this.authMode === 'login' && this.db.users.count() === 0) {
      this.closeDb();
      throw new AuthenticationError(
        'The auth_users table is empty: no one could log in. Add users with `switchyard user add <name> --password <pw> [--admin]` first',
      );
    }
    if (this.authMode === 'hostname') this.trustedHostnames = this.db.hostnames.hostnames();
    let tls: { cert: Buffer; key: Buffer; passphrase?: string | undefined } | undefined;
    if (!o.disableTls) {
      const files = await ensureManagerCertificate({ host: o.host ?? HOSTNAME, certFile: o.certFile, keyFile: o.keyFile, keyPassword: o.keyFilePassword });
      this.certFile = files.certFile;
      tls = { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile), passphrase: o.keyFilePassword };
    }
    try {
      this.listener = await listen({
        host: o.host,
        port: o.port ?? DEFAULT_PORT,
        tls,
        hooks: await resolveHooks(o.hooks),
        onConnection: (conn) => this.accept(conn),
        onRejected: ({ remoteAddress, remotePort, error }) => {
          this.log.info({ remoteAddress, remotePort, err: error.message }, 'connection rejected before the handshake');
        },
      });
    } catch (err) {
      this.closeDb();
      throw err;
    }
    this.port = this.listener.port;
    this.advertised = { host: HOSTNAME, port: this.port };
    if (this.listener.contact !== formatContact(o.host ?? '0.0.0.0', this.port)) {
      // A postListen hook rewrote the contact (e.g. to a gateway in front of this host): that is
      // what the Manager calls itself in prompts and identities.
      const { host, port } = parseContact(this.listener.contact);
      this.advertised = { host, port };
    }
    this.networkName = `Manager[${this.advertised.host}:${this.advertised.port}]`;
    const tlsNote = this.certFile ? ` (certificate ${this.certFile}, SHA-1 fingerprint ${getFingerprint(this.certFile)})` : '';
    this.log.info({ contact: this.listener.contact, tls: !o.disableTls, auth: this.authMode }, `Network Manager running on ${HOSTNAME}:${this.port} using ${o.disableTls ? 'plain TCP' : 'TLS'}${tlsNote}`);
  }

  handle(): ManagerHandle {
    const self = this;
    return {
      get port() {
        return self.port;
      },
      get networkName() {
        return self.networkName;
      },
      get contact() {
        return self.listener.contact;
      },
      get certFile() {
        return self.certFile;
      },
      closed: this.done.promise,
      close: () => this.close(),
      [Symbol.asyncDispose]: () => this.close(),
    };
  }

  private closeDb(): void {
    if (this.ownsDb) this.db.close();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // server.close() resolves only once every connection is gone, so end the peers meanwhile.
      const listenerClosed = this.listener.close();
      const peers = [...this.peers];
      const gone = Promise.all(peers.map((p) => new Promise<void>((resolve) => p.conn.onClose(() => resolve()))));
      for (const peer of peers) peer.conn.end();
      // Bounded: a peer that does not close its side within 2 s is cut off.
      await bounded(gone, 'peers to disconnect', { timeout: 2000 }).catch(() => {
        for (const peer of peers) peer.conn.destroy();
      });
      await listenerClosed;
      this.closeDb();
      this.log.info('Network Manager stopped');
      this.done.resolve();
    })();
    return this.closing;
  }

  // ---------------------------------------------------------------- connections

  private accept(conn: Connection): void {
    const id = this.nextPeerId++;
    conn.pause();
    void resolvePeerAddress(conn.remoteAddress, conn.remotePort).then((where) => {
      if (conn.closed) return;
      const peer = new Peer(id, conn, where, { handshakeBytes: HANDSHAKE_LINE_LIMIT, messageBytes: this.maxMessage }, {
        line: (p, line) => this.onLine(p, line),
        frame: (p, body) => this.onFrame(p, body),
        fault: (p, err) => this.onFault(p, err),
      });
      this.peers.add(peer);
      conn.onClose(() => this.onClosed(peer));
      this.logConnection(peer, 'new connection request');
      conn.resume();
      void this.handshake(peer).catch((err: unknown) => this.onFault(peer, err as Error));
    });
  }

  private logConnection(peer: Peer, message: string): void {
    try {
      this.db.connections.insert({ ipAddress: peer.where.ipAddress, domain: peer.where.domain, port: peer.where.port }, message);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not log a connection event');
    }
  }

  private onFault(peer: Peer, err: Error): void {
    if (peer.state === 'closed') return;
    if (err instanceof MessageTooLargeError) {
      this.log.warn({ peer: peer.networkName, size: err.size, limit: err.limit }, 'message too large; dropping the peer');
      this.sendError(peer, '', pyError('MemoryError', err.message), this.networkName);
      peer.conn.end();
    } else {
      this.log.error({ peer: peer.networkName, err: err.message, stack: err.stack }, 'closing a connection after an internal error');
      peer.conn.destroy();
    }
  }

  private onClosed(peer: Peer): void {
    this.peers.delete(peer);
    this.retire(peer);
  }

  /**
   * Removes a peer from the registry at once (a `__disconnect__` must not leave the entry until
   * the socket's close event); idempotent.
   */
  private retire(peer: Peer): void {
    if (peer.state === 'closed') return;
    const wasHandshaking = peer.state === 'handshake';
    peer.markClosed();
    if (wasHandshaking) return;
    this.closeRelayedChannels(peer);
    this.logConnection(peer, 'disconnected');
    if (peer.kind === 'client') {
      this.cancelCalls(peer, undefined);
      this.registry.removeClient(peer);
      this.log.info(`${peer.networkName} has been removed from the registry`);
    } else if (peer.kind === 'service') {
      const entry = this.registry.removeService(peer);
      const st = this.serviceStates.get(peer);
      this.serviceStates.delete(peer);
      if (entry && st) this.serviceGone(entry, st);
      this.log.info(`${peer.networkName} service has been removed from the registry`);
    }
  }

  /**
   * Sends `CANCEL` to native services for the calls of `client` pending there: call `callId`, or
   * all of them (`undefined`, when the client is gone). Cancels are rare, so this scans the
   * pending calls instead of keeping a reverse index on the routing path.
   */
  private cancelCalls(client: Peer, callId: number | undefined): void {
    for (const [svc, st] of this.serviceStates) {
      // Only services that said they understand it: an older one would take it for a protocol error.
      if (svc.dialect !== 'native' || svc.state === 'closed' || st.pendingNative.size === 0 || !svc.features.has('cancel')) continue;
      for (const [route, call] of st.pendingNative) {
        if (call.client !== client || (callId !== undefined && call.callId !== callId)) continue;
        if (!call.cancelled) {
          call.cancelled = true;
          if (!svc.sendFrame(buildFrame(FrameType.CANCEL, [route], [])) && client.state !== 'closed') client.holdFor(svc);
        }
        if (callId !== undefined) return;
      }
    }
  }

  /** Fails every call pending at a departed service and tells its native clients. */
  private serviceGone(entry: ServiceEntry<Peer>, st: ServiceState): void {
    const fail = (call: PendingCall): void => {
      if (call.client.state === 'closed') return;
      const err = pyError('ConnectionAbortedError', `The ${pyRepr(entry.name)} service disconnected before it replied to ${pyRepr(call.attribute)}`);
      for (let i = 0; i < call.count; i++) this.sendError(call.client, call.uid, err, call.client.networkName, call.callId);
    };
    for (const call of st.pendingJson.values()) fail(call);
    for (const call of st.pendingNative.values()) fail(call);
    st.pendingJson.clear();
    st.pendingNative.clear();
    const event = encodeValue({ event: 'serviceGone', service: entry.name });
    for (const client of entry.links) {
      if (client.dialect === 'native' && client.state !== 'closed') client.sendFrame(buildFrame(FrameType.EVENT, [], [], event));
    }
  }

  // ---------------------------------------------------------------- handshake

  /** The `result` of a handshake line, or the raw text when the line is not such JSON. */
  private handshakeValue(line: Buffer): unknown {
    const text = line.toString('utf8').trim();
    try {
      const data = parseJson(text);
      if (isRecord(data) && 'result' in data) return data['result'];
    } catch {
      // terminal input
    }
    return text;
  }

  private reject(peer: Peer, logMessage: string, err: PyError): void {
    this.logConnection(peer, logMessage);
    this.sendError(peer, '', err, this.networkName);
    peer.conn.end();
  }

  private async handshake(peer: Peer): Promise<void> {
    const t = this.handshakeTimeout;
    if (this.authMode === 'password') {
      peer.sendText(promptLine('password', [this.networkName], this.networkName));
      const line = await peer.nextLine(t);
      if (!line) return this.prematureClose(peer, 'connection closed before receiving the password');
      const pw = this.handshakeValue(line);
      if (typeof pw !== 'string' || !safeEqual(pw, this.options.authPassword as string)) {
        return this.reject(peer, 'rejected: wrong Manager password', pyError('ValueError', 'Wrong Manager password'));
      }
    } else if (this.authMode === 'hostname') {
      if (!this.trustedHostnames.includes(peer.where.hostname)) {
        return this.reject(peer, 'rejected: untrusted hostname', pyError('ValueError', `${pyRepr(peer.where.hostname)} is not a trusted hostname`));
      }
    } else if (this.authMode === 'login') {
      if (!(await this.checkUser(peer))) return;
    }

    peer.sendText(promptLine('identity', [], this.networkName));
    const line = await peer.nextLine(t);
    if (!line) return this.prematureClose(peer, 'connection closed prematurely');
    let identity = this.handshakeValue(line);
    if (typeof identity === 'string') {
      const term = parseTerminalInput(identity);
      identity = term?.kind === 'client' ? { type: 'client', name: term.name } : undefined;
    }
    const err = this.register(peer, identity);
    if (err) return this.reject(peer, 'rejected: invalid identity', err);
    peer.authenticated();
    this.logConnection(peer, `connected as a ${peer.kind}`);
    this.log.info(`${peer.networkName} is a new ${peer.kind === 'client' ? 'Client' : 'Service'} connection`);
    peer.ready();
  }

  private prematureClose(peer: Peer, message: string): void {
    this.logConnection(peer, message);
    peer.conn.destroy();
  }

  /** Asks for a username and password (handshake, or in-band before an admin request). */
  private async checkUser(peer: Peer): Promise<boolean> {
    peer.sendText(promptLine('username', [this.networkName], this.networkName));
    const uLine = await peer.nextLine(this.handshakeTimeout);
    if (!uLine) {
      this.prematureClose(peer, 'connection closed before receiving the username');
      return false;
    }
    const username = this.handshakeValue(uLine);
    if (typeof username !== 'string' || !this.db.users.isUserRegistered(username)) {
      this.reject(peer, 'rejected: unregistered user', pyError('ValueError', 'Unregistered user'));
      return false;
    }
    peer.sendText(promptLine('password', [username], this.networkName));
    const pLine = await peer.nextLine(this.handshakeTimeout);
    if (!pLine) {
      this.prematureClose(peer, 'connection closed before receiving the password');
      return false;
    }
    const password = this.handshakeValue(pLine);
    // PBKDF2 runs on the thread pool: a login never stalls other peers' traffic.
    if (typeof password === 'string' && (await this.db.users.verifyPassword(username, password))) {
      peer.isAdmin = this.db.users.isAdmin(username);
      return true;
    }
    this.reject(peer, 'rejected: wrong login password', pyError('ValueError', 'Wrong login password'));
    return false;
  }

  /** Validates an identity and registers the peer; returns an msl-network error on failure. */
  private register(peer: Peer, identity: unknown): PyError | undefined {
    if (!isRecord(identity)) return pyError('TypeError', 'The identity must be a JSON object with "type" and "name"');
    const name = identity['name'];
    if (name === undefined) return pyError('KeyError', 'name');
    if (typeof name !== 'string' || name === '') return pyError('TypeError', 'The identity "name" must be a non-empty string');
    const type = identity['type'];
    if (type === undefined) return pyError('KeyError', 'type');
    const typ = String(type).toLowerCase();
    const language = typeof identity['language'] === 'string' ? identity['language'] : 'unknown';
    const osName = typeof identity['os'] === 'string' ? identity['os'] : 'unknown';
    const sy = identity['switchyard'];
    const offersNative = isRecord(sy) && Array.isArray(sy['dialects']) && sy['dialects'].includes(NATIVE_DIALECT);
    if (isRecord(sy) && Array.isArray(sy['features'])) {
      peer.features = new Set(sy['features'].filter((f): f is string => typeof f === 'string').slice(0, 32));
    }
    if (typ === 'client') {
      peer.networkName = `${name}[${peer.address}]`;
      peer.name = name;
      peer.kind = 'client';
      this.registry.addClient(peer, { name, address: peer.address, language, os: osName });
    } else if (typ === 'service') {
      const attributes = identity['attributes'];
      if (attributes === undefined) return pyError('KeyError', 'attributes');
      if (!isRecord(attributes)) return pyError('TypeError', 'The identity "attributes" must be an object');
      const mc = identity['max_clients'];
      const max_clients = typeof mc === 'number' && Number.isInteger(mc) ? mc : -1;
      const info: ServiceInfo = { attributes, address: peer.address, language, os: osName, max_clients };
      const added = this.registry.addService(peer, name, info);
      if (!added.ok) return added.error;
      peer.networkName = `${name}[${peer.address}]`;
      peer.name = name;
      peer.kind = 'service';
      const entry = this.registry.services.get(name) as ServiceEntry<Peer>;
      this.serviceStates.set(peer, { entry, pendingJson: new Map(), pendingNative: new Map(), nextRoute: 1 });
    } else {
      return pyError('TypeError', `Unknown connection type ${pyRepr(typ)}. Must be "client" or "service"`);
    }
    peer.language = language;
    peer.os = osName;
    peer.nativeOffered = offersNative;
    return undefined;
  }

  // ---------------------------------------------------------------- replies to a peer

  /** Sends an error to `peer` in its dialect. Native peers get an ERROR frame for `callId`. */
  private sendError(peer: Peer, uid: string, err: PyError, requester: string | null, callId = 0): void {
    if (peer.dialect === 'native') {
      peer.sendFrame(buildFrame(FrameType.ERROR, [callId], [], encodeValue([err.name, err.text, err.traceback ?? []])));
    } else {
      peer.sendText(errorLine(requester, err, uid));
    }
  }

  private sendOutcome(peer: Peer, uid: string, callId: number, outcome: Outcome): void {
    if (outcome.ok) {
      if (peer.dialect === 'native') peer.sendFrame(buildFrame(FrameType.REPLY, [callId], [], encodeValue(outcome.result)));
      else peer.sendText(managerResultLine(peer.networkName, outcome.result, uid));
    } else {
      this.sendError(peer, uid, outcome.error, peer.networkName, callId);
    }
  }

  // ---------------------------------------------------------------- JSON dialect

  private onLine(peer: Peer, line: Buffer): void | Promise<void> {
    if (peer.state !== 'ready') return;
    const text = line.toString('utf8');
    let data: unknown;
    try {
      data = parseJson(text);
    } catch (err) {
      const term = parseTerminalInput(text);
      if (!term) {
        this.sendError(peer, '', pyError('JSONDecodeError', (err as Error).message), peer.networkName);
        return;
      }
      return this.onTerminal(peer, term);
    }
    if (!isRecord(data)) {
      this.sendError(peer, '', pyError('TypeError', 'A message must be a JSON object'), peer.networkName);
      return;
    }
    if ('result' in data) return this.onJsonReply(peer, line, data);
    const uid = typeof data['uid'] === 'string' ? data['uid'] : '';
    const service = data['service'];
    const attribute = data['attribute'];
    if (typeof service !== 'string' || typeof attribute !== 'string') {
      const missing = typeof service !== 'string' ? 'service' : 'attribute';
      this.sendError(peer, uid, pyError('KeyError', `A request needs a string ${pyRepr(missing)}`), peer.networkName);
      return;
    }
    const args = Array.isArray(data['args']) ? data['args'] : [];
    const kwargs = isRecord(data['kwargs']) ? data['kwargs'] : {};
    if (service === 'Manager') return this.managerRequest(peer, attribute, args, kwargs, uid, 0);
    if (attribute === '__disconnect__') {
      this.retire(peer);
      peer.conn.end();
      return;
    }
    this.routeRequest(peer, service, attribute, uid, 0, { kind: 'json', line, args, kwargs });
  }

  private onTerminal(peer: Peer, term: NonNullable<ReturnType<typeof parseTerminalInput>>): void | Promise<void> {
    switch (term.kind) {
      case 'identity':
        return this.managerRequest(peer, 'identity', [], {}, '', 0);
      case 'link':
        return this.managerRequest(peer, 'link', [term.service], {}, '', 0);
      case 'disconnect':
        this.retire(peer);
        peer.conn.end();
        return;
      case 'client':
        this.sendError(peer, '', pyError('ValueError', 'Already identified'), peer.networkName);
        return;
      case 'request':
        if (term.service === 'Manager') return this.managerRequest(peer, term.attribute, term.args, term.kwargs, '', 0);
        this.routeRequest(peer, term.service, term.attribute, '', 0, { kind: 'values', args: term.args, kwargs: term.kwargs });
        return;
    }
  }

  /** A reply or notification in JSON from `peer` (accepted only from the right service). */
  private onJsonReply(peer: Peer, line: Buffer, data: Record<string, unknown>): void {
    const st = this.serviceStates.get(peer);
    if (!st) {
      this.log.warn({ peer: peer.networkName }, 'dropped a reply or notification sent by a client');
      return;
    }
    const uid = data['uid'];
    if (uid === 'notification') {
      if (data['service'] !== st.entry.name) {
        this.log.warn({ peer: peer.networkName, claimed: data['service'] }, 'dropped a notification claiming another service');
        return;
      }
      const result = data['result'];
      let frame: ReturnType<typeof buildFrame> | undefined;
      for (const client of st.entry.links) {
        if (client.dialect === 'native') {
          frame ??= buildFrame(FrameType.NOTIFY, [], [st.entry.name], encodeValue(Array.isArray(result) ? result : [[result], {}]));
          if (!client.sendFrame(frame)) peer.holdFor(client);
        } else if (!client.sendBytes(Buffer.concat([line, CRLF]))) peer.holdFor(client);
      }
      return;
    }
    const requester = data['requester'];
    if (typeof requester !== 'string' || typeof uid !== 'string') {
      this.log.info({ peer: peer.networkName }, 'dropped a reply without requester or uid');
      return;
    }
    const key = `${uid}\0${requester}`;
    const call = st.pendingJson.get(key);
    if (!call) {
      this.log.warn({ peer: peer.networkName, requester, uid }, 'dropped a reply to no pending request');
      return;
    }
    if (--call.count === 0) st.pendingJson.delete(key);
    const client = call.client;
    if (client.state === 'closed') return;
    let ok: boolean;
    if (client.dialect === 'json') {
      ok = client.sendBytes(Buffer.concat([line, CRLF]));
    } else if (data['error'] === true) {
      const { name, text } = splitPyMessage(String(data['message'] ?? ''));
      const tb = Array.isArray(data['traceback']) ? data['traceback'].map(String) : [];
      ok = client.sendFrame(buildFrame(FrameType.ERROR, [call.callId], [], encodeValue([name, text, tb])));
    } else {
      ok = client.sendFrame(buildFrame(FrameType.REPLY, [call.callId], [], encodeValue(data['result'])));
    }
    if (!ok) peer.holdFor(client);
  }

  // ---------------------------------------------------------------- routing requests

  private routeRequest(
    client: Peer,
    service: string,
    attribute: string,
    uid: string,
    callId: number,
    body: { kind: 'json'; line: Buffer; args: unknown[]; kwargs: Record<string, unknown> } | { kind: 'values'; args: unknown[]; kwargs: Record<string, unknown> } | { kind: 'native'; payload: Buffer },
  ): void {
    const entry = this.registry.services.get(service);
    if (!entry) {
      this.sendError(client, uid, pyError('KeyError', `the ${pyRepr(service)} Service is not connected to ${this.networkName}`), client.networkName, callId);
      return;
    }
    if (!entry.links.has(client)) {
      const why = entry.locks.size > 0 ? `the ${pyRepr(service)} service is locked by another client` : `it is not linked with the ${pyRepr(service)} service (link first)`;
      this.sendError(client, uid, pyError('PermissionError', `${client.networkName} cannot send a request to ${pyRepr(service)}: ${why}`), client.networkName, callId);
      return;
    }
    const svc = entry.peer;
    const st = this.serviceStates.get(svc) as ServiceState;
    const limit = this.options.maxPendingPerService ?? 65_536;
    if (st.pendingNative.size + st.pendingJson.size >= limit) {
      this.sendError(client, uid, pyError('RuntimeError', `The ${pyRepr(service)} service has ${limit} requests awaiting a reply; try again later`), client.networkName, callId);
      return;
    }
    let ok: boolean;
    if (svc.dialect === 'native') {
      const route = st.nextRoute;
      st.nextRoute = route >= 0xffffffff ? 1 : route + 1;
      st.pendingNative.set(route, { client, uid, callId, attribute, count: 1 });
      const payload = body.kind === 'native' ? body.payload : encodeValue([body.args, body.kwargs]);
      ok = svc.sendFrame(buildFrame(FrameType.REQUEST, [route, client.isAdmin ? REQUEST_FLAG_ADMIN : 0], [client.networkName, attribute], payload));
    } else {
      const wireUid = client.dialect === 'native' ? `sy-${callId}` : uid;
      const key = `${wireUid}\0${client.networkName}`;
      const existing = st.pendingJson.get(key);
      if (existing) existing.count++;
      else st.pendingJson.set(key, { client, uid: wireUid, callId, attribute, count: 1 });
      if (body.kind === 'json') {
        // Append the requester to the client's own text (as msl-network does, key last).
        const end = body.line.lastIndexOf(0x7d);
        ok = svc.sendBytes(Buffer.concat([body.line.subarray(0, end), Buffer.from(`, "requester": ${JSON.stringify(client.networkName)}}\r\n`)]));
      } else {
        let args: unknown[];
        let kwargs: Record<string, unknown>;
        if (body.kind === 'native') {
          const v = decodeValue(body.payload);
          [args, kwargs] = Array.isArray(v) ? [Array.isArray(v[0]) ? v[0] : [], isRecord(v[1]) ? v[1] : {}] : [[], {}];
        } else {
          ({ args, kwargs } = body);
        }
        ok = svc.sendText(requestLine(service, attribute, args, kwargs, wireUid, client.networkName));
      }
    }
    if (!ok) client.holdFor(svc);
  }

  // ---------------------------------------------------------------- Manager requests

  private managerRequest(peer: Peer, attribute: string, args: unknown[], kwargs: Record<string, unknown>, uid: string, callId: number): void | Promise<void> {
    const svcArg = (): string | undefined => (typeof args[0] === 'string' ? args[0] : undefined);
    const needService = (): Outcome => ({ ok: false, error: pyError('TypeError', `${attribute}() missing 1 required positional argument: 'service'`) });
    switch (attribute) {
      case 'identity': {
        const identity: Record<string, unknown> = this.identity();
        const switching = peer.nativeOffered && peer.dialect === 'json';
        if (switching) identity['switchyard'] = { dialect: NATIVE_DIALECT, version: VERSION, networkName: peer.networkName };
        this.sendOutcome(peer, uid, callId, { ok: true, result: identity });
        if (switching) {
          peer.nativeOffered = false;
          peer.switchToNative();
        }
        return;
      }
      case 'link': {
        const s = svcArg();
        this.sendOutcome(peer, uid, callId, s === undefined ? needService() : this.registry.link(peer, s));
        return;
      }
      case 'unlink': {
        const s = svcArg();
        this.sendOutcome(peer, uid, callId, s === undefined ? needService() : this.registry.unlink(peer, s));
        return;
      }
      case 'acquire_lock': {
        const s = svcArg();
        const shared = kwargs['shared'] ?? args[1];
        if (s === undefined) return this.sendOutcome(peer, uid, callId, needService());
        if (typeof shared !== 'boolean') {
          return this.sendOutcome(peer, uid, callId, { ok: false, error: pyError('KeyError', 'shared') });
        }
        this.sendOutcome(peer, uid, callId, this.registry.acquireLock(peer, s, shared));
        return;
      }
      case 'release_lock': {
        const s = svcArg();
        this.sendOutcome(peer, uid, callId, s === undefined ? needService() : this.registry.releaseLock(peer, s));
        return;
      }
      case '__login__':
        return this.nativeLogin(peer, args, uid, callId);
      default:
        return this.adminRequest(peer, attribute, args, kwargs, uid, callId);
    }
  }

  /** The Manager's identity (msl-network's layout, with our language). */
  private identity(): Record<string, unknown> {
    return {
      hostname: this.advertised.host,
      port: this.advertised.port,
      attributes: { identity: '() -> dict', link: '(service: str) -> bool' },
      language: LANGUAGE,
      os: OS_NAME,
      clients: this.registry.clientsInfo(),
      services: this.registry.servicesInfo(),
    };
  }

  /** Native peers log in for admin requests with `Manager.__login__(username, password)`. */
  private async nativeLogin(peer: Peer, args: unknown[], uid: string, callId: number): Promise<void> {
    const [username, password] = args;
    if (typeof username !== 'string' || typeof password !== 'string' || !(await this.db.users.verifyPassword(username, password))) {
      this.logConnection(peer, 'rejected: wrong login password');
      this.sendOutcome(peer, uid, callId, { ok: false, error: pyError('ValueError', 'Wrong login password') });
      return;
    }
    peer.isAdmin = this.db.users.isAdmin(username);
    this.sendOutcome(peer, uid, callId, { ok: true, result: peer.isAdmin });
  }

  private async adminRequest(peer: Peer, attribute: string, args: unknown[], kwargs: Record<string, unknown>, uid: string, callId: number): Promise<void> {
    if (!peer.isAdmin) {
      if (peer.dialect === 'native') {
        this.sendOutcome(peer, uid, callId, { ok: false, error: pyError('PermissionError', 'You must be an administrator to send this request to the Manager (log in with Manager.__login__ first)') });
        return;
      }
      if (!(await this.checkUser(peer))) return;
      if (!peer.isAdmin) {
        this.sendError(peer, uid, pyError('ValueError', 'You must be an administrator to send this request to the Manager'), peer.networkName, callId);
        return;
      }
    }
    if (attribute === 'shutdown_manager') {
      this.log.info(`${peer.networkName} requested the Manager to shut down`);
      void this.close();
      return;
    }
    let outcome: Outcome;
    try {
      outcome = { ok: true, result: this.adminCall(attribute, args, kwargs) };
    } catch (err) {
      if (err instanceof AdminError) outcome = { ok: false, error: err.pyError };
      else if (err instanceof SwitchyardError) outcome = { ok: false, error: pyError(pythonExceptionName(err), err.message) };
      else throw err;
    }
    this.sendOutcome(peer, uid, callId, outcome);
  }

  /** The admin allow-list: msl-network's useful attributes, nothing else. */
  private adminCall(attribute: string, args: unknown[], kwargs: Record<string, unknown>): unknown {
    switch (attribute) {
      case 'port':
        return this.port;
      case 'password':
        return this.options.authPassword ?? null;
      case 'login':
        return this.authMode === 'login' ? true : null;
      case 'hostnames':
        return this.authMode === 'hostname' ? this.trustedHostnames : null;
      case 'clients':
        return this.registry.clientsInfo();
      case 'services':
        return this.registry.servicesInfo();
      case 'identity':
        return this.identity();
      case 'set_logging_level': {
        const level = args[0] ?? kwargs['level'];
        const pinoLevel = typeof level === 'string' ? toPinoLevel(level) : undefined;
        if (!pinoLevel) return false;
        this.log.level = pinoLevel;
        return true;
      }
      default: {
        const fn = this.adminApi()[attribute];
        if (!fn) throw new AdminError(pyError('AttributeError', `'Manager' object has no attribute ${pyRepr(attribute)}`));
        return fn(args, kwargs);
      }
    }
  }

  private adminApiCache: ReturnType<typeof adminTableApi> | undefined;
  private adminApi(): ReturnType<typeof adminTableApi> {
    return (this.adminApiCache ??= adminTableApi(this.db));
  }

  // ---------------------------------------------------------------- relayed channels

  /**
   * A client opens a channel to a service: the same rules as requests (the service exists, the
   * client is linked), then the open goes to the service under an id of the Manager's choosing.
   * Credit frames pass through untouched, so flow control is end to end.
   */
  private openRelayedChannel(peer: Peer, body: Buffer): void {
    const r = new FrameReader(body);
    const id = r.u32();
    const window = r.u32();
    const flags = r.u32();
    if (flags & CH_OPEN_FLAG_CREDITED) r.u32();
    const target = r.str();
    const meta = r.rest();
    const refuse = (err: PyError): void => {
      peer.sendFrame(buildFrame(FrameType.CH_CLOSE, [id], [], channelError(err)));
    };
    if (flags & CH_OPEN_FLAG_REF) return refuse(pyError('ProtocolError', 'Channels cannot travel inside items through the Manager'));
    // The client cannot know the service's window, and the service must not see a flag it did not agree to.
    if (flags & CH_OPEN_FLAG_CREDITED) return refuse(pyError('ProtocolError', 'Pre-credited channel opens are not relayed by the Manager'));
    if (flags !== 0) return refuse(pyError('ProtocolError', `Unknown channel open flags ${flags}`));
    if (peer.channels.has(id)) return refuse(pyError('ProtocolError', `Channel ${id} is already open`));
    if (peer.kind === 'service') return this.openChannelToClient(peer, id, window, target, meta, refuse);
    if (peer.kind !== 'client') return refuse(pyError('PermissionError', 'Only clients and services open channels through the Manager'));
    const entry = this.registry.services.get(target);
    if (!entry) return refuse(pyError('KeyError', `the ${pyRepr(target)} Service is not connected to ${this.networkName}`));
    if (!entry.links.has(peer)) {
      return refuse(pyError('PermissionError', `${peer.networkName} cannot open a channel to ${pyRepr(target)}: it is not linked with the ${pyRepr(target)} service (link first)`));
    }
    const svc = entry.peer;
    if (svc.dialect !== 'native') return refuse(pyError('ProtocolError', `The ${pyRepr(target)} service speaks msl-network JSON lines, which have no channels`));
    this.relayOpen(peer, id, svc, window, peer.networkName, meta);
  }

  /**
   * A service opens a channel to one of its linked clients, named by its network name (as in
   * `this.request.requester`). The client sees it opened by the service's name.
   */
  private openChannelToClient(svc: Peer, id: number, window: number, target: string, meta: Buffer, refuse: (err: PyError) => void): void {
    const st = this.serviceStates.get(svc);
    const entry = st?.entry;
    if (!entry) return refuse(pyError('PermissionError', 'The service is not registered'));
    let client: Peer | undefined;
    for (const c of entry.links) if (c.networkName === target) client = c;
    if (!client || client.state === 'closed') {
      return refuse(pyError('PermissionError', `The ${pyRepr(entry.name)} service cannot open a channel to ${pyRepr(target)}: no linked client has that name`));
    }
    if (client.dialect !== 'native') return refuse(pyError('ProtocolError', `${target} speaks msl-network JSON lines, which have no channels`));
    this.relayOpen(svc, id, client, window, entry.name, meta);
  }

  /**
   * Opens the far end of a relayed channel: `from`'s channel `id` becomes a channel of the next
   * free even id on `to`'s connection (the Manager accepted it, so it uses even ids there),
   * announced to `to` as opened by `openerName`.
   */
  private relayOpen(from: Peer, id: number, to: Peer, window: number, openerName: string, meta: Buffer): void {
    let tid = to.nextChannelId;
    while (to.channels.has(tid)) tid = tid >= 0xfffffffe ? 2 : tid + 2;
    to.nextChannelId = tid >= 0xfffffffe ? 2 : tid + 2;
    from.channels.set(id, { peer: to, id: tid });
    to.channels.set(tid, { peer: from, id });
    if (!to.sendFrame(buildFrame(FrameType.CH_OPEN, [tid, window, 0], [openerName], meta))) from.holdFor(to);
  }

  /** Forwards CH_DATA, CH_CREDIT and CH_CLOSE to the other end, translating only the channel id. */
  private relayChannelFrame(peer: Peer, body: Buffer): void {
    if (body.length < 5) throw new ProtocolError('Truncated channel frame');
    const id = body.readUInt32BE(1);
    const route = peer.channels.get(id);
    if (!route) return; // closed or unknown: dropped, as a channel endpoint would
    if (body[0] === FrameType.CH_CLOSE) {
      peer.channels.delete(id);
      route.peer.channels.delete(route.id);
    }
    if (route.peer.state !== 'closed') this.forwardRenumbered(peer, route.peer, body, route.id);
  }

  /**
   * Forwards a frame whose first field is an id (REPLY, ERROR, channel frames) with that id
   * replaced, without copying or decoding the rest.
   */
  private forwardRenumbered(from: Peer, dest: Peer, body: Buffer, id: number): void {
    const head = Buffer.allocUnsafe(9);
    head.writeUInt32BE(body.length, 0);
    head[4] = body[0] as number;
    head.writeUInt32BE(id, 5);
    let ok = dest.sendBytes(head);
    if (body.length > 5) ok = dest.sendBytes(body.subarray(5));
    if (!ok) from.holdFor(dest);
  }

  /** A peer left: every channel relayed for it ends at the other side with a clear error. */
  private closeRelayedChannels(peer: Peer): void {
    for (const route of peer.channels.values()) {
      route.peer.channels.delete(route.id);
      if (route.peer.state !== 'closed') {
        route.peer.sendFrame(buildFrame(FrameType.CH_CLOSE, [route.id], [], channelError(pyError('ConnectionAbortedError', `${peer.networkName} disconnected`))));
      }
    }
    peer.channels.clear();
  }

  // ---------------------------------------------------------------- native dialect

  private onFrame(peer: Peer, body: Buffer): void | Promise<void> {
    if (body[0] === FrameType.REPLY && body.length >= 5) {
      // Every call between native peers ends here: skip the reader and the switch (measurably
      // faster with 100 calls in flight); anything unusual takes the general path below.
      const st = this.serviceStates.get(peer);
      const route = body.readUInt32BE(1);
      const call = st?.pendingNative.get(route);
      if (st && call && call.client.dialect === 'native') {
        st.pendingNative.delete(route);
        if (call.client.state !== 'closed') this.forwardRenumbered(peer, call.client, body, call.callId);
        return;
      }
    }
    const r = new FrameReader(body);
    switch (r.type) {
      case FrameType.REQUEST: {
        const callId = r.u32();
        const service = r.str();
        const attribute = r.str();
        const payload = r.rest();
        if (service === 'Manager') {
          const v = decodeValue(payload);
          const [args, kwargs] = Array.isArray(v) ? [Array.isArray(v[0]) ? (v[0] as unknown[]) : [], isRecord(v[1]) ? v[1] : {}] : [[], {}];
          return this.managerRequest(peer, attribute, args, kwargs, '', callId);
        }
        // The payload shares memory with the received chunk, which nothing reuses: forward it without a copy.
        this.routeRequest(peer, service, attribute, '', callId, { kind: 'native', payload });
        return;
      }
      case FrameType.REPLY:
      case FrameType.ERROR: {
        const st = this.serviceStates.get(peer);
        const route = r.u32();
        const call = st?.pendingNative.get(route);
        if (!st || !call) {
          this.log.warn({ peer: peer.networkName, route }, 'dropped a native reply to no pending request');
          return;
        }
        st.pendingNative.delete(route);
        const client = call.client;
        if (client.state === 'closed') return;
        const payload = r.rest();
        if (client.dialect === 'native') {
          this.forwardRenumbered(peer, client, body, call.callId);
          return;
        }
        let ok: boolean;
        if (r.type === FrameType.REPLY) {
          ok = client.sendText(serviceResultLine(client.networkName, decodeValue(payload), call.uid));
        } else {
          const v = decodeValue(payload);
          const [name, text, tb] = Array.isArray(v) ? v : ['Error', String(v), []];
          ok = client.sendText(errorLine(client.networkName, { name: String(name), text: String(text), traceback: Array.isArray(tb) ? tb.map(String) : [] }, call.uid));
        }
        if (!ok) peer.holdFor(client);
        return;
      }
      case FrameType.NOTIFY: {
        const st = this.serviceStates.get(peer);
        if (!st) {
          this.log.warn({ peer: peer.networkName }, 'dropped a notification sent by a client');
          return;
        }
        r.str();
        const payload = r.rest();
        let frame: ReturnType<typeof buildFrame> | undefined;
        let line: string | undefined;
        for (const client of st.entry.links) {
          let ok: boolean;
          if (client.dialect === 'native') {
            frame ??= buildFrame(FrameType.NOTIFY, [], [st.entry.name], payload);
            ok = client.sendFrame(frame);
          } else {
            if (line === undefined) {
              const v = decodeValue(payload);
              const [a, k] = Array.isArray(v) ? v : [[v], {}];
              line = notificationLine(st.entry.name, Array.isArray(a) ? a : [a], isRecord(k) ? k : {});
            }
            ok = client.sendText(line);
          }
          if (!ok) peer.holdFor(client);
        }
        return;
      }
      case FrameType.CANCEL:
        // The caller gave up on its call `id`: tell a native service (its method's
        // `this.request.signal` aborts). A late reply still travels and the client drops it.
        this.cancelCalls(peer, r.u32());
        return;
      case FrameType.CH_OPEN:
        this.openRelayedChannel(peer, body);
        return;
      case FrameType.CH_DATA:
      case FrameType.CH_CREDIT:
      case FrameType.CH_CLOSE:
        this.relayChannelFrame(peer, body);
        return;
      default:
        this.sendError(peer, '', pyError('ProtocolError', `Unknown native frame type ${r.type}`), peer.networkName);
        return;
    }
  }
}

const CRLF = Buffer.from('\r\n');

function channelError(err: PyError): Buffer {
  return encodeValue([err.name, err.text, []]);
}

/** An msl-style error raised by the admin allow-list. */
class AdminError extends SwitchyardError {
  constructor(readonly pyError: PyError) {
    super('SWITCHYARD_ERR_ADMIN', `${pyError.name}: ${pyError.text}`);
  }
}

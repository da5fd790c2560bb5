/**
 * One peer's connection to a Manager, as clients and services share it: answers the Manager's
 * prompts, negotiates the native dialect (falling back to msl-network JSON lines with a Python
 * Manager), sends calls and matches replies, and delivers requests, notifications and events.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import os from 'node:os';
import {
  AuthenticationError,
  ConnectError,
  ConnectionClosedError,
  ProtocolError,
  QueueFullError,
  RemoteError,
  SwitchyardError,
  TlsError,
  type SwitchyardErrorOptions,
} from '../errors.ts';
import type { Connection } from '../transport/connection.ts';
import { connect, fetchServerCertificate } from '../transport/tcp.ts';
import { getFingerprint } from '../transport/certs.ts';
import { resolveHooks, type HooksOption } from '../transport/default-hooks.ts';
import { ChannelMux, type Channel } from '../channel/index.ts';
import { homePaths } from '../util/home.ts';
import { localhostAliases } from '../util/host.ts';
import { bounded, guardTimer, type WaitOptions } from '../util/timers.ts';
import { VERSION } from '../version.ts';
import { assertEncodable, decodeValue, encodeValue, encodeValueChunks } from '../wire/codec.ts';
import { FrameSplitter } from '../wire/frames.ts';
import { parseJson, toPythonJson } from '../wire/json.ts';
import { LineSplitter } from '../wire/line-splitter.ts';
import { errorLine, notificationLine, serviceResultLine, splitPyMessage } from '../wire/msl-format.ts';
import { buildFrame, FrameReader, FrameType, NATIVE_DIALECT, REQUEST_FLAG_ADMIN, type OutFrame } from '../wire/protocol.ts';

/** The language string Switchyard peers put in their identity. */
export const LANGUAGE = `Switchyard ${VERSION} (Node.js ${process.version})`;
/** The os string, in msl-network's layout. */
export const OS_NAME = `${os.type()} ${os.release()} ${os.machine()}`;

/** How to reach and authenticate with a Manager (msl-network's `connect()` options, camelCase). */
export interface ManagerConnectOptions {
  /** Default `localhost`. */
  host?: string | undefined;
  /** Default 1875. */
  port?: number | undefined;
  /** Milliseconds for connecting and the handshake (default 10 000). */
  timeout?: number | undefined;
  /** Login name, when the Manager asks for one. */
  username?: string | undefined;
  /** Login password, when the Manager asks for one. */
  password?: string | undefined;
  /** The Manager's password (`--auth-password`), when it asks for one. */
  passwordManager?: string | undefined;
  /** Plain TCP instead of TLS. */
  disableTls?: boolean | undefined;
  /** The Manager's certificate (or a CA) to trust. Default `$SWITCHYARD_HOME/certs/<host>.crt`. */
  certFile?: string | undefined;
  /** Check that the certificate names the host (default true). */
  assertHostname?: boolean | undefined;
  /** Trust and save the Manager's certificate on first use without asking. */
  autoSave?: boolean | undefined;
  /** Largest message accepted from the Manager (default 256 MiB). */
  readLimit?: number | undefined;
  /** `auto` (default) negotiates the native dialect; `json` always speaks msl-network JSON lines. */
  dialect?: 'auto' | 'json' | undefined;
  /** Most calls awaiting a reply at once (default 65,536); more reject with `QueueFullError`. */
  maxPendingCalls?: number | undefined;
  /** Network-manager hooks for this connection (default: the process's configured chain). */
  hooks?: HooksOption | undefined;
  signal?: AbortSignal | undefined;
}

/** A request delivered to a service. */
export interface IncomingRequest {
  readonly attribute: string;
  readonly args: unknown[];
  readonly kwargs: Record<string, unknown>;
  /** The client's network name, `name[host:port]`. */
  readonly requester: string;
  /** True when the Manager says the requester is logged in as an administrator. */
  readonly requesterIsAdmin: boolean;
  /** @internal reply routing */
  readonly route: number;
  /** @internal JSON uid */
  readonly uid: string;
}

/** Handlers for what arrives without being asked for. */
export interface SessionHandlers {
  onRequest?(req: IncomingRequest): void;
  /** The Manager says the caller of request `route` gave up (native dialect; services). */
  onCancel?(route: number): void;
  onNotification?(service: string, args: unknown[], kwargs: Record<string, unknown>): void;
  onEvent?(event: Record<string, unknown>): void;
  onClose?(err: Error | undefined): void;
  /** A peer opened a channel to us through the Manager (services); `requester` names the client. */
  onChannel?(channel: Channel, meta: unknown, requester: string): void;
}

interface PendingCall {
  id: number;
  service: string;
  attribute: string;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

const MANAGER_NAME_RE = /^Manager\[\S+:\d+]$/;
/** Default bound on calls awaiting a reply per connection. */
export const DEFAULT_MAX_PENDING_CALLS = 65_536;
const NOT_CONNECTED_RE = /the '(.*)' Service is not connected to/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Converts an msl-network error object into a {@link RemoteError}. */
function remoteErrorFrom(origin: string, message: string, traceback: unknown): RemoteError {
  const { name, text } = splitPyMessage(message);
  const tb = Array.isArray(traceback) ? traceback.map(String) : [];
  return new RemoteError(origin, name, text, tb);
}

/** Reads or obtains the Manager certificate to trust (msl-network's trust-on-first-use flow). */
async function trustedCertificate(host: string, port: number, o: ManagerConnectOptions, timeoutMs: number): Promise<{ ca: string; file: string }> {
  const file = o.certFile ?? homePaths.cert(host);
  if (existsSync(file)) return { ca: readFileSync(file, 'utf8'), file };
  if (o.certFile !== undefined) throw new TlsError(`The certificate file ${o.certFile} does not exist`, o.certFile);
  const pem = await fetchServerCertificate(host, port, timeoutMs);
  // The same form the Manager prints at startup, so a user can compare them.
  const fingerprint = getFingerprint(pem);
  if (!o.autoSave) {
    throw new TlsError(
      `The certificate of ${host}:${port} is not trusted yet (SHA-1 fingerprint ${fingerprint}).\n` +
        `If you trust this Manager, connect once with autoSave: true (it is saved to ${file}), ` +
        `or pass certFile pointing at the Manager's certificate.`,
      file,
    );
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, pem);
  return { ca: pem, file };
}

/** Rewrites a low-level connect failure into msl-network's advice. */
function connectAdvice(err: unknown, host: string, port: number, o: ManagerConnectOptions, certFile: string | undefined): Error {
  if (err instanceof TlsError || err instanceof AuthenticationError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  const cause = err instanceof ConnectError && err.cause !== undefined ? err.cause : err;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? '';
  let advice = '';
  if (code === 'ECONNREFUSED') {
    advice = localhostAliases().includes(host) ? '\nMake sure a Manager is running on this computer' : `\nCannot connect to ${host}:${port}`;
  } else if (/WRONG_VERSION_NUMBER|UNKNOWN_PROTOCOL|wrong version number|packet length too long/i.test(msg)) {
    advice = '\nTry setting disableTls: true';
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /altnames|does not match/i.test(msg)) {
    advice = `\nTo disable hostname checking set assertHostname: false\nMake sure you trust the connection to ${host}:${port} if you decide to do this.`;
  } else if (/self[- ]signed|unable to verify|certificate/i.test(msg)) {
    advice = `\nPerhaps the Network Manager is using a new certificate.\nIf you trust the connection to ${host}:${port}, you can delete the certificate at\n  ${certFile ?? '(none)'}\nand then re-connect to create a new trusted certificate.`;
  }
  void o;
  return new ConnectError(host, port, msg + advice, { cause });
}

/** A connection to a Manager (see the module doc). */
export class Session {
  /** The dialect in use after the handshake. */
  dialect: 'json' | 'native' = 'json';
  /** Our network name as the Manager knows it, `name[host:port]`. */
  networkName = '';
  /** `Manager[host:port]` */
  managerName = '';
  /** The Manager's identity as received during the handshake. */
  managerIdentity: Record<string, unknown> = {};
  /** True once the connection is gone. */
  closed = false;

  private readonly lines: LineSplitter;
  private frames: FrameSplitter | undefined;
  private mux: ChannelMux | undefined;
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 1;
  private handlers: SessionHandlers = {};
  private closeError: Error | undefined;
  private readonly closeWaiters: Array<() => void> = [];
  private handshakeStep: ((msg: Record<string, unknown> | Error) => void) | undefined;

  private constructor(
    private readonly conn: Connection,
    private readonly options: ManagerConnectOptions,
    private readonly host: string,
    private readonly port: number,
  ) {
    const limit = options.readLimit ?? 256 * 1024 * 1024;
    this.lines = new LineSplitter(limit);
    conn.onData((chunk) => this.receive(chunk));
    conn.onClose((err) => this.onClosed(err));
  }

  /**
   * Connects, authenticates and identifies. Resolves when the Manager has accepted the identity;
   * rejects with {@link ConnectError}, {@link AuthenticationError} or {@link TlsError} (with
   * msl-network's advice in the message), or a timeout.
   */
  static async open(identity: Record<string, unknown>, options: ManagerConnectOptions, handlers: SessionHandlers = {}): Promise<Session> {
    const host = options.host ?? 'localhost';
    const port = options.port ?? 1875;
    const timeoutMs = options.timeout ?? 10_000;
    let certFile: string | undefined;
    let conn: Connection;
    try {
      let tls: { ca: string; checkHostname: boolean } | undefined;
      if (!options.disableTls) {
        const trusted = await trustedCertificate(host, port, options, timeoutMs);
        certFile = trusted.file;
        tls = { ca: trusted.ca, checkHostname: options.assertHostname !== false };
      }
      conn = await connect({ host, port, tls, hooks: await resolveHooks(options.hooks), timeoutMs, signal: options.signal });
    } catch (err) {
      throw connectAdvice(err, host, port, options, certFile);
    }
    const session = new Session(conn, options, host, port);
    try {
      await bounded(session.handshake(identity), `the handshake with ${host}:${port}`, { timeout: timeoutMs, signal: options.signal });
    } catch (err) {
      conn.destroy();
      if (err instanceof SwitchyardError && err.code === 'SWITCHYARD_ERR_TIMEOUT') {
        throw new ConnectError(
          host,
          port,
          `The connection to ${host}:${port} was not established after ${timeoutMs} ms` +
            (options.disableTls ? '\nYou have TLS disabled. Perhaps the Manager is using TLS for the connection.' : ''),
          { cause: err },
        );
      }
      throw err;
    }
    session.handlers = handlers;
    return session;
  }

  /** Sets the handlers (services set theirs after connecting). */
  setHandlers(handlers: SessionHandlers): void {
    this.handlers = handlers;
  }

  // ------------------------------------------------------------ handshake

  private nextHandshakeMessage(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(this.closedError('during the handshake'));
        return;
      }
      this.handshakeStep = (msg) => {
        this.handshakeStep = undefined;
        if (msg instanceof Error) reject(msg);
        else resolve(msg);
      };
    });
  }

  private async handshake(identity: Record<string, unknown>): Promise<void> {
    const o = this.options;
    for (;;) {
      const msg = await this.nextHandshakeMessage();
      if (msg['error'] === true) throw new AuthenticationError(String(msg['message'] ?? 'The Manager refused the connection'));
      const attribute = msg['attribute'];
      const args = Array.isArray(msg['args']) ? msg['args'] : [];
      this.managerName = typeof msg['requester'] === 'string' ? msg['requester'] : this.managerName;
      if (attribute === 'identity') break;
      if (attribute === 'username') {
        if (o.username === undefined) throw new AuthenticationError(`${String(args[0] ?? 'The Manager')} asks for a username: pass the username option`);
        this.writeText(serviceResultLine(this.managerName, o.username, ''));
      } else if (attribute === 'password') {
        const forManager = MANAGER_NAME_RE.test(String(args[0] ?? ''));
        const pw = forManager ? o.passwordManager : o.password;
        if (pw === undefined) {
          throw new AuthenticationError(
            forManager ? `${String(args[0])} asks for its password: pass the passwordManager option` : `The Manager asks for the password of ${String(args[0])}: pass the password option`,
          );
        }
        this.writeText(serviceResultLine(this.managerName, pw, ''));
      } else {
        throw new ProtocolError(`Unexpected request ${JSON.stringify(attribute)} from the Manager during the handshake`);
      }
    }
    const offer = this.options.dialect !== 'json';
    const ident = offer ? { ...identity, switchyard: { version: VERSION, dialects: [NATIVE_DIALECT], features: ['cancel'] } } : identity;
    this.writeText(serviceResultLine(this.managerName, ident, ''));
    // Ask for the Manager's identity: a Switchyard Manager confirms the native dialect in its
    // reply and switches; a Python Manager just answers. Nothing else is sent before the reply.
    const uid = 'switchyard-hello';
    this.writeText(`{"service": "Manager", "attribute": "identity", "args": [], "kwargs": {}, "uid": "${uid}", "error": false}\r\n`);
    const reply = await this.nextHandshakeMessage();
    if (reply['error'] === true) throw new AuthenticationError(String(reply['message'] ?? 'The Manager refused the identity'));
    const result = reply['result'];
    if (!isRecord(result)) throw new ProtocolError('The Manager sent an identity that is not an object');
    this.managerIdentity = result;
    if (typeof reply['requester'] === 'string') this.networkName = reply['requester'];
    const sy = result['switchyard'];
    if (isRecord(sy) && sy['dialect'] === NATIVE_DIALECT) {
      this.dialect = 'native';
      if (typeof sy['networkName'] === 'string') this.networkName = sy['networkName'];
      this.frames = new FrameSplitter(this.options.readLimit ?? 256 * 1024 * 1024);
      this.mux = new ChannelMux({
        initiator: true,
        send: (frame) => this.writeFrame(frame),
        drained: () => this.drained(),
        peerName: this.managerName || `Manager[${this.host}:${this.port}]`,
        // The Manager relays channel frames between two connections and cannot translate ids
        // hidden inside items.
        channelRefs: false,
        onOpen: (channel, meta, target) => {
          const handler = this.handlers.onChannel;
          if (!handler) {
            channel.close(new Error(`${this.networkName} does not accept channels`));
            return;
          }
          handler(channel, meta, target);
        },
      });
      const rest = this.lines.takeRest();
      if (rest.length > 0) this.frames.push(rest, (b) => this.onFrame(b));
    }
    if (this.managerName === '' && typeof result['hostname'] === 'string') this.managerName = `Manager[${result['hostname']}:${String(result['port'])}]`;
  }

  // ------------------------------------------------------------ receiving

  private receive(chunk: Buffer): void {
    try {
      if (this.frames) {
        this.frames.push(chunk, (body) => this.onFrame(body));
        return;
      }
      this.lines.push(chunk, (line) => {
        this.onLine(line);
        return this.frames === undefined;
      });
      const frames = this.currentFrames();
      if (frames && this.lines.buffered > 0) frames.push(this.lines.takeRest(), (b) => this.onFrame(b));
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  private currentFrames(): FrameSplitter | undefined {
    return this.frames;
  }

  private onLine(line: Buffer): void {
    let data: unknown;
    try {
      data = parseJson(line.toString('utf8'));
    } catch (err) {
      throw new ProtocolError(`The Manager sent a line that is not JSON: ${(err as Error).message}`);
    }
    if (!isRecord(data)) throw new ProtocolError('The Manager sent JSON that is not an object');
    if (this.handshakeStep) {
      this.handshakeStep(data);
      return;
    }
    if ('result' in data) {
      const uid = data['uid'];
      if (uid === 'notification') {
        const r = data['result'];
        const [args, kwargs] = Array.isArray(r) ? r : [[r], {}];
        this.handlers.onNotification?.(String(data['service']), Array.isArray(args) ? args : [args], isRecord(kwargs) ? kwargs : {});
        return;
      }
      const call = this.matchJsonReply(data);
      if (!call) return;
      if (data['error'] === true) call.reject(remoteErrorFrom(call.service === 'Manager' ? this.managerName : call.service, String(data['message'] ?? ''), data['traceback']));
      else call.resolve(data['result']);
      return;
    }
    if (data['error'] === true) {
      // An error that is not a reply (e.g. a message size refusal) ends the session.
      this.destroy(remoteErrorFrom(this.managerName, String(data['message'] ?? ''), data['traceback']));
      return;
    }
    const attribute = data['attribute'];
    if (typeof attribute !== 'string') return;
    if (data['uid'] === '' && (attribute === 'username' || attribute === 'password')) {
      this.answerPrompt(attribute, Array.isArray(data['args']) ? data['args'] : []);
      return;
    }
    // A request for us (we are a service).
    const args = Array.isArray(data['args']) ? data['args'] : [];
    const kwargs = isRecord(data['kwargs']) ? data['kwargs'] : {};
    this.handlers.onRequest?.({
      attribute,
      args,
      kwargs,
      requester: typeof data['requester'] === 'string' ? data['requester'] : '',
      requesterIsAdmin: false,
      route: 0,
      uid: typeof data['uid'] === 'string' ? data['uid'] : '',
    });
  }

  /** In-band login prompts (a Python Manager asks before an admin request). */
  private answerPrompt(attribute: string, args: unknown[]): void {
    const o = this.options;
    const value = attribute === 'username' ? o.username : MANAGER_NAME_RE.test(String(args[0] ?? '')) ? o.passwordManager : o.password;
    // Without credentials, answer with an empty value: the Manager then refuses the admin request.
    this.writeText(serviceResultLine(this.managerName, value ?? '', ''));
  }

  /** Finds the call a JSON reply answers, including the Python Manager's uid-less replies. */
  private matchJsonReply(data: Record<string, unknown>): PendingCall | undefined {
    const uid = data['uid'];
    if (typeof uid === 'string' && uid !== '') {
      const id = Number(uid);
      const call = this.pending.get(id);
      if (call) this.pending.delete(id);
      return call;
    }
    // msl-network sends admin replies and "not connected" errors with uid "".
    if (data['error'] === true) {
      const m = NOT_CONNECTED_RE.exec(String(data['message'] ?? ''));
      if (m) {
        for (const call of this.pending.values()) {
          if (call.service === m[1]) {
            this.pending.delete(call.id);
            return call;
          }
        }
      }
    }
    let newest: PendingCall | undefined;
    for (const call of this.pending.values()) if (call.service === 'Manager') newest = call;
    if (newest) this.pending.delete(newest.id);
    return newest;
  }

  private onFrame(body: Buffer): void {
    if (body[0] === FrameType.REPLY && body.length >= 5) {
      // The hot path of every call: no reader object.
      const id = body.readUInt32BE(1);
      const call = this.pending.get(id);
      if (!call) return;
      this.pending.delete(id);
      call.resolve(decodeValue(body.subarray(5)));
      return;
    }
    if (this.mux?.handleFrame(body)) return;
    const r = new FrameReader(body);
    switch (r.type) {
      case FrameType.REPLY:
      case FrameType.ERROR: {
        const id = r.u32();
        const call = this.pending.get(id);
        if (!call) return;
        this.pending.delete(id);
        const v = decodeValue(r.rest());
        if (r.type === FrameType.REPLY) call.resolve(v);
        else {
          const [name, text, tb] = Array.isArray(v) ? v : ['Error', String(v), []];
          call.reject(new RemoteError(call.service === 'Manager' ? this.managerName : call.service, String(name), String(text), Array.isArray(tb) ? tb.map(String) : []));
        }
        return;
      }
      case FrameType.REQUEST: {
        const route = r.u32();
        const flags = r.u32();
        const requester = r.str();
        const attribute = r.str();
        const v = decodeValue(r.rest());
        const [args, kwargs] = Array.isArray(v) ? v : [[], {}];
        this.handlers.onRequest?.({
          attribute,
          args: Array.isArray(args) ? args : [],
          kwargs: isRecord(kwargs) ? kwargs : {},
          requester,
          requesterIsAdmin: (flags & REQUEST_FLAG_ADMIN) !== 0,
          route,
          uid: '',
        });
        return;
      }
      case FrameType.CANCEL:
        this.handlers.onCancel?.(r.u32());
        return;
      case FrameType.NOTIFY: {
        const service = r.str();
        const v = decodeValue(r.rest());
        const [args, kwargs] = Array.isArray(v) ? v : [[v], {}];
        this.handlers.onNotification?.(service, Array.isArray(args) ? args : [args], isRecord(kwargs) ? kwargs : {});
        return;
      }
      case FrameType.EVENT: {
        const v = decodeValue(r.rest());
        if (isRecord(v)) this.handlers.onEvent?.(v);
        return;
      }
      default:
        throw new ProtocolError(`Unknown native frame type ${r.type} from the Manager`);
    }
  }

  // ------------------------------------------------------------ sending

  private writeText(text: string): boolean {
    return this.conn.write(Buffer.from(text, 'utf8'));
  }

  private writeFrame(frame: OutFrame): boolean {
    if (Buffer.isBuffer(frame)) return this.conn.write(frame);
    let ok = true;
    for (const chunk of frame) ok = this.conn.write(chunk);
    return ok;
  }

  /**
   * Calls `service.attribute(*args, **kwargs)` through the Manager (`service` may be `"Manager"`).
   * Resolves with the result; rejects with {@link RemoteError} when the far side raised, with a
   * timeout or abort error, or {@link ConnectionClosedError} when the connection goes first.
   */
  call(service: string, attribute: string, args: readonly unknown[], kwargs: Record<string, unknown>, opts?: WaitOptions): Promise<unknown> {
    if (this.closed) return Promise.reject(this.closedError(`to call ${service}.${attribute}`));
    const limit = this.options.maxPendingCalls ?? DEFAULT_MAX_PENDING_CALLS;
    if (this.pending.size >= limit) return Promise.reject(new QueueFullError('calls awaiting a reply', limit));
    const id = this.nextId;
    this.nextId = id >= 0xfffffff0 ? 1 : id + 1;
    let frame: OutFrame | string;
    try {
      if (this.dialect === 'json') assertEncodable([args, kwargs]);
      frame =
        this.dialect === 'native'
          ? buildFrame(FrameType.REQUEST, [id], [service, attribute], encodeValueChunks([args, kwargs]))
          : `{"service": ${JSON.stringify(service)}, "attribute": ${JSON.stringify(attribute)}, "args": ${toPythonJson(args)}, "kwargs": ${toPythonJson(kwargs)}, "uid": "${id}", "error": false}\r\n`;
    } catch (err) {
      return Promise.reject(err);
    }
    const p = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { id, service, attribute, resolve, reject });
    });
    if (typeof frame === 'string') this.writeText(frame);
    else this.writeFrame(frame);
    if (!opts || (opts.timeout === undefined && opts.signal === undefined)) return p;
    return bounded(p, `the reply to ${service}.${attribute}`, opts, () => {
      this.pending.delete(id);
      if (this.dialect === 'native') this.writeFrame(buildFrame(FrameType.CANCEL, [id], []));
    });
  }

  /**
   * Opens a channel to `target` (a service name) through the Manager. Needs the native dialect:
   * throws {@link ProtocolError} against a Manager that speaks only JSON lines (msl-network).
   */
  openChannel(target: string, meta?: unknown): Channel {
    if (!this.mux) {
      throw new ProtocolError(`Channels need the native dialect; ${this.managerName || 'the Manager'} speaks only msl-network JSON lines`);
    }
    return this.mux.open(target, meta);
  }

  /** Sends a service's result for `req`. */
  reply(req: IncomingRequest, result: unknown): void {
    if (this.closed) return;
    if (this.dialect === 'native') {
      let payload: Buffer[];
      try {
        payload = encodeValueChunks(result);
      } catch (err) {
        this.replyError(req, 'TypeError', (err as Error).message, []);
        return;
      }
      this.writeFrame(buildFrame(FrameType.REPLY, [req.route], [], payload));
    } else {
      let line: string;
      try {
        assertEncodable(result);
        line = serviceResultLine(req.requester, result, req.uid);
      } catch (err) {
        this.replyError(req, 'TypeError', (err as Error).message, []);
        return;
      }
      this.writeText(line);
    }
  }

  /** Sends a service's error for `req`. */
  replyError(req: IncomingRequest, name: string, message: string, traceback: readonly string[]): void {
    if (this.closed) return;
    if (this.dialect === 'native') this.writeFrame(buildFrame(FrameType.ERROR, [req.route], [], encodeValue([name, message, traceback])));
    else this.writeText(errorLine(req.requester, { name, text: message, traceback }, req.uid));
  }

  /** Emits a notification to every client linked with this service. */
  notify(serviceName: string, args: readonly unknown[], kwargs: Record<string, unknown>): void {
    if (this.closed) return;
    if (this.dialect === 'native') this.writeFrame(buildFrame(FrameType.NOTIFY, [], [''], encodeValue([args, kwargs])));
    else this.writeText(notificationLine(serviceName, args, kwargs));
  }

  /** True when our outgoing buffer is above its high-water mark. */
  get congested(): boolean {
    return this.conn.congested;
  }

  /** Resolves when the outgoing buffer drains (or the session closes). */
  drained(): Promise<void> {
    if (!this.conn.congested || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.conn.onDrain(resolve));
  }

  // ------------------------------------------------------------ closing

  private closedError(what: string): ConnectionClosedError {
    const opts: SwitchyardErrorOptions = this.closeError ? { cause: this.closeError } : {};
    return new ConnectionClosedError(`${this.managerName || `Manager[${this.host}:${this.port}]`} closed the connection; cannot ${what.replace(/^to /, '')}`, this.managerName, opts);
  }

  private onClosed(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError ??= err;
    this.handshakeStep?.(this.closedError('finish the handshake'));
    this.mux?.closeAll(this.closedError('use its channels'));
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const call of pending) call.reject(this.closedError(`receive the reply to ${call.service}.${call.attribute}`));
    for (const w of this.closeWaiters.splice(0)) w();
    this.handlers.onClose?.(this.closeError);
  }

  /** Resolves when the connection is closed. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /**
   * Disconnects gracefully: JSON peers send msl-network's `__disconnect__` and wait for the
   * Manager to close; native peers close their side. Resolves when closed (at most `timeout`).
   */
  async close(opts: { timeout?: number } = {}): Promise<void> {
    if (this.closed) return;
    if (this.dialect === 'json') this.writeText(`{"service": ${JSON.stringify(this.networkName || 'self')}, "attribute": "__disconnect__", "args": [], "kwargs": {}, "uid": "", "error": false}\r\n`);
    else this.conn.end();
    const t = guardTimer(() => this.conn.destroy(), opts.timeout ?? 5000);
    await this.whenClosed();
    clearTimeout(t);
  }

  /** Closes at once; pending calls reject. */
  destroy(err?: Error): void {
    if (err) this.closeError ??= err;
    this.conn.destroy(err);
  }

  /** Number of calls awaiting a reply. */
  get pendingCalls(): number {
    return this.pending.size;
  }

}

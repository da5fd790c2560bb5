/**
 * `protocol/client`: a leaf translator whose fops run on a remote brick (a graph served by
 * `protocol/server` as a Switchyard Service), through the Manager, over one Link.
 *
 * Options (GlusterFS's where they apply, plus the Manager's):
 * - `remote-subvolume` (required): the brick's service name (its protocol/server `name`);
 * - `manager` (`host:port`, default `localhost:1875`), `cert-file`, `disable-tls`, `username`,
 *   `password` (`SWITCHYARD_USERNAME`/`SWITCHYARD_PASSWORD` when unset); the client connects under
 *   the name `username`, else this volume's name (the brick's `auth.allow` matches that name);
 * - `ping-timeout` (seconds, default 42): a ping is sent every third of it; one unanswered for the
 *   whole period declares the brick down (0 disables pings);
 * - `frame-timeout` (seconds, default 1800): a fop unanswered that long fails with ETIMEDOUT;
 * - `max-write-size` (default 1MB): a writev with more data is sent as several writev calls of at
 *   most this size, one after the other (every message stays well below the Manager's limit).
 *   Their results merge as one write's: opRet is the bytes written, prebuf the first call's,
 *   postbuf the last one's; the first failure or short write ends it (a failure after some bytes
 *   were written answers those bytes, as write(2) does; before any, the failure). Reads need no
 *   such care: protocol/server clamps a readv to its `max-read-size` (a short read).
 *
 * Every fop of the table is implemented, generically: arguments go through the wire codec
 * (`wire-codec.ts`), one `$call('fop', [name, args])` per fop, many in flight on the one link.
 * Inodes in results are linked into this graph's inode table; fds are named by their `Fd.id` and
 * carry this translator's context (the connection epoch they were opened in).
 *
 * States: `connecting` (init) → `up` → `down` (connection or brick lost: every fop in flight
 * unwinds `(-1, ENOTCONN)` at once, `child-down` travels up, new fops fail fast with ENOTCONN) →
 * `up` again after a background reconnect (backoff 100 ms doubling to 5 s, stopped by `fini`;
 * `child-up` travels up). Fds opened before a reconnect answer EBADF afterwards: the brick
 * released them when this client's old connection went (reopen them). An open/create/opendir
 * that failed with ETIMEDOUT (frame-timeout) but succeeds on the brick later has its fd released
 * there as soon as the late reply arrives.
 *
 * The brick's cache invalidations (after namespace fops, setattr, truncate, writev by any client)
 * become `upcall` events travelling up; the ones this client caused itself are dropped.
 * @module
 */
import { connect, type Client, type Link, type Notification } from '../../client/client.ts';
import { ConnectionClosedError, RemoteError, SwitchyardError, TranslatorError } from '../../errors.ts';
import { parseContact } from '../../hooks/contact.ts';
import type { ManagerConnectOptions } from '../../rpc/session.ts';
import { FOP_NAMES, FOPS, type FopName } from '../fops.ts';
import type { Frame } from '../frame.ts';
import { errno, type Fd } from '../model.ts';
import type { OptionSchema } from '../options.ts';
import { Translator, unwind } from '../translator.ts';
import { decodeResults, encodeArgs, type DecodeContext } from '../wire-codec.ts';

/** The options every translator that connects to a Manager understands. */
export const MANAGER_OPTIONS = {
  manager: { type: 'str', default: 'localhost:1875', description: 'The Manager, as host:port.' },
  'cert-file': { type: 'path', description: "The Manager's certificate (or a CA) to trust; default $SWITCHYARD_HOME/certs/<host>.crt." },
  'disable-tls': { type: 'bool', default: 'off', description: 'Plain TCP to the Manager instead of TLS.' },
  username: { type: 'str', description: 'Login name, when the Manager asks for one (default $SWITCHYARD_USERNAME).' },
  password: { type: 'str', description: 'Login password, when the Manager asks for one (default $SWITCHYARD_PASSWORD).' },
} as const satisfies OptionSchema;

/**
 * The Manager connect options of a translator with {@link MANAGER_OPTIONS}. Throws a
 * {@link TranslatorError} for a `manager` value that is not `host:port`.
 */
export function managerConnectOptions(xl: Translator, timeoutMs: number): ManagerConnectOptions {
  const contact = xl.option<string>('manager') ?? 'localhost:1875';
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseContact(contact));
  } catch (err) {
    throw new TranslatorError(`volume '${xl.name}': option 'manager' has the invalid value '${contact}' (host:port expected)`, { translator: xl.name, option: 'manager' }, { cause: err });
  }
  return {
    host,
    port,
    timeout: timeoutMs,
    disableTls: xl.option<boolean>('disable-tls') === true,
    certFile: xl.option<string>('cert-file'),
    username: xl.option<string>('username') ?? envOrUndefined('SWITCHYARD_USERNAME'),
    password: xl.option<string>('password') ?? envOrUndefined('SWITCHYARD_PASSWORD'),
  };
}

function envOrUndefined(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** One fop waiting for its reply. */
interface InFlight {
  readonly frame: Frame;
  readonly fop: FopName;
  readonly deadline: number;
  done: boolean;
}

/** The brick's invalidation notification (see protocol/server). */
interface UpcallBody {
  gfid?: unknown;
  pargfids?: unknown;
  names?: unknown;
  origin?: unknown;
}

/** Per fop, where its fds are: the one it opens (-1 if none), the ones it uses, and the open flags. */
const FD_PLAN = Object.fromEntries(
  FOP_NAMES.map((f) => {
    const kinds = FOPS[f].args.map(([, k]) => k);
    const opens = kinds.includes('loc') ? kinds.indexOf('fd') : -1;
    const uses = kinds.flatMap((k, i) => (k === 'fd' && i !== opens ? [i] : []));
    const flags = opens >= 0 ? FOPS[f].args.findIndex(([n]) => n === 'flags') : -1;
    return [f, { opens, uses, flags }];
  }),
) as Record<FopName, { opens: number; uses: number[]; flags: number }>;

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;
const CONNECT_TIMEOUT_MS = 10_000;

/** The protocol/client leaf (see the module doc). */
export class ProtocolClient extends Translator {
  static override options = {
    'remote-subvolume': { type: 'str', description: "The brick's service name (its protocol/server 'name' option)." },
    ...MANAGER_OPTIONS,
    'ping-timeout': { type: 'time', default: '42', min: 0, description: 'Seconds without an answer to a ping after which the brick is declared down (0: no pings).' },
    'frame-timeout': { type: 'time', default: '1800', min: 0, description: 'Seconds after which an unanswered fop fails with ETIMEDOUT.' },
    'max-write-size': { type: 'size', default: '1MB', min: 4096, max: 64 * 1024 * 1024, description: 'Most bytes one writev call carries; larger writes are sent as several calls in sequence.' },
  } as const satisfies OptionSchema;

  #client: Client | undefined;
  #link: Link | undefined;
  #up = false;
  /** Bumped at every connection: fds opened under an older epoch are stale. */
  #epoch = 0;
  readonly #inflight = new Set<InFlight>();
  #timer: NodeJS.Timeout | undefined;
  #pingSentAt = 0;
  #stopping = false;
  #reconnect: AbortController | undefined;
  #decode: DecodeContext;
  /** `frame-timeout` in milliseconds (read once per init/reconfigure, not per fop). */
  #frameMs = 1_800_000;
  /** `max-write-size` in bytes. */
  #maxWrite = 1 << 20;
  /** The fd opened by the reply being decoded (decoding is synchronous). */
  #replyFd: Fd | null = null;

  constructor(...args: ConstructorParameters<typeof Translator>) {
    super(...args);
    this.#decode = {
      linkInode: (gfid, type) => this.graph.inodes.link(gfid, type),
      findInode: (gfid) => this.graph.inodes.find(gfid) ?? null,
      // A result fd is the fd this client sent with the fop being answered.
      fd: (id) => (this.#replyFd !== null && this.#replyFd.id === id ? this.#replyFd : undefined),
    };
  }

  /** True while connected to the brick. */
  get isUp(): boolean {
    return this.#up;
  }

  /** This client's network name on the Manager (`name[host:port]`), or `''` when down. */
  get networkName(): string {
    return this.#client?.networkName ?? '';
  }

  private get service(): string {
    const s = this.option<string>('remote-subvolume');
    if (s === undefined || s === '') throw new TranslatorError(`volume '${this.name}': option 'remote-subvolume' is required (the brick's service name)`, { translator: this.name, option: 'remote-subvolume' });
    return s;
  }

  override async init(): Promise<void> {
    const service = this.service;
    this.#frameMs = (this.option<number>('frame-timeout') ?? 1800) * 1000;
    this.#maxWrite = this.option<number>('max-write-size') ?? 1 << 20;
    this.#stopping = false;
    try {
      await this.connectOnce();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new TranslatorError(`volume '${this.name}' (protocol/client): cannot reach the brick '${service}' through ${this.option<string>('manager')}: ${why}`, { translator: this.name }, { cause: err });
    }
  }

  /** Applies a new `ping-timeout`/`frame-timeout`/`max-write-size` at once; connection options apply at the next reconnect. */
  override async reconfigure(options: Readonly<Record<string, string>>): Promise<void> {
    await super.reconfigure(options);
    this.#frameMs = (this.option<number>('frame-timeout') ?? 1800) * 1000;
    this.#maxWrite = this.option<number>('max-write-size') ?? 1 << 20;
    if (this.#up) this.startTimer();
  }

  override async fini(): Promise<void> {
    this.#stopping = true;
    this.#reconnect?.abort();
    this.stopTimer();
    this.down('the graph is going down', false);
    const c = this.#client;
    this.#client = undefined;
    this.#link = undefined;
    await c?.disconnect({ timeout: 2000 }).catch(() => {});
  }

  /** Connects, links and starts holding and pinging; throws when any step fails. */
  private async connectOnce(signal?: AbortSignal): Promise<void> {
    const opts = managerConnectOptions(this, CONNECT_TIMEOUT_MS);
    const client = await connect({ ...opts, name: opts.username ?? this.name, signal });
    let link: Link;
    try {
      link = await client.link(this.service, { timeout: CONNECT_TIMEOUT_MS, signal });
    } catch (err) {
      await client.disconnect({ timeout: 1000 }).catch(() => {});
      throw err;
    }
    if (this.#stopping) {
      await client.disconnect({ timeout: 1000 }).catch(() => {});
      return;
    }
    const epoch = ++this.#epoch;
    this.#client = client;
    this.#link = link;
    this.#up = true;
    const lost = (why: string): void => {
      if (this.#epoch === epoch) this.down(why, true);
    };
    link.$onNotification((n) => this.onNotification(n));
    client.onServiceGone((name) => {
      if (name === this.service) lost(`the brick '${name}' left the Manager`);
    });
    void client.whenClosed().then(() => lost('the connection to the Manager closed'));
    // The brick keeps this call open for as long as we are linked: when we go, the Manager cancels
    // it and the brick releases our fds; when the brick goes, it fails here at once.
    link.$call('hold').then(
      () => lost(`the brick '${this.service}' stopped`),
      (err: unknown) => lost(`the brick '${this.service}' is gone (${err instanceof Error ? err.message : String(err)})`),
    );
    this.startTimer();
  }

  private startTimer(): void {
    this.stopTimer();
    const pingMs = (this.option<number>('ping-timeout') ?? 42) * 1000;
    const frameMs = (this.option<number>('frame-timeout') ?? 1800) * 1000;
    // Also sweeps fops past their frame-timeout, so it runs even with pings off.
    const period = Math.max(50, Math.min(pingMs > 0 ? pingMs / 3 : Infinity, frameMs > 0 ? frameMs / 4 : Infinity, 10_000));
    this.#pingSentAt = 0;
    this.#timer = setInterval(() => this.tick(pingMs), period);
    this.#timer.unref();
  }

  private stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  private tick(pingMs: number): void {
    const now = Date.now();
    for (const entry of this.#inflight) {
      if (now >= entry.deadline) this.finishFailed(entry, errno.ETIMEDOUT);
    }
    const link = this.#link;
    if (pingMs <= 0 || !this.#up || link === undefined) return;
    if (this.#pingSentAt > 0) {
      if (now - this.#pingSentAt >= pingMs) this.down(`the brick '${this.service}' did not answer a ping within ${pingMs / 1000} s (ping-timeout)`, true);
      return;
    }
    this.#pingSentAt = now;
    const epoch = this.#epoch;
    link.$call('ping').then(
      () => {
        if (this.#epoch === epoch) this.#pingSentAt = 0;
      },
      () => {},
    );
  }

  /** The connection or the brick went: fail everything in flight now, tell the parents, reconnect. */
  private down(reason: string, reconnect: boolean): void {
    const wasUp = this.#up;
    this.#up = false;
    this.#epoch++;
    this.stopTimer();
    for (const entry of [...this.#inflight]) this.finishFailed(entry, errno.ENOTCONN);
    const c = this.#client;
    this.#client = undefined;
    this.#link = undefined;
    if (c !== undefined && c.isConnected()) void c.disconnect({ timeout: 1000 }).catch(() => {});
    if (!wasUp || !reconnect) return;
    try {
      this.log.warn({ reason }, `protocol/client '${this.name}': ${reason}; fops fail with ENOTCONN until it is back`);
    } catch {
      // outside a graph
    }
    this.notify({ type: 'child-down', reason }, this);
    if (!this.#stopping) void this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    if (this.#reconnect !== undefined && !this.#reconnect.signal.aborted) return;
    const ac = new AbortController();
    this.#reconnect = ac;
    let wait = RECONNECT_MIN_MS;
    while (!ac.signal.aborted && !this.#stopping) {
      await new Promise<void>((resolve) => {
        const onAbort = (): void => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          ac.signal.removeEventListener('abort', onAbort);
          resolve();
        }, wait);
        ac.signal.addEventListener('abort', onAbort, { once: true });
      });
      if (ac.signal.aborted || this.#stopping) break;
      try {
        await this.connectOnce(ac.signal);
        if (this.#up) {
          this.#reconnect = undefined;
          this.notify({ type: 'child-up' }, this);
        }
        return;
      } catch {
        wait = Math.min(RECONNECT_MAX_MS, wait * 2);
      }
    }
  }

  private onNotification(n: Notification): void {
    const body = n.args[0] as UpcallBody | undefined;
    if (typeof body !== 'object' || body === null) return;
    if (body.origin === this.networkName) return;
    const gfid = typeof body.gfid === 'string' ? body.gfid : null;
    const pargfids = Array.isArray(body.pargfids) ? body.pargfids.filter((g): g is string => typeof g === 'string') : [];
    const names = Array.isArray(body.names) ? body.names.filter((g): g is string => typeof g === 'string') : [];
    this.notify({ type: 'upcall', gfid, pargfids, names }, this);
  }

  /** @internal Sends fop `fop` for `frame` (the body of every `<fop>Fop` method). */
  _send(fop: FopName, frame: Frame, args: unknown[]): void {
    const link = this.#link;
    if (!this.#up || link === undefined) return this.fail(frame, errno.ENOTCONN);
    const plan = FD_PLAN[fop];
    for (const i of plan.uses) {
      const fd = args[i] as Fd | null | undefined;
      if (fd === null || fd === undefined || fd.ctxGet<number>(this) !== this.#epoch) return this.fail(frame, errno.EBADF);
    }
    const root = frame.root;
    const creds = root.uid !== 0 || root.gid !== 0 || root.pid !== 0 || root.groups.length > 0 ? [root.uid, root.gid, root.pid, root.groups] : null;
    if (fop === 'writev' && Buffer.isBuffer(args[1]) && args[1].length > this.#maxWrite) return this.sendSplitWrite(link, frame, args, creds);
    let wire: unknown[];
    try {
      wire = encodeArgs(fop, args as never);
    } catch {
      return this.fail(frame, errno.EINVAL);
    }
    const entry = this.track(frame, fop);
    const epoch = this.#epoch;
    const callArgs = creds !== null ? [fop, wire, creds] : [fop, wire];
    link.$call('fop', callArgs).then(
      (reply) => this.finishReply(entry, reply, epoch, plan.opens >= 0 ? (args[plan.opens] as Fd) : null, plan.flags >= 0 ? (args[plan.flags] as number) : 0),
      (err: unknown) => this.finishFailed(entry, errnoOf(err)),
    );
  }

  private track(frame: Frame, fop: FopName): InFlight {
    const frameMs = this.#frameMs;
    const entry: InFlight = { frame, fop, deadline: frameMs > 0 ? Date.now() + frameMs : Infinity, done: false };
    this.#inflight.add(entry);
    return entry;
  }

  /**
   * A writev larger than `max-write-size`, as calls of at most that size in sequence (one frame,
   * one frame-timeout for all of them); see the module doc for how the results merge.
   */
  private sendSplitWrite(link: Link, frame: Frame, args: unknown[], creds: unknown[] | null): void {
    const [fd, data, offset, flags, xdata] = args as [Fd, Buffer, number, number, unknown];
    const max = this.#maxWrite;
    const entry = this.track(frame, 'writev');
    let written = 0;
    let prebuf: unknown = null;
    let postbuf: unknown = null;
    let lastXdata: unknown = null;
    const finish = (): void => {
      if (entry.done) return;
      entry.done = true;
      this.#inflight.delete(entry);
      unwind(frame, written, 0, prebuf, postbuf, lastXdata, null, null, null);
    };
    const step = (): void => {
      const chunk = data.subarray(written, written + max);
      let wire: unknown[];
      try {
        wire = encodeArgs('writev', [fd, chunk, offset + written, flags, xdata] as never);
      } catch {
        return this.finishFailed(entry, errno.EINVAL);
      }
      link.$call('fop', creds !== null ? ['writev', wire, creds] : ['writev', wire]).then(
        (reply) => {
          if (entry.done) return;
          let r: unknown[] | null = null;
          if (Array.isArray(reply) && typeof reply[0] === 'number' && typeof reply[1] === 'number' && reply[0] >= 0) {
            try {
              r = decodeResults('writev', reply, this.#decode, 2) as unknown[];
            } catch {
              r = null;
            }
          }
          if (r === null) {
            // A failure after some bytes were written answers those bytes, as write(2) does.
            if (written > 0) return finish();
            const failed = Array.isArray(reply) && typeof reply[0] === 'number' && reply[0] < 0 && typeof reply[1] === 'number';
            return this.finishFailed(entry, failed ? (reply[1] as number) : errno.EIO);
          }
          if (written === 0) prebuf = r[0] ?? null;
          postbuf = r[1] ?? null;
          lastXdata = r[2] ?? null;
          const n = (reply as number[])[0] as number;
          written += n;
          if (n < chunk.length || written >= data.length) return finish();
          step();
        },
        (err: unknown) => {
          if (written > 0) return finish();
          this.finishFailed(entry, errnoOf(err));
        },
      );
    };
    step();
  }

  private finishReply(entry: InFlight, reply: unknown, epoch: number, opened: Fd | null, flags: number): void {
    if (entry.done) {
      // An open that timed out here but succeeded on the brick: nobody here holds that fd, so the
      // brick would keep it until this connection goes.
      if (opened !== null && epoch === this.#epoch && Array.isArray(reply) && typeof reply[0] === 'number' && reply[0] >= 0) this.releaseId(opened.id);
      return;
    }
    entry.done = true;
    this.#inflight.delete(entry);
    if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'number') {
      unwind(entry.frame, -1, errno.EIO, null, null, null, null, null, null);
      return;
    }
    const opRet = reply[0];
    const opErrno = reply[1];
    if (opRet < 0) {
      unwind(entry.frame, opRet, opErrno, null, null, null, null, null, null);
      return;
    }
    let r: unknown[];
    this.#replyFd = opened;
    try {
      r = decodeResults(entry.fop, reply, this.#decode, 2) as unknown[];
    } catch {
      // The brick sent what this version cannot read.
      unwind(entry.frame, -1, errno.EIO, null, null, null, null, null, null);
      return;
    } finally {
      this.#replyFd = null;
    }
    if (opened !== null) {
      if (epoch !== this.#epoch) {
        // Opened on a connection that is gone already: the brick has released it.
        unwind(entry.frame, -1, errno.ENOTCONN, null, null, null, null, null, null);
        return;
      }
      opened.ctxSet(this, epoch);
      opened.flags = flags;
    }
    unwind(entry.frame, opRet, opErrno, r[0] ?? null, r[1] ?? null, r[2] ?? null, r[3] ?? null, r[4] ?? null, r[5] ?? null);
  }

  private finishFailed(entry: InFlight, err: number): void {
    if (entry.done) return;
    entry.done = true;
    this.#inflight.delete(entry);
    unwind(entry.frame, -1, err, null, null, null, null, null, null);
  }

  override release(fd: Fd): void {
    this.sendRelease(fd);
  }

  override releasedir(fd: Fd): void {
    this.sendRelease(fd);
  }

  private sendRelease(fd: Fd): void {
    const epoch = fd.ctxDel<number>(this);
    if (epoch !== this.#epoch) return;
    this.releaseId(fd.id);
  }

  /** Tells the brick to release its fd numbered `id` (of the current connection). */
  private releaseId(id: number): void {
    const link = this.#link;
    if (link === undefined || !this.#up) return;
    link.$call('release', [id]).catch((err: unknown) => {
      try {
        this.log.warn({ err, fd: id }, `protocol/client '${this.name}': release of fd ${id} failed`);
      } catch {
        // outside a graph
      }
    });
  }
}

/** The errno a failed call stands for. */
function errnoOf(err: unknown): number {
  if (err instanceof ConnectionClosedError) return errno.ENOTCONN;
  if (err instanceof RemoteError) {
    // The Manager's answer for a brick that left, or that was never there.
    if (err.remoteName === 'ConnectionAbortedError' || /not connected|has disconnected|disconnected before/i.test(err.remoteMessage)) return errno.ENOTCONN;
    return errno.EIO;
  }
  if (err instanceof SwitchyardError && err.code === 'SWITCHYARD_ERR_TIMEOUT') return errno.ETIMEDOUT;
  return errno.EIO;
}

// Every fop of the table, as a real method on the prototype (the core's pass-through resolution
// looks the hooks up there).
for (const fop of FOP_NAMES) {
  const arity = FOPS[fop].args.length;
  Object.defineProperty(ProtocolClient.prototype, `${fop}Fop`, {
    value: {
      [`${fop}Fop`](this: ProtocolClient, frame: Frame, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): void {
        const args = [a, b, c, d, e, f];
        args.length = arity;
        this._send(fop, frame, args);
      },
    }[`${fop}Fop`],
    writable: true,
    configurable: true,
  });
}

/**
 * `protocol/server`: serves its one child (the exported volume) as a Switchyard Service on a
 * Manager, so that `protocol/client` leaves elsewhere can wind fops into it. It is the top of a
 * brick's graph.
 *
 * Options: `name` (required: the service name, which clients give as `remote-subvolume`),
 * `manager` (`host:port`, default `localhost:1875`), `cert-file`, `disable-tls`, `username`,
 * `password` (`SWITCHYARD_USERNAME`/`SWITCHYARD_PASSWORD` when unset), `auth.allow`,
 * `outstanding-rpc-limit` (default 64), `frame-timeout`, `max-read-size` (default 1MB),
 * `root-squash` (default on), `anonuid` and `anongid` (default 65534).
 *
 * The service's methods (the wire protocol, see `wire-codec.ts` for the argument forms):
 * - `fop(name, args, creds?)` → `[opRet, opErrno, ...results]`: the fop is wound into the child
 *   (through `graph.windAt`, so the brick graph's frame-timeout applies); `creds` is
 *   `[uid, gid, pid, groups]` (absent: all 0), trusted as GlusterFS trusts its clients'
 *   credentials, except that with `root-squash` on uid 0 becomes `anonuid` and gid 0 (also among
 *   the groups) `anongid`. A synchronous child (storage/memory) is answered without a Promise.
 *   Unknown fop names and malformed arguments answer `(-1, EINVAL)`, unknown fd numbers
 *   `(-1, EBADF)`, as does an open/create/opendir naming a number that is open or still being
 *   opened. open/create/opendir from a requester that has no `hold()` open answer `(-1, EPROTO)`
 *   (logged once): nothing would ever release such an fd.
 * - `release(fdId)`: the client closed its fd; the server's Fd is released in the brick graph.
 * - `hold()`: each client keeps one such call open while it is linked. When the client goes, the
 *   Manager cancels the call (its request signal aborts) and the server releases every fd of that
 *   client at once: this is how a Service learns that a linked client left. Only a hold makes the
 *   server keep state for a client; a requester without one is served its fops (except those
 *   that open fds) and forgotten as soon as none of its fops is in progress.
 * - `ping()`: answers `true` (the client's ping-timeout).
 *
 * Fds are per client: the client names an fd by its own number; the server keeps a map per
 * requester from that number to a server-side `Fd`. A reconnected client is a new requester.
 *
 * `outstanding-rpc-limit`: fops of one client that have not completed yet (only asynchronous
 * children ever have any). Beyond the limit a fop waits in a per-client FIFO, bounded at 16 × the
 * limit; beyond that bound it fails at once with `EAGAIN`.
 *
 * `max-read-size`: the most bytes one readv returns, and the largest size budget of one
 * readdir/readdirp; larger requests are clamped (a short read, which callers handle). It keeps
 * every reply well below the Manager's message limit (a reply above it would make the Manager drop
 * this brick's connection, for every client) and bounds the memory a client's fops in flight
 * hold (at most `outstanding-rpc-limit` × this). protocol/client splits writes by its own
 * `max-write-size` (default 1MB).
 *
 * `auth.allow`: client names (the name a client connects under, the part of its network name
 * before `[host:port]`; `*` and `?` globs) allowed to run fops; default: any client the Manager
 * let in. Others get `EACCES`. The Manager does not tell services the login name of a requester,
 * so this is as strong as the client's choice of name (protocol/client connects as its
 * `username`): with `--auth-login` on the Manager only registered users connect at all.
 *
 * Lifecycle: `init` registers the service (and fails the graph with a TranslatorError when the
 * Manager cannot be reached or refuses the name); `fini` disconnects it and releases every
 * client's fds. When the Manager goes away the service stops for good ({@link
 * ProtocolServer.whenStopped} resolves): there is no re-registration; `switchyard brick serve`
 * exits with code 1 then, for a supervisor to restart it. Clients reconnect by themselves.
 *
 * Cache invalidation: after every successful namespace fop and after setattr, fsetattr, truncate,
 * ftruncate and writev, the server emits the notification `{ gfid, pargfids, names, origin }` to
 * every linked client (`origin` is the requester's network name, so it can ignore its own).
 * @module
 */
import { TranslatorError } from '../../errors.ts';
import { Service, type RequestContext } from '../../service/service.ts';
import { FOPS, isNamespaceFop, type FopName } from '../fops.ts';
import type { Credentials } from '../frame.ts';
import { Fd, errno, IA, type Gfid, type Iatt, type Inode, type Loc } from '../model.ts';
import type { OptionSchema } from '../options.ts';
import { Translator, fopIndex } from '../translator.ts';
import { WireError, decodeArgs, encodeReply, isWireFop, type DecodeContext, type EncodeContext } from '../wire-codec.ts';
import { MANAGER_OPTIONS, managerConnectOptions } from './protocol-client.ts';

/** One linked client's state. */
interface Peer {
  readonly requester: string;
  readonly allowed: boolean;
  /** The client's fd numbers → the server's Fds. */
  readonly fds: Map<number, Fd>;
  /** Fd numbers of open/create/opendir fops in progress (not yet in {@link fds}). */
  readonly opening: Set<number>;
  /** True once the client called `hold()`: only then is the Peer kept while idle, and may open fds. */
  held: boolean;
  readonly decode: DecodeContext;
  inflight: number;
  readonly waiting: Array<() => void>;
  /** Ends this client's `hold()` call. */
  release?: (() => void) | undefined;
}

type Reply = unknown[];

/** Per fop, where the fd it opens is (-1: none), and where an inode result is (-1: none). */
const FOP_SHAPE = Object.fromEntries(
  Object.entries(FOPS).map(([f, row]) => {
    const kinds = row.args.map(([, k]) => k);
    return [
      f,
      {
        opens: kinds.includes('loc') ? kinds.indexOf('fd') : -1,
        inodeResult: row.results.findIndex(([, k]) => k === 'inode'),
        locs: kinds.flatMap((k, i) => (k === 'loc' ? [i] : [])),
        fdArg: kinds.indexOf('fd'),
        iatts: row.results.flatMap(([n, k], i) => (k === 'iatt' ? [{ i, parent: n.includes('parent') }] : [])),
        notifies: isNamespaceFop(f as FopName) || ['setattr', 'fsetattr', 'truncate', 'ftruncate', 'writev'].includes(f),
      },
    ];
  }),
) as Record<FopName, { opens: number; inodeResult: number; locs: number[]; fdArg: number; iatts: Array<{ i: number; parent: boolean }>; notifies: boolean }>;

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/** The Service a protocol/server registers (its public methods are the wire protocol). */
class BrickService extends Service {
  readonly #server: ProtocolServer;
  constructor(server: ProtocolServer, name: string) {
    // `this.request` is read only in the synchronous part of each method: no AsyncLocalStorage.
    super({ name, requestContext: false });
    this.#server = server;
  }

  fop(name: unknown, args: unknown, creds: unknown = null): Reply | Promise<Reply> {
    return this.#server._serve(this.request as RequestContext, name, args, creds);
  }

  release(fdId: unknown): boolean {
    return this.#server._release((this.request as RequestContext).requester, fdId);
  }

  hold(): Promise<null> {
    return this.#server._hold(this.request as RequestContext);
  }

  ping(): boolean {
    return true;
  }
}

/** The protocol/server translator (see the module doc). */
export class ProtocolServer extends Translator {
  static override options = {
    name: { type: 'str', description: "The service name clients link to (their 'remote-subvolume')." },
    ...MANAGER_OPTIONS,
    'auth.allow': { type: 'list', description: 'Client names (globs) allowed to run fops; default any client the Manager admits.' },
    'outstanding-rpc-limit': { type: 'int', default: '64', min: 1, max: 65536, description: 'Fops of one client in progress at once; more wait (up to 16× this), then fail with EAGAIN.' },
    'frame-timeout': { type: 'time', min: 0, description: "Seconds after which a fop the brick does not answer fails with ETIMEDOUT (sets the brick graph's frame-timeout)." },
    'max-read-size': { type: 'size', default: '1MB', min: 4096, max: 64 * 1024 * 1024, description: 'Most bytes one readv returns and largest size budget of one readdir/readdirp; larger requests are clamped.' },
    'root-squash': { type: 'bool', default: 'on', description: "Run clients' fops of uid 0 as anonuid and of gid 0 as anongid." },
    anonuid: { type: 'int', default: '65534', min: 0, max: 4294967295, description: 'The uid root-squash maps uid 0 to.' },
    anongid: { type: 'int', default: '65534', min: 0, max: 4294967295, description: 'The gid root-squash maps gid 0 to.' },
  } as const satisfies OptionSchema;

  #service: BrickService | undefined;
  readonly #peers = new Map<string, Peer>();
  #allow: RegExp[] | null = null;
  #limit = 64;
  #maxRead = 1 << 20;
  /** The uid/gid root-squash maps 0 to; `null` when root-squash is off. */
  #squash: { uid: number; gid: number } | null = { uid: 65534, gid: 65534 };
  #warnedNoHold = false;
  /** Result fds are named by the number their client gave them. */
  readonly #encode: EncodeContext = { fdId: (fd) => fd.ctxGet<number>(this) ?? fd.id };

  /** The service name. */
  get serviceName(): string {
    const n = this.option<string>('name');
    if (n === undefined || n === '') throw new TranslatorError(`volume '${this.name}': option 'name' is required (the service name clients use as remote-subvolume)`, { translator: this.name, option: 'name' });
    return n;
  }

  /** The exported volume. */
  get child(): Translator {
    const c = this.firstChild;
    if (c === undefined) throw new TranslatorError(`volume '${this.name}' (protocol/server) needs one subvolume: the volume it exports`, { translator: this.name });
    return c;
  }

  /** The Manager address this server registered on (`host:port`). */
  get manager(): string {
    return this.option<string>('manager') ?? 'localhost:1875';
  }

  /** Clients with state on this server (linked and known), by network name. */
  get clients(): string[] {
    return [...this.#peers.keys()];
  }

  override async init(): Promise<void> {
    const name = this.serviceName;
    void this.child;
    const allow = this.option<readonly string[]>('auth.allow');
    this.#allow = allow !== undefined && allow.length > 0 ? allow.map(globToRegExp) : null;
    this.#limit = this.option<number>('outstanding-rpc-limit') ?? 64;
    this.applyOptions();
    const ft = this.option<number>('frame-timeout');
    if (ft !== undefined) this.graph.frameTimeout = ft * 1000;
    const service = new BrickService(this, name);
    try {
      await service.start(managerConnectOptions(this, 10_000));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new TranslatorError(`volume '${this.name}' (protocol/server): cannot serve '${name}' on the Manager ${this.manager}: ${why}`, { translator: this.name }, { cause: err });
    }
    this.#service = service;
    void service.whenStopped().then(() => this.dropAll());
  }

  override async fini(): Promise<void> {
    const s = this.#service;
    this.#service = undefined;
    await s?.disconnect().catch(() => {});
    this.dropAll();
  }

  /** Applies `max-read-size` and `root-squash` at once. */
  override async reconfigure(options: Readonly<Record<string, string>>): Promise<void> {
    await super.reconfigure(options);
    this.applyOptions();
  }

  private applyOptions(): void {
    this.#maxRead = this.option<number>('max-read-size') ?? 1 << 20;
    this.#squash = this.option<boolean>('root-squash') === false ? null : { uid: this.option<number>('anonuid') ?? 65534, gid: this.option<number>('anongid') ?? 65534 };
  }

  /** Resolves when the service has disconnected from the Manager (by `fini` or because the Manager went). */
  whenStopped(): Promise<void> {
    return this.#service?.whenStopped() ?? Promise.resolve();
  }

  private dropAll(): void {
    for (const requester of [...this.#peers.keys()]) this.dropPeer(requester);
  }

  /**
   * The Peer of `requester`, made if new. A Peer made for a fop (not by `hold()`) is forgotten
   * again by {@link forgetIdle} once none of its fops is in progress.
   */
  private peerOf(requester: string): Peer {
    let peer = this.#peers.get(requester);
    if (peer !== undefined) return peer;
    const clientName = requester.replace(/\[[^\]]*\]$/, '');
    const fds = new Map<number, Fd>();
    const opening = new Set<number>();
    const inodes = this.graph.inodes;
    const p: Peer = {
      requester,
      allowed: this.#allow === null || this.#allow.some((re) => re.test(clientName)),
      fds,
      opening,
      held: false,
      inflight: 0,
      waiting: [],
      decode: {
        linkInode: (gfid, type) => inodes.link(gfid, type),
        findInode: (gfid) => inodes.find(gfid) ?? null,
        fd: (id, open) => {
          if (open === null) return fds.get(id);
          if (!p.held) throw new WireError(`fd ${id}: open, create and opendir need a hold() first`, errno.EPROTO as number);
          // A number open or being opened names another fd: refuse rather than replace it (two
          // opens racing for one number would leak the first one's fd).
          if (fds.has(id) || opening.has(id)) return undefined;
          const loc = open.loc;
          const inode = loc.inode ?? (loc.gfid !== null ? inodes.link(loc.gfid, IA.INVAL) : inodes.root);
          const fd = new Fd(inode, open.fop === 'opendir');
          fd.ctxSet(this, id);
          opening.add(id);
          return fd;
        },
        abandon: (fd) => this.unreserve(p, fd),
      },
    };
    this.#peers.set(requester, p);
    return p;
  }

  /** Drops the reservation of `fd`'s number made when its open/create/opendir was decoded. */
  private unreserve(peer: Peer, fd: Fd): void {
    const id = fd.ctxGet<number>(this);
    if (id !== undefined) peer.opening.delete(id);
  }

  /** Forgets a Peer that never held once nothing of it is in progress (it has no fds). */
  private forgetIdle(peer: Peer): void {
    if (!peer.held && peer.inflight === 0 && peer.waiting.length === 0 && this.#peers.get(peer.requester) === peer) this.#peers.delete(peer.requester);
  }

  private dropPeer(requester: string): void {
    const peer = this.#peers.get(requester);
    if (peer === undefined) return;
    this.#peers.delete(requester);
    for (const fd of peer.fds.values()) this.releaseFd(fd);
    peer.fds.clear();
    peer.opening.clear();
    for (const w of peer.waiting.splice(0)) w();
    peer.release?.();
  }

  private releaseFd(fd: Fd): void {
    try {
      this.graph.releaseFd(fd);
    } catch (err) {
      this.log.warn({ err }, 'release failed');
    }
  }

  /** @internal The service's `fop` method. */
  _serve(req: RequestContext, name: unknown, wire: unknown, creds: unknown): Reply | Promise<Reply> {
    const peer = this.peerOf(req.requester);
    const reply = this.serve(peer, name, wire, creds);
    if (Array.isArray(reply)) this.forgetIdle(peer);
    return reply;
  }

  private serve(peer: Peer, name: unknown, wire: unknown, creds: unknown): Reply | Promise<Reply> {
    if (!peer.allowed) return [-1, errno.EACCES];
    if (!isWireFop(name)) return [-1, errno.EINVAL];
    let args: unknown[];
    try {
      args = decodeArgs(name, wire, peer.decode) as unknown[];
    } catch (err) {
      if (err instanceof WireError && err.errno === errno.EPROTO && !this.#warnedNoHold) {
        this.#warnedNoHold = true;
        this.log.warn({ requester: peer.requester, fop: name }, `protocol/server '${this.name}': '${peer.requester}' sent ${name} without a hold() call open; fd-opening fops answer EPROTO: call hold() first (this is logged once)`);
      }
      return [-1, err instanceof WireError ? err.errno : errno.EINVAL];
    }
    const opened = FOP_SHAPE[name].opens >= 0 ? (args[FOP_SHAPE[name].opens] as Fd) : null;
    const credentials = credentialsOf(creds, this.#squash);
    if (credentials === false) {
      if (opened !== null) this.unreserve(peer, opened);
      return [-1, errno.EINVAL];
    }
    // Short reads and short directory listings are legal: every reply stays below the bound.
    if ((name === 'readv' || name === 'readdir' || name === 'readdirp') && (args[1] as number) > this.#maxRead) args[1] = this.#maxRead;
    if (peer.inflight < this.#limit) return this.run(peer, name, args, credentials);
    if (peer.waiting.length >= this.#limit * 16) {
      if (opened !== null) this.unreserve(peer, opened);
      return [-1, errno.EAGAIN];
    }
    return new Promise<Reply>((resolve) => {
      peer.waiting.push(() => {
        if (this.#peers.get(peer.requester) === peer) return resolve(this.run(peer, name, args, credentials));
        if (opened !== null) this.unreserve(peer, opened);
        resolve([-1, errno.ENOTCONN]);
      });
    });
  }

  private run(peer: Peer, fop: FopName, args: unknown[], credentials: Credentials | undefined): Reply | Promise<Reply> {
    const box: { reply: Reply | undefined; resolve: ((r: Reply) => void) | undefined } = { reply: undefined, resolve: undefined };
    peer.inflight++;
    this.graph.windAt(
      this.child,
      fopIndex(fop),
      (opRet, opErrno, r0, r1, r2, r3, r4, r5) => {
        peer.inflight--;
        const reply = this.complete(peer, fop, args, opRet, opErrno, [r0, r1, r2, r3, r4, r5]);
        if (box.resolve !== undefined) box.resolve(reply);
        else box.reply = reply;
        const next = peer.waiting.shift();
        if (next !== undefined) next();
        else this.forgetIdle(peer);
      },
      credentials,
      args[0],
      args[1],
      args[2],
      args[3],
      args[4],
      args[5],
    );
    if (box.reply !== undefined) return box.reply;
    return new Promise<Reply>((resolve) => {
      box.resolve = resolve;
    });
  }

  private complete(peer: Peer, fop: FopName, args: unknown[], opRet: number, opErrno: number, results: unknown[]): Reply {
    const shape = FOP_SHAPE[fop];
    if (shape.opens >= 0) this.unreserve(peer, args[shape.opens] as Fd);
    if (opRet < 0) return [opRet, opErrno];
    if (shape.opens >= 0) {
      const fd = args[shape.opens] as Fd;
      const inode = shape.inodeResult >= 0 ? (results[shape.inodeResult] as Inode | null) : null;
      if (inode !== null) fd.inode = inode;
      fd.inode.fdCount++;
      const id = fd.ctxGet<number>(this) as number;
      if (this.#peers.get(peer.requester) === peer) peer.fds.set(id, fd);
      // The client left while the fop ran: nobody will release it.
      else this.releaseFd(fd);
    }
    let reply: Reply;
    try {
      reply = encodeReply(fop, opRet, opErrno, results, this.#encode);
    } catch (err) {
      this.log.warn({ err, fop }, `protocol/server '${this.name}': a ${fop} result cannot be encoded; the fop fails with EIO`);
      return [-1, errno.EIO];
    }
    if (shape.notifies) this.invalidate(fop, args, results, peer.requester);
    return reply;
  }

  /** Tells every linked client which inodes and directories `fop` changed. */
  private invalidate(fop: FopName, args: unknown[], results: unknown[], origin: string): void {
    const service = this.#service;
    if (service === undefined || !service.isConnected()) return;
    const shape = FOP_SHAPE[fop];
    let gfid: Gfid | null = shape.inodeResult >= 0 ? ((results[shape.inodeResult] as Inode | null)?.gfid ?? null) : null;
    const pargfids = new Set<Gfid>();
    const names: string[] = [];
    for (const { i, parent } of shape.iatts) {
      const st = results[i] as Iatt | null;
      if (st === null || st === undefined) continue;
      if (parent) pargfids.add(st.gfid);
      else gfid ??= st.gfid;
    }
    for (const i of shape.locs) {
      const loc = args[i] as Loc;
      if (loc.pargfid !== null) pargfids.add(loc.pargfid);
      if (loc.name !== '') names.push(loc.name);
      // rename: the old name's gfid is the one that moved; the first loc names it.
      gfid ??= loc.gfid;
    }
    if (gfid === null && shape.fdArg >= 0) gfid = (args[shape.fdArg] as Fd).inode.gfid;
    try {
      service.emitNotification({ gfid, pargfids: [...pargfids], names, origin });
    } catch (err) {
      this.log.warn({ err }, 'invalidation notification failed');
    }
  }

  /** @internal The service's `release` method. */
  _release(requester: string, fdId: unknown): boolean {
    const peer = this.#peers.get(requester);
    if (peer === undefined || typeof fdId !== 'number') return false;
    const fd = peer.fds.get(fdId);
    if (fd === undefined) return false;
    peer.fds.delete(fdId);
    this.releaseFd(fd);
    return true;
  }

  /** @internal The service's `hold` method: resolves when the client or the service goes. */
  _hold(req: RequestContext): Promise<null> {
    const peer = this.peerOf(req.requester);
    peer.held = true;
    const signal = req.signal;
    return new Promise<null>((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', gone);
        resolve(null);
      };
      const gone = (): void => {
        done();
        this.dropPeer(req.requester);
      };
      if (signal.aborted) return gone();
      const previous = peer.release;
      peer.release = () => {
        previous?.();
        done();
      };
      signal.addEventListener('abort', gone, { once: true });
    });
  }
}

/**
 * `[uid, gid, pid, groups]` → credentials (none: all 0); `undefined` for root without squashing;
 * `false` when malformed. With `squash`, uid 0 becomes `squash.uid` and gid 0 (also in the groups)
 * `squash.gid`, as GlusterFS's server.root-squash.
 */
function credentialsOf(creds: unknown, squash: { uid: number; gid: number } | null): Credentials | undefined | false {
  let c: Credentials;
  if (creds === null || creds === undefined) {
    if (squash === null) return undefined;
    c = { uid: 0, gid: 0, pid: 0, groups: [] };
  } else {
    if (!Array.isArray(creds) || creds.length < 3 || !creds.slice(0, 3).every((n) => typeof n === 'number')) return false;
    const groups: unknown = creds[3];
    c = {
      uid: creds[0] as number,
      gid: creds[1] as number,
      pid: creds[2] as number,
      groups: Array.isArray(groups) && groups.every((g) => typeof g === 'number') ? (groups as number[]) : [],
    };
  }
  if (squash === null) return c;
  const groups = c.groups ?? [];
  return {
    uid: c.uid === 0 ? squash.uid : c.uid,
    gid: c.gid === 0 ? squash.gid : c.gid,
    pid: c.pid,
    groups: groups.includes(0) ? groups.map((g) => (g === 0 ? squash.gid : g)) : groups,
  };
}

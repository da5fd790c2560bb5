/**
 * `protocol/server`: serves its one child (the exported volume) as a Switchyard Service on a
 * Manager, so that `protocol/client` leaves elsewhere can wind fops into it. It is the top of a
 * brick's graph.
 *
 * Options: `name` (required: the service name, which clients give as `remote-subvolume`),
 * `manager` (`host:port`, default `localhost:1875`), `cert-file`, `disable-tls`, `username`,
 * `password` (`SWITCHYARD_USERNAME`/`SWITCHYARD_PASSWORD` when unset), `auth.allow`,
 * `outstanding-rpc-limit` (default 64) and `frame-timeout`.
 *
 * The service's methods (the wire protocol, see `wire-codec.ts` for the argument forms):
 * - `fop(name, args, creds?)` → `[opRet, opErrno, ...results]`: the fop is wound into the child
 *   (through `graph.windAt`, so the brick graph's frame-timeout applies); `creds` is
 *   `[uid, gid, pid, groups]`, trusted as GlusterFS trusts its clients' credentials. A synchronous
 *   child (storage/memory) is answered without a Promise. Unknown fop names and malformed
 *   arguments answer `(-1, EINVAL)`, unknown fd numbers `(-1, EBADF)`.
 * - `release(fdId)`: the client closed its fd; the server's Fd is released in the brick graph.
 * - `hold()`: each client keeps one such call open while it is linked. When the client goes, the
 *   Manager cancels the call (its request signal aborts) and the server releases every fd of that
 *   client at once: this is how a Service learns that a linked client left. A client that never
 *   holds keeps its fds until the service stops.
 * - `ping()`: answers `true` (the client's ping-timeout).
 *
 * Fds are per client: the client names an fd by its own number; the server keeps a map per
 * requester from that number to a server-side `Fd`. A reconnected client is a new requester.
 *
 * `outstanding-rpc-limit`: fops of one client that have not completed yet (only asynchronous
 * children ever have any). Beyond the limit a fop waits in a per-client FIFO, bounded at 16 × the
 * limit; beyond that bound it fails at once with `EAGAIN`.
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
  } as const satisfies OptionSchema;

  #service: BrickService | undefined;
  readonly #peers = new Map<string, Peer>();
  #allow: RegExp[] | null = null;
  #limit = 64;
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

  /** Resolves when the service has disconnected from the Manager (by `fini` or because the Manager went). */
  whenStopped(): Promise<void> {
    return this.#service?.whenStopped() ?? Promise.resolve();
  }

  private dropAll(): void {
    for (const requester of [...this.#peers.keys()]) this.dropPeer(requester);
  }

  private peerOf(requester: string): Peer {
    let peer = this.#peers.get(requester);
    if (peer !== undefined) return peer;
    const clientName = requester.replace(/\[[^\]]*\]$/, '');
    const fds = new Map<number, Fd>();
    const inodes = this.graph.inodes;
    peer = {
      requester,
      allowed: this.#allow === null || this.#allow.some((re) => re.test(clientName)),
      fds,
      inflight: 0,
      waiting: [],
      decode: {
        linkInode: (gfid, type) => inodes.link(gfid, type),
        findInode: (gfid) => inodes.find(gfid) ?? null,
        fd: (id, opening) => {
          if (opening === null) return fds.get(id);
          // A number already open names another fd: refuse rather than replace it.
          if (fds.has(id)) return undefined;
          const loc = opening.loc;
          const inode = loc.inode ?? (loc.gfid !== null ? inodes.link(loc.gfid, IA.INVAL) : inodes.root);
          const fd = new Fd(inode, opening.fop === 'opendir');
          fd.ctxSet(this, id);
          return fd;
        },
      },
    };
    this.#peers.set(requester, peer);
    return peer;
  }

  private dropPeer(requester: string): void {
    const peer = this.#peers.get(requester);
    if (peer === undefined) return;
    this.#peers.delete(requester);
    for (const fd of peer.fds.values()) this.releaseFd(fd);
    peer.fds.clear();
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
    if (!peer.allowed) return [-1, errno.EACCES];
    if (!isWireFop(name)) return [-1, errno.EINVAL];
    let args: unknown[];
    try {
      args = decodeArgs(name, wire, peer.decode) as unknown[];
    } catch (err) {
      return [-1, err instanceof WireError ? err.errno : errno.EINVAL];
    }
    const credentials = credentialsOf(creds);
    if (credentials === false) return [-1, errno.EINVAL];
    if (peer.inflight < this.#limit) return this.run(peer, name, args, credentials);
    if (peer.waiting.length >= this.#limit * 16) return [-1, errno.EAGAIN];
    return new Promise<Reply>((resolve) => {
      peer.waiting.push(() => resolve(this.#peers.get(peer.requester) === peer ? this.run(peer, name, args, credentials) : [-1, errno.ENOTCONN]));
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

/** `[uid, gid, pid, groups]` → credentials; `undefined` for none; `false` when malformed. */
function credentialsOf(creds: unknown): Credentials | undefined | false {
  if (creds === null || creds === undefined) return undefined;
  if (!Array.isArray(creds) || creds.length < 3 || !creds.slice(0, 3).every((n) => typeof n === 'number')) return false;
  const groups: unknown = creds[3];
  return {
    uid: creds[0] as number,
    gid: creds[1] as number,
    pid: creds[2] as number,
    groups: Array.isArray(groups) && groups.every((g) => typeof g === 'number') ? (groups as number[]) : [],
  };
}

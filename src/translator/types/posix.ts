/**
 * `storage/posix`: a leaf translator that stores the volume in a real directory (a "brick"),
 * mapping every fop onto node:fs: asynchronous calls, except the fstat of an open file around
 * readv/writev (see `sync-fstat`).
 *
 * Options: `directory` (required): the brick's directory. It must exist and be readable, writable
 * and searchable by this process. `sync-fstat` (default on): stat open files synchronously on the
 * data path; turn it off for a brick on a network file system.
 *
 * ## Gfids without xattrs
 * GlusterFS keeps each file's gfid in a `trusted.gfid` xattr; Node has no xattr API, so a gfid is
 * derived instead: the SHA-256 of the brick's volume id (a random UUID made on first start and
 * kept in `<directory>/.switchyard/volume-id`), the file's inode number and its birth time
 * (`statx` btime, in ns), formatted as a version-8 UUID. The root directory is always
 * {@link ROOT_GFID}. This gfid is
 * - stable across renames: a rename keeps the inode and its birth time;
 * - stable across restarts: the volume id, inode number and birth time are all on disk;
 * - fresh when an inode number is reused: a new file has a new birth time;
 * - distinct between bricks: each brick has its own volume id.
 * On a file system that does not record birth times (btime reads as 0) the gfid depends on the
 * inode number alone, so a reused inode number gets the gfid of the file that had it before.
 * A copy of the brick (cp, rsync, restore from backup) gives every file a new gfid.
 *
 * Nameless lookups (`loc.path === ''`, `loc.gfid` set) go through an in-memory map from gfid to
 * the last path this translator saw for it (lookups, creates, readdirp, renames fill it; bounded,
 * least recently used first out). The path is checked against the gfid before use; an unknown or
 * moved gfid answers `ESTALE`. With hard links, the map knows only the name seen last.
 *
 * ## Extended attributes
 * Emulated: each file's xattrs live in one JSON file under `<directory>/.switchyard/xattrs/`,
 * named by its gfid, written atomically (temporary file + rename) and serialised per gfid. They
 * are removed with the file's last link. Names up to 255 bytes (else `ERANGE`), values up to
 * 64 KiB (else `E2BIG`), as Linux.
 *
 * ## Confinement
 * Every `loc.path` is split into components; `..` is refused (`EINVAL`), `.` and empty components
 * are dropped, and the `.switchyard` directory at the root is refused for every fop (`EACCES`)
 * and left out of the root's listing. The parent of the entry a fop names must resolve
 * (`realpath`) to exactly its own path below the brick, so a symlink as a middle component is
 * refused (`ENOTDIR`, as a symlink is no directory at this level; clients resolve symlinks
 * themselves). The last component is never followed: `lstat`, `lchown`, `lutimes`, `readlink`,
 * and `open` with `O_NOFOLLOW` (a symlink answers `ELOOP`). A symlink's target is stored verbatim
 * and never used by the brick. One window remains: another process that swaps a checked parent
 * directory for a symlink between the check and the operation (Node has no `openat2`
 * `RESOLVE_BENEATH`); `chmod` of a path likewise follows a symlink that replaces the file between
 * its `lstat` and the call.
 *
 * ## Other choices
 * - `mknod` makes regular files only; device nodes, FIFOs and sockets answer `EPERM` (Node cannot
 *   make them).
 * - `fallocate` answers `EOPNOTSUPP` (Node has no fallocate); `zerofill` writes zeros (extending
 *   the file), `discard` writes zeros within the file's size (it frees no space); `seek` treats the
 *   whole file as data (allowed by POSIX).
 * - A directory fd's listing is read at its first `readdir` (and again when a caller goes back to
 *   offset 0 after reading on, as `rewinddir`); offsets are positions in that snapshot, so paging
 *   is exact even while entries are added or removed. On Linux the listing is read through the
 *   fd itself (`/proc/self/fd/N`), so a directory renamed while open is still the one listed.
 * - New entries belong to the process user; a process running as root gives them to the caller's
 *   uid/gid (`frame.root`), as GlusterFS does.
 * - Permissions are left to the kernel (the process's own rights); `access` asks the kernel.
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import fs, { constants as fsc, type BigIntStats, type Dirent } from 'node:fs';
import { constants as osc } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { TranslatorError } from '../../errors.ts';
import type { Frame } from '../frame.ts';
import { IA, ROOT_GFID, errno, iaTypeFromMode, SETATTR, type DirEntry, type Dict, type Fd, type Gfid, type IaType, type Iatt, type Loc, type Statvfs, type XattrDict } from '../model.ts';
import { Translator, unwind, type TranslatorHooks } from '../translator.ts';

const META = '.switchyard';
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 65_536;
const GFID_PATHS_LIMIT = 1 << 17;
const ZERO_CHUNK = 1 << 20;
const READ_CAP_UNKNOWN_SIZE = 1 << 20;
const ACCMODE = 3;
const LIST_BY_FD = process.platform === 'linux' && fs.existsSync('/proc/self/fd');

/** A fop's failure with an errno, thrown inside this file only and turned into `(-1, errno)`. */
class FopErrno extends Error {
  constructor(readonly code: number) {
    super(`errno ${code}`);
    this.name = 'FopErrno';
  }
}

function refuse(code: number): never {
  throw new FopErrno(code);
}

/** The errno of a failure: ours, node:fs's (`err.errno` is negative in Node), or EIO. */
function errnoOf(err: unknown): number {
  if (err instanceof FopErrno) return err.code;
  const e = err as NodeJS.ErrnoException | null;
  if (e && typeof e.errno === 'number' && e.errno !== 0) return Math.abs(e.errno);
  if (e && typeof e.code === 'string') {
    const n = (osc.errno as Record<string, number | undefined>)[e.code];
    if (n !== undefined) return n;
  }
  return errno.EIO;
}

type Cb<T> = (err: NodeJS.ErrnoException | null, value: T) => void;

/** Runs a callback-style node:fs call as a Promise (a synchronous argument error rejects too). */
function io<T>(fn: (cb: Cb<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

function io0(fn: (cb: (err: NodeJS.ErrnoException | null) => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));
}

const lstatB = (p: string): Promise<BigIntStats> => io<BigIntStats>((cb) => fs.lstat(p, { bigint: true }, cb));
const fstatB = (fd: number): Promise<BigIntStats> => io<BigIntStats>((cb) => fs.fstat(fd, { bigint: true }, cb));
const openFd = (p: string, flags: number, mode = 0o666): Promise<number> => io<number>((cb) => fs.open(p, flags, mode, cb));
const closeFd = (fd: number): Promise<void> => io0((cb) => fs.close(fd, cb));

const NS = 1_000_000_000n;

function splitNs(ns: bigint): [number, number] {
  let s = ns / NS;
  let n = ns % NS;
  if (n < 0n) {
    s -= 1n;
    n += NS;
  }
  return [Number(s), Number(n)];
}

function iaTypeOfDirent(d: Dirent): IaType {
  if (d.isFile()) return IA.IFREG;
  if (d.isDirectory()) return IA.IFDIR;
  if (d.isSymbolicLink()) return IA.IFLNK;
  if (d.isBlockDevice()) return IA.IFBLK;
  if (d.isCharacterDevice()) return IA.IFCHR;
  if (d.isFIFO()) return IA.IFIFO;
  if (d.isSocket()) return IA.IFSOCK;
  return IA.INVAL;
}

/** What a file fd or directory fd holds in its context. */
interface FdCtx {
  osfd: number;
  /** Fops in flight on `osfd`; the descriptor is closed only when none is left. */
  pending: number;
  closing: boolean;
  /** Directory fds: the volume path and the listing snapshot. */
  dir?: { vpath: string; real: string; entries: { name: string; type: IaType }[] | null; readPastStart: boolean };
}

/** Where a fop applies: the volume path, its components and the path on disk. */
interface Target {
  vpath: string;
  comps: string[];
  real: string;
}

/**
 * The storage/posix leaf (see the module comment for the gfid, xattr and confinement rules).
 * `init` rejects with a {@link TranslatorError} when `directory` is missing, absent, not a
 * directory or not accessible.
 *
 * @example
 * ```
 * volume brick
 *   type storage/posix
 *   option directory /data/brick1
 * end-volume
 * ```
 */
export class PosixStorage extends Translator implements TranslatorHooks {
  static override options = {
    directory: { type: 'path', description: "The brick's directory: every file of the volume is stored below it." },
    'sync-fstat': {
      type: 'bool',
      default: 'on',
      description: 'Stat open files synchronously around readv/writev (cheap on local file systems; turn off for a brick on a network file system).',
    },
  } as const;

  #root = '';
  #volumeId = '';
  #rootIno = 0n;
  #rootDev = 0n;
  #xattrDir = '';
  readonly #xattrDirsMade = new Set<string>();
  readonly #xattrLocks = new Map<Gfid, Promise<unknown>>();
  /** gfid → last volume path seen (bounded; insertion order is recency). */
  readonly #paths = new Map<Gfid, string>();
  readonly #open = new Set<FdCtx>();
  #tmpSeq = 0;
  readonly #chownNew = typeof process.getuid === 'function' && process.getuid() === 0;

  /** The brick directory as resolved at init (no symlinks). */
  get directory(): string {
    return this.#root;
  }

  override async init(): Promise<void> {
    const raw = this.option<string>('directory');
    const where = `volume '${this.name}' (storage/posix)`;
    if (raw === undefined || raw === '') {
      throw new TranslatorError(`${where}: option 'directory' is required: the brick's directory (e.g. 'option directory /data/brick1')`, { translator: this.name, option: 'directory' });
    }
    const abs = resolvePath(raw);
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist; create it first' : code === 'EACCES' ? 'is not accessible to this process' : `cannot be read (${code ?? String(err)})`;
      throw new TranslatorError(`${where}: option 'directory': '${abs}' ${why}`, { translator: this.name, option: 'directory' }, { cause: err });
    }
    if (!st.isDirectory()) throw new TranslatorError(`${where}: option 'directory': '${abs}' is not a directory`, { translator: this.name, option: 'directory' });
    try {
      await fs.promises.access(abs, fsc.R_OK | fsc.W_OK | fsc.X_OK);
    } catch (err) {
      throw new TranslatorError(`${where}: option 'directory': '${abs}' is not readable, writable and searchable by this process (uid ${process.getuid?.() ?? '?'})`, { translator: this.name, option: 'directory' }, { cause: err });
    }
    this.#root = await fs.promises.realpath(abs);
    const meta = `${this.#root}/${META}`;
    try {
      await fs.promises.mkdir(meta, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (!(await fs.promises.lstat(meta)).isDirectory()) throw new TranslatorError(`${where}: '${meta}' must be a directory (it holds the brick's metadata)`, { translator: this.name, option: 'directory' });
    this.#xattrDir = `${meta}/xattrs`;
    await fs.promises.mkdir(this.#xattrDir, { recursive: true, mode: 0o700 });
    this.#volumeId = await this.loadVolumeId(`${meta}/volume-id`, where);
    const rs = await lstatB(this.#root);
    this.#rootIno = rs.ino;
    this.#rootDev = rs.dev;
  }

  private async loadVolumeId(file: string, where: string): Promise<string> {
    const fresh = randomUUID();
    try {
      // 'wx': two bricks starting on one directory at once agree on the first id written.
      await fs.promises.writeFile(file, `${fresh}\n`, { flag: 'wx', mode: 0o600 });
      return fresh;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const id = (await fs.promises.readFile(file, 'utf8')).trim();
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new TranslatorError(`${where}: '${file}' does not hold a volume id (a UUID); restore it or remove it (every file then gets a new gfid)`, { translator: this.name });
    return id.toLowerCase();
  }

  override async fini(): Promise<void> {
    const open = [...this.#open];
    this.#open.clear();
    await Promise.all(open.map((c) => closeFd(c.osfd).catch(() => {})));
  }

  // ---- gfids, iatts and paths ----------------------------------------------------------------

  /** The gfid of the file `st` describes. */
  gfidOf(st: BigIntStats): Gfid {
    if (st.ino === this.#rootIno && st.dev === this.#rootDev) return ROOT_GFID;
    const h = createHash('sha256').update(`${this.#volumeId}:${st.ino}:${st.birthtimeNs}`).digest();
    h[6] = ((h[6] as number) & 0x0f) | 0x80;
    h[8] = ((h[8] as number) & 0x3f) | 0x80;
    const x = h.toString('hex', 0, 16);
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
  }

  private iatt(st: BigIntStats, gfid = this.gfidOf(st)): Iatt {
    const mode = Number(st.mode);
    const [atime, atimeNsec] = splitNs(st.atimeNs);
    const [mtime, mtimeNsec] = splitNs(st.mtimeNs);
    const [ctime, ctimeNsec] = splitNs(st.ctimeNs);
    return {
      gfid,
      ino: Number(st.ino),
      dev: Number(st.dev),
      type: iaTypeFromMode(mode),
      prot: mode & 0o7777,
      nlink: Number(st.nlink),
      uid: Number(st.uid),
      gid: Number(st.gid),
      rdev: Number(st.rdev),
      size: Number(st.size),
      blksize: Number(st.blksize),
      blocks: Number(st.blocks),
      atime,
      atimeNsec,
      mtime,
      mtimeNsec,
      ctime,
      ctimeNsec,
    };
  }

  private remember(gfid: Gfid, vpath: string): void {
    if (gfid === ROOT_GFID) return;
    const m = this.#paths;
    m.delete(gfid);
    m.set(gfid, vpath);
    if (m.size > GFID_PATHS_LIMIT) {
      const oldest = m.keys().next();
      if (!oldest.done) m.delete(oldest.value);
    }
  }

  /** Splits a volume path into safe components; refuses `..`, NUL and the metadata directory. */
  private components(path: string): string[] {
    if (path.includes('\0')) refuse(errno.EINVAL);
    const comps: string[] = [];
    for (const c of path.split('/')) {
      if (c === '' || c === '.') continue;
      if (c === '..') refuse(errno.EINVAL);
      comps.push(c);
    }
    if (comps[0] === META) refuse(errno.EACCES);
    return comps;
  }

  /** The on-disk path of `comps`, after checking that no middle component is a symlink. */
  private async realOf(comps: string[]): Promise<string> {
    if (comps.length === 0) return this.#root;
    const real = `${this.#root}/${comps.join('/')}`;
    if (comps.length > 1) {
      const parent = real.slice(0, real.lastIndexOf('/'));
      const resolved = await io<string>((cb) => fs.realpath.native(parent, cb));
      if (resolved !== parent) refuse(errno.ENOTDIR);
    }
    return real;
  }

  /** Resolves `loc` (by path, or by gfid for a nameless loc). `st` is set when a nameless loc was checked. */
  private async target(loc: Loc): Promise<Target & { st?: BigIntStats }> {
    if (loc.path !== '') {
      const comps = this.components(loc.path);
      return { vpath: `/${comps.join('/')}`, comps, real: await this.realOf(comps) };
    }
    if (loc.gfid === null) refuse(errno.EINVAL);
    if (loc.gfid === ROOT_GFID) return { vpath: '/', comps: [], real: this.#root };
    const vpath = this.#paths.get(loc.gfid);
    if (vpath === undefined) refuse(errno.ESTALE);
    let st: BigIntStats;
    let t: Target;
    try {
      const comps = this.components(vpath);
      t = { vpath, comps, real: await this.realOf(comps) };
      st = await lstatB(t.real);
    } catch {
      this.#paths.delete(loc.gfid);
      refuse(errno.ESTALE);
    }
    if (this.gfidOf(st) !== loc.gfid) {
      this.#paths.delete(loc.gfid);
      refuse(errno.ESTALE);
    }
    return { ...t, st };
  }

  /**
   * {@link target} for a lookup by path, with the confinement check (`realpath` of the parent) and
   * both stats run at once: one thread-pool round trip instead of two. A stat whose path turns out
   * to pass a symlinked component is thrown away, unseen, when the check fails.
   */
  private async checkedInParallel(path: string): Promise<Target & { stats?: [BigIntStats, BigIntStats | null] }> {
    const comps = this.components(path);
    const vpath = `/${comps.join('/')}`;
    if (comps.length === 0) return { vpath, comps, real: this.#root };
    const real = `${this.#root}/${comps.join('/')}`;
    const parent = real.slice(0, real.lastIndexOf('/'));
    const [check, st, pst] = await Promise.allSettled([
      comps.length > 1 ? io<string>((cb) => fs.realpath.native(parent, cb)) : Promise.resolve(parent),
      lstatB(real),
      lstatB(parent),
    ]);
    if (check.status === 'rejected') throw check.reason;
    if (check.value !== parent) refuse(errno.ENOTDIR);
    if (st.status === 'rejected') throw st.reason;
    if (pst.status === 'rejected') throw pst.reason;
    return { vpath, comps, real, stats: [st.value, pst.value] };
  }

  /** Like {@link target} for a loc that names an entry in a directory (not the root). */
  private async entry(loc: Loc, rootErr: number): Promise<Target> {
    const t = await this.target(loc);
    if (t.comps.length === 0) refuse(rootErr);
    return t;
  }

  private parentReal(t: Target): string {
    return t.real.slice(0, t.real.lastIndexOf('/'));
  }

  /** Runs `work` and unwinds its answer; a failure unwinds `(-1, errno)`. */
  private run<T>(frame: Frame, work: () => Promise<T>, done: (v: T) => void): void {
    let p: Promise<T>;
    try {
      p = work();
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(done, (err: unknown) => {
      const n = errnoOf(err);
      if (n === errno.EIO && !(err instanceof FopErrno)) this.log.warn({ err, fop: frame.op }, `storage/posix: ${frame.op} failed unexpectedly`);
      this.fail(frame, n);
    }).catch((err: unknown) => this.log.error({ err, fop: frame.op }, 'storage/posix: unwinding failed'));
  }

  /**
   * The stat of an open file on the data path (readv, writev). With `sync-fstat` (default) it is
   * a synchronous fstat: the file is open, so its inode is in memory on a local file system and
   * the call costs about a microsecond, where a thread-pool round trip cost 20–60 µs on this
   * 2-core machine, twice per write (GlusterFS's posix makes the same calls inside its own I/O
   * thread). A brick on a network file system, whose fstat may wait for the server, turns it off.
   */
  private fstatData(osfd: number): Promise<BigIntStats> | BigIntStats {
    return this.option<boolean>('sync-fstat') === false ? fstatB(osfd) : fs.fstatSync(osfd, { bigint: true });
  }

  /** Closes `osfd` and refuses (EPERM) anything but a regular file or a directory. */
  private async refuseSpecial(osfd: number): Promise<void> {
    const type = iaTypeFromMode(Number((await this.fstatData(osfd)).mode));
    if (type === IA.IFREG || type === IA.IFDIR) return;
    await closeFd(osfd).catch(() => {});
    refuse(errno.EPERM);
  }

  /** Runs `work` with the OS descriptor of `fd`, keeping it open until `work` settles. */
  private async withFd<T>(fd: Fd, work: (osfd: number, ctx: FdCtx) => Promise<T>): Promise<T> {
    const ctx = fd.ctxGet<FdCtx>(this);
    if (ctx === undefined || ctx.closing || fd.released) refuse(errno.EBADF);
    ctx.pending++;
    try {
      return await work(ctx.osfd, ctx);
    } finally {
      ctx.pending--;
      if (ctx.closing && ctx.pending === 0) this.closeCtx(ctx);
    }
  }

  private closeCtx(ctx: FdCtx): void {
    this.#open.delete(ctx);
    fs.close(ctx.osfd, (err) => {
      if (err) this.log.warn({ err }, 'storage/posix: close failed');
    });
  }

  private keepFd(fd: Fd, osfd: number, dir?: FdCtx['dir']): void {
    const ctx: FdCtx = dir === undefined ? { osfd, pending: 0, closing: false } : { osfd, pending: 0, closing: false, dir };
    this.#open.add(ctx);
    fd.ctxSet(this, ctx);
  }

  override release(fd: Fd): void {
    const ctx = fd.ctxDel<FdCtx>(this);
    if (ctx === undefined || ctx.closing) return;
    ctx.closing = true;
    if (ctx.pending === 0) this.closeCtx(ctx);
  }

  override releasedir(fd: Fd): void {
    this.release(fd);
  }

  /** Gives a new entry to the caller when this process runs as root (GlusterFS does the same). */
  private async chownNew(frame: Frame, real: string, osfd?: number): Promise<boolean> {
    if (!this.#chownNew) return false;
    const { uid, gid } = frame.root;
    if (uid === 0 && gid === 0) return false;
    if (osfd !== undefined) await io0((cb) => fs.fchown(osfd, uid, gid, cb));
    else await io0((cb) => fs.lchown(real, uid, gid, cb));
    return true;
  }

  /** Sets the permission bits the caller asked for when the process umask took some away. */
  private async fixMode(real: string, st: BigIntStats, want: number, osfd?: number): Promise<BigIntStats> {
    if ((Number(st.mode) & 0o7777) === want) return st;
    if (osfd !== undefined) {
      await io0((cb) => fs.fchmod(osfd, want, cb));
      return fstatB(osfd);
    }
    await io0((cb) => fs.chmod(real, want, cb));
    return lstatB(real);
  }

  // ---- xattr sidecar store ---------------------------------------------------------------------

  private xattrFile(gfid: Gfid): { dir: string; file: string } {
    const dir = `${this.#xattrDir}/${gfid.slice(0, 2)}`;
    return { dir, file: `${dir}/${gfid}.json` };
  }

  private async readXattrs(gfid: Gfid): Promise<Map<string, Buffer>> {
    let text: string;
    try {
      text = await io<string>((cb) => fs.readFile(this.xattrFile(gfid).file, 'utf8', cb));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw err;
    }
    const obj = JSON.parse(text) as Record<string, string>;
    return new Map(Object.entries(obj).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  }

  private async writeXattrs(gfid: Gfid, x: Map<string, Buffer>): Promise<void> {
    const { dir, file } = this.xattrFile(gfid);
    if (x.size === 0) {
      await io0((cb) => fs.unlink(file, cb)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      return;
    }
    if (!this.#xattrDirsMade.has(dir)) {
      await io<string | undefined>((cb) => fs.mkdir(dir, { recursive: true, mode: 0o700 }, cb));
      this.#xattrDirsMade.add(dir);
    }
    const obj: Record<string, string> = {};
    for (const [k, v] of x) obj[k] = v.toString('base64');
    const tmp = `${file}.${process.pid}.${++this.#tmpSeq}.tmp`;
    await io0((cb) => fs.writeFile(tmp, JSON.stringify(obj), { mode: 0o600 }, cb));
    await io0((cb) => fs.rename(tmp, file, cb));
  }

  /** Runs `work` after every earlier xattr change of `gfid` (read-modify-write must not interleave). */
  private xattrLocked<T>(gfid: Gfid, work: () => Promise<T>): Promise<T> {
    const before = this.#xattrLocks.get(gfid) ?? Promise.resolve();
    const next = before.then(work, work);
    const tail = next.catch(() => {});
    this.#xattrLocks.set(gfid, tail);
    void tail.then(() => {
      if (this.#xattrLocks.get(gfid) === tail) this.#xattrLocks.delete(gfid);
    });
    return next;
  }

  private async getX(gfid: Gfid, name: string): Promise<XattrDict> {
    const x = await this.readXattrs(gfid);
    const out: XattrDict = {};
    if (name === '') {
      for (const [k, v] of x) out[k] = v;
      return out;
    }
    const v = x.get(name);
    if (v === undefined) refuse(errno.ENODATA);
    out[name] = v;
    return out;
  }

  private setX(gfid: Gfid, dict: XattrDict, flags: number): Promise<void> {
    for (const [k, v] of Object.entries(dict)) {
      if (k === '' || Buffer.byteLength(k) > XATTR_NAME_MAX) refuse(k === '' ? errno.EINVAL : errno.ERANGE);
      if (v.length > XATTR_SIZE_MAX) refuse(errno.E2BIG);
    }
    return this.xattrLocked(gfid, async () => {
      const x = await this.readXattrs(gfid);
      for (const k of Object.keys(dict)) {
        if (flags & XATTR_CREATE && x.has(k)) refuse(errno.EEXIST);
        if (flags & XATTR_REPLACE && !x.has(k)) refuse(errno.ENODATA);
      }
      for (const [k, v] of Object.entries(dict)) x.set(k, Buffer.from(v));
      await this.writeXattrs(gfid, x);
    });
  }

  private removeX(gfid: Gfid, name: string): Promise<void> {
    return this.xattrLocked(gfid, async () => {
      const x = await this.readXattrs(gfid);
      if (!x.delete(name)) refuse(errno.ENODATA);
      await this.writeXattrs(gfid, x);
    });
  }

  /** The file's last link is gone: its xattrs and its gfid's path go too. */
  private dropFile(gfid: Gfid): Promise<void> {
    this.#paths.delete(gfid);
    this.graph.inodes.forget(gfid);
    return this.xattrLocked(gfid, () => this.writeXattrs(gfid, new Map())).catch((err: unknown) => this.log.warn({ err, gfid }, 'storage/posix: could not remove the xattrs of a removed file'));
  }

  // ---- fops ------------------------------------------------------------------------------------

  lookupFop(frame: Frame, loc: Loc, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => {
        const t: Target & { st?: BigIntStats; stats?: [BigIntStats, BigIntStats | null] } = loc.path === '' ? await this.target(loc) : await this.checkedInParallel(loc.path);
        // Both stats at once: a lookup's latency is one thread-pool round trip, not two.
        const [st, parent] = t.stats ?? (await Promise.all([t.st ?? lstatB(t.real), t.comps.length === 0 ? null : lstatB(this.parentReal(t))]));
        const gfid = this.gfidOf(st);
        this.remember(gfid, t.vpath);
        return { buf: this.iatt(st, gfid), postparent: parent === null ? null : this.iatt(parent) };
      },
      (r) => this.unwindLookup(frame, 0, 0, this.graph.inodes.link(r.buf.gfid, r.buf.type), r.buf, null, r.postparent),
    );
  }

  statFop(frame: Frame, loc: Loc, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => {
        const t = await this.target(loc);
        return this.iatt(t.st ?? (await lstatB(t.real)));
      },
      (buf) => this.unwindStat(frame, 0, 0, buf, null),
    );
  }

  fstatFop(frame: Frame, fd: Fd, _xdata: Dict | null): void {
    this.run(
      frame,
      () => this.withFd(fd, async (osfd) => this.iatt(await fstatB(osfd))),
      (buf) => this.unwindFstat(frame, 0, 0, buf, null),
    );
  }

  statfsFop(frame: Frame, loc: Loc, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => {
        // The path is checked (it must be inside the brick), but the figures are the brick's file
        // system's, as GlusterFS's posix gives: statfs follows symlinks, so a link's target must not
        // be probed.
        await this.target(loc);
        const s = await io<fs.StatsFs>((cb) => fs.statfs(this.#root, cb));
        const st: Statvfs = { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, favail: s.ffree, fsid: s.type, flag: 0, namemax: 255 };
        return st;
      },
      (st) => this.unwindStatfs(frame, 0, 0, st, null),
    );
  }

  accessFop(frame: Frame, loc: Loc, mask: number, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => {
        const t = await this.target(loc);
        const st = t.st ?? (await lstatB(t.real));
        // The kernel's access() follows symlinks; a symlink itself grants everything.
        if (iaTypeFromMode(Number(st.mode)) !== IA.IFLNK) await io0((cb) => fs.access(t.real, mask & 7, cb));
      },
      () => this.unwindAccess(frame, 0, 0, null),
    );
  }

  readlinkFop(frame: Frame, loc: Loc, size: number, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => {
        const t = await this.target(loc);
        const target = await io<Buffer>((cb) => fs.readlink(t.real, { encoding: 'buffer' }, cb));
        const st = await lstatB(t.real);
        return { path: (size > 0 && target.length > size ? target.subarray(0, size) : target).toString(), buf: this.iatt(st) };
      },
      (r) => this.unwindReadlink(frame, 0, 0, r.path, r.buf, null),
    );
  }

  /** Makes an entry with `make`, then answers with the result tuple mknod/mkdir/symlink/link share. */
  private makeEntry(frame: Frame, loc: Loc, make: (t: Target) => Promise<BigIntStats>): void {
    this.run(
      frame,
      async () => {
        const t = await this.entry(loc, errno.EEXIST);
        const parent = this.parentReal(t);
        const pre = this.iatt(await lstatB(parent));
        const st = await make(t);
        const gfid = this.gfidOf(st);
        this.remember(gfid, t.vpath);
        return { buf: this.iatt(st, gfid), pre, post: this.iatt(await lstatB(parent)) };
      },
      (r) => unwind(frame, 0, 0, this.graph.inodes.link(r.buf.gfid, r.buf.type), r.buf, r.pre, r.post, null, null),
    );
  }

  mknodFop(frame: Frame, loc: Loc, mode: number, _rdev: number, umask: number, _xdata: Dict | null): void {
    const type = iaTypeFromMode(mode) || IA.IFREG;
    if (type === IA.IFDIR || type === IA.IFLNK) return this.unwindMknod(frame, -1, errno.EINVAL);
    if (type !== IA.IFREG) return this.unwindMknod(frame, -1, errno.EPERM);
    const want = mode & ~umask & 0o7777;
    this.makeEntry(frame, loc, async (t) => {
      const osfd = await openFd(t.real, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY | fsc.O_NOFOLLOW, want);
      try {
        await this.chownNew(frame, t.real, osfd);
        return await this.fixMode(t.real, await fstatB(osfd), want, osfd);
      } finally {
        await closeFd(osfd);
      }
    });
  }

  mkdirFop(frame: Frame, loc: Loc, mode: number, umask: number, _xdata: Dict | null): void {
    const want = mode & ~umask & 0o7777;
    this.makeEntry(frame, loc, async (t) => {
      await io<string | undefined>((cb) => fs.mkdir(t.real, { mode: want }, cb));
      await this.chownNew(frame, t.real);
      return this.fixMode(t.real, await lstatB(t.real), want);
    });
  }

  symlinkFop(frame: Frame, linkname: string, loc: Loc, _umask: number, _xdata: Dict | null): void {
    this.makeEntry(frame, loc, async (t) => {
      if (linkname === '' || linkname.includes('\0')) refuse(linkname === '' ? errno.ENOENT : errno.EINVAL);
      await io0((cb) => fs.symlink(linkname, t.real, cb));
      await this.chownNew(frame, t.real);
      return lstatB(t.real);
    });
  }

  linkFop(frame: Frame, oldloc: Loc, newloc: Loc, _xdata: Dict | null): void {
    this.makeEntry(frame, newloc, async (t) => {
      const from = await this.entry(oldloc, errno.EPERM);
      await io0((cb) => fs.link(from.real, t.real, cb));
      return lstatB(t.real);
    });
  }

  private removeEntry(frame: Frame, loc: Loc, dir: boolean, done: (pre: Iatt, post: Iatt) => void): void {
    this.run(
      frame,
      async () => {
        const t = await this.entry(loc, dir ? errno.EBUSY! : errno.EISDIR);
        const parent = this.parentReal(t);
        const st = await lstatB(t.real);
        const pre = this.iatt(await lstatB(parent));
        if (dir) await io0((cb) => fs.rmdir(t.real, cb));
        else await io0((cb) => fs.unlink(t.real, cb));
        if (dir || st.nlink <= 1n) await this.dropFile(this.gfidOf(st));
        return { pre, post: this.iatt(await lstatB(parent)) };
      },
      (r) => done(r.pre, r.post),
    );
  }

  unlinkFop(frame: Frame, loc: Loc, _xflags: number, _xdata: Dict | null): void {
    this.removeEntry(frame, loc, false, (pre, post) => this.unwindUnlink(frame, 0, 0, pre, post, null));
  }

  rmdirFop(frame: Frame, loc: Loc, _xflags: number, _xdata: Dict | null): void {
    this.removeEntry(frame, loc, true, (pre, post) => this.unwindRmdir(frame, 0, 0, pre, post, null));
  }

  renameFop(frame: Frame, oldloc: Loc, newloc: Loc, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => {
        const from = await this.entry(oldloc, errno.EBUSY!);
        const to = await this.entry(newloc, errno.EBUSY!);
        const oldParent = this.parentReal(from);
        const newParent = this.parentReal(to);
        const moving = await lstatB(from.real);
        const replaced = await lstatB(to.real).catch(() => null);
        const preOld = this.iatt(await lstatB(oldParent));
        const preNew = oldParent === newParent ? preOld : this.iatt(await lstatB(newParent));
        await io0((cb) => fs.rename(from.real, to.real, cb));
        const st = await lstatB(to.real);
        const gfid = this.gfidOf(st);
        if (replaced !== null && (replaced.ino !== moving.ino || replaced.dev !== moving.dev) && (iaTypeFromMode(Number(replaced.mode)) === IA.IFDIR || replaced.nlink <= 1n)) {
          await this.dropFile(this.gfidOf(replaced));
        }
        if (iaTypeFromMode(Number(st.mode)) === IA.IFDIR) this.movePaths(from.vpath, to.vpath);
        this.remember(gfid, to.vpath);
        const postOld = this.iatt(await lstatB(oldParent));
        const postNew = oldParent === newParent ? postOld : this.iatt(await lstatB(newParent));
        return { buf: this.iatt(st, gfid), preOld, postOld, preNew, postNew };
      },
      (r) => this.unwindRename(frame, 0, 0, r.buf, r.preOld, r.postOld, r.preNew, r.postNew, null),
    );
  }

  /** A directory moved: the remembered paths below it move with it. */
  private movePaths(from: string, to: string): void {
    const prefix = `${from}/`;
    for (const [g, p] of this.#paths) if (p.startsWith(prefix)) this.#paths.set(g, to + p.slice(from.length));
  }

  truncateFop(frame: Frame, loc: Loc, offset: number, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => {
        if (offset < 0) refuse(errno.EINVAL);
        const t = await this.target(loc);
        const osfd = await openFd(t.real, fsc.O_WRONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
        try {
          const pre = this.iatt(await fstatB(osfd));
          await io0((cb) => fs.ftruncate(osfd, offset, cb));
          return { pre, post: this.iatt(await fstatB(osfd)) };
        } finally {
          await closeFd(osfd);
        }
      },
      (r) => this.unwindTruncate(frame, 0, 0, r.pre, r.post, null),
    );
  }

  ftruncateFop(frame: Frame, fd: Fd, offset: number, _xdata: Dict | null): void {
    this.run(
      frame,
      () =>
        this.withFd(fd, async (osfd) => {
          if (offset < 0) refuse(errno.EINVAL);
          const pre = this.iatt(await fstatB(osfd));
          await io0((cb) => fs.ftruncate(osfd, offset, cb));
          return { pre, post: this.iatt(await fstatB(osfd)) };
        }),
      (r) => this.unwindFtruncate(frame, 0, 0, r.pre, r.post, null),
    );
  }

  openFop(frame: Frame, loc: Loc, flags: number, fd: Fd, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => {
        const t = await this.target(loc);
        // open never creates (create does); the last component is never followed.
        // O_NONBLOCK: a FIFO or device put beside the brick must not hold a thread-pool thread
        // (it would block every other file operation); such files are refused below.
        const osfd = await openFd(t.real, (flags & ~(fsc.O_CREAT | fsc.O_EXCL)) | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
        await this.refuseSpecial(osfd);
        fd.flags = flags;
        this.keepFd(fd, osfd);
      },
      () => this.unwindOpen(frame, 0, 0, fd, null),
    );
  }

  createFop(frame: Frame, loc: Loc, flags: number, mode: number, umask: number, fd: Fd, _xdata: Dict | null): void {
    const want = mode & ~umask & 0o7777;
    this.run(
      frame,
      async () => {
        const t = await this.entry(loc, errno.EISDIR);
        const parent = this.parentReal(t);
        const pre = this.iatt(await lstatB(parent));
        const base = (flags & ~(fsc.O_CREAT | fsc.O_EXCL)) | fsc.O_NOFOLLOW;
        let osfd: number;
        let made = true;
        try {
          osfd = await openFd(t.real, base | fsc.O_CREAT | fsc.O_EXCL, want);
        } catch (err) {
          if (flags & fsc.O_EXCL || (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          osfd = await openFd(t.real, base | fsc.O_NONBLOCK);
          await this.refuseSpecial(osfd);
          made = false;
        }
        try {
          let st = await fstatB(osfd);
          if (iaTypeFromMode(Number(st.mode)) === IA.IFDIR) refuse(errno.EISDIR);
          if (made) {
            if (await this.chownNew(frame, t.real, osfd)) st = await fstatB(osfd);
            st = await this.fixMode(t.real, st, want, osfd);
          }
          const gfid = this.gfidOf(st);
          this.remember(gfid, t.vpath);
          fd.flags = flags;
          this.keepFd(fd, osfd);
          return { buf: this.iatt(st, gfid), pre, post: this.iatt(await lstatB(parent)) };
        } catch (err) {
          const ctx = fd.ctxGet<FdCtx>(this);
          if (ctx?.osfd === osfd) {
            fd.ctxDel(this);
            this.#open.delete(ctx);
          }
          await closeFd(osfd).catch(() => {});
          throw err;
        }
      },
      (r) => this.unwindCreate(frame, 0, 0, fd, this.graph.inodes.link(r.buf.gfid, r.buf.type), r.buf, r.pre, r.post, null),
    );
  }

  readvFop(frame: Frame, fd: Fd, size: number, offset: number, _flags: number, _xdata: Dict | null): void {
    this.run(
      frame,
      () =>
        this.withFd(fd, async (osfd) => {
          if (offset < 0 || size < 0) refuse(errno.EINVAL);
          const st = await this.fstatData(osfd);
          const type = iaTypeFromMode(Number(st.mode));
          if (type === IA.IFDIR) refuse(errno.EISDIR);
          const want = type === IA.IFREG ? Math.min(size, Math.max(0, Number(st.size) - offset)) : Math.min(size, READ_CAP_UNKNOWN_SIZE);
          if (want === 0) return { data: Buffer.alloc(0), st };
          const buf = Buffer.allocUnsafe(want);
          let got = 0;
          while (got < want) {
            const n = await io<number>((cb) => fs.read(osfd, buf, got, want - got, offset + got, cb));
            if (n === 0) break;
            got += n;
          }
          // A short read of a big buffer gives back a copy, so the rest is not held.
          const data = got === want ? buf : got < want / 2 ? Buffer.from(buf.subarray(0, got)) : buf.subarray(0, got);
          return { data, st };
        }),
      (r) => this.unwindReadv(frame, r.data.length, 0, r.data, this.iatt(r.st), null),
    );
  }

  writevFop(frame: Frame, fd: Fd, data: Buffer, offset: number, _flags: number, _xdata: Dict | null): void {
    this.run(
      frame,
      () =>
        this.withFd(fd, async (osfd) => {
          if (offset < 0) refuse(errno.EINVAL);
          if ((fd.flags & ACCMODE) === fsc.O_RDONLY) refuse(errno.EBADF);
          const pre = this.iatt(await this.fstatData(osfd));
          // With O_APPEND, Linux's pwrite writes at the end whatever the offset.
          let done = 0;
          while (done < data.length) {
            const n = await io<number>((cb) => fs.write(osfd, data, done, data.length - done, offset + done, cb));
            if (n === 0) break;
            done += n;
          }
          return { done, pre, post: this.iatt(await this.fstatData(osfd)) };
        }),
      (r) => this.unwindWritev(frame, r.done, 0, r.pre, r.post, null),
    );
  }

  flushFop(frame: Frame, fd: Fd, _xdata: Dict | null): void {
    this.run(
      frame,
      () => this.withFd(fd, async () => {}),
      () => this.unwindFlush(frame, 0, 0, null),
    );
  }

  fsyncFop(frame: Frame, fd: Fd, datasync: number, _xdata: Dict | null): void {
    this.run(
      frame,
      () =>
        this.withFd(fd, async (osfd) => {
          const pre = this.iatt(await fstatB(osfd));
          if (datasync) await io0((cb) => fs.fdatasync(osfd, cb));
          else await io0((cb) => fs.fsync(osfd, cb));
          return { pre, post: this.iatt(await fstatB(osfd)) };
        }),
      (r) => this.unwindFsync(frame, 0, 0, r.pre, r.post, null),
    );
  }

  opendirFop(frame: Frame, loc: Loc, fd: Fd, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => {
        const t = await this.target(loc);
        const osfd = await openFd(t.real, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
        this.keepFd(fd, osfd, { vpath: t.vpath, real: t.real, entries: null, readPastStart: false });
      },
      () => this.unwindOpendir(frame, 0, 0, fd, null),
    );
  }

  private async snapshot(real: string, vpath: string): Promise<{ name: string; type: IaType }[]> {
    const list = await io<Dirent[]>((cb) => fs.readdir(real, { withFileTypes: true }, cb));
    const out: { name: string; type: IaType }[] = [];
    for (const d of list) if (!(vpath === '/' && d.name === META)) out.push({ name: d.name, type: iaTypeOfDirent(d) });
    return out;
  }

  private listDir(frame: Frame, fd: Fd, size: number, offset: number, plus: boolean, done: (entries: DirEntry[]) => void): void {
    this.run(
      frame,
      () =>
        this.withFd(fd, async (osfd, ctx) => {
          const dir = ctx.dir;
          if (dir === undefined) refuse(errno.ENOTDIR);
          if (offset < 0) refuse(errno.EINVAL);
          // Linux reaches the directory this fd has open, even after a rename of it.
          const base = LIST_BY_FD ? `/proc/self/fd/${osfd}` : dir.real;
          // Back at the start after reading on: a fresh listing (rewinddir semantics).
          if (dir.entries === null || (offset === 0 && dir.readPastStart)) {
            dir.entries = await this.snapshot(base, dir.vpath);
            dir.readPastStart = false;
          }
          const all = dir.entries;
          const out: DirEntry[] = [];
          let budget = size > 0 ? size : 4096;
          let i = offset;
          while (out.length === 0 && i < all.length) {
            const page: { e: { name: string; type: IaType }; at: number }[] = [];
            for (; i < all.length; i++) {
              const e = all[i] as { name: string; type: IaType };
              const cost = (24 + Buffer.byteLength(e.name) + 7) & ~7;
              if (page.length > 0 && cost > budget) break;
              budget -= cost;
              page.push({ e, at: i + 1 });
            }
            const prefix = dir.vpath === '/' ? '' : dir.vpath;
            const stats = await Promise.all(page.map(({ e }) => lstatB(`${base}/${e.name}`).catch(() => null)));
            for (let k = 0; k < page.length; k++) {
              const st = stats[k];
              const { e, at } = page[k] as (typeof page)[number];
              // Removed since the listing was read: left out.
              if (st === null || st === undefined) continue;
              const entry: DirEntry = { name: e.name, offset: at, ino: Number(st.ino), type: iaTypeFromMode(Number(st.mode)) };
              if (plus) {
                const gfid = this.gfidOf(st);
                this.remember(gfid, `${prefix}/${e.name}`);
                entry.stat = this.iatt(st, gfid);
                entry.inode = this.graph.inodes.link(gfid, entry.type);
              }
              out.push(entry);
            }
            budget = size > 0 ? size : 4096;
          }
          if (out.length > 0) dir.readPastStart = true;
          return out;
        }),
      done,
    );
  }

  readdirFop(frame: Frame, fd: Fd, size: number, offset: number, _xdata: Dict | null): void {
    this.listDir(frame, fd, size, offset, false, (entries) => this.unwindReaddir(frame, entries.length, 0, entries, null));
  }

  readdirpFop(frame: Frame, fd: Fd, size: number, offset: number, _xdata: Dict | null): void {
    this.listDir(frame, fd, size, offset, true, (entries) => this.unwindReaddirp(frame, entries.length, 0, entries, null));
  }

  fsyncdirFop(frame: Frame, fd: Fd, datasync: number, _xdata: Dict | null): void {
    this.run(
      frame,
      () =>
        this.withFd(fd, async (osfd) => {
          if (datasync) await io0((cb) => fs.fdatasync(osfd, cb));
          else await io0((cb) => fs.fsync(osfd, cb));
        }),
      () => this.unwindFsyncdir(frame, 0, 0, null),
    );
  }

  /** Applies `valid` bits of `st` through path calls (`real`) or an open descriptor (`osfd`). */
  private async applyAttr(pre: BigIntStats, st: Iatt, valid: number, real: string | null, osfd: number | null): Promise<void> {
    const isLink = iaTypeFromMode(Number(pre.mode)) === IA.IFLNK;
    // Linux has no lchmod: a symlink's mode is left alone, as GlusterFS does.
    if (valid & SETATTR.MODE && !isLink) {
      const m = st.prot & 0o7777;
      if (osfd !== null) await io0((cb) => fs.fchmod(osfd, m, cb));
      else await io0((cb) => fs.chmod(real as string, m, cb));
    }
    if (valid & (SETATTR.UID | SETATTR.GID)) {
      const uid = valid & SETATTR.UID ? st.uid : -1;
      const gid = valid & SETATTR.GID ? st.gid : -1;
      if (osfd !== null) await io0((cb) => fs.fchown(osfd, uid, gid, cb));
      else await io0((cb) => fs.lchown(real as string, uid, gid, cb));
    }
    if (valid & SETATTR.SIZE) {
      if (st.size < 0) refuse(errno.EINVAL);
      if (osfd !== null) await io0((cb) => fs.ftruncate(osfd, st.size, cb));
      else {
        const w = await openFd(real as string, fsc.O_WRONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
        try {
          await io0((cb) => fs.ftruncate(w, st.size, cb));
        } finally {
          await closeFd(w);
        }
      }
    }
    if (valid & (SETATTR.ATIME | SETATTR.MTIME)) {
      // Node has no UTIME_OMIT: the time not being set is written back as it was.
      const [pa, pan] = splitNs(pre.atimeNs);
      const [pm, pmn] = splitNs(pre.mtimeNs);
      const atime = valid & SETATTR.ATIME ? st.atime + st.atimeNsec / 1e9 : pa + pan / 1e9;
      const mtime = valid & SETATTR.MTIME ? st.mtime + st.mtimeNsec / 1e9 : pm + pmn / 1e9;
      if (osfd !== null) await io0((cb) => fs.futimes(osfd, atime, mtime, cb));
      else await io0((cb) => fs.lutimes(real as string, atime, mtime, cb));
    }
  }

  setattrFop(frame: Frame, loc: Loc, st: Iatt, valid: number, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => {
        const t = await this.target(loc);
        const pre = t.st ?? (await lstatB(t.real));
        await this.applyAttr(pre, st, valid, t.real, null);
        return { pre: this.iatt(pre), post: this.iatt(await lstatB(t.real)) };
      },
      (r) => this.unwindSetattr(frame, 0, 0, r.pre, r.post, null),
    );
  }

  fsetattrFop(frame: Frame, fd: Fd, st: Iatt, valid: number, _xdata: Dict | null): void {
    this.run(
      frame,
      () =>
        this.withFd(fd, async (osfd) => {
          const pre = await fstatB(osfd);
          await this.applyAttr(pre, st, valid, null, osfd);
          return { pre: this.iatt(pre), post: this.iatt(await fstatB(osfd)) };
        }),
      (r) => this.unwindFsetattr(frame, 0, 0, r.pre, r.post, null),
    );
  }

  private async locGfid(loc: Loc): Promise<Gfid> {
    const t = await this.target(loc);
    return this.gfidOf(t.st ?? (await lstatB(t.real)));
  }

  private fdGfid(fd: Fd): Promise<Gfid> {
    return this.withFd(fd, async (osfd) => this.gfidOf(await fstatB(osfd)));
  }

  getxattrFop(frame: Frame, loc: Loc, name: string, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => this.getX(await this.locGfid(loc), name),
      (dict) => this.unwindGetxattr(frame, 0, 0, dict, null),
    );
  }

  fgetxattrFop(frame: Frame, fd: Fd, name: string, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => this.getX(await this.fdGfid(fd), name),
      (dict) => this.unwindFgetxattr(frame, 0, 0, dict, null),
    );
  }

  setxattrFop(frame: Frame, loc: Loc, dict: XattrDict, flags: number, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => this.setX(await this.locGfid(loc), dict, flags),
      () => this.unwindSetxattr(frame, 0, 0, null),
    );
  }

  fsetxattrFop(frame: Frame, fd: Fd, dict: XattrDict, flags: number, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => this.setX(await this.fdGfid(fd), dict, flags),
      () => this.unwindFsetxattr(frame, 0, 0, null),
    );
  }

  removexattrFop(frame: Frame, loc: Loc, name: string, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => this.removeX(await this.locGfid(loc), name),
      () => this.unwindRemovexattr(frame, 0, 0, null),
    );
  }

  fremovexattrFop(frame: Frame, fd: Fd, name: string, _xdata: Dict | null): void {
    this.run(
      frame,
      async () => this.removeX(await this.fdGfid(fd), name),
      () => this.unwindFremovexattr(frame, 0, 0, null),
    );
  }

  fallocateFop(frame: Frame, fd: Fd, _keepSize: number, _offset: number, _len: number, _xdata: Dict | null): void {
    this.run(
      frame,
      () => this.withFd(fd, async () => refuse(errno.EOPNOTSUPP)),
      () => this.unwindFallocate(frame, -1, errno.EOPNOTSUPP),
    );
  }

  /** Writes zeros over `[offset, offset+len)`; `keepSize` stops at the file's current end. */
  private zeroRange(frame: Frame, fd: Fd, offset: number, len: number, keepSize: boolean, done: (pre: Iatt, post: Iatt) => void): void {
    this.run(
      frame,
      () =>
        this.withFd(fd, async (osfd) => {
          if (offset < 0 || len <= 0) refuse(errno.EINVAL);
          if ((fd.flags & ACCMODE) === fsc.O_RDONLY) refuse(errno.EBADF);
          const before = await fstatB(osfd);
          const end = keepSize ? Math.min(offset + len, Number(before.size)) : offset + len;
          const zeros = Buffer.alloc(Math.min(ZERO_CHUNK, Math.max(0, end - offset)));
          for (let at = offset; at < end; ) {
            const n = await io<number>((cb) => fs.write(osfd, zeros, 0, Math.min(zeros.length, end - at), at, cb));
            if (n === 0) refuse(errno.EIO);
            at += n;
          }
          return { pre: this.iatt(before), post: this.iatt(await fstatB(osfd)) };
        }),
      (r) => done(r.pre, r.post),
    );
  }

  discardFop(frame: Frame, fd: Fd, offset: number, len: number, _xdata: Dict | null): void {
    this.zeroRange(frame, fd, offset, len, true, (pre, post) => this.unwindDiscard(frame, 0, 0, pre, post, null));
  }

  zerofillFop(frame: Frame, fd: Fd, offset: number, len: number, _xdata: Dict | null): void {
    this.zeroRange(frame, fd, offset, len, false, (pre, post) => this.unwindZerofill(frame, 0, 0, pre, post, null));
  }

  seekFop(frame: Frame, fd: Fd, offset: number, what: number, _xdata: Dict | null): void {
    this.run(
      frame,
      () =>
        this.withFd(fd, async (osfd) => {
          const size = Number((await fstatB(osfd)).size);
          if (what !== SEEK_DATA && what !== SEEK_HOLE) refuse(errno.EINVAL);
          if (offset < 0 || offset >= size) refuse(errno.ENXIO);
          return what === SEEK_DATA ? offset : size;
        }),
      (at) => this.unwindSeek(frame, 0, 0, at, null),
    );
  }
}

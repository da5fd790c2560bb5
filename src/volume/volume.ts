/**
 * `Volume`: the front door onto a translator graph (libgfapi's job), shaped like `fs.promises`.
 * Paths are absolute within the volume (`/` is its root; a relative path is taken from the root).
 * Failures reject with {@link FsError} carrying Node-style `code`, `errno`, `syscall` and `path`.
 *
 * The volume resolves paths to `loc`s with a bounded cache of directory gfids (so caches keyed by
 * the parent's gfid, such as nl-cache, see real parents); the cache is dropped whenever the graph
 * reports changes made elsewhere (upcalls) or a child going down or up.
 * @module
 */
import { constants as fsConstants } from 'node:fs';
import { posix } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { FsError, InvalidArgumentError } from '../errors.ts';
import type { Credentials } from '../translator/frame.ts';
import type { FopArgs, FopName, FopReply } from '../translator/fops.ts';
import { Graph, graphFromFile, graphFromText, type GraphOptions } from '../translator/graph.ts';
import { Fd, IA, ROOT_GFID, SETATTR, errnoName, makeLoc, stModeOf, type DirEntry, type Gfid, type Iatt, type Loc, type Statvfs, type XattrDict } from '../translator/model.ts';

/** Options of {@link openVolume}. */
export interface VolumeOptions extends GraphOptions {
  /** Who the volume's fops run as (default: this process's uid/gid/pid). */
  credentials?: Credentials | undefined;
  /** Most directory gfids remembered for path resolution (default 65,536). */
  dentryCacheSize?: number | undefined;
}

/** What {@link openVolume} opens: a volfile path, volfile text, or an already built graph. */
export type VolumeSource = string | { readonly volfile: string; readonly source?: string } | Graph;

/**
 * The `fs.Stats`/`fs.Dirent` file-type predicates, answered from a GlusterFS `IA` file type.
 * Shared by {@link VolumeStats} and {@link VolumeDirent}; not constructed on its own.
 */
export abstract class VolumeFileType {
  readonly #type: number;
  protected constructor(type: number) {
    this.#type = type;
  }
  isFile(): boolean {
    return this.#type === IA.IFREG;
  }
  isDirectory(): boolean {
    return this.#type === IA.IFDIR;
  }
  isSymbolicLink(): boolean {
    return this.#type === IA.IFLNK;
  }
  isFIFO(): boolean {
    return this.#type === IA.IFIFO;
  }
  isSocket(): boolean {
    return this.#type === IA.IFSOCK;
  }
  isBlockDevice(): boolean {
    return this.#type === IA.IFBLK;
  }
  isCharacterDevice(): boolean {
    return this.#type === IA.IFCHR;
  }
}

/** A file's attributes, shaped like Node's `fs.Stats` (plus the GlusterFS gfid). */
export class VolumeStats extends VolumeFileType {
  readonly dev: number;
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev: number;
  readonly size: number;
  readonly blksize: number;
  readonly blocks: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly birthtimeMs: number;
  readonly atime: Date;
  readonly mtime: Date;
  readonly ctime: Date;
  readonly birthtime: Date;
  /** The file's GlusterFS id. */
  readonly gfid: Gfid;

  constructor(buf: Iatt) {
    super(buf.type);
    this.dev = buf.dev;
    this.ino = buf.ino;
    this.mode = stModeOf(buf);
    this.nlink = buf.nlink;
    this.uid = buf.uid;
    this.gid = buf.gid;
    this.rdev = buf.rdev;
    this.size = buf.size;
    this.blksize = buf.blksize;
    this.blocks = buf.blocks;
    this.atimeMs = buf.atime * 1000 + buf.atimeNsec / 1e6;
    this.mtimeMs = buf.mtime * 1000 + buf.mtimeNsec / 1e6;
    this.ctimeMs = buf.ctime * 1000 + buf.ctimeNsec / 1e6;
    this.birthtimeMs = this.ctimeMs;
    this.atime = new Date(this.atimeMs);
    this.mtime = new Date(this.mtimeMs);
    this.ctime = new Date(this.ctimeMs);
    this.birthtime = new Date(this.birthtimeMs);
    this.gfid = buf.gfid;
  }
}

/** A directory entry as `readdir(path, { withFileTypes: true })` returns it (like `fs.Dirent`). */
export class VolumeDirent extends VolumeFileType {
  constructor(
    readonly name: string,
    /** The directory the entry is in. */
    readonly parentPath: string,
    type: number,
  ) {
    super(type);
  }
}

const O = fsConstants;
const FLAG_STRINGS: Record<string, number> = {
  r: O.O_RDONLY,
  'r+': O.O_RDWR,
  rs: O.O_RDONLY | O.O_SYNC,
  'rs+': O.O_RDWR | O.O_SYNC,
  w: O.O_WRONLY | O.O_CREAT | O.O_TRUNC,
  wx: O.O_WRONLY | O.O_CREAT | O.O_TRUNC | O.O_EXCL,
  'w+': O.O_RDWR | O.O_CREAT | O.O_TRUNC,
  'wx+': O.O_RDWR | O.O_CREAT | O.O_TRUNC | O.O_EXCL,
  a: O.O_WRONLY | O.O_CREAT | O.O_APPEND,
  ax: O.O_WRONLY | O.O_CREAT | O.O_APPEND | O.O_EXCL,
  'a+': O.O_RDWR | O.O_CREAT | O.O_APPEND,
  'ax+': O.O_RDWR | O.O_CREAT | O.O_APPEND | O.O_EXCL,
};

/** Converts `'r'`, `'w+'`, ... or a number to `O_*` flags. */
export function parseOpenFlags(flags: string | number): number {
  if (typeof flags === 'number') return flags;
  const f = FLAG_STRINGS[flags];
  if (f === undefined) throw new InvalidArgumentError('flags', `Unknown file open flag '${flags}' (use r, r+, w, wx, w+, a, a+, ...)`);
  return f;
}

const CHUNK = 1 << 20;

/** Node's rule for `read`/`write` ranges: integers, inside the buffer (else nothing is read or written). */
function checkRange(size: number, offset: number, length: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset > size) throw new InvalidArgumentError('offset', `offset must be an integer from 0 to ${size} (the buffer's length); got ${offset}`);
  if (!Number.isInteger(length) || length < 0 || offset + length > size) {
    throw new InvalidArgumentError('length', `length must be an integer from 0 to ${size - offset} (what the buffer holds after offset ${offset}); got ${length}`);
  }
}
const MAX_SYMLINK_HOPS = 8;

/** Options of {@link Volume.rm}. */
export interface RmOptions {
  recursive?: boolean | undefined;
  force?: boolean | undefined;
}

/**
 * An open file of a {@link Volume} (shaped like `fs.promises.FileHandle`). Close it with
 * `close()` or `await using`.
 */
export class VolumeFileHandle {
  #position = 0;
  #closed = false;
  constructor(
    readonly volume: Volume,
    /** @internal */ readonly fd: Fd,
    readonly path: string,
  ) {}

  private check(syscall: string): void {
    if (this.#closed) throw new FsError('EBADF', 9, syscall, this.path, undefined, 'file handle is closed');
  }

  /**
   * Reads up to `length` bytes at `position` (or the current position, which then advances) into
   * `buffer` at `offset`. Resolves with the count of bytes read (0 at the end of the file).
   */
  async read(buffer: Buffer, offset = 0, length = buffer.length - offset, position: number | null = null): Promise<{ bytesRead: number; buffer: Buffer }> {
    this.check('read');
    checkRange(buffer.length, offset, length);
    const at = position ?? this.#position;
    const r = await this.volume._fop('read', this.path, 'readv', this.fd, length, at, 0, null);
    const data = r.results[0] as Buffer;
    data.copy(buffer, offset);
    if (position === null) this.#position += data.length;
    return { bytesRead: data.length, buffer };
  }

  /** Writes `buffer[offset, offset+length)` at `position` (or the current position, which then advances). */
  async write(buffer: Buffer | string, offset = 0, length?: number, position: number | null = null): Promise<{ bytesWritten: number; buffer: Buffer }> {
    this.check('write');
    const buf = typeof buffer === 'string' ? Buffer.from(buffer) : buffer;
    const len = length ?? buf.length - offset;
    checkRange(buf.length, offset, len);
    const at = position ?? this.#position;
    const r = await this.volume._fop('write', this.path, 'writev', this.fd, buf.subarray(offset, offset + len), at, 0, null);
    if (position === null) this.#position += r.opRet;
    return { bytesWritten: r.opRet, buffer: buf };
  }

  /** Reads the rest of the file from the current position. */
  async readFile(): Promise<Buffer> {
    this.check('read');
    const parts: Buffer[] = [];
    for (;;) {
      const r = await this.volume._fop('read', this.path, 'readv', this.fd, CHUNK, this.#position, 0, null);
      const data = r.results[0] as Buffer;
      if (data.length === 0) break;
      parts.push(data);
      this.#position += data.length;
    }
    return Buffer.concat(parts);
  }

  /** The file's attributes. */
  async stat(): Promise<VolumeStats> {
    this.check('fstat');
    const r = await this.volume._fop('fstat', this.path, 'fstat', this.fd, null);
    return new VolumeStats(r.results[0] as Iatt);
  }

  /** Cuts or extends the file to `len` bytes. */
  async truncate(len = 0): Promise<void> {
    this.check('ftruncate');
    await this.volume._fop('ftruncate', this.path, 'ftruncate', this.fd, len, null);
  }

  /** Flushes the file's data and metadata to stable storage. */
  async sync(): Promise<void> {
    this.check('fsync');
    await this.volume._fop('fsync', this.path, 'fsync', this.fd, 0, null);
  }

  /** Flushes the file's data to stable storage. */
  async datasync(): Promise<void> {
    this.check('fdatasync');
    await this.volume._fop('fdatasync', this.path, 'fsync', this.fd, 1, null);
  }

  /** Flushes and releases the file. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.volume._fop('close', this.path, 'flush', this.fd, null);
    } finally {
      this.volume._release(this);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * A translator graph opened for use: `fs.promises`-shaped methods over its fops. Close it with
 * `close()` (or `await using`): open files are released and the graph is torn down.
 *
 * @example
 * ```ts
 * import { openVolume } from 'switchyard/storage';
 * await using vol = await openVolume('/etc/switchyard/data.vol');
 * await vol.mkdir('/results', { recursive: true });
 * await vol.writeFile('/results/run-1.csv', 'a,b\n1,2\n');
 * console.log(await vol.readdir('/results'));
 * ```
 */
export class Volume {
  readonly graph: Graph;
  readonly #credentials: Credentials;
  readonly #dirs = new Map<string, Gfid>();
  readonly #dirLimit: number;
  readonly #open = new Set<VolumeFileHandle>();
  readonly #unsubscribe: () => void;
  #closed = false;

  constructor(graph: Graph, options: VolumeOptions = {}) {
    this.graph = graph;
    this.#credentials = options.credentials ?? {
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      pid: process.pid,
    };
    this.#dirLimit = options.dentryCacheSize ?? 65_536;
    this.#dirs.set('/', ROOT_GFID);
    this.#unsubscribe = graph.onEvent((e) => {
      if (e.type === 'upcall' || e.type === 'child-down' || e.type === 'child-up') this.dropDirCache();
    });
  }

  private dropDirCache(): void {
    this.#dirs.clear();
    this.#dirs.set('/', ROOT_GFID);
  }

  /** @internal Runs one fop; rejects with FsError when it fails. */
  async _fop<F extends FopName>(syscall: string, path: string, fop: F, ...args: FopArgs<F>): Promise<FopReply<F>> {
    if (this.#closed) throw new FsError('EBADF', 9, syscall, path, undefined, 'the volume is closed');
    const r = await this.graph.callAs(this.#credentials, fop, ...args);
    if (r.opRet < 0) throw this.error(r.opErrno, syscall, path);
    return r;
  }

  private error(err: number, syscall: string, path?: string, dest?: string): FsError {
    return new FsError(errnoName(err), err, syscall, path, dest);
  }

  /** Normalises a volume path: absolute, no `.`/`..` left, no trailing slash. */
  static normalize(path: string): string {
    if (typeof path !== 'string') throw new InvalidArgumentError('path', 'A volume path must be a string');
    if (path.includes('\0')) throw new InvalidArgumentError('path', 'A volume path must not contain NUL bytes');
    const p = posix.normalize(posix.join('/', path));
    return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
  }

  /** The gfid of directory `dir`, looked up (and remembered) when not known. */
  private async dirGfid(dir: string, syscall: string): Promise<Gfid> {
    const known = this.#dirs.get(dir);
    if (known !== undefined) {
      if (dir !== '/') {
        this.#dirs.delete(dir);
        this.#dirs.set(dir, known);
      }
      return known;
    }
    const loc = await this.locOf(dir, syscall);
    const r = await this.graph.callAs(this.#credentials, 'lookup', loc, null);
    if (r.opRet < 0) throw this.error(r.opErrno, syscall, dir);
    const buf = r.results[1] as Iatt;
    if (buf.type !== IA.IFDIR) throw this.error(20, syscall, dir);
    this.remember(dir, buf.gfid);
    return buf.gfid;
  }

  private remember(dir: string, gfid: Gfid): void {
    if (!this.#dirs.has(dir) && this.#dirs.size >= this.#dirLimit) {
      // The least recently used entry goes; the root is always known (its gfid is fixed).
      for (const k of this.#dirs.keys()) {
        if (k !== '/') {
          this.#dirs.delete(k);
          break;
        }
      }
    }
    this.#dirs.delete(dir);
    this.#dirs.set(dir, gfid);
  }

  private forgetDir(dir: string): void {
    for (const k of [...this.#dirs.keys()]) if (k === dir || k.startsWith(dir + '/')) this.#dirs.delete(k);
    this.#dirs.set('/', ROOT_GFID);
  }

  /** A loc for `path` with its parent's gfid (GlusterFS resolves the parent first, as here). */
  private async locOf(path: string, syscall: string): Promise<Loc> {
    if (path === '/') return makeLoc('/', { gfid: ROOT_GFID, inode: this.graph.inodes.root });
    const parent = posix.dirname(path);
    const pargfid = await this.dirGfid(parent, syscall);
    return makeLoc(path, { pargfid, parent: this.graph.inodes.find(pargfid) ?? null });
  }

  /** Looks `path` up without following a final symlink. */
  private async lookupPath(path: string, syscall: string): Promise<Iatt> {
    if (this.#closed) throw new FsError('EBADF', 9, syscall, path, undefined, 'the volume is closed');
    const loc = await this.locOf(path, syscall);
    const r = await this.graph.callAs(this.#credentials, 'lookup', loc, null);
    if (r.opRet < 0) throw this.error(r.opErrno, syscall, path);
    const buf = r.results[1] as Iatt;
    if (buf.type === IA.IFDIR) this.remember(path, buf.gfid);
    return buf;
  }

  /** Follows final symlinks (within the volume; absolute targets start at the volume's root). */
  private async resolve(path: string, syscall: string): Promise<{ path: string; buf: Iatt }> {
    let p = Volume.normalize(path);
    for (let hop = 0; ; hop++) {
      const buf = await this.lookupPath(p, syscall);
      if (buf.type !== IA.IFLNK) return { path: p, buf };
      if (hop >= MAX_SYMLINK_HOPS) throw this.error(40, syscall, path);
      const r = await this._fop(syscall, p, 'readlink', await this.locOf(p, syscall), 4096, null);
      const target = r.results[0] as string;
      p = Volume.normalize(target.startsWith('/') ? target : posix.join(posix.dirname(p), target));
    }
  }

  /** Attributes of `path`, following a final symlink. */
  async stat(path: string): Promise<VolumeStats> {
    return new VolumeStats((await this.resolve(path, 'stat')).buf);
  }

  /** Attributes of `path` itself (a symlink is not followed). */
  async lstat(path: string): Promise<VolumeStats> {
    return new VolumeStats(await this.lookupPath(Volume.normalize(path), 'lstat'));
  }

  /** Resolves when `path` exists and `mode` access is allowed; rejects with ENOENT/EACCES. */
  async access(path: string, mode = fsConstants.F_OK): Promise<void> {
    const { path: p } = await this.resolve(path, 'access');
    await this._fop('access', p, 'access', await this.locOf(p, 'access'), mode, null);
  }

  /** The volume's `statvfs`. */
  async statfs(path = '/'): Promise<Statvfs> {
    const p = Volume.normalize(path);
    const r = await this._fop('statfs', p, 'statfs', await this.locOf(p, 'statfs'), null);
    return r.results[0] as Statvfs;
  }

  /** The names in directory `path` (without `.` and `..`), or Dirents with `withFileTypes`. */
  async readdir(path: string): Promise<string[]>;
  async readdir(path: string, options: { withFileTypes: true }): Promise<VolumeDirent[]>;
  async readdir(path: string, options?: { withFileTypes?: boolean }): Promise<string[] | VolumeDirent[]> {
    const entries = await this.readdirEntries(path, false);
    const p = Volume.normalize(path);
    if (options?.withFileTypes) return entries.map((e) => new VolumeDirent(e.name, p, e.type));
    return entries.map((e) => e.name);
  }

  /** Every entry of directory `path` with its attributes (`readdirp`). */
  async readdirStats(path: string): Promise<Array<{ name: string; stats: VolumeStats | null }>> {
    const entries = await this.readdirEntries(path, true);
    return entries.map((e) => ({ name: e.name, stats: e.stat ? new VolumeStats(e.stat) : null }));
  }

  private async readdirEntries(path: string, plus: boolean): Promise<DirEntry[]> {
    const { path: p, buf } = await this.resolve(path, 'scandir');
    if (buf.type !== IA.IFDIR) throw this.error(20, 'scandir', p);
    const inode = this.graph.inodes.link(buf.gfid, IA.IFDIR);
    const loc = await this.locOf(p, 'scandir');
    loc.gfid = buf.gfid;
    loc.inode = inode;
    const fd = new Fd(inode, true);
    await this._fop('scandir', p, 'opendir', loc, fd, null);
    inode.fdCount++;
    try {
      const out: DirEntry[] = [];
      let offset = 0;
      for (;;) {
        const r = plus ? await this._fop('scandir', p, 'readdirp', fd, 65536, offset, null) : await this._fop('scandir', p, 'readdir', fd, 65536, offset, null);
        const batch = r.results[0] as DirEntry[];
        if (batch.length === 0) break;
        for (const e of batch) if (e.name !== '.' && e.name !== '..') out.push(e);
        offset = (batch[batch.length - 1] as DirEntry).offset;
      }
      return out;
    } finally {
      this.graph.releaseFd(fd);
    }
  }

  /** Makes directory `path`; with `recursive`, its missing parents too (and no error if it exists). */
  async mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<string | undefined> {
    const p = Volume.normalize(path);
    const mode = options.mode ?? 0o777;
    if (!options.recursive) {
      await this.mkdirOne(p, mode);
      return undefined;
    }
    const parts = p.split('/').filter((s) => s !== '');
    let first: string | undefined;
    let cur = '';
    for (const part of parts) {
      cur += '/' + part;
      try {
        const st = await this.lookupPath(cur, 'mkdir');
        if (st.type !== IA.IFDIR) throw this.error(20, 'mkdir', p);
        continue;
      } catch (err) {
        if (!(err instanceof FsError) || err.code !== 'ENOENT') throw err;
      }
      try {
        await this.mkdirOne(cur, mode);
        first ??= cur;
      } catch (err) {
        if (!(err instanceof FsError) || err.code !== 'EEXIST') throw err;
      }
    }
    return first;
  }

  private async mkdirOne(p: string, mode: number): Promise<void> {
    const r = await this._fop('mkdir', p, 'mkdir', await this.locOf(p, 'mkdir'), mode, this.umask(), null);
    this.remember(p, (r.results[1] as Iatt).gfid);
  }

  private umask(): number {
    return 0o022;
  }

  /** Removes the file (or symlink) `path`. */
  async unlink(path: string): Promise<void> {
    const p = Volume.normalize(path);
    await this._fop('unlink', p, 'unlink', await this.locOf(p, 'unlink'), 0, null);
  }

  /** Removes the empty directory `path`. */
  async rmdir(path: string): Promise<void> {
    const p = Volume.normalize(path);
    await this._fop('rmdir', p, 'rmdir', await this.locOf(p, 'rmdir'), 0, null);
    this.forgetDir(p);
  }

  /** Removes `path`; `recursive` removes a directory tree, `force` ignores a missing path. */
  async rm(path: string, options: RmOptions = {}): Promise<void> {
    const p = Volume.normalize(path);
    let st: Iatt;
    try {
      st = await this.lookupPath(p, 'rm');
    } catch (err) {
      if (options.force && err instanceof FsError && err.code === 'ENOENT') return;
      throw err;
    }
    if (st.type !== IA.IFDIR) return this.unlink(p);
    if (!options.recursive) throw new FsError('ERR_FS_EISDIR', 21, 'rm', p, undefined, 'Path is a directory (use recursive: true)');
    if (p === '/') throw this.error(16, 'rm', p);
    for (const e of await this.readdirEntries(p, false)) await this.rm(posix.join(p, e.name), { recursive: true, force: options.force });
    await this.rmdir(p);
  }

  /** Renames `from` to `to` (replacing a file or an empty directory at `to`, as rename(2)). */
  async rename(from: string, to: string): Promise<void> {
    const a = Volume.normalize(from);
    const b = Volume.normalize(to);
    const r = await this.graph.callAs(this.#credentials, 'rename', await this.locOf(a, 'rename'), await this.locOf(b, 'rename'), null);
    if (r.opRet < 0) throw this.error(r.opErrno, 'rename', a, b);
    this.forgetDir(a);
    this.forgetDir(b);
  }

  /** Makes `path` a symlink to `target`. */
  async symlink(target: string, path: string): Promise<void> {
    const p = Volume.normalize(path);
    await this._fop('symlink', p, 'symlink', target, await this.locOf(p, 'symlink'), this.umask(), null);
  }

  /** The target of symlink `path`. */
  async readlink(path: string): Promise<string> {
    const p = Volume.normalize(path);
    const r = await this._fop('readlink', p, 'readlink', await this.locOf(p, 'readlink'), 4096, null);
    return r.results[0] as string;
  }

  /** Makes `newPath` a hard link to `existingPath`. */
  async link(existingPath: string, newPath: string): Promise<void> {
    const a = Volume.normalize(existingPath);
    const b = Volume.normalize(newPath);
    const r = await this.graph.callAs(this.#credentials, 'link', await this.locOf(a, 'link'), await this.locOf(b, 'link'), null);
    if (r.opRet < 0) throw this.error(r.opErrno, 'link', a, b);
  }

  private async setattr(syscall: string, path: string, st: Partial<Iatt>, valid: number): Promise<void> {
    const { path: p } = await this.resolve(path, syscall);
    await this._fop(syscall, p, 'setattr', await this.locOf(p, syscall), { ...EMPTY_IATT, ...st }, valid, null);
  }

  /** Changes the permission bits of `path`. */
  async chmod(path: string, mode: number): Promise<void> {
    await this.setattr('chmod', path, { prot: mode & 0o7777 }, SETATTR.MODE);
  }

  /** Changes the owner of `path`. */
  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.setattr('chown', path, { uid, gid }, SETATTR.UID | SETATTR.GID);
  }

  /** Sets the access and modification times of `path` (Dates, or seconds since the epoch). */
  async utimes(path: string, atime: Date | number, mtime: Date | number): Promise<void> {
    const a = typeof atime === 'number' ? atime * 1000 : atime.getTime();
    const m = typeof mtime === 'number' ? mtime * 1000 : mtime.getTime();
    await this.setattr(
      'utime',
      path,
      { atime: Math.floor(a / 1000), atimeNsec: Math.round((a % 1000) * 1e6), mtime: Math.floor(m / 1000), mtimeNsec: Math.round((m % 1000) * 1e6) },
      SETATTR.ATIME | SETATTR.MTIME,
    );
  }

  /** Cuts or extends file `path` to `len` bytes. */
  async truncate(path: string, len = 0): Promise<void> {
    const { path: p } = await this.resolve(path, 'truncate');
    await this._fop('truncate', p, 'truncate', await this.locOf(p, 'truncate'), len, null);
  }

  /** Opens `path` (`flags` as `fs.open`: `'r'`, `'r+'`, `'w'`, `'wx'`, `'a'`, ... or `O_*` bits). */
  async open(path: string, flags: string | number = 'r', mode = 0o666): Promise<VolumeFileHandle> {
    const f = parseOpenFlags(flags);
    const p = Volume.normalize(path);
    let target = p;
    let exists = true;
    try {
      target = (await this.resolve(p, 'open')).path;
    } catch (err) {
      if (!(err instanceof FsError) || err.code !== 'ENOENT' || !(f & O.O_CREAT)) throw err;
      exists = false;
    }
    if (exists && f & O.O_CREAT && f & O.O_EXCL) throw this.error(17, 'open', p);
    const loc = await this.locOf(target, 'open');
    let fd: Fd;
    if (exists) {
      const st = await this.lookupPath(target, 'open');
      const inode = this.graph.inodes.link(st.gfid, st.type);
      fd = new Fd(inode);
      if (st.type === IA.IFDIR && (f & 3) !== O.O_RDONLY) throw this.error(21, 'open', p);
      // The loc names the file's gfid, so translators (and a remote brick) know which file the fd is.
      loc.gfid = st.gfid;
      loc.inode = inode;
      await this._fop('open', target, 'open', loc, f & ~(O.O_CREAT | O.O_EXCL), fd, null);
    } else {
      fd = new Fd(this.graph.inodes.root);
      const r = await this._fop('open', target, 'create', loc, f, mode, this.umask(), fd, null);
      const inode = r.results[1];
      if (inode) fd.inode = inode;
    }
    fd.flags = f;
    fd.inode.fdCount++;
    const h = new VolumeFileHandle(this, fd, target);
    this.#open.add(h);
    return h;
  }

  /** @internal */
  _release(h: VolumeFileHandle): void {
    this.#open.delete(h);
    this.graph.releaseFd(h.fd);
  }

  /** The whole content of `path` (a string when `encoding` is given). */
  async readFile(path: string): Promise<Buffer>;
  async readFile(path: string, encoding: BufferEncoding): Promise<string>;
  async readFile(path: string, options: { encoding: BufferEncoding }): Promise<string>;
  async readFile(path: string, enc?: BufferEncoding | { encoding?: BufferEncoding }): Promise<Buffer | string> {
    const encoding = typeof enc === 'string' ? enc : enc?.encoding;
    const h = await this.open(path, 'r');
    try {
      const data = await h.readFile();
      return encoding ? data.toString(encoding) : data;
    } finally {
      await h.close();
    }
  }

  /** Writes `data` to `path`, replacing it (`flag` as `fs.writeFile`, default `'w'`). */
  async writeFile(path: string, data: Buffer | Uint8Array | string, options: { mode?: number; flag?: string } = {}): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const h = await this.open(path, options.flag ?? 'w', options.mode ?? 0o666);
    try {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await h.write(buf, off, Math.min(CHUNK, buf.length - off), off);
        off += bytesWritten;
      }
    } finally {
      await h.close();
    }
  }

  /** Appends `data` to `path` (made when missing). */
  async appendFile(path: string, data: Buffer | string): Promise<void> {
    await this.writeFile(path, data, { flag: 'a' });
  }

  /** Extended attributes of `path`: one (`name`) or all. */
  async getxattr(path: string, name = ''): Promise<XattrDict> {
    const p = Volume.normalize(path);
    const r = await this._fop('getxattr', p, 'getxattr', await this.locOf(p, 'getxattr'), name, null);
    return r.results[0] as XattrDict;
  }

  /** Sets extended attributes of `path` (`flags`: 1 create only, 2 replace only). */
  async setxattr(path: string, attrs: XattrDict, flags = 0): Promise<void> {
    const p = Volume.normalize(path);
    await this._fop('setxattr', p, 'setxattr', await this.locOf(p, 'setxattr'), attrs, flags, null);
  }

  /** Removes extended attribute `name` of `path`. */
  async removexattr(path: string, name: string): Promise<void> {
    const p = Volume.normalize(path);
    await this._fop('removexattr', p, 'removexattr', await this.locOf(p, 'removexattr'), name, null);
  }

  /** A Readable of `path`'s bytes from `start` to `end` (inclusive, as fs). */
  createReadStream(path: string, options: { start?: number; end?: number; highWaterMark?: number } = {}): Readable {
    const chunk = options.highWaterMark ?? 256 * 1024;
    let handle: VolumeFileHandle | undefined;
    let pos = options.start ?? 0;
    const end = options.end ?? Infinity;
    return new Readable({
      highWaterMark: chunk,
      construct: (cb) => {
        this.open(path, 'r').then(
          (h) => {
            handle = h;
            cb();
          },
          (err: Error) => cb(err),
        );
      },
      read: function (this: Readable) {
        const want = Math.min(chunk, end + 1 - pos);
        if (want <= 0) {
          this.push(null);
          return;
        }
        const buf = Buffer.allocUnsafe(want);
        handle!.read(buf, 0, want, pos).then(
          ({ bytesRead }) => {
            pos += bytesRead;
            this.push(bytesRead === 0 ? null : buf.subarray(0, bytesRead));
          },
          (err: Error) => this.destroy(err),
        );
      },
      destroy: (err, cb) => {
        if (!handle) return cb(err);
        handle.close().then(
          () => cb(err),
          (e: Error) => cb(err ?? e),
        );
      },
    });
  }

  /** A Writable that writes `path` (`flags` default `'w'`) from `start`. */
  createWriteStream(path: string, options: { flags?: string; start?: number; mode?: number } = {}): Writable {
    let handle: VolumeFileHandle | undefined;
    let pos = options.start ?? 0;
    const append = (options.flags ?? 'w').startsWith('a');
    const writeAll = async (buf: Buffer): Promise<void> => {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await handle!.write(buf, off, Math.min(CHUNK, buf.length - off), append ? null : pos + off);
        off += bytesWritten;
      }
      pos += buf.length;
    };
    return new Writable({
      highWaterMark: CHUNK,
      construct: (cb) => {
        this.open(path, options.flags ?? 'w', options.mode ?? 0o666).then(
          (h) => {
            handle = h;
            cb();
          },
          (err: Error) => cb(err),
        );
      },
      write: (chunk: Buffer, _enc, cb) => {
        writeAll(chunk).then(() => cb(), cb);
      },
      writev: (chunks, cb) => {
        writeAll(Buffer.concat(chunks.map((c) => c.chunk as Buffer))).then(() => cb(), cb);
      },
      final: (cb) => {
        handle!.close().then(() => {
          handle = undefined;
          cb();
        }, cb);
      },
      destroy: (err, cb) => {
        if (!handle) return cb(err);
        handle.close().then(
          () => cb(err),
          (e: Error) => cb(err ?? e),
        );
      },
    });
  }

  /** Releases every open file and tears the graph down. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const h of [...this.#open]) await h.close().catch(() => {});
    this.#closed = true;
    this.#unsubscribe();
    await this.graph.fini();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

const EMPTY_IATT: Iatt = {
  gfid: '',
  ino: 0,
  dev: 0,
  type: IA.INVAL,
  prot: 0,
  nlink: 0,
  uid: 0,
  gid: 0,
  rdev: 0,
  size: 0,
  blksize: 0,
  blocks: 0,
  atime: 0,
  atimeNsec: 0,
  mtime: 0,
  mtimeNsec: 0,
  ctime: 0,
  ctimeNsec: 0,
};

/**
 * Opens a volume: a volfile path, `{ volfile: text }`, or a built graph (initialised here if it
 * is not yet). The volume owns the graph: `close()` tears it down.
 */
export async function openVolume(source: VolumeSource, options: VolumeOptions = {}): Promise<Volume> {
  let graph: Graph;
  if (source instanceof Graph) {
    graph = source;
    if (!graph.isUp) await graph.init();
  } else if (typeof source === 'string') graph = await graphFromFile(source, options);
  else graph = await graphFromText(source.volfile, { ...options, ...(source.source === undefined ? {} : { source: source.source }) });
  return new Volume(graph, options);
}

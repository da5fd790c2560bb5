/**
 * `storage/memory`: a leaf translator that keeps a whole file system in memory. It answers every
 * fop synchronously (the callback runs before `wind` returns), which makes it the leaf of choice
 * for tests, examples and benchmarks of the translators above it.
 *
 * Options: `size` (capacity in bytes; writes beyond it fail with ENOSPC; default 1GB).
 * Permissions are recorded but not enforced.
 * @module
 */
import { constants as fsConstants } from 'node:fs';
import type { Frame } from '../frame.ts';
import { IA, ROOT_GFID, errno, iaTypeFromMode, randomGfid, SETATTR, type DirEntry, type Dict, type Fd, type Gfid, type IaType, type Iatt, type Loc, type Statvfs, type XattrDict } from '../model.ts';
import { Translator, unwind, type TranslatorHooks } from '../translator.ts';

interface Node {
  readonly gfid: Gfid;
  readonly ino: number;
  type: IaType;
  prot: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: number;
  data: Buffer;
  size: number;
  target: string;
  entries: Map<string, Node> | null;
  xattrs: Map<string, Buffer> | null;
  atime: number;
  atimeNsec: number;
  mtime: number;
  mtimeNsec: number;
  ctime: number;
  ctimeNsec: number;
}

type Found = { node: Node } | { err: number };

const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

function nowParts(): [number, number] {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
}

/** The in-memory leaf. */
export class MemoryStorage extends Translator implements TranslatorHooks {
  static override options = {
    size: { type: 'size', default: '1GB', min: 0, description: 'Capacity in bytes; writes beyond it fail with ENOSPC.' },
  } as const;

  #inos = 1;
  #used = 0;
  readonly #byGfid = new Map<Gfid, Node>();
  /** Each directory fd's listing, taken at offset 0: offsets index it, so removals while paging skip nothing. */
  readonly #listings = new WeakMap<Fd, [string, Node][]>();
  readonly #root: Node;

  constructor(...args: ConstructorParameters<typeof Translator>) {
    super(...args);
    this.#root = this.makeNode(ROOT_GFID, IA.IFDIR, 0o755, 0, 0);
  }

  private makeNode(gfid: Gfid, type: IaType, prot: number, uid: number, gid: number): Node {
    const [s, ns] = nowParts();
    const node: Node = {
      gfid,
      ino: this.#inos++,
      type,
      prot: prot & 0o7777,
      uid,
      gid,
      nlink: type === IA.IFDIR ? 2 : 1,
      rdev: 0,
      data: Buffer.alloc(0),
      size: 0,
      target: '',
      entries: type === IA.IFDIR ? new Map() : null,
      xattrs: null,
      atime: s,
      atimeNsec: ns,
      mtime: s,
      mtimeNsec: ns,
      ctime: s,
      ctimeNsec: ns,
    };
    this.#byGfid.set(gfid, node);
    return node;
  }

  private iatt(n: Node): Iatt {
    return {
      gfid: n.gfid,
      ino: n.ino,
      dev: 0x6d656d,
      type: n.type,
      prot: n.prot,
      nlink: n.nlink,
      uid: n.uid,
      gid: n.gid,
      rdev: n.rdev,
      size: n.type === IA.IFLNK ? Buffer.byteLength(n.target) : n.type === IA.IFDIR ? 4096 : n.size,
      blksize: 4096,
      blocks: Math.ceil(n.size / 512),
      atime: n.atime,
      atimeNsec: n.atimeNsec,
      mtime: n.mtime,
      mtimeNsec: n.mtimeNsec,
      ctime: n.ctime,
      ctimeNsec: n.ctimeNsec,
    };
  }

  private touch(n: Node, m = true): void {
    const [s, ns] = nowParts();
    if (m) {
      n.mtime = s;
      n.mtimeNsec = ns;
    }
    n.ctime = s;
    n.ctimeNsec = ns;
  }

  private walk(path: string): Found {
    let node = this.#root;
    if (path === '/' || path === '') return { node };
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      if (node.entries === null) return { err: errno.ENOTDIR };
      const next = part === '..' ? undefined : node.entries.get(part);
      if (next === undefined) return { err: part === '..' ? errno.EINVAL : errno.ENOENT };
      node = next;
    }
    return { node };
  }

  private find(loc: Loc): Found {
    if (loc.path !== '') return this.walk(loc.path);
    if (loc.gfid !== null) {
      const n = this.#byGfid.get(loc.gfid);
      return n ? { node: n } : { err: errno.ESTALE };
    }
    return { err: errno.EINVAL };
  }

  /** The parent directory of `loc` and the entry name, or an errno. */
  private parentOf(loc: Loc): { dir: Node; name: string } | { err: number } {
    const path = loc.path;
    if (path === '/' || path === '') return { err: loc.path === '/' ? errno.EEXIST : errno.EINVAL };
    const cut = path.lastIndexOf('/');
    const name = path.slice(cut + 1);
    if (name === '' || name === '.' || name === '..') return { err: errno.EINVAL };
    if (Buffer.byteLength(name) > 255) return { err: errno.ENAMETOOLONG };
    const found = this.walk(cut <= 0 ? '/' : path.slice(0, cut));
    if ('err' in found) return found;
    if (found.node.entries === null) return { err: errno.ENOTDIR };
    return { dir: found.node, name };
  }

  private fdNode(fd: Fd): Node | undefined {
    return fd.ctxGet<Node>(this);
  }

  override release(fd: Fd): void {
    fd.ctxDel(this);
  }

  override releasedir(fd: Fd): void {
    fd.ctxDel(this);
    this.#listings.delete(fd);
  }

  lookupFop(frame: Frame, loc: Loc, _xdata: Dict | null): void {
    const f = this.find(loc);
    if ('err' in f) return this.unwindLookup(frame, -1, f.err);
    const inode = this.graph.inodes.link(f.node.gfid, f.node.type);
    let postparent: Iatt | null = null;
    if (loc.path !== '/' && loc.path !== '') {
      const p = this.parentOf(loc);
      if ('dir' in p) postparent = this.iatt(p.dir);
    }
    this.unwindLookup(frame, 0, 0, inode, this.iatt(f.node), null, postparent);
  }

  statFop(frame: Frame, loc: Loc): void {
    const f = this.find(loc);
    if ('err' in f) return this.unwindStat(frame, -1, f.err);
    this.unwindStat(frame, 0, 0, this.iatt(f.node), null);
  }

  fstatFop(frame: Frame, fd: Fd): void {
    const n = this.fdNode(fd);
    if (!n) return this.unwindFstat(frame, -1, errno.EBADF);
    this.unwindFstat(frame, 0, 0, this.iatt(n), null);
  }

  statfsFop(frame: Frame): void {
    const cap = this.option<number>('size') ?? 0;
    const bsize = 4096;
    const blocks = Math.floor(cap / bsize);
    const free = Math.max(0, blocks - Math.ceil(this.#used / bsize));
    const st: Statvfs = { bsize, frsize: bsize, blocks, bfree: free, bavail: free, files: 1 << 30, ffree: (1 << 30) - this.#byGfid.size, favail: (1 << 30) - this.#byGfid.size, fsid: 0x6d656d, flag: 0, namemax: 255 };
    this.unwindStatfs(frame, 0, 0, st, null);
  }

  accessFop(frame: Frame, loc: Loc): void {
    const f = this.find(loc);
    if ('err' in f) return this.unwindAccess(frame, -1, f.err);
    this.unwindAccess(frame, 0, 0, null);
  }

  readlinkFop(frame: Frame, loc: Loc, size: number): void {
    const f = this.find(loc);
    if ('err' in f) return this.unwindReadlink(frame, -1, f.err);
    if (f.node.type !== IA.IFLNK) return this.unwindReadlink(frame, -1, errno.EINVAL);
    const t = size > 0 && Buffer.byteLength(f.node.target) > size ? Buffer.from(f.node.target).subarray(0, size).toString() : f.node.target;
    this.unwindReadlink(frame, 0, 0, t, this.iatt(f.node), null);
  }

  private makeEntry(frame: Frame, loc: Loc, type: IaType, mode: number, umask: number): { node: Node; dir: Node; pre: Iatt } | { err: number } {
    const p = this.parentOf(loc);
    if ('err' in p) return p;
    if (p.dir.entries!.has(p.name)) return { err: errno.EEXIST };
    const pre = this.iatt(p.dir);
    const gfid = typeof loc.gfid === 'string' && !this.#byGfid.has(loc.gfid) ? loc.gfid : randomGfid();
    const node = this.makeNode(gfid, type, mode & ~umask, frame.root.uid, frame.root.gid);
    p.dir.entries!.set(p.name, node);
    if (type === IA.IFDIR) p.dir.nlink++;
    this.touch(p.dir);
    return { node, dir: p.dir, pre };
  }

  private unwindEntry(frame: Frame, made: { node: Node; dir: Node; pre: Iatt } | { err: number }): void {
    if ('err' in made) return this.fail(frame, made.err);
    const inode = this.graph.inodes.link(made.node.gfid, made.node.type);
    // mknod, mkdir, symlink and link share this result tuple.
    unwind(frame, 0, 0, inode, this.iatt(made.node), made.pre, this.iatt(made.dir), null, null);
  }

  mknodFop(frame: Frame, loc: Loc, mode: number, rdev: number, umask: number): void {
    const type = iaTypeFromMode(mode) || IA.IFREG;
    if (type === IA.IFDIR || type === IA.IFLNK) return this.unwindMknod(frame, -1, errno.EINVAL);
    const made = this.makeEntry(frame, loc, type, mode, umask);
    if (!('err' in made)) made.node.rdev = rdev;
    this.unwindEntry(frame, made);
  }

  mkdirFop(frame: Frame, loc: Loc, mode: number, umask: number): void {
    this.unwindEntry(frame, this.makeEntry(frame, loc, IA.IFDIR, mode, umask));
  }

  symlinkFop(frame: Frame, linkname: string, loc: Loc, umask: number): void {
    const made = this.makeEntry(frame, loc, IA.IFLNK, 0o777, umask & 0);
    if (!('err' in made)) made.node.target = linkname;
    this.unwindEntry(frame, made);
  }

  linkFop(frame: Frame, oldloc: Loc, newloc: Loc): void {
    const f = this.find(oldloc);
    if ('err' in f) return this.unwindLink(frame, -1, f.err);
    if (f.node.type === IA.IFDIR) return this.unwindLink(frame, -1, errno.EPERM);
    const p = this.parentOf(newloc);
    if ('err' in p) return this.unwindLink(frame, -1, p.err);
    if (p.dir.entries!.has(p.name)) return this.unwindLink(frame, -1, errno.EEXIST);
    const pre = this.iatt(p.dir);
    p.dir.entries!.set(p.name, f.node);
    f.node.nlink++;
    this.touch(f.node, false);
    this.touch(p.dir);
    const inode = this.graph.inodes.link(f.node.gfid, f.node.type);
    this.unwindLink(frame, 0, 0, inode, this.iatt(f.node), pre, this.iatt(p.dir), null);
  }

  private removeEntry(loc: Loc, dir: boolean): { pre: Iatt; post: Iatt } | { err: number } {
    if (loc.path === '/' || loc.path === '') return { err: dir ? errno.EBUSY! : errno.EISDIR };
    const p = this.parentOf(loc);
    if ('err' in p) return p;
    const node = p.dir.entries!.get(p.name);
    if (!node) return { err: errno.ENOENT };
    if (dir) {
      if (node.type !== IA.IFDIR) return { err: errno.ENOTDIR };
      if (node.entries!.size > 0) return { err: errno.ENOTEMPTY };
    } else if (node.type === IA.IFDIR) return { err: errno.EISDIR };
    const pre = this.iatt(p.dir);
    p.dir.entries!.delete(p.name);
    if (dir) {
      p.dir.nlink--;
      node.nlink = 0;
    } else node.nlink--;
    this.touch(p.dir);
    this.touch(node, false);
    if (node.nlink <= 0) {
      this.#byGfid.delete(node.gfid);
      if (node.type === IA.IFREG) this.#used -= node.data.length;
      this.graph.inodes.forget(node.gfid);
    }
    return { pre, post: this.iatt(p.dir) };
  }

  unlinkFop(frame: Frame, loc: Loc): void {
    const r = this.removeEntry(loc, false);
    if ('err' in r) return this.unwindUnlink(frame, -1, r.err);
    this.unwindUnlink(frame, 0, 0, r.pre, r.post, null);
  }

  rmdirFop(frame: Frame, loc: Loc): void {
    const r = this.removeEntry(loc, true);
    if ('err' in r) return this.unwindRmdir(frame, -1, r.err);
    this.unwindRmdir(frame, 0, 0, r.pre, r.post, null);
  }

  renameFop(frame: Frame, oldloc: Loc, newloc: Loc): void {
    const from = this.parentOf(oldloc);
    if ('err' in from) return this.unwindRename(frame, -1, from.err);
    const node = from.dir.entries!.get(from.name);
    if (!node) return this.unwindRename(frame, -1, errno.ENOENT);
    const to = this.parentOf(newloc);
    if ('err' in to) return this.unwindRename(frame, -1, to.err);
    const preOld = this.iatt(from.dir);
    const preNew = this.iatt(to.dir);
    const existing = to.dir.entries!.get(to.name);
    if (existing === node) return this.unwindRename(frame, 0, 0, this.iatt(node), preOld, preOld, preNew, preNew, null);
    if (node.type === IA.IFDIR) {
      // A directory cannot move into itself or below itself.
      for (let d: Node | undefined = to.dir; d; d = this.parentNodeOf(d)) if (d === node) return this.unwindRename(frame, -1, errno.EINVAL);
    }
    if (existing) {
      if (existing.type === IA.IFDIR && node.type !== IA.IFDIR) return this.unwindRename(frame, -1, errno.EISDIR);
      if (existing.type !== IA.IFDIR && node.type === IA.IFDIR) return this.unwindRename(frame, -1, errno.ENOTDIR);
      if (existing.type === IA.IFDIR && existing.entries!.size > 0) return this.unwindRename(frame, -1, errno.ENOTEMPTY);
      to.dir.entries!.delete(to.name);
      if (existing.type === IA.IFDIR) {
        to.dir.nlink--;
        existing.nlink = 0;
      } else existing.nlink--;
      if (existing.nlink <= 0) {
        this.#byGfid.delete(existing.gfid);
        if (existing.type === IA.IFREG) this.#used -= existing.data.length;
        this.graph.inodes.forget(existing.gfid);
      }
    }
    from.dir.entries!.delete(from.name);
    to.dir.entries!.set(to.name, node);
    if (node.type === IA.IFDIR && from.dir !== to.dir) {
      from.dir.nlink--;
      to.dir.nlink++;
    }
    this.touch(from.dir);
    this.touch(to.dir);
    this.touch(node, false);
    this.unwindRename(frame, 0, 0, this.iatt(node), preOld, this.iatt(from.dir), preNew, this.iatt(to.dir), null);
  }

  private parentNodeOf(dir: Node): Node | undefined {
    if (dir === this.#root) return undefined;
    // Directories have one parent; find it by scanning (renames of directories are rare).
    for (const n of this.#byGfid.values()) if (n.entries) for (const c of n.entries.values()) if (c === dir) return n;
    return undefined;
  }

  private resize(n: Node, size: number): number {
    if (size < 0) return errno.EINVAL;
    const cap = this.option<number>('size') ?? Infinity;
    const grow = size - n.data.length;
    if (grow > 0 && this.#used + grow > cap) return errno.ENOSPC;
    if (size > n.data.length) {
      // Doubling keeps a growing file's copies linear in its size; never beyond the volume's capacity.
      const next = Buffer.alloc(Math.max(size, Math.min(n.data.length * 2, cap - this.#used + n.data.length)));
      n.data.copy(next, 0, 0, n.size);
      this.#used += next.length - n.data.length;
      n.data = next;
    } else if (size < n.size) n.data.fill(0, size, n.size);
    n.size = size;
    return 0;
  }

  truncateFop(frame: Frame, loc: Loc, offset: number): void {
    const f = this.find(loc);
    if ('err' in f) return this.unwindTruncate(frame, -1, f.err);
    if (f.node.type === IA.IFDIR) return this.unwindTruncate(frame, -1, errno.EISDIR);
    const pre = this.iatt(f.node);
    const e = this.resize(f.node, offset);
    if (e) return this.unwindTruncate(frame, -1, e);
    this.touch(f.node);
    this.unwindTruncate(frame, 0, 0, pre, this.iatt(f.node), null);
  }

  ftruncateFop(frame: Frame, fd: Fd, offset: number): void {
    const n = this.fdNode(fd);
    if (!n) return this.unwindFtruncate(frame, -1, errno.EBADF);
    const pre = this.iatt(n);
    const e = this.resize(n, offset);
    if (e) return this.unwindFtruncate(frame, -1, e);
    this.touch(n);
    this.unwindFtruncate(frame, 0, 0, pre, this.iatt(n), null);
  }

  openFop(frame: Frame, loc: Loc, flags: number, fd: Fd): void {
    const f = this.find(loc);
    if ('err' in f) return this.unwindOpen(frame, -1, f.err);
    if (f.node.type === IA.IFDIR && (flags & 3) !== fsConstants.O_RDONLY) return this.unwindOpen(frame, -1, errno.EISDIR);
    if (f.node.type === IA.IFLNK) return this.unwindOpen(frame, -1, errno.ELOOP);
    if (flags & fsConstants.O_TRUNC && (flags & 3) !== fsConstants.O_RDONLY) {
      this.resize(f.node, 0);
      this.touch(f.node);
    }
    fd.flags = flags;
    fd.ctxSet(this, f.node);
    this.unwindOpen(frame, 0, 0, fd, null);
  }

  createFop(frame: Frame, loc: Loc, flags: number, mode: number, umask: number, fd: Fd): void {
    const p = this.parentOf(loc);
    if (!('err' in p)) {
      const existing = p.dir.entries!.get(p.name);
      if (existing && !(flags & fsConstants.O_EXCL)) {
        if (existing.type === IA.IFDIR) return this.unwindCreate(frame, -1, errno.EISDIR);
        if (flags & fsConstants.O_TRUNC) this.resize(existing, 0);
        fd.flags = flags;
        fd.ctxSet(this, existing);
        const inode = this.graph.inodes.link(existing.gfid, existing.type);
        const dirAttr = this.iatt(p.dir);
        return this.unwindCreate(frame, 0, 0, fd, inode, this.iatt(existing), dirAttr, dirAttr, null);
      }
    }
    const made = this.makeEntry(frame, loc, IA.IFREG, mode, umask);
    if ('err' in made) return this.unwindCreate(frame, -1, made.err);
    fd.flags = flags;
    fd.ctxSet(this, made.node);
    const inode = this.graph.inodes.link(made.node.gfid, made.node.type);
    this.unwindCreate(frame, 0, 0, fd, inode, this.iatt(made.node), made.pre, this.iatt(made.dir), null);
  }

  readvFop(frame: Frame, fd: Fd, size: number, offset: number): void {
    const n = this.fdNode(fd);
    if (!n) return this.unwindReadv(frame, -1, errno.EBADF);
    if (n.type === IA.IFDIR) return this.unwindReadv(frame, -1, errno.EISDIR);
    if (offset < 0 || size < 0) return this.unwindReadv(frame, -1, errno.EINVAL);
    const end = Math.min(n.size, offset + size);
    // A copy: the caller may hold the bytes while later writes change the file.
    const data = offset >= end ? Buffer.alloc(0) : Buffer.from(n.data.subarray(offset, end));
    const [s, ns] = nowParts();
    n.atime = s;
    n.atimeNsec = ns;
    this.unwindReadv(frame, data.length, 0, data, this.iatt(n), null);
  }

  writevFop(frame: Frame, fd: Fd, data: Buffer, offset: number): void {
    const n = this.fdNode(fd);
    if (!n) return this.unwindWritev(frame, -1, errno.EBADF);
    if ((fd.flags & 3) === fsConstants.O_RDONLY) return this.unwindWritev(frame, -1, errno.EBADF);
    if (offset < 0) return this.unwindWritev(frame, -1, errno.EINVAL);
    const at = fd.flags & fsConstants.O_APPEND ? n.size : offset;
    const pre = this.iatt(n);
    const end = at + data.length;
    if (end > n.size) {
      const e = this.resize(n, end);
      if (e) return this.unwindWritev(frame, -1, e);
    }
    data.copy(n.data, at);
    this.touch(n);
    this.unwindWritev(frame, data.length, 0, pre, this.iatt(n), null);
  }

  flushFop(frame: Frame, fd: Fd): void {
    if (!this.fdNode(fd)) return this.unwindFlush(frame, -1, errno.EBADF);
    this.unwindFlush(frame, 0, 0, null);
  }

  fsyncFop(frame: Frame, fd: Fd): void {
    const n = this.fdNode(fd);
    if (!n) return this.unwindFsync(frame, -1, errno.EBADF);
    const a = this.iatt(n);
    this.unwindFsync(frame, 0, 0, a, a, null);
  }

  opendirFop(frame: Frame, loc: Loc, fd: Fd): void {
    const f = this.find(loc);
    if ('err' in f) return this.unwindOpendir(frame, -1, f.err);
    if (f.node.type !== IA.IFDIR) return this.unwindOpendir(frame, -1, errno.ENOTDIR);
    fd.ctxSet(this, f.node);
    this.unwindOpendir(frame, 0, 0, fd, null);
  }

  private listDir(fd: Fd, size: number, offset: number, plus: boolean): DirEntry[] | number {
    const n = this.fdNode(fd);
    if (!n) return errno.EBADF;
    if (!n.entries) return errno.ENOTDIR;
    let listing = this.#listings.get(fd);
    if (listing === undefined || offset === 0) {
      listing = [...n.entries];
      this.#listings.set(fd, listing);
    }
    const out: DirEntry[] = [];
    let budget = size > 0 ? size : 4096;
    for (let i = offset + 1; i <= listing.length; i++) {
      const [name, child] = listing[i - 1] as [string, Node];
      // Removed (or replaced) since the listing was taken.
      if (n.entries.get(name) !== child) continue;
      const cost = (24 + Buffer.byteLength(name) + 7) & ~7;
      if (out.length > 0 && cost > budget) break;
      budget -= cost;
      const e: DirEntry = { name, offset: i, ino: child.ino, type: child.type };
      if (plus) {
        e.stat = this.iatt(child);
        e.inode = this.graph.inodes.link(child.gfid, child.type);
      }
      out.push(e);
    }
    return out;
  }

  readdirFop(frame: Frame, fd: Fd, size: number, offset: number): void {
    const r = this.listDir(fd, size, offset, false);
    if (typeof r === 'number') return this.unwindReaddir(frame, -1, r);
    this.unwindReaddir(frame, r.length, 0, r, null);
  }

  readdirpFop(frame: Frame, fd: Fd, size: number, offset: number): void {
    const r = this.listDir(fd, size, offset, true);
    if (typeof r === 'number') return this.unwindReaddirp(frame, -1, r);
    this.unwindReaddirp(frame, r.length, 0, r, null);
  }

  fsyncdirFop(frame: Frame, fd: Fd): void {
    if (!this.fdNode(fd)) return this.unwindFsyncdir(frame, -1, errno.EBADF);
    this.unwindFsyncdir(frame, 0, 0, null);
  }

  private applyAttr(n: Node, st: Iatt, valid: number): number {
    if (valid & SETATTR.SIZE) {
      const e = this.resize(n, st.size);
      if (e) return e;
    }
    if (valid & SETATTR.MODE) n.prot = st.prot & 0o7777;
    if (valid & SETATTR.UID) n.uid = st.uid;
    if (valid & SETATTR.GID) n.gid = st.gid;
    if (valid & SETATTR.ATIME) {
      n.atime = st.atime;
      n.atimeNsec = st.atimeNsec;
    }
    if (valid & SETATTR.MTIME) {
      n.mtime = st.mtime;
      n.mtimeNsec = st.mtimeNsec;
    }
    this.touch(n, false);
    return 0;
  }

  setattrFop(frame: Frame, loc: Loc, st: Iatt, valid: number): void {
    const f = this.find(loc);
    if ('err' in f) return this.unwindSetattr(frame, -1, f.err);
    const pre = this.iatt(f.node);
    const e = this.applyAttr(f.node, st, valid);
    if (e) return this.unwindSetattr(frame, -1, e);
    this.unwindSetattr(frame, 0, 0, pre, this.iatt(f.node), null);
  }

  fsetattrFop(frame: Frame, fd: Fd, st: Iatt, valid: number): void {
    const n = this.fdNode(fd);
    if (!n) return this.unwindFsetattr(frame, -1, errno.EBADF);
    const pre = this.iatt(n);
    const e = this.applyAttr(n, st, valid);
    if (e) return this.unwindFsetattr(frame, -1, e);
    this.unwindFsetattr(frame, 0, 0, pre, this.iatt(n), null);
  }

  private getX(n: Node, name: string): XattrDict | number {
    const out: XattrDict = {};
    if (name === '') {
      for (const [k, v] of n.xattrs ?? []) out[k] = Buffer.from(v);
      return out;
    }
    const v = n.xattrs?.get(name);
    if (v === undefined) return errno.ENODATA;
    out[name] = Buffer.from(v);
    return out;
  }

  private setX(n: Node, dict: XattrDict, flags: number): number {
    const x = (n.xattrs ??= new Map());
    for (const [k, v] of Object.entries(dict)) {
      if (flags & XATTR_CREATE && x.has(k)) return errno.EEXIST;
      if (flags & XATTR_REPLACE && !x.has(k)) return errno.ENODATA;
    }
    for (const [k, v] of Object.entries(dict)) x.set(k, Buffer.from(v));
    this.touch(n, false);
    return 0;
  }

  private removeX(n: Node, name: string): number {
    if (!n.xattrs?.delete(name)) return errno.ENODATA;
    this.touch(n, false);
    return 0;
  }

  getxattrFop(frame: Frame, loc: Loc, name: string): void {
    const f = this.find(loc);
    if ('err' in f) return this.unwindGetxattr(frame, -1, f.err);
    const r = this.getX(f.node, name);
    if (typeof r === 'number') return this.unwindGetxattr(frame, -1, r);
    this.unwindGetxattr(frame, 0, 0, r, null);
  }

  fgetxattrFop(frame: Frame, fd: Fd, name: string): void {
    const n = this.fdNode(fd);
    if (!n) return this.unwindFgetxattr(frame, -1, errno.EBADF);
    const r = this.getX(n, name);
    if (typeof r === 'number') return this.unwindFgetxattr(frame, -1, r);
    this.unwindFgetxattr(frame, 0, 0, r, null);
  }

  setxattrFop(frame: Frame, loc: Loc, dict: XattrDict, flags: number): void {
    const f = this.find(loc);
    if ('err' in f) return this.unwindSetxattr(frame, -1, f.err);
    const e = this.setX(f.node, dict, flags);
    if (e) return this.unwindSetxattr(frame, -1, e);
    this.unwindSetxattr(frame, 0, 0, null);
  }

  fsetxattrFop(frame: Frame, fd: Fd, dict: XattrDict, flags: number): void {
    const n = this.fdNode(fd);
    if (!n) return this.unwindFsetxattr(frame, -1, errno.EBADF);
    const e = this.setX(n, dict, flags);
    if (e) return this.unwindFsetxattr(frame, -1, e);
    this.unwindFsetxattr(frame, 0, 0, null);
  }

  removexattrFop(frame: Frame, loc: Loc, name: string): void {
    const f = this.find(loc);
    if ('err' in f) return this.unwindRemovexattr(frame, -1, f.err);
    const e = this.removeX(f.node, name);
    if (e) return this.unwindRemovexattr(frame, -1, e);
    this.unwindRemovexattr(frame, 0, 0, null);
  }

  fremovexattrFop(frame: Frame, fd: Fd, name: string): void {
    const n = this.fdNode(fd);
    if (!n) return this.unwindFremovexattr(frame, -1, errno.EBADF);
    const e = this.removeX(n, name);
    if (e) return this.unwindFremovexattr(frame, -1, e);
    this.unwindFremovexattr(frame, 0, 0, null);
  }

  private range(frame: Frame, fd: Fd, offset: number, len: number, op: 'fallocate' | 'discard' | 'zerofill', keepSize = 0): void {
    const n = this.fdNode(fd);
    const done = (ret: number, err: number, pre: Iatt | null = null, post: Iatt | null = null): void => unwindRange(this, frame, op, ret, err, pre, post);
    if (!n) return done(-1, errno.EBADF);
    if (offset < 0 || len <= 0) return done(-1, errno.EINVAL);
    const pre = this.iatt(n);
    const end = offset + len;
    if (op !== 'discard' && end > n.size && !(op === 'fallocate' && keepSize)) {
      const e = this.resize(n, end);
      if (e) return done(-1, e);
    }
    if (op !== 'fallocate') n.data.fill(0, Math.min(offset, n.size), Math.min(end, n.size));
    this.touch(n);
    done(0, 0, pre, this.iatt(n));
  }

  fallocateFop(frame: Frame, fd: Fd, keepSize: number, offset: number, len: number): void {
    this.range(frame, fd, offset, len, 'fallocate', keepSize);
  }

  discardFop(frame: Frame, fd: Fd, offset: number, len: number): void {
    this.range(frame, fd, offset, len, 'discard');
  }

  zerofillFop(frame: Frame, fd: Fd, offset: number, len: number): void {
    this.range(frame, fd, offset, len, 'zerofill');
  }

  seekFop(frame: Frame, fd: Fd, offset: number, what: number): void {
    const n = this.fdNode(fd);
    if (!n) return this.unwindSeek(frame, -1, errno.EBADF);
    if (offset < 0 || offset >= n.size) return this.unwindSeek(frame, -1, errno.ENXIO);
    // Memory files have no holes: data runs to the end of the file.
    if (what === SEEK_DATA) return this.unwindSeek(frame, 0, 0, offset, null);
    if (what === SEEK_HOLE) return this.unwindSeek(frame, 0, 0, n.size, null);
    this.unwindSeek(frame, -1, errno.EINVAL);
  }
}

function unwindRange(xl: Translator, frame: Frame, op: 'fallocate' | 'discard' | 'zerofill', ret: number, err: number, pre: Iatt | null, post: Iatt | null): void {
  if (op === 'fallocate') xl.unwindFallocate(frame, ret, err, pre, post, null);
  else if (op === 'discard') xl.unwindDiscard(frame, ret, err, pre, post, null);
  else xl.unwindZerofill(frame, ret, err, pre, post, null);
}

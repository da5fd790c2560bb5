/**
 * The values that travel through a translator graph, as in GlusterFS: gfids, `iatt` (file
 * attributes), `loc` (where a fop applies), inodes and fds with per-translator context, directory
 * entries and `statvfs`.
 * @module
 */
import { constants as osConstants } from 'node:os';

/** A GlusterFS file id: 128 bits in UUID text form (`00000000-0000-0000-0000-000000000001`). */
export type Gfid = string;

/** The gfid of every volume's root directory (GlusterFS's fixed root gfid). */
export const ROOT_GFID: Gfid = '00000000-0000-0000-0000-000000000001';

/** The null gfid (GlusterFS's `null_gfid`): "not known". */
export const NULL_GFID: Gfid = '00000000-0000-0000-0000-000000000000';

/** GlusterFS's `ia_type_t`: IA_INVAL, IA_IFREG, IA_IFDIR, IA_IFLNK, IA_IFBLK, IA_IFCHR, IA_IFIFO, IA_IFSOCK. */
export const IA = {
  INVAL: 0,
  IFREG: 1,
  IFDIR: 2,
  IFLNK: 3,
  IFBLK: 4,
  IFCHR: 5,
  IFIFO: 6,
  IFSOCK: 7,
} as const;

/** One of the {@link IA} values. */
export type IaType = (typeof IA)[keyof typeof IA];

const S_IFMT_BY_IA: readonly number[] = [0, 0o100000, 0o040000, 0o120000, 0o060000, 0o020000, 0o010000, 0o140000];

/** The `ia_type` of a POSIX `st_mode`. */
export function iaTypeFromMode(mode: number): IaType {
  const i = S_IFMT_BY_IA.indexOf(mode & 0o170000);
  return (i > 0 ? i : IA.INVAL) as IaType;
}

/** The POSIX `st_mode` of an `iatt`: type bits plus suid/sgid/sticky and rwx bits (`prot`). */
export function stModeOf(buf: Pick<Iatt, 'type' | 'prot'>): number {
  return (S_IFMT_BY_IA[buf.type] ?? 0) | (buf.prot & 0o7777);
}

/**
 * GlusterFS's `struct iatt`: what `stat` returns, with the file's gfid. Times are seconds since
 * the epoch plus nanoseconds. `prot` holds the permission bits (`0o7777`), `type` the file type.
 */
export interface Iatt {
  gfid: Gfid;
  ino: number;
  dev: number;
  type: IaType;
  prot: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atime: number;
  atimeNsec: number;
  mtime: number;
  mtimeNsec: number;
  ctime: number;
  ctimeNsec: number;
}

/** `statvfs` of a volume (as `statfs` returns it). */
export interface Statvfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/** Extra key/value data a fop or callback may carry (GlusterFS's `xdata` dict); `null` when none. */
export type Dict = Record<string, unknown>;

/** Extended attributes: names to raw bytes. */
export type XattrDict = Record<string, Buffer>;

/** Bits of `setattr`'s `valid` argument (GlusterFS's `GF_SET_ATTR_*`). */
export const SETATTR = {
  MODE: 0x1,
  UID: 0x2,
  GID: 0x4,
  SIZE: 0x8,
  ATIME: 0x10,
  MTIME: 0x20,
  CTIME: 0x40,
} as const;

/** A translator's key into inode and fd context (the translator object itself). */
export type CtxKey = object;

/**
 * Per-translator context slots (GlusterFS's `inode_ctx_*`/`fd_ctx_*`), shared by {@link Inode}
 * and {@link Fd}. Each translator keys its slot by itself; the map is made on first use.
 */
export abstract class ContextHolder {
  #ctx: Map<CtxKey, unknown> | undefined;

  /** This translator's context on the object, or `undefined`. */
  ctxGet<T = unknown>(key: CtxKey): T | undefined {
    return this.#ctx?.get(key) as T | undefined;
  }

  /** Sets this translator's context on the object. */
  ctxSet(key: CtxKey, value: unknown): void {
    (this.#ctx ??= new Map()).set(key, value);
  }

  /** Removes and returns this translator's context. */
  ctxDel<T = unknown>(key: CtxKey): T | undefined {
    const v = this.#ctx?.get(key) as T | undefined;
    this.#ctx?.delete(key);
    return v;
  }

  /** The translators that hold context on this object. */
  ctxKeys(): CtxKey[] {
    return this.#ctx ? [...this.#ctx.keys()] : [];
  }
}

/**
 * An inode of one graph's inode table: a gfid and its type, with per-translator context
 * (`ctxGet`/`ctxSet`/`ctxDel`, GlusterFS's `inode_ctx_*`). Translators that keep context are
 * told through their `forget` callback when the inode leaves the table.
 */
export class Inode extends ContextHolder {
  /** Open fds on this inode (an inode with open fds is never evicted). */
  fdCount = 0;
  constructor(
    readonly gfid: Gfid,
    public type: IaType,
  ) {
    super();
  }
}

let fdIds = 0;

/**
 * An open file or directory (GlusterFS's `fd_t`). The caller makes it and passes it to `open`,
 * `create` or `opendir`; translators keep their own handles in its context (`ctxSet(this, ...)`),
 * and are told through their `release`/`releasedir` callback when it is closed.
 */
export class Fd extends ContextHolder {
  /** Unique within the process; protocol/client uses it as the fd's name on the wire. */
  readonly id = ++fdIds;
  /** `open`/`create` flags (`O_*`). */
  flags = 0;
  /** True once released; fops on a released fd fail with EBADF. */
  released = false;
  constructor(
    public inode: Inode,
    readonly isDir = false,
  ) {
    super();
  }
}

/**
 * Where a fop applies (GlusterFS's `loc_t`). `path` is absolute within the volume (`/` is the
 * root); `name` and `pargfid`/`parent` name the entry in its parent directory (empty and null for
 * the root and for nameless, gfid-only locations); `gfid`/`inode` are set when already known.
 */
export interface Loc {
  path: string;
  name: string;
  gfid: Gfid | null;
  pargfid: Gfid | null;
  inode: Inode | null;
  parent: Inode | null;
}

/** Makes a {@link Loc}; `name` defaults to the last component of `path`. */
export function makeLoc(path: string, fields: Partial<Loc> = {}): Loc {
  const name = fields.name ?? (path === '/' || path === '' ? '' : path.slice(path.lastIndexOf('/') + 1));
  return {
    path,
    name,
    gfid: fields.gfid ?? fields.inode?.gfid ?? null,
    pargfid: fields.pargfid ?? fields.parent?.gfid ?? null,
    inode: fields.inode ?? null,
    parent: fields.parent ?? null,
  };
}

/** One entry of `readdir`/`readdirp`. `offset` is the cookie to continue after it. */
export interface DirEntry {
  name: string;
  offset: number;
  ino: number;
  type: IaType;
  /** `readdirp` only: the entry's attributes. */
  stat?: Iatt | null;
  /** `readdirp` only: the entry's inode in the caller's graph. */
  inode?: Inode | null;
}

/** POSIX errno numbers by name (Linux values, from Node's `os.constants.errno`). */
export const errno = osConstants.errno as Readonly<Record<string, number>> & {
  readonly ENOENT: number;
  readonly EIO: number;
  readonly EEXIST: number;
  readonly ENOTDIR: number;
  readonly EISDIR: number;
  readonly EINVAL: number;
  readonly ENOTEMPTY: number;
  readonly ENOSYS: number;
  readonly ETIMEDOUT: number;
  readonly ENOTCONN: number;
  readonly EBADF: number;
  readonly EACCES: number;
  readonly EPERM: number;
  readonly ESTALE: number;
  readonly ENODATA: number;
  readonly EXDEV: number;
  readonly ENOSPC: number;
  readonly ENAMETOOLONG: number;
  readonly ELOOP: number;
  readonly EROFS: number;
  readonly ENXIO: number;
  readonly EFBIG: number;
  readonly ERANGE: number;
  readonly EOPNOTSUPP: number;
  readonly E2BIG: number;
};

const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(osConstants.errno)) if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);
// Linux shares numbers between names; prefer the ones users know.
ERRNO_NAMES.set(errno.EOPNOTSUPP, 'EOPNOTSUPP');
ERRNO_NAMES.set(errno.ENODATA, 'ENODATA');

/** The symbolic name of an errno number (`2` → `'ENOENT'`); `'E<n>'` when unknown. */
export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `E${n}`;
}

/** A fresh random gfid. */
export function randomGfid(): Gfid {
  return crypto.randomUUID();
}

/**
 * Types for `fuse-native` 2.2.6 (the package ships none): the parts `fuse.ts` uses. The package is
 * CommonJS (`module.exports = Fuse`), which an ES module sees as its default export. Callbacks take
 * a negative errno (or 0) first; read/write signal a count instead.
 */
declare module 'fuse-native' {
  /** A file's attributes as fuse-native packs them (times as Dates or milliseconds). */
  export interface FuseStat {
    mode: number;
    uid?: number;
    gid?: number;
    size?: number;
    dev?: number;
    nlink?: number;
    ino?: number;
    rdev?: number;
    blksize?: number;
    blocks?: number;
    atime?: Date | number;
    mtime?: Date | number;
    ctime?: Date | number;
  }

  /** `statvfs` fields as fuse-native packs them (each a 32-bit unsigned integer). */
  export interface FuseStatfs {
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

  /** A handler's answer: 0, or a negative errno. */
  export type Done = (err: number) => void;

  /** The handlers fuse-native calls (each one optional; a missing one answers ENOSYS). */
  export interface FuseOps {
    init?(cb: Done): void;
    access?(path: string, mode: number, cb: Done): void;
    statfs?(path: string, cb: (err: number, st?: FuseStatfs) => void): void;
    getattr?(path: string, cb: (err: number, st?: FuseStat) => void): void;
    fgetattr?(path: string, fd: number, cb: (err: number, st?: FuseStat) => void): void;
    flush?(path: string, fd: number, cb: Done): void;
    fsync?(path: string, datasync: number, fd: number, cb: Done): void;
    fsyncdir?(path: string, datasync: number, fd: number, cb: Done): void;
    readdir?(path: string, cb: (err: number, names?: string[], stats?: FuseStat[]) => void): void;
    truncate?(path: string, size: number, cb: Done): void;
    ftruncate?(path: string, fd: number, size: number, cb: Done): void;
    utimens?(path: string, atime: number, mtime: number, cb: Done): void;
    readlink?(path: string, cb: (err: number, target?: string) => void): void;
    chown?(path: string, uid: number, gid: number, cb: Done): void;
    chmod?(path: string, mode: number, cb: Done): void;
    mknod?(path: string, mode: number, dev: number, cb: Done): void;
    setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Done): void;
    getxattr?(path: string, name: string, position: number, cb: (err: number, value?: Buffer | null) => void): void;
    listxattr?(path: string, cb: (err: number, list?: string[]) => void): void;
    removexattr?(path: string, name: string, cb: Done): void;
    open?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
    opendir?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
    read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytesOrErr: number) => void): void;
    write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytesOrErr: number) => void): void;
    release?(path: string, fd: number, cb: Done): void;
    releasedir?(path: string, fd: number, cb: Done): void;
    create?(path: string, mode: number, cb: (err: number, fd?: number) => void): void;
    unlink?(path: string, cb: Done): void;
    rename?(src: string, dest: string, cb: Done): void;
    link?(src: string, dest: string, cb: Done): void;
    symlink?(target: string, path: string, cb: Done): void;
    mkdir?(path: string, mode: number, cb: Done): void;
    rmdir?(path: string, cb: Done): void;
  }

  /** Mount options (each becomes a `-o` option of libfuse when truthy). */
  export interface FuseOptions {
    /** Milliseconds before an unanswered op fails with ETIMEDOUT (default 15 000; false: never). */
    timeout?: number | false;
    debug?: boolean;
    force?: boolean;
    mkdir?: boolean;
    allowOther?: boolean;
    allowRoot?: boolean;
    autoUnmount?: boolean;
    defaultPermissions?: boolean;
    maxRead?: number;
    fsname?: string;
    subtype?: string;
    kernelCache?: boolean;
    autoCache?: boolean;
    /** Seconds; a string so that `'0'` (falsy as a number) still reaches libfuse. */
    entryTimeout?: number | string;
    attrTimeout?: number | string;
    acAttrTimeout?: number | string;
  }

  /** One FUSE mount (a libfuse session served on its own threads, answered on the JS thread). */
  export default class Fuse {
    constructor(mnt: string, ops: FuseOps, opts?: FuseOptions);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    /** @internal fuse-native's builder of libfuse's `-o` argument (overridden by fuse.ts). */
    _fuseOptions(): string;
    static readonly EPERM: number;
    static readonly ENOENT: number;
    static readonly EIO: number;
    static readonly EBADF: number;
    static readonly EACCES: number;
    static readonly EEXIST: number;
    static readonly EINVAL: number;
    static readonly EROFS: number;
    static readonly ENOSYS: number;
    static readonly ENODATA: number;
    static readonly ETIMEDOUT: number;
  }

}

/**
 * The FUSE mount: a {@link Volume} as a real file system, through `fuse-native` (libfuse 2).
 *
 * Every FUSE op that the Volume can back is mapped onto it: getattr (lstat semantics), readdir,
 * open/create/read/write/flush/fsync/release, truncate/ftruncate, mkdir/rmdir/unlink/rename,
 * symlink/readlink/link, chmod/chown/utimens, statfs, getxattr/setxattr/listxattr/removexattr and
 * access (`security.*` and POSIX-ACL xattrs are answered by the mount itself: see
 * {@link localXattr}). Failures reach the kernel as negative errnos (an {@link FsError}'s own `errno`; EIO
 * for anything unexpected). Open files live in a table from FUSE's file-handle number to the
 * {@link VolumeFileHandle}.
 *
 * Caching: entries and attributes are cached by the kernel for `entryTimeout` / `attrTimeout`
 * seconds, 0 by default, so that a change made through another client of the same bricks (or in
 * the brick itself) is seen by the next system call; negative lookups are never cached. The page
 * cache is dropped at every open (no `kernel_cache`). Raising the timeouts trades that coherence
 * for fewer lookups.
 *
 * Known limits of fuse-native 2.2.6, which this module lives with: `utimens` receives the access
 * time twice (the modification time is set to the access time; `touch` and `touch -d` are right,
 * `touch -m`/`-a` set both), `UTIME_OMIT` cannot be told from `UTIME_NOW` (both mean "now" here),
 * the FUSE caller's uid/gid is not passed on (fops run as the mounting process), and `mknod`
 * (FIFOs, devices) is not offered because the Volume has no mknod.
 *
 * States of a {@link Mount}: `mounted` → `unmounting` (unmount() called) → `unmounted`. The
 * process that serves the mount must never touch it synchronously: the kernel waits for this
 * process's event loop to answer, so a synchronous `fs.*Sync` on the mountpoint deadlocks.
 * @module
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve as resolvePath } from 'node:path';
import type { default as FuseClass, FuseOps, FuseStat } from 'fuse-native';
import { FsError, InvalidArgumentError, MountError } from '../errors.ts';
import type { Volume, VolumeDirent, VolumeFileHandle, VolumeStats } from './volume.ts';

/** Options of {@link mountVolume}. */
export interface MountOptions {
  /** Refuse every change with EROFS (the kernel mount is `ro` too). */
  readOnly?: boolean | undefined;
  /**
   * Let other users than the mounting one use the mount (`allow_other`; for non-root users it
   * needs `user_allow_other` in /etc/fuse.conf). Turns on `default_permissions`, so the kernel
   * checks each caller against the files' modes: the fops themselves run as the mounting process.
   */
  allowOther?: boolean | undefined;
  /** libfuse's debug output (every request) on stderr, and every failed op through `log`. */
  debug?: boolean | undefined;
  /** Seconds the kernel may cache a name's lookup (default 0: changes elsewhere are seen at once). */
  entryTimeout?: number | undefined;
  /** Seconds the kernel may cache attributes (default 0). */
  attrTimeout?: number | undefined;
  /** Milliseconds before an unanswered FUSE request fails with ETIMEDOUT (default: the graph's frame timeout + 5 s). */
  opTimeout?: number | undefined;
  /** The file system's name in /proc/mounts (default `switchyard`). */
  fsname?: string | undefined;
  /** Where debug lines and unexpected internal errors go (default: stderr). */
  log?: ((line: string) => void) | undefined;
  /** Milliseconds to wait for the kernel to accept the mount (default 10 000). */
  timeout?: number | undefined;
}

/** A mounted volume. `unmount()` (or `await using`) takes it down; the Volume stays open. */
export interface Mount extends AsyncDisposable {
  /** The absolute mountpoint. */
  readonly mountpoint: string;
  /** True until `unmount()` has finished. */
  readonly mounted: boolean;
  /**
   * Unmounts (`fusermount -uz`; as root `umount -l` when fusermount fails) and closes the files
   * still open through the mount. Lazy: processes still inside the mount keep it until they
   * leave. Safe to call twice (the second call returns the first one's promise). Rejects when
   * neither way worked; the message names the command to run.
   */
  unmount(): Promise<void>;
}

type FuseModule = typeof FuseClass;

const require = createRequire(import.meta.url);
let loaded: FuseModule | undefined;
let loadError: Error | undefined;

const INSTALL_HINT = 'FUSE needs libfuse2 and fusermount: apt-get install libfuse2 fuse';

function fuseModule(): FuseModule {
  if (loaded) return loaded;
  if (!loadError) {
    try {
      loaded = require('fuse-native') as FuseModule;
      return loaded;
    } catch (err) {
      loadError = err instanceof Error ? err : new Error(String(err));
    }
  }
  throw new MountError('SWITCHYARD_ERR_FUSE_UNAVAILABLE', `Cannot load fuse-native (${firstLine(loadError.message)}). ${INSTALL_HINT}`, undefined, { cause: loadError });
}

/**
 * Why FUSE mounts cannot work on this machine (`/dev/fuse` missing, fuse-native or libfuse2 not
 * loadable), or `undefined` when they can. Loads fuse-native on first call.
 */
export async function fuseUnavailableReason(): Promise<string | undefined> {
  try {
    await stat('/dev/fuse');
  } catch {
    return `/dev/fuse is missing (load the fuse kernel module, or give the container --device /dev/fuse)`;
  }
  try {
    fuseModule();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

const O = fsConstants;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const S_IFSOCK = 0o140000;
const S_IFBLK = 0o060000;
const S_IFCHR = 0o020000;
const E = {
  EPERM: -1,
  ENOENT: -2,
  EIO: -5,
  EBADF: -9,
  EINVAL: -22,
  EROFS: -30,
  ENODATA: -61,
  EOPNOTSUPP: -95,
} as const;
/** The open flags passed on to the volume; the rest (O_LARGEFILE, O_DIRECT, O_NOATIME...) are the kernel's business. */
const O_ACCMODE = 3;
const OPEN_FLAGS = O_ACCMODE | O.O_APPEND | O.O_SYNC | O.O_DSYNC;
const U32 = 0xffff_ffff;
/** `UTIME_NOW` and `UTIME_OMIT` are nanosecond values just under 2^30; fuse-native turns them into these milliseconds. */
const UTIME_SPECIAL_MS = Math.floor(((1 << 30) - 2) / 1e6);

function typeBits(d: VolumeDirent): number {
  if (d.isDirectory()) return S_IFDIR;
  if (d.isFile()) return S_IFREG;
  if (d.isSymbolicLink()) return S_IFLNK;
  if (d.isFIFO()) return S_IFIFO;
  if (d.isSocket()) return S_IFSOCK;
  if (d.isBlockDevice()) return S_IFBLK;
  if (d.isCharacterDevice()) return S_IFCHR;
  return 0;
}

function fuseStat(st: VolumeStats): FuseStat {
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    dev: st.dev >>> 0,
    nlink: st.nlink,
    ino: st.ino >>> 0,
    rdev: st.rdev >>> 0,
    blksize: st.blksize,
    blocks: st.blocks,
    atime: st.atimeMs,
    mtime: st.mtimeMs,
    ctime: st.ctimeMs,
  };
}

function u32(n: number): number {
  return Math.max(0, Math.min(U32, Math.floor(n)));
}

/**
 * Extended attributes the mount answers itself, without a fop: `security.*` (LSM labels and file
 * capabilities, which a `nosuid` FUSE mount neither carries nor honours) read as absent and cannot
 * be set; POSIX ACLs (`system.posix_acl_*`, which the kernel enforces only when the file system
 * negotiates them, and libfuse 2 does not) are not supported. The kernel asks for
 * `security.capability` before every write and `ls -l` asks for the other two for every file, so
 * answering here saves a volume round trip each time.
 */
function localXattr(name: string): { get: number; set: number } | undefined {
  if (name.startsWith('security.')) return { get: E.ENODATA, set: E.EOPNOTSUPP };
  if (name.startsWith('system.posix_acl_')) return { get: E.EOPNOTSUPP, set: E.EOPNOTSUPP };
  return undefined;
}

/** A table of open files: FUSE's 32-bit file-handle numbers (never 0: fuse-native treats 0 as none). */
class HandleTable {
  readonly #handles = new Map<number, VolumeFileHandle>();
  #next = 1;

  add(h: VolumeFileHandle): number {
    while (this.#handles.has(this.#next)) this.#next = this.#next >= 0x7fff_ffff ? 1 : this.#next + 1;
    const fd = this.#next;
    this.#next = fd >= 0x7fff_ffff ? 1 : fd + 1;
    this.#handles.set(fd, h);
    return fd;
  }
  get(fd: number): VolumeFileHandle | undefined {
    return this.#handles.get(fd);
  }
  take(fd: number): VolumeFileHandle | undefined {
    const h = this.#handles.get(fd);
    this.#handles.delete(fd);
    return h;
  }
  drain(): VolumeFileHandle[] {
    const all = [...this.#handles.values()];
    this.#handles.clear();
    return all;
  }
}

/** Builds the FUSE op table over `volume`. */
function makeOps(volume: Volume, handles: HandleTable, options: MountOptions, log: (line: string) => void): FuseOps {
  const readOnly = options.readOnly === true;
  const debug = options.debug === true;

  const errnoOf = (err: unknown, op: string, path: string): number => {
    if (err instanceof FsError) {
      if (debug) log(`${op} ${path}: ${err.code}`);
      return err.errno < 0 ? err.errno : E.EIO;
    }
    if (err instanceof InvalidArgumentError) return E.EINVAL;
    log(`${op} ${path}: unexpected ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return E.EIO;
  };
  /** Runs `work` and answers `cb` with 0 or the mapped errno. */
  const done = (op: string, path: string, work: () => Promise<unknown>, cb: (err: number) => void): void => {
    work().then(
      () => cb(0),
      (err: unknown) => cb(errnoOf(err, op, path)),
    );
  };
  /** Runs `work` and answers `cb` with its value, or the mapped errno. */
  const answer = <T>(op: string, path: string, work: () => Promise<T>, cb: (err: number, value?: T) => void): void => {
    work().then(
      (v) => cb(0, v),
      (err: unknown) => cb(errnoOf(err, op, path)),
    );
  };
  const withHandle = (fd: number): VolumeFileHandle => {
    const h = handles.get(fd);
    if (!h) throw new FsError('EBADF', 9, 'fd', String(fd));
    return h;
  };

  const ops: FuseOps = {
    getattr: (path, cb) => answer('getattr', path, async () => fuseStat(await volume.lstat(path)), cb),
    access: (path, mode, cb) => {
      if (readOnly && mode & O.W_OK) return cb(E.EROFS);
      done('access', path, () => volume.access(path, mode), cb);
    },
    statfs: (path, cb) =>
      answer(
        'statfs',
        path,
        async () => {
          const s = await volume.statfs(path);
          return {
            bsize: u32(s.bsize),
            frsize: u32(s.frsize),
            blocks: u32(s.blocks),
            bfree: u32(s.bfree),
            bavail: u32(s.bavail),
            files: u32(s.files),
            ffree: u32(s.ffree),
            favail: u32(s.favail),
            fsid: u32(s.fsid),
            flag: u32(s.flag),
            namemax: u32(s.namemax || 255),
          };
        },
        cb,
      ),
    readdir: (path, cb) => {
      volume.readdir(path, { withFileTypes: true }).then(
        (entries) => {
          const names = ['.', '..'];
          const stats: FuseStat[] = [{ mode: S_IFDIR }, { mode: S_IFDIR }];
          for (const e of entries) {
            names.push(e.name);
            stats.push({ mode: typeBits(e) });
          }
          cb(0, names, stats);
        },
        (err: unknown) => cb(errnoOf(err, 'readdir', path)),
      );
    },
    open: (path, flags, cb) => {
      if (readOnly && ((flags & O_ACCMODE) !== O.O_RDONLY || flags & O.O_TRUNC)) return cb(E.EROFS);
      answer('open', path, async () => handles.add(await volume.open(path, flags & OPEN_FLAGS)), cb);
    },
    create: (path, mode, cb) => {
      if (readOnly) return cb(E.EROFS);
      // fuse-native drops create's open flags: the kernel only sends create after a failed
      // lookup, so the file is made here read-write and the kernel enforces the caller's mode.
      answer('create', path, async () => handles.add(await volume.open(path, O.O_RDWR | O.O_CREAT, mode & 0o7777)), cb);
    },
    read: (path, fd, buf, len, pos, cb) => {
      const work = async (): Promise<number> => {
        const h = withHandle(fd);
        // libfuse 2 (without direct_io) fills a short read with zeros: read until len or EOF.
        let got = 0;
        while (got < len) {
          const { bytesRead } = await h.read(buf, got, len - got, pos + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got;
      };
      work().then(cb, (err: unknown) => cb(errnoOf(err, 'read', path)));
    },
    write: (path, fd, buf, len, pos, cb) => {
      if (readOnly) return cb(E.EROFS);
      // The buffer is libfuse's memory, detached when cb runs: translators may keep what they
      // are given (storage/memory does), so they get a copy.
      const data = Buffer.from(buf.subarray(0, len));
      const work = async (): Promise<number> => {
        const h = withHandle(fd);
        let put = 0;
        while (put < len) {
          const { bytesWritten } = await h.write(data, put, len - put, pos + put);
          if (bytesWritten <= 0) break;
          put += bytesWritten;
        }
        return put;
      };
      work().then(cb, (err: unknown) => cb(errnoOf(err, 'write', path)));
    },
    flush: (path, fd, cb) => {
      done(
        'flush',
        path,
        async () => {
          const h = withHandle(fd);
          await volume._fop('flush', h.path, 'flush', h.fd, null);
        },
        cb,
      );
    },
    fsync: (path, datasync, fd, cb) => {
      done(
        'fsync',
        path,
        async () => {
          const h = withHandle(fd);
          await (datasync ? h.datasync() : h.sync());
        },
        cb,
      );
    },
    release: (path, fd, cb) => {
      const h = handles.take(fd);
      if (!h) return cb(0);
      done('release', path, () => h.close(), cb);
    },
    truncate: (path, size, cb) => {
      if (readOnly) return cb(E.EROFS);
      done('truncate', path, () => volume.truncate(path, size), cb);
    },
    ftruncate: (path, fd, size, cb) => {
      if (readOnly) return cb(E.EROFS);
      done('ftruncate', path, () => withHandle(fd).truncate(size), cb);
    },
    mkdir: (path, mode, cb) => {
      if (readOnly) return cb(E.EROFS);
      done('mkdir', path, () => volume.mkdir(path, { mode: mode & 0o7777 }), cb);
    },
    rmdir: (path, cb) => {
      if (readOnly) return cb(E.EROFS);
      done('rmdir', path, () => volume.rmdir(path), cb);
    },
    unlink: (path, cb) => {
      if (readOnly) return cb(E.EROFS);
      done('unlink', path, () => volume.unlink(path), cb);
    },
    rename: (src, dest, cb) => {
      if (readOnly) return cb(E.EROFS);
      done('rename', src, () => volume.rename(src, dest), cb);
    },
    symlink: (target, path, cb) => {
      if (readOnly) return cb(E.EROFS);
      done('symlink', path, () => volume.symlink(target, path), cb);
    },
    readlink: (path, cb) => answer('readlink', path, () => volume.readlink(path), cb),
    link: (src, dest, cb) => {
      if (readOnly) return cb(E.EROFS);
      done('link', dest, () => volume.link(src, dest), cb);
    },
    chmod: (path, mode, cb) => {
      if (readOnly) return cb(E.EROFS);
      done('chmod', path, () => volume.chmod(path, mode & 0o7777), cb);
    },
    chown: (path, uid, gid, cb) => {
      if (readOnly) return cb(E.EROFS);
      done(
        'chown',
        path,
        async () => {
          // (uid_t)-1 / (gid_t)-1: leave that id as it is.
          if (uid === U32 || gid === U32) {
            const st = await volume.lstat(path);
            if (uid === U32) uid = st.uid;
            if (gid === U32) gid = st.gid;
          }
          await volume.chown(path, uid, gid);
        },
        cb,
      );
    },
    utimens: (path, atime, mtime, cb) => {
      if (readOnly) return cb(E.EROFS);
      const now = Date.now();
      const at = atime === UTIME_SPECIAL_MS ? now : atime;
      const mt = mtime === UTIME_SPECIAL_MS ? now : mtime;
      done('utimens', path, () => volume.utimes(path, new Date(at), new Date(mt)), cb);
    },
    getxattr: (path, name, _position, cb) => {
      const local = localXattr(name);
      if (local !== undefined) return cb(local.get);
      answer(
        'getxattr',
        path,
        async () => {
          const all = await volume.getxattr(path, name);
          const v = all[name];
          if (v === undefined) throw new FsError('ENODATA', 61, 'getxattr', path);
          return v;
        },
        cb,
      );
    },
    listxattr: (path, cb) => answer('listxattr', path, async () => Object.keys(await volume.getxattr(path)).filter((n) => localXattr(n) === undefined), cb),
    setxattr: (path, name, value, _position, flags, cb) => {
      if (readOnly) return cb(E.EROFS);
      const local = localXattr(name);
      if (local !== undefined) return cb(local.set);
      const copy = Buffer.from(value);
      done('setxattr', path, () => volume.setxattr(path, { [name]: copy }, flags), cb);
    },
    removexattr: (path, name, cb) => {
      if (readOnly) return cb(E.EROFS);
      const local = localXattr(name);
      if (local !== undefined) return cb(local.set);
      done('removexattr', path, () => volume.removexattr(path, name), cb);
    },
  };
  return ops;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, _stdout, stderr) => {
      if (err) reject(new MountError('SWITCHYARD_ERR_MOUNT', `${cmd} ${args.join(' ')}: ${firstLine(String(stderr).trim()) || err.message}`, undefined, { cause: err }));
      else resolve();
    });
  });
}

/** Checks that `mnt` is an empty directory that nothing is mounted on. */
async function checkMountpoint(mnt: string): Promise<void> {
  let st;
  try {
    st = await stat(mnt);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN') {
      throw new InvalidArgumentError('mountpoint', `${mnt} is a stale FUSE mount (transport endpoint is not connected); clear it with: fusermount -uz ${mnt}`, { cause: err });
    }
    if (code === 'ENOENT') throw new InvalidArgumentError('mountpoint', `The mountpoint ${mnt} does not exist (make an empty directory there)`, { cause: err });
    throw new InvalidArgumentError('mountpoint', `Cannot use the mountpoint ${mnt}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isDirectory()) throw new InvalidArgumentError('mountpoint', `The mountpoint ${mnt} is not a directory`);
  const parent = await stat(resolvePath(mnt, '..'));
  if (parent.dev !== st.dev && mnt !== '/') throw new InvalidArgumentError('mountpoint', `Something is already mounted on ${mnt}`);
  if ((await readdir(mnt)).length > 0) throw new InvalidArgumentError('mountpoint', `The mountpoint ${mnt} is not empty`);
}

/**
 * Mounts `volume` on `mountpoint` (an existing empty directory) through FUSE. Resolves once the
 * kernel has accepted the mount. The caller keeps owning the volume: unmount first, then close
 * it. Never touch the mount synchronously from this process (see the module doc).
 *
 * Rejects with an {@link InvalidArgumentError} (argument `mountpoint`) when the mountpoint is
 * missing, not a directory, not empty, already mounted on or a stale mount; with a
 * `SWITCHYARD_ERR_FUSE_UNAVAILABLE` error when fuse-native or libfuse2 cannot be loaded; with a
 * `SWITCHYARD_ERR_MOUNT` error when the kernel refuses the mount.
 * @example
 * ```ts
 * await using vol = await openVolume('/etc/switchyard/data.vol');
 * await using mnt = await mountVolume(vol, '/mnt/data');
 * // other processes now use /mnt/data; this one must go through `vol`
 * ```
 */
export async function mountVolume(volume: Volume, mountpoint: string, options: MountOptions = {}): Promise<Mount> {
  const Fuse = fuseModule();
  const mnt = resolvePath(mountpoint);
  await checkMountpoint(mnt);
  const log = options.log ?? ((line: string): void => void process.stderr.write(`switchyard mount: ${line}\n`));
  const handles = new HandleTable();
  const ops = makeOps(volume, handles, options, log);

  const timeoutOption = (seconds: number | undefined, what: string): string => {
    const s = seconds ?? 0;
    if (!Number.isFinite(s) || s < 0) throw new InvalidArgumentError(what, `${what} must be a number of seconds >= 0 (got ${String(seconds)})`);
    return String(s);
  };
  const fsname = options.fsname ?? 'switchyard';
  if (!/^[\w.@:/-]+$/.test(fsname)) throw new InvalidArgumentError('fsname', `fsname '${fsname}' may hold only letters, digits and . @ : / - _`);
  const libfuseOptions = [
    `fsname=${fsname}`,
    'subtype=switchyard',
    `entry_timeout=${timeoutOption(options.entryTimeout, 'entryTimeout')}`,
    `attr_timeout=${timeoutOption(options.attrTimeout, 'attrTimeout')}`,
    'negative_timeout=0',
    // libfuse 2 splits writes into 4 KiB requests unless asked for big ones (128 KiB here).
    'big_writes',
    // If this process dies without unmounting, fusermount (which waits on the session) unmounts.
    'auto_unmount',
  ];
  if (options.readOnly) libfuseOptions.push('ro');
  if (options.allowOther) libfuseOptions.push('allow_other', 'default_permissions');
  if (options.debug) libfuseOptions.push('debug');

  // fuse-native builds libfuse's `-o` string from a fixed list of its own options, which has no
  // big_writes, no negative_timeout and drops zero timeouts; this subclass states the whole string.
  class SwitchyardFuse extends Fuse {
    override _fuseOptions(): string {
      return `-o${libfuseOptions.join(',')}`;
    }
  }
  const opTimeout = options.opTimeout ?? volume.graph.frameTimeout + 5000;
  const fuse = new SwitchyardFuse(mnt, ops, { timeout: opTimeout > 0 ? opTimeout : false });

  const mountTimeout = options.timeout ?? 10_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      // The mount may still complete later: take it down rather than leave it unserved.
      void run('fusermount', ['-uz', mnt], 10_000).catch(() => {});
      reject(new MountError('SWITCHYARD_ERR_MOUNT', `The kernel did not accept the FUSE mount on ${mnt} within ${mountTimeout} ms`, mnt));
    }, mountTimeout);
    timer.unref();
    fuse.mount((err) => {
      clearTimeout(timer);
      if (err) reject(new MountError('SWITCHYARD_ERR_MOUNT', `Cannot mount on ${mnt}: ${err.message}`, mnt, { cause: err }));
      else resolve();
    });
  });

  let unmounting: Promise<void> | undefined;
  let mounted = true;
  const unmount = (): Promise<void> => {
    unmounting ??= (async () => {
      try {
        await new Promise<void>((resolve, reject) => fuse.unmount((err) => (err ? reject(err) : resolve())));
      } catch (err) {
        try {
          await run('umount', ['-l', mnt], 10_000);
        } catch (err2) {
          throw new MountError('SWITCHYARD_ERR_MOUNT', `Cannot unmount ${mnt} (${firstLine((err as Error).message)}; ${firstLine((err2 as Error).message)}); run: fusermount -uz ${mnt}`, mnt, { cause: err2 });
        }
      }
      mounted = false;
      for (const h of handles.drain()) await h.close().catch(() => {});
    })();
    return unmounting;
  };
  return {
    mountpoint: mnt,
    get mounted() {
      return mounted;
    },
    unmount,
    [Symbol.asyncDispose]: unmount,
  };
}

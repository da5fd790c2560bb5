/**
 * The receiving side of `RSync`, run by the worker for an `RSYNC` channel: takes the file list,
 * decides per file what it needs (nothing when size and mtime match; a content hash when only the
 * mtime differs; block signatures for a delta when an old copy of a large file exists; files it
 * has no copy of by index, many to a `reqs` item, when the sender can batch), writes each file to
 * a temporary name in its directory and renames it into place (small whole files arrive many to a
 * `files` item, each complete on its own), and removes what the source does not have when asked.
 *
 * Per written file: MD5 check, then open (`O_EXCL`), write, fchmod, futimes, close, rename. Each
 * listed directory that existed is read once; its entries are lstat'ed only when listed there.
 *
 * Safety: every path is checked before use. Paths are relative, `/`-separated, without `.`/`..`
 * or empty parts, and an entry's parent must be a directory entry earlier in the same list (which
 * this side has made a real directory, replacing any symlink), so nothing is ever written through
 * a symlink or outside the destination, whatever the sender sends. Block copies are bounds-checked
 * against the old file.
 * @module
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fchmodSync,
  futimesSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { resolve, sep } from 'node:path';
import type { Channel } from '../channel/channel.ts';
import { RSyncError } from '../errors.ts';
import { chooseBlockSize, md5Of, signatures } from './rsync-blocks.ts';
import type { RsyncEntry, RsyncReceiverStats, RsyncRequest, RsyncToReceiver, RsyncToSender } from './protocol.ts';

/** Most entries one list may have. */
const MAX_ENTRIES = 10_000_000;
/** Indices per `reqs` item. */
const REQS_BATCH = 4096;

/** Throws unless `p` is a safe relative path (`''` allowed only when `allowRoot`). */
export function checkRelativePath(p: unknown, allowRoot: boolean): asserts p is string {
  if (typeof p !== 'string') throw new RSyncError('A path in the file list is not a string');
  if (p === '') {
    if (allowRoot) return;
    throw new RSyncError('An empty path in the file list', { path: p });
  }
  if (p.startsWith('/') || p.includes('\0') || p.includes('\\')) {
    throw new RSyncError(`Refusing path ${JSON.stringify(p)}: absolute, or contains NUL or a backslash`, { path: p });
  }
  for (const part of p.split('/')) {
    if (part === '' || part === '.' || part === '..') {
      throw new RSyncError(`Refusing path ${JSON.stringify(p)}: it has an empty, "." or ".." part and could leave the destination`, { path: p });
    }
  }
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

function remove(abs: string): void {
  rmSync(abs, { recursive: true, force: true });
}

interface Writing {
  i: number;
  tmp: string;
  fd: number;
  hash: Hash;
  oldFd: number | undefined;
  oldSize: number | undefined;
}

type FileEntry = Extract<RsyncEntry, { k: 'f' }>;

/** `err` as an RSyncError naming `path` (an RSyncError is passed on as it is). */
function failure(err: unknown, path: string): RSyncError {
  if (err instanceof RSyncError) return err;
  return new RSyncError(`Cannot write ${JSON.stringify(path)}: ${(err as Error).message}`, { path }, { cause: err });
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
}

/** Closes a file being written and its old copy (each once, even when a close throws). */
function closeFds(w: Writing): void {
  const { fd, oldFd } = w;
  w.fd = -1;
  w.oldFd = undefined;
  try {
    if (fd >= 0) closeSync(fd);
  } finally {
    if (oldFd !== undefined) closeSync(oldFd);
  }
}

/** Sets a finished temporary file's mode and mtime through its descriptor (no path lookups). */
function finishFd(fd: number, e: FileEntry): void {
  fchmodSync(fd, Number(e.m) & 0o7777);
  futimesSync(fd, Number(e.t) / 1000, Number(e.t) / 1000);
}

/**
 * Receives one tree over `channel` into `req.destDir`. Resolves when done (after sending the
 * stats); on any error closes the channel with it (the sender sees a `RemoteError`) and removes
 * its temporary file.
 */
export async function receiveTree(channel: Channel, req: RsyncRequest): Promise<void> {
  let writing: Writing | undefined;
  try {
    const made = mkdirSync(resolve(req.destDir), { recursive: true });
    const root = realpathSync(resolve(req.destDir));
    const entries: RsyncEntry[] = [];
    for (;;) {
      const item = (await channel.receive()) as RsyncToReceiver;
      if (item.t === 'end-list') break;
      if (item.t !== 'entries' || !Array.isArray(item.e)) throw new RSyncError(`Unexpected ${JSON.stringify((item as { t?: unknown }).t)} while reading the file list`);
      if (entries.length + item.e.length > MAX_ENTRIES) throw new RSyncError(`The file list has more than ${MAX_ENTRIES} entries`);
      entries.push(...item.e);
    }
    const first = entries[0];
    if (!first || first.k !== 'd' || first.p !== '') throw new RSyncError('The file list must start with the root directory');

    const stats: RsyncReceiverStats = { files: 0, transferred: 0, unchanged: 0, deleted: 0, links: 0, matchedBytes: 0 };
    const dirs = new Set<string>();
    const children = new Map<string, Set<string>>();
    // Names each listed directory held before this run; a directory this run created is absent
    // (it is empty), so its entries need no lstat.
    const present = new Map<string, Set<string>>();
    const requests: number[] = [];
    const blockSizes = new Map<number, number>();
    const sameSize = new Set<number>();
    let plannedBytes = 0;
    // Paths are checked (no empty, "." or ".." parts), so joining is concatenation.
    const prefix = root.endsWith(sep) ? root : root + sep;
    const absOf = (p: string): string => (p === '' ? root : prefix + p);

    entries.forEach((e, i) => {
      checkRelativePath(e.p, i === 0);
      let st: Stats | undefined;
      const abs = absOf(e.p);
      if (i > 0) {
        const parent = parentOf(e.p);
        if (!dirs.has(parent)) throw new RSyncError(`Refusing ${JSON.stringify(e.p)}: its directory is not earlier in the file list`, { path: e.p });
        const names = children.get(parent) as Set<string>;
        const name = e.p.slice(parent === '' ? 0 : parent.length + 1);
        if (names.has(name)) throw new RSyncError(`${JSON.stringify(e.p)} appears twice in the file list`, { path: e.p });
        names.add(name);
        if (present.get(parent)?.has(name)) st = lstatSync(abs, { throwIfNoEntry: false });
      }
      if (e.k === 'd') {
        if (dirs.has(e.p)) throw new RSyncError(`${JSON.stringify(e.p)} appears twice in the file list`, { path: e.p });
        let created = i === 0 && made !== undefined;
        if (i > 0 && !st?.isDirectory()) {
          if (st) remove(abs);
          try {
            mkdirSync(abs);
            created = true;
          } catch (err) {
            // Not in the directory's listing, yet there: handle it as if it had been listed.
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
            if (!lstatSync(abs).isDirectory()) {
              remove(abs);
              mkdirSync(abs);
              created = true;
            }
          }
        }
        // As execnet: directories stay writable by their owner, so the sync can fill them.
        chmodSync(abs, (Number(e.m) & 0o7777) | 0o700);
        if (!created) present.set(e.p, new Set(readdirSync(abs)));
        dirs.add(e.p);
        children.set(e.p, new Set());
      } else if (e.k === 'f') {
        stats.files++;
        const size = Number(e.s);
        const mtime = Number(e.t);
        if (st?.isFile() && st.size === size && Math.floor(st.mtimeMs) === Math.floor(mtime)) {
          if ((st.mode & 0o7777) !== (Number(e.m) & 0o7777)) chmodSync(abs, Number(e.m) & 0o7777);
          stats.unchanged++;
          return;
        }
        requests.push(i);
        plannedBytes += size;
        if (st?.isFile()) {
          if (st.size === size) sameSize.add(i);
          if (size >= req.deltaThreshold && st.size >= req.deltaThreshold) blockSizes.set(i, chooseBlockSize(st.size));
        }
      } else if (e.k === 'l') {
        if (typeof e.l !== 'string' || e.l === '' || e.l.includes('\0')) throw new RSyncError(`Symlink ${JSON.stringify(e.p)} has no valid target`, { path: e.p });
        if (e.b) checkRelativePath(e.l, true);
        const target = e.b ? absOf(e.l) : e.l;
        if (st?.isSymbolicLink() && readlinkSync(abs) === target) return;
        if (st) remove(abs);
        try {
          symlinkSync(target, abs);
        } catch (err) {
          // Not in the directory's listing, yet there (new, or another spelling of the name on a
          // case-insensitive file system): handle it as if it had been listed.
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          if (lstatSync(abs).isSymbolicLink() && readlinkSync(abs) === target) return;
          remove(abs);
          symlinkSync(target, abs);
        }
        stats.links++;
      } else {
        throw new RSyncError(`Unknown entry kind ${JSON.stringify((e as { k?: unknown }).k)}`, { path: (e as { p?: string }).p });
      }
    });

    if (req.delete) {
      for (const [d, names] of present) {
        const keep = children.get(d) as Set<string>;
        for (const name of names) {
          if (keep.has(name)) continue;
          remove(prefix + (d === '' ? name : `${d}/${name}`));
          stats.deleted++;
        }
      }
    }
    present.clear();

    // Requests go out while file contents come in: neither side waits for the other's whole stream.
    const requested = new Set(requests);
    const sendRequests = (async (): Promise<void> => {
      await channel.send({ t: 'plan', files: requests.length, bytes: plannedBytes } satisfies RsyncToSender);
      // Files without a copy here need nothing but their index: many to an item.
      let whole: number[] = [];
      const flushWhole = async (): Promise<void> => {
        if (whole.length === 0) return;
        const i = whole;
        whole = [];
        await channel.send({ t: 'reqs', i } satisfies RsyncToSender);
      };
      for (const i of requests) {
        const bs = blockSizes.get(i);
        if (bs === undefined && !sameSize.has(i) && req.batch === true) {
          whole.push(i);
          if (whole.length >= REQS_BATCH) await flushWhole();
          continue;
        }
        await flushWhole();
        const msg: RsyncToSender = { t: 'req', i };
        if (bs !== undefined || sameSize.has(i)) {
          const old = readFileSync(absOf(entries[i]?.p as string));
          if (sameSize.has(i)) msg.md5 = md5Of(old);
          if (bs !== undefined) msg.sig = signatures(old, bs);
        }
        await channel.send(msg);
      }
      await flushWhole();
      await channel.send({ t: 'req-end' } satisfies RsyncToSender);
    })();
    sendRequests.catch(() => {});

    // Temporary names: `.<name>.<random per run><counter>.sytmp`, created with O_EXCL.
    const tag = randomBytes(6).toString('hex');
    let seq = 0;
    const tempOf = (p: string): string => {
      const slash = p.lastIndexOf('/');
      return `${prefix}${p.slice(0, slash + 1)}.${p.slice(slash + 1)}.${tag}${(seq++).toString(36)}.sytmp`;
    };
    /** Renames a finished temporary file into place, replacing a directory that is in the way. */
    const place = (tmp: string, p: string): void => {
      const abs = absOf(p);
      try {
        renameSync(tmp, abs);
      } catch (err) {
        if (!lstatSync(abs, { throwIfNoEntry: false })?.isDirectory()) throw err;
        remove(abs);
        renameSync(tmp, abs);
      }
    };
    const mismatch = (e: FileEntry): RSyncError =>
      new RSyncError(`${JSON.stringify(e.p)} arrived with a different checksum than the sender's (did it change during the sync?)`, { path: e.p });
    /** Writes a whole file whose content checked out: temporary name, mode, mtime, rename. */
    const writeWhole = (e: FileEntry, data: Uint8Array, md5: Uint8Array): void => {
      if (Buffer.compare(md5Of(data), md5) !== 0) throw mismatch(e);
      const tmp = tempOf(e.p);
      let fd = -1;
      try {
        // 'wx': never follows or reuses an existing entry.
        fd = openSync(tmp, 'wx', 0o600);
        writeAll(fd, data);
        finishFd(fd, e);
        closeSync(fd);
        fd = -1;
        place(tmp, e.p);
      } catch (err) {
        try {
          if (fd >= 0) closeSync(fd);
        } catch {
          // The error that matters is the first.
        }
        unlinkQuietly(tmp);
        throw failure(err, e.p);
      }
    };
    const fileEntry = (i: unknown): FileEntry => {
      if (typeof i !== 'number' || !requested.has(i)) throw new RSyncError(`The sender sent file #${String(i)}, which was not requested`);
      return entries[i] as FileEntry;
    };
    const receiveFiles = (item: Extract<RsyncToReceiver, { t: 'files' }>): void => {
      const { i: idx, n: lens, d: data, h: sums } = item;
      if (!Array.isArray(idx) || !Array.isArray(lens) || idx.length !== lens.length || !(data instanceof Uint8Array) || !(sums instanceof Uint8Array) || sums.length !== idx.length * 16) {
        throw new RSyncError('The sender sent a malformed batch of files');
      }
      let total = 0;
      for (const n of lens) {
        if (!Number.isInteger(n) || n < 0) throw new RSyncError('The sender sent a malformed batch of files');
        total += n;
      }
      if (total !== data.length) throw new RSyncError(`The sender sent a batch of files of ${data.length} bytes whose lengths add up to ${total}`);
      // Each file is complete on its own: a failure names its file, and the files before it stay.
      let off = 0;
      for (let k = 0; k < idx.length; k++) {
        const i = idx[k];
        const e = fileEntry(i);
        const n = lens[k] as number;
        writeWhole(e, data.subarray(off, off + n), sums.subarray(k * 16, k * 16 + 16));
        off += n;
        requested.delete(i as number);
        stats.transferred++;
      }
    };

    for (;;) {
      const item = (await channel.receive()) as RsyncToReceiver;
      if (item.t === 'end') break;
      if (writing && item.t !== 'ops') throw new RSyncError(`The sender sent ${JSON.stringify(item.t)} before the rest of file #${writing.i}`);
      if (item.t === 'same') {
        const e = fileEntry(item.i);
        requested.delete(item.i);
        const abs = absOf(e.p);
        chmodSync(abs, Number(e.m) & 0o7777);
        utimesSync(abs, Number(e.t) / 1000, Number(e.t) / 1000);
        stats.unchanged++;
        continue;
      }
      if (item.t === 'files') {
        receiveFiles(item);
        continue;
      }
      if (item.t !== 'ops') throw new RSyncError(`Unexpected ${JSON.stringify((item as { t?: unknown }).t)} while receiving files`);
      const e = fileEntry(item.i);
      const abs = absOf(e.p);
      if (writing && writing.i !== item.i) throw new RSyncError(`The sender interleaved file #${item.i} with file #${writing.i}`, { path: e.p });
      if (!writing) {
        const tmp = tempOf(e.p);
        // 'wx': never follows or reuses an existing entry.
        writing = { i: item.i, tmp, fd: openSync(tmp, 'wx', 0o600), hash: createHash('md5'), oldFd: undefined, oldSize: undefined };
      }
      const w = writing;
      for (const op of item.ops) {
        if (op instanceof Uint8Array) {
          writeAll(w.fd, op);
          w.hash.update(op);
          continue;
        }
        const bs = blockSizes.get(item.i);
        const [k, n] = op;
        const oldSize = bs === undefined ? 0 : (w.oldSize ??= lstatSync(abs, { throwIfNoEntry: false })?.size ?? 0);
        if (bs === undefined || !Number.isInteger(k) || !Number.isInteger(n) || k < 0 || n < 1 || k * bs >= oldSize) {
          throw new RSyncError(`Invalid block copy [${k}, ${n}] for ${JSON.stringify(e.p)}`, { path: e.p });
        }
        w.oldFd ??= openSync(abs, 'r');
        const len = Math.min(n * bs, oldSize - k * bs);
        const buf = Buffer.allocUnsafe(len);
        let got = 0;
        while (got < len) {
          const r = readSync(w.oldFd, buf, got, len - got, k * bs + got);
          if (r === 0) break;
          got += r;
        }
        writeAll(w.fd, buf.subarray(0, got));
        w.hash.update(buf.subarray(0, got));
        stats.matchedBytes += got;
      }
      if (!item.last) continue;
      if (!(item.md5 instanceof Uint8Array) || Buffer.compare(w.hash.digest(), item.md5) !== 0) throw mismatch(e);
      try {
        finishFd(w.fd, e);
      } catch (err) {
        throw failure(err, e.p);
      }
      closeFds(w);
      writing = undefined;
      try {
        place(w.tmp, e.p);
      } catch (err) {
        unlinkQuietly(w.tmp);
        throw failure(err, e.p);
      }
      requested.delete(item.i);
      stats.transferred++;
    }
    await sendRequests;
    if (requested.size > 0) throw new RSyncError(`The sender ended with ${requested.size} requested file(s) not sent`);
    await channel.send({ t: 'done', stats } satisfies RsyncToSender);
    channel.close();
  } catch (err) {
    if (writing) {
      try {
        closeFds(writing);
      } catch {
        // Nothing more to do for it.
      }
      unlinkQuietly(writing.tmp);
    }
    channel.close(err instanceof Error ? err : String(err));
  }
}

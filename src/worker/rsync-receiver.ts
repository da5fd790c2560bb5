/**
 * The receiving side of `RSync`, run by the worker for an `RSYNC` channel: takes the file list,
 * decides per file what it needs (nothing when size and mtime match; a content hash when only the
 * mtime differs; block signatures for a delta when an old copy of a large file exists), writes
 * each file to a temporary name in its directory and renames it into place, and removes what the
 * source does not have when asked.
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
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Channel } from '../channel/channel.ts';
import { RSyncError } from '../errors.ts';
import { chooseBlockSize, signatures } from './rsync-blocks.ts';
import type { RsyncEntry, RsyncReceiverStats, RsyncRequest, RsyncToReceiver, RsyncToSender } from './protocol.ts';

/** Most entries one list may have. */
const MAX_ENTRIES = 10_000_000;

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
}

/**
 * Receives one tree over `channel` into `req.destDir`. Resolves when done (after sending the
 * stats); on any error closes the channel with it (the sender sees a `RemoteError`) and removes
 * its temporary file.
 */
export async function receiveTree(channel: Channel, req: RsyncRequest): Promise<void> {
  let writing: Writing | undefined;
  try {
    mkdirSync(resolve(req.destDir), { recursive: true });
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
    const requests: number[] = [];
    const blockSizes = new Map<number, number>();
    const sameSize = new Set<number>();
    let plannedBytes = 0;
    const absOf = (p: string): string => (p === '' ? root : join(root, p));

    entries.forEach((e, i) => {
      checkRelativePath(e.p, i === 0);
      if (i > 0) {
        const parent = parentOf(e.p);
        if (!dirs.has(parent)) throw new RSyncError(`Refusing ${JSON.stringify(e.p)}: its directory is not earlier in the file list`, { path: e.p });
        const names = children.get(parent) as Set<string>;
        const name = e.p.slice(parent === '' ? 0 : parent.length + 1);
        if (names.has(name)) throw new RSyncError(`${JSON.stringify(e.p)} appears twice in the file list`, { path: e.p });
        names.add(name);
      }
      const abs = absOf(e.p);
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (e.k === 'd') {
        if (dirs.has(e.p)) throw new RSyncError(`${JSON.stringify(e.p)} appears twice in the file list`, { path: e.p });
        if (i > 0) {
          if (st && !st.isDirectory()) remove(abs);
          if (!st || !st.isDirectory()) mkdirSync(abs);
        }
        // As execnet: directories stay writable by their owner, so the sync can fill them.
        chmodSync(abs, (Number(e.m) & 0o7777) | 0o700);
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
        symlinkSync(target, abs);
        stats.links++;
      } else {
        throw new RSyncError(`Unknown entry kind ${JSON.stringify((e as { k?: unknown }).k)}`, { path: (e as { p?: string }).p });
      }
    });

    if (req.delete) {
      for (const d of dirs) {
        const keep = children.get(d) as Set<string>;
        for (const name of readdirSync(absOf(d))) {
          if (keep.has(name)) continue;
          remove(join(absOf(d), name));
          stats.deleted++;
        }
      }
    }

    // Requests go out while file contents come in: neither side waits for the other's whole stream.
    const requested = new Set(requests);
    const sendRequests = (async (): Promise<void> => {
      await channel.send({ t: 'plan', files: requests.length, bytes: plannedBytes } satisfies RsyncToSender);
      for (const i of requests) {
        const bs = blockSizes.get(i);
        const msg: RsyncToSender = { t: 'req', i };
        if (bs !== undefined || sameSize.has(i)) {
          const old = readFileSync(absOf(entries[i]?.p as string));
          if (sameSize.has(i)) msg.md5 = createHash('md5').update(old).digest();
          if (bs !== undefined) msg.sig = signatures(old, bs);
        }
        await channel.send(msg);
      }
      await channel.send({ t: 'req-end' } satisfies RsyncToSender);
    })();
    sendRequests.catch(() => {});

    const finishMeta = (path: string, e: Extract<RsyncEntry, { k: 'f' }>): void => {
      chmodSync(path, Number(e.m) & 0o7777);
      utimesSync(path, Number(e.t) / 1000, Number(e.t) / 1000);
    };
    const fileEntry = (i: unknown): Extract<RsyncEntry, { k: 'f' }> => {
      if (typeof i !== 'number' || !requested.has(i)) throw new RSyncError(`The sender sent file #${String(i)}, which was not requested`);
      return entries[i] as Extract<RsyncEntry, { k: 'f' }>;
    };
    for (;;) {
      const item = (await channel.receive()) as RsyncToReceiver;
      if (item.t === 'end') break;
      if (item.t === 'same') {
        const e = fileEntry(item.i);
        requested.delete(item.i);
        finishMeta(absOf(e.p), e);
        stats.unchanged++;
        continue;
      }
      if (item.t !== 'ops') throw new RSyncError(`Unexpected ${JSON.stringify((item as { t?: unknown }).t)} while receiving files`);
      const e = fileEntry(item.i);
      const abs = absOf(e.p);
      if (writing && writing.i !== item.i) throw new RSyncError(`The sender interleaved file #${item.i} with file #${writing.i}`, { path: e.p });
      if (!writing) {
        const tmp = join(dirname(abs), `.${basename(abs)}.${randomBytes(6).toString('hex')}.sytmp`);
        // 'wx': never follows or reuses an existing entry.
        writing = { i: item.i, tmp, fd: openSync(tmp, 'wx', 0o600), hash: createHash('md5'), oldFd: undefined };
      }
      const w = writing;
      for (const op of item.ops) {
        if (op instanceof Uint8Array) {
          writeSync(w.fd, op);
          w.hash.update(op);
          continue;
        }
        const bs = blockSizes.get(item.i);
        const [k, n] = op;
        const oldSize = bs === undefined ? 0 : (lstatSync(abs, { throwIfNoEntry: false })?.size ?? 0);
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
        writeSync(w.fd, buf, 0, got);
        w.hash.update(buf.subarray(0, got));
        stats.matchedBytes += got;
      }
      if (!item.last) continue;
      closeSync(w.fd);
      if (w.oldFd !== undefined) closeSync(w.oldFd);
      writing = undefined;
      const digest = w.hash.digest();
      if (!item.md5 || Buffer.compare(digest, Buffer.from(item.md5)) !== 0) {
        unlinkSync(w.tmp);
        throw new RSyncError(`${JSON.stringify(e.p)} arrived with a different checksum than the sender's (did it change during the sync?)`, { path: e.p });
      }
      finishMeta(w.tmp, e);
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (st?.isDirectory()) remove(abs);
      renameSync(w.tmp, abs);
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
        closeSync(writing.fd);
        if (writing.oldFd !== undefined) closeSync(writing.oldFd);
        unlinkSync(writing.tmp);
      } catch {
        // Already gone.
      }
    }
    channel.close(err instanceof Error ? err : String(err));
  }
}

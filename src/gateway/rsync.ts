/**
 * `RSync`: sends a directory tree to one or many gateways. The source is walked once; each target
 * receives the file list, asks only for what it lacks, and gets whole files (small ones many to an
 * item, read straight into one buffer) or, for large files it has an old copy of, only the changed
 * blocks (the rsync algorithm, `worker/rsync-blocks.ts`). The receiving side is
 * `worker/rsync-receiver.ts`.
 * @module
 */
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, statSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { Channel } from '../channel/channel.ts';
import { AbortError, RemoteError, RSyncError, TimeoutError } from '../errors.ts';
import { guardTimer, type WaitOptions } from '../util/timers.ts';
import type { RsyncEntry, RsyncReceiverStats, RsyncToReceiver, RsyncToSender } from '../worker/protocol.ts';
import { computeDelta, md5Of, type BlockSignatures, type DeltaOp } from '../worker/rsync-blocks.ts';
import type { Gateway } from './gateway.ts';

/** Entries per list item. */
const LIST_BATCH = 512;
/** Files up to this size are read whole; larger ones without an old copy are streamed. */
const READ_WHOLE = 4 << 20;
/** Files up to this size are read synchronously. */
const SYNC_READ = 1 << 20;
/** Literal bytes per `ops` item. */
const CHUNK = 256 * 1024;
/** File bytes per `files` item (many small files to one item); larger files travel alone as `ops`. */
const BATCH_BYTES = 256 * 1024;
/** File bytes in the first `files` item of a batch of requests. */
const FIRST_BATCH_BYTES = 64 * 1024;
/** Files per `files` item (empty files add no bytes). */
const BATCH_FILES = 1024;
/**
 * Longest stretch of synchronous reads, ms, before the sender gives the event loop a turn: small
 * files are read synchronously (faster than a thread-pool round trip each), but on a slow disk
 * that must not stall the host program's other work for long.
 */
const SYNC_SLICE_MS = 8;

/** What an entry is, for {@link RSyncOptions.filter}. */
export type RSyncEntryKind = 'file' | 'dir' | 'symlink' | 'special';

/** Progress events, in order per target: one `list`, one `file` per file sent, one `done`. */
export type RSyncProgress =
  /** The target decided: it needs `files` files of `bytes` bytes in total. */
  | { type: 'list'; target: string; files: number; bytes: number }
  /** A file went to the target: `size` bytes, of which `literalBytes` were sent (the rest were block matches or unchanged). */
  | { type: 'file'; target: string; path: string; size: number; literalBytes: number }
  | { type: 'done'; target: string; stats: RSyncStats };

/** Options of {@link RSync}. */
export interface RSyncOptions {
  /** Called with {@link RSyncProgress} events. Exceptions it throws are ignored. */
  onProgress?: ((event: RSyncProgress) => void) | undefined;
  /**
   * Return false to leave an entry (and, for a directory, everything under it) out; `special` is
   * a FIFO, socket or device, which cannot be synced. `path` is
   * relative to the source, `/`-separated. Left-out names are deleted on targets with `delete`.
   */
  filter?: ((path: string, kind: RSyncEntryKind) => boolean) | undefined;
  /** Files at least this large, with an old copy on the target, travel as deltas (default 64 KiB). */
  deltaThreshold?: number | undefined;
}

/** Options of {@link RSync.addTarget}. */
export interface RSyncTargetOptions {
  /** Remove entries in `destDir` that the source does not have (default false). */
  delete?: boolean | undefined;
}

/** What one target did, from {@link RSync.send}. */
export interface RSyncStats extends RsyncReceiverStats {
  /** The gateway id. */
  target: string;
  destDir: string;
  /** File bytes sent literally (not counting the file list and protocol overhead). */
  literalBytes: number;
}

interface Walked {
  entries: RsyncEntry[];
  abs: string[];
}

/**
 * Sends a directory tree to gateways.
 *
 * Guarantees: one walk of the source per {@link send}; a file is unchanged on a target when its
 * size and mtime match (or, when only the mtime differs, its MD5); every written file appears
 * under its name only when complete (written to a temporary name in the same directory, then
 * renamed); nothing is written outside the destination directory or through a symlink, whatever
 * the other side sends; symlinks are recreated as links (absolute links into the source point
 * into the destination, others are copied as they are).
 *
 * @example
 * ```ts
 * const rsync = new RSync('./src', { onProgress: (e) => console.log(e) });
 * rsync.addTarget(gw1, '/tmp/work/src', { delete: true });
 * rsync.addTarget(gw2, '/tmp/work/src');
 * const stats = await rsync.send({ timeout: 60_000 });
 * ```
 */
export class RSync {
  /** The source directory, as given. */
  readonly sourceDir: string;
  private readonly options: RSyncOptions;
  private readonly targets: Array<{ gateway: Gateway; destDir: string; delete: boolean }> = [];

  /** @param sourceDir the directory to send (its contents go into each `destDir`). */
  constructor(sourceDir: string, options: RSyncOptions = {}) {
    this.sourceDir = sourceDir;
    this.options = options;
  }

  /** Adds a target: `destDir` on the host of `gateway` (created with parents). Returns `this`. */
  addTarget(gateway: Gateway, destDir: string, options: RSyncTargetOptions = {}): this {
    this.targets.push({ gateway, destDir, delete: options.delete === true });
    return this;
  }

  /**
   * Walks the source once and syncs every target in parallel. Resolves one {@link RSyncStats} per
   * target, in the order added. Rejects with {@link RSyncError} when there is no target, the
   * source is not a directory or holds a FIFO, socket or device (before anything is sent), or a
   * target failed (`target` names it; the others still finish); with `TimeoutError`/`AbortError`
   * from `options`. Targets are kept, so `send()` can run again (execnet consumes them).
   */
  async send(options?: WaitOptions): Promise<RSyncStats[]> {
    if (this.targets.length === 0) throw new RSyncError('RSync.send(): no targets; call addTarget(gateway, destDir) first');
    const walked = this.walk();
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(options?.signal?.reason);
    options?.signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer =
      options?.timeout !== undefined && Number.isFinite(options.timeout)
        ? guardTimer(() => {
            timedOut = true;
            controller.abort();
          }, options.timeout)
        : undefined;
    if (options?.signal?.aborted) controller.abort(options.signal.reason);
    try {
      const results = await Promise.allSettled(this.targets.map((t) => this.syncTarget(t, walked, controller.signal)));
      if (timedOut) throw new TimeoutError(`RSync of ${this.sourceDir}`, options?.timeout as number);
      if (options?.signal?.aborted) throw new AbortError(`RSync of ${this.sourceDir}`, { cause: options.signal.reason });
      const failed = results.findIndex((r) => r.status === 'rejected');
      if (failed >= 0) {
        const t = this.targets[failed] as RSync['targets'][number];
        const reason = (results[failed] as PromiseRejectedResult).reason as Error;
        if (reason instanceof RSyncError && reason.target !== undefined) throw reason;
        const what = reason instanceof RemoteError ? reason.remoteMessage : reason.message;
        throw new RSyncError(`RSync to ${t.gateway.id}:${t.destDir} failed: ${what}`, { target: t.gateway.id, path: (reason as RSyncError).path }, { cause: reason });
      }
      return results.map((r) => (r as PromiseFulfilledResult<RSyncStats>).value);
    } finally {
      clearTimeout(timer);
      options?.signal?.removeEventListener('abort', onAbort);
    }
  }

  private progress(event: RSyncProgress): void {
    try {
      this.options.onProgress?.(event);
    } catch {
      // A progress callback cannot break the transfer.
    }
  }

  /** One walk: a directory before its contents, names sorted. */
  private walk(): Walked {
    let root: string;
    try {
      root = realpathSync(resolve(this.sourceDir));
      if (!statSync(root).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      throw new RSyncError(`RSync source ${this.sourceDir} is not a readable directory: ${(err as Error).message}`, {}, { cause: err });
    }
    const filter = this.options.filter;
    const entries: RsyncEntry[] = [{ p: '', k: 'd', m: lstatSync(root).mode & 0o7777 }];
    const abs: string[] = [root];
    const visit = (dirAbs: string, dirRel: string): void => {
      const names = readdirSync(dirAbs).sort();
      // Names from readdir have no separators: joining is concatenation.
      const base = dirAbs.endsWith(sep) ? dirAbs : dirAbs + sep;
      for (const name of names) {
        const rel = dirRel === '' ? name : `${dirRel}/${name}`;
        const full = base + name;
        const st = lstatSync(full, { throwIfNoEntry: false });
        if (!st) continue; // vanished during the walk
        if (st.isDirectory()) {
          if (filter && !filter(rel, 'dir')) continue;
          entries.push({ p: rel, k: 'd', m: st.mode & 0o7777 });
          abs.push(full);
          visit(full, rel);
        } else if (st.isFile()) {
          if (filter && !filter(rel, 'file')) continue;
          entries.push({ p: rel, k: 'f', m: st.mode & 0o7777, s: st.size, t: st.mtimeMs });
          abs.push(full);
        } else if (st.isSymbolicLink()) {
          if (filter && !filter(rel, 'symlink')) continue;
          const link = readlinkSync(full);
          // As execnet: an absolute link into the source tree points into the destination.
          if (isAbsolute(link) && (link === root || link.startsWith(root + sep))) {
            entries.push({ p: rel, k: 'l', l: relative(root, link).split(sep).join('/'), b: true });
          } else {
            entries.push({ p: rel, k: 'l', l: link });
          }
          abs.push(full);
        } else if (!filter || filter(rel, 'special')) {
          throw new RSyncError(`Cannot sync ${full}: it is a FIFO, socket or device (filter it out)`, { path: rel });
        }
      }
    };
    visit(root, '');
    return { entries, abs };
  }

  private async syncTarget(t: { gateway: Gateway; destDir: string; delete: boolean }, walked: Walked, signal: AbortSignal): Promise<RSyncStats> {
    const target = t.gateway.id;
    const ch = t.gateway._openRsync({ destDir: t.destDir, delete: t.delete, deltaThreshold: this.options.deltaThreshold ?? 64 * 1024, batch: true });
    const onAbort = (): void => ch.close('RSync was cancelled');
    signal.addEventListener('abort', onAbort, { once: true });
    const wait = { signal };
    let literalBytes = 0;
    try {
      for (let i = 0; i < walked.entries.length; i += LIST_BATCH) {
        await ch.send({ t: 'entries', e: walked.entries.slice(i, i + LIST_BATCH) } satisfies RsyncToReceiver, wait);
      }
      await ch.send({ t: 'end-list' } satisfies RsyncToReceiver, wait);
      for (;;) {
        const item = (await ch.receive(wait)) as RsyncToSender;
        if (item.t === 'req-end') break;
        if (item.t === 'plan') {
          this.progress({ type: 'list', target, files: item.files, bytes: item.bytes });
          continue;
        }
        if (item.t === 'reqs') {
          if (!Array.isArray(item.i)) throw new RSyncError('The receiver sent a malformed batch of requests', { target });
          literalBytes += await this.sendWhole(ch, target, item.i, walked, wait);
          continue;
        }
        if (item.t !== 'req') throw new RSyncError(`Unexpected ${JSON.stringify((item as { t?: unknown }).t)} from the receiver`, { target });
        const entry = fileAt(walked, item.i, target);
        const sent = await this.sendFile(ch, item, walked.abs[item.i] as string, entry.s, wait);
        literalBytes += sent;
        this.progress({ type: 'file', target, path: entry.p, size: entry.s, literalBytes: sent });
      }
      await ch.send({ t: 'end' } satisfies RsyncToReceiver, wait);
      const done = (await ch.receive(wait)) as RsyncToSender;
      if (done.t !== 'done') throw new RSyncError(`Expected the receiver's final report, got ${JSON.stringify(done.t)}`, { target });
      const stats: RSyncStats = { ...done.stats, target, destDir: t.destDir, literalBytes };
      this.progress({ type: 'done', target, stats });
      return stats;
    } catch (err) {
      ch.close(err instanceof Error ? err : String(err));
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Sends the files `indices` whole, in order: files up to {@link BATCH_BYTES} are read straight
   * into one buffer and go many to a `files` item; larger ones (or one that grew past its walked
   * size) alone, as `ops`. Resolves the bytes sent.
   */
  private async sendWhole(ch: Channel, target: string, indices: unknown[], walked: Walked, wait: WaitOptions): Promise<number> {
    // One spare byte: a read that fills it shows that the file grew since the walk.
    const buf = Buffer.allocUnsafe(BATCH_BYTES + 1);
    // The first batch is small, so the receiver starts writing soon; later ones grow to BATCH_BYTES.
    let limit = FIRST_BATCH_BYTES;
    let used = 0;
    let batch: number[] = [];
    let lens: number[] = [];
    let sums: Buffer[] = [];
    let literal = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const item: RsyncToReceiver = { t: 'files', i: batch, n: lens, d: buf.subarray(0, used), h: Buffer.concat(sums, 16 * batch.length) };
      const sent = batch;
      const sizes = lens;
      limit = Math.min(BATCH_BYTES, limit * 2);
      batch = [];
      lens = [];
      sums = [];
      used = 0;
      // send() encodes the item before it returns, so the buffer can be refilled at once.
      await ch.send(item, wait);
      for (let k = 0; k < sent.length; k++) {
        const entry = walked.entries[sent[k] as number] as Extract<RsyncEntry, { k: 'f' }>;
        literal += sizes[k] as number;
        this.progress({ type: 'file', target, path: entry.p, size: entry.s, literalBytes: sizes[k] as number });
      }
    };
    let sliceStart = performance.now();
    for (const i of indices) {
      const entry = fileAt(walked, i, target);
      const file = walked.abs[i as number] as string;
      if (performance.now() - sliceStart > SYNC_SLICE_MS) {
        await new Promise<void>((r) => setImmediate(r));
        sliceStart = performance.now();
      }
      if (entry.s <= BATCH_BYTES) {
        if ((used > 0 && used + entry.s > limit) || batch.length >= BATCH_FILES) await flush();
        let n: number;
        try {
          n = readInto(file, buf, used, entry.s);
        } catch (err) {
          // The files before it still go, as they would one by one.
          await flush();
          throw new RSyncError(`Cannot read ${JSON.stringify(entry.p)} of the source: ${(err as Error).message}`, { target, path: entry.p }, { cause: err });
        }
        if (n >= 0) {
          batch.push(i as number);
          lens.push(n);
          sums.push(md5Of(buf.subarray(used, used + n)));
          used += n;
          continue;
        }
      }
      await flush();
      const sent = await this.sendFile(ch, { t: 'req', i: i as number }, file, entry.s, wait);
      literal += sent;
      this.progress({ type: 'file', target, path: entry.p, size: entry.s, literalBytes: sent });
    }
    await flush();
    return literal;
  }

  /** Sends one requested file; resolves the literal bytes sent. */
  private async sendFile(ch: Channel, req: Extract<RsyncToSender, { t: 'req' }>, file: string, size: number, wait: WaitOptions): Promise<number> {
    const i = req.i;
    if (!req.sig && !req.md5 && size > READ_WHOLE) return this.streamFile(ch, i, file, size, wait);
    // Small files are read synchronously: a thread-pool round trip per file costs more than the read.
    const data = size <= SYNC_READ ? readFileSync(file) : await readFile(file);
    const md5 = md5Of(data);
    if (req.md5 && Buffer.compare(md5, Buffer.from(req.md5)) === 0) {
      await ch.send({ t: 'same', i } satisfies RsyncToReceiver, wait);
      return 0;
    }
    const batches: DeltaOp[][] = [];
    if (req.sig) {
      computeDelta(data, checkSignatures(req.sig), (ops) => batches.push(ops), CHUNK);
    } else {
      for (let off = 0; off < data.length; off += CHUNK) batches.push([data.subarray(off, Math.min(data.length, off + CHUNK))]);
    }
    if (batches.length === 0) batches.push([]);
    let literal = 0;
    for (let b = 0; b < batches.length; b++) {
      const ops = batches[b] as DeltaOp[];
      for (const op of ops) if (op instanceof Uint8Array) literal += op.length;
      const last = b === batches.length - 1;
      await ch.send({ t: 'ops', i, ops, last, ...(last ? { md5 } : {}) } satisfies RsyncToReceiver, wait);
    }
    return literal;
  }

  /** Sends a large file without an old copy in chunks, hashing as it goes. */
  private async streamFile(ch: Channel, i: number, file: string, size: number, wait: WaitOptions): Promise<number> {
    const fh = await open(file, 'r');
    const hash = createHash('md5');
    let pos = 0;
    try {
      for (;;) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK * 4, Math.max(0, size - pos)));
        const { bytesRead } = buf.length > 0 ? await fh.read(buf, 0, buf.length, pos) : { bytesRead: 0 };
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        pos += bytesRead;
        const last = bytesRead === 0 || pos >= size;
        await ch.send({ t: 'ops', i, ops: bytesRead > 0 ? [chunk] : [], last, ...(last ? { md5: hash.digest() } : {}) } satisfies RsyncToReceiver, wait);
        if (last) return pos;
      }
    } finally {
      await fh.close();
    }
  }
}

/** The file entry `i` of the list; throws unless the receiver asked for a file of the list. */
function fileAt(walked: Walked, i: unknown, target: string): Extract<RsyncEntry, { k: 'f' }> {
  const entry = typeof i === 'number' ? walked.entries[i] : undefined;
  if (!entry || entry.k !== 'f') throw new RSyncError(`The receiver asked for entry #${String(i)}, which is not a file`, { target });
  return entry;
}

/**
 * Reads `file`, walked with `size` bytes, into `buf` at `at` (which has room for `size + 1`).
 * Returns the bytes read (fewer when the file shrank), or -1 when it is now larger than `size`.
 */
function readInto(file: string, buf: Buffer, at: number, size: number): number {
  const fd = openSync(file, 'r');
  try {
    let got = 0;
    for (;;) {
      const r = readSync(fd, buf, at + got, size + 1 - got, got);
      if (r === 0) return got;
      got += r;
      if (got > size) return -1;
      // One byte more was asked for: a regular file reads short only at its end.
      if (got === size) return got;
    }
  } finally {
    closeSync(fd);
  }
}

/** Validates signatures from a receiver before they drive the delta loop. */
function checkSignatures(sig: NonNullable<Extract<RsyncToSender, { t: 'req' }>['sig']>): BlockSignatures {
  const { blockSize, size, weak, strong } = sig;
  const n = Number.isInteger(blockSize) && blockSize > 0 ? Math.ceil(size / blockSize) : -1;
  if (n < 0 || blockSize > 1 << 20 || !Number.isInteger(size) || size < 0 || !(weak instanceof Uint8Array) || !(strong instanceof Uint8Array) || weak.length !== n * 4 || strong.length !== n * 16) {
    throw new RSyncError('The receiver sent malformed block signatures');
  }
  return { blockSize, size, weak, strong };
}

/**
 * V8 code caches of the worker bundle, per way of starting a local worker (the node program and
 * its arguments) and bundle text. The first popen gateway started a given way asks its worker for
 * a cache (made after its first `remoteExec`, so the functions that ran are compiled in it); later
 * ones send it in the preamble and skip most of the compiling (bench/gateway (a)). V8 checks that
 * a cache fits the node version, flags and source, and ignores one that does not; the worker then
 * makes a fresh one.
 *
 * Caches are kept in memory and, so that the first gateway of the next process starts warm too,
 * in `$SWITCHYARD_HOME/cache/` (as Python keeps `.pyc` files). A file is used only when it and
 * its directory belong to this user and nobody else can write them: a cache is code this user's
 * workers will run. `SWITCHYARD_CODE_CACHE=memory` keeps caches in memory only, `off` disables
 * them.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { switchyardHome } from '../util/home.ts';
import { trace } from '../worker/trace.ts';

/** Most caches kept in memory (one per distinct `node=`); the oldest is dropped first. */
const MAX_CACHES = 8;
/** Largest cache accepted from a worker or a file, bytes. */
export const MAX_CODE_CACHE_BYTES = 16 << 20;
/** A cache file: this magic, the SHA-256 of the payload, then the payload. */
const MAGIC = Buffer.from('SYCC1\0', 'latin1');
const HEADER = MAGIC.length + 32;

const caches = new Map<string, Buffer>();
/** Keys whose file was looked for already (found or not) in this process. */
const looked = new Set<string>();
/** Keys with a file write in progress: one at a time per key. */
const writing = new Set<string>();

let lastSource: string | undefined;
let lastSourceHash = '';

/** Where caches are kept: `'disk'` (memory and files, the default), `'memory'` or `'off'`. */
export function codeCacheMode(): 'disk' | 'memory' | 'off' {
  const v = process.env['SWITCHYARD_CODE_CACHE'];
  return v === 'off' || v === 'memory' ? v : 'disk';
}

/**
 * The key of a way of starting workers with a bundle (the node program and arguments, the
 * environment the spec adds, e.g. `NODE_OPTIONS`, and the bundle text): a hex digest, also the
 * file's name.
 */
export function codeCacheKey(node: readonly string[], source: string, env: Readonly<Record<string, string>> = {}): string {
  if (source !== lastSource) {
    lastSource = source;
    lastSourceHash = createHash('sha256').update(source).digest('hex');
  }
  return createHash('sha256').update(JSON.stringify([node, Object.entries(env).sort()])).update('\0').update(lastSourceHash).digest('hex').slice(0, 40);
}

function cacheDir(): string {
  return join(switchyardHome(), 'cache');
}

/** The cache file of `key`. */
export function codeCacheFile(key: string): string {
  return join(cacheDir(), `worker-${key}.v8cache`);
}

/** True when `st` describes something of this user that nobody else can change. */
function ownedAndPrivate(st: { uid: number; mode: number }): boolean {
  const uid = process.getuid?.();
  return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
}

/** True when the cache directory is a real directory (not a link), ours, and private. */
function privateDir(): boolean {
  try {
    const st = lstatSync(cacheDir());
    if (st.isDirectory() && ownedAndPrivate(st)) return true;
    trace(() => `code cache: ${cacheDir()} is not a private directory of this user; not used`);
  } catch {
    // Missing.
  }
  return false;
}

function readFromDisk(key: string): Buffer | undefined {
  const file = codeCacheFile(key);
  if (!privateDir()) return undefined;
  let fd: number;
  try {
    // No links, and no blocking on a FIFO someone put there.
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || !ownedAndPrivate(st) || st.size <= HEADER || st.size > MAX_CODE_CACHE_BYTES + HEADER) {
      trace(() => `code cache: ${file} is not a private file of this user of a sane size; not used`);
      return undefined;
    }
    const data = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < st.size) {
      const n = readSync(fd, data, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    // V8 does not checksum a code cache in release builds: a damaged one could crash the worker.
    const payload = data.subarray(HEADER, got);
    if (got !== st.size || !data.subarray(0, MAGIC.length).equals(MAGIC) || !createHash('sha256').update(payload).digest().equals(data.subarray(MAGIC.length, HEADER))) {
      trace(() => `code cache: ${file} is damaged; not used`);
      return undefined;
    }
    return payload;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes the file of `key`: into a private directory only, through a temporary file of a random
 * name created exclusively (so a planted link is never followed), flushed, then renamed.
 */
async function writeToDisk(key: string, data: Buffer): Promise<void> {
  if (writing.has(key)) return;
  writing.add(key);
  const file = codeCacheFile(key);
  const tmp = `${file}.${randomBytes(8).toString('hex')}.tmp`;
  try {
    await mkdir(cacheDir(), { recursive: true, mode: 0o700 });
    if (!privateDir()) return;
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.writev([MAGIC, createHash('sha256').update(data).digest(), data]);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    trace(() => `code cache: wrote ${file} (${data.length} bytes)`);
  } catch (err) {
    trace(() => `code cache: could not write ${file}: ${(err as Error).message}`);
    await unlink(tmp).catch(() => {});
  } finally {
    writing.delete(key);
  }
}

/**
 * Forgets the cache of `key`, in memory and on disk: a worker that was given it died before it
 * said hello. The next worker starts without one (and makes a fresh one).
 */
export function dropCodeCache(key: string): void {
  caches.delete(key);
  if (codeCacheMode() === 'disk') void unlink(codeCacheFile(key)).catch(() => {});
}

/** The cache for `key`: from memory, else (once per process) from its file; `undefined` if none. */
export function getCodeCache(key: string): Buffer | undefined {
  const mode = codeCacheMode();
  if (mode === 'off') return undefined;
  const hit = caches.get(key);
  if (hit || mode === 'memory' || looked.has(key)) return hit;
  looked.add(key);
  const data = readFromDisk(key);
  if (data) remember(key, data);
  return data;
}

/**
 * Keeps `data` for `key` (ignored when empty or larger than {@link MAX_CODE_CACHE_BYTES}), and
 * writes it to its file in the background (`disk` mode).
 */
export function putCodeCache(key: string, data: Uint8Array): void {
  const mode = codeCacheMode();
  if (mode === 'off' || data.length === 0 || data.length > MAX_CODE_CACHE_BYTES) return;
  const copy = Buffer.from(data);
  remember(key, copy);
  looked.add(key);
  if (mode === 'disk') void writeToDisk(key, copy);
}

function remember(key: string, data: Buffer): void {
  caches.delete(key);
  caches.set(key, data);
  while (caches.size > MAX_CACHES) caches.delete(caches.keys().next().value as string);
}

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
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { switchyardHome } from '../util/home.ts';
import { trace } from '../worker/trace.ts';

/** Most caches kept in memory (one per distinct `node=`); the oldest is dropped first. */
const MAX_CACHES = 8;
/** Largest cache accepted from a worker or a file, bytes. */
export const MAX_CODE_CACHE_BYTES = 16 << 20;

const caches = new Map<string, Buffer>();
/** Keys whose file was looked for already (found or not) in this process. */
const looked = new Set<string>();

let lastSource: string | undefined;
let lastSourceHash = '';

/** Where caches are kept: `'disk'` (memory and files, the default), `'memory'` or `'off'`. */
export function codeCacheMode(): 'disk' | 'memory' | 'off' {
  const v = process.env['SWITCHYARD_CODE_CACHE'];
  return v === 'off' || v === 'memory' ? v : 'disk';
}

/** The key of a way of starting workers with a bundle: a hex digest, also the file's name. */
export function codeCacheKey(node: readonly string[], source: string): string {
  if (source !== lastSource) {
    lastSource = source;
    lastSourceHash = createHash('sha256').update(source).digest('hex');
  }
  return createHash('sha256').update(JSON.stringify(node)).update('\0').update(lastSourceHash).digest('hex').slice(0, 40);
}

/** The cache file of `key`. */
export function codeCacheFile(key: string): string {
  return join(switchyardHome(), 'cache', `worker-${key}.v8cache`);
}

/** True when `mode`/`uid` describe something only this user can change. */
function ownedAndPrivate(st: { uid: number; mode: number }): boolean {
  const uid = process.getuid?.();
  return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
}

function readFromDisk(key: string): Buffer | undefined {
  const file = codeCacheFile(key);
  let fd: number;
  try {
    if (!ownedAndPrivate(statSync(join(switchyardHome(), 'cache')))) {
      trace(() => `code cache: ${join(switchyardHome(), 'cache')} is writable by others or not ours; not used`);
      return undefined;
    }
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || !ownedAndPrivate(st) || st.size === 0 || st.size > MAX_CODE_CACHE_BYTES) {
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
    return got === st.size ? data : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

async function writeToDisk(key: string, data: Buffer): Promise<void> {
  const file = codeCacheFile(key);
  const dir = join(switchyardHome(), 'cache');
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, file);
    trace(() => `code cache: wrote ${file} (${data.length} bytes)`);
  } catch (err) {
    trace(() => `code cache: could not write ${file}: ${(err as Error).message}`);
  }
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

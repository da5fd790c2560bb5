/**
 * V8 code caches of the worker bundle, kept in memory per way of starting a local worker (the
 * node program and its arguments). The first popen gateway started a given way asks its worker
 * for a cache (made after its first `remoteExec`, so the functions that ran are compiled in it);
 * later ones send it in the preamble and skip most of the compiling (bench/gateway (a)). V8
 * checks that a cache fits the node version, flags and source, and ignores one that does not;
 * the worker then makes a fresh one.
 * @module
 */

/** Most caches kept (one per distinct `node=`); the oldest is dropped first. */
const MAX_CACHES = 8;
/** Largest cache accepted from a worker, bytes. */
export const MAX_CODE_CACHE_BYTES = 16 << 20;

const caches = new Map<string, Buffer>();

/** The key of a way of starting workers. */
export function codeCacheKey(node: readonly string[], source: string): string {
  return `${JSON.stringify(node)}\0${source.length}`;
}

/** The cache for `key`, if one was made. */
export function getCodeCache(key: string): Buffer | undefined {
  return caches.get(key);
}

/** Keeps `data` for `key` (ignored when empty or larger than {@link MAX_CODE_CACHE_BYTES}). */
export function putCodeCache(key: string, data: Uint8Array): void {
  if (data.length === 0 || data.length > MAX_CODE_CACHE_BYTES) return;
  caches.delete(key);
  caches.set(key, Buffer.from(data));
  while (caches.size > MAX_CACHES) caches.delete(caches.keys().next().value as string);
}

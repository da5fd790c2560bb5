/**
 * Reused buffers for large encoded channel items. Encoding a 1 MiB item into a fresh buffer each
 * time made the sender fault in new pages and churn V8's external memory (frequent full GCs):
 * with slabs handed back once the bytes were written, a gateway pushing 1 MiB items spent about a
 * fifth less CPU (bench/gateway (c)). A slab is given back only by the link that wrote it, after
 * the write completed; a link that cannot say so never gives it back, and it is then simply
 * garbage-collected.
 * @module
 */

/** Encoded items smaller than this are not pooled. */
export const SLAB_MIN_BYTES = 64 * 1024;
/** Encoded items larger than this are not pooled. */
export const SLAB_MAX_BYTES = 16 << 20;
/** Bytes of idle slabs kept per process; beyond it, returned slabs are dropped. */
export const SLAB_KEEP_BYTES = 32 << 20;

const free = new Map<number, Buffer[]>();
let kept = 0;
/** The slab behind each pooled view handed out by {@link takeSlab}. */
const slabOf = new WeakMap<Uint8Array, Buffer>();

function sizeClass(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

/**
 * A buffer of exactly `n` bytes backed by a pooled slab, or `undefined` when `n` is outside the
 * pooled range. Give it back with {@link giveSlab} once nothing refers to its bytes any more.
 */
export function takeSlab(n: number): Buffer | undefined {
  if (n < SLAB_MIN_BYTES || n > SLAB_MAX_BYTES) return undefined;
  const cls = sizeClass(n);
  let slab = free.get(cls)?.pop();
  if (slab) kept -= cls;
  else slab = Buffer.allocUnsafeSlow(cls);
  const view = slab.subarray(0, n);
  slabOf.set(view, slab);
  return view;
}

/** True when `view` came from {@link takeSlab} and was not given back yet. */
export function isSlab(view: Uint8Array): boolean {
  return slabOf.has(view);
}

/** Gives back a view from {@link takeSlab}: its memory may be reused at once. Idempotent. */
export function giveSlab(view: Uint8Array): void {
  const slab = slabOf.get(view);
  if (!slab) return;
  slabOf.delete(view);
  if (kept + slab.length > SLAB_KEEP_BYTES) return;
  let list = free.get(slab.length);
  if (!list) free.set(slab.length, (list = []));
  list.push(slab);
  kept += slab.length;
}

/** Idle bytes held by the pool (for tests). */
export function pooledBytes(): number {
  return kept;
}

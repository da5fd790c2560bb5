/**
 * The rsync algorithm (Tridgell & Mackerras): the receiver describes its old copy of a file as
 * per-block signatures (a rolling weak checksum and an MD5 of each block); the sender slides a
 * window over the new file, finds blocks the receiver already has (weak match, then MD5), and sends
 * only the bytes between them. Shared by the sender (`gateway/rsync.ts`) and the receiver (the
 * worker), so both sides compute the same checksums.
 * @module
 */
import * as crypto from 'node:crypto';

/** Signatures of a receiver's old file. */
export interface BlockSignatures {
  /** Block size in bytes; the last block may be shorter. */
  blockSize: number;
  /** Length of the old file in bytes. */
  size: number;
  /** Weak checksum per block, big-endian u32s. */
  weak: Uint8Array;
  /** MD5 per block, 16 bytes each. */
  strong: Uint8Array;
}

/** A delta instruction: literal bytes, or `[first block, count]` of the receiver's old file. */
export type DeltaOp = Uint8Array | [number, number];

/** Block size for a file of `size` bytes: about √size, a multiple of 64, within 1 KiB..128 KiB. */
export function chooseBlockSize(size: number): number {
  const b = Math.round(Math.sqrt(size) / 64) * 64;
  return Math.min(128 * 1024, Math.max(1024, b));
}

/** rsync's weak checksum of `buf[start, end)`: `a + (b << 16)`, both sums mod 2^16. */
export function weakChecksum(buf: Uint8Array, start: number, end: number): { a: number; b: number } {
  let a = 0;
  let b = 0;
  const len = end - start;
  for (let i = 0; i < len; i++) {
    const x = buf[start + i] as number;
    a += x;
    b += (len - i) * x;
  }
  return { a: a & 0xffff, b: b & 0xffff };
}

// One-shot `crypto.hash` (Node >= 20.12) skips the Hash object; a worker may run on an older node.
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;

/** The MD5 of `data` (16 bytes, a new Buffer). */
export function md5Of(data: Uint8Array): Buffer {
  return oneShot ? oneShot('md5', data, 'buffer') : crypto.createHash('md5').update(data).digest();
}

function md5(buf: Uint8Array, start: number, end: number): Buffer {
  return md5Of(buf.subarray(start, end));
}

/** Computes the signatures of `data` (the receiver's old file) with blocks of `blockSize`. */
export function signatures(data: Uint8Array, blockSize: number): BlockSignatures {
  const n = Math.ceil(data.length / blockSize);
  const weak = Buffer.allocUnsafe(n * 4);
  const strong = Buffer.allocUnsafe(n * 16);
  for (let k = 0; k < n; k++) {
    const s = k * blockSize;
    const e = Math.min(data.length, s + blockSize);
    const { a, b } = weakChecksum(data, s, e);
    weak.writeUInt32BE(((b << 16) | a) >>> 0, k * 4);
    md5(data, s, e).copy(strong, k * 16);
  }
  return { blockSize, size: data.length, weak, strong };
}

/**
 * Computes the delta that turns the receiver's old file (described by `sig`) into `data`. Literal
 * runs are views into `data`; adjacent block matches are merged into one `[first, count]`.
 * `onOps` receives the ops in order, in batches of at most about `batchBytes` literal bytes.
 */
export function computeDelta(data: Uint8Array, sig: BlockSignatures, onOps: (ops: DeltaOp[]) => void, batchBytes = 256 * 1024): void {
  const bs = sig.blockSize;
  const nBlocks = Math.ceil(sig.size / bs);
  const lastLen = sig.size - (nBlocks - 1) * bs;
  const weakView = new DataView(sig.weak.buffer, sig.weak.byteOffset, sig.weak.byteLength);
  // Full-size blocks are matched by the rolling window; the shorter last block only at the end.
  const table = new Map<number, number[]>();
  const tags = new Uint8Array(65536);
  for (let k = 0; k < nBlocks; k++) {
    if (k === nBlocks - 1 && lastLen !== bs) continue;
    const w = weakView.getUint32(k * 4);
    const list = table.get(w);
    if (list) list.push(k);
    else table.set(w, [k]);
    tags[(w ^ (w >>> 16)) & 0xffff] = 1;
  }
  const strongOf = (k: number): Uint8Array => sig.strong.subarray(k * 16, k * 16 + 16);
  const same = (x: Uint8Array, y: Uint8Array): boolean => Buffer.compare(x, y) === 0;

  let ops: DeltaOp[] = [];
  let pending = 0;
  let litStart = 0;
  const flushLiteral = (end: number): void => {
    if (end > litStart) {
      ops.push(data.subarray(litStart, end));
      pending += end - litStart;
    }
  };
  const pushMatch = (k: number): void => {
    const last = ops[ops.length - 1];
    if (Array.isArray(last) && last[0] + last[1] === k) last[1]++;
    else ops.push([k, 1]);
  };
  const maybeEmit = (): void => {
    if (pending >= batchBytes) {
      onOps(ops);
      ops = [];
      pending = 0;
    }
  };

  let i = 0;
  const len = data.length;
  if (len >= bs && table.size > 0) {
    let { a, b } = weakChecksum(data, 0, bs);
    for (;;) {
      const w = ((b << 16) | a) >>> 0;
      let matched = -1;
      if (tags[(w ^ (w >>> 16)) & 0xffff]) {
        const cands = table.get(w);
        if (cands) {
          const h = md5(data, i, i + bs);
          for (const k of cands) {
            if (same(h, strongOf(k))) {
              matched = k;
              break;
            }
          }
        }
      }
      if (matched >= 0) {
        flushLiteral(i);
        pushMatch(matched);
        i += bs;
        litStart = i;
        maybeEmit();
        if (i + bs > len) break;
        ({ a, b } = weakChecksum(data, i, i + bs));
        continue;
      }
      if (i + bs >= len) break;
      // Roll the window one byte: drop data[i], take data[i + bs].
      const out = data[i] as number;
      const inn = data[i + bs] as number;
      a = (a - out + inn) & 0xffff;
      b = (b - bs * out + a) & 0xffff;
      i++;
      if (i - litStart >= batchBytes) {
        flushLiteral(i);
        litStart = i;
        maybeEmit();
      }
    }
  }
  // The receiver's shorter last block can match the tail of the new file.
  if (nBlocks > 0 && lastLen !== bs && len - litStart >= lastLen) {
    const tailStart = len - lastLen;
    if (same(md5(data, tailStart, len), strongOf(nBlocks - 1))) {
      flushLiteral(tailStart);
      pushMatch(nBlocks - 1);
      litStart = len;
    }
  }
  flushLiteral(len);
  if (ops.length > 0 || pending > 0) onOps(ops);
}

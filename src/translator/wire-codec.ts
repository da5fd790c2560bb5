/**
 * The wire form of fop arguments and results between protocol/client and protocol/server,
 * derived from the fop table: one encoder and one decoder per {@link Kind}, and four functions
 * that walk a fop's row of kinds. Nothing here is written per fop; a fop added to the table
 * travels as soon as its kinds do.
 *
 * The wire values are plain arrays, numbers, strings, `null` and Buffers, which the native dialect
 * carries as MessagePack (Buffers as bin: bytes, never base64; large ones spliced in without a
 * copy, see `encodeValueChunks`). Per kind:
 *
 * | kind      | wire form                                                                      |
 * |-----------|--------------------------------------------------------------------------------|
 * | `loc`     | `[path, name, gfid, pargfid]` (inodes are the receiver's own: looked up by gfid) |
 * | `fd`      | the fd's number (the client's `Fd.id`; the server keeps its own Fd per number)  |
 * | `inode`   | `[gfid, type]`, linked into the receiver's inode table                          |
 * | `iatt`    | one Buffer: the numbers as float64/uint32 LE, then the gfid (see `encodeIatt`)  |
 * | `statvfs` | the 11 fields of {@link STATVFS_FIELDS}, in that order                          |
 * | `entries` | `[[name, offset, ino, type(, stat, inodeGfid)], ...]` (readdirp adds the last two) |
 * | `xattrs`  | `{ name: Buffer }` as is                                                       |
 * | `data`    | the Buffer itself                                                              |
 * | `xdata`   | the dict as is, or `null`                                                      |
 * | `int`/`str` | the number / string                                                          |
 *
 * Decoders check shapes and throw a {@link WireError} carrying the errno the fop should fail
 * with (`EINVAL` for a malformed value, `EBADF` for an fd number the receiver does not know), so
 * a bad request is answered, never a crash.
 * @module
 */
import { endianness } from 'node:os';
import { ProtocolError } from '../errors.ts';
import { FOPS, type FopArgs, type FopName, type FopResults, type Kind, type KindTypes } from './fops.ts';
import { errno, type DirEntry, type Dict, type Fd, type Gfid, type IaType, type Iatt, type Inode, type Loc, type Statvfs, type XattrDict } from './model.ts';

/** A value that cannot be decoded; `errno` is what the fop fails with. */
export class WireError extends ProtocolError {
  constructor(
    message: string,
    /** `EINVAL` (malformed) or `EBADF` (unknown fd). */
    readonly errno: number,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

/** The order of an `iatt`'s fields on the wire. */
export const IATT_FIELDS = [
  'gfid',
  'ino',
  'dev',
  'type',
  'prot',
  'nlink',
  'uid',
  'gid',
  'rdev',
  'size',
  'blksize',
  'blocks',
  'atime',
  'atimeNsec',
  'mtime',
  'mtimeNsec',
  'ctime',
  'ctimeNsec',
] as const satisfies readonly (keyof Iatt)[];

/** The order of a `statvfs`'s fields on the wire. */
export const STATVFS_FIELDS = ['bsize', 'frsize', 'blocks', 'bfree', 'bavail', 'files', 'ffree', 'favail', 'fsid', 'flag', 'namemax'] as const satisfies readonly (keyof Statvfs)[];

/** What the receiving side supplies to turn wire values into its own objects. */
export interface DecodeContext {
  /** This side's inode of `gfid`, linked (made if new) with `type`. */
  linkInode(gfid: Gfid, type: IaType): Inode;
  /** This side's inode of `gfid` if it has one (for `loc.inode`/`loc.parent`). */
  findInode(gfid: Gfid): Inode | null;
  /**
   * This side's fd named `id` on the wire; `undefined` when unknown (the fop fails with EBADF).
   * `opening` is set for the fd argument of a fop that opens it (a fop whose arguments hold a loc
   * and an fd: open, create, opendir): the receiver makes a new Fd and reserves its number (a
   * number that is open or being opened answers `undefined`, so two opens cannot share it).
   */
  fd(id: number, opening: { fop: FopName; loc: Loc } | null): Fd | undefined;
  /**
   * Called when {@link decodeArgs} fails after `fd(id, opening)` made `fd` (a later argument was
   * malformed): the receiver drops the reservation, as the fop will never run.
   */
  abandon?(fd: Fd): void;
}

/** What the sending side supplies to name its objects on the wire. */
export interface EncodeContext {
  /** The wire number of `fd` (default: `fd.id`). */
  fdId?(fd: Fd): number;
}

type Encoder<K extends Kind> = (value: KindTypes[K], ctx: EncodeContext | undefined) => unknown;
type Decoder<K extends Kind> = (wire: unknown, ctx: DecodeContext, opening: { fop: FopName; loc: Loc } | null) => KindTypes[K];

const bad = (what: string): never => {
  throw new WireError(`malformed ${what} on the wire`, errno.EINVAL);
};

const isNum = (v: unknown): v is number => typeof v === 'number';
const isStr = (v: unknown): v is string => typeof v === 'string';
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
const gfidOrNull = (v: unknown, what: string): Gfid | null => (v === null || v === undefined ? null : isStr(v) ? v : bad(what));

// The staged numbers: 8 that may exceed 32 bits as float64 (exact below 2^53), then 9 that never
// do as uint32. Staging in aligned typed arrays and copying once is several times faster than a
// write call per field. The wire is little-endian; a big-endian host swaps the staged bytes.
const IATT_F64 = 8;
const IATT_U32 = 9;
const IATT_NUM_BYTES = IATT_F64 * 8 + IATT_U32 * 4;
const IATT_WIDE_BYTES = (IATT_FIELDS.length - 1) * 8;
const stageBuffer = new ArrayBuffer(IATT_F64 * 8 + IATT_U32 * 4 + 4);
const f64 = new Float64Array(stageBuffer, 0, IATT_F64);
const u32 = new Uint32Array(stageBuffer, IATT_F64 * 8, IATT_U32);
const stageBytes = Buffer.from(stageBuffer, 0, IATT_NUM_BYTES);
const HOST_LE = endianness() === 'LE';

function swapStage(): void {
  stageBytes.subarray(0, IATT_F64 * 8).swap64();
  stageBytes.subarray(IATT_F64 * 8).swap32();
}

/**
 * An iatt travels as one Buffer of 101 bytes plus its gfid: `ino dev rdev size blocks atime mtime
 * ctime` as float64 LE, then `type prot nlink uid gid blksize atimeNsec mtimeNsec ctimeNsec` as
 * uint32 LE, then the gfid's length (u8) and the gfid (utf-8); when one of the latter does not fit
 * a uint32, all 17 go as float64 LE in {@link IATT_FIELDS} order (told apart by the length). One
 * Buffer is a memcpy for the
 * value codec instead of a walk over 18 values, and about half the bytes of 18 MessagePack numbers.
 */
function encodeIatt(a: Iatt): Buffer {
  f64[0] = a.ino;
  f64[1] = a.dev;
  f64[2] = a.rdev;
  f64[3] = a.size;
  f64[4] = a.blocks;
  f64[5] = a.atime;
  f64[6] = a.mtime;
  f64[7] = a.ctime;
  u32[0] = a.type;
  u32[1] = a.prot;
  u32[2] = a.nlink;
  u32[3] = a.uid;
  u32[4] = a.gid;
  u32[5] = a.blksize;
  u32[6] = a.atimeNsec;
  u32[7] = a.mtimeNsec;
  u32[8] = a.ctimeNsec;
  const g = Buffer.byteLength(a.gfid);
  if (g > 255) bad('iatt gfid');
  if (u32[0] !== a.type || u32[1] !== a.prot || u32[2] !== a.nlink || u32[3] !== a.uid || u32[4] !== a.gid || u32[5] !== a.blksize || u32[6] !== a.atimeNsec || u32[7] !== a.mtimeNsec || u32[8] !== a.ctimeNsec) {
    return encodeWideIatt(a, g);
  }
  const b = Buffer.allocUnsafe(IATT_NUM_BYTES + 1 + g);
  if (!HOST_LE) swapStage();
  stageBytes.copy(b, 0);
  b[IATT_NUM_BYTES] = g;
  b.write(a.gfid, IATT_NUM_BYTES + 1, g, 'utf8');
  return b;
}

/** The rare iatt with a field the uint32 slots cannot hold (e.g. uid -1): every number a float64. */
function encodeWideIatt(a: Iatt, g: number): Buffer {
  const b = Buffer.allocUnsafe(IATT_WIDE_BYTES + 1 + g);
  let o = 0;
  for (let i = 1; i < IATT_FIELDS.length; i++, o += 8) b.writeDoubleLE(a[IATT_FIELDS[i] as keyof Iatt] as number, o);
  b[IATT_WIDE_BYTES] = g;
  b.write(a.gfid, IATT_WIDE_BYTES + 1, g, 'utf8');
  return b;
}

function decodeWideIatt(w: Buffer): Iatt {
  const out: Record<string, unknown> = { gfid: w.toString('utf8', IATT_WIDE_BYTES + 1) };
  for (let i = 1, o = 0; i < IATT_FIELDS.length; i++, o += 8) out[IATT_FIELDS[i] as string] = w.readDoubleLE(o);
  return out as unknown as Iatt;
}

function decodeIatt(w: unknown): Iatt {
  if (!Buffer.isBuffer(w)) return bad('iatt');
  if (w.length > IATT_WIDE_BYTES && w.length === IATT_WIDE_BYTES + 1 + (w[IATT_WIDE_BYTES] as number)) return decodeWideIatt(w);
  if (w.length <= IATT_NUM_BYTES || w.length !== IATT_NUM_BYTES + 1 + (w[IATT_NUM_BYTES] as number)) return bad('iatt');
  w.copy(stageBytes, 0, 0, IATT_NUM_BYTES);
  if (!HOST_LE) swapStage();
  // One object literal: every Iatt has the same shape (fast property access downstream).
  return {
    gfid: w.toString('utf8', IATT_NUM_BYTES + 1),
    ino: f64[0] as number,
    dev: f64[1] as number,
    type: u32[0] as IaType,
    prot: u32[1] as number,
    nlink: u32[2] as number,
    uid: u32[3] as number,
    gid: u32[4] as number,
    rdev: f64[2] as number,
    size: f64[3] as number,
    blksize: u32[5] as number,
    blocks: f64[4] as number,
    atime: f64[5] as number,
    atimeNsec: u32[6] as number,
    mtime: f64[6] as number,
    mtimeNsec: u32[7] as number,
    ctime: f64[7] as number,
    ctimeNsec: u32[8] as number,
  };
}

/** One encoder and one decoder per kind (see the table in the module doc). */
const CODECS: { readonly [K in Kind]: { readonly encode: Encoder<K>; readonly decode: Decoder<K> } } = {
  loc: {
    encode: (l) => [l.path, l.name, l.gfid, l.pargfid],
    decode: (w, ctx) => {
      if (!Array.isArray(w) || w.length !== 4 || !isStr(w[0]) || !isStr(w[1])) return bad('loc');
      const gfid = gfidOrNull(w[2], 'loc gfid');
      const pargfid = gfidOrNull(w[3], 'loc pargfid');
      return { path: w[0], name: w[1], gfid, pargfid, inode: gfid === null ? null : ctx.findInode(gfid), parent: pargfid === null ? null : ctx.findInode(pargfid) };
    },
  },
  fd: {
    encode: (fd, ctx) => (ctx?.fdId ? ctx.fdId(fd) : fd.id),
    decode: (w, ctx, opening) => {
      if (!isNum(w)) return bad('fd');
      const fd = ctx.fd(w, opening);
      if (fd === undefined) throw new WireError(`fd ${w} is not open here`, errno.EBADF);
      return fd;
    },
  },
  xdata: {
    encode: (d) => d,
    decode: (w) => (w === null || w === undefined ? null : isPlainObject(w) ? (w as Dict) : bad('xdata')),
  },
  int: {
    encode: (n) => n,
    decode: (w) => (isNum(w) ? w : bad('integer')),
  },
  str: {
    encode: (s) => s,
    decode: (w) => (isStr(w) ? w : bad('string')),
  },
  data: {
    encode: (b) => b,
    decode: (w) => (Buffer.isBuffer(w) ? w : bad('data')),
  },
  iatt: { encode: encodeIatt, decode: decodeIatt },
  inode: {
    encode: (i) => [i.gfid, i.type],
    decode: (w, ctx) => (Array.isArray(w) && w.length === 2 && isStr(w[0]) && isNum(w[1]) ? ctx.linkInode(w[0], w[1] as IaType) : bad('inode')),
  },
  statvfs: {
    encode: (s) => STATVFS_FIELDS.map((k) => s[k]),
    decode: (w) => {
      if (!Array.isArray(w) || w.length !== STATVFS_FIELDS.length || !w.every(isNum)) return bad('statvfs');
      const [bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax] = w as number[];
      return { bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax } as Statvfs;
    },
  },
  xattrs: {
    encode: (x) => x,
    decode: (w) => {
      if (!isPlainObject(w)) return bad('xattrs');
      for (const k in w) if (!Buffer.isBuffer(w[k])) return bad('xattr value');
      return w as XattrDict;
    },
  },
  entries: {
    encode: (list) =>
      list.map((e) => {
        const base: unknown[] = [e.name, e.offset, e.ino, e.type];
        // readdirp's entries carry stat and inode; readdir's carry neither key at all.
        if ('stat' in e || 'inode' in e) base.push(e.stat === undefined ? undefined : e.stat === null ? null : encodeIatt(e.stat), e.inode === undefined ? undefined : (e.inode?.gfid ?? null));
        return base;
      }),
    decode: (w, ctx) => {
      if (!Array.isArray(w)) return bad('entries');
      const out = new Array<DirEntry>(w.length);
      for (let i = 0; i < w.length; i++) {
        const e: unknown = w[i];
        if (!Array.isArray(e) || (e.length !== 4 && e.length !== 6) || !isStr(e[0]) || !isNum(e[1]) || !isNum(e[2]) || !isNum(e[3])) return bad('directory entry');
        const entry: DirEntry = { name: e[0], offset: e[1], ino: e[2], type: e[3] as IaType };
        if (e.length === 6) {
          if (e[4] !== undefined) entry.stat = e[4] === null ? null : decodeIatt(e[4]);
          if (e[5] !== undefined) entry.inode = e[5] === null ? null : ctx.linkInode(isStr(e[5]) ? e[5] : bad('entry gfid'), entry.type);
        }
        out[i] = entry;
      }
      return out;
    },
  },
};

type AnyEncoder = (value: unknown, ctx: EncodeContext | undefined) => unknown;
type AnyDecoder = (wire: unknown, ctx: DecodeContext, opening: { fop: FopName; loc: Loc } | null) => unknown;
const encoderOf = (k: Kind): AnyEncoder => CODECS[k].encode as AnyEncoder;
const decoderOf = (k: Kind): AnyDecoder => CODECS[k].decode as AnyDecoder;

/** Per fop, the encoders/decoders of its arguments and results, resolved once from the table. */
interface FopPlan {
  readonly argEnc: readonly AnyEncoder[];
  readonly argDec: readonly AnyDecoder[];
  readonly resEnc: readonly AnyEncoder[];
  readonly resDec: readonly AnyDecoder[];
  /** Index of the fd argument this fop opens (its arguments hold a loc and an fd), or -1. */
  readonly opensFd: number;
  /** Index of the loc argument that goes with {@link opensFd}. */
  readonly locArg: number;
}

const PLANS = new Map<string, FopPlan>();
for (const [name, row] of Object.entries(FOPS)) {
  const argKinds = row.args.map(([, k]) => k);
  const fdAt = argKinds.indexOf('fd');
  const locAt = argKinds.indexOf('loc');
  PLANS.set(name, {
    argEnc: argKinds.map(encoderOf),
    argDec: argKinds.map(decoderOf),
    resEnc: row.results.map(([, k]) => encoderOf(k)),
    resDec: row.results.map(([, k]) => decoderOf(k)),
    opensFd: fdAt >= 0 && locAt >= 0 ? fdAt : -1,
    locArg: locAt,
  });
}

/** The plan of `fop`; throws a {@link WireError} (EINVAL) for a name that is not in the table. */
function planOf(fop: string): FopPlan {
  const p = PLANS.get(fop);
  if (p === undefined) throw new WireError(`unknown fop '${fop}'`, errno.EINVAL);
  return p;
}

/** True when `name` is a fop of the table. */
export function isWireFop(name: unknown): name is FopName {
  return typeof name === 'string' && PLANS.has(name);
}

/** The wire form of `fop`'s arguments (an array, one item per argument). Buffers are not copied. */
export function encodeArgs<F extends FopName>(fop: F, args: FopArgs<F>, ctx?: EncodeContext): unknown[] {
  const plan = planOf(fop);
  const a = args as readonly unknown[];
  const out = new Array<unknown>(plan.argEnc.length);
  for (let i = 0; i < out.length; i++) {
    const v = a[i];
    out[i] = v === null || v === undefined ? null : (plan.argEnc[i] as AnyEncoder)(v, ctx);
  }
  return out;
}

/**
 * `fop`'s arguments from their wire form. Throws {@link WireError} (with the errno to answer)
 * for a malformed value, an unknown fop or an unknown fd (for a fop that opens an fd: a number
 * `ctx.fd` refuses); when it throws after `ctx.fd` made an fd, `ctx.abandon` gets that fd first.
 * Decoded Buffers may share memory with the received message.
 */
export function decodeArgs<F extends FopName>(fop: F, wire: unknown, ctx: DecodeContext): FopArgs<F> {
  const plan = planOf(fop);
  if (!Array.isArray(wire) || wire.length !== plan.argDec.length) bad(`${fop} arguments`);
  const w = wire as unknown[];
  const out = new Array<unknown>(w.length);
  // The loc first: an fd being opened needs it.
  if (plan.locArg >= 0) out[plan.locArg] = w[plan.locArg] === null ? bad(`${fop} loc`) : (plan.argDec[plan.locArg] as AnyDecoder)(w[plan.locArg], ctx, null);
  try {
    for (let i = 0; i < w.length; i++) {
      if (i === plan.locArg) continue;
      const v = w[i];
      if (v === null || v === undefined) {
        // Only xdata may be absent; every other argument is required.
        if (FOPS[fop].args[i]?.[1] !== 'xdata') bad(`${fop} argument ${i + 1}`);
        out[i] = null;
        continue;
      }
      out[i] = (plan.argDec[i] as AnyDecoder)(v, ctx, i === plan.opensFd ? { fop, loc: out[plan.locArg] as Loc } : null);
    }
  } catch (err) {
    // An fd made for this fop (its number reserved) before a later argument failed.
    const opened = plan.opensFd >= 0 ? (out[plan.opensFd] as Fd | undefined) : undefined;
    if (opened !== undefined) ctx.abandon?.(opened);
    throw err;
  }
  return out as FopArgs<F>;
}

/**
 * The wire form of a completion: `[opRet, opErrno, ...results]`. A failure (`opRet < 0`) sends
 * no results (they are null by the fop contract).
 */
export function encodeReply<F extends FopName>(fop: F, opRet: number, opErrno: number, results: Partial<FopResults<F>> | readonly unknown[], ctx?: EncodeContext): unknown[] {
  if (opRet < 0) return [opRet, opErrno];
  const plan = planOf(fop);
  const r = results as readonly unknown[];
  const out = new Array<unknown>(2 + plan.resEnc.length);
  out[0] = opRet;
  out[1] = opErrno;
  for (let i = 0; i < plan.resEnc.length; i++) {
    const v = r[i];
    out[2 + i] = v === null || v === undefined ? null : (plan.resEnc[i] as AnyEncoder)(v, ctx);
  }
  return out;
}

/** The wire form of `fop`'s callback results (`null` stays `null`). */
export function encodeResults<F extends FopName>(fop: F, results: Partial<FopResults<F>> | readonly unknown[], ctx?: EncodeContext): unknown[] {
  const plan = planOf(fop);
  const r = results as readonly unknown[];
  const out = new Array<unknown>(plan.resEnc.length);
  for (let i = 0; i < out.length; i++) {
    const v = r[i];
    out[i] = v === null || v === undefined ? null : (plan.resEnc[i] as AnyEncoder)(v, ctx);
  }
  return out;
}

/**
 * `fop`'s callback results from their wire form (missing trailing results are `null`). Throws
 * {@link WireError} for a malformed value.
 */
export function decodeResults<F extends FopName>(fop: F, wire: readonly unknown[], ctx: DecodeContext, from = 0): FopResults<F> {
  const plan = planOf(fop);
  const out = new Array<unknown>(plan.resDec.length);
  for (let i = 0; i < out.length; i++) {
    const v = wire[from + i];
    out[i] = v === null || v === undefined ? null : (plan.resDec[i] as AnyDecoder)(v, ctx, null);
  }
  return out as FopResults<F>;
}

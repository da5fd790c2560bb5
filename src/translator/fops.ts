/**
 * The fop table: every file operation declared once, with its arguments and its callback results
 * (GlusterFS's `generator.py`). Everything per fop derives from it: the pass-through defaults, the
 * `wind<Fop>`/`unwind<Fop>` helpers, the TypeScript types, the trace formatter and the
 * protocol/client+server encoding.
 *
 * Each argument and result has a *kind*; {@link KindTypes} maps kinds to TypeScript types, so the
 * signature of `lookupFop`, `lookupCbk`, `windLookup` and `unwindLookup` all come from one row.
 * @module
 */
import type { DirEntry, Dict, Fd, Iatt, Inode, Loc, Statvfs, XattrDict } from './model.ts';

/**
 * The version of this table. A translator declares the version it was written against
 * (`static fopVersion`); a fop added in a later version fails closed (`ENOSYS`) at that
 * translator unless it opts into passing unknown fops through (`static passUnknownFops`).
 */
export const FOP_TABLE_VERSION = 2;

/** The TypeScript type of each argument/result kind. */
export interface KindTypes {
  loc: Loc;
  fd: Fd;
  xdata: Dict | null;
  int: number;
  str: string;
  data: Buffer;
  iatt: Iatt;
  inode: Inode;
  statvfs: Statvfs;
  xattrs: XattrDict;
  entries: DirEntry[];
}

/** An argument or result kind. */
export type Kind = keyof KindTypes;

interface FopRow {
  /** Argument names and kinds, in call order. */
  readonly args: readonly (readonly [string, Kind])[];
  /** Callback result names and kinds, after `(opRet, opErrno)`. */
  readonly results: readonly (readonly [string, Kind])[];
  /** The table version that added the fop. */
  readonly since: number;
  /** True for fops that change the namespace (create, remove or rename an entry). */
  readonly namespace?: boolean;
}

const r = <const A extends readonly (readonly [string, Kind])[], const R extends readonly (readonly [string, Kind])[]>(
  args: A,
  results: R,
  extra: { since?: number; namespace?: boolean } = {},
) => ({ args, results, since: extra.since ?? 1, namespace: extra.namespace ?? false }) as const;

const entryResults = [['inode', 'inode'], ['buf', 'iatt'], ['preparent', 'iatt'], ['postparent', 'iatt'], ['xdata', 'xdata']] as const;

/**
 * Every fop, as GlusterFS declares it, with these departures: `readv` returns its bytes as one
 * Buffer (`data`) instead of an iovec array, count and iobref; `writev` takes one Buffer; `xflags`
 * of unlink/rmdir and `flags` of readv/writev are kept as plain integers.
 */
export const FOPS = {
  lookup: r([['loc', 'loc'], ['xdata', 'xdata']], [['inode', 'inode'], ['buf', 'iatt'], ['xdata', 'xdata'], ['postparent', 'iatt']]),
  stat: r([['loc', 'loc'], ['xdata', 'xdata']], [['buf', 'iatt'], ['xdata', 'xdata']]),
  fstat: r([['fd', 'fd'], ['xdata', 'xdata']], [['buf', 'iatt'], ['xdata', 'xdata']]),
  statfs: r([['loc', 'loc'], ['xdata', 'xdata']], [['statvfs', 'statvfs'], ['xdata', 'xdata']]),
  access: r([['loc', 'loc'], ['mask', 'int'], ['xdata', 'xdata']], [['xdata', 'xdata']]),
  readlink: r([['loc', 'loc'], ['size', 'int'], ['xdata', 'xdata']], [['path', 'str'], ['buf', 'iatt'], ['xdata', 'xdata']]),
  mknod: r([['loc', 'loc'], ['mode', 'int'], ['rdev', 'int'], ['umask', 'int'], ['xdata', 'xdata']], entryResults, { namespace: true }),
  mkdir: r([['loc', 'loc'], ['mode', 'int'], ['umask', 'int'], ['xdata', 'xdata']], entryResults, { namespace: true }),
  unlink: r([['loc', 'loc'], ['xflags', 'int'], ['xdata', 'xdata']], [['preparent', 'iatt'], ['postparent', 'iatt'], ['xdata', 'xdata']], { namespace: true }),
  rmdir: r([['loc', 'loc'], ['xflags', 'int'], ['xdata', 'xdata']], [['preparent', 'iatt'], ['postparent', 'iatt'], ['xdata', 'xdata']], { namespace: true }),
  symlink: r([['linkname', 'str'], ['loc', 'loc'], ['umask', 'int'], ['xdata', 'xdata']], entryResults, { namespace: true }),
  rename: r(
    [['oldloc', 'loc'], ['newloc', 'loc'], ['xdata', 'xdata']],
    [['buf', 'iatt'], ['preoldparent', 'iatt'], ['postoldparent', 'iatt'], ['prenewparent', 'iatt'], ['postnewparent', 'iatt'], ['xdata', 'xdata']],
    { namespace: true },
  ),
  link: r([['oldloc', 'loc'], ['newloc', 'loc'], ['xdata', 'xdata']], entryResults, { namespace: true }),
  truncate: r([['loc', 'loc'], ['offset', 'int'], ['xdata', 'xdata']], [['prebuf', 'iatt'], ['postbuf', 'iatt'], ['xdata', 'xdata']]),
  ftruncate: r([['fd', 'fd'], ['offset', 'int'], ['xdata', 'xdata']], [['prebuf', 'iatt'], ['postbuf', 'iatt'], ['xdata', 'xdata']]),
  open: r([['loc', 'loc'], ['flags', 'int'], ['fd', 'fd'], ['xdata', 'xdata']], [['fd', 'fd'], ['xdata', 'xdata']]),
  create: r(
    [['loc', 'loc'], ['flags', 'int'], ['mode', 'int'], ['umask', 'int'], ['fd', 'fd'], ['xdata', 'xdata']],
    [['fd', 'fd'], ['inode', 'inode'], ['buf', 'iatt'], ['preparent', 'iatt'], ['postparent', 'iatt'], ['xdata', 'xdata']],
    { namespace: true },
  ),
  readv: r([['fd', 'fd'], ['size', 'int'], ['offset', 'int'], ['flags', 'int'], ['xdata', 'xdata']], [['data', 'data'], ['stbuf', 'iatt'], ['xdata', 'xdata']]),
  writev: r([['fd', 'fd'], ['data', 'data'], ['offset', 'int'], ['flags', 'int'], ['xdata', 'xdata']], [['prebuf', 'iatt'], ['postbuf', 'iatt'], ['xdata', 'xdata']]),
  flush: r([['fd', 'fd'], ['xdata', 'xdata']], [['xdata', 'xdata']]),
  fsync: r([['fd', 'fd'], ['datasync', 'int'], ['xdata', 'xdata']], [['prebuf', 'iatt'], ['postbuf', 'iatt'], ['xdata', 'xdata']]),
  opendir: r([['loc', 'loc'], ['fd', 'fd'], ['xdata', 'xdata']], [['fd', 'fd'], ['xdata', 'xdata']]),
  readdir: r([['fd', 'fd'], ['size', 'int'], ['offset', 'int'], ['xdata', 'xdata']], [['entries', 'entries'], ['xdata', 'xdata']]),
  readdirp: r([['fd', 'fd'], ['size', 'int'], ['offset', 'int'], ['xdata', 'xdata']], [['entries', 'entries'], ['xdata', 'xdata']]),
  fsyncdir: r([['fd', 'fd'], ['datasync', 'int'], ['xdata', 'xdata']], [['xdata', 'xdata']]),
  setattr: r([['loc', 'loc'], ['stbuf', 'iatt'], ['valid', 'int'], ['xdata', 'xdata']], [['preop', 'iatt'], ['postop', 'iatt'], ['xdata', 'xdata']]),
  fsetattr: r([['fd', 'fd'], ['stbuf', 'iatt'], ['valid', 'int'], ['xdata', 'xdata']], [['preop', 'iatt'], ['postop', 'iatt'], ['xdata', 'xdata']]),
  getxattr: r([['loc', 'loc'], ['name', 'str'], ['xdata', 'xdata']], [['dict', 'xattrs'], ['xdata', 'xdata']]),
  setxattr: r([['loc', 'loc'], ['dict', 'xattrs'], ['flags', 'int'], ['xdata', 'xdata']], [['xdata', 'xdata']]),
  fgetxattr: r([['fd', 'fd'], ['name', 'str'], ['xdata', 'xdata']], [['dict', 'xattrs'], ['xdata', 'xdata']]),
  fsetxattr: r([['fd', 'fd'], ['dict', 'xattrs'], ['flags', 'int'], ['xdata', 'xdata']], [['xdata', 'xdata']]),
  removexattr: r([['loc', 'loc'], ['name', 'str'], ['xdata', 'xdata']], [['xdata', 'xdata']]),
  fremovexattr: r([['fd', 'fd'], ['name', 'str'], ['xdata', 'xdata']], [['xdata', 'xdata']]),
  // Version 2: byte-range fops (GlusterFS added these after the namespace and data fops).
  fallocate: r([['fd', 'fd'], ['keepSize', 'int'], ['offset', 'int'], ['len', 'int'], ['xdata', 'xdata']], [['prebuf', 'iatt'], ['postbuf', 'iatt'], ['xdata', 'xdata']], { since: 2 }),
  discard: r([['fd', 'fd'], ['offset', 'int'], ['len', 'int'], ['xdata', 'xdata']], [['prebuf', 'iatt'], ['postbuf', 'iatt'], ['xdata', 'xdata']], { since: 2 }),
  zerofill: r([['fd', 'fd'], ['offset', 'int'], ['len', 'int'], ['xdata', 'xdata']], [['prebuf', 'iatt'], ['postbuf', 'iatt'], ['xdata', 'xdata']], { since: 2 }),
  seek: r([['fd', 'fd'], ['offset', 'int'], ['what', 'int'], ['xdata', 'xdata']], [['offset', 'int'], ['xdata', 'xdata']], { since: 2 }),
} as const satisfies Record<string, FopRow>;

/** The name of a fop. */
export type FopName = keyof typeof FOPS;

/** Every fop name, in table order. */
export const FOP_NAMES = Object.keys(FOPS) as FopName[];

/** The most arguments any fop takes, and the most results any callback carries (both 6). */
export const MAX_FOP_ARGS = 6;

type KindsOf<T extends readonly (readonly [string, Kind])[]> = { -readonly [I in keyof T]: T[I] extends readonly [string, infer K extends Kind] ? KindTypes[K] : never };
type NullableKindsOf<T extends readonly (readonly [string, Kind])[]> = {
  -readonly [I in keyof T]: T[I] extends readonly [string, infer K extends Kind] ? KindTypes[K] | null : never;
};

/** The argument tuple of fop `F` (after the frame). */
export type FopArgs<F extends FopName> = KindsOf<(typeof FOPS)[F]['args']>;

/** The result tuple of fop `F`'s callback (after `opRet, opErrno`); every result is `null` on failure. */
export type FopResults<F extends FopName> = NullableKindsOf<(typeof FOPS)[F]['results']>;

/** A fop's completion as the graph's caller receives it. */
export interface FopReply<F extends FopName = FopName> {
  opRet: number;
  opErrno: number;
  results: FopResults<F>;
}

/** True for fops that change the namespace (used by caches to invalidate). */
export function isNamespaceFop(fop: FopName): boolean {
  return FOPS[fop].namespace;
}

/** `lookup` → `Lookup`. */
export function capitalize<S extends string>(s: S): Capitalize<S> {
  return (s.charAt(0).toUpperCase() + s.slice(1)) as Capitalize<S>;
}

/** The sizes of each fop's argument and result tuples (for the fixed-arity dispatch). */
export const FOP_ARITY: Readonly<Record<FopName, { args: number; results: number }>> = Object.fromEntries(
  FOP_NAMES.map((f) => [f, { args: FOPS[f].args.length, results: FOPS[f].results.length }]),
) as Record<FopName, { args: number; results: number }>;

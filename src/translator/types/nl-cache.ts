/**
 * `performance/nl-cache`: the negative-lookup cache (GlusterFS's nl-cache, glupy's `negative.py`),
 * done right.
 *
 * A named lookup that returns `ENOENT` leaves a negative entry keyed by (parent gfid, name); a
 * later lookup of the same name is answered `(-1, ENOENT)` with null results without winding.
 * Hits cost two Map lookups (GlusterFS walks a list per directory: 24 µs at 10,000 names).
 *
 * Invalidation:
 * - every namespace fop (the fop table's `namespace` flag, so a namespace fop added to the table
 *   later is covered too) that succeeds, or fails with an errno that leaves its outcome unknown
 *   (`EIO`, `ENOTCONN`, `ETIMEDOUT`, `ECONNRESET`, `ECONNABORTED`, `EPIPE`: the brick may have
 *   applied it and lost the reply): `create`, `mknod`, `mkdir`, `symlink`, `link`, `unlink`,
 *   `rmdir` and `rename` drop the negative entry of each name they name (`rmdir` also drops the
 *   removed directory's own cache; a renamed directory keeps its cache: its gfid is unchanged). A
 *   namespace fop this class does not know drops the whole cache of every parent directory it
 *   names (and of each loc's own gfid); when it names none, everything is dropped;
 * - a successful lookup drops the name's negative entry;
 * - `upcall` events from the brick drop the caches of `gfid` and of every `pargfids` directory,
 *   or only the given `names` in those directories;
 * - `child-up`, `child-down`, `parent-down` and switching `pass-through` on or off drop
 *   everything (while passed through, this translator does not see the namespace change);
 * - a directory's entries expire `nl-cache-timeout` seconds after its cache was started (checked
 *   lazily on access; one unref'ed sweep timer frees expired directories while the cache is not
 *   empty).
 *
 * A lookup reply that races with an invalidation of its directory (the invalidation arrived while
 * the lookup was in flight) is not cached: the ENOENT may predate the change.
 *
 * Memory: the cache holds at most `nl-cache-limit` bytes, counted as {@link ENTRY_OVERHEAD} plus
 * the name's UTF-8 length per entry and {@link DIR_OVERHEAD} per directory that has entries (the
 * rough V8 cost of the Map slot, the entry object and the string). Beyond it the least recently
 * used entries (across all directories) are evicted. GlusterFS's limit is advisory: it was seen
 * holding 960,360 B against 131,072.
 *
 * Options: `nl-cache-timeout` (seconds, default 60), `nl-cache-limit` (bytes, default 131072).
 * GlusterFS's `nl-cache-positive-entry` (caching names known to exist, so that a lookup of a
 * name not in the list of a fully known directory is answered ENOENT) is not implemented and
 * not declared; `pass-through` is handled by the translator core.
 * @module
 */
import { FOP_NAMES, FOPS, isNamespaceFop, type FopName } from '../fops.ts';
import type { Frame } from '../frame.ts';
import { errno, type Dict, type Gfid, type Iatt, type Inode, type Loc } from '../model.ts';
import { Translator, unwind, type GraphEvent, type TranslatorHooks } from '../translator.ts';
import { clock, guardTimer } from '../../util/timers.ts';

/** Bytes charged per cached name on top of the name's UTF-8 length. */
export const ENTRY_OVERHEAD = 64;

/** Bytes charged per directory that has at least one cached name. */
export const DIR_OVERHEAD = 128;

/** Counters of an {@link NlCache} (all since the translator was made, except `entries` and `bytes`). */
export interface NlCacheStats {
  /** Lookups answered ENOENT from the cache. */
  hits: number;
  /** Named lookups wound to the child. */
  misses: number;
  /** Negative entries held now. */
  entries: number;
  /** Bytes charged now (see {@link ENTRY_OVERHEAD}, {@link DIR_OVERHEAD}). */
  bytes: number;
  /** Entries dropped because they may be stale (namespace fops, lookups, events, expiry, `clear()`). */
  invalidations: number;
  /** Entries dropped to stay within `nl-cache-limit`. */
  evictions: number;
}

interface Entry {
  readonly name: string;
  readonly dir: DirCache;
  readonly cost: number;
  /** Less recently used neighbour (toward the list head). */
  prev: Entry | null;
  /** More recently used neighbour (toward the list tail). */
  next: Entry | null;
}

interface DirCache {
  readonly gfid: Gfid;
  readonly names: Map<string, Entry>;
  /** `clock.now()` when the directory's cache was started; it expires `timeout` later. */
  readonly since: number;
}

/** What a lookup remembers between its wind and its callback. */
interface LookupLocal {
  readonly pargfid: Gfid;
  readonly name: string;
  /** The invalidation epoch when the lookup was wound. */
  readonly epoch: number;
}

/** What a namespace fop remembers between its wind and its callback. */
interface NamespaceLocal {
  readonly locs: readonly Loc[];
}

/** Namespace fops whose effect on names is known: their names are dropped one by one. */
const KNOWN_NAMESPACE_FOPS: ReadonlySet<FopName> = new Set<FopName>(['create', 'mknod', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename']);

/**
 * Failures after which a namespace fop may still have happened (the reply, not the fop, was lost
 * or failed, e.g. a brick that applied a create whose reply timed out): treated as successes.
 */
const OUTCOME_UNKNOWN: ReadonlySet<number> = new Set([errno.EIO, errno.ENOTCONN, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE].filter((n): n is number => n !== undefined));

/** How many recently invalidated directories are remembered for the lookup race check. */
const RECENT_LIMIT = 1024;

function parentOf(loc: Loc): Gfid | null {
  return loc.pargfid ?? loc.parent?.gfid ?? null;
}

/**
 * The negative-lookup cache translator (`performance/nl-cache`). See the module documentation
 * for what it caches and what invalidates it.
 *
 * @example
 * ```
 * volume cache
 *   type performance/nl-cache
 *   option nl-cache-timeout 600
 *   option nl-cache-limit 1MB
 *   subvolumes client
 * end-volume
 * ```
 */
export class NlCache extends Translator implements TranslatorHooks {
  static override options = {
    'nl-cache-timeout': { type: 'time', default: '60', min: 0, description: 'Seconds after which the negative entries of a directory expire.' },
    'nl-cache-limit': { type: 'size', default: '131072', min: 0, description: 'Most bytes the cache holds (name length plus a fixed overhead per entry and per directory); least recently used entries are evicted beyond it.' },
  } as const;

  /**
   * Fops added to the table later pass through: every namespace fop, old or new, is intercepted
   * through the table's `namespace` flag, and no other fop can make a negative entry stale.
   */
  static override passUnknownFops = true;

  readonly #dirs = new Map<Gfid, DirCache>();
  /** Least recently used entry; eviction starts here. */
  #head: Entry | null = null;
  /** Most recently used entry. */
  #tail: Entry | null = null;
  #entries = 0;
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #invalidations = 0;
  #evictions = 0;
  #timeoutMs = 60_000;
  #limit = 131_072;
  /** Incremented by every invalidation; lookups compare it to detect a race. */
  #epoch = 0;
  /** The epoch of the last clear of everything. */
  #clearedAt = 0;
  /** Recently invalidated directories and the epoch of their last invalidation (insertion-ordered). */
  readonly #recent = new Map<Gfid, number>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(...args: ConstructorParameters<typeof Translator>) {
    super(...args);
    this.applyOptions();
  }

  override reconfigure(options: Readonly<Record<string, string>>): void {
    const wasPassing = this.passThrough;
    super.reconfigure(options);
    // Namespace changes made while passed through were not seen, and none will be while it is.
    if (wasPassing !== this.passThrough) this.clear();
    this.applyOptions();
    this.evictToLimit();
  }

  override fini(): void {
    this.clear();
  }

  override notify(event: GraphEvent, from: Translator | null): void {
    switch (event.type) {
      case 'upcall':
        this.onUpcall(event.gfid, event.pargfids, event.names);
        break;
      case 'child-up':
      case 'child-down':
      case 'parent-down':
        this.clear();
        break;
    }
    super.notify(event, from);
  }

  /** The cache's counters and size. */
  stats(): NlCacheStats {
    return { hits: this.#hits, misses: this.#misses, entries: this.#entries, bytes: this.#bytes, invalidations: this.#invalidations, evictions: this.#evictions };
  }

  /** Drops every negative entry (counted as invalidations). */
  clear(): void {
    this.#invalidations += this.#entries;
    this.#dirs.clear();
    this.#head = this.#tail = null;
    this.#entries = 0;
    this.#bytes = 0;
    this.#recent.clear();
    this.#clearedAt = ++this.#epoch;
    this.stopSweeper();
  }

  /** True when (pargfid, name) holds a live negative entry (for tests and tools; does not count). */
  has(pargfid: Gfid, name: string): boolean {
    const dir = this.#dirs.get(pargfid);
    return dir !== undefined && clock.now() - dir.since < this.#timeoutMs && dir.names.has(name);
  }

  lookupFop(frame: Frame, loc: Loc, xdata: Dict | null): void {
    const pargfid = parentOf(loc);
    const name = loc.name;
    if (pargfid === null || name === '' || name === '.' || name === '..') {
      this.windLookup(frame, loc, xdata);
      return;
    }
    const dir = this.#dirs.get(pargfid);
    if (dir !== undefined) {
      if (clock.now() - dir.since >= this.#timeoutMs) {
        this.dropDir(dir, false);
      } else {
        const entry = dir.names.get(name);
        if (entry !== undefined) {
          this.#hits++;
          this.touch(entry);
          this.unwindLookup(frame, -1, errno.ENOENT);
          return;
        }
      }
    }
    this.#misses++;
    frame.local = { pargfid, name, epoch: this.#epoch } satisfies LookupLocal;
    this.windLookup(frame, loc, xdata);
  }

  lookupCbk(frame: Frame, _cookie: unknown, opRet: number, opErrno: number, inode: Inode | null, buf: Iatt | null, xdata: Dict | null, postparent: Iatt | null): void {
    const local = frame.local as LookupLocal | undefined;
    if (local !== undefined) {
      if (opRet >= 0) {
        // An ENOENT of a lookup still in flight may predate the entry this one found.
        this.removeName(local.pargfid, local.name);
        this.markInvalidated(local.pargfid);
        this.#epoch++;
      } else if (opErrno === errno.ENOENT && !this.invalidatedSince(local.pargfid, local.epoch)) {
        this.addName(local.pargfid, local.name);
      }
    }
    this.unwindLookup(frame, opRet, opErrno, inode, buf, xdata, postparent);
  }

  /** @internal The hook of every namespace fop (installed from the fop table below). */
  _namespaceFop(frame: Frame, fop: FopName, args: unknown[]): void {
    const locs: Loc[] = [];
    const kinds = FOPS[fop].args;
    for (let i = 0; i < kinds.length; i++) if (kinds[i]?.[1] === 'loc' && args[i] !== null && args[i] !== undefined) locs.push(args[i] as Loc);
    frame.local = { locs } satisfies NamespaceLocal;
    this.windTo(null, fop, frame, ...(args as never));
  }

  /** @internal The callback of every namespace fop: invalidates on success (or an unknown outcome); the caller unwinds. */
  _namespaceCbk(frame: Frame, fop: FopName, opRet: number, opErrno: number, results: unknown[]): void {
    const local = frame.local as NamespaceLocal | undefined;
    if (local !== undefined && (opRet >= 0 || OUTCOME_UNKNOWN.has(opErrno))) this.invalidateFor(fop, local.locs, results);
  }

  private invalidateFor(fop: FopName, locs: readonly Loc[], results: readonly unknown[]): void {
    // Parent directories named by the reply (postparent, postoldparent, postnewparent) cover
    // locs that carry only a path.
    const replyParents: Gfid[] = [];
    const kinds = FOPS[fop].results;
    for (let i = 0; i < kinds.length; i++) {
      const [rname, kind] = kinds[i] as readonly [string, string];
      const v = results[i] as Iatt | null | undefined;
      if (kind === 'iatt' && rname.startsWith('post') && rname.endsWith('parent') && v) replyParents.push(v.gfid);
    }
    const known = KNOWN_NAMESPACE_FOPS.has(fop);
    let everything = false;
    for (const loc of locs) {
      const own = loc.gfid ?? loc.inode?.gfid ?? null;
      if (own !== null && (!known || fop === 'rmdir')) {
        this.dropDirOf(own);
        this.markInvalidated(own);
      }
      // A known fop's nameless loc is an existing object (link's or rename's source): no name
      // of it can have been made to exist.
      if (known && loc.name === '') continue;
      const p = parentOf(loc);
      const parents = p !== null ? [p] : replyParents;
      if (parents.length === 0) {
        everything = true;
        continue;
      }
      for (const g of parents) {
        if (known) this.removeName(g, loc.name);
        else this.dropDirOf(g);
        this.markInvalidated(g);
      }
    }
    if (locs.length === 0 && !known) everything = true;
    if (everything) this.clear();
    else this.#epoch++;
  }

  private onUpcall(gfid: Gfid | null, pargfids: readonly Gfid[], names: readonly string[] | undefined): void {
    if (gfid !== null) {
      this.dropDirOf(gfid);
      this.markInvalidated(gfid);
    }
    for (const p of pargfids) {
      // Every name in every listed directory: a superset of any pairing the brick may mean.
      if (names !== undefined && names.length > 0) for (const n of names) this.removeName(p, n);
      else this.dropDirOf(p);
      this.markInvalidated(p);
    }
    this.#epoch++;
  }

  private markInvalidated(gfid: Gfid): void {
    this.#recent.delete(gfid);
    this.#recent.set(gfid, this.#epoch + 1);
    if (this.#recent.size > RECENT_LIMIT) {
      const oldest = this.#recent.keys().next().value as Gfid;
      this.#recent.delete(oldest);
    }
  }

  /** True when `pargfid` may have changed since `epoch` (when in doubt, true). */
  private invalidatedSince(pargfid: Gfid, epoch: number): boolean {
    if (epoch === this.#epoch) return false;
    if (this.#clearedAt > epoch) return true;
    // The oldest remembered invalidation must be newer than the lookup for the memory to be whole.
    const first = this.#recent.values().next();
    if (this.#recent.size >= RECENT_LIMIT && !first.done && first.value > epoch) return true;
    const at = this.#recent.get(pargfid);
    return at !== undefined && at > epoch;
  }

  private addName(pargfid: Gfid, name: string): void {
    const cost = ENTRY_OVERHEAD + Buffer.byteLength(name);
    let dir = this.#dirs.get(pargfid);
    if (dir !== undefined && clock.now() - dir.since >= this.#timeoutMs) {
      this.dropDir(dir, false);
      dir = undefined;
    }
    if (cost + DIR_OVERHEAD > this.#limit || this.#timeoutMs <= 0) return;
    if (dir === undefined) {
      dir = { gfid: pargfid, names: new Map(), since: clock.now() };
      this.#dirs.set(pargfid, dir);
      this.#bytes += DIR_OVERHEAD;
    } else if (dir.names.has(name)) {
      return;
    }
    const entry: Entry = { name, dir, cost, prev: this.#tail, next: null };
    if (this.#tail) this.#tail.next = entry;
    else this.#head = entry;
    this.#tail = entry;
    dir.names.set(name, entry);
    this.#entries++;
    this.#bytes += cost;
    this.evictToLimit(entry);
    this.startSweeper();
  }

  /** Drops one negative entry; true when there was one. */
  private removeName(pargfid: Gfid, name: string): boolean {
    const dir = this.#dirs.get(pargfid);
    const entry = dir?.names.get(name);
    if (entry === undefined) return false;
    this.#invalidations++;
    this.unlinkEntry(entry);
    return true;
  }

  private dropDirOf(gfid: Gfid): void {
    const dir = this.#dirs.get(gfid);
    if (dir !== undefined) this.dropDir(dir, false);
  }

  /** Drops a directory's whole cache (an invalidation, or an eviction when `evicted`). */
  private dropDir(dir: DirCache, evicted: boolean): void {
    for (const entry of dir.names.values()) {
      if (evicted) this.#evictions++;
      else this.#invalidations++;
      this.unlinkEntry(entry);
    }
  }

  /** Removes `entry` from its directory and the LRU list, and the directory when it empties. */
  private unlinkEntry(entry: Entry): void {
    const dir = entry.dir;
    if (entry.prev) entry.prev.next = entry.next;
    else this.#head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.#tail = entry.prev;
    entry.prev = entry.next = null;
    dir.names.delete(entry.name);
    this.#entries--;
    this.#bytes -= entry.cost;
    if (dir.names.size === 0 && this.#dirs.get(dir.gfid) === dir) {
      this.#dirs.delete(dir.gfid);
      this.#bytes -= DIR_OVERHEAD;
    }
    if (this.#entries === 0) this.stopSweeper();
  }

  /** Makes `entry` the most recently used. */
  private touch(entry: Entry): void {
    if (entry === this.#tail) return;
    if (entry.prev) entry.prev.next = entry.next;
    else this.#head = entry.next;
    (entry.next as Entry).prev = entry.prev;
    entry.prev = this.#tail;
    entry.next = null;
    (this.#tail as Entry).next = entry;
    this.#tail = entry;
  }

  /** Evicts least recently used entries until the limit holds (never `keep`, the one just added). */
  private evictToLimit(keep?: Entry): void {
    while (this.#bytes > this.#limit && this.#head !== null && this.#head !== keep) {
      this.#evictions++;
      this.unlinkEntry(this.#head);
    }
  }

  private applyOptions(): void {
    this.#timeoutMs = (this.option<number>('nl-cache-timeout') ?? 60) * 1000;
    this.#limit = this.option<number>('nl-cache-limit') ?? 131_072;
  }

  private startSweeper(): void {
    if (this.#sweeper !== undefined) return;
    const period = Math.min(Math.max(this.#timeoutMs, 1000), 600_000);
    const sweep = (): void => {
      this.#sweeper = undefined;
      const now = clock.now();
      for (const dir of [...this.#dirs.values()]) if (now - dir.since >= this.#timeoutMs) this.dropDir(dir, false);
      if (this.#entries > 0) this.startSweeper();
    };
    this.#sweeper = guardTimer(sweep, period);
  }

  private stopSweeper(): void {
    if (this.#sweeper !== undefined) clock.clearTimeout(this.#sweeper);
    this.#sweeper = undefined;
  }
}

// One fop hook and one callback per namespace fop of the table, so a namespace fop added to the
// table later is intercepted without a change here.
for (const fop of FOP_NAMES) {
  if (!isNamespaceFop(fop)) continue;
  Object.defineProperty(NlCache.prototype, `${fop}Fop`, {
    value: function (this: NlCache, frame: Frame, ...args: unknown[]): void {
      this._namespaceFop(frame, fop, args);
    },
    writable: true,
    configurable: true,
  });
  Object.defineProperty(NlCache.prototype, `${fop}Cbk`, {
    value: function (this: NlCache, frame: Frame, _cookie: unknown, opRet: number, opErrno: number, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): void {
      this._namespaceCbk(frame, fop, opRet, opErrno, [a, b, c, d, e, f]);
      unwind(frame, opRet, opErrno, a, b, c, d, e, f);
    },
    writable: true,
    configurable: true,
  });
}

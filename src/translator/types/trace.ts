/**
 * `debug/trace`: glupy's `GLUPY TRACE` lines for every fop in the table, generated from it.
 *
 * Each fop prints `GLUPY TRACE <FOP> FOP- <unique>: <args>` before winding and
 * `GLUPY TRACE <FOP> CBK- <unique>: ...` when its reply comes back, then unwinds unchanged.
 * `<unique>` is `frame.root.unique`. Arguments are formatted by their kind in the fop table:
 *
 * | kind | text |
 * |---|---|
 * | loc `loc` | `gfid=<G>; path=<P>` (`oldloc`/`newloc`: `oldgfid=...; oldpath=...`) |
 * | fd | `gfid=<inode gfid>; fd=<id>` as the first object argument, else `fd=<id>` |
 * | int | `name=<decimal>`; `mode`, `umask` and `flags` as `0<octal>` |
 * | str | `name=<value>` |
 * | data | `size=<bytes>` |
 * | iatt | `*name=(gfid=..., ino=..., mode=<octal st_mode>, nlink=..., uid =..., gid =..., size=..., blocks=..., atime=[Mon DD HH:MM:SS], mtime=[...], ctime=[...])` |
 * | statvfs | `*statvfs=(bsize=..., blocks=..., bfree=..., bavail=..., files=..., ffree=...)` |
 * | xattrs | `dict={name1,name2}` |
 * | entries | `entries=<count>` |
 * | xdata | omitted when null, else `xdata={key1,key2}` |
 * | inode (results) | omitted: its gfid is the line's `gfid=` |
 *
 * A callback line on success is `gfid=<G>; op_ret=<n>; <results>`, where `<G>` is the gfid of the
 * reply's inode (or of its `buf`/`stbuf`), else the gfid the fop line named (kept in
 * `frame.local`). On failure it is `gfid=<G>; op_ret=-1; op_errno=<n>`.
 *
 * Faithful to glupy on purpose, so lines compare with old glupy logs: the stat formatter keeps
 * glupy's `uid =` and `gid =` spacing, times are local time, and the *lookup* failure line keeps
 * glupy's extra space (`GLUPY TRACE LOOKUP CBK - 7: ...`, grid.md D1); every other failure line is
 * `CBK- `.
 *
 * Options: `log-file PATH` (appended to; default stderr), `include` / `exclude` (fop names separated
 * by commas or spaces; an unknown name fails init), `log-buffer-size` (default 1MB). A fop that is
 * not traced costs nothing (it is resolved past this translator when the graph links).
 * `reconfigure` applies `include`/`exclude` live; `log-file` and `log-buffer-size` are read at init.
 *
 * Lines are never allowed to slow down or block fops: when the sink falls behind by more than
 * `log-buffer-size` bytes, new lines are dropped and counted ({@link Trace.droppedLines}); once the
 * sink drains, one line `GLUPY TRACE DROPPED <n> lines (log sink too slow)` records the gap.
 * @module
 */
import { closeSync, createWriteStream, openSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { FOP_NAMES, FOPS, type FopName, type Kind } from '../fops.ts';
import { NULL_GFID, stModeOf, type Dict, type DirEntry, type Fd, type Iatt, type Inode, type Loc, type Statvfs, type XattrDict } from '../model.ts';
import { unwind, wind, type Translator } from '../translator.ts';
import { DebugTranslator, defineFopHooks, parseFopList, setHooks } from './debug-util.ts';

type Fields = readonly (readonly [string, Kind])[];

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;
const two = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** `[Mon DD HH:MM:SS]` in local time, as glupy's `strftime("[%b %d %H:%M:%S]", localtime(t))`. */
export function formatStamp(seconds: number): string {
  // Stat times repeat (atime, mtime and ctime are often the same second): the last few are kept.
  const hit = stampCache.get(seconds);
  if (hit !== undefined) return hit;
  const d = new Date(seconds * 1000);
  const text = `[${MONTHS[d.getMonth()] ?? '???'} ${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}]`;
  if (stampCache.size >= 64) stampCache.clear();
  stampCache.set(seconds, text);
  return text;
}
const stampCache = new Map<number, string>();

/** glupy's `trace_stat2str`: an {@link Iatt} as `(gfid=..., ino=..., mode=100644, ...)`. */
export function formatIatt(buf: Iatt): string {
  return (
    `(gfid=${buf.gfid}, ino=${buf.ino}, mode=${stModeOf(buf).toString(8)}, nlink=${buf.nlink}, uid =${buf.uid}, gid =${buf.gid}, ` +
    `size=${buf.size}, blocks=${buf.blocks}, atime=${formatStamp(buf.atime)}, mtime=${formatStamp(buf.mtime)}, ctime=${formatStamp(buf.ctime)})`
  );
}

function locGfid(loc: Loc): string {
  return loc.gfid ?? loc.inode?.gfid ?? NULL_GFID;
}

const OCTAL_INTS = new Set(['mode', 'umask', 'flags']);

/** Formats one argument or result by its kind; `null` leaves it out of the line. */
function formatField(name: string, kind: Kind, v: unknown, firstObject: boolean): string | null {
  switch (kind) {
    case 'loc': {
      const loc = v as Loc;
      const p = name === 'loc' ? '' : name.slice(0, -3);
      return `${p}gfid=${locGfid(loc)}; ${p}path=${loc.path}`;
    }
    case 'fd': {
      const fd = v as Fd | null;
      if (fd === null) return 'fd=null';
      return firstObject ? `gfid=${fd.inode.gfid}; fd=${fd.id}` : `fd=${fd.id}`;
    }
    case 'int':
      return OCTAL_INTS.has(name) ? `${name}=0${(v as number).toString(8)}` : `${name}=${String(v)}`;
    case 'str':
      return `${name}=${String(v)}`;
    case 'data':
      return v === null ? `${name}=null` : `size=${(v as Buffer).length}`;
    case 'iatt':
      return v === null ? `*${name}=null` : `*${name}=${formatIatt(v as Iatt)}`;
    case 'statvfs': {
      if (v === null) return `*${name}=null`;
      const s = v as Statvfs;
      return `*${name}=(bsize=${s.bsize}, blocks=${s.blocks}, bfree=${s.bfree}, bavail=${s.bavail}, files=${s.files}, ffree=${s.ffree})`;
    }
    case 'xattrs':
      return v === null ? `${name}=null` : `${name}={${Object.keys(v as XattrDict).join(',')}}`;
    case 'entries':
      return v === null ? `${name}=null` : `${name}=${(v as DirEntry[]).length}`;
    case 'xdata':
      return v === null || v === undefined ? null : `xdata={${Object.keys(v as Dict).join(',')}}`;
    case 'inode':
      return null;
  }
}

/** The fields of a fop's arguments or results as one `; `-separated string. */
function formatFields(fields: Fields, values: readonly unknown[], areArgs: boolean): string {
  const parts: string[] = [];
  // Only an argument fd names the object (`gfid=`); a reply's gfid is already on the line.
  let firstObject = areArgs;
  for (let i = 0; i < fields.length; i++) {
    const [name, kind] = fields[i] as readonly [string, Kind];
    const text = formatField(name, kind, values[i] ?? null, firstObject);
    if (kind === 'loc' || kind === 'fd') firstObject = false;
    if (text !== null) parts.push(text);
  }
  return parts.join('; ');
}

/** The gfid a fop's arguments name: its first loc's, or its first fd's inode's. */
function argsGfid(fields: Fields, values: readonly unknown[]): string {
  for (let i = 0; i < fields.length; i++) {
    const kind = (fields[i] as readonly [string, Kind])[1];
    const v = values[i];
    if (v === null || v === undefined) continue;
    if (kind === 'loc') return locGfid(v as Loc);
    if (kind === 'fd') return (v as Fd).inode.gfid;
  }
  return NULL_GFID;
}

/** The gfid a successful reply names: its inode's, or its `buf`/`stbuf`'s. */
function resultsGfid(fields: Fields, values: readonly unknown[]): string | null {
  let fromBuf: string | null = null;
  for (let i = 0; i < fields.length; i++) {
    const [name, kind] = fields[i] as readonly [string, Kind];
    const v = values[i];
    if (v === null || v === undefined) continue;
    if (kind === 'inode') return (v as Inode).gfid;
    if (kind === 'iatt' && fromBuf === null && (name === 'buf' || name === 'stbuf')) fromBuf = (v as Iatt).gfid;
  }
  return fromBuf;
}

/** The fop line of one fop (without the trailing newline). Used by `debug/trace`; exported for tests. */
export function traceFopLine(fop: FopName, unique: number, args: readonly unknown[]): string {
  return `GLUPY TRACE ${fop.toUpperCase()} FOP- ${unique}: ${formatFields(FOPS[fop].args, args, true)}`;
}

/**
 * The callback line of one fop. `gfid` is what the fop line named (used on failure, and on success
 * when the reply names no object).
 */
export function traceCbkLine(fop: FopName, unique: number, gfid: string, opRet: number, opErrno: number, results: readonly unknown[]): string {
  const label = fop.toUpperCase();
  if (opRet < 0) {
    // glupy's lookup failure line has an extra space; grid.md D1 pins it.
    const cbk = fop === 'lookup' ? 'CBK -' : 'CBK-';
    return `GLUPY TRACE ${label} ${cbk} ${unique}: gfid=${gfid}; op_ret=${opRet}; op_errno=${opErrno}`;
  }
  const fields = FOPS[fop].results;
  const rest = formatFields(fields, results, false);
  return `GLUPY TRACE ${label} CBK- ${unique}: gfid=${resultsGfid(fields, results) ?? gfid}; op_ret=${opRet}${rest === '' ? '' : `; ${rest}`}`;
}

/** A line sink over a stream that never holds more than `limit` bytes: past it, lines are dropped and counted. */
class LineSink {
  dropped = 0;
  #unreported = 0;
  #waiting = false;
  constructor(
    readonly stream: Writable,
    readonly limit: number,
    readonly owned: boolean,
  ) {}

  write(line: string): void {
    const s = this.stream;
    if (s.destroyed || s.writableEnded || s.writableLength + this.#pending.length + line.length > this.limit) {
      this.dropped++;
      this.#unreported++;
      if (!this.#waiting && !s.destroyed && !s.writableEnded) {
        this.#waiting = true;
        const report = (): void => {
          this.#waiting = false;
          if (this.#unreported > 0 && !s.destroyed && !s.writableEnded) {
            s.write(`GLUPY TRACE DROPPED ${this.#unreported} lines (log sink too slow)\n`);
            this.#unreported = 0;
          }
        };
        if (s.writableNeedDrain) s.once('drain', report);
        else setImmediate(report);
      }
      return;
    }
    // Memory is bounded by the check above, not by write()'s return value: tracing never blocks a fop.
    // Lines of one event-loop turn go out in one write (a write per line cost more than formatting).
    this.#pending += `${line}\n`;
    if (this.#pending.length >= 65536) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushSoon);
    }
  }

  #pending = '';
  #scheduled = false;
  readonly #flushSoon = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  /** Writes the lines gathered so far. */
  flush(): void {
    if (this.#pending === '') return;
    const text = this.#pending;
    this.#pending = '';
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.write(text);
  }

  close(): Promise<void> {
    this.flush();
    if (!this.owned || this.stream.writableEnded) return Promise.resolve();
    return new Promise((resolve) => {
      this.stream.once('close', () => resolve());
      this.stream.end();
    });
  }
}

interface TraceLocal {
  gfid: string;
}

/**
 * The `debug/trace` translator: one `GLUPY TRACE` line per fop and per reply, for every fop in the
 * table (see the module documentation for the formats and options).
 */
export class Trace extends DebugTranslator {
  static override options = {
    'log-file': { type: 'path', description: 'Append trace lines to this file (default: stderr).' },
    include: { type: 'list', description: 'Trace only these fops (names separated by commas or spaces).' },
    exclude: { type: 'list', description: 'Do not trace these fops.' },
    'log-buffer-size': { type: 'size', default: '1MB', min: 1024, description: 'Most bytes of trace lines waiting for a slow sink; beyond it lines are dropped and counted.' },
  } as const;

  protected readonly volfileType = 'debug/trace';
  #sink: LineSink | undefined;
  #traced = new Set<FopName>();

  /** Lines dropped because the sink fell more than `log-buffer-size` bytes behind. */
  get droppedLines(): number {
    return this.#sink?.dropped ?? 0;
  }

  /** The fops this instance traces. */
  get tracedFops(): ReadonlySet<FopName> {
    return this.#traced;
  }

  override init(): void {
    super.init();
    const file = this.option<string>('log-file');
    const limit = this.option<number>('log-buffer-size') ?? 1024 * 1024;
    if (file === undefined) {
      this.#sink = new LineSink(process.stderr, limit, false);
    } else {
      // Opened synchronously so that a bad path fails init instead of every later write.
      const fd = openSync(file, 'a');
      try {
        this.#sink = new LineSink(createWriteStream('', { fd, highWaterMark: Math.min(limit, 16 * 1024) }), limit, true);
      } catch (err) {
        closeSync(fd);
        throw err;
      }
      this.#sink.stream.on('error', (err) => this.log.warn({ err, file }, 'trace log-file write failed; trace lines are dropped'));
    }
  }

  override async fini(): Promise<void> {
    await this.#sink?.close();
  }

  /** Applies `include`/`exclude`: the hooks of fops not traced are switched off. */
  protected override configure(): void {
    const include = this.option<readonly string[]>('include');
    const exclude = parseFopList(this.name, 'exclude', this.option<readonly string[]>('exclude') ?? []);
    const traced = include === undefined || include.length === 0 ? new Set(FOP_NAMES) : parseFopList(this.name, 'include', include);
    for (const f of exclude) traced.delete(f);
    this.#traced = traced;
    for (const f of FOP_NAMES) setHooks(this, f, traced.has(f));
  }

  /** @internal */
  _emit(line: string): void {
    this.#sink?.write(line);
  }
}

// One fop hook and one callback per fop, made from the table.
defineFopHooks<Trace, TraceLocal>(Trace, (fop, opIndex) => {
  const args = FOPS[fop].args;
  return {
    fop(frame, a, b, c, d, e, f) {
      const values = [a, b, c, d, e, f];
      frame.local = { gfid: argsGfid(args, values) };
      this._emit(traceFopLine(fop, frame.root.unique, values));
      const child = this.children[0] as Translator;
      wind(child, opIndex, frame, child, a, b, c, d, e, f);
    },
    cbk(frame, _cookie, opRet, opErrno, a, b, c, d, e, f) {
      this._emit(traceCbkLine(fop, frame.root.unique, frame.local?.gfid ?? NULL_GFID, opRet, opErrno, [a, b, c, d, e, f]));
      unwind(frame, opRet, opErrno, a, b, c, d, e, f);
    },
  };
});

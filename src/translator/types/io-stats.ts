/**
 * `debug/io-stats`: per-fop counts and latency of everything below this translator, measured from
 * the fop's arrival to its reply (GlusterFS's io-stats, per translator).
 *
 * Options:
 * - `latency-measurement` (bool, default on): time every fop;
 * - `count-fop-hits` (bool, default on): count fops and errors. With both off the translator is
 *   switched off (every fop is resolved past it);
 * - `ios-dump-interval` (seconds, default 0 = off): every interval, write one JSON line
 *   `{"translator":..., "time":..., "stats":{...}}` to `log-file` (appended), or to the graph's
 *   logger at `info` when no file is set.
 *
 * Percentiles come from a bounded log-linear histogram (8 buckets per power of two: within 12.5%,
 * exact below 16 µs); they report the bucket's upper bound, clamped to the observed min and max.
 * Memory per fop is fixed (232 counters), whatever the traffic.
 * @module
 */
import { appendFile } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { clock } from '../../util/timers.ts';
import { FOP_NAMES, type FopName } from '../fops.ts';
import { unwind, wind, type Translator } from '../translator.ts';
import { DebugTranslator, defineFopHooks, setHooks } from './debug-util.ts';

/** One fop's figures, latencies in microseconds (0 when latency measurement is off or nothing was timed). */
export interface FopStats {
  count: number;
  errors: number;
  minUs: number;
  maxUs: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
}

const BUCKETS = 232;
const MAX_US = 2 ** 31 - 1;

function bucketOf(us: number): number {
  const v = Math.min(MAX_US, Math.max(0, Math.round(us)));
  if (v < 16) return v;
  const e = 31 - Math.clz32(v);
  return 16 + (e - 4) * 8 + ((v >>> (e - 3)) & 7);
}

function bucketHigh(b: number): number {
  if (b < 16) return b;
  const e = ((b - 16) >> 3) + 4;
  return ((8 + ((b - 16) & 7) + 1) * 2 ** (e - 3)) - 1;
}

class FopCounter {
  count = 0;
  errors = 0;
  timed = 0;
  sumUs = 0;
  minUs = Infinity;
  maxUs = 0;
  histogram: Uint32Array | null = null;

  record(failed: boolean, us: number | null): void {
    this.count++;
    if (failed) this.errors++;
    if (us === null) return;
    this.timed++;
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
    const h = (this.histogram ??= new Uint32Array(BUCKETS));
    const b = bucketOf(us);
    h[b] = (h[b] ?? 0) + 1;
  }

  percentile(p: number): number {
    const h = this.histogram;
    if (h === null || this.timed === 0) return 0;
    const target = Math.ceil(p * this.timed);
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += h[b] ?? 0;
      if (seen >= target) return Math.round(Math.min(this.maxUs, Math.max(this.minUs, bucketHigh(b))));
    }
    return Math.round(this.maxUs);
  }

  snapshot(): FopStats {
    const timed = this.timed > 0;
    return {
      count: this.count,
      errors: this.errors,
      minUs: timed ? Math.round(this.minUs) : 0,
      maxUs: timed ? Math.round(this.maxUs) : 0,
      meanUs: timed ? Math.round(this.sumUs / this.timed) : 0,
      p50Us: this.percentile(0.5),
      p90Us: this.percentile(0.9),
      p99Us: this.percentile(0.99),
    };
  }
}

/** The `debug/io-stats` translator (see the module documentation for its options). */
export class IoStats extends DebugTranslator {
  static override options = {
    'latency-measurement': { type: 'bool', default: 'on', description: 'Measure the latency of every fop.' },
    'count-fop-hits': { type: 'bool', default: 'on', description: 'Count fops and errors.' },
    'ios-dump-interval': { type: 'time', default: '0', min: 0, description: 'Seconds between JSON dumps of the statistics (0 = off).' },
    'log-file': { type: 'path', description: 'Append the periodic dumps to this file (default: the logger).' },
  } as const;

  protected readonly volfileType = 'debug/io-stats';
  #counters: (FopCounter | undefined)[] = new Array<FopCounter | undefined>(FOP_NAMES.length);
  #latency = true;
  #dumpTimer: NodeJS.Timeout | undefined;
  #writing = false;

  override fini(): void {
    if (this.#dumpTimer !== undefined) clock.clearTimeout(this.#dumpTimer);
    this.#dumpTimer = undefined;
  }

  protected override configure(): void {
    this.#latency = this.option<boolean>('latency-measurement') !== false;
    const active = this.#latency || this.option<boolean>('count-fop-hits') !== false;
    for (const f of FOP_NAMES) setHooks(this, f, active);
    if (this.#dumpTimer !== undefined) clock.clearTimeout(this.#dumpTimer);
    this.#dumpTimer = undefined;
    const seconds = this.option<number>('ios-dump-interval') ?? 0;
    if (seconds > 0) this.scheduleDump(seconds * 1000);
  }

  private scheduleDump(ms: number): void {
    this.#dumpTimer = clock.setTimeout(() => {
      this.dump();
      this.scheduleDump(ms);
    }, ms);
    this.#dumpTimer.unref();
  }

  private dump(): void {
    const line = JSON.stringify({ translator: this.name, time: new Date().toISOString(), stats: this.stats() });
    const file = this.option<string>('log-file');
    if (file === undefined) {
      this.log.info({ stats: JSON.parse(line) as unknown }, 'io-stats');
      return;
    }
    // One write at a time: a dump that finds the previous one still pending is skipped, not queued.
    if (this.#writing) return;
    this.#writing = true;
    appendFile(file, `${line}\n`, (err) => {
      this.#writing = false;
      if (err) this.log.warn({ err, file }, 'io-stats dump failed');
    });
  }

  /** Per-fop figures since the start or the last {@link reset}; fops never seen are left out. */
  stats(): Record<string, FopStats> {
    const out: Record<string, FopStats> = {};
    for (let i = 0; i < FOP_NAMES.length; i++) {
      const c = this.#counters[i];
      if (c !== undefined && c.count > 0) out[FOP_NAMES[i] as FopName] = c.snapshot();
    }
    return out;
  }

  /** Forgets every figure. */
  reset(): void {
    this.#counters = new Array<FopCounter | undefined>(FOP_NAMES.length);
  }

  /** @internal */
  get _timing(): boolean {
    return this.#latency;
  }

  /** @internal */
  _record(opIndex: number, failed: boolean, us: number | null): void {
    (this.#counters[opIndex] ??= new FopCounter()).record(failed, us);
  }
}

interface IoLocal {
  start: number;
}

defineFopHooks<IoStats, IoLocal>(IoStats, (_fop, opIndex) => ({
  fop(frame, a, b, c, d, e, f) {
    if (this._timing) frame.local = { start: performance.now() };
    const child = this.children[0] as Translator;
    wind(child, opIndex, frame, child, a, b, c, d, e, f);
  },
  cbk(frame, _cookie, opRet, opErrno, a, b, c, d, e, f) {
    const start = frame.local?.start;
    this._record(opIndex, opRet < 0, start === undefined ? null : (performance.now() - start) * 1000);
    unwind(frame, opRet, opErrno, a, b, c, d, e, f);
  },
}));

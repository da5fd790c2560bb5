/**
 * Parsers for attr values (booleans, sizes, ports, port ranges), shared by the built-in managers
 * and transport's socket options. Each throws {@link AttrValueError} naming the attr and the form
 * it expected.
 * @module
 */
import { AttrValueError } from '../errors.ts';

const TRUE_WORDS = new Set(['yes', 'y', 'true', 't', 'on']);
const FALSE_WORDS = new Set(['no', 'n', 'false', 'f', 'off']);

/**
 * A boolean attr, as GCT's XIO string options read them: `yes`/`y`/`true`/`t`/`on` and
 * `no`/`n`/`false`/`f`/`off` (any case), or an integer (0 is false, anything else true).
 */
export function parseBoolValue(scope: string, name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (TRUE_WORDS.has(v)) return true;
  if (FALSE_WORDS.has(v)) return false;
  if (/^[+-]?\d+$/.test(v)) return Number(v) !== 0;
  throw new AttrValueError(scope, name, value, 'a boolean (true/false, yes/no, on/off, 1/0)');
}

/** An integer attr in `[min, max]`. */
export function parseIntValue(scope: string, name: string, value: string, min: number, max: number): number {
  const v = value.trim();
  const n = /^[+-]?\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new AttrValueError(scope, name, value, `an integer from ${min} to ${max}`);
  }
  return n;
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
/** Largest byte count a size attr may have (what `setsockopt` takes: a C int). */
export const MAX_SIZE_VALUE = 2 ** 31 - 1;

/**
 * A byte count: digits with an optional `K`, `M` or `G` (binary multiples: `64K` is 65536), from 1
 * to 2^31-1. GCT's lowercase `k`/`m`/`g` (which it reads as kilo*bits*) are refused rather than
 * silently read a different way.
 */
export function parseSizeValue(scope: string, name: string, value: string): number {
  const m = /^(\d+)([KMG]?)$/.exec(value.trim());
  const n = m ? Number(m[1]) * SIZE_UNITS[m[2] ?? '']! : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_SIZE_VALUE) {
    throw new AttrValueError(scope, name, value, `a byte count from 1 to ${MAX_SIZE_VALUE}, such as 65536, 64K or 4M`);
  }
  return n;
}

/** A TCP port, `0` allowed only when `allowZero` ("any port"). */
export function parsePortValue(scope: string, name: string, value: string, allowZero = true): number {
  const v = value.trim();
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  const min = allowZero ? 0 : 1;
  if (!Number.isInteger(n) || n < min || n > 65535) {
    throw new AttrValueError(scope, name, value, `a port number from ${min} to 65535`);
  }
  return n;
}

/** An inclusive port range. */
export interface PortRange {
  readonly min: number;
  readonly max: number;
}

/**
 * A port range `lo-hi` (Switchyard's form), or `lo hi` / `lo,hi` (GCT's tcp `listen_range` form),
 * with 1 <= lo <= hi <= 65535.
 */
export function parsePortRangeValue(scope: string, name: string, value: string): PortRange {
  const m = /^\s*(\d{1,5})\s*(?:-|,|\s)\s*(\d{1,5})\s*$/.exec(value);
  const min = m ? Number(m[1]) : Number.NaN;
  const max = m ? Number(m[2]) : Number.NaN;
  if (!(min >= 1 && max <= 65535 && min <= max)) {
    throw new AttrValueError(scope, name, value, 'a port range lo-hi with 1 <= lo <= hi <= 65535, such as 50000-51000');
  }
  return { min, max };
}

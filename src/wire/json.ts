/**
 * JSON as Python's `json` module writes and reads it, so that Python msl-network peers see exactly
 * the bytes they expect:
 *
 * - {@link parseJson} accepts `NaN`, `Infinity` and `-Infinity` (Python writes them) and keeps
 *   integers beyond 2^53 exact as `bigint` (Python ints are unbounded).
 * - {@link toPythonJson} writes Python's default `json.dumps` layout (`", "` and `": "`
 *   separators, non-ASCII as raw UTF-8), `NaN`/`Infinity` literals and exact big integers.
 *
 * Values JSON cannot carry are written as documented in docs/dialects.md: bytes (`Uint8Array`,
 * `Buffer`) as a base64 string, other typed arrays as arrays of numbers, `Map` as an object,
 * `Set` as an array, `Date` as an ISO-8601 string, `undefined` as `null`.
 * @module
 */
import { EncodeError, ProtocolError } from '../errors.ts';

/** Deepest nesting accepted when parsing or writing (guards the stack). */
export const MAX_JSON_DEPTH = 512;

const LONG_DIGITS = /\d{16}/;

/**
 * Parses one JSON document. Rejects with {@link ProtocolError} (message in Python's words where
 * possible) when the text is not JSON.
 */
export function parseJson(text: string): unknown {
  // Fast path: standard JSON without integers that could lose precision.
  if (!LONG_DIGITS.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // fall through: may contain NaN/Infinity
    }
  }
  return new TolerantParser(text).parseDocument();
}

class TolerantParser {
  private i = 0;
  private depth = 0;
  constructor(private readonly s: string) {}

  parseDocument(): unknown {
    this.ws();
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) this.fail('Extra data');
    return v;
  }

  private fail(what: string): never {
    // Python's json: "<what>: line L column C (char N)".
    const before = this.s.slice(0, this.i);
    const line = before.split('\n').length;
    const col = this.i - before.lastIndexOf('\n');
    throw new ProtocolError(`${what}: line ${line} column ${col} (char ${this.i})`);
  }

  private ws(): void {
    const s = this.s;
    let i = this.i;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
    this.i = i;
  }

  private value(): unknown {
    const c = this.s[this.i];
    switch (c) {
      case '{':
        return this.object();
      case '[':
        return this.array();
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      case 'N':
        return this.literal('NaN', Number.NaN);
      case 'I':
        return this.literal('Infinity', Number.POSITIVE_INFINITY);
      default:
        if (c === '-' && this.s.startsWith('-Infinity', this.i)) {
          this.i += 9;
          return Number.NEGATIVE_INFINITY;
        }
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.fail('Expecting value');
    }
  }

  private literal<T>(word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) this.fail('Expecting value');
    this.i += word.length;
    return v;
  }

  private number(): number | bigint {
    const m = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    m.lastIndex = this.i;
    const r = m.exec(this.s);
    if (!r) return this.fail('Expecting value');
    this.i += r[0].length;
    if (r[1] === undefined && r[2] === undefined) {
      const n = Number(r[0]);
      // Exact as a number (e.g. -2**53) stays a number; anything that would lose digits is a bigint.
      if (!Number.isSafeInteger(n) && String(n) !== r[0]) return BigInt(r[0]);
      return n;
    }
    return Number(r[0]);
  }

  private string(): string {
    // Find the closing quote, then let JSON.parse decode escapes (fast and exact).
    const s = this.s;
    let j = this.i + 1;
    for (;;) {
      const k = s.indexOf('"', j);
      if (k < 0) this.fail('Unterminated string starting at');
      let bs = 0;
      for (let b = k - 1; b > this.i && s.charCodeAt(b) === 0x5c; b--) bs++;
      if (bs % 2 === 0) {
        const raw = s.slice(this.i, k + 1);
        this.i = k + 1;
        try {
          return JSON.parse(raw) as string;
        } catch {
          return this.fail('Invalid string');
        }
      }
      j = k + 1;
    }
  }

  private enter(): void {
    if (++this.depth > MAX_JSON_DEPTH) this.fail(`Nesting deeper than ${MAX_JSON_DEPTH}`);
  }

  private array(): unknown[] {
    this.enter();
    this.i++;
    const out: unknown[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      this.depth--;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value());
      this.ws();
      const c = this.s[this.i];
      if (c !== ']' && c !== ',') this.fail("Expecting ',' delimiter");
      this.i++;
      if (c === ']') break;
    }
    this.depth--;
    return out;
  }

  private object(): Record<string, unknown> {
    this.enter();
    this.i++;
    const out: Record<string, unknown> = {};
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      this.depth--;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('Expecting property name enclosed in double quotes');
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail("Expecting ':' delimiter");
      this.i++;
      this.ws();
      const v = this.value();
      if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      else out[key] = v;
      this.ws();
      const c = this.s[this.i];
      if (c !== '}' && c !== ',') this.fail("Expecting ',' delimiter");
      this.i++;
      if (c === '}') break;
    }
    this.depth--;
    return out;
  }
}

function formatNumber(n: number): string {
  if (n === 0 && 1 / n < 0) return '-0.0'; // as Python writes it; String(-0) is "0"
  if (Number.isFinite(n)) return String(n);
  if (Number.isNaN(n)) return 'NaN';
  return n > 0 ? 'Infinity' : '-Infinity';
}

/**
 * Writes `value` as Python's `json.dumps(value, ensure_ascii=False)` would. Throws
 * {@link EncodeError} (naming the path) for functions, symbols and nesting beyond
 * {@link MAX_JSON_DEPTH}. Objects with a `toJSON()` method are written through it.
 */
export function toPythonJson(value: unknown): string {
  return write(value, '$', 0);
}

function write(v: unknown, path: string, depth: number): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return formatNumber(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'undefined':
      return 'null';
    case 'function':
    case 'symbol':
      throw new EncodeError(path, `Cannot send a ${typeof v} as JSON (at ${path})`);
    default:
      break;
  }
  if (v === null) return 'null';
  if (depth >= MAX_JSON_DEPTH) throw new EncodeError(path, `Value nested deeper than ${MAX_JSON_DEPTH} levels (at ${path}); is it circular?`);
  const d = depth + 1;
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i ? ', ' : '') + write(v[i], `${path}[${i}]`, d);
    return out + ']';
  }
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'));
  if (ArrayBuffer.isView(v)) {
    const arr = Array.from(v as unknown as ArrayLike<number | bigint>);
    return write(arr, path, depth);
  }
  if (v instanceof Date) return JSON.stringify(Number.isNaN(v.getTime()) ? null : v.toISOString());
  if (v instanceof Map) {
    let out = '{';
    let first = true;
    for (const [k, val] of v) {
      out += (first ? '' : ', ') + JSON.stringify(String(k)) + ': ' + write(val, `${path}[${JSON.stringify(String(k))}]`, d);
      first = false;
    }
    return out + '}';
  }
  if (v instanceof Set) return write([...v], path, depth);
  const obj = v as Record<string, unknown>;
  if (typeof obj['toJSON'] === 'function') return write((obj['toJSON'] as () => unknown)(), path, d);
  let out = '{';
  let first = true;
  for (const k in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, k)) continue;
    out += (first ? '' : ', ') + JSON.stringify(k) + ': ' + write(obj[k], `${path}.${k}`, d);
    first = false;
  }
  return out + '}';
}

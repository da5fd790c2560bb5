/**
 * Terminal (non-JSON) input, read the way msl-network's `utils.parse_terminal_input` reads it, so a
 * person at `openssl s_client` or telnet can type `client Me`, `link Adder` or
 * `"String Editor" concat s1="a b" x=1` instead of JSON (reference §2.9).
 *
 * The grammar follows msl-network 1.x exactly, quirks included: `client…` and `link…` are prefix
 * matches (`clients` identifies a client, `linked` links to `ed`), `'` is read as `"` everywhere in a
 * request line (but not in `client`/`link` lines), and values go through a port of Python's
 * `ast.literal_eval` for the subset a terminal token can hold.
 *
 * Where this module knowingly differs from msl-network:
 * - Positional arguments are the tokens before the first `key=value` *match*. msl-network takes
 *   the text before the first *occurrence of the key's text*, so `Svc m "box" x=1` gives it the
 *   argument `"bo"`; here it gives `"box"`.
 * - A value whose Python result cannot be sent as JSON (a complex number, a set, `...`, a dict with
 *   a tuple key, a `0x…` integer of more than 4300 decimal digits) is kept as the typed text.
 *   msl-network evaluates it and then fails to forward it.
 * - A quoted value that contains a `\N{name}` escape is kept as the typed text: resolving Unicode
 *   character names would need the Unicode name table, which is not worth a dependency.
 * - Lines longer than {@link MAX_TERMINAL_LINE_LENGTH} are refused with a `ProtocolError`;
 *   msl-network has no limit.
 * Decimal integers are limited to 4300 digits as in Python 3.11+ (longer ones stay text; older
 * Pythons had no limit), and
 * brackets nest at most 200 deep as in CPython's tokenizer (deeper values stay text).
 * @module
 */
import { ProtocolError } from '../errors.ts';

/** A request parsed from a terminal line, in msl-network's shapes. */
export type TerminalInput =
  /** `identity`: the Manager's identity (msl-network: a `Manager.identity` request). */
  | { kind: 'identity' }
  /** `client` or `client My Name`: the identity reply of a terminal user; the name defaults to `"Client"`. */
  | { kind: 'client'; name: string }
  /** `link <service>`: link to a service (double quotes are removed from the name). */
  | { kind: 'link'; service: string }
  /** `disconnect`, `exit` or `__disconnect__`. */
  | { kind: 'disconnect' }
  /**
   * `<service> <attribute> [args…] [k=v…]`. `service === 'Manager'` is a request for the Manager
   * itself (an admin request unless it is a built-in).
   */
  | { kind: 'request'; service: string; attribute: string; args: unknown[]; kwargs: Record<string, unknown> };

/**
 * The longest line, in UTF-16 code units, that {@link parseTerminalInput} accepts. Terminal input is
 * typed by hand; a program should send JSON.
 */
export const MAX_TERMINAL_LINE_LENGTH = 1_048_576;

/**
 * Parses one line of terminal input (with or without its trailing `\r\n`).
 *
 * Returns `undefined` when the text is not terminal syntax: it is blank, or it names no command and
 * does not hold both a service and an attribute (`hello`, `"hello world"`, `"" hello`); msl-network
 * then reports the JSON decode error. Values become `number` (or `bigint`
 * beyond `Number.MAX_SAFE_INTEGER`), `string`, `boolean`, `null`, arrays (for lists and tuples) and
 * plain objects (for dicts, with keys written as Python's `json` writes them); a value that is not a
 * Python literal is kept as the typed text. Every request has `args` and `kwargs`, possibly empty.
 *
 * @throws {ProtocolError} when `line` is longer than {@link MAX_TERMINAL_LINE_LENGTH}.
 * @example
 * parseTerminalInput('"String Editor" concat s1="a b" x=[1,2]');
 * // → { kind: 'request', service: 'String Editor', attribute: 'concat', args: [],
 * //     kwargs: { s1: 'a b', x: [1, 2] } }
 */
export function parseTerminalInput(line: string): TerminalInput | undefined {
  if (line.length > MAX_TERMINAL_LINE_LENGTH) {
    throw new ProtocolError(
      `A terminal line of ${line.length} characters exceeds the limit of ${MAX_TERMINAL_LINE_LENGTH}; ` +
        'send the request as JSON instead',
    );
  }
  const text = pyStrip(line);
  // Python's str.lower() and toLowerCase() agree on everything that can lower to these ASCII words
  // (only A-Z and the Kelvin sign lower to ASCII letters), so the comparisons below are exact.
  const lower = text.toLowerCase();
  if (lower === 'identity') return { kind: 'identity' };
  if (lower.startsWith('client')) {
    const words = pySplit(text, Infinity);
    const name = words.length === 1 ? 'Client' : words.slice(1).join(' ');
    return { kind: 'client', name: name.replaceAll('"', '') };
  }
  if (lower === '__disconnect__' || lower === 'disconnect' || lower === 'exit') return { kind: 'disconnect' };
  if (lower.startsWith('link')) {
    // The four characters that lowered to "link" are each one BMP code unit, so slice(4) is exact.
    return { kind: 'link', service: pyStrip(text.slice(4)).replaceAll('"', '') };
  }
  return parseRequest(text);
}

// ---------------------------------------------------------------------------------------------
// Request lines

/** Python's whitespace (`str.isspace`, and `\s` in a str pattern), as a character-class body. */
const WS = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Python's `\w` in a str pattern. */
const WORD = '\\p{L}\\p{N}_';
/**
 * One value token: a run without whitespace or `"`, or a `"…"` string. msl-network's pattern also
 * has a leading `\s*`, which changes no match but makes a long blank run quadratic.
 */
const ARG_RE = new RegExp(`[^"${WS}]+|"[^"]*"`, 'gu');
/**
 * `key = value`. The look-behind only skips starts inside a word, where msl-network's pattern
 * cannot match either (the greedy key would end at the same place); it keeps the scan linear.
 */
const KWARG_RE = new RegExp(`(?<![${WORD}])([${WORD}]+)[${WS}]*=[${WS}]*([^"${WS}]+|"[^"]*")`, 'gu');

function parseRequest(text: string): TerminalInput | undefined {
  const s = text.replaceAll("'", '"');
  let items: string[];
  if (s.startsWith('"')) {
    // A quoted service name: the text between the first two quotes, then the attribute and the rest.
    items = splitOnQuote(s).map(pyStrip).filter((x) => x !== '');
    const first = items[0];
    const second = items[1];
    if (first !== undefined && second !== undefined) items = [first, ...pySplit(second, 1)];
  } else {
    items = pySplit(s, 2);
  }
  const [service, attribute, rest] = items;
  if (service === undefined || attribute === undefined) return undefined;
  const request = {
    kind: 'request' as const,
    service: service.replaceAll('"', ''),
    attribute: attribute.replaceAll('"', ''),
    args: [] as unknown[],
    kwargs: {} as Record<string, unknown>,
  };
  if (rest === undefined) return request;
  let argsEnd: number | undefined;
  for (const m of rest.matchAll(KWARG_RE)) {
    argsEnd ??= m.index;
    setOwn(request.kwargs, m[1] as string, convertValue(m[2] as string));
  }
  for (const m of rest.slice(0, argsEnd).matchAll(ARG_RE)) request.args.push(convertValue(m[0]));
  return request;
}

/** msl-network's value rule: true/false/null/none in any case, else `ast.literal_eval`, else the text. */
function convertValue(token: string): unknown {
  const lower = token.toLowerCase();
  if (lower === 'false') return false;
  if (lower === 'true') return true;
  if (lower === 'null' || lower === 'none') return null;
  const value = literalEval(token);
  return value === NOT_A_LITERAL ? token : value;
}

/** Python's `s.split('"', maxsplit=2)`. */
function splitOnQuote(s: string): string[] {
  const a = s.indexOf('"');
  if (a < 0) return [s];
  const b = s.indexOf('"', a + 1);
  if (b < 0) return [s.slice(0, a), s.slice(a + 1)];
  return [s.slice(0, a), s.slice(a + 1, b), s.slice(b + 1)];
}

/** {@link WS} as a lookup table over the code units it can contain (all are at most U+3000). */
const WS_TABLE = ((): Uint8Array => {
  const re = new RegExp(`[${WS}]`);
  const table = new Uint8Array(0x3001);
  for (let c = 0; c < table.length; c++) table[c] = re.test(String.fromCharCode(c)) ? 1 : 0;
  return table;
})();

function isWs(s: string, i: number): boolean {
  return WS_TABLE[s.charCodeAt(i)] === 1;
}

/** Python's `str.strip()`. */
function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isWs(s, a)) a++;
  while (b > a && isWs(s, b - 1)) b--;
  return s.slice(a, b);
}

/** Python's `str.split(None, maxsplit)`: words, then the rest (leading blanks dropped) as the last item. */
function pySplit(s: string, maxsplit: number): string[] {
  const out: string[] = [];
  let i = 0;
  const n = s.length;
  while (out.length < maxsplit) {
    while (i < n && isWs(s, i)) i++;
    if (i === n) return out;
    const start = i;
    while (i < n && !isWs(s, i)) i++;
    out.push(s.slice(start, i));
  }
  while (i < n && isWs(s, i)) i++;
  if (i < n) out.push(s.slice(i));
  return out;
}

/** Defines an own enumerable property, so that keys such as `__proto__` stay ordinary keys. */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------
// ast.literal_eval for terminal tokens
//
// A token is either "…" (no inner quote: one Python string literal) or a run with no whitespace
// and no quote, so string literals never occur inside containers and no whitespace needs skipping.
// The parser follows literal_eval on such text and keeps only what Python's json module can write
// (sets and `...` are refused as soon as they are seen); anything else is NOT_A_LITERAL.

const NOT_A_LITERAL: unique symbol = Symbol('not a literal');

/** CPython's tokenizer refuses a 201st open bracket ("too many nested parentheses"). */
const MAX_NESTING = 200;
/** Python 3.11+ refuses to convert a decimal integer of more digits (`sys.int_info.default_max_str_digits`). */
const MAX_INT_DIGITS = 4300;

/** A Python value, with the distinctions that dict keys need (int vs float, True vs 1). */
type Py =
  | { readonly t: 'int'; readonly v: bigint }
  | { readonly t: 'float'; readonly v: number }
  | { readonly t: 'complex'; readonly re: number; readonly im: number }
  | { readonly t: 'const'; readonly v: boolean | null }
  /** A list or a tuple: both become arrays. */
  | { readonly t: 'seq'; readonly items: readonly Py[] }
  | { readonly t: 'dict'; readonly keys: readonly Py[]; readonly values: readonly Py[] };

/**
 * How literal_eval sees an expression: a bare number constant (parentheses are transparent), a
 * sign applied to one, or anything else. Only `num`/`signed` may be signed or added to `1j`.
 */
interface Expr {
  readonly py: Py;
  readonly form: 'num' | 'signed' | 'other';
}

// Lone surrogates cannot be encoded as UTF-8 source; NUL is refused by Python's compiler.
const UNCOMPILABLE = /[\0\p{Cs}]/u;

function literalEval(token: string): unknown {
  if (UNCOMPILABLE.test(token)) return NOT_A_LITERAL;
  if (token.startsWith('"')) {
    return token.length >= 2 && token.endsWith('"') ? decodeString(token.slice(1, -1)) : NOT_A_LITERAL;
  }
  const node = new ExpressionParser(token).parse();
  return node === undefined ? NOT_A_LITERAL : toWire(node.py);
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
};
const HEX = /^[0-9a-fA-F]+$/;

/** The body of a "…" Python string literal, or NOT_A_LITERAL. */
function decodeString(body: string): string | typeof NOT_A_LITERAL {
  // Python reads source with universal newlines.
  const s = body.replace(/\r\n?/g, '\n');
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === '\n') return NOT_A_LITERAL; // unterminated string literal
    if (c !== '\\') {
      const next = s.indexOf('\\', i);
      const stop = s.indexOf('\n', i);
      const end = Math.min(next < 0 ? s.length : next, stop < 0 ? s.length : stop);
      out += s.slice(i, end);
      i = end;
      continue;
    }
    const e = s[i + 1];
    if (e === undefined) return NOT_A_LITERAL; // the backslash escapes the closing quote
    i += 2;
    if (e === '\n') continue; // line continuation
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
    } else if (e >= '0' && e <= '7') {
      let j = i;
      while (j < s.length && j < i + 2 && (s[j] as string) >= '0' && (s[j] as string) <= '7') j++;
      out += String.fromCharCode(parseInt(s.slice(i - 1, j), 8));
      i = j;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const digits = s.slice(i, i + len);
      if (digits.length !== len || !HEX.test(digits)) return NOT_A_LITERAL;
      const cp = parseInt(digits, 16);
      if (cp > 0x10ffff) return NOT_A_LITERAL;
      out += cp > 0xffff ? String.fromCodePoint(cp) : String.fromCharCode(cp);
      i += len;
    } else if (e === 'N') {
      return NOT_A_LITERAL; // \N{name}: not supported (see the module notes)
    } else {
      out += '\\' + e; // an unknown escape keeps its backslash (Python only warns)
    }
  }
  return out;
}

const DIGITPART = '[0-9](?:_?[0-9])*';
const POINTFLOAT = `(?:${DIGITPART})?\\.${DIGITPART}|${DIGITPART}\\.`;
const FLOAT = `(?:${POINTFLOAT})(?:[eE][+-]?${DIGITPART})?|${DIGITPART}[eE][+-]?${DIGITPART}`;
const IMAG_RE = new RegExp(`(?:${FLOAT}|${DIGITPART})[jJ]`, 'y');
const FLOAT_RE = new RegExp(FLOAT, 'y');
const RADIX_RE = /0(?:[xX](?:_?[0-9a-fA-F])+|[oO](?:_?[0-7])+|[bB](?:_?[01])+)/y;
const DECIMAL_RE = /[1-9](?:_?[0-9])*|0(?:_?0)*/y;
/** A character that would continue a number or name into an invalid literal or an identifier. */
const CONTINUES = /[0-9A-Za-z_\u0080-\uffff]/;

class ExpressionParser {
  private i = 0;
  private depth = 0;

  constructor(private readonly s: string) {}

  /** The whole token as one expression (a bare `a,b` is a tuple), or undefined. */
  parse(): Expr | undefined {
    const node = this.sequence(undefined);
    if (node === undefined) return undefined;
    if (this.s[this.i] === '#') this.i = this.s.length; // a comment runs to the end of the token
    return this.i === this.s.length ? node : undefined;
  }

  /** `expr` or `expr, expr…[,]` (a tuple), ended by `close` or, at top level, by the end or a comment. */
  private sequence(close: string | undefined): Expr | undefined {
    const first = this.expression();
    if (first === undefined || this.s[this.i] !== ',') return first;
    const items: Py[] = [first.py];
    while (this.s[this.i] === ',') {
      this.i++;
      const c = this.s[this.i];
      if (c === close || (close === undefined && (c === undefined || c === '#'))) break;
      const next = this.expression();
      if (next === undefined) return undefined;
      items.push(next.py);
    }
    return { py: { t: 'seq', items }, form: 'other' };
  }

  /** A signed number, optionally plus or minus an imaginary constant (`-1+2j`), or a primary. */
  private expression(): Expr | undefined {
    const left = this.unary();
    const op = this.s[this.i];
    if (left === undefined || (op !== '+' && op !== '-')) return left;
    this.i++;
    const right = this.primary();
    if (right === undefined || right.form !== 'num' || right.py.t !== 'complex') return undefined;
    if (left.form === 'other' || (left.py.t !== 'int' && left.py.t !== 'float')) return undefined;
    const re = left.py.t === 'int' ? Number(left.py.v) : left.py.v;
    if (!Number.isFinite(re) && left.py.t === 'int') return undefined; // int too large to convert to float
    const sign = op === '+' ? 1 : -1;
    return { py: { t: 'complex', re: re + sign * right.py.re, im: sign * right.py.im }, form: 'other' };
  }

  private unary(): Expr | undefined {
    const op = this.s[this.i];
    if (op !== '+' && op !== '-') return this.primary();
    this.i++;
    const operand = this.primary();
    if (operand === undefined || operand.form !== 'num') return undefined;
    if (op === '+') return { py: operand.py, form: 'signed' };
    const py = operand.py;
    const negated: Py =
      py.t === 'int' ? { t: 'int', v: -py.v }
      : py.t === 'float' ? { t: 'float', v: -py.v }
      : py.t === 'complex' ? { t: 'complex', re: -py.re, im: -py.im }
      : py;
    return { py: negated, form: 'signed' };
  }

  private primary(): Expr | undefined {
    const c = this.s[this.i];
    if (c === undefined) return undefined;
    if ((c >= '0' && c <= '9') || (c === '.' && /[0-9]/.test(this.s[this.i + 1] ?? ''))) return this.number();
    if (c === '(' || c === '[' || c === '{') {
      if (this.depth === MAX_NESTING) return undefined;
      this.depth++;
      this.i++;
      const node = c === '(' ? this.parenthesised() : c === '[' ? this.list() : this.dict();
      this.depth--;
      return node;
    }
    if (/[A-Za-z_]/.test(c)) {
      const start = this.i;
      while (this.i < this.s.length && /[0-9A-Za-z_]/.test(this.s[this.i] as string)) this.i++;
      if (CONTINUES.test(this.s[this.i] ?? '')) return undefined; // a non-ASCII identifier: a name
      const name = this.s.slice(start, this.i);
      if (name === 'True' || name === 'False') return { py: { t: 'const', v: name === 'True' }, form: 'other' };
      if (name === 'None') return { py: { t: 'const', v: null }, form: 'other' };
      return undefined; // any other name, including set(), whose result JSON cannot carry
    }
    return undefined; // includes `...` (Ellipsis), which JSON cannot carry either
  }

  private parenthesised(): Expr | undefined {
    if (this.s[this.i] === ')') {
      this.i++;
      return { py: { t: 'seq', items: [] }, form: 'other' };
    }
    const node = this.sequence(')');
    if (node === undefined || this.s[this.i] !== ')') return undefined;
    this.i++;
    return node;
  }

  private list(): Expr | undefined {
    const items: Py[] = [];
    while (this.s[this.i] !== ']') {
      const item = this.expression();
      if (item === undefined) return undefined;
      items.push(item.py);
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== ']') return undefined;
    }
    this.i++;
    return { py: { t: 'seq', items }, form: 'other' };
  }

  private dict(): Expr | undefined {
    const keys: Py[] = [];
    const values: Py[] = [];
    while (this.s[this.i] !== '}') {
      const key = this.expression();
      // Without a colon this is a set, which JSON cannot carry.
      if (key === undefined || this.s[this.i] !== ':') return undefined;
      this.i++;
      const value = this.expression();
      if (value === undefined) return undefined;
      keys.push(key.py);
      values.push(value.py);
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== '}') return undefined;
    }
    this.i++;
    return { py: { t: 'dict', keys, values }, form: 'other' };
  }

  private number(): Expr | undefined {
    const py = this.numberValue();
    if (py === undefined || CONTINUES.test(this.s[this.i] ?? '')) return undefined;
    return { py, form: 'num' };
  }

  private numberValue(): Py | undefined {
    const text = this.match(IMAG_RE);
    if (text !== undefined) return { t: 'complex', re: 0, im: Number(text.slice(0, -1).replaceAll('_', '')) };
    const float = this.match(FLOAT_RE);
    if (float !== undefined) return { t: 'float', v: Number(float.replaceAll('_', '')) };
    const radix = this.match(RADIX_RE);
    if (radix !== undefined) return radixInt(radix.replaceAll('_', '').toLowerCase());
    const decimal = this.match(DECIMAL_RE);
    if (decimal === undefined) return undefined;
    const digits = decimal.replaceAll('_', '');
    // An all-zero literal fits a C long, so CPython never applies the digit limit to it.
    if (digits.length > MAX_INT_DIGITS && digits[0] !== '0') return undefined;
    return { t: 'int', v: digits[0] === '0' ? 0n : BigInt(digits) };
  }

  private match(re: RegExp): string | undefined {
    re.lastIndex = this.i;
    const m = re.exec(this.s);
    if (m === null) return undefined;
    this.i += m[0].length;
    return m[0];
  }
}

/** 10^4300: Python 3.11+ cannot write an integer this large in decimal, so json refuses it. */
const INT_WRITE_LIMIT = 10n ** BigInt(MAX_INT_DIGITS);
/** log2(10^4300), rounded up: 2^this is beyond the limit. */
const INT_WRITE_LIMIT_BITS = Math.ceil(MAX_INT_DIGITS * Math.log2(10));

/**
 * A `0x`/`0o`/`0b` literal (any length is valid Python), or undefined when Python's json could not
 * write it. The size is checked before converting so that a long literal costs no big-number work.
 */
function radixInt(literal: string): Py | undefined {
  const bitsPerDigit = literal[1] === 'x' ? 4 : literal[1] === 'o' ? 3 : 1;
  const significant = literal.slice(2).replace(/^0+/, '').length;
  if ((significant - 1) * bitsPerDigit >= INT_WRITE_LIMIT_BITS) return undefined;
  const v = BigInt(literal);
  return v >= INT_WRITE_LIMIT ? undefined : { t: 'int', v };
}

/** Converts a Python value as Python's `json` would write it, or NOT_A_LITERAL if it cannot. */
function toWire(py: Py): unknown {
  switch (py.t) {
    case 'int':
      return py.v >= BigInt(Number.MIN_SAFE_INTEGER) && py.v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(py.v) : py.v;
    case 'float':
    case 'const':
      return py.v;
    case 'complex':
      return NOT_A_LITERAL;
    case 'seq': {
      const out: unknown[] = [];
      for (const item of py.items) {
        const v = toWire(item);
        if (v === NOT_A_LITERAL) return NOT_A_LITERAL;
        out.push(v);
      }
      return out;
    }
    case 'dict':
      return dictToWire(py.keys, py.values);
  }
}

/**
 * A Python dict as json writes it. Equal keys (1, 1.0, True, 1+0j) are one key that keeps the first
 * spelling and the last value; json writes int/float/bool/None keys as strings and refuses others.
 */
function dictToWire(keys: readonly Py[], values: readonly Py[]): unknown {
  const entries = new Map<string, { name: string | undefined; value: Py }>();
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k] as Py;
    const value = values[k] as Py;
    const id = keyIdentity(key);
    if (id === undefined) return NOT_A_LITERAL;
    const existing = entries.get(id);
    if (existing !== undefined) existing.value = value;
    else entries.set(id, { name: jsonKey(key), value });
  }
  const out: Record<string, unknown> = {};
  for (const { name, value } of entries.values()) {
    if (name === undefined) return NOT_A_LITERAL;
    const v = toWire(value);
    if (v === NOT_A_LITERAL) return NOT_A_LITERAL;
    setOwn(out, name, v);
  }
  return out;
}

/** Python equality of hashable scalar keys, as a string; undefined for keys that json refuses anyway. */
function keyIdentity(key: Py): string | undefined {
  switch (key.t) {
    case 'const':
      return key.v === null ? 'None' : key.v ? 'n1' : 'n0';
    case 'int':
      return `n${key.v}`;
    case 'float':
      return floatIdentity(key.v);
    case 'complex':
      // Equal to a real key only when the imaginary part is zero; otherwise json refuses it.
      return key.im === 0 ? floatIdentity(key.re) : undefined;
    default:
      return undefined; // tuples cannot be json keys; lists and dicts are unhashable
  }
}

function floatIdentity(v: number): string {
  if (Number.isInteger(v)) return `n${BigInt(v)}`;
  return `f${v}`;
}

/** The key text Python's json writes, or undefined for a key it refuses. */
function jsonKey(key: Py): string | undefined {
  switch (key.t) {
    case 'const':
      return key.v === null ? 'null' : String(key.v);
    case 'int':
      return key.v.toString();
    case 'float':
      return key.v === Infinity ? 'Infinity' : key.v === -Infinity ? '-Infinity' : pyFloatRepr(key.v);
    default:
      return undefined;
  }
}

/** Python's `repr(float)` for a finite float: shortest round-trip digits, exponent outside 1e-4..1e16. */
function pyFloatRepr(v: number): string {
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(Math.abs(v)));
  if (m === null) return String(v);
  // Normalise to digits d1d2…dn and decpt, meaning the value 0.d1d2…dn × 10^decpt.
  let digits = (m[1] as string) + (m[2] ?? '');
  let decpt = (m[1] as string).length + Number(m[3] ?? 0);
  const lead = /^0*/.exec(digits)?.[0].length ?? 0;
  digits = digits.slice(lead).replace(/0+$/, '');
  decpt -= lead;
  if (digits === '') return `${sign}0.0`;
  if (decpt <= -4 || decpt > 16) {
    const exp = decpt - 1;
    const mantissa = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
    return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

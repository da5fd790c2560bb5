/**
 * Attributes: `[scope, name, value]` string triples, their two string forms, and lookups.
 *
 * - The **attr string** (`attrsFromString`): `name=value;name=value;...`, every attr in one scope.
 * - The **option string** (`parseOptionString`): the same syntax, where `manager=X` starts manager
 *   X's scope, `task-id=T` sets the task id, and other attrs before any manager are `global`. This
 *   is what `--netmgr`, `SWITCHYARD_NETMGR` and `hooks: ['...']` take.
 * - The **option file** (`parseOptionFile`): an option string where newlines also separate
 *   segments and lines starting with `#` are comments (`$SWITCHYARD_HOME/netmgr.d/*.conf`).
 *
 * Rules shared by all three (from GCT's `globus_net_manager_attr_array_from_string`): a segment is
 * split at its **first** `=`, so values may contain `=`; a segment without `=` is an error, and so
 * is an empty value. Unlike GCT, empty segments (`;;`, a leading `;`) are skipped cleanly (GCT
 * corrupts the array on them), and an empty name (`=x`) is an error.
 * @module
 */
import { AttrStringError, InvalidArgumentError } from '../errors.ts';
import type { Attr } from './types.ts';

/** The scope of attrs that every manager of a chain sees. */
export const GLOBAL_SCOPE = 'global';
/** The scope of the `[net_manager, manager, X]` attr that declares manager X. */
export const NET_MANAGER_SCOPE = 'net_manager';

/** An option string, parsed. */
export interface ParsedOptions {
  /** The attrs in order; `manager=X` appears as `[net_manager, manager, X]`. */
  attrs: Attr[];
  /** The last `task-id=` given, or `undefined`. */
  taskId: string | undefined;
}

interface Segment {
  readonly text: string;
  readonly where: string;
}

/**
 * Creates one attr. Throws {@link InvalidArgumentError} ("Bad parameter, No parameter may be
 * NULL.") when any part is not a string.
 */
export function makeAttr(scope: string, name: string, value: string): Attr {
  if (typeof scope !== 'string' || typeof name !== 'string' || typeof value !== 'string') {
    throw new InvalidArgumentError('attr', 'Bad parameter, No parameter may be NULL.');
  }
  return [scope, name, value];
}

/**
 * A deep copy of `attrs` (new array, new triples). Throws {@link InvalidArgumentError} when
 * `attrs` is not an array of string triples.
 */
export function copyAttrs(attrs: readonly Attr[]): Attr[] {
  if (!Array.isArray(attrs)) throw new InvalidArgumentError('attrs', 'Bad parameter, No parameter may be NULL.');
  return attrs.map((a) => {
    if (!Array.isArray(a) || a.length !== 3) {
      throw new InvalidArgumentError('attrs', `Bad parameter, every attr must be [scope, name, value], got ${describe(a)}`);
    }
    return makeAttr(a[0], a[1], a[2]);
  });
}

function checkNoCrLf(text: string, where: string | undefined): void {
  const at = text.search(/[\r\n]/);
  if (at >= 0) {
    throw new AttrStringError('crlf', `CR and LF are not allowed in attr_string (found at offset ${at})`, { where });
  }
}

function segmentsOf(text: string): Segment[] {
  return text.split(';').map((t, i) => ({ text: t, where: `segment ${i + 1}` }));
}

/** Splits one non-empty segment at its first `=`. */
function splitSegment(seg: Segment, trim: boolean): [string, string] {
  const facts = { segment: seg.text, where: seg.where };
  const eq = seg.text.indexOf('=');
  if (eq < 0) {
    throw new AttrStringError(
      'no-equals',
      `Invalid attr_string: ${JSON.stringify(seg.text)} (${seg.where}) has no "="; write name=value`,
      facts,
    );
  }
  let name = seg.text.slice(0, eq);
  let value = seg.text.slice(eq + 1);
  if (trim) {
    name = name.trim();
    value = value.trim();
  }
  if (name === '') {
    throw new AttrStringError('empty-name', `Empty name in attr_string: ${JSON.stringify(seg.text)} (${seg.where})`, facts);
  }
  if (value === '') {
    throw new AttrStringError(
      'empty-value',
      `Empty value in attr_string: ${JSON.stringify(seg.text)} (${seg.where}); give a value or leave the attr out`,
      facts,
    );
  }
  return [name, value];
}

/**
 * Parses an attr string `name=value;...` into attrs that all have `scope`, in order.
 *
 * Returns `[]` for `""`. Throws {@link AttrStringError} for CR or LF anywhere ("CR and LF are not
 * allowed in attr_string"), a segment without `=` ("Invalid attr_string"), an empty value ("Empty
 * value in attr_string") or an empty name; throws {@link InvalidArgumentError} when `scope` or
 * `text` is not a string.
 * @example
 * attrsFromString('python', 'pymod=routeman;expected=a=b;');
 * // [['python', 'pymod', 'routeman'], ['python', 'expected', 'a=b']]
 */
export function attrsFromString(scope: string, text: string): Attr[] {
  if (typeof scope !== 'string' || typeof text !== 'string') {
    throw new InvalidArgumentError('attr_string', 'Bad parameter, NULL scope or attr_string.');
  }
  checkNoCrLf(text, undefined);
  const out: Attr[] = [];
  for (const seg of segmentsOf(text)) {
    if (seg.text === '') continue;
    const [name, value] = splitSegment(seg, false);
    out.push([scope, name, value]);
  }
  return out;
}

function parseSegments(segments: Iterable<Segment>, trim: boolean): ParsedOptions {
  const attrs: Attr[] = [];
  let taskId: string | undefined;
  let scope: string | undefined;
  for (const seg of segments) {
    if ((trim ? seg.text.trim() : seg.text) === '') continue;
    const [name, value] = splitSegment(seg, trim);
    if (name === 'manager') {
      attrs.push([NET_MANAGER_SCOPE, 'manager', value]);
      scope = value;
    } else if (name === 'task-id') {
      taskId = value;
    } else {
      attrs.push([scope ?? GLOBAL_SCOPE, name, value]);
    }
  }
  return { attrs, taskId };
}

/**
 * Parses a network-manager option string (GCT's net_manager driver syntax):
 * `manager=X` emits `[net_manager, manager, X]` and makes X the scope of the attrs after it;
 * `task-id=T` sets the task id and emits no attr; any other `k=v` becomes `[scope or "global", k, v]`.
 *
 * Same errors as {@link attrsFromString}. `""` gives no attrs and no task id.
 * @example
 * parseOptionString('service=x;manager=logging;file=/tmp/net.log;');
 * // { attrs: [['global','service','x'], ['net_manager','manager','logging'], ['logging','file','/tmp/net.log']], taskId: undefined }
 */
export function parseOptionString(text: string): ParsedOptions {
  if (typeof text !== 'string') throw new InvalidArgumentError('options', 'Bad parameter, NULL option string.');
  checkNoCrLf(text, undefined);
  return parseSegments(segmentsOf(text), false);
}

/**
 * Parses the text of an option file: an option string in which newlines also separate segments,
 * lines whose first non-blank character is `#` are comments, and blanks around each name and value
 * are ignored. `source` (the file name) goes into error locations as `source:line`.
 *
 * Throws {@link AttrStringError} with `where` set to `source:line`.
 * @example
 * parseOptionFile('# site policy\nmanager=portrange\nrange=50000-51000\n', '10-site.conf');
 */
export function parseOptionFile(text: string, source: string): ParsedOptions {
  const segments: Segment[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    for (const part of trimmed.split(';')) segments.push({ text: part, where: `${source}:${i + 1}` });
  });
  for (const s of segments) checkNoCrLf(s.text, s.where);
  return parseSegments(segments, true);
}

function checkFormattable(a: Attr, i: number): void {
  const [, name, value] = a;
  const bad = (why: string): never => {
    throw new AttrStringError('unformattable', `Attr ${i + 1} ${JSON.stringify(a)} cannot be written as name=value;: ${why}`, {
      segment: `${name}=${value}`,
    });
  };
  if (name === '') bad('the name is empty');
  if (value === '') bad('the value is empty');
  if (/[=;\r\n]/.test(name)) bad('the name contains "=", ";", CR or LF');
  if (/[;\r\n]/.test(value)) bad('the value contains ";", CR or LF');
}

/**
 * Writes attrs as `name=value;` for each, in order, without scopes (the inverse of
 * {@link attrsFromString} for one scope). Throws {@link AttrStringError} (`unformattable`) for an
 * attr whose name or value is empty or contains `;`, CR or LF, or whose name contains `=`.
 */
export function attrsToString(attrs: readonly Attr[]): string {
  let out = '';
  attrs.forEach((a, i) => {
    checkFormattable(a, i);
    out += `${a[1]}=${a[2]};`;
  });
  return out;
}

/**
 * Writes an option string back (GCT's `GET_STRING_OPTIONS`): `task-id=T;` when a task id is set,
 * then `name=value;` for every attr in order, without scopes. Parsing the result with
 * {@link parseOptionString} gives the same attrs and task id back. Throws like {@link attrsToString}.
 * @example
 * formatOptionString(parseOptionString('task-id=42;service=test;manager=null;arg=nothing;'));
 * // 'task-id=42;service=test;manager=null;arg=nothing;'
 */
export function formatOptionString(options: { attrs: readonly Attr[]; taskId?: string | undefined }): string {
  const task = options.taskId !== undefined ? `task-id=${options.taskId};` : '';
  if (options.taskId !== undefined && (options.taskId === '' || /[;\r\n]/.test(options.taskId))) {
    throw new AttrStringError('unformattable', `Task id ${JSON.stringify(options.taskId)} cannot be written as task-id=...;`);
  }
  return task + attrsToString(options.attrs);
}

/** The value of the **last** attr with this scope and name (later attrs override earlier ones), or `undefined`. */
export function getAttr(attrs: readonly Attr[], scope: string, name: string): string | undefined {
  for (let i = attrs.length - 1; i >= 0; i--) {
    const a = attrs[i]!;
    if (a[0] === scope && a[1] === name) return a[2];
  }
  return undefined;
}

/** Every value of attrs with this scope and name, in order (for repeatable attrs such as `arg`). */
export function getAttrs(attrs: readonly Attr[], scope: string, name: string): string[] {
  const out: string[] = [];
  for (const a of attrs) if (a[0] === scope && a[1] === name) out.push(a[2]);
  return out;
}

/**
 * A new list where `[scope, name, value]` replaces every attr with that scope and name (at the
 * position of the first one), or is appended when there was none. `attrs` is not changed.
 */
export function setAttr(attrs: readonly Attr[], scope: string, name: string, value: string): Attr[] {
  const out: Attr[] = [];
  let placed = false;
  for (const a of attrs) {
    if (a[0] === scope && a[1] === name) {
      if (!placed) out.push([scope, name, value]);
      placed = true;
    } else {
      out.push(a);
    }
  }
  if (!placed) out.push([scope, name, value]);
  return out;
}

/** A new list without the attrs of `scope` (and `name`, when given). `attrs` is not changed. */
export function removeAttrs(attrs: readonly Attr[], scope: string, name?: string): Attr[] {
  return attrs.filter((a) => !(a[0] === scope && (name === undefined || a[1] === name)));
}

/** The attrs of one scope, in order. */
export function attrsInScope(attrs: readonly Attr[], scope: string): Attr[] {
  return attrs.filter((a) => a[0] === scope);
}

/**
 * A name → value object of the attrs whose scope is one of `scopes`, in order, later attrs
 * overriding earlier ones (so with `['global', 'logging']`, a `logging` attr beats a global one).
 */
export function attrsToRecord(attrs: readonly Attr[], scopes: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const a of attrs) if (scopes.includes(a[0])) out[a[1]] = a[2];
  return out;
}

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}...` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v === 'undefined' ? 'undefined' : `a ${typeof v}`}`;
}

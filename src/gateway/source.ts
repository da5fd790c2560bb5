/**
 * Turning what a user passes to `remoteExec` into text the worker can run.
 *
 * A function is sent as its source text, so it must not use variables from its enclosing scope.
 * That is checked here, before anything is sent: V8's own record of the variables a function
 * closes over (read through the in-process inspector) is intersected with the identifiers in its
 * text, and a clear {@link RemoteSourceError} names them. Globals of JavaScript and Node (`Buffer`,
 * `setTimeout`, `require`, ...) are fine: the worker has them too.
 * @module
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RemoteSourceError } from '../errors.ts';
import type { Channel } from '../channel/channel.ts';
import type { ExecRequest } from '../worker/protocol.ts';

/**
 * Code `remoteExec` sends as a function: called in the worker as `fn(channel, kwargs)`, sync or
 * async. `K` is the type of `kwargs` (what `remoteExec` was given, or `undefined`).
 */
export type RemoteFunction<K = unknown> = (channel: Channel, kwargs: K) => unknown;

/**
 * What `remoteExec` runs: a function `(channel, kwargs) => ...` (sync or async), a string of
 * JavaScript (a script body with `channel`, `kwargs` and `require` in scope; top-level `await`
 * allowed), or a module file given as a `file:` URL or `{ module: path }` (read at call time,
 * run like a string, with its real file name in stack traces). `K` is the type of the kwargs a
 * function source takes; the other forms take any kwargs.
 */
export type RemoteSource<K = unknown> = RemoteFunction<K> | string | URL | { module: string };

type InspectorSession = {
  post(method: string, params: object, cb: (err: Error | null, result: unknown) => void): void;
};

let session: InspectorSession | null | undefined;

async function loadSession(): Promise<void> {
  try {
    const inspector = await import('node:inspector');
    const s = new inspector.Session();
    s.connect();
    session = s as unknown as InspectorSession;
  } catch {
    session = null;
  }
}
// Top-level: ready before the first remoteExec (connecting is synchronous and cheap).
await loadSession();

function post<T>(method: string, params: object): T | undefined {
  let out: T | undefined;
  // In-process inspector sessions dispatch synchronously.
  session?.post(method, params, (err, result) => {
    if (!err) out = result as T;
  });
  return out;
}

interface RemoteObject {
  objectId?: string;
  description?: string;
}
interface PropertyDescriptor {
  name: string;
  value?: RemoteObject;
}

const HOLDER = '__switchyardRemoteExecProbe';

/** Names the function's scopes (closure, module, script...) hold, as V8 records them. */
function capturedNames(fn: Function): string[] {
  if (!session) return [];
  const g = globalThis as Record<string, unknown>;
  g[HOLDER] = fn;
  try {
    const ev = post<{ result: RemoteObject }>('Runtime.evaluate', { expression: `globalThis.${HOLDER}`, objectGroup: HOLDER });
    const id = ev?.result.objectId;
    if (!id) return [];
    const props = post<{ internalProperties?: PropertyDescriptor[] }>('Runtime.getProperties', { objectId: id, ownProperties: true });
    const scopes = props?.internalProperties?.find((p) => p.name === '[[Scopes]]')?.value?.objectId;
    if (!scopes) return [];
    const list = post<{ result: PropertyDescriptor[] }>('Runtime.getProperties', { objectId: scopes, ownProperties: true });
    const names: string[] = [];
    for (const scope of list?.result ?? []) {
      const kind = scope.value?.description ?? '';
      if (!scope.value?.objectId || /^Global/.test(kind)) continue;
      const vars = post<{ result: PropertyDescriptor[] }>('Runtime.getProperties', { objectId: scope.value.objectId, ownProperties: true });
      for (const v of vars?.result ?? []) names.push(v.name);
    }
    return names;
  } finally {
    delete g[HOLDER];
    post('Runtime.releaseObjectGroup', { objectGroup: HOLDER });
  }
}

/** Removes comments and the contents of string literals, keeping template `${...}` code. */
function stripLiterals(src: string): string {
  return src
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/(^|[^:\\])\/\/[^\n]*/g, '$1 ')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, '""')
    .replace(/`(?:[^`\\$]|\\.|\$(?!\{))*`/g, '""');
}

/** Identifiers used as variables (not property names after `.`, not object keys before `:`). */
function usedIdentifiers(src: string): Set<string> {
  const out = new Set<string>();
  const re = /(?<![\w$.])(?<!\?\.)([A-Za-z_$][\w$]*)/g;
  for (let m = re.exec(src); m; m = re.exec(src)) out.add(m[1] as string);
  return out;
}

/** Identifiers the function text itself declares (parameters, let/const/var, functions, classes, catch). */
function declaredIdentifiers(src: string): Set<string> {
  const out = new Set<string>();
  const decl = /\b(?:const|let|var|function\*?|class)\s+([A-Za-z_$][\w$]*)/g;
  for (let m = decl.exec(src); m; m = decl.exec(src)) out.add(m[1] as string);
  // Parameter lists and destructuring patterns: every identifier inside (...) before => or {,
  // and inside {..}/[..] right after const/let/var.
  const lists = /\(([^()]*)\)\s*(?:=>|\{)|\b(?:const|let|var)\s*[{[]([^=]*?)[}\]]\s*=|catch\s*\(([^)]*)\)|(?<![\w$.])([A-Za-z_$][\w$]*)\s*=>/g;
  for (let m = lists.exec(src); m; m = lists.exec(src)) {
    const text = m[1] ?? m[2] ?? m[3] ?? m[4] ?? '';
    for (const id of text.match(/[A-Za-z_$][\w$]*/g) ?? []) out.add(id);
  }
  return out;
}

/** Makes a function's text an expression (method shorthand becomes a function expression). */
function functionExpression(fn: Function): string {
  const text = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(text)) {
    throw new RemoteSourceError(`remoteExec cannot send a native or bound function (${fn.name || 'anonymous'}); pass a plain function, a string, or a module`);
  }
  if (/^class\b/.test(text)) throw new RemoteSourceError('remoteExec cannot send a class; pass a function (channel, kwargs) => ...');
  const candidates = [text, `function ${text}`, text.replace(/^async\s+/, 'async function '), text.replace(/^(async\s+)?\*?/, (m) => (m.includes('async') ? 'async function* ' : 'function* '))];
  for (const c of candidates) {
    try {
      // Compiles only (never runs): checks that the text is a function expression.
      new Function(`return (${c}\n);`);
      return c;
    } catch {
      // try the next form
    }
  }
  throw new RemoteSourceError(`remoteExec cannot send function ${fn.name || 'anonymous'}: its source text is not a function expression`);
}

/**
 * Builds the exec request for `source`. Throws {@link RemoteSourceError} for a function that uses
 * variables of its enclosing scope (naming them), a native/bound function or a class, and a
 * `TypeError` for anything else that is not a source.
 */
export function prepareSource<K>(source: RemoteSource<K>, kwargs: K | undefined): ExecRequest {
  if (typeof source === 'function') {
    const text = functionExpression(source);
    const captured = capturedNames(source);
    if (captured.length > 0) {
      const body = stripLiterals(text);
      const used = usedIdentifiers(body);
      const declared = declaredIdentifiers(body);
      const free = [...new Set(captured)].filter((n) => used.has(n) && !declared.has(n)).sort();
      if (free.length > 0) {
        throw new RemoteSourceError(
          `remoteExec function ${source.name || '(anonymous)'} uses ${free.map((n) => `'${n}'`).join(', ')} from its enclosing scope, ` +
            `but it runs in another process where ${free.length === 1 ? 'that variable does' : 'those variables do'} not exist. ` +
            `Pass values as kwargs (remoteExec(fn, { ${free.join(', ')} })) or send them over the channel; import modules inside the function.`,
          free,
        );
      }
    }
    return { kind: 'function', source: text, filename: '<remote exec>', kwargs };
  }
  if (typeof source === 'string') return { kind: 'source', source, filename: '<remote exec>', kwargs };
  if (source instanceof URL || (typeof source === 'object' && source !== null && typeof (source as { module?: unknown }).module === 'string')) {
    const path = source instanceof URL ? fileURLToPath(source) : (source as { module: string }).module;
    return { kind: 'module', source: readFileSync(path, 'utf8'), filename: path, kwargs };
  }
  throw new TypeError('remoteExec source must be a function, a string of JavaScript, a file: URL or { module: path }');
}

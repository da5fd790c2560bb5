/**
 * Reads a method's parameter list from its source so that a service can advertise msl-network
 * style signatures (`"(a, b)"`) and accept keyword arguments from Python clients.
 * @module
 */

/** One parameter. */
interface Param {
  name: string;
  optional: boolean;
  rest: boolean;
  /** Destructured (`{a, b}` or `[a, b]`): cannot be named by a keyword argument. */
  pattern: boolean;
}

/** What a service knows about one method's parameters. */
export interface ParamInfo {
  /** `"(a, b = 2, ...more)"` */
  readonly signature: string;
  /**
   * Binds positional and keyword arguments to positions, raising Python-style TypeErrors
   * (through `mkErr`) for too many, missing, duplicate or unknown arguments.
   */
  bind(qualname: () => string, args: readonly unknown[], kwargs: Record<string, unknown>, mkErr: (name: string, message: string) => Error): unknown[];
}

function splitTopLevel(src: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let cur = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as string;
    if (quote) {
      cur += c;
      if (c === '\\') {
        cur += src[++i] ?? '';
      } else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur.trim() !== '') out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

function paramSource(fn: (...a: never[]) => unknown): string {
  const src = Function.prototype.toString.call(fn);
  const open = src.indexOf('(');
  if (open < 0) {
    // `x => ...`
    const arrow = src.indexOf('=>');
    return arrow > 0 ? src.slice(0, arrow).replace(/^async\s+/, '').trim() : '';
  }
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return src.slice(open + 1, i);
  }
  return '';
}

/** Describes `fn`'s parameters. */
export function describeParams(fn: (...a: never[]) => unknown): ParamInfo {
  const raw = splitTopLevel(paramSource(fn).replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, ''));
  const params: Param[] = raw.map((p) => {
    const rest = p.startsWith('...');
    const body = rest ? p.slice(3).trim() : p;
    const eq = /^[\w$]+\s*=/.test(body);
    const pattern = body.startsWith('{') || body.startsWith('[');
    const name = pattern ? body : (body.split('=')[0] ?? body).trim();
    return { name, optional: eq || rest || (pattern && /=/.test(body)), rest, pattern };
  });
  const signature = `(${raw.join(', ')})`;
  const positional = params.filter((p) => !p.rest);
  const hasRest = params.some((p) => p.rest);
  const canName = params.every((p) => !p.pattern);

  return {
    signature,
    bind(qualnameOf, args, kwargs, mkErr) {
      // The qualified name is needed only for an error message: built only then.
      const names = Object.keys(kwargs);
      if (!hasRest && args.length > positional.length) {
        throw mkErr('TypeError', `${qualnameOf()}() takes ${positional.length} positional argument${positional.length === 1 ? '' : 's'} but ${args.length} ${args.length === 1 ? 'was' : 'were'} given`);
      }
      if (names.length === 0) {
        const missing = positional.slice(args.length).filter((p) => !p.optional);
        if (missing.length > 0) throw missingError(qualnameOf(), missing, mkErr);
        return [...args];
      }
      if (!canName) return [...args, { ...kwargs }];
      const out: unknown[] = [...args];
      for (const key of names) {
        const idx = positional.findIndex((p) => p.name === key);
        if (idx < 0) throw mkErr('TypeError', `${qualnameOf()}() got an unexpected keyword argument '${key}'`);
        if (idx < args.length) throw mkErr('TypeError', `${qualnameOf()}() got multiple values for argument '${key}'`);
        out[idx] = kwargs[key];
      }
      const missing = positional.filter((p, i) => !p.optional && !(i < args.length || names.includes(p.name)));
      if (missing.length > 0) throw missingError(qualnameOf(), missing, mkErr);
      return out;
    },
  };
}

function missingError(qualname: string, missing: Param[], mkErr: (name: string, message: string) => Error): Error {
  const quoted = missing.map((p) => `'${p.name}'`);
  const list = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(', ')} and ${quoted[quoted.length - 1]}`;
  return mkErr('TypeError', `${qualname}() missing ${missing.length} required positional argument${missing.length === 1 ? '' : 's'}: ${list}`);
}

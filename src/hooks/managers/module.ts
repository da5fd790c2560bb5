/**
 * The `module` network manager (`manager=module;path=./routeman.mjs;`): callouts written as
 * functions of a JavaScript or TypeScript module, the analogue of GCT's `python` manager
 * (`manager=python;pymod=routeman;`).
 *
 * A module exports any of the callouts, in either of two styles (one per callout):
 * - **camelCase** (`preListen`, ...): called with the `CalloutInfo` object, returns what any
 *   manager returns (`undefined`, or `{ attrs?, contact? }`).
 * - **GCT style** (`pre_listen`, ...): called positionally as GCT calls python functions, plus the
 *   manager attrs last: `pre_listen(taskId, transport, attrs, managerAttrs)`,
 *   `post_listen(taskId, transport, localContact, attrs, managerAttrs)`, ... (see docs/hooks.md),
 *   and returns what a GCT python function returns: `null`/`undefined` for no change; an array of
 *   `[scope, name, value]` for pre_listen, pre_accept, post_accept and post_connect;
 *   `[contact, attrs]` for post_listen and pre_connect; nothing for end_listen, pre_close and
 *   post_close. Wrong shapes fail with GCT's "Bad parameter, ..." errors.
 *
 * A callout that throws fails with "<ErrorName> exception in <export> of <path>: <message>" (GCT:
 * "<ExcType> exception in <func>: <value>"), which the chain reports as a veto.
 * @module
 */
import { stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NetManagerConfigError, NetManagerModuleError, NetManagerResultError } from '../../errors.ts';
import { describe } from '../attrs.ts';
import { CALLOUT_SPECS } from '../callouts.ts';
import { CALLOUTS, type Attr, type Callout, type CalloutInfo, type CalloutResult, type NetManager } from '../types.ts';

/** Options of {@link createModuleManager}. */
export interface ModuleManagerOptions {
  /** The module file; a relative path is resolved against the current working directory. */
  readonly path: string;
  /** Name in errors. Default `"module"`. */
  readonly name?: string | undefined;
}

type AnyFn = (...args: unknown[]) => unknown;

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx']);

async function importModule(name: string, file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && TS_EXTENSIONS.has(extname(file))) {
      // Node 20 cannot load TypeScript by itself; tsx can, when it is installed.
      let tsImport: ((specifier: string, parent: string) => Promise<unknown>) | undefined;
      try {
        const api = (await import('tsx/esm/api')) as { tsImport?: (specifier: string, parent: string) => Promise<unknown> };
        tsImport = api.tsImport;
      } catch {
        tsImport = undefined;
      }
      if (tsImport === undefined) {
        throw new NetManagerConfigError(
          name,
          `The module manager cannot load the TypeScript file ${file}: Node.js 20 does not run TypeScript by itself. Install tsx (npm i tsx) or compile the module to .js`,
          undefined,
          { cause: err },
        );
      }
      return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
    }
    throw new NetManagerConfigError(name, `The module manager cannot load ${file}: ${(err as Error).message}`, undefined, { cause: err });
  }
}

function gctAttrs(callout: Callout, gctName: string, list: unknown, what: 'result' | 'array'): Attr[] {
  if (!Array.isArray(list)) {
    throw new NetManagerResultError(callout, what, `${gctName} must return ${what === 'array' ? 'null or a list as the second element' : 'null or a list of [scope, name, value]'}, not ${describe(list)}`);
  }
  return list.map((a: unknown, i) => {
    if (!Array.isArray(a) || a.length !== 3) {
      throw new NetManagerResultError(callout, 'attr', `element ${i} returned from ${gctName} must be a [scope, name, value] triple, not ${describe(a)}`);
    }
    (['scope', 'name', 'value'] as const).forEach((part, j) => {
      if (typeof a[j] !== 'string') {
        throw new NetManagerResultError(callout, part, `the ${part} of element ${i} returned from ${gctName} must be a string, not ${describe(a[j])}`);
      }
    });
    return [a[0] as string, a[1] as string, a[2] as string] as Attr;
  });
}

/** Converts a GCT-style return value into a CalloutResult, with GCT's python-manager rules. */
function fromGctResult(callout: Callout, value: unknown): CalloutResult {
  const spec = CALLOUT_SPECS[callout];
  if (value === undefined || value === null) return undefined;
  if (spec.output === 'none') {
    throw new NetManagerResultError(callout, 'result', `${spec.gctName} must return nothing (null or undefined), not ${describe(value)}`);
  }
  if (spec.output === 'attrs') return { attrs: gctAttrs(callout, spec.gctName, value, 'result') };
  // GCT silently ignores a tuple that is not exactly (contact, attrs); we refuse it so the mistake shows.
  if (!Array.isArray(value) || value.length !== 2) {
    throw new NetManagerResultError(callout, 'result', `${spec.gctName} must return null or [contact, attrs], not ${describe(value)}`);
  }
  const [contact, attrs] = value as [unknown, unknown];
  const out: { contact?: string; attrs?: Attr[] } = {};
  if (contact !== undefined && contact !== null) {
    if (typeof contact !== 'string') {
      throw new NetManagerResultError(callout, 'contact', `the contact returned from ${spec.gctName} must be a string or null, not ${describe(contact)}`);
    }
    if (contact !== '') out.contact = contact;
  }
  if (attrs !== undefined && attrs !== null) out.attrs = gctAttrs(callout, spec.gctName, attrs, 'array');
  return out;
}

function gctArgs(callout: Callout, info: CalloutInfo): unknown[] {
  const spec = CALLOUT_SPECS[callout];
  const args: unknown[] = [info.taskId, info.transport];
  if (spec.local) args.push(info.localContact);
  if (spec.remote) args.push(info.remoteContact);
  args.push(info.attrs.map((a) => [a[0], a[1], a[2]]), { ...info.managerAttrs });
  return args;
}

function wrapThrow(file: string, exportName: string, err: unknown): NetManagerModuleError {
  const e = err instanceof Error ? err : undefined;
  const type = e?.name ?? typeof err;
  const message = e?.message ?? String(err);
  return new NetManagerModuleError(file, exportName, `${type} exception in ${exportName} of ${file}: ${message}`, { cause: err });
}

/**
 * Imports the module at `options.path` (once per file: Node's module cache) and returns a manager
 * with the callouts it exports.
 *
 * Rejects with {@link NetManagerConfigError} when the path is missing or unreadable, the import
 * fails (a `.ts` file needs tsx under Node 20), an export named after a callout is not a function,
 * a callout is exported in both styles, or the module exports no callout at all.
 * @example
 * // routeman.mjs: export function pre_connect(taskId, transport, remote, attrs) { return ['gw.example.org:1875', null]; }
 * const m = await createModuleManager({ path: './routeman.mjs' });
 */
export async function createModuleManager(options: ModuleManagerOptions): Promise<NetManager> {
  const name = options.name ?? 'module';
  if (typeof options.path !== 'string' || options.path === '') {
    throw new NetManagerConfigError(name, 'The module manager needs path=<file of a JavaScript or TypeScript module> (GCT asserts on a missing pymod)');
  }
  const file = resolve(options.path);
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new Error('not a regular file');
  } catch (err) {
    throw new NetManagerConfigError(name, `The module manager cannot use ${file}: ${(err as Error).message}`, undefined, { cause: err });
  }
  const ns = await importModule(name, file);
  const hasCallouts = (o: Record<string, unknown>): boolean =>
    CALLOUTS.some((c) => o[c] !== undefined || o[CALLOUT_SPECS[c].gctName] !== undefined);
  let source = ns;
  const dflt = ns['default'];
  if (!hasCallouts(ns) && dflt !== null && typeof dflt === 'object' && hasCallouts(dflt as Record<string, unknown>)) {
    source = dflt as Record<string, unknown>;
  }
  const manager: Record<string, unknown> = { name };
  let found = 0;
  for (const c of CALLOUTS) {
    const gct = CALLOUT_SPECS[c].gctName;
    const camel = source[c];
    const snake = source[gct];
    for (const [exportName, v] of [[c, camel], [gct, snake]] as const) {
      if (v !== undefined && typeof v !== 'function') {
        throw new NetManagerConfigError(name, `${file} exports ${exportName} as ${describe(v)}; a callout must be a function`);
      }
    }
    if (camel !== undefined && snake !== undefined) {
      throw new NetManagerConfigError(name, `${file} exports both ${c} and ${gct}; export one of them`);
    }
    if (typeof camel === 'function') {
      const fn = camel as AnyFn;
      manager[c] = async (info: CalloutInfo): Promise<unknown> => {
        try {
          return await fn.call(source, info);
        } catch (err) {
          throw wrapThrow(file, c, err);
        }
      };
      found++;
    } else if (typeof snake === 'function') {
      const fn = snake as AnyFn;
      manager[c] = async (info: CalloutInfo): Promise<CalloutResult> => {
        let value: unknown;
        try {
          value = await fn.apply(source, gctArgs(c, info));
        } catch (err) {
          throw wrapThrow(file, gct, err);
        }
        return fromGctResult(c, value);
      };
      found++;
    }
  }
  if (found === 0) {
    throw new NetManagerConfigError(
      name,
      `${file} exports none of the callouts (${CALLOUTS.join(', ')}, or GCT's ${CALLOUTS.map((c) => CALLOUT_SPECS[c].gctName).join(', ')})`,
    );
  }
  return manager as NetManager;
}

/**
 * Building a chain from configuration. Four sources, combined into **one chain in this order**
 * (earlier sources run first; later ones see, and may change, what earlier ones did):
 *
 * 1. files `$SWITCHYARD_HOME/netmgr.d/*.conf`, in sorted name order (site policy);
 * 2. the environment variable `SWITCHYARD_NETMGR` (an option string);
 * 3. option strings given by the caller, e.g. `switchyard start --netmgr "..."`, in order;
 * 4. `hooks:` given in code: `NetManager` objects and option strings, in array order.
 *
 * `global` attrs (those before any `manager=` in any source, plus the caller's `globals`) are
 * copied to every manager of the chain, code-supplied ones included. The task id is the caller's
 * `taskId`, else the last `task-id=` of any source, else a fresh id per connection. Each option
 * string is parsed on its own: `manager=` scopes do not continue from one source into the next.
 * @module
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AttrStringError, InvalidArgumentError, NetManagerConfigError } from '../errors.ts';
import { switchyardHome } from '../util/home.ts';
import { GLOBAL_SCOPE, NET_MANAGER_SCOPE, copyAttrs, describe, parseOptionFile, parseOptionString, type ParsedOptions } from './attrs.ts';
import { NetManagerChain, type ChainEntry, type ChainOptions } from './chain.ts';
import { managerFromName } from './registry.ts';
import type { Attr, NetManager } from './types.ts';

/** The environment variable holding an option string. */
export const NETMGR_ENV = 'SWITCHYARD_NETMGR';

/** The directory of option files: `$SWITCHYARD_HOME/netmgr.d` (read at each call). */
export function netmgrDir(): string {
  return join(switchyardHome(), 'netmgr.d');
}

/** One manager of an attr list: its name and its own attrs (globals not included). */
export interface ManagerSpec {
  readonly name: string;
  readonly attrs: Attr[];
}

/**
 * Groups attrs into managers as GCT's `globus_net_manager_context_init` does: skipping `global`
 * attrs, a new manager starts at each `[net_manager, manager, X]` (named X) and wherever the scope
 * changes (named by the scope); each manager gets the following attrs of its own scope.
 * Returns `[]` for a list without managers.
 */
export function managersFromAttrs(attrs: readonly Attr[]): ManagerSpec[] {
  const out: ManagerSpec[] = [];
  let current: ManagerSpec | undefined;
  for (const a of copyAttrs(attrs)) {
    const [scope, name, value] = a;
    if (scope === GLOBAL_SCOPE) continue;
    if (current === undefined || scope !== current.name) {
      current = { name: scope === NET_MANAGER_SCOPE && name === 'manager' ? value : scope, attrs: [] };
      out.push(current);
    }
    if (scope === current.name) current.attrs.push(a);
  }
  return out;
}

/** Options of {@link loadNetHooks}. */
export interface NetHooksConfig {
  /** Option strings from the caller (`--netmgr`), run after the files and the environment. */
  readonly netmgr?: string | readonly string[] | undefined;
  /** Where to read `SWITCHYARD_NETMGR`; default `process.env`; `false` ignores the environment. */
  readonly env?: Readonly<Record<string, string | undefined>> | false | undefined;
  /** Directory of `*.conf` files; default {@link netmgrDir}; `false` reads none. A missing directory is fine. */
  readonly configDir?: string | false | undefined;
  /** Managers and option strings from code, run last, in order. */
  readonly hooks?: ReadonlyArray<NetManager | string> | undefined;
  /** Global attrs put before all others, e.g. `{ service: 'switchyard-manager' }` (GridFTP sets `service=gridftp-data`). */
  readonly globals?: Readonly<Record<string, string>> | undefined;
  /** Task id for every connection that is not given one; overrides `task-id=` in the sources. */
  readonly taskId?: string | undefined;
  /** Milliseconds each manager may take per callout (see {@link ChainOptions.timeout}). */
  readonly timeout?: number | undefined;
}

type Source = { readonly label: string; readonly parsed: ParsedOptions } | { readonly label: string; readonly manager: NetManager };

function labelled(label: string, parse: () => ParsedOptions): ParsedOptions {
  try {
    return parse();
  } catch (err) {
    if (err instanceof AttrStringError && err.where !== undefined && !err.where.startsWith(label)) {
      throw new AttrStringError(err.reason, `${label}: ${err.message}`, { segment: err.segment, where: `${label} ${err.where}` }, { cause: err });
    }
    if (err instanceof AttrStringError && err.where === undefined) {
      throw new AttrStringError(err.reason, `${label}: ${err.message}`, { segment: err.segment, where: label }, { cause: err });
    }
    throw err;
  }
}

/**
 * Reads the option files of `dir` (`*.conf`, regular files, sorted by name). A missing directory
 * gives `[]`. Rejects with {@link NetManagerConfigError} when the directory or a file cannot be
 * read, and with {@link AttrStringError} (`where` = `file:line`) when a file is malformed.
 */
export async function readOptionFiles(dir: string): Promise<Array<{ file: string; options: ParsedOptions }>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new NetManagerConfigError('netmgr.d', `Cannot read the network-manager directory ${dir}: ${(err as Error).message}`, dir, { cause: err });
  }
  const out: Array<{ file: string; options: ParsedOptions }> = [];
  for (const n of names.filter((x) => x.endsWith('.conf')).sort()) {
    const file = join(dir, n);
    let text: string;
    try {
      if (!(await stat(file)).isFile()) continue;
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new NetManagerConfigError('netmgr.d', `Cannot read the network-manager file ${file}: ${(err as Error).message}`, file, { cause: err });
    }
    out.push({ file, options: parseOptionFile(text, file) });
  }
  return out;
}

async function closeAll(entries: readonly ChainEntry[]): Promise<void> {
  for (const e of [...entries].reverse()) {
    try {
      await e.manager.close?.();
    } catch {
      // Already failing with the configuration error; a close error would only hide it.
    }
  }
}

async function buildChain(sources: readonly Source[], extraGlobals: readonly Attr[], options: { taskId?: string | undefined; timeout?: number | undefined }): Promise<NetManagerChain> {
  const globals: Attr[] = [...extraGlobals];
  let taskId: string | undefined;
  for (const s of sources) {
    if ('parsed' in s) {
      for (const a of s.parsed.attrs) if (a[0] === GLOBAL_SCOPE) globals.push(a);
      if (s.parsed.taskId !== undefined) taskId = s.parsed.taskId;
    }
  }
  const entries: ChainEntry[] = [];
  try {
    for (const s of sources) {
      if ('manager' in s) {
        entries.push({ manager: s.manager, name: s.manager.name ?? s.label });
        continue;
      }
      for (const spec of managersFromAttrs(s.parsed.attrs)) {
        let manager: NetManager;
        try {
          manager = await managerFromName(spec.name, [...globals, ...spec.attrs]);
        } catch (err) {
          const e = err as NetManagerConfigError;
          throw new NetManagerConfigError(e.manager ?? spec.name, `${e.message} (configured in ${s.label})`, s.label, { cause: err });
        }
        entries.push({ manager, name: spec.name, attrs: spec.attrs, owned: true });
      }
    }
    return new NetManagerChain(entries, { globals, taskId: options.taskId ?? taskId, timeout: options.timeout });
  } catch (err) {
    await closeAll(entries.filter((e) => e.owned));
    throw err;
  }
}

/**
 * Builds a chain from one option string, e.g.
 * `"manager=logging;file=/var/log/switchyard/net.log;manager=portrange;range=50000-51000;"`.
 * Rejects with {@link AttrStringError} when the string is malformed and with
 * {@link NetManagerConfigError} when a manager cannot be created (managers created before it are
 * closed again).
 */
export async function chainFromOptionString(text: string, options: Pick<ChainOptions, 'timeout' | 'taskId'> = {}): Promise<NetManagerChain> {
  const parsed = labelled('option string', () => parseOptionString(text));
  return buildChain([{ label: 'option string', parsed }], [], options);
}

/**
 * Builds the chain of every configuration source, in the documented order (files, environment,
 * caller's option strings, code). The chain owns the managers it created from option strings and
 * closes them in its `close()`; managers given as objects stay the caller's.
 *
 * Rejects with {@link AttrStringError} (its `where` names the file and line, `SWITCHYARD_NETMGR`,
 * `--netmgr` or `hooks[i]`), {@link NetManagerConfigError} (unknown manager, bad attrs, unreadable
 * file; its `source` says where) or {@link InvalidArgumentError} (a `hooks` item that is neither a
 * string nor an object).
 * @example
 * const hooks = await loadNetHooks({
 *   netmgr: 'manager=logging;file=/var/log/switchyard/net.log;',
 *   hooks: [{ name: 'deny-10', preAccept: ({ remoteContact }) => { if (remoteContact?.startsWith('10.')) throw new Error('no 10/8'); } }],
 * });
 */
export async function loadNetHooks(config: NetHooksConfig = {}): Promise<NetManagerChain> {
  const sources: Source[] = [];
  if (config.configDir !== false) {
    for (const { file, options } of await readOptionFiles(config.configDir ?? netmgrDir())) sources.push({ label: file, parsed: options });
  }
  if (config.env !== false) {
    const text = (config.env ?? process.env)[NETMGR_ENV];
    if (text !== undefined && text !== '') sources.push({ label: NETMGR_ENV, parsed: labelled(NETMGR_ENV, () => parseOptionString(text)) });
  }
  const strings = config.netmgr === undefined ? [] : typeof config.netmgr === 'string' ? [config.netmgr] : config.netmgr;
  for (const text of strings) sources.push({ label: '--netmgr', parsed: labelled('--netmgr', () => parseOptionString(text)) });
  (config.hooks ?? []).forEach((h, i) => {
    const label = `hooks[${i}]`;
    if (typeof h === 'string') sources.push({ label, parsed: labelled(label, () => parseOptionString(h)) });
    else if (h !== null && typeof h === 'object') sources.push({ label, manager: h });
    else throw new InvalidArgumentError('hooks', `${label} is ${describe(h)}; give a NetManager object or an option string`);
  });
  const globals: Attr[] = Object.entries(config.globals ?? {}).map(([k, v]) => [GLOBAL_SCOPE, k, v]);
  return buildChain(sources, globals, { taskId: config.taskId, timeout: config.timeout });
}

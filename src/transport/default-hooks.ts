/**
 * The hook chain a process uses when the caller gives none: `$SWITCHYARD_HOME/netmgr.d/*.conf`
 * and `SWITCHYARD_NETMGR`, read once per process (see docs/hooks.md).
 * @module
 */
import { loadNetHooks } from '../hooks/config.ts';
import type { NetManager, NetHooks } from '../hooks/types.ts';

let cached: Promise<NetHooks> | undefined;

/** What callers may pass as `hooks`: a ready chain, or managers and option strings from code. */
export type HooksOption = NetHooks | ReadonlyArray<NetManager | string> | string;

function isNetHooks(v: unknown): v is NetHooks {
  return typeof v === 'object' && v !== null && typeof (v as { run?: unknown }).run === 'function' && 'empty' in v;
}

/**
 * Resolves the chain for `hooks`: a {@link NetHooks} is used as is; managers or option strings are
 * run after the configuration files and the environment; `undefined` gives the process default.
 */
export function resolveHooks(hooks: HooksOption | undefined): Promise<NetHooks> {
  if (isNetHooks(hooks)) return Promise.resolve(hooks);
  if (hooks === undefined) return (cached ??= loadNetHooks());
  return loadNetHooks({ hooks: typeof hooks === 'string' ? [hooks] : hooks });
}


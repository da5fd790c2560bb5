/**
 * The registry of network managers by name: what `manager=X` in an option string creates. GCT
 * loads an unknown name as the extension `globus_net_manager_X`; Switchyard has the four built-ins
 * below plus whatever code registers, and loads user code with `manager=module;path=...`.
 *
 * Attrs read by the built-ins (in the manager's own scope, after the `manager=` attr):
 * - `logging`: `file=<path>` (default stdout).
 * - `module`: `path=<file>` (required).
 * - `exec`: `program=<path>` (required), `arg=<a>` (repeatable, in order), `timeout=<ms>`,
 *   `callouts=<preListen,preAccept,...>`, `concurrency=<n>`.
 * - `portrange`: `range=<lo-hi>` (required).
 * @module
 */
import { InvalidArgumentError, NetManagerConfigError } from '../errors.ts';
import { GLOBAL_SCOPE, attrsToRecord, copyAttrs, getAttrs } from './attrs.ts';
import { calloutFromName } from './callouts.ts';
import { createExecManager } from './managers/exec.ts';
import { createLoggingManager } from './managers/logging.ts';
import { createModuleManager } from './managers/module.ts';
import { createPortRangeManager } from './managers/portrange.ts';
import { parseIntValue } from './values.ts';
import type { Attr, Callout, NetManager } from './types.ts';

/** What a factory is given to create one manager. */
export interface NetManagerConfig {
  /** The name it was asked for (`manager=X`), also the scope of its own attrs. */
  readonly name: string;
  /** `global` attrs first, then the manager's own, in order (repeated names kept). */
  readonly attrs: readonly Attr[];
  /** {@link attrs} of scopes `global` and `name` as name → value, later ones winning. */
  readonly managerAttrs: Readonly<Record<string, string>>;
}

/** Creates a manager from its configuration; may be async (open a file, import a module). */
export type NetManagerFactory = (config: NetManagerConfig) => NetManager | Promise<NetManager>;

function first(config: NetManagerConfig, attr: string): string | undefined {
  // GCT's logging manager takes the first (logging, file) attr of its own scope; every built-in
  // does the same, and none reads global attrs as its configuration.
  return getAttrs(config.attrs, config.name, attr)[0];
}

function optionalInt(config: NetManagerConfig, attr: string, min: number, max: number): number | undefined {
  const v = first(config, attr);
  if (v === undefined) return undefined;
  try {
    return parseIntValue(config.name, attr, v, min, max);
  } catch (err) {
    throw new NetManagerConfigError(config.name, (err as Error).message, undefined, { cause: err });
  }
}

const BUILT_INS: ReadonlyArray<[string, NetManagerFactory]> = [
  ['logging', (c) => createLoggingManager({ name: c.name, file: first(c, 'file') })],
  ['module', (c) => createModuleManager({ name: c.name, path: first(c, 'path') ?? '' })],
  [
    'exec',
    (c) => {
      const list = first(c, 'callouts');
      let callouts: Callout[] | undefined;
      if (list !== undefined) {
        callouts = list.split(',').map((s) => {
          const callout = calloutFromName(s.trim());
          if (callout === undefined) throw new NetManagerConfigError(c.name, `callouts=${list} names ${JSON.stringify(s.trim())}, which is not a callout`);
          return callout;
        });
      }
      return createExecManager({
        name: c.name,
        program: first(c, 'program') ?? '',
        args: getAttrs(c.attrs, c.name, 'arg'),
        timeout: optionalInt(c, 'timeout', 1, 3_600_000),
        concurrency: optionalInt(c, 'concurrency', 1, 1024),
        callouts,
      });
    },
  ],
  [
    'portrange',
    (c) => {
      const range = first(c, 'range');
      if (range === undefined) throw new NetManagerConfigError(c.name, 'The portrange manager needs range=lo-hi, e.g. manager=portrange;range=50000-51000;');
      return createPortRangeManager({ name: c.name, range });
    },
  ],
];

const registry = new Map<string, NetManagerFactory>(BUILT_INS);

/** Names of the built-in managers. */
export const BUILT_IN_MANAGERS: readonly string[] = Object.freeze(BUILT_INS.map(([n]) => n));

/**
 * Registers a factory under `name` so that `manager=<name>` creates it (GCT's
 * `globus_net_manager_register`). Throws {@link InvalidArgumentError} when the name is empty,
 * contains `;`, `=` or whitespace, or is already registered (unregister it first).
 */
export function registerNetManager(name: string, factory: NetManagerFactory): void {
  if (typeof name !== 'string' || !/^[^\s;=]+$/.test(name)) {
    throw new InvalidArgumentError('name', `A network manager name must be non-empty without ";", "=" or blanks, not ${JSON.stringify(name)}`);
  }
  if (typeof factory !== 'function') throw new InvalidArgumentError('factory', 'A network manager factory must be a function');
  if (registry.has(name)) throw new InvalidArgumentError('name', `A network manager named ${name} is already registered`);
  registry.set(name, factory);
}

/** Removes a registered factory (built-ins too). Returns whether there was one. */
export function unregisterNetManager(name: string): boolean {
  return registry.delete(name);
}

/** The registered manager names, sorted. */
export function registeredNetManagers(): string[] {
  return [...registry.keys()].sort();
}

/**
 * Creates the manager registered as `name` with `attrs` (its own scope and `global`; other scopes
 * are passed through and ignored by the built-ins).
 *
 * Rejects with {@link NetManagerConfigError}: "A network manager (X) errored in attempting to
 * activate module: ..." when no manager has that name, and "... errored in attempting to load
 * activated module: ..." when its factory fails (the factory's own NetManagerConfigError is passed
 * on unchanged).
 * @example
 * const log = await managerFromName('logging', [['logging', 'file', '/tmp/net.log']]);
 */
export async function managerFromName(name: string, attrs: readonly Attr[] = []): Promise<NetManager> {
  const factory = registry.get(name);
  if (factory === undefined) {
    throw new NetManagerConfigError(
      name,
      `A network manager (${name}) errored in attempting to activate module: no manager is registered as ${JSON.stringify(name)} ` +
        `(known: ${registeredNetManagers().join(', ')}; load your own code with manager=module;path=<file>)`,
    );
  }
  const list = copyAttrs(attrs);
  const config: NetManagerConfig = Object.freeze({
    name,
    attrs: Object.freeze(list),
    managerAttrs: Object.freeze(attrsToRecord(list, [GLOBAL_SCOPE, name])),
  });
  let manager: NetManager;
  try {
    manager = await factory(config);
  } catch (err) {
    if (err instanceof NetManagerConfigError) throw err;
    throw new NetManagerConfigError(
      name,
      `A network manager (${name}) errored in attempting to load activated module: ${err instanceof Error ? err.message : String(err)}`,
      undefined,
      { cause: err },
    );
  }
  if (manager === null || typeof manager !== 'object') {
    throw new NetManagerConfigError(name, `A network manager (${name}) errored in attempting to load activated module: its factory returned ${String(manager)}`);
  }
  return manager;
}

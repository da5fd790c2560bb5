/**
 * `switchyard/hooks`: network managers, the Globus GCT net-manager model. A manager is a plain
 * object with any of nine callouts (`preListen`, `postListen`, `endListen`, `preAccept`,
 * `postAccept`, `preConnect`, `postConnect`, `preClose`, `postClose`) that Switchyard's transport
 * calls around every listen, accept, connect and close. Managers see `[scope, name, value]` attrs
 * and contacts, may return new attrs (and, in postListen and preConnect, a new contact), and veto
 * by throwing. Chains run managers in configuration order. See docs/hooks.md.
 *
 * @example
 * import { loadNetHooks } from 'switchyard/hooks';
 *
 * const hooks = await loadNetHooks({
 *   netmgr: 'manager=logging;file=/var/log/switchyard/net.log;manager=portrange;range=50000-51000;',
 *   hooks: [
 *     {
 *       name: 'via-gateway',
 *       // Send connections for the lab network through a gateway host, from the lab interface.
 *       preConnect: ({ remoteContact, attrs }) =>
 *         remoteContact?.startsWith('lab-')
 *           ? { contact: 'gw.example.org:1875', attrs: [...attrs, ['tcp', 'iface', '192.168.7.2']] }
 *           : undefined,
 *     },
 *   ],
 * });
 * // hand `hooks` to the Manager, a client or a gateway; `await hooks.close()` at the end.
 * @module
 */
export type {
  Attr,
  Callout,
  CalloutFn,
  CalloutInfo,
  CalloutResult,
  ChainOutcome,
  ChainRunInfo,
  ConnectionCallouts,
  ConnectionRunInfo,
  NetHooks,
  NetManager,
} from './types.ts';
export { CALLOUTS } from './types.ts';
export { CALLOUT_SPECS, calloutFromName, type CalloutOutput, type CalloutSpec } from './callouts.ts';
export {
  GLOBAL_SCOPE,
  NET_MANAGER_SCOPE,
  attrsFromString,
  attrsInScope,
  attrsToRecord,
  attrsToString,
  copyAttrs,
  formatOptionString,
  getAttr,
  getAttrs,
  makeAttr,
  parseOptionFile,
  parseOptionString,
  removeAttrs,
  setAttr,
  type ParsedOptions,
} from './attrs.ts';
export { parseBoolValue, parseIntValue, parsePortRangeValue, parsePortValue, parseSizeValue, type PortRange } from './values.ts';
export { formatContact, parseContact, type Contact } from './contact.ts';
export { newTaskId } from './task-id.ts';
export {
  ConnectionHooks,
  DEFAULT_CALLOUT_TIMEOUT_MS,
  NetManagerChain,
  createChain,
  type ChainEntry,
  type ChainOptions,
  type ConnectionHooksOptions,
  type ResolvedEntry,
} from './chain.ts';
export {
  BUILT_IN_MANAGERS,
  managerFromName,
  registerNetManager,
  registeredNetManagers,
  unregisterNetManager,
  type NetManagerConfig,
  type NetManagerFactory,
} from './registry.ts';
export {
  NETMGR_ENV,
  chainFromOptionString,
  loadNetHooks,
  managersFromAttrs,
  netmgrDir,
  readOptionFiles,
  type ManagerSpec,
  type NetHooksConfig,
} from './config.ts';
export { createLoggingManager, formatLogLine, type LoggingManagerOptions } from './managers/logging.ts';
export { createModuleManager, type ModuleManagerOptions } from './managers/module.ts';
export { createExecManager, EXEC_DEFAULTS, type ExecManagerOptions } from './managers/exec.ts';
export { createPortRangeManager, type PortRangeManagerOptions } from './managers/portrange.ts';
export {
  AttrStringError,
  AttrValueError,
  InvalidContactError,
  NetManagerConfigError,
  NetManagerError,
  NetManagerExecError,
  NetManagerModuleError,
  NetManagerResultError,
} from '../errors.ts';

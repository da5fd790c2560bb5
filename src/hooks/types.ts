/**
 * Types of the network-manager hooks (the Globus GCT net-manager model). This file is the
 * contract between `hooks/` (which builds chains of managers) and `transport/` (which calls a
 * chain around every listen, accept, connect and close).
 * @module
 */

/** An attribute: `[scope, name, value]`, all strings. Scope is a manager name, `tcp`, or `global`. */
export type Attr = readonly [scope: string, name: string, value: string];

/** The nine callouts, in the order a connection meets them. */
export const CALLOUTS = [
  'preListen',
  'postListen',
  'endListen',
  'preAccept',
  'postAccept',
  'preConnect',
  'postConnect',
  'preClose',
  'postClose',
] as const;

/** Name of one callout. */
export type Callout = (typeof CALLOUTS)[number];

/** What a callout is told. Contacts are `host:port` strings (IPv6 hosts in brackets). */
export interface CalloutInfo {
  /** The task this connection belongs to (one per connection unless the caller sets one). */
  readonly taskId: string;
  /** The transport driver, e.g. `"tcp"` (TLS runs on top of tcp and is still `"tcp"`). */
  readonly transport: string;
  /** The local contact, when known at this point. */
  readonly localContact?: string | undefined;
  /** The remote contact, when known at this point. */
  readonly remoteContact?: string | undefined;
  /** All attrs of the operation, as the chain has them so far. */
  readonly attrs: readonly Attr[];
  /** The attrs in this manager's own scope (and `global`), as a name → value object. */
  readonly managerAttrs: Readonly<Record<string, string>>;
  /**
   * Aborted when the chain gives up on this callout (its timeout passed) or the caller aborted the
   * operation. Managers that wait (a child process, a firewall API) should stop when it fires.
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * What a callout may return: nothing (no change), or an object with new attrs and, for
 * `postListen` and `preConnect`, a new contact. Returning `attrs` replaces the whole list.
 */
export type CalloutResult = void | undefined | { attrs?: readonly Attr[]; contact?: string };

/** A callout function: sync or async. Throwing (or rejecting) vetoes the operation. */
export type CalloutFn = (info: CalloutInfo) => CalloutResult | Promise<CalloutResult>;

/** A network manager: an object with any of the nine callouts. */
export type NetManager = { readonly [K in Callout]?: CalloutFn } & {
  /** Name used in errors and attr scopes; built-ins set it, code-supplied managers may. */
  readonly name?: string;
  /**
   * Releases what the manager holds (open log files, ...). A chain calls it from its own `close()`
   * for the managers it created from configuration; safe to call twice.
   */
  readonly close?: () => void | Promise<void>;
};

/** The result of running a chain for one callout. */
export interface ChainOutcome {
  attrs: Attr[];
  /** The contact after every manager had its say (only changed by postListen and preConnect). */
  contact: string | undefined;
}

/**
 * What the caller of a chain gives for one callout. `contact` is the contact the callout may rewrite
 * (postListen: the local contact, preConnect: the remote contact); when omitted the chain takes
 * `localContact` for postListen and `remoteContact` for preConnect.
 */
export type ChainRunInfo = Omit<CalloutInfo, 'managerAttrs'> & { contact?: string | undefined };

/** What a per-connection caller gives: the task id and transport are the connection's own. */
export type ConnectionRunInfo = Omit<ChainRunInfo, 'taskId' | 'transport'>;

/** The callouts of one connection (or one listener), run one at a time in call order. */
export interface ConnectionCallouts {
  /** The connection's task id, passed to every callout. */
  readonly taskId: string;
  /** Runs one callout after every earlier one of this connection has settled. */
  run(callout: Callout, info: ConnectionRunInfo): Promise<ChainOutcome>;
}

/**
 * What transport/ needs from hooks/: run one callout through the whole chain. Rejects with a
 * `NetManagerError` naming the manager and callout when a manager vetoes.
 */
export interface NetHooks {
  /** True when no manager implements any callout; transport skips all work then. */
  readonly empty: boolean;
  run(callout: Callout, info: ChainRunInfo): Promise<ChainOutcome>;
  /**
   * A serialized view for one connection or listener (one chain call at a time, a task id of its
   * own unless given). Chains from `switchyard/hooks` implement it; wrap other implementations in
   * `new ConnectionHooks(hooks)`.
   */
  forConnection?(options?: { taskId?: string | undefined; transport?: string | undefined }): ConnectionCallouts;
}

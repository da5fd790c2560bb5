/**
 * What each of the nine callouts is given and may give back, in one table shared by the chain and
 * the built-in managers.
 * @module
 */
import { CALLOUTS, type Callout } from './types.ts';

/** What a callout may return: new attrs, a new contact and attrs, or nothing at all. */
export type CalloutOutput = 'attrs' | 'contact' | 'none';

/** The shape of one callout. */
export interface CalloutSpec {
  /** GCT's name for it (`pre_listen`, ...): used by the logging line and `module` exports. */
  readonly gctName: string;
  /** GCT passes the local contact to this callout. */
  readonly local: boolean;
  /** GCT passes the remote contact to this callout. */
  readonly remote: boolean;
  /** What it may return. */
  readonly output: CalloutOutput;
  /** For `output: 'contact'`: which contact the returned one replaces. */
  readonly rewrites?: 'local' | 'remote';
}

/** The nine callouts' shapes (GCT `globus_net_manager_t`, one row per function pointer). */
export const CALLOUT_SPECS: Readonly<Record<Callout, CalloutSpec>> = Object.freeze({
  preListen: { gctName: 'pre_listen', local: false, remote: false, output: 'attrs' },
  postListen: { gctName: 'post_listen', local: true, remote: false, output: 'contact', rewrites: 'local' },
  endListen: { gctName: 'end_listen', local: true, remote: false, output: 'none' },
  preAccept: { gctName: 'pre_accept', local: true, remote: false, output: 'attrs' },
  postAccept: { gctName: 'post_accept', local: true, remote: true, output: 'attrs' },
  preConnect: { gctName: 'pre_connect', local: false, remote: true, output: 'contact', rewrites: 'remote' },
  postConnect: { gctName: 'post_connect', local: true, remote: true, output: 'attrs' },
  preClose: { gctName: 'pre_close', local: true, remote: true, output: 'none' },
  postClose: { gctName: 'post_close', local: true, remote: true, output: 'none' },
} satisfies Record<Callout, CalloutSpec>);

const BY_NAME = new Map<string, Callout>();
for (const c of CALLOUTS) {
  BY_NAME.set(c, c);
  BY_NAME.set(CALLOUT_SPECS[c].gctName, c);
}

/** True when `name` is one of the nine callouts (camelCase). */
export function isCallout(name: unknown): name is Callout {
  return typeof name === 'string' && (CALLOUTS as readonly string[]).includes(name);
}

/** The callout named `name` in camelCase (`preListen`) or GCT's snake_case (`pre_listen`), else `undefined`. */
export function calloutFromName(name: string): Callout | undefined {
  return BY_NAME.get(name);
}

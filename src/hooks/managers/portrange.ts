/**
 * The `portrange` network manager (`manager=portrange;range=50000-51000;`): makes every listener
 * choose its port inside the range, and refuses a listener that ended up outside it. A worked
 * example of a policy manager; see docs/hooks.md.
 *
 * - preListen: when the transport's `port` attr is missing, `0`, or outside the range, it removes
 *   `port` and sets `listen_range` to the range (the transport then binds the first free port in it);
 *   a requested port inside the range is kept.
 * - postListen: vetoes when the bound port (from the local contact) is outside the range, so a
 *   transport that ignored `listen_range` cannot slip through.
 * @module
 */
import { NetManagerConfigError } from '../../errors.ts';
import { getAttr, removeAttrs, setAttr } from '../attrs.ts';
import { parseContact } from '../contact.ts';
import { parsePortRangeValue, parsePortValue, type PortRange } from '../values.ts';
import type { CalloutInfo, CalloutResult, NetManager } from '../types.ts';

/** Options of {@link createPortRangeManager}: `range` as `"lo-hi"`, or `min` and `max`. */
export type PortRangeManagerOptions = { readonly range: string; readonly name?: string | undefined } | (PortRange & { readonly name?: string | undefined });

/**
 * Creates a portrange manager. Throws {@link NetManagerConfigError} when the range is not
 * `lo-hi` with 1 <= lo <= hi <= 65535.
 */
export function createPortRangeManager(options: PortRangeManagerOptions): NetManager {
  const name = options.name ?? 'portrange';
  let range: PortRange;
  try {
    range = 'range' in options ? parsePortRangeValue(name, 'range', options.range) : parsePortRangeValue(name, 'range', `${options.min}-${options.max}`);
  } catch (err) {
    throw new NetManagerConfigError(name, `The portrange manager needs range=lo-hi: ${(err as Error).message}`, undefined, { cause: err });
  }
  const text = `${range.min}-${range.max}`;
  return {
    name,
    preListen(info: CalloutInfo): CalloutResult {
      const scope = info.transport;
      const requested = getAttr(info.attrs, scope, 'port');
      const port = requested === undefined ? 0 : parsePortValue(scope, 'port', requested);
      if (port >= range.min && port <= range.max) return undefined;
      return { attrs: setAttr(removeAttrs(info.attrs, scope, 'port'), scope, 'listen_range', text) };
    },
    postListen(info: CalloutInfo): CalloutResult {
      const { port } = parseContact(info.localContact ?? '');
      if (port < range.min || port > range.max) {
        throw new RangeError(`the listener is bound to port ${port}, outside the allowed range ${text}`);
      }
      return undefined;
    },
  };
}

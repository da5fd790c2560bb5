/**
 * Turning a hook chain's `tcp` attrs into real listen, connect and socket options.
 *
 * | attr | where | effect |
 * |---|---|---|
 * | `port` | listen | the port to bind (`0` = any) |
 * | `listen_range` | listen | `lo-hi` (or GCT's `lo hi`): bind the first free port in the range, used when `port` is absent or `0` |
 * | `iface` | listen, connect | the address to bind; for connect, the local address connections leave from |
 * | `nodelay` | socket | `socket.setNoDelay()` |
 * | `keepalive`, `keepalive_idle` | socket | `socket.setKeepAlive(on, idleSeconds * 1000)`; an idle time alone turns keepalive on |
 * | `sndbuf`, `rcvbuf` | socket | **not applied**: Node.js 20 has no way to set SO_SNDBUF/SO_RCVBUF on a TCP socket (only on UDP); the request is validated, reported in `notApplied`, and a one-time process warning says so |
 *
 * When a name appears more than once, the last one counts (later managers override earlier ones).
 * Values are checked; a bad one throws `AttrValueError` naming the attr and the form expected.
 * @module
 */
import net from 'node:net';
import { AttrValueError } from '../errors.ts';
import { getAttr } from '../hooks/attrs.ts';
import { parseBoolValue, parseIntValue, parsePortRangeValue, parsePortValue, parseSizeValue, type PortRange } from '../hooks/values.ts';
import type { Attr } from '../hooks/types.ts';

/** Where and how to listen, from the attrs after preListen. */
export interface ListenPlan {
  /** The address to bind; `undefined` binds every interface. */
  readonly host: string | undefined;
  /** Ports to try in order until one binds: one port (`0` = any free port), or every port of the range. */
  readonly ports: readonly number[];
  /** The range the ports come from, when `listen_range` decided them. */
  readonly range: PortRange | undefined;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function ifaceOf(attrs: readonly Attr[], scope: string): string | undefined {
  const v = getAttr(attrs, scope, 'iface');
  if (v === undefined) return undefined;
  const host = stripBrackets(v.trim());
  if (host === '' || /\s/.test(host)) throw new AttrValueError(scope, 'iface', v, 'an IP address or host name to bind');
  return host;
}

/**
 * The attrs a transport should give `preListen` for a listen request, so that managers see (and
 * may change) the requested port and interface: `[tcp, port, N]` and, when a host is given,
 * `[tcp, iface, host]`.
 */
export function listenAttrs(request: { host?: string | undefined; port: number }, transport = 'tcp'): Attr[] {
  const out: Attr[] = [[transport, 'port', String(request.port)]];
  if (request.host !== undefined) out.push([transport, 'iface', request.host]);
  return out;
}

/**
 * Computes where to listen from the attrs (of scope `transport`) after preListen. Precedence: a
 * non-zero `port` attr; else `listen_range` (every port of it, in order); else `defaults.port`.
 * `iface` beats `defaults.host`. Throws {@link AttrValueError} for a bad `port`, `listen_range` or
 * `iface`.
 * @example
 * listenOptionsFromAttrs([['tcp', 'listen_range', '50000-50002']], { port: 0 });
 * // { host: undefined, ports: [50000, 50001, 50002], range: { min: 50000, max: 50002 } }
 */
export function listenOptionsFromAttrs(attrs: readonly Attr[], defaults: { host?: string | undefined; port: number }, transport = 'tcp'): ListenPlan {
  const host = ifaceOf(attrs, transport) ?? defaults.host;
  const portText = getAttr(attrs, transport, 'port');
  const port = portText === undefined ? undefined : parsePortValue(transport, 'port', portText);
  if (port !== undefined && port !== 0) return { host, ports: [port], range: undefined };
  const rangeText = getAttr(attrs, transport, 'listen_range');
  if (rangeText !== undefined) {
    const range = parsePortRangeValue(transport, 'listen_range', rangeText);
    const ports: number[] = [];
    for (let p = range.min; p <= range.max; p++) ports.push(p);
    return { host, ports, range };
  }
  return { host, ports: [port ?? defaults.port], range: undefined };
}

/**
 * Options for `net.connect()` from the attrs after preConnect: `iface` becomes `localAddress`
 * (connections leave from that address, so the kernel routes them out of its interface). Throws
 * {@link AttrValueError} when `iface` is not an IP address (Node.js binds outgoing sockets only
 * to addresses).
 */
export function connectOptionsFromAttrs(attrs: readonly Attr[], transport = 'tcp'): { localAddress?: string } {
  const iface = ifaceOf(attrs, transport);
  if (iface === undefined) return {};
  if (net.isIP(iface) === 0) {
    throw new AttrValueError(transport, 'iface', iface, 'an IP address (Node.js binds outgoing connections only to addresses, not names)');
  }
  return { localAddress: iface };
}

/** Socket options requested by attrs, validated. */
export interface SocketOptionRequest {
  readonly nodelay?: boolean;
  readonly keepalive?: boolean;
  readonly keepaliveIdleSeconds?: number;
  /** Requested SO_SNDBUF in bytes (cannot be applied under Node.js 20). */
  readonly sndbuf?: number;
  /** Requested SO_RCVBUF in bytes (cannot be applied under Node.js 20). */
  readonly rcvbuf?: number;
  /** Attrs of the transport's scope that are not socket options Switchyard knows how to apply. */
  readonly unsupported: ReadonlyArray<{ readonly name: string; readonly value: string; readonly reason: string }>;
}

/** What {@link applySocketOptions} did. */
export interface SocketOptionsReport {
  /** Options set on the socket, with the values set. */
  readonly applied: { readonly nodelay?: boolean; readonly keepalive?: boolean; readonly keepaliveIdleSeconds?: number };
  /** Options requested but not applied, each with the reason. */
  readonly notApplied: ReadonlyArray<{ readonly name: string; readonly value: string; readonly reason: string }>;
}

/** Why `sndbuf` and `rcvbuf` are never applied. */
export const SOCKET_BUFFER_UNSUPPORTED =
  'Node.js 20 cannot set SO_SNDBUF/SO_RCVBUF on TCP sockets (net.Socket has no such setter; only dgram sockets do); the kernel default and autotuning apply';

/** Attr names used at listen or connect time, not on a connected socket. */
const ADDRESS_ATTRS = new Set(['port', 'listen_range', 'iface']);

const GCT_ONLY: Readonly<Record<string, string>> = {
  reuse: 'Node.js sets SO_REUSEADDR on every listening socket itself and cannot turn it off',
  noipv6: 'not supported: choose the address family with iface',
  oobinline: 'Node.js has no setter for SO_OOBINLINE',
};

/**
 * Reads and validates the socket options among `attrs` (scope `transport`). Listen and connect
 * attrs (`port`, `listen_range`, `iface`) are skipped; other names go to `unsupported` with the
 * reason. Throws {@link AttrValueError} for a bad value.
 */
export function socketOptionsFromAttrs(attrs: readonly Attr[], transport = 'tcp'): SocketOptionRequest {
  const latest = new Map<string, string>();
  for (const [scope, name, value] of attrs) if (scope === transport) latest.set(name, value);
  const req: {
    nodelay?: boolean;
    keepalive?: boolean;
    keepaliveIdleSeconds?: number;
    sndbuf?: number;
    rcvbuf?: number;
    unsupported: Array<{ name: string; value: string; reason: string }>;
  } = { unsupported: [] };
  for (const [name, value] of latest) {
    switch (name) {
      case 'nodelay':
        req.nodelay = parseBoolValue(transport, name, value);
        break;
      case 'keepalive':
        req.keepalive = parseBoolValue(transport, name, value);
        break;
      case 'keepalive_idle':
        req.keepaliveIdleSeconds = parseIntValue(transport, name, value, 1, Math.floor((2 ** 31 - 1) / 1000));
        break;
      case 'sndbuf':
      case 'rcvbuf':
        req[name] = parseSizeValue(transport, name, value);
        break;
      default:
        if (!ADDRESS_ATTRS.has(name)) req.unsupported.push({ name, value, reason: GCT_ONLY[name] ?? `unknown ${transport} option` });
    }
  }
  return req;
}

let bufferWarningGiven = false;

/**
 * Applies a request to a socket (connected, accepted, or about to connect): `setNoDelay` and
 * `setKeepAlive`. `sndbuf`/`rcvbuf` are reported in `notApplied` (and the first such request of the
 * process emits the warning `SWITCHYARD_WARN_SOCKET_BUFFER`); so are `unsupported` attrs. Never
 * throws for an unsupported option; never pretends one was applied.
 */
export function applySocketOptions(socket: net.Socket, request: SocketOptionRequest): SocketOptionsReport {
  const applied: { nodelay?: boolean; keepalive?: boolean; keepaliveIdleSeconds?: number } = {};
  const notApplied: Array<{ name: string; value: string; reason: string }> = [...request.unsupported];
  if (request.nodelay !== undefined) {
    socket.setNoDelay(request.nodelay);
    applied.nodelay = request.nodelay;
  }
  const keepalive = request.keepalive ?? (request.keepaliveIdleSeconds !== undefined ? true : undefined);
  if (keepalive === true) {
    socket.setKeepAlive(true, (request.keepaliveIdleSeconds ?? 0) * 1000);
    applied.keepalive = true;
    if (request.keepaliveIdleSeconds !== undefined) applied.keepaliveIdleSeconds = request.keepaliveIdleSeconds;
  } else if (keepalive === false) {
    socket.setKeepAlive(false);
    applied.keepalive = false;
    if (request.keepaliveIdleSeconds !== undefined) {
      notApplied.push({ name: 'keepalive_idle', value: String(request.keepaliveIdleSeconds), reason: 'keepalive is off' });
    }
  }
  for (const name of ['sndbuf', 'rcvbuf'] as const) {
    const v = request[name];
    if (v === undefined) continue;
    notApplied.push({ name, value: String(v), reason: SOCKET_BUFFER_UNSUPPORTED });
    if (!bufferWarningGiven) {
      bufferWarningGiven = true;
      process.emitWarning(`A network manager asked for ${name}=${v}, which is not applied: ${SOCKET_BUFFER_UNSUPPORTED}`, {
        code: 'SWITCHYARD_WARN_SOCKET_BUFFER',
      });
    }
  }
  return { applied, notApplied };
}

/**
 * {@link socketOptionsFromAttrs} then {@link applySocketOptions}: what transport calls on a socket
 * with the attrs after postAccept or postConnect. Throws {@link AttrValueError} for a bad value
 * (before touching the socket).
 */
export function applySocketAttrs(socket: net.Socket, attrs: readonly Attr[], transport = 'tcp'): SocketOptionsReport {
  return applySocketOptions(socket, socketOptionsFromAttrs(attrs, transport));
}

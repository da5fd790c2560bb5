/**
 * How the Manager names a peer: msl-network takes the first label of the peer's reverse-DNS name
 * (or the numeric IP), and replaces any name of this machine by HOSTNAME. Unlike msl-network, the
 * lookup never blocks the event loop: local addresses are answered at once, others by an async
 * reverse lookup with a deadline and a bounded cache.
 * @module
 */
import { promises as dns } from 'node:dns';
import net from 'node:net';
import { HOSTNAME, localhostAliases } from '../util/host.ts';
import { guardTimer } from '../util/timers.ts';

/** What the Manager records about where a peer is. */
export interface PeerAddress {
  ipAddress: string;
  port: number;
  /** The reverse-DNS name (msl's `getfqdn` result), or the IP. */
  domain: string;
  /** The first DNS label, or the IP. */
  hostname: string;
  /** `host:port` with local names replaced by HOSTNAME. */
  address: string;
}

const CACHE_LIMIT = 1024;
const cache = new Map<string, string>();
let aliases: Set<string> | undefined;

function isLocal(ip: string): boolean {
  aliases ??= new Set(localhostAliases());
  return ip.startsWith('127.') || ip === '::1' || aliases.has(ip);
}

async function reverse(ip: string, timeoutMs: number): Promise<string> {
  const hit = cache.get(ip);
  if (hit !== undefined) return hit;
  let name = ip;
  try {
    const names = await Promise.race([
      dns.reverse(ip),
      new Promise<string[]>((resolve) => guardTimer(() => resolve([]), timeoutMs)),
    ]);
    if (names[0]) name = names[0];
  } catch {
    // No PTR record: msl-network keeps the numeric address.
  }
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(ip, name);
  return name;
}

/** Resolves a peer's names (never longer than `timeoutMs`). */
export async function resolvePeerAddress(ipAddress: string, port: number, timeoutMs = 2000): Promise<PeerAddress> {
  if (isLocal(ipAddress)) {
    return { ipAddress, port, domain: 'localhost', hostname: 'localhost', address: `${HOSTNAME}:${port}` };
  }
  const domain = await reverse(ipAddress, timeoutMs);
  const hostname = net.isIP(domain) ? domain : (domain.split('.')[0] ?? domain);
  aliases ??= new Set(localhostAliases());
  const address = aliases.has(hostname) ? `${HOSTNAME}:${port}` : `${hostname}:${port}`;
  return { ipAddress, port, domain, hostname, address };
}

/**
 * Host names as msl-network sees them: the machine's short hostname, and the set of aliases that
 * mean "this machine" (used for peer addresses and the default trusted-hostname table).
 * @module
 */
import { hostname, networkInterfaces } from 'node:os';

/** The machine's hostname, as Python's `socket.gethostname()` returns it. */
export const HOSTNAME: string = hostname();

/** Every local IPv4 address of this machine. */
export function localIPv4Addresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4') out.push(a.address);
  }
  return out;
}

/** Names that mean this machine (msl-network's `LOCALHOST_ALIASES`). */
export function localhostAliases(): string[] {
  const set = new Set<string>([
    HOSTNAME,
    'localhost',
    '127.0.0.1',
    '::1',
    '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa',
    '1.0.0.127.in-addr.arpa',
    ...localIPv4Addresses(),
  ]);
  return [...set];
}

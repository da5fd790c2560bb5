/**
 * Contacts: `host:port` strings, with IPv6 hosts in brackets (`[::1]:1875`), as GCT passes them to
 * its callouts.
 * @module
 */
import { InvalidContactError } from '../errors.ts';

/** A parsed contact. */
export interface Contact {
  /** Host name or address, without brackets. */
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `host:port` or `[v6-address]:port`. The host must be non-empty and the port 0-65535.
 * Throws {@link InvalidContactError} otherwise.
 */
export function parseContact(contact: string): Contact {
  if (typeof contact !== 'string') throw new InvalidContactError(String(contact), `Invalid contact ${String(contact)}: expected a "host:port" string`);
  const m = /^\[([^\]\s]+)\]:(\d{1,5})$/.exec(contact) ?? /^([^:\s[\]]+):(\d{1,5})$/.exec(contact);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) {
    throw new InvalidContactError(
      contact,
      `Invalid contact ${JSON.stringify(contact)}: expected host:port (IPv6 addresses as [addr]:port, port 0-65535)`,
    );
  }
  return { host: m[1]!, port };
}

/** Formats a contact: `host:port`, or `[host]:port` when the host is an IPv6 address. */
export function formatContact(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

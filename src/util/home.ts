/**
 * Where Switchyard keeps its files: `~/.switchyard`, or `$SWITCHYARD_HOME` when set.
 * Layout (as msl-network's `~/.msl/network`): `certs/`, `keys/`, `logs/`, `manager.sqlite3`.
 * @module
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The Switchyard home directory (read from the environment at each call). */
export function switchyardHome(): string {
  const env = process.env['SWITCHYARD_HOME'];
  return env !== undefined && env !== '' ? env : join(homedir(), '.switchyard');
}

/** Well-known paths under the home directory. */
export const homePaths = {
  certs: (): string => join(switchyardHome(), 'certs'),
  keys: (): string => join(switchyardHome(), 'keys'),
  logs: (): string => join(switchyardHome(), 'logs'),
  database: (): string => join(switchyardHome(), 'manager.sqlite3'),
  /** Default certificate file for a host (msl-network: `certs/<host>.crt`). */
  cert: (host: string): string => join(switchyardHome(), 'certs', `${host}.crt`),
  /** Default key file for a host (msl-network: `keys/<host>.key`). */
  key: (host: string): string => join(switchyardHome(), 'keys', `${host}.key`),
};

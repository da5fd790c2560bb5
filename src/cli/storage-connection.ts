/**
 * The Manager connection flags of the storage commands (`brick serve`, `mount`): `--manager`,
 * `--cert-file`, `--disable-tls`, `--username` and `--password` (the last two defaulting to
 * `SWITCHYARD_USERNAME` / `SWITCHYARD_PASSWORD`), declared once and turned into the volume options
 * of `protocol/server` and `protocol/client` (`manager`, `cert-file`, `disable-tls`, `username`,
 * `password`).
 * @module
 */
import type { Command } from 'commander';

/** The connection flags as commander parses them. */
export interface StorageConnectionFlags {
  manager?: string;
  certFile?: string;
  disableTls?: boolean;
  username?: string;
  password?: string;
}

/** The help texts that differ between commands, and `--manager`'s default when a command has one. */
export interface StorageConnectionHelp {
  manager: string;
  managerDefault?: string;
  certFile: string;
  disableTls: string;
}

/** Declares the connection flags on `command` (after its own options); returns `command`. */
export function addStorageConnectionFlags(command: Command, help: StorageConnectionHelp): Command {
  if (help.managerDefault === undefined) command.option('-m, --manager <host:port>', help.manager);
  else command.option('-m, --manager <host:port>', help.manager, help.managerDefault);
  return command
    .option('-c, --cert-file <path>', help.certFile)
    .option('--disable-tls', help.disableTls)
    .option('-u, --username <name>', 'Login name, when the Manager asks (default $SWITCHYARD_USERNAME)')
    .option('-p, --password <password>', 'Login password, when the Manager asks (default $SWITCHYARD_PASSWORD)');
}

/**
 * The volume options the flags set, in the order `manager`, `cert-file`, `disable-tls` (`on`),
 * `username`, `password`; a flag not given is left out, and an empty login name or password (flag
 * or environment) counts as not given.
 */
export function storageConnectionOptions(flags: StorageConnectionFlags): Record<string, string> {
  const options: Record<string, string> = {};
  if (flags.manager !== undefined) options['manager'] = flags.manager;
  if (flags.certFile !== undefined) options['cert-file'] = flags.certFile;
  if (flags.disableTls === true) options['disable-tls'] = 'on';
  const username = flags.username ?? process.env['SWITCHYARD_USERNAME'];
  const password = flags.password ?? process.env['SWITCHYARD_PASSWORD'];
  if (username !== undefined && username !== '') options['username'] = username;
  if (password !== undefined && password !== '') options['password'] = password;
  return options;
}

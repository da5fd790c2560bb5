/**
 * `switchyard start`: runs a Manager. Every option of `msl-network start` exists with the same
 * name, short flag, default and meaning; Switchyard adds `--netmgr` and `--max-message-size`.
 * @module
 */
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { InvalidArgumentError } from '../errors.ts';
import { loadNetHooks } from '../hooks/index.ts';
import { DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_PORT, startManager } from '../manager/manager.ts';
import { homePaths } from '../util/home.ts';
import { createLogger, toPinoLevel } from '../util/log.ts';
import { passwordFromWords } from './password.ts';

function timestamp(d = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`;
}

interface StartFlags {
  authHostname?: boolean;
  authLogin?: boolean;
  authPassword?: string[];
  certFile?: string;
  database?: string;
  disableTls?: boolean;
  host?: string;
  keyFile?: string;
  keyFilePassword?: string[];
  port: string;
  logLevel: string;
  logFile?: string;
  netmgr?: string[];
  maxMessageSize?: string;
}

/** Registers `start`. */
export function registerStart(program: Command): void {
  program
    .command('start')
    .description('Start the Switchyard Network Manager (msl-network compatible).')
    .option('--auth-hostname', 'Only connections from trusted hostnames are allowed. See also: switchyard hostname')
    .option('--auth-login', 'Each connection must log in with a username and password. See also: switchyard user')
    .option('-P, --auth-password <words...>', 'A password every Client and Service must send (may contain spaces, or name a file whose first line is the password)')
    .option('-c, --cert-file <path>', 'The certificate for TLS (default: generated on first start). See also: switchyard certgen')
    .option('-d, --database <path>', 'The SQLite database for users, trusted hostnames and the connection log')
    .option('--disable-tls', 'Start without TLS (plain TCP)')
    .option('-H, --host <host>', 'The hostname or IP address to listen on (default: every interface)')
    .option('-k, --key-file <path>', 'The private key of the certificate; without --cert-file the default certificate is made from it')
    .option('-D, --key-file-password <words...>', 'The password of an encrypted key (or a file whose first line is the password)')
    .addOption(new Option('-p, --port <port>', 'The port number to use').default(String(DEFAULT_PORT)))
    .addOption(new Option('-G, --log-level <level>', 'The logging level (DEBUG, INFO, WARNING, ERROR, CRITICAL)').default('INFO'))
    .option('-l, --log-file <path>', 'The file to write log messages to (default: a new file in $SWITCHYARD_HOME/logs)')
    .option('--netmgr <options...>', 'Network-manager hooks, e.g. "manager=logging;file=/tmp/net.log;" (see docs/hooks.md)')
    .option('--max-message-size <bytes>', `The largest message accepted from a peer (default ${DEFAULT_MAX_MESSAGE_SIZE})`)
    .action(async (flags: StartFlags) => {
      const authPassword = passwordFromWords(flags.authPassword);
      const modes = [authPassword !== undefined, flags.authLogin === true, flags.authHostname === true].filter(Boolean).length;
      if (modes > 1) throw new InvalidArgumentError('auth', 'Cannot specify multiple authentication methods');
      if (toPinoLevel(flags.logLevel) === undefined) throw new InvalidArgumentError('log-level', `ValueError: Cannot set logging level to '${flags.logLevel}'`);
      const port = Number(flags.port);
      if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new InvalidArgumentError('port', 'ValueError: The port must be a positive integer');
      let maxMessageSize: number | undefined;
      if (flags.maxMessageSize !== undefined) {
        maxMessageSize = Number(flags.maxMessageSize);
        if (!Number.isInteger(maxMessageSize) || maxMessageSize <= 0) throw new InvalidArgumentError('max-message-size', 'The --max-message-size must be a positive number of bytes');
      }
      const logFile = flags.logFile ?? join(homePaths.logs(), `manager-${timestamp()}.log`);
      const logger = createLogger({ level: flags.logLevel, file: logFile, name: 'switchyard' });
      const hooks = await loadNetHooks({ netmgr: flags.netmgr });
      const manager = await startManager({
        host: flags.host,
        port,
        disableTls: flags.disableTls === true,
        certFile: flags.certFile,
        keyFile: flags.keyFile,
        keyFilePassword: passwordFromWords(flags.keyFilePassword),
        authPassword,
        authLogin: flags.authLogin === true,
        authHostname: flags.authHostname === true,
        database: flags.database,
        logger,
        maxMessageSize,
        hooks,
      });
      const stop = (): void => {
        void manager.close();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await manager.closed;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      logger.flush();
    });
}

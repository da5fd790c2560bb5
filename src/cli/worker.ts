/**
 * `switchyard worker --listen [host:]port`: the socket-gateway server. Every client that proves the
 * shared secret gets a worker process of its own (`makeGateway('socket=host:port//secret_file=...')`).
 * Refuses to start without a secret; listens on loopback unless `--listen` names another
 * interface; `--tls` serves TLS with the given or a generated certificate; `--netmgr` adds
 * network-manager hooks (as `switchyard start`).
 * @module
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { GatewayServerError, InvalidArgumentError } from '../errors.ts';
import { startWorkerServer } from '../gateway/socket-server.ts';
import { loadNetHooks } from '../hooks/index.ts';
import { ensureManagerCertificate } from '../transport/certs.ts';
import { resolveHooks } from '../transport/default-hooks.ts';
import { parseContact } from '../transport/tcp.ts';

interface WorkerFlags {
  listen: string;
  secretFile?: string;
  tls?: boolean;
  certFile?: string;
  keyFile?: string;
  maxWorkers?: string;
  netmgr?: string[];
  quiet?: boolean;
}

/** `8888`, `:8888` or `host:port` → host and port (host default `127.0.0.1`). */
function parseListen(text: string): { host: string; port: number } {
  const portOnly = /^:?(\d+)$/.exec(text);
  const { host, port } = portOnly ? { host: '', port: Number(portOnly[1]) } : parseContact(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('listen', `--listen ${text}: the port must be 0..65535`);
  return { host: host === '' ? '127.0.0.1' : host, port };
}

/** Reads the secret: the first line of `--secret-file`, else `SWITCHYARD_WORKER_SECRET`. */
function readSecret(file: string | undefined): string {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new GatewayServerError('secret', `Cannot read --secret-file ${file}: ${(err as Error).message}`, { cause: err });
    }
    return (text.split(/\r?\n/)[0] ?? '').trim();
  }
  const env = process.env['SWITCHYARD_WORKER_SECRET'];
  if (env === undefined || env === '') {
    throw new GatewayServerError(
      'secret',
      'Refusing to start without a shared secret (anyone who can connect could run code): pass --secret-file <path> or set SWITCHYARD_WORKER_SECRET; e.g. "openssl rand -hex 32 > secret"',
    );
  }
  return env;
}

/** Registers `worker`. */
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('Serve socket gateways: each client that proves the shared secret gets its own worker process.')
    .requiredOption('-l, --listen <[host:]port>', 'Where to listen (host defaults to 127.0.0.1; port 0 picks a free one)')
    .option('-s, --secret-file <path>', 'File whose first line is the shared secret (default: $SWITCHYARD_WORKER_SECRET)')
    .option('--tls', 'Serve TLS (clients add //tls//ca=<cert file> to the spec)')
    .option('-c, --cert-file <path>', 'TLS certificate (default with --tls: generated on first start under $SWITCHYARD_HOME)')
    .option('-k, --key-file <path>', 'TLS private key')
    .option('--max-workers <n>', 'Workers running at once; more clients are refused (default 64)')
    .option('--netmgr <options...>', 'Network-manager hooks, e.g. "manager=logging;file=/tmp/net.log;" (see docs/hooks.md)')
    .option('-q, --quiet', 'Do not log connections to stderr')
    .action(async (flags: WorkerFlags) => {
      const { host, port } = parseListen(flags.listen);
      const secret = readSecret(flags.secretFile);
      let maxWorkers: number | undefined;
      if (flags.maxWorkers !== undefined) {
        maxWorkers = Number(flags.maxWorkers);
        if (!Number.isInteger(maxWorkers) || maxWorkers <= 0) throw new InvalidArgumentError('max-workers', '--max-workers must be a positive integer');
      }
      if (!flags.tls && (flags.certFile !== undefined || flags.keyFile !== undefined)) {
        throw new InvalidArgumentError('tls', '--cert-file and --key-file need --tls');
      }
      let tls: { cert: string; key: string } | undefined;
      let certFile: string | undefined;
      if (flags.tls) {
        const files = await ensureManagerCertificate({ host, certFile: flags.certFile, keyFile: flags.keyFile });
        certFile = files.certFile;
        tls = { cert: readFileSync(files.certFile, 'utf8'), key: readFileSync(files.keyFile, 'utf8') };
      }
      const log = flags.quiet ? undefined : (line: string): void => void process.stderr.write(`switchyard worker: ${line}\n`);
      const server = await startWorkerServer({
        host,
        port,
        secret,
        tls,
        maxWorkers,
        // --netmgr strings run after the configuration files and SWITCHYARD_NETMGR, as for `start`.
        hooks: flags.netmgr === undefined ? await resolveHooks(undefined) : await loadNetHooks({ netmgr: flags.netmgr }),
        log,
      });
      process.stdout.write(`switchyard worker listening on ${server.contact}${tls ? ` (TLS, certificate ${certFile})` : ''}\n`);
      const stopped = new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await stopped;
    });
}

/**
 * `switchyard brick serve VOLFILE --name NAME`: serves a volfile's graph as a brick, through a
 * Manager, for `protocol/client` volumes elsewhere (`option remote-subvolume NAME`).
 *
 * The volfile is loaded and built (`loadVolfile` + `buildGraph`, as `graphFromFile` does, but the
 * server goes on top before any translator starts, so nothing is initialised twice): when its top
 * is not a `protocol/server` one is added above it; the command's `--name`, `--manager`,
 * `--cert-file`, `--disable-tls`, `--username` and `--password` (or `SWITCHYARD_USERNAME` /
 * `SWITCHYARD_PASSWORD`) set that server's options, over the volfile's own. It prints one line,
 * `brick NAME serving VOLUME through HOST:PORT`, and stops cleanly on SIGINT/SIGTERM (exit 0). When
 * the Manager goes away the brick stops too, with exit code 1.
 * @module
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.ts';
import { buildGraph } from '../translator/graph.ts';
import { loadVolfile, type VolfileSpec, type VolumeDecl } from '../translator/volfile.ts';
import type { ProtocolServer } from '../translator/types/protocol-server.ts';
import { addStorageConnectionFlags, storageConnectionOptions, type StorageConnectionFlags } from './storage-connection.ts';

interface BrickFlags extends StorageConnectionFlags {
  name: string;
  manager: string;
}

const SERVER_TYPE = 'protocol/server';

/** The spec with a protocol/server on top configured from `flags` (added when missing). */
function withServer(spec: VolfileSpec, flags: BrickFlags): VolfileSpec {
  const options: Record<string, string> = { name: flags.name, ...storageConnectionOptions(flags) };
  const top = spec.top;
  if (top.type === SERVER_TYPE) {
    const merged: VolumeDecl = { ...top, options: { ...top.options, ...options } };
    const volumes = spec.volumes.map((v) => (v === top ? merged : v));
    return { volumes, top: merged };
  }
  const taken = new Set(spec.volumes.map((v) => v.name));
  let name = `${top.name}-server`;
  for (let i = 2; taken.has(name); i++) name = `${top.name}-server-${i}`;
  const server: VolumeDecl = { name, type: SERVER_TYPE, options, subvolumes: [top.name], line: 0 };
  return { volumes: [...spec.volumes, server], top: server };
}

/** Registers `brick` (`brick serve`). */
export function registerBrick(program: Command): void {
  const brick = program.command('brick').description('Serve translator graphs (bricks) for protocol/client volumes elsewhere.');
  const serve = brick
    .command('serve')
    .description('Serve the graph of VOLFILE as the brick NAME through a Manager.')
    .argument('<volfile>', 'The volfile of the graph to serve (a protocol/server is added on top when missing)')
    .requiredOption('-n, --name <name>', "The brick's service name (clients set it as 'option remote-subvolume')");
  addStorageConnectionFlags(serve, {
    manager: "The Manager (default: the volfile's protocol/server option, else localhost:1875)",
    certFile: "The Manager's certificate to trust (default $SWITCHYARD_HOME/certs/<host>.crt)",
    disableTls: 'Plain TCP to the Manager',
  }).action(async (volfile: string, flags: BrickFlags) => {
    if (flags.name.trim() === '') throw new InvalidArgumentError('name', '--name must not be empty');
    const spec = withServer(await loadVolfile(volfile), flags);
    const graph = await buildGraph(spec, { source: volfile });
    await graph.init();
    const server = graph.top as ProtocolServer;
    process.stdout.write(`brick ${flags.name} serving ${server.child.name} through ${server.manager}\n`);
    let stop = (): void => {};
    const outcome = await new Promise<'signal' | 'manager'>((resolve) => {
      stop = (): void => resolve('signal');
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      void server.whenStopped().then(() => resolve('manager'));
    });
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await graph.fini();
    if (outcome === 'manager') {
      process.stderr.write(`switchyard: brick ${flags.name}: the Manager ${server.manager} closed the connection\n`);
      process.exitCode = 1;
    }
  });
}

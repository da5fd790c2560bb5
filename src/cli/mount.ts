/**
 * `switchyard mount VOLFILE MOUNTPOINT`: the volfile's graph as a real file system through FUSE.
 *
 * The volfile is loaded and its `protocol/client` volumes get the command's connection options
 * (`--manager`, `--cert-file`, `--disable-tls`, `--username`, `--password`, the last two
 * defaulting to `SWITCHYARD_USERNAME` / `SWITCHYARD_PASSWORD`) over their own; then the graph is
 * built, started and mounted. `--cache-timeout` lets the kernel cache names and attributes for that
 * many seconds (default 0, so that changes made through other clients are seen at once). It prints `mounted VOLFILE on MOUNTPOINT` and unmounts cleanly on
 * SIGINT/SIGTERM (exit 0). A volfile error, a mountpoint that is not an empty directory, or FUSE
 * missing on the machine gives a one-line error and exit 1.
 * @module
 */
import type { Command } from 'commander';
import { SwitchyardError, TranslatorError, VolfileError } from '../errors.ts';
import { buildGraph } from '../translator/graph.ts';
import { loadVolfile, type VolfileSpec, type VolumeDecl } from '../translator/volfile.ts';
import { Volume } from '../volume/volume.ts';
import { addStorageConnectionFlags, storageConnectionOptions, type StorageConnectionFlags } from './storage-connection.ts';

interface MountFlags extends StorageConnectionFlags {
  readOnly?: boolean;
  allowOther?: boolean;
  debug?: boolean;
  cacheTimeout?: string;
}

const CLIENT_TYPE = 'protocol/client';

/** The spec with the connection flags set on every protocol/client volume, over the volfile's values. */
function withConnectionOptions(spec: VolfileSpec, flags: MountFlags): VolfileSpec {
  const options = storageConnectionOptions(flags);
  if (Object.keys(options).length === 0) return spec;
  const volumes = spec.volumes.map((v): VolumeDecl => (v.type === CLIENT_TYPE ? { ...v, options: { ...v.options, ...options } } : v));
  const top = volumes[spec.volumes.indexOf(spec.top)] ?? spec.top;
  return { volumes, top };
}

/** Registers `mount`. */
export function registerMount(program: Command): void {
  const command = program
    .command('mount')
    .description('Mount the graph of VOLFILE on MOUNTPOINT (an empty directory) through FUSE, until SIGINT/SIGTERM.')
    .argument('<volfile>', 'The volfile of the graph to mount')
    .argument('<mountpoint>', 'An existing empty directory')
    .option('-r, --read-only', 'Refuse every change (EROFS, "Read-only file system")')
    .option('--allow-other', 'Let other users use the mount (the kernel then checks file modes: default_permissions)')
    .option('-d, --debug', "libfuse's request log and every failed operation on stderr")
    .option('--cache-timeout <seconds>', 'Seconds the kernel may cache names and attributes (default 0: changes made elsewhere are seen at once)');
  addStorageConnectionFlags(command, {
    manager: 'The Manager, for protocol/client volumes (over the volfile)',
    certFile: "The Manager's certificate to trust, for protocol/client volumes",
    disableTls: 'Plain TCP to the Manager, for protocol/client volumes',
  }).action(async (volfile: string, mountpoint: string, flags: MountFlags) => {
    // fuse.ts loads fuse-native (and so libfuse2) only for this command.
    const { mountVolume, fuseUnavailableReason } = await import('../volume/fuse.ts');
    const fail = (message: string): void => {
      process.stderr.write(`switchyard mount: ${message}\n`);
      process.exitCode = 1;
    };
    const cacheTimeout = flags.cacheTimeout === undefined ? 0 : Number(flags.cacheTimeout);
    if (!Number.isFinite(cacheTimeout) || cacheTimeout < 0) return fail(`--cache-timeout must be a number of seconds >= 0 (got '${flags.cacheTimeout}')`);
    const unavailable = await fuseUnavailableReason();
    if (unavailable !== undefined) return fail(unavailable);
    let volume: Volume;
    try {
      const spec = withConnectionOptions(await loadVolfile(volfile), flags);
      const graph = await buildGraph(spec, { source: volfile });
      await graph.init();
      volume = new Volume(graph);
    } catch (err) {
      if (err instanceof VolfileError) return fail(`${volfile}: ${err.detail}`);
      if (err instanceof TranslatorError) return fail(`${volfile}: ${err.message}`);
      throw err;
    }
    // Listen before mounting: a signal that comes as the "mounted" line is read must still unmount.
    let stop = (): void => {};
    const stopped = new Promise<void>((resolve) => {
      stop = (): void => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    let mount;
    try {
      mount = await mountVolume(volume, mountpoint, {
        readOnly: flags.readOnly,
        allowOther: flags.allowOther,
        debug: flags.debug,
        entryTimeout: cacheTimeout,
        attrTimeout: cacheTimeout,
      });
    } catch (err) {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await volume.close();
      if (err instanceof SwitchyardError) return fail(err.message);
      throw err;
    }
    process.stdout.write(`mounted ${volfile} on ${mount.mountpoint}\n`);
    await stopped;
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    try {
      await mount.unmount();
    } finally {
      await volume.close();
    }
  });
}

/**
 * Starts a local worker process: `node -e <bootstrap> 3 3` with the protocol on descriptor 3 (a
 * socketpair), stdin on /dev/null, and stdout/stderr as the caller chooses. Used by popen
 * gateways, by `via=` (inside a worker) and by the socket-gateway server. The process itself is
 * spawned by `transport/process.ts`.
 * @module
 */
import type { Socket } from 'node:net';
import { spawnProcess, type ProcessHandle, type StdioMode } from '../transport/process.ts';
import { BOOTSTRAP, buildPreamble } from './bootstrap.ts';
import type { WorkerConfig } from './protocol.ts';

/**
 * The environment and config of a worker about to be started: `base` with `extra` laid over it,
 * without `NODE_EXTRA_CA_CERTS` unless `extra` sets it — loading extra CA certificates costs
 * ~90 ms of every Node start — and a config that tells the worker to put the variable back into
 * its `process.env` (so programs it starts still get it). `config` itself is not changed.
 */
export function workerSpawnEnv(
  base: NodeJS.ProcessEnv,
  extra: Readonly<Record<string, string>> | undefined,
  config: WorkerConfig,
): { env: NodeJS.ProcessEnv; config: WorkerConfig } {
  const env: NodeJS.ProcessEnv = { ...base, ...extra };
  const ca = env['NODE_EXTRA_CA_CERTS'];
  if ((extra && 'NODE_EXTRA_CA_CERTS' in extra) || ca === undefined) return { env, config };
  delete env['NODE_EXTRA_CA_CERTS'];
  return { env, config: { ...config, restoreExtraCaCerts: ca } };
}

/** Options of {@link spawnWorker}. */
export interface SpawnWorkerOptions {
  /** Program and leading arguments, e.g. `["node"]` or `["sudo", "-u", "x", "node"]`. */
  node: string[];
  env: NodeJS.ProcessEnv;
  /** Run under `nice -n <nice>` (so every thread of the worker gets it). */
  nice?: number | undefined;
  cwd?: string | undefined;
  stdout: StdioMode;
  stderr: StdioMode;
  /** The worker source (the bundle) and its config: written as the preamble. */
  source: string;
  config: WorkerConfig;
  /** A V8 code cache of `source` made by an earlier worker (see `Target.CODE_CACHE`). */
  codeCache?: Uint8Array | undefined;
}

/** A started worker process and its protocol socket. */
export interface SpawnedWorker {
  process: ProcessHandle;
  /** Descriptor 3 of the child: frames in both directions (the preamble is already queued). */
  socket: Socket;
}

/**
 * Spawns the worker and queues the preamble. A spawn failure (missing program) resolves
 * `process.exited` with the error; the socket then ends.
 */
export function spawnWorker(options: SpawnWorkerOptions): SpawnedWorker {
  const [program = 'node', ...lead] = options.node;
  const argv = [...lead, '-e', BOOTSTRAP, '3', '3'];
  const nice = options.nice !== undefined;
  const proc = spawnProcess({
    program: nice ? 'nice' : program,
    args: nice ? ['-n', String(options.nice), program, ...argv] : argv,
    env: options.env,
    cwd: options.cwd,
    stdin: 'ignore',
    stdout: options.stdout,
    stderr: options.stderr,
    extraPipes: 1,
  });
  const socket = proc.pipes[0] as Socket;
  socket.write(buildPreamble(options.source, options.config, options.codeCache));
  return { process: proc, socket };
}

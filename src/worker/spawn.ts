/**
 * Starts a local worker process: `node -e <bootstrap> 3 3` with the protocol on descriptor 3 (a
 * socketpair), stdin on /dev/null, and stdout/stderr as the caller chooses. Used by popen
 * gateways, by `via=` (inside a worker) and by the socket-gateway server.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { BOOTSTRAP, buildPreamble } from './bootstrap.ts';
import type { WorkerConfig } from './protocol.ts';

/** Options of {@link spawnWorker}. */
export interface SpawnWorkerOptions {
  /** Program and leading arguments, e.g. `["node"]` or `["sudo", "-u", "x", "node"]`. */
  node: string[];
  env: NodeJS.ProcessEnv;
  /** Run under `nice -n <nice>` (so every thread of the worker gets it). */
  nice?: number | undefined;
  cwd?: string | undefined;
  stdout: 'pipe' | 'inherit' | 'ignore';
  stderr: 'pipe' | 'inherit' | 'ignore';
  /** The worker source (the bundle) and its config: written as the preamble. */
  source: string;
  config: WorkerConfig;
}

/** A started worker process and its protocol socket. */
export interface SpawnedWorker {
  child: ChildProcess;
  /** Descriptor 3 of the child: frames in both directions (the preamble is already queued). */
  socket: Socket;
}

/**
 * Spawns the worker and queues the preamble. Spawn failures (missing program) surface as the
 * child's `error` event, which the caller must handle.
 */
export function spawnWorker(options: SpawnWorkerOptions): SpawnedWorker {
  const [program = 'node', ...lead] = options.node;
  const argv = [...lead, '-e', BOOTSTRAP, '3', '3'];
  const cmd = options.nice !== undefined ? 'nice' : program;
  const args = options.nice !== undefined ? ['-n', String(options.nice), program, ...argv] : argv;
  const child = spawn(cmd, args, {
    stdio: ['ignore', options.stdout, options.stderr, 'pipe'],
    env: options.env,
    cwd: options.cwd,
    windowsHide: true,
  });
  const socket = child.stdio[3] as Socket;
  socket.on('error', () => {
    // EPIPE/ECONNRESET when the child dies: the reader sees the end.
  });
  socket.write(buildPreamble(options.source, options.config));
  return { child, socket };
}

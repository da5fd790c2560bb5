/**
 * The serving half of a socket-gateway server, shared by `switchyard worker --listen`
 * (`gateway/socket-server.ts`, which adds the listener, TLS and hooks) and by `installvia=`, where
 * a worker serves the connection of one new gateway on its own host (`main.ts`).
 *
 * States of one connection: greeting sent → (AUTH verified) → relaying → worker exited (EXIT
 * record sent, connection ended). A wrong proof, a malformed line, a full host or no AUTH within
 * the handshake timeout ends it with an `ERR` line and no process is started.
 * @module
 */
import { ProtocolError } from '../errors.ts';
import type { Connection } from '../transport/connection.ts';
import type { ProcessExit } from '../transport/process.ts';
import { guardTimer } from '../util/timers.ts';
import type { WorkerConfig } from './protocol.ts';
import {
  clientProof,
  LineReader,
  newNonce,
  proofsEqual,
  RecordKind,
  recordHeader,
  RecordSplitter,
  serverProof,
  SOCKET_GREETING,
  SOCKET_PROTOCOL,
  type SocketRequest,
} from './socket-protocol.ts';
import { spawnWorker, workerSpawnEnv } from './spawn.ts';

/** Options of {@link SocketWorkerHost}. */
export interface SocketWorkerHostOptions {
  /** The shared secret clients must prove. */
  secret: string;
  /** The worker bundle every started worker runs. */
  source: string;
  /** Workers running at once; more connections are refused with `ERR busy`. */
  maxWorkers: number;
  /** Milliseconds a client has to send its `AUTH` line. */
  handshakeTimeoutMs: number;
  /** Milliseconds a worker gets to exit after a hang-up before it is killed. */
  killAfterMs: number;
  /** Program and leading arguments that run workers. */
  node: string[];
  /** Environment every worker starts from (the request's `env` is laid over it). */
  env: NodeJS.ProcessEnv;
  /** Receives one line per event (connections, refusals, worker exits). */
  log: (line: string) => void;
  /** Called when a connection authenticated and its worker was started. */
  onStarted?: (() => void) | undefined;
}

/** Connections in their handshake at once; more are refused at once with `ERR busy`. */
export const MAX_HANDSHAKING = 64;

interface Active {
  hangUp(): void;
  kill(): void;
  exited: Promise<ProcessExit>;
}

function validRequest(v: unknown): v is SocketRequest & { config: WorkerConfig } {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const c = r['config'] as Record<string, unknown> | undefined;
  if (typeof c !== 'object' || c === null || typeof c['id'] !== 'string' || typeof c['window'] !== 'number' || typeof c['graceMs'] !== 'number') return false;
  if (r['env'] !== undefined) {
    if (typeof r['env'] !== 'object' || r['env'] === null) return false;
    for (const x of Object.values(r['env'] as object)) if (typeof x !== 'string') return false;
  }
  return r['nice'] === undefined || Number.isInteger(r['nice']);
}

/**
 * Serves accepted connections: checks the secret, starts one worker process per authenticated
 * connection, and relays its protocol bytes, stdout and stderr as records.
 */
export class SocketWorkerHost {
  private readonly active = new Set<Active>();
  private readonly handshaking = new Set<Connection>();
  private closing = false;

  constructor(private readonly options: SocketWorkerHostOptions) {}

  /** Workers currently running. */
  get workers(): number {
    return this.active.size;
  }

  /** Takes over an accepted connection. */
  serve(conn: Connection): void {
    const { secret, handshakeTimeoutMs, log, maxWorkers } = this.options;
    const peer = `${conn.remoteAddress}:${conn.remotePort}`;
    const nonce = newNonce();
    const lines = new LineReader();
    let relay: ((chunk: Buffer) => void) | undefined;
    // After a refusal or a failed handshake nothing more is read or kept.
    let done = false;
    conn.onData((chunk) => {
      if (relay) relay(chunk);
      else if (!done) lines.push(chunk);
    });
    conn.onClose((err) => lines.fail(err ?? new Error('closed')));
    const refuse = (code: string, message: string): void => {
      done = true;
      log(`refused ${peer}: ${message}`);
      conn.write(Buffer.from(`ERR ${code} ${message}\n`));
      conn.end();
    };
    if (this.handshaking.size >= MAX_HANDSHAKING) {
      refuse('SWITCHYARD_ERR_BUSY', `${MAX_HANDSHAKING} connections are already authenticating; try again later`);
      return;
    }
    this.handshaking.add(conn);
    const timer = guardTimer(() => refuse('SWITCHYARD_ERR_TIMEOUT', `no authentication within ${handshakeTimeoutMs} ms`), handshakeTimeoutMs);
    conn.write(Buffer.from(`${SOCKET_GREETING} ${SOCKET_PROTOCOL} ${nonce}\n`));
    void lines.next().then(
      (line) => {
        clearTimeout(timer);
        this.handshaking.delete(conn);
        if (conn.closed) return;
        const m = /^AUTH ([0-9a-f]{64}) ([0-9a-f]{16,128}) (.*)$/.exec(line);
        if (!m) return refuse('SWITCHYARD_ERR_PROTOCOL', 'expected "AUTH <proof> <nonce> <request>"');
        const [, proof = '', clientNonce = '', json = ''] = m;
        if (!proofsEqual(proof, clientProof(secret, nonce, clientNonce, json))) {
          return refuse('SWITCHYARD_ERR_AUTH', 'authentication failed: the shared secret does not match');
        }
        let request: unknown;
        try {
          request = JSON.parse(json);
        } catch {
          request = undefined;
        }
        if (!validRequest(request)) return refuse('SWITCHYARD_ERR_PROTOCOL', 'malformed request');
        if (this.closing) return refuse('SWITCHYARD_ERR_BUSY', 'the server is shutting down');
        if (this.active.size >= maxWorkers) return refuse('SWITCHYARD_ERR_BUSY', `the server runs its limit of ${maxWorkers} workers; try again later`);
        this.start(conn, peer, request, clientNonce, nonce, lines.rest(), (fn) => (relay = fn));
      },
      (err: unknown) => {
        // An overlong line, or the connection went: drop it (a stranger must not make us buffer).
        clearTimeout(timer);
        this.handshaking.delete(conn);
        done = true;
        if (!conn.closed) {
          log(`refused ${peer}: ${(err as Error).message}`);
          conn.destroy();
        }
      },
    );
  }

  private start(
    conn: Connection,
    peer: string,
    request: SocketRequest & { config: WorkerConfig },
    clientNonce: string,
    nonce: string,
    rest: Buffer,
    setRelay: (fn: (chunk: Buffer) => void) => void,
  ): void {
    const { secret, log, killAfterMs } = this.options;
    const { env, config } = workerSpawnEnv(this.options.env, request.env, request.config);
    const { process: proc, socket } = spawnWorker({
      node: this.options.node,
      env,
      nice: request.nice,
      stdout: 'pipe',
      stderr: 'pipe',
      source: this.options.source,
      config,
    });
    log(`gateway ${config.id} from ${peer}: worker pid ${proc.pid ?? '-'}`);
    let killTimer: NodeJS.Timeout | undefined;
    const entry: Active = {
      hangUp: () => {
        if (!socket.writableEnded) socket.end();
        killTimer ??= guardTimer(() => proc.kill('SIGKILL'), killAfterMs);
      },
      kill: () => proc.kill('SIGKILL'),
      exited: proc.closed,
    };
    this.active.add(entry);

    // Worker → client: protocol bytes and output as records. When the client is slow, every
    // source pauses until the connection drains.
    const sources = [socket, proc.stdout, proc.stderr].filter((s) => s !== null);
    let paused = false;
    const send = (kind: (typeof RecordKind)[keyof typeof RecordKind], chunk: Buffer): void => {
      conn.write(recordHeader(kind, chunk.length));
      if (!conn.write(chunk) && !paused) {
        paused = true;
        for (const s of sources) s.pause();
        conn.onDrain(() => {
          paused = false;
          for (const s of sources) s.resume();
        });
      }
    };
    socket.on('data', (c: Buffer) => send(RecordKind.DATA, c));
    proc.stdout?.on('data', (c: Buffer) => send(RecordKind.STDOUT, c));
    proc.stderr?.on('data', (c: Buffer) => send(RecordKind.STDERR, c));

    // Client → worker.
    const splitter = new RecordSplitter();
    const onRecord = (kind: number, payload: Buffer): void => {
      if (kind === RecordKind.DATA) {
        if (socket.writableEnded) return;
        // The record is a view of bytes received for it alone: nothing reuses them.
        if (!socket.write(payload)) {
          conn.pause();
          const done = (): void => {
            socket.off('drain', done);
            socket.off('close', done);
            conn.resume();
          };
          socket.once('drain', done);
          socket.once('close', done);
        }
      } else if (kind === RecordKind.EOF) {
        log(`gateway ${config.id} from ${peer}: host hung up`);
        entry.hangUp();
      } else {
        throw new ProtocolError(`Unexpected socket-gateway record kind ${kind} from the client`);
      }
    };
    setRelay((chunk) => {
      try {
        splitter.push(chunk, onRecord);
      } catch (err) {
        log(`gateway ${config.id} from ${peer}: ${(err as Error).message}; closing`);
        conn.destroy();
      }
    });
    conn.onClose(() => {
      // The client is gone without a hang-up (killed, or the network failed): the worker sees its
      // input end, gets its grace time, and is killed if it lingers.
      entry.hangUp();
    });
    conn.write(Buffer.from(`OK ${proc.pid ?? 0} ${serverProof(secret, nonce, clientNonce)}\n`));
    if (rest.length > 0) splitter.push(rest, onRecord);
    void proc.closed.then((exit) => {
      clearTimeout(killTimer);
      this.active.delete(entry);
      log(`gateway ${config.id} from ${peer}: worker exited (${exit.error ? exit.error.message : exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`);
      const info = Buffer.from(JSON.stringify({ code: exit.code, signal: exit.signal, error: exit.error?.message }));
      send(RecordKind.EXIT, info);
      conn.end();
    });
    this.options.onStarted?.();
  }

  /**
   * Refuses new work, drops connections still in their handshake, hangs up on every worker, kills
   * those still running after `timeout` ms and resolves when all are gone.
   */
  async close(timeout: number): Promise<void> {
    this.closing = true;
    for (const c of this.handshaking) c.destroy();
    const all = [...this.active];
    for (const a of all) a.hangUp();
    const done = Promise.all(all.map((a) => a.exited));
    let t: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => (t = guardTimer(r, timeout)))]);
    clearTimeout(t);
    for (const a of this.active) a.kill();
    await Promise.race([done, new Promise<void>((r) => guardTimer(r, 1000))]);
  }
}

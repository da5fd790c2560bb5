/**
 * `installvia=`: a worker listens on its own host and serves one socket gateway with the shared
 * socket-server code (`socket-serve.ts`). Loaded on first use (bench/gateway (a)).
 * @module
 */
import net from 'node:net';
import type { Channel } from '../channel/channel.ts';
import { SocketConnection } from '../transport/connection.ts';
import type { ServeRequest } from './protocol.ts';
import { SocketWorkerHost } from './socket-serve.ts';
import { guardTimer } from '../util/timers.ts';
import { trace } from './trace.ts';

/**
 * `installvia=`: listens on the worker's host, serves the first connection that proves the
 * one-time secret with a sub-worker (as `switchyard worker --listen` does), then stops listening.
 */
export function serveOne(channel: Channel, req: ServeRequest, source: string, hostId: string): void {
  if (typeof req?.secret !== 'string' || req.secret.length < 32 || typeof req.host !== 'string' || !Number.isInteger(req.port)) {
    channel.close('SERVE needs { host, port, secret } with a secret of at least 32 characters');
    return;
  }
  let server: net.Server | undefined;
  const stopListening = (): void => {
    server?.close();
    clearTimeout(acceptTimer);
  };
  const host = new SocketWorkerHost({
    secret: req.secret,
    source,
    maxWorkers: 1,
    handshakeTimeoutMs: req.acceptTimeoutMs,
    killAfterMs: req.killAfterMs,
    node: [process.execPath],
    // The served worker starts without NODE_EXTRA_CA_CERTS and restores it (socket-serve.ts).
    env: process.env,
    log: (line) => trace(() => `${hostId}-worker serve: ${line}`),
    onStarted: stopListening,
  });
  let where = `${req.host}:${req.port}`;
  const acceptTimer = guardTimer(() => {
    stopListening();
    channel.close(`No gateway connected to ${where} within ${req.acceptTimeoutMs} ms`);
  }, req.acceptTimeoutMs);
  let n = 0;
  server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => {
    host.serve(new SocketConnection(socket, `${hostId}-serve-${n++}`));
  });
  server.on('error', (err) => {
    stopListening();
    channel.close(err);
  });
  server.listen(req.port, req.host, () => {
    const addr = (server as net.Server).address() as net.AddressInfo;
    where = `${addr.address}:${addr.port}`;
    trace(() => `${hostId}-worker serving a gateway on ${addr.address}:${addr.port}`);
    channel.send({ host: addr.address, port: addr.port }).catch(() => {});
  });
  channel.waitClose().then(
    () => undefined,
    () => undefined,
  ).then(() => {
    stopListening();
    void host.close(req.killAfterMs);
  });
}

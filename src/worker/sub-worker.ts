/**
 * `via=`: a worker starts a sub-worker on its own host and relays its protocol bytes over one
 * channel (bytes items both ways; `{ kill }` and `{ eof }` control items from the host; an
 * `{ exit }` item when the sub-worker ends). Loaded on first use, so that workers which never
 * start one do not load `child_process` (bench/gateway (a)).
 * @module
 */
import type { Channel } from '../channel/channel.ts';
import type { SpawnRequest } from './protocol.ts';
import { spawnWorker, workerSpawnEnv } from './spawn.ts';
import { trace } from './trace.ts';

/** Starts the sub-worker `req` asks for and relays it over `channel`. */
export function relaySubWorker(channel: Channel, req: SpawnRequest, source: string, hostId: string): void {
  const { env, config } = workerSpawnEnv(process.env, req.env, req.config);
  const { process: child, socket } = spawnWorker({ node: req.node ?? [process.execPath], env, nice: req.nice, stdout: 'inherit', stderr: 'inherit', source, config });
  trace(() => `${hostId}-worker spawned sub-worker ${req.config.id} pid ${child.pid}`);
  socket.on('data', (chunk: Buffer) => {
    // One chunk in flight at a time: the channel's credit paces the sub-worker.
    socket.pause();
    channel.send(chunk).then(
      () => socket.resume(),
      () => socket.destroy(),
    );
  });
  void child.closed.then((e) => {
    const exit = e.error ? { code: null, signal: null, error: e.error.message } : { code: e.code, signal: e.signal };
    channel.send({ exit }).finally(() => channel.close());
  });
  channel.setCallback(
    (item) => {
      if (item instanceof Uint8Array) {
        if (!socket.write(item)) {
          // Drained, or gone: a closed socket never emits 'drain'.
          return new Promise<void>((r) => {
            const done = (): void => {
              socket.off('drain', done);
              socket.off('close', done);
              r();
            };
            socket.once('drain', done);
            socket.once('close', done);
          });
        }
        return undefined;
      }
      const ctl = item as { kill?: string; eof?: boolean } | undefined;
      if (ctl?.kill) child.kill(ctl.kill as NodeJS.Signals);
      if (ctl?.eof) socket.end();
      return undefined;
    },
    { endmarker: null },
  );
  channel.waitClose().then(
    () => socket.end(),
    () => socket.end(),
  );
}

/**
 * The worker runtime: the code that runs inside a gateway's worker process. It is bundled (with
 * the channel layer and msgpackr) into one self-contained file that the host sends down the
 * bootstrap's descriptor, so a host needs only `node`.
 *
 * It answers the channel targets of `protocol.ts`: runs `remoteExec` code on its single event
 * loop, reports status and info, starts sub-workers for `via=`, and receives RSync trees. When the
 * host hangs up (end of input, or the parent died) every channel ends, running code gets
 * `graceMs` to finish, and the process exits: a worker never outlives its host.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import net from 'node:net';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { attachMux, streamLink } from '../channel/attach.ts';
import type { Channel } from '../channel/channel.ts';
import type { ChannelMux } from '../channel/mux.ts';
import { guardTimer } from '../util/timers.ts';
import { setTraceLevel, trace } from './trace.ts';
import {
  Target,
  WORKER_PROTOCOL,
  type ExecRequest,
  type RemoteInfo,
  type RemoteStatus,
  type RsyncRequest,
  type ServeRequest,
  type SpawnRequest,
  type WorkerConfig,
} from './protocol.ts';

let codeCacheState: RemoteInfo['codeCache'] = 'none';

/** Facts about this process, sent in the hello and by `INFO`. */
export function remoteInfo(): RemoteInfo {
  const [a = 0, b = 0, c = 0] = process.versions.node.split('.').map(Number);
  return {
    protocol: WORKER_PROTOCOL,
    pid: process.pid,
    ppid: process.ppid,
    executable: process.execPath,
    version: process.version,
    versionInfo: [a, b, c],
    platform: process.platform,
    arch: process.arch,
    cwd: process.cwd(),
    hostname: hostname(),
    codeCache: codeCacheState,
    features: ['precredit'],
  };
}

type Compiled = (channel: Channel, kwargs: unknown) => unknown;

const dynamicImport = (vm.constants as unknown as { USE_MAIN_CONTEXT_DEFAULT_LOADER?: symbol } | undefined)?.USE_MAIN_CONTEXT_DEFAULT_LOADER;

/** Compiles a remoteExec request. Throws SyntaxError (reported to the host as a RemoteError). */
function compile(req: ExecRequest, req_: NodeJS.Require): Compiled {
  const importOpt = dynamicImport ? { importModuleDynamically: dynamicImport as never } : {};
  if (req.kind === 'function') {
    const fn = vm.runInThisContext(`(${req.source}\n)`, { filename: req.filename, ...importOpt }) as unknown;
    if (typeof fn !== 'function') throw new TypeError('remoteExec: the source did not evaluate to a function');
    return (channel, kwargs) => (fn as (c: Channel, k: unknown) => unknown)(channel, kwargs);
  }
  // A script body with `channel`, `kwargs` and `require` in scope; top-level await allowed.
  const body = vm.compileFunction(`return (async () => {${req.source}\n})();`, ['channel', 'kwargs', 'require'], {
    filename: req.filename,
    ...importOpt,
  }) as (c: Channel, k: unknown, r: NodeJS.Require) => unknown;
  return (channel, kwargs) => body(channel, kwargs, req_);
}

/**
 * Starts the worker. Called by the bootstrap with its socket (descriptor `input`), the output
 * descriptor, the config, bytes read past the preamble, and the worker's own source (kept for
 * starting sub-workers) and its compiled script (for making a code cache).
 */
export function start(input: net.Socket, outFd: number, config: WorkerConfig, rest: Buffer, source: string, script?: vm.Script): void {
  setTraceLevel(config.debug);
  codeCacheState = script?.cachedDataRejected === true ? 'rejected' : script?.cachedDataRejected === false ? 'accepted' : 'none';
  if (config.env) for (const [k, v] of Object.entries(config.env)) process.env[k] = v;
  if (config.restoreExtraCaCerts !== undefined) process.env['NODE_EXTRA_CA_CERTS'] = config.restoreExtraCaCerts;
  if (config.chdir) {
    mkdirSync(config.chdir, { recursive: true });
    process.chdir(config.chdir);
  }
  // Keep the worker alive on errors in user code, as execnet's threads do; report them.
  process.on('uncaughtException', (err) => process.stderr.write(`[${config.id}-worker] uncaught exception: ${err.stack ?? String(err)}\n`));
  process.on('unhandledRejection', (err) =>
    process.stderr.write(`[${config.id}-worker] unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`),
  );

  const output = input.writable ? input : new net.Socket({ fd: outFd, readable: false, writable: true });
  if (output !== input) output.on('error', () => {});
  const userRequire = createRequire(`${process.cwd()}/`);
  let executing = 0;
  let hungUp = false;
  const running = new Set<Channel>();

  // One code cache for the host, after the first remoteExec (so that the functions it ran are in
  // it), when the host asked for one or the one it sent did not fit this node.
  let wantCache = script !== undefined && (config.produceCache === true || script.cachedDataRejected === true);
  let cacheChannel: Channel | undefined;
  const sendCache = (): void => {
    if (!wantCache || hungUp) return;
    wantCache = false;
    setImmediate(() => {
      if (hungUp) return;
      const data = (script as vm.Script).createCachedData();
      cacheChannel = mux.open(Target.CODE_CACHE, { bytes: data.length });
      const ch = cacheChannel;
      ch.send(data).then(
        () => ch.close(),
        () => ch.close(),
      );
      void ch.waitClose().catch(() => {}).finally(() => (cacheChannel = undefined));
    });
  };

  const exitIfIdle = (): void => {
    if (hungUp && executing === 0) process.exit(0);
  };

  const runExec = (channel: Channel, req: ExecRequest): void => {
    executing++;
    running.add(channel);
    trace(() => `${config.id}-worker exec on channel ${channel.id} (${req.kind} ${req.filename})`);
    const finish = (err?: unknown): void => {
      if (err !== undefined) channel.close(err instanceof Error ? err : String(err));
      else if (!channel.hasCallback) channel.close();
      const done = (): void => {
        executing--;
        running.delete(channel);
        trace(() => `${config.id}-worker exec on channel ${channel.id} finished${err !== undefined ? ' with an error' : ''}`);
        exitIfIdle();
        sendCache();
      };
      // A channel left with a callback keeps the execution counted until it closes.
      if (err === undefined && channel.hasCallback) channel.waitClose().then(done, done);
      else done();
    };
    try {
      const r = compile(req, userRequire)(channel, req.kwargs);
      if (r && typeof (r as PromiseLike<unknown>).then === 'function') (r as Promise<unknown>).then(() => finish(), (e: unknown) => finish(e ?? new Error('rejected')));
      else finish();
    } catch (e) {
      finish(e ?? new Error('thrown'));
    }
  };

  let mux!: ChannelMux;
  const onOpen = (channel: Channel, meta: unknown, target: string): void => {
    switch (target) {
      case Target.EXEC:
        runExec(channel, meta as ExecRequest);
        return;
      case Target.STATUS: {
        const status: RemoteStatus = { numChannels: mux.size - 1 - (cacheChannel ? 1 : 0), numExecuting: executing, execModel: 'event-loop' };
        channel.send(status).finally(() => channel.close());
        return;
      }
      case Target.INFO:
        channel.send(remoteInfo()).finally(() => channel.close());
        return;
      // Loaded on first use: most workers never need them, and loading costs start time.
      case Target.SPAWN:
        import('./sub-worker.ts').then((m) => m.relaySubWorker(channel, meta as SpawnRequest, source, config.id), (err: unknown) => channel.close(err as Error));
        return;
      case Target.RSYNC:
        import('./rsync-receiver.ts').then((m) => m.receiveTree(channel, meta as RsyncRequest), (err: unknown) => channel.close(err as Error));
        return;
      case Target.SERVE:
        import('./serve-one.ts').then((m) => m.serveOne(channel, meta as ServeRequest, source, config.id), (err: unknown) => channel.close(err as Error));
        return;
      default:
        channel.close(`Unknown channel target ${JSON.stringify(target)}`);
    }
  };

  const link = streamLink(input, output);
  const attached = attachMux(link, { initiator: false, window: config.window, peerWindow: config.peerWindow, peerName: config.id, onOpen });
  mux = attached.mux;
  attached.closed.then(() => {
    hungUp = true;
    trace(() => `${config.id}-worker: host hung up, ${executing} execution(s) running`);
    exitIfIdle();
    guardTimer(() => process.exit(0), config.graceMs);
  });
  if (rest.length > 0) input.unshift(rest);
  input.resume();
  mux.open(Target.HELLO, remoteInfo()).close();
  trace(() => `${config.id}-worker started (pid ${process.pid})`);
}

/**
 * Compile-time checks of the public gateway API, `switchyard/gateway` (src/gateway/index.ts), run
 * by `npm run typecheck`, which `npm test` runs first: a signature that changes, a result that
 * turns into `any`, or a misuse that starts to compile fails `tsc -p tsconfig.json`. The functions
 * below are never called; the tests at the end only make node:test report the file and check that
 * the runtime exports match the typed ones.
 *
 * The declarations published in dist/ are emitted with `stripInternal`, so `@internal` members
 * (`gw._serve`, `queue._push`, ...) exist here but not for users: these checks do not use them.
 */
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import * as gatewayApi from '../../src/gateway/index.ts';
import {
  AbortError,
  Channel,
  ChannelClosedError,
  ConnectionClosedError,
  ChannelEOFError,
  ChannelUsageError,
  defaultGroup,
  EncodeError,
  Gateway,
  GatewayServerError,
  GatewaySpecError,
  GatewayStartError,
  Group,
  makeGateway,
  MessageTooLargeError,
  MultiChannel,
  QueueFullError,
  ReceiveQueue,
  RemoteError,
  RemoteSourceError,
  RSync,
  RSyncError,
  startWorkerServer,
  SwitchyardError,
  TimeoutError,
  XSpec,
  type CallbackOptions,
  type ChannelStreamOptions,
  type ExitInfo,
  type GatewayOptions,
  type GatewayType,
  type OutputOption,
  type ReceiveQueueEntry,
  type RemoteFunction,
  type RemoteInfo,
  type RemoteSource,
  type RemoteStatus,
  type RSyncEntryKind,
  type RSyncOptions,
  type RSyncProgress,
  type RSyncStats,
  type RSyncTargetOptions,
  type TerminateOptions,
  type WaitOptions,
  type WorkerServer,
  type WorkerServerOptions,
} from '../../src/gateway/index.ts';
import type { WaitOptions as MainWaitOptions } from '../../src/index.ts';

/** True only when `A` and `B` are the same type (`any` equals only `any`, `unknown` only `unknown`). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** True when `A` is assignable to `B` (not distributed over unions). */
type Extends<A, B> = [A] extends [B] ? true : false;

/** Compiles only when `A` and `B` are the same type: `same<A, B>(true)`. */
function same<A, B>(_check: Equal<A, B>): void {}
/** Compiles only when `A` is assignable to `B`: `assignable<A, B>(true)`. */
function assignable<A, B>(_check: Extends<A, B>): void {}

/** The options every waiting call takes, spelled out (the exported `WaitOptions` is pinned to it). */
type Wait = { timeout?: number | undefined; signal?: AbortSignal | undefined };

/** Every value the entry point exports; adding or removing one is a deliberate API change. */
const VALUE_EXPORTS = [
  'AbortError',
  'Channel',
  'ChannelClosedError',
  'ChannelEOFError',
  'ChannelUsageError',
  'ConnectionClosedError',
  'EncodeError',
  'Gateway',
  'GatewayServerError',
  'GatewaySpecError',
  'GatewayStartError',
  'Group',
  'MessageTooLargeError',
  'MultiChannel',
  'QueueFullError',
  'RSync',
  'RSyncError',
  'ReceiveQueue',
  'RemoteError',
  'RemoteSourceError',
  'SwitchyardError',
  'TimeoutError',
  'XSpec',
  'defaultGroup',
  'makeGateway',
  'startWorkerServer',
] as const;

// Never called: only type-checked.
export async function entryPointChecks(): Promise<void> {
  same<keyof typeof gatewayApi, (typeof VALUE_EXPORTS)[number]>(true);

  // WaitOptions, exported by switchyard/gateway and by switchyard.
  same<WaitOptions, Wait>(true);
  same<MainWaitOptions, WaitOptions>(true);
  const waitOptions: WaitOptions = { timeout: 100, signal: AbortSignal.timeout(100) };
  void waitOptions;
  // @ts-expect-error timeout is a number of milliseconds
  const badWait: WaitOptions = { timeout: '100ms' };
  void badWait;

  // makeGateway(spec?, options?) resolves a Gateway.
  same<Parameters<typeof makeGateway>, [spec?: string | XSpec, options?: GatewayOptions]>(true);
  same<ReturnType<typeof makeGateway>, Promise<Gateway>>(true);
  const gw: Gateway = await makeGateway();
  void gw;
  void makeGateway('popen');
  void makeGateway(new XSpec('popen//id=a'), { output: 'ignore', startTimeout: 5000, window: 1 << 20, graceMs: 100, signal: AbortSignal.timeout(10) });
  void makeGateway('socket=127.0.0.1:8888', { secret: 'x'.repeat(16), ca: '-----BEGIN CERTIFICATE-----' });
  void makeGateway('popen', {
    output: (chunk, stream) => {
      same<typeof chunk, Buffer>(true);
      same<typeof stream, 'stdout' | 'stderr'>(true);
    },
  });
  same<OutputOption, 'inherit' | 'ignore' | ((chunk: Buffer, stream: 'stdout' | 'stderr') => void)>(true);
  same<GatewayOptions['startTimeout'], number | undefined>(true);
  same<GatewayOptions['signal'], AbortSignal | undefined>(true);

  // @ts-expect-error a spec is a string or an XSpec, not a number
  void makeGateway(42);
  // @ts-expect-error a spec is not a plain object, even one shaped like an XSpec
  void makeGateway({ raw: 'popen', type: 'popen' });
  // @ts-expect-error unknown option name (it is startTimeout)
  void makeGateway('popen', { timeout: 5000 });
  // @ts-expect-error startTimeout is a number of milliseconds
  void makeGateway('popen', { startTimeout: '5s' });
  // @ts-expect-error output is 'inherit', 'ignore' or a function; there is no 'pipe'
  void makeGateway('popen', { output: 'pipe' });
  // @ts-expect-error the output function gets a Buffer, not a string
  void makeGateway('popen', { output: (chunk: string) => void chunk });
  // @ts-expect-error the result is a Promise<Gateway>, not a Gateway
  const notAwaited: Gateway = makeGateway('popen');
  void notAwaited;

  // XSpec and its parts.
  const spec = new XSpec('ssh=alice@build1:2222//id=b1//env:CI=1');
  same<typeof spec.type, GatewayType>(true);
  same<GatewayType, 'popen' | 'ssh' | 'socket'>(true);
  same<typeof spec.id, string | undefined>(true);
  same<typeof spec.env, Readonly<Record<string, string>>>(true);
  same<ReturnType<XSpec['get']>, string | true | undefined>(true);
  same<typeof spec.socket, { host: string; port: number } | undefined>(true);
  // @ts-expect-error a spec's environment is read-only
  spec.env['CI'] = '0';
  // @ts-expect-error the spec text is required
  void new XSpec();
}

// Never called: only type-checked.
export async function gatewayChecks(gw: Gateway): Promise<void> {
  same<Gateway['id'], string>(true);
  same<Gateway['spec'], XSpec>(true);
  same<Gateway['pid'], number | undefined>(true);
  same<Gateway['remoteAddress'], string | undefined>(true);
  same<Gateway['alive'], boolean>(true);
  same<Gateway['channelCount'], number>(true);
  same<Gateway['exitStatus'], ExitInfo | undefined>(true);
  same<ExitInfo, { code: number | null; signal: string | null; error?: Error | undefined }>(true);
  // @ts-expect-error the id is read-only
  gw.id = 'gw9';
  // @ts-expect-error alive is a read-only getter
  gw.alive = false;

  // remoteExec<K>(source, kwargs?) returns the Channel at once; K is the type of kwargs.
  same<Parameters<Gateway['remoteExec']>, [source: RemoteSource, kwargs?: unknown]>(true);
  same<Parameters<Gateway['remoteExec']>, [source: RemoteSource<unknown>, kwargs?: unknown]>(true);
  same<ReturnType<Gateway['remoteExec']>, Channel>(true);
  same<RemoteSource, ((channel: Channel, kwargs: unknown) => unknown) | string | URL | { module: string }>(true);
  same<RemoteSource<{ n: number }>, RemoteFunction<{ n: number }> | string | URL | { module: string }>(true);
  same<RemoteFunction<{ n: number }>, (channel: Channel, kwargs: { n: number }) => unknown>(true);
  same<RemoteFunction, (channel: Channel, kwargs: unknown) => unknown>(true);
  const fromFunction: Channel = gw.remoteExec(async (channel) => {
    same<typeof channel, Channel>(true);
    for await (const n of channel) await channel.send((n as number) * 2);
  });
  const withKwargs = gw.remoteExec((channel, kwargs: { factor: number }) => channel.send(kwargs.factor), { factor: 3 });
  const syncFunction = gw.remoteExec(() => 42);
  const fromString = gw.remoteExec('channel.send(await channel.receive() + 1)');
  const fromUrl = gw.remoteExec(new URL('file:///tmp/remote.js'), { n: 1 });
  const fromModule = gw.remoteExec({ module: '/tmp/remote.js' });
  void [fromFunction, withKwargs, syncFunction, fromString, fromUrl, fromModule];
  // K is inferred from kwargs, so the documented unannotated form compiles and is typed.
  gw.remoteExec((channel, kwargs) => channel.send(kwargs.x), { x: 1 });
  gw.remoteExec(
    (channel, kwargs) => {
      same<typeof kwargs, { n: number; tags: string[] }>(true);
      return kwargs.tags.length + kwargs.n;
    },
    { n: 1, tags: ['a'] },
  );
  // A string or module source takes any kwargs.
  gw.remoteExec('channel.send(kwargs.n)', { n: 1 });
  gw.remoteExec({ module: '/tmp/remote.js' }, [1, 2, 3]);
  const typedSource: RemoteSource<{ n: number }> = (channel, kwargs) => channel.send(kwargs.n + 1);
  gw.remoteExec(typedSource, { n: 1 });
  // @ts-expect-error kwargs do not match the annotated parameter type ({ n: number })
  gw.remoteExec((channel, kwargs: { n: number }) => kwargs.n, { n: 'x' });
  // @ts-expect-error kwargs lack a property the annotated parameter requires
  gw.remoteExec((channel, kwargs: { n: number; m: string }) => kwargs.m, { n: 1 });
  // @ts-expect-error kwargs have a property the annotated parameter does not declare
  gw.remoteExec((channel, kwargs: { n: number }) => kwargs.n, { n: 1, extra: true });
  // @ts-expect-error kwargs do not match a typed RemoteSource
  gw.remoteExec(typedSource, { n: '1' });
  // @ts-expect-error without kwargs they are unknown: the code cannot read a property of them
  gw.remoteExec((channel, kwargs) => kwargs.x);
  // @ts-expect-error a number is not a source
  gw.remoteExec(42);
  // @ts-expect-error the source is required
  gw.remoteExec();
  // @ts-expect-error a module source is { module: path }, not { path }
  gw.remoteExec({ path: '/tmp/remote.js' });
  // @ts-expect-error a module path is a string
  gw.remoteExec({ module: 42 });
  // @ts-expect-error the code's first parameter is the Channel, not a string
  gw.remoteExec((channel: string) => channel);
  // @ts-expect-error the code gets two arguments (channel, kwargs), not three
  gw.remoteExec((channel: Channel, kwargs: unknown, extra: number) => [channel, kwargs, extra]);

  // remoteStatus / remoteInfo.
  same<Parameters<Gateway['remoteStatus']>, [options?: Wait]>(true);
  same<ReturnType<Gateway['remoteStatus']>, Promise<RemoteStatus>>(true);
  same<RemoteStatus, { numChannels: number; numExecuting: number; execModel: 'event-loop' }>(true);
  const status = await gw.remoteStatus({ timeout: 1000 });
  const executing: number = status.numExecuting + status.numChannels;
  void executing;
  same<ReturnType<Gateway['remoteInfo']>, Promise<RemoteInfo>>(true);
  same<
    RemoteInfo,
    {
      protocol: number;
      pid: number;
      ppid: number;
      executable: string;
      version: string;
      versionInfo: [number, number, number];
      platform: string;
      arch: string;
      cwd: string;
      hostname: string;
      codeCache: 'accepted' | 'rejected' | 'none';
      features: string[];
    }
  >(true);
  const info = await gw.remoteInfo({ update: true, timeout: 1000, signal: AbortSignal.timeout(1000) });
  const facts: [string, string, string, number] = [info.version, info.platform, info.cwd, info.pid];
  void facts;
  void gw.remoteInfo();
  // @ts-expect-error update is a boolean
  void gw.remoteInfo({ update: 'yes' });
  // @ts-expect-error timeout is a number of milliseconds
  void gw.remoteStatus({ timeout: '1s' });
  // @ts-expect-error remoteStatus has no update option
  void gw.remoteStatus({ update: true });
  // @ts-expect-error a status has no field numExecuted (it is numExecuting)
  void status.numExecuted;

  // newChannel, exit, join, kill, terminate.
  same<ReturnType<Gateway['newChannel']>, Channel>(true);
  same<ReturnType<Gateway['exit']>, void>(true);
  same<Parameters<Gateway['join']>, [options?: Wait]>(true);
  same<ReturnType<Gateway['join']>, Promise<void>>(true);
  same<ReturnType<Gateway['kill']>, void>(true);
  same<ReturnType<Gateway['terminate']>, Promise<void>>(true);
  const fresh: Channel = gw.newChannel();
  void fresh;
  gw.exit();
  await gw.join({ timeout: 2000 });
  await gw.join({ signal: AbortSignal.timeout(2000) });
  gw.kill();
  same<Parameters<Gateway['terminate']>, [options?: TerminateOptions]>(true);
  same<TerminateOptions, { timeout?: number | undefined; signal?: AbortSignal | undefined }>(true);
  await gw.terminate({ timeout: 500 });
  await gw.terminate({ timeout: 60_000, signal: AbortSignal.timeout(500) });
  await gw.terminate({ signal: new AbortController().signal });
  await gw.terminate();
  // Gateway is AsyncDisposable: `await using` terminates it with the defaults.
  assignable<Gateway, AsyncDisposable>(true);
  same<ReturnType<Gateway[typeof Symbol.asyncDispose]>, Promise<void>>(true);
  {
    await using disposed = await makeGateway('popen');
    void disposed;
  }
  // @ts-expect-error join takes an options object, not a bare number of milliseconds
  void gw.join(2000);
  // @ts-expect-error unknown option name (it is timeout)
  void gw.join({ timout: 2000 });
  // @ts-expect-error terminate's timeout is a number
  void gw.terminate({ timeout: '2s' });
  // @ts-expect-error signal is an AbortSignal, not an AbortController
  void gw.terminate({ signal: new AbortController() });
}

// Never called: only type-checked.
export async function channelChecks(ch: Channel, error: Error): Promise<void> {
  same<Channel['id'], number>(true);
  // @ts-expect-error the id is read-only
  ch.id = 3;
  assignable<Channel, AsyncIterable<unknown>>(true);
  assignable<Channel, AsyncDisposable>(true);

  // send(item, options?) resolves once the item is handed to the connection.
  same<Parameters<Channel['send']>, [item: unknown, options?: Wait]>(true);
  same<ReturnType<Channel['send']>, Promise<void>>(true);
  await ch.send({ any: ['sendable', 1n, new Uint8Array(1)] }, { timeout: 100, signal: AbortSignal.timeout(100) });
  // @ts-expect-error the item is required (send(undefined) sends undefined)
  void ch.send();
  // @ts-expect-error unknown option name
  void ch.send(1, { timeoutMs: 100 });

  // receive(options?) and iteration give unknown items, never any.
  same<Parameters<Channel['receive']>, [options?: Wait]>(true);
  same<ReturnType<Channel['receive']>, Promise<unknown>>(true);
  const item = await ch.receive({ timeout: 100, signal: AbortSignal.timeout(100) });
  same<typeof item, unknown>(true);
  for await (const each of ch) same<typeof each, unknown>(true);
  // @ts-expect-error a received item is unknown: narrow it before use
  void item.length;
  // @ts-expect-error signal is an AbortSignal, not an AbortController
  void ch.receive({ signal: new AbortController() });

  // setCallback(fn, { endmarker }).
  same<ReturnType<Channel['setCallback']>, void>(true);
  same<CallbackOptions<'end'>, { endmarker?: 'end' }>(true);
  ch.setCallback((received) => {
    same<typeof received, unknown>(true);
  });
  ch.setCallback(async (received) => void received, { endmarker: null });
  ch.setCallback((received) => received, {});
  // @ts-expect-error the callback gets unknown items; it cannot demand strings
  ch.setCallback((received: string) => received);
  // @ts-expect-error unknown option name (it is endmarker)
  ch.setCallback(() => undefined, { endMarker: null });
  // @ts-expect-error the callback is required
  ch.setCallback();

  // toStream(options?) is a Node Duplex.
  same<ReturnType<Channel['toStream']>, Duplex>(true);
  same<ChannelStreamOptions, { closeOnEnd?: boolean; highWaterMark?: number }>(true);
  const stream: Duplex = ch.toStream({ closeOnEnd: false, highWaterMark: 1024 });
  void stream;
  // @ts-expect-error closeOnEnd is a boolean
  ch.toStream({ closeOnEnd: 'no' });

  // close(error?), destroy(error?), waitClose(options?), isClosed().
  same<Parameters<Channel['close']>, [error?: Error | string]>(true);
  same<ReturnType<Channel['close']>, void>(true);
  ch.close();
  ch.close('a reason');
  ch.close(error);
  ch.destroy(error);
  // @ts-expect-error close takes an Error or a string, not a number
  ch.close(42);
  same<Parameters<Channel['waitClose']>, [options?: Wait]>(true);
  same<ReturnType<Channel['waitClose']>, Promise<void>>(true);
  await ch.waitClose({ timeout: 100 });
  same<ReturnType<Channel['isClosed']>, boolean>(true);
  const closed: boolean = ch.isClosed();
  void closed;
  // @ts-expect-error isClosed is a method, not a boolean property
  const notCalled: boolean = ch.isClosed;
  void notCalled;
  same<Channel['hasCallback'] | Channel['queued'] | Channel['queuedBytes'], boolean | number>(true);
}

// Never called: only type-checked.
export async function groupChecks(group: Group): Promise<void> {
  same<typeof defaultGroup, Group>(true);
  const empty = new Group();
  const quiet = new Group({ output: 'ignore', graceMs: 100 });
  const started: Group = await Group.create(['popen//id=a', 'popen//id=b'], { output: 'ignore' });
  void [empty, quiet, started];
  same<Group['defaultSpec'], string>(true);
  same<ReturnType<Group['makeGateway']>, Promise<Gateway>>(true);
  const gw: Gateway = await group.makeGateway();
  await group.makeGateway('popen//id=c', { startTimeout: 1000 });
  await group.makeGateway(new XSpec('popen'));

  // Lookup and iteration.
  same<Parameters<Group['get']>, [key: string | number]>(true);
  same<ReturnType<Group['get']>, Gateway | undefined>(true);
  same<ReturnType<Group['has']>, boolean>(true);
  same<Group['size'], number>(true);
  assignable<Group, Iterable<Gateway>>(true);
  const byIndex: Gateway | undefined = group.get(0);
  const byId: Gateway | undefined = group.get('gw0');
  const member: boolean = group.has(gw) && group.has('gw0');
  for (const each of group) same<typeof each, Gateway>(true);
  const all: Gateway[] = [...group];
  void [byIndex, byId, member, all];
  // @ts-expect-error get may find nothing: the result is Gateway | undefined
  const sure: Gateway = group.get(0);
  void sure;
  // @ts-expect-error a group has no index signature: use group.get(0) or group.get('gw0')
  void group[0];
  // @ts-expect-error a key is an id or an index
  void group.get(true);

  // remoteExec on all, terminate.
  same<ReturnType<Group['remoteExec']>, MultiChannel>(true);
  same<Parameters<Group['remoteExec']>, [source: RemoteSource, kwargs?: unknown]>(true);
  const mc: MultiChannel = group.remoteExec((channel) => channel.send(process.pid));
  void mc;
  group.remoteExec(
    (channel, kwargs) => {
      same<typeof kwargs, { tag: string }>(true);
      return channel.send(kwargs.tag);
    },
    { tag: 't' },
  );
  // @ts-expect-error kwargs do not match the annotated parameter type
  group.remoteExec((channel, kwargs: { tag: string }) => kwargs.tag, { tag: 1 });
  same<Parameters<Group['terminate']>, [options?: TerminateOptions]>(true);
  same<ReturnType<Group['terminate']>, Promise<void>>(true);
  await group.terminate({ timeout: 1000 });
  await group.terminate({ timeout: 1000, signal: AbortSignal.timeout(100) });
  await defaultGroup.terminate();
  // Group is AsyncDisposable: `await using` terminates every gateway with the defaults.
  assignable<Group, AsyncDisposable>(true);
  same<ReturnType<Group[typeof Symbol.asyncDispose]>, Promise<void>>(true);
  {
    await using scoped = new Group({ output: 'ignore' });
    await scoped.makeGateway('popen');
  }
  // @ts-expect-error signal is an AbortSignal
  void group.terminate({ signal: true });
  // @ts-expect-error timeout is a number of milliseconds
  void group.terminate({ timeout: '1s' });
  // @ts-expect-error a spec is a string or an XSpec
  void group.makeGateway({ id: 'x' });
}

// Never called: only type-checked.
export async function multiChannelChecks(mc: MultiChannel, a: Channel, b: Channel, withChannelFlag: boolean): Promise<void> {
  const built = new MultiChannel([a, b]);
  void built;
  assignable<MultiChannel, Iterable<Channel>>(true);
  same<MultiChannel['length'], number>(true);
  same<ReturnType<MultiChannel['at']>, Channel | undefined>(true);
  for (const each of mc) same<typeof each, Channel>(true);
  // @ts-expect-error a MultiChannel holds channels
  void new MultiChannel([1, 2]);

  same<Parameters<MultiChannel['sendEach']>, [item: unknown, options?: Wait]>(true);
  same<ReturnType<MultiChannel['sendEach']>, Promise<void>>(true);
  await mc.sendEach('go', { timeout: 100 });
  // @ts-expect-error the item is required
  void mc.sendEach();

  const items = await mc.receiveEach({ timeout: 100 });
  same<typeof items, unknown[]>(true);
  const none = await mc.receiveEach();
  same<typeof none, unknown[]>(true);
  const pairs = await mc.receiveEach({ timeout: 100, withChannel: true });
  same<typeof pairs, Array<[Channel, unknown]>>(true);
  // An options object declared apart picks the same overload as a literal.
  const withPairs = { withChannel: true as const, timeout: 100 };
  const pairsToo = await mc.receiveEach(withPairs);
  same<typeof pairsToo, Array<[Channel, unknown]>>(true);
  const plain = await mc.receiveEach({ withChannel: false });
  same<typeof plain, unknown[]>(true);
  const plainToo = await mc.receiveEach({ withChannel: undefined, signal: AbortSignal.timeout(100) });
  same<typeof plainToo, unknown[]>(true);
  // A boolean only known at run time gives either shape.
  const either = await mc.receiveEach({ withChannel: withChannelFlag });
  same<typeof either, unknown[] | Array<[Channel, unknown]>>(true);
  const options: { timeout?: number; withChannel?: boolean } = {};
  const eitherToo = await mc.receiveEach(options);
  same<typeof eitherToo, unknown[] | Array<[Channel, unknown]>>(true);
  // @ts-expect-error withChannel is a boolean flag
  void mc.receiveEach({ withChannel: 'yes' });
  // @ts-expect-error pairs are only promised for withChannel: true
  const notPairs: Array<[Channel, unknown]> = await mc.receiveEach({ withChannel: withChannelFlag });
  void notPairs;

  // makeReceiveQueue<E, T>: entries are [channel, item: T] or, once per channel, [channel, endmarker: E].
  // (ReturnType<> of a generic method erases E and T to unknown; the calls below pin the defaults.)
  same<ReturnType<MultiChannel['makeReceiveQueue']>, ReceiveQueue<unknown, unknown>>(true);
  const defaults = mc.makeReceiveQueue();
  same<typeof defaults, ReceiveQueue<undefined>>(true);
  same<typeof defaults, ReceiveQueue<undefined, unknown>>(true);
  same<ReceiveQueueEntry<'end', number>, [channel: Channel, item: number] | [channel: Channel, endmarker: 'end']>(true);
  const queue = mc.makeReceiveQueue({ endmarker: 'end' as const, limit: 64 });
  same<typeof queue, ReceiveQueue<'end'>>(true);
  same<ReturnType<ReceiveQueue<'end'>['get']>, Promise<ReceiveQueueEntry<'end'>>>(true);
  same<Parameters<ReceiveQueue<'end'>['get']>, [options?: Wait]>(true);
  const entry = await queue.get({ timeout: 100 });
  // The endmarker's type stays visible next to the (unknown) items.
  same<typeof entry, [channel: Channel, item: unknown] | [channel: Channel, endmarker: 'end']>(true);
  const [from, received] = entry;
  same<typeof from, Channel>(true);
  void received;
  same<ReceiveQueue<'end'>['size'], number>(true);
  const noEndmarker = await defaults.get();
  same<typeof noEndmarker, ReceiveQueueEntry<undefined>>(true);
  // With the items' type given (unchecked: what the remote code sends), entries are precise.
  const numbers = mc.makeReceiveQueue<null, number>({ endmarker: null });
  const [, value] = await numbers.get();
  same<typeof value, number | null>(true);
  if (value !== null) same<typeof value, number>(true);
  // @ts-expect-error the endmarker must have the declared type E
  mc.makeReceiveQueue<null, number>({ endmarker: 'end' });
  // @ts-expect-error an item may be the endmarker: narrow it before use
  const onlyNumber: number = value;
  void onlyNumber;
  // @ts-expect-error limit is a number of entries
  mc.makeReceiveQueue({ limit: '64' });
  // @ts-expect-error unknown option name (it is endmarker)
  mc.makeReceiveQueue({ endMarker: 'end' });

  same<Parameters<MultiChannel['waitClose']>, [options?: Wait]>(true);
  same<ReturnType<MultiChannel['waitClose']>, Promise<void>>(true);
  await mc.waitClose({ timeout: 100 });
}

// Never called: only type-checked.
export async function rsyncChecks(gw: Gateway, other: Gateway): Promise<void> {
  same<ConstructorParameters<typeof RSync>, [sourceDir: string, options?: RSyncOptions]>(true);
  same<RSync['sourceDir'], string>(true);
  same<RSyncEntryKind, 'file' | 'dir' | 'symlink' | 'special'>(true);
  same<RSyncOptions['onProgress'], ((event: RSyncProgress) => void) | undefined>(true);
  same<RSyncOptions['filter'], ((path: string, kind: RSyncEntryKind) => boolean) | undefined>(true);
  same<RSyncOptions['deltaThreshold'], number | undefined>(true);
  same<RSyncTargetOptions, { delete?: boolean | undefined }>(true);
  const rsync = new RSync('./project', {
    onProgress: (event) => {
      same<typeof event, RSyncProgress>(true);
      if (event.type === 'list') same<[typeof event.files, typeof event.bytes, typeof event.target], [number, number, string]>(true);
      else if (event.type === 'file') same<[typeof event.path, typeof event.size, typeof event.literalBytes], [string, number, number]>(true);
      else same<typeof event.stats, RSyncStats>(true);
    },
    filter: (path, kind) => {
      same<typeof kind, RSyncEntryKind>(true);
      return kind !== 'special' && !path.startsWith('node_modules');
    },
    deltaThreshold: 64 * 1024,
  });
  same<RSyncProgress['type'], 'list' | 'file' | 'done'>(true);

  // addTarget(gateway, destDir, options?) returns the RSync for chaining.
  same<Parameters<RSync['addTarget']>, [gateway: Gateway, destDir: string, options?: RSyncTargetOptions]>(true);
  const chained: RSync = rsync.addTarget(gw, '/tmp/work/project', { delete: true }).addTarget(other, '/tmp/work/project');
  void chained;
  // @ts-expect-error the target is a Gateway, not a gateway id
  rsync.addTarget('gw0', '/tmp/work/project');
  // @ts-expect-error a target needs a gateway and a directory
  rsync.addTarget('/tmp/work/project');
  // @ts-expect-error the destination directory is required
  rsync.addTarget(gw);
  // @ts-expect-error delete is a boolean
  rsync.addTarget(gw, '/tmp/work/project', { delete: 'yes' });
  // @ts-expect-error unknown option name (it is delete)
  rsync.addTarget(gw, '/tmp/work/project', { remove: true });

  // send(options?) resolves one RSyncStats per target.
  same<Parameters<RSync['send']>, [options?: Wait]>(true);
  same<ReturnType<RSync['send']>, Promise<RSyncStats[]>>(true);
  const [first] = await rsync.send({ timeout: 60_000 });
  if (first) {
    same<
      [typeof first.target, typeof first.destDir, typeof first.literalBytes, typeof first.files, typeof first.transferred],
      [string, string, number, number, number]
    >(true);
    same<[typeof first.unchanged, typeof first.deleted, typeof first.links, typeof first.matchedBytes], [number, number, number, number]>(true);
  }

  // @ts-expect-error the source directory is required
  void new RSync();
  // @ts-expect-error unknown option name (it is onProgress)
  void new RSync('./project', { progress: () => undefined });
  // @ts-expect-error a progress callback gets RSyncProgress events, not strings
  void new RSync('./project', { onProgress: (event: string) => event });
  // @ts-expect-error a filter gets every entry kind, not only files
  void new RSync('./project', { filter: (path: string, kind: 'file') => path !== kind });
  // @ts-expect-error only a 'list' event has files: narrow on type first
  void new RSync('./project', { onProgress: (event) => event.files });
}

// Never called: only type-checked.
export async function serverChecks(options: WorkerServerOptions): Promise<void> {
  same<Parameters<typeof startWorkerServer>, [options: WorkerServerOptions]>(true);
  same<ReturnType<typeof startWorkerServer>, Promise<WorkerServer>>(true);
  const server = await startWorkerServer({ port: 0, secret: 'x'.repeat(32), maxWorkers: 4, log: (line) => same<typeof line, string>(true) });
  same<[WorkerServer['host'], WorkerServer['port'], WorkerServer['contact'], WorkerServer['workers']], [string, number, string, number]>(true);
  same<ReturnType<WorkerServer['close']>, Promise<void>>(true);
  same<Parameters<WorkerServer['close']>, [options?: TerminateOptions]>(true);
  await server.close({ timeout: 1000 });
  await server.close({ timeout: 60_000, signal: AbortSignal.timeout(100) });
  // WorkerServer is AsyncDisposable: `await using` closes it with the defaults.
  assignable<WorkerServer, AsyncDisposable>(true);
  same<ReturnType<WorkerServer[typeof Symbol.asyncDispose]>, Promise<void>>(true);
  {
    await using scoped = await startWorkerServer({ port: 0, secret: 'x'.repeat(32) });
    void scoped.port;
  }
  void options;
  // @ts-expect-error close's timeout is a number of milliseconds
  void server.close({ timeout: '1s' });
  // @ts-expect-error signal is an AbortSignal
  void server.close({ signal: 'stop' });
  // @ts-expect-error the shared secret is required
  void startWorkerServer({ port: 0 });
  // @ts-expect-error the port is a number
  void startWorkerServer({ port: '8888', secret: 'x'.repeat(32) });
}

// Never called: only type-checked.
export function errorChecks(err: unknown): void {
  // Every exported error class is an Error with a string code and its facts in read-only fields.
  type ErrorClass =
    | typeof RemoteError
    | typeof TimeoutError
    | typeof AbortError
    | typeof ChannelEOFError
    | typeof ChannelClosedError
    | typeof ChannelUsageError
    | typeof EncodeError
    | typeof GatewaySpecError
    | typeof GatewayStartError
    | typeof RemoteSourceError
    | typeof RSyncError
    | typeof GatewayServerError
    | typeof ConnectionClosedError
    | typeof QueueFullError
    | typeof MessageTooLargeError;
  assignable<InstanceType<ErrorClass>, Error & { readonly code: string }>(true);
  // ...and a SwitchyardError, the base to catch them all.
  assignable<InstanceType<ErrorClass>, SwitchyardError>(true);
  assignable<SwitchyardError, Error & { readonly code: string }>(true);
  same<ConstructorParameters<typeof SwitchyardError>, [code: string, message: string, options?: { cause?: unknown }]>(true);
  if (err instanceof SwitchyardError) same<typeof err.code, string>(true);
  if (err instanceof ConnectionClosedError) same<typeof err.peer, string | undefined>(true);
  if (err instanceof QueueFullError) same<[typeof err.queue, typeof err.limit], [string, number]>(true);
  if (err instanceof MessageTooLargeError) same<[typeof err.size, typeof err.limit], [number, number]>(true);
  // @ts-expect-error a QueueFullError takes the queue's name, then its limit
  void new QueueFullError(1024, 'receive queue');

  if (err instanceof RemoteError) {
    same<[typeof err.remoteName, typeof err.remoteMessage, typeof err.traceback, typeof err.origin], [string, string, string[], string]>(true);
    // @ts-expect-error the fields are read-only
    err.remoteName = 'TypeError';
  }
  const remote = new RemoteError('gw0', 'TypeError', 'boom', ['at <remote exec>:1:1'], { cause: err });
  void remote;
  // @ts-expect-error the traceback is a list of lines, not one string
  void new RemoteError('gw0', 'TypeError', 'boom', 'at <remote exec>:1:1');

  if (err instanceof TimeoutError) same<[typeof err.timeoutMs, typeof err.operation], [number, string]>(true);
  if (err instanceof AbortError) same<typeof err.operation, string>(true);
  if (err instanceof ChannelEOFError) {
    same<[typeof err.channelId, typeof err.reason], [number, 'closed-locally' | 'closed-by-peer' | 'connection-lost']>(true);
  }
  if (err instanceof ChannelClosedError) same<[typeof err.channelId, typeof err.closedBy], [number, 'local' | 'peer' | 'connection']>(true);
  if (err instanceof ChannelUsageError) same<[typeof err.channelId, typeof err.operation], [number, string]>(true);
  if (err instanceof EncodeError) same<typeof err.path, string>(true);
  if (err instanceof GatewaySpecError) {
    same<
      [typeof err.spec, typeof err.reason, typeof err.key],
      [string, 'empty-segment' | 'private-key' | 'duplicate-key' | 'duplicate-id' | 'no-type' | 'bad-value' | 'unsupported', string | undefined]
    >(true);
  }
  if (err instanceof GatewayStartError) {
    same<[typeof err.spec, typeof err.exitCode, typeof err.signal, typeof err.stderr], [string, number | null, string | null, string]>(true);
  }
  if (err instanceof RemoteSourceError) same<typeof err.freeNames, string[]>(true);
  if (err instanceof RSyncError) same<[typeof err.path, typeof err.target], [string | undefined, string | undefined]>(true);
  if (err instanceof GatewayServerError) same<typeof err.setting, string>(true);
  // @ts-expect-error a TimeoutError takes the operation, then the milliseconds
  void new TimeoutError(1000, 'an item');
  // @ts-expect-error a spec error's reason is one of the listed rules
  void new GatewaySpecError('popen//', 'empty', 'Empty segment');
}

test('types - the gateway API is checked at compile time (see npm run typecheck)', () => {
  for (const fn of [entryPointChecks, gatewayChecks, channelChecks, groupChecks, multiChannelChecks, rsyncChecks, serverChecks, errorChecks]) {
    assert.equal(typeof fn, 'function');
  }
});

test('types - switchyard/gateway exports at runtime exactly the values its types declare', () => {
  assert.deepEqual(Object.keys(gatewayApi).sort(), [...VALUE_EXPORTS].sort());
  assert.ok(defaultGroup instanceof Group);
  for (const name of VALUE_EXPORTS) {
    if (name !== 'defaultGroup') assert.equal(typeof gatewayApi[name], 'function', name);
  }
});

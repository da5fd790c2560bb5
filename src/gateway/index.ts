/**
 * `switchyard/gateway`: start Node.js workers (locally, over ssh, through a socket server or
 * through another worker), send them code, and talk to it over channels. The execnet model, in
 * TypeScript.
 *
 * @example
 * ```ts
 * import { makeGateway } from 'switchyard/gateway';
 *
 * const gw = await makeGateway('popen');
 * const ch = gw.remoteExec(async (channel) => {
 *   for await (const n of channel) await channel.send((n as number) * 2);
 * });
 * await ch.send(21);
 * console.log(await ch.receive({ timeout: 5000 })); // 42
 * ch.close();
 * await gw.terminate();
 * ```
 * @module
 */
export { makeGateway, defaultGroup, Group } from './group.ts';
export { Gateway, type GatewayOptions, type TerminateOptions } from './gateway.ts';
export { MultiChannel, ReceiveQueue, type ReceiveQueueEntry } from './multi-channel.ts';
export { XSpec, type GatewayType } from './spec.ts';
export { RSync, type RSyncOptions, type RSyncTargetOptions, type RSyncStats, type RSyncProgress, type RSyncEntryKind } from './rsync.ts';
export { startWorkerServer, type WorkerServer, type WorkerServerOptions } from './socket-server.ts';
export { type RemoteSource, type RemoteFunction } from './source.ts';
export { type OutputOption, type ExitInfo } from './io.ts';
export { type RemoteInfo, type RemoteStatus } from '../worker/protocol.ts';
export { Channel, type CallbackOptions, type ChannelStreamOptions } from '../channel/index.ts';
export { type WaitOptions } from '../util/timers.ts';
export {
  SwitchyardError,
  ConnectionClosedError,
  QueueFullError,
  MessageTooLargeError,
  RemoteError,
  TimeoutError,
  AbortError,
  ChannelEOFError,
  ChannelClosedError,
  ChannelUsageError,
  EncodeError,
  GatewaySpecError,
  GatewayStartError,
  RemoteSourceError,
  RSyncError,
  GatewayServerError,
} from '../errors.ts';

/**
 * Switchyard: an msl-network compatible Manager (broker), its clients and services.
 *
 * @example
 * import { startManager, Service, connect } from 'switchyard';
 * class Adder extends Service { add(a: number, b: number) { return a + b; } }
 * const manager = await startManager({ port: 0, disableTls: true });
 * const adder = new Adder();
 * await adder.start({ port: manager.port, disableTls: true });
 * const client = await connect({ port: manager.port, disableTls: true });
 * const link = await client.link<Adder>('Adder');
 * console.log(await link.add(1, 2)); // 3
 * @module
 */
export { startManager, DEFAULT_PORT, DEFAULT_MAX_MESSAGE_SIZE, type ManagerOptions, type ManagerHandle } from './manager/manager.ts';
export { runServices, type RunServicesOptions } from './manager/run-services.ts';
export { Service, type ServiceOptions, type RequestContext, type AccessRule, type MethodSchema } from './service/service.ts';
export {
  connect,
  connectLinked,
  Client,
  type ConnectOptions,
  type CallOptions,
  type Link,
  type LinkOperations,
  type LinkedClient,
  type Notification,
  type ServiceIdentity,
  type ManagerIdentity,
  type RemoteMethods,
} from './client/client.ts';
export type { ManagerConnectOptions } from './rpc/session.ts';
export { openDatabase, type ManagerDatabase } from './manager/database.ts';
export * from './errors.ts';
export type { WaitOptions } from './util/timers.ts';
export { VERSION } from './version.ts';

/**
 * `runServices`: a Manager and services in one process (msl-network's `run_services`). The
 * Manager stops once every service has disconnected.
 * @module
 */
import type { Service } from '../service/service.ts';
import type { ManagerConnectOptions } from '../rpc/session.ts';
import { startManager, type ManagerHandle, type ManagerOptions } from './manager.ts';

/** Options of {@link runServices}: the Manager's options, plus how the services connect. */
export interface RunServicesOptions extends ManagerOptions {
  /** The Manager password the services send (when `authPassword` is set it is used by default). */
  passwordManager?: string | undefined;
  /** Login of the services (with `authLogin`). */
  username?: string | undefined;
  password?: string | undefined;
  /** Called once the Manager listens and every service is registered. */
  onReady?: ((manager: ManagerHandle) => void) | undefined;
}

/**
 * Starts a Manager and connects `services` to it. Resolves when every service has shut down
 * (e.g. through `shutdown_service`) and the Manager has stopped; rejects if the Manager or a
 * service cannot start (everything started is stopped again).
 * @example
 * await runServices(new Adder(), new Echo(), { port: 1875, onReady: (m) => console.log(m.port) });
 */
export async function runServices(...args: Array<Service | RunServicesOptions>): Promise<void> {
  const last = args[args.length - 1];
  const hasOptions = last !== undefined && !isService(last);
  const options = (hasOptions ? last : {}) as RunServicesOptions;
  const services = (hasOptions ? args.slice(0, -1) : args) as Service[];
  const manager = await startManager(options);
  const connect: ManagerConnectOptions = {
    host: options.host === undefined || options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host,
    port: manager.port,
    disableTls: options.disableTls,
    certFile: manager.certFile,
    passwordManager: options.passwordManager ?? options.authPassword,
    username: options.username,
    password: options.password,
    hooks: options.hooks,
  };
  try {
    for (const s of services) await s.start(connect);
  } catch (err) {
    await Promise.all(services.map((s) => s.disconnect().catch(() => {})));
    await manager.close();
    throw err;
  }
  options.onReady?.(manager);
  await Promise.race([Promise.all(services.map((s) => s.whenStopped())), manager.closed]);
  await manager.close();
  await Promise.all(services.map((s) => s.disconnect().catch(() => {})));
}

function isService(v: unknown): v is Service {
  return typeof v === 'object' && v !== null && typeof (v as { whenStopped?: unknown }).whenStopped === 'function' && typeof (v as { emitNotification?: unknown }).emitNotification === 'function';
}

/**
 * Who is connected to the Manager: clients by network name, services by name, and for each
 * service its links and locks. Pure bookkeeping with msl-network's rules and texts; no I/O.
 * @module
 */
import { pyError, pyRepr, type PyError } from '../wire/msl-format.ts';

/** What the registry needs to know about a connected peer. */
export interface RegisteredPeer {
  readonly id: number;
  /** `name[host:port]` */
  readonly networkName: string;
}

/** A service's public entry (what `link` returns and `identity` lists). */
export interface ServiceInfo {
  attributes: Record<string, unknown>;
  address: string;
  language: string;
  os: string;
  max_clients: number;
}

/** A client's public entry in the Manager identity. */
export interface ClientInfo {
  name: string;
  address: string;
  language: string;
  os: string;
}

/** A registered service and its links and locks. */
export class ServiceEntry<P extends RegisteredPeer = RegisteredPeer> {
  /** Linked clients, in link order. */
  readonly links = new Set<P>();
  /** Clients holding a lock (shared or exclusive). */
  readonly locks = new Set<P>();

  constructor(
    readonly name: string,
    readonly peer: P,
    readonly info: ServiceInfo,
  ) {}
}

/** Outcome of a registry operation: a result for the caller, or an msl-network error. */
export type Outcome = { ok: true; result: unknown } | { ok: false; error: PyError };

const ok = (result: unknown): Outcome => ({ ok: true, result });
const fail = (name: string, text: string): Outcome => ({ ok: false, error: pyError(name, text) });

/** The registry of clients and services. */
export class Registry<P extends RegisteredPeer = RegisteredPeer> {
  readonly clients = new Map<string, { peer: P; info: ClientInfo }>();
  readonly services = new Map<string, ServiceEntry<P>>();

  /** Adds a client. */
  addClient(peer: P, info: ClientInfo): void {
    this.clients.set(peer.networkName, { peer, info });
  }

  /** Adds a service; fails like msl when the name is taken. */
  addService(peer: P, name: string, info: ServiceInfo): Outcome {
    if (this.services.has(name)) return fail('NameError', `A ${pyRepr(name)} service is already running on the Manager`);
    this.services.set(name, new ServiceEntry(name, peer, info));
    return ok(true);
  }

  /** Removes a client from the registry and from every link and lock. */
  removeClient(peer: P): void {
    const entry = this.clients.get(peer.networkName);
    if (entry?.peer === peer) this.clients.delete(peer.networkName);
    for (const svc of this.services.values()) {
      svc.links.delete(peer);
      svc.locks.delete(peer);
    }
  }

  /** Removes a service; returns its entry (with the clients that were linked) if it was registered. */
  removeService(peer: P): ServiceEntry<P> | undefined {
    for (const [name, svc] of this.services) {
      if (svc.peer === peer) {
        this.services.delete(name);
        return svc;
      }
    }
    return undefined;
  }

  /** `link`: msl-network's rules (locks and max_clients gate new links; re-linking is fine). */
  link(client: P, service: string): Outcome {
    const svc = this.services.get(service);
    if (!svc) return fail('KeyError', `the ${pyRepr(service)} service does not exist, cannot link with ${client.networkName}`);
    if (svc.links.has(client)) return ok(svc.info);
    if (svc.locks.size > 0) return fail('PermissionError', `${pyRepr(service)} service is locked`);
    const max = svc.info.max_clients;
    if (max <= 0 || svc.links.size < max) {
      svc.links.add(client);
      return ok(svc.info);
    }
    return fail(
      'PermissionError',
      `The maximum number of Clients are already linked with ${pyRepr(service)}\nThe linked Clients are:\n  ${sortedNames(svc.links).join('\n  ')}`,
    );
  }

  /** `unlink`: also releases the caller's lock; `true` when the service is gone. */
  unlink(client: P, service: string): Outcome {
    const svc = this.services.get(service);
    if (!svc) return ok(true);
    if (!svc.links.delete(client)) return fail('KeyError', `cannot unlink ${client.networkName}, it was not linked with ${pyRepr(service)}`);
    svc.locks.delete(client);
    return ok(true);
  }

  /** `acquire_lock`: result is the list of all linked clients. */
  acquireLock(client: P, service: string, shared: boolean): Outcome {
    const svc = this.services.get(service);
    if (!svc) return fail('KeyError', `${pyRepr(service)} service does not exist, ${client.networkName} cannot acquire a lock`);
    if (!svc.links.has(client)) return fail('PermissionError', `${client.networkName} cannot acquire a lock because it is not linked with the ${pyRepr(service)} service`);
    if (!shared && svc.links.size > 1) {
      return fail(
        'PermissionError',
        `${client.networkName} cannot acquire an exclusive lock, there are ${svc.links.size} links with the ${pyRepr(service)} service\nThe linked Clients are:\n  ${sortedNames(svc.links).join('\n  ')}`,
      );
    }
    svc.locks.add(client);
    return ok([...svc.links].map((p) => p.networkName));
  }

  /** `release_lock`: result is the list of clients still holding a lock. */
  releaseLock(client: P, service: string): Outcome {
    const svc = this.services.get(service);
    if (!svc) return fail('KeyError', `${pyRepr(service)} service does not exist, ${client.networkName} cannot release the lock`);
    svc.locks.delete(client);
    return ok([...svc.locks].map((p) => p.networkName));
  }

  /** The clients part of the Manager identity. */
  clientsInfo(): Record<string, ClientInfo> {
    const out: Record<string, ClientInfo> = {};
    for (const [name, { info }] of this.clients) out[name] = info;
    return out;
  }

  /** The services part of the Manager identity. */
  servicesInfo(): Record<string, ServiceInfo> {
    const out: Record<string, ServiceInfo> = {};
    for (const [name, svc] of this.services) out[name] = svc.info;
    return out;
  }
}

/** Python's `sorted()` of strings: by code point. */
function sortedNames(peers: Iterable<RegisteredPeer>): string[] {
  return [...peers].map((p) => p.networkName).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Groups of gateways: ids, lookup, `remoteExec` on all, and termination that never hangs.
 * @module
 */
import { GatewaySpecError } from '../errors.ts';
import { trace } from '../worker/trace.ts';
import { Gateway, startGateway, type GatewayOptions, type TerminateOptions } from './gateway.ts';
import { MultiChannel } from './multi-channel.ts';
import type { RemoteSource } from './source.ts';
import { XSpec } from './spec.ts';

/**
 * A set of gateways. Ids are `gw0`, `gw1`, ... unless the spec has `id=`; the counter keeps
 * counting after gateways end, as execnet's does.
 *
 * @example
 * ```ts
 * const group = new Group();
 * await group.makeGateway('popen//id=a');
 * await group.makeGateway('popen//id=b');
 * const mc = group.remoteExec((channel) => channel.send(process.pid));
 * console.log(await mc.receiveEach({ timeout: 5000 }));
 * await group.terminate({ timeout: 1000 });
 * ```
 */
export class Group implements Iterable<Gateway> {
  /** The spec used when `makeGateway()` gets none. */
  defaultSpec = 'popen';
  private readonly gateways: Gateway[] = [];
  private readonly reserved = new Set<string>();
  private counter = 0;
  private readonly options: GatewayOptions;

  /** @param options defaults for every gateway of the group. */
  constructor(options: GatewayOptions = {}) {
    this.options = options;
  }

  /** Creates a group and starts one gateway per spec, in order. */
  static async create(specs: Iterable<string>, options?: GatewayOptions): Promise<Group> {
    const group = new Group(options);
    try {
      for (const s of specs) await group.makeGateway(s);
    } catch (err) {
      await group.terminate({ timeout: 500 });
      throw err;
    }
    return group;
  }

  /**
   * Reserves and returns the id for `spec` (its `id=`, or the next `gwN`). Throws
   * {@link GatewaySpecError} (`duplicate-id`) when a live gateway has that id.
   */
  allocateId(spec: XSpec | string): string {
    const s = typeof spec === 'string' ? new XSpec(spec) : spec;
    let id = s.id;
    if (id === undefined) {
      do id = `gw${this.counter++}`;
      while (this.has(id) || this.reserved.has(id));
    } else if (this.has(id) || this.reserved.has(id)) {
      throw new GatewaySpecError(s.raw, 'duplicate-id', `A gateway with id ${JSON.stringify(id)} already exists in this group`, 'id');
    }
    this.reserved.add(id);
    return id;
  }

  /**
   * Starts a gateway (default spec {@link defaultSpec}) and adds it to the group. Rejects with
   * {@link GatewaySpecError} for a bad spec or id and `GatewayStartError` when the worker does
   * not start (the message carries the real cause, e.g. ssh's stderr).
   */
  async makeGateway(spec?: string | XSpec, options?: GatewayOptions): Promise<Gateway> {
    const s = spec === undefined || spec === '' ? new XSpec(this.defaultSpec) : typeof spec === 'string' ? new XSpec(spec) : spec;
    const id = this.allocateId(s);
    try {
      const gw = await startGateway({ id, spec: s, options: { ...this.options, ...options }, viaGateway: (v) => this.get(v) });
      this.gateways.push(gw);
      gw.onExit.push(() => {
        const i = this.gateways.indexOf(gw);
        if (i >= 0) this.gateways.splice(i, 1);
      });
      return gw;
    } finally {
      this.reserved.delete(id);
    }
  }

  /** The gateway with this id, or at this index; `undefined` when there is none. */
  get(key: string | number): Gateway | undefined {
    if (typeof key === 'number') return this.gateways.at(key);
    return this.gateways.find((g) => g.id === key);
  }

  /** True for a member gateway or the id of one. */
  has(key: string | Gateway): boolean {
    return typeof key === 'string' ? this.gateways.some((g) => g.id === key) : this.gateways.includes(key);
  }

  /** Number of gateways. */
  get size(): number {
    return this.gateways.length;
  }

  /** Iterates over a copy (safe while gateways exit). */
  [Symbol.iterator](): Iterator<Gateway> {
    return [...this.gateways][Symbol.iterator]();
  }

  /**
   * Runs `source` on every gateway; returns their channels as one {@link MultiChannel}. Same
   * contract as {@link Gateway.remoteExec}, including how `K` (the type of `kwargs`) is checked.
   */
  remoteExec<K = unknown>(source: RemoteSource<K>, kwargs?: K): MultiChannel {
    return new MultiChannel(this.gateways.map((g) => g.remoteExec(source, kwargs)));
  }

  /**
   * Terminates every gateway: hangs up on each (`via=` and `installvia=` gateways before the ones they
   * run through), waits up to `timeout` ms per round for the workers to exit, and kills the ones
   * that did not; once `signal` aborts, the rounds left kill at once. Never rejects (not even
   * when `signal` aborts); safe to call twice.
   */
  async terminate(options?: TerminateOptions): Promise<void> {
    const timeout = options?.timeout ?? 2000;
    const signal = options?.signal;
    let rounds = 0;
    while (this.gateways.length > 0 && rounds++ < 16) {
      const viaHosts = new Set(this.gateways.map((g) => g.spec.via ?? g.spec.installvia).filter((v): v is string => v !== undefined));
      const round = this.gateways.filter((g) => !viaHosts.has(g.id));
      trace(() => `group terminate: ${round.map((g) => g.id).join(', ')}`);
      await Promise.all(round.map((g) => g.terminate({ timeout, signal })));
      for (const g of round) {
        const i = this.gateways.indexOf(g);
        if (i >= 0) this.gateways.splice(i, 1);
      }
    }
  }

  /** {@link terminate} with the default timeout (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.terminate();
  }

  /** `<Group ['gw0', 'gw1']>` */
  toString(): string {
    return `<Group [${this.gateways.map((g) => `'${g.id}'`).join(', ')}]>`;
  }
}

/**
 * The process-wide group used by {@link makeGateway}. Its workers are killed when this process
 * exits (as are those of every other group).
 */
export const defaultGroup = new Group();

/**
 * Starts a gateway in {@link defaultGroup}. Same contract as {@link Group.makeGateway}.
 *
 * @example
 * ```ts
 * import { makeGateway } from 'switchyard/gateway';
 * const gw = await makeGateway('popen');
 * const ch = gw.remoteExec('channel.send(await channel.receive() + 1)');
 * await ch.send(41);
 * console.log(await ch.receive({ timeout: 5000 })); // 42
 * await gw.terminate();
 * ```
 */
export function makeGateway(spec?: string | XSpec, options?: GatewayOptions): Promise<Gateway> {
  return defaultGroup.makeGateway(spec, options);
}

/**
 * Several channels handled as one (execnet's `MultiChannel`), typically from
 * `group.remoteExec(...)`.
 * @module
 */
import type { Channel } from '../channel/channel.ts';
import { QueueFullError } from '../errors.ts';
import { deferred, type Deferred } from '../util/deferred.ts';
import { bounded, type WaitOptions } from '../util/timers.ts';

/**
 * One entry of a {@link ReceiveQueue}: `[channel, item]` for an item that `channel` received, or
 * `[channel, endmarker]` once that channel ended. `T` is the type of the items; it defaults to
 * `unknown` because nothing checks what remote code sends (narrow before use, or pass the type
 * your remote code sends as `T` to `makeReceiveQueue`).
 */
export type ReceiveQueueEntry<E = undefined, T = unknown> = [channel: Channel, item: T] | [channel: Channel, endmarker: E];

/**
 * A queue of `[channel, item]` pairs fed by every channel of a {@link MultiChannel}; see
 * {@link MultiChannel.makeReceiveQueue}. `E` is the endmarker's type, `T` the items' type.
 */
export class ReceiveQueue<E = undefined, T = unknown> {
  private readonly items: Array<[Channel, unknown]> = [];
  private readonly waiters: Array<Deferred<[Channel, unknown]>> = [];
  /** Not for direct use: create a queue with {@link MultiChannel.makeReceiveQueue}. */
  constructor(private readonly limit: number) {}

  /** @internal */
  _push(entry: [Channel, unknown]): void {
    const w = this.waiters.shift();
    if (w) w.resolve(entry);
    else this.items.push(entry);
  }

  /** @internal True when the queue holds `limit` entries (the producers then wait). */
  get _full(): boolean {
    return this.items.length >= this.limit;
  }

  /**
   * The next `[channel, item]`, or `[channel, endmarker]` when that channel ended (once per
   * channel). Rejects with `TimeoutError`/`AbortError` from `options`.
   */
  get(options?: WaitOptions): Promise<ReceiveQueueEntry<E, T>> {
    const next = this.items.shift();
    if (next) {
      this.onTake?.();
      return Promise.resolve(next as ReceiveQueueEntry<E, T>);
    }
    const d = deferred<[Channel, unknown]>();
    this.waiters.push(d);
    return bounded(d.promise as Promise<ReceiveQueueEntry<E, T>>, 'an item from the receive queue', options, () => {
      const i = this.waiters.indexOf(d);
      if (i >= 0) this.waiters.splice(i, 1);
    });
  }

  /** Entries waiting to be taken. */
  get size(): number {
    return this.items.length;
  }

  /** @internal */
  onTake: (() => void) | undefined;
}

/**
 * A fixed list of channels.
 *
 * @example
 * ```ts
 * const mc = group.remoteExec(async (channel) => channel.send(process.pid));
 * const pids = await mc.receiveEach({ timeout: 5000 });
 * ```
 */
export class MultiChannel implements Iterable<Channel> {
  private readonly channels: readonly Channel[];
  private queue: ReceiveQueue<unknown, unknown> | undefined;

  constructor(channels: Iterable<Channel>) {
    this.channels = [...channels];
  }

  get length(): number {
    return this.channels.length;
  }

  /** The channel at `index`. */
  at(index: number): Channel | undefined {
    return this.channels.at(index);
  }

  includes(channel: Channel): boolean {
    return this.channels.includes(channel);
  }

  [Symbol.iterator](): Iterator<Channel> {
    return this.channels[Symbol.iterator]();
  }

  /** Sends `item` on every channel (in parallel); rejects with the first failure. */
  async sendEach(item: unknown, options?: WaitOptions): Promise<void> {
    await Promise.all(this.channels.map((c) => c.send(item, options)));
  }

  /**
   * Receives one item from each channel, in list order: the items, or with `withChannel: true`
   * `[channel, item]` pairs. Rejects with the first channel's failure (`ChannelEOFError`,
   * `RemoteError`, `TimeoutError`/`AbortError` from `options`, which apply to each receive).
   */
  async receiveEach(options: WaitOptions & { withChannel: true }): Promise<Array<[Channel, unknown]>>;
  async receiveEach(options?: WaitOptions & { withChannel?: false | undefined }): Promise<unknown[]>;
  async receiveEach(options?: WaitOptions & { withChannel?: boolean | undefined }): Promise<unknown[] | Array<[Channel, unknown]>>;
  async receiveEach(options?: WaitOptions & { withChannel?: boolean | undefined }): Promise<unknown[] | Array<[Channel, unknown]>> {
    const out: unknown[] = [];
    for (const c of this.channels) {
      const item = await c.receive(options);
      out.push(options?.withChannel ? [c, item] : item);
    }
    return out;
  }

  /**
   * One queue of `[channel, item]` for all channels, fed by callbacks; each channel puts
   * `[channel, endmarker]` once when it ends (`undefined` when no endmarker is given). Created
   * once: later calls return the same queue. At most `limit` entries wait in it (default 1024);
   * beyond that the channels' callbacks wait, so their senders are slowed by the channel credit.
   * Throws `QueueFullError` for a `limit` below 1.
   *
   * `T` is the type of the items, `unknown` unless given: it is not checked, so give it only
   * when you know what the remote code sends.
   */
  makeReceiveQueue<E = undefined, T = unknown>(options?: { endmarker?: E; limit?: number }): ReceiveQueue<E, T> {
    if (this.queue) return this.queue as ReceiveQueue<E, T>;
    const queue = new ReceiveQueue<E, T>(options?.limit ?? 1024);
    if (queue['limit'] < 1) throw new QueueFullError('receive queue', 0);
    this.queue = queue as ReceiveQueue<unknown, unknown>;
    let wake: Deferred<void> | undefined;
    queue.onTake = () => {
      const w = wake;
      wake = undefined;
      w?.resolve();
    };
    const endmarker = options?.endmarker;
    for (const c of this.channels) {
      c.setCallback(
        (item) => {
          queue._push([c, item]);
          if (!queue._full) return undefined;
          wake ??= deferred<void>();
          return wake.promise;
        },
        { endmarker },
      );
    }
    return queue;
  }

  /** Waits until every channel is closed, then rejects with the first error, if any. */
  async waitClose(options?: WaitOptions): Promise<void> {
    const results = await Promise.allSettled(this.channels.map((c) => c.waitClose(options)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

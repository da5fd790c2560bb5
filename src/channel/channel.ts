/**
 * One channel: a bidirectional, ordered stream of items between two endpoints of a connection,
 * with execnet's API in camelCase and credit-based flow control (see docs/channels.md).
 *
 * Flow control: the receiver advertises a window in bytes of encoded items and grants credit back
 * (`CH_CREDIT`) as its user consumes items. `send()` writes at once while the sender holds credit
 * and otherwise queues the item and returns a Promise that settles when the item is written. An
 * item larger than the window is still written whenever the credit is positive, so nothing can
 * deadlock; the credit then goes negative until the receiver catches up. Memory is bounded on both
 * sides: the receiver buffers at most its window plus one item, the sender at most
 * `maxPendingSendBytes` of queued items per channel.
 * @module
 */
import type { Duplex } from 'node:stream';
import {
  ChannelClosedError,
  ChannelEOFError,
  ChannelUsageError,
  QueueFullError,
  type RemoteError,
} from '../errors.ts';
import { deferred, type Deferred } from '../util/deferred.ts';
import { bounded, type WaitOptions } from '../util/timers.ts';
import { Fifo } from './fifo.ts';
import { channelToStream, type ChannelStreamOptions } from './stream.ts';

/**
 * The multiplexer side of a channel. Internal: implemented by `ChannelMux`; exported only so that
 * the two files can share it. Kept in the published declarations because the {@link Channel}
 * constructor names it.
 */
export interface ChannelHost {
  /** Name of the peer, used as the origin of {@link RemoteError}s. */
  readonly peerName: string;
  /** Bound on bytes of items queued by `send()` per channel. */
  readonly maxPendingSendBytes: number;
  /** True while data frames must wait for the transport to drain. */
  readonly congested: boolean;
  /** Encodes an item for `channel` (announcing channels referenced inside it). Throws `EncodeError`. */
  encodeItem(channel: Channel, item: unknown): Buffer;
  writeData(channel: Channel, bytes: Buffer): void;
  writeCredit(channel: Channel, bytes: number): void;
  writeClose(channel: Channel, error: unknown): void;
  /** Calls `channel._pump()` once the transport has drained. */
  waitDrain(channel: Channel): void;
  /** Removes the channel from the id table (no more frames are expected for it). */
  release(channel: Channel): void;
  /** Sends `CH_OPEN` (reference flag) for a channel the peer does not know yet. */
  announce(channel: Channel): void;
}

/** Options of {@link Channel.setCallback}. */
export interface CallbackOptions<E> {
  /**
   * Passed to the callback exactly once when the channel ends for any reason (local close, peer
   * close, peer error, connection lost). Omit the property to get no end call.
   */
  endmarker?: E;
}

/** Why the receiving side of a channel ended (first reason wins). */
type EndReason = 'closed-locally' | 'closed-by-peer' | 'connection-lost';

interface Incoming {
  item: unknown;
  size: number;
}

interface Outgoing {
  bytes: Buffer;
  done: Deferred<void>;
}

interface Waiter {
  resolve(item: unknown): void;
  reject(err: unknown): void;
}

const RESOLVED = Promise.resolve();

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * A channel. Obtain one from `ChannelMux.open()`, `Gateway.remoteExec()` or
 * `Gateway.newChannel()`; never construct it directly.
 *
 * Receiving is either pull-style ({@link receive}, `for await`, {@link toStream}) or push-style
 * ({@link setCallback}), never both.
 *
 * @example
 * ```ts
 * const ch = gateway.remoteExec((channel) => {
 *   for await (const n of channel) await channel.send((n as number) * 2);
 * });
 * await ch.send(21);
 * console.log(await ch.receive({ timeout: 1000 })); // 42
 * ch.close();
 * ```
 */
export class Channel implements AsyncIterable<unknown> {
  /** The channel id (odd when opened by the connecting side, even by the accepting side). */
  readonly id: number;
  /** @internal */
  readonly _host: ChannelHost;
  /** @internal True once the peer knows this id (opened by either side, or announced). */
  _announced: boolean;

  private readonly window: number;
  private credit: number;
  private peerCredit: number;
  private ungranted = 0;

  private readonly inQueue = new Fifo<Incoming>();
  private inBytes = 0;
  private readonly waiters = new Fifo<Waiter>();
  private readonly outQueue = new Fifo<Outgoing>();
  private outBytes = 0;

  private localClosed = false;
  private closePending: { error: unknown } | undefined;
  private closeSent = false;
  private peerClosed = false;
  private lostError: Error | undefined;
  private endReason: EndReason | undefined;
  private remoteError: RemoteError | undefined;
  private remoteErrorRaised = false;
  private callbackError: unknown;

  private callback: ((item: unknown) => unknown) | undefined;
  private hasEndmarker = false;
  private endmarker: unknown;
  private endmarkerDelivered = false;
  private callbackBusy = false;
  private iterating = false;
  private closeWaiters: Array<Deferred<void>> = [];

  /** Not for direct use: channels come from `ChannelMux.open()` or `Gateway.remoteExec()`. */
  constructor(host: ChannelHost, id: number, window: number, sendCredit: number, announced: boolean) {
    this._host = host;
    this.id = id;
    this.window = window;
    this.credit = sendCredit;
    this._initialCredit = sendCredit;
    this.peerCredit = window;
    this._announced = announced;
  }

  /** @internal The send credit this channel started with (announced with the channel when pre-credited). */
  readonly _initialCredit: number;

  /**
   * Sends one item. Resolves once the item is handed to the connection: at once while the peer's
   * window has room, otherwise when the peer grants credit. Never waits for the remote code.
   *
   * Rejects (the channel stays usable) with `EncodeError` naming the path of an unsupported value,
   * `MessageTooLargeError` above the multiplexer's item limit, {@link QueueFullError} when more
   * than `maxPendingSendBytes` are already queued (await your sends), and with `TimeoutError` /
   * `AbortError` from `options` (the item is then withdrawn, not sent). Rejects with
   * {@link ChannelClosedError} once either side closed or the connection is gone. The item is
   * encoded before this returns, so the caller may reuse its buffers at once.
   */
  send(item: unknown, options?: WaitOptions): Promise<void> {
    const blocked = this.sendBlocked();
    if (blocked) return Promise.reject(new ChannelClosedError(this.id, blocked));
    let bytes: Buffer;
    try {
      bytes = this._host.encodeItem(this, item);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this._announced) this._host.announce(this);
    if (this.outQueue.length === 0 && this.credit > 0 && !this._host.congested) {
      this.credit -= bytes.length;
      this._host.writeData(this, bytes);
      return RESOLVED;
    }
    if (this.outQueue.length > 0 && this.outBytes + bytes.length > this._host.maxPendingSendBytes) {
      return Promise.reject(new QueueFullError(`channel ${this.id} send`, this._host.maxPendingSendBytes));
    }
    const entry: Outgoing = { bytes, done: deferred<void>() };
    this.outQueue.push(entry);
    this.outBytes += bytes.length;
    if (this.credit > 0) this._host.waitDrain(this);
    return bounded(entry.done.promise, `credit to send on channel ${this.id}`, options, () => {
      if (this.outQueue.remove(entry)) this.outBytes -= bytes.length;
    });
  }

  /**
   * Receives the next item. Items that arrived before a close are still delivered, in order.
   * At the end it rejects with the peer's {@link RemoteError} (once), then with
   * {@link ChannelEOFError} on every later call. Rejects with `TimeoutError`/`AbortError` from
   * `options`, and with {@link ChannelUsageError} when a callback is set.
   */
  receive(options?: WaitOptions): Promise<unknown> {
    if (this.callback) {
      return Promise.reject(new ChannelUsageError(this.id, 'receive', `Cannot receive() on channel ${this.id}: it has a receiver callback`));
    }
    const next = this.inQueue.shift();
    if (next) {
      this.inBytes -= next.size;
      this.consumed(next.size);
      return Promise.resolve(next.item);
    }
    if (this.endReason) return Promise.reject(this.endError());
    const d = deferred<unknown>();
    const waiter: Waiter = { resolve: d.resolve, reject: d.reject };
    this.waiters.push(waiter);
    return bounded(d.promise, `an item on channel ${this.id}`, options, () => {
      this.waiters.remove(waiter);
    });
  }

  /**
   * Iterates over received items until the channel ends; a peer error is thrown from the loop.
   * Breaking out of the loop leaves the channel open. Throws {@link ChannelUsageError} when a
   * callback is set.
   */
  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    if (this.callback) throw new ChannelUsageError(this.id, 'iterate', `Cannot iterate channel ${this.id}: it has a receiver callback`);
    this.iterating = true;
    return {
      next: async (): Promise<IteratorResult<unknown>> => {
        try {
          return { value: await this.receive(), done: false };
        } catch (err) {
          if (err instanceof ChannelEOFError) return { value: undefined, done: true };
          throw err;
        }
      },
      return: (): Promise<IteratorResult<unknown>> => Promise.resolve({ value: undefined, done: true }),
    };
  }

  /**
   * Delivers every item to `callback` instead of queueing it: first the items already queued
   * (synchronously, before this returns), then each item as it arrives. When the callback returns
   * a Promise, the next item of this channel waits for it and the peer's credit is returned only
   * then, so a slow consumer slows its sender down without stalling other channels.
   *
   * With `options.endmarker`, the callback is called with it exactly once when the channel ends,
   * whatever the reason (also when the channel had already ended). When the callback throws or
   * rejects, the channel is closed with that error: the peer sees a `RemoteError`, and a local
   * `waitClose()` rejects with the original error.
   *
   * Throws {@link ChannelUsageError} when a callback is already set or the channel is being
   * received from or iterated.
   */
  setCallback<E = undefined>(callback: (item: unknown) => unknown, options?: CallbackOptions<E>): void {
    if (this.callback) throw new ChannelUsageError(this.id, 'setCallback', `Channel ${this.id} already has a callback`);
    if (this.iterating || this.waiters.length > 0) {
      throw new ChannelUsageError(this.id, 'setCallback', `Cannot set a callback on channel ${this.id} while it is received from or iterated`);
    }
    this.callback = callback;
    if (options && 'endmarker' in options) {
      this.hasEndmarker = true;
      this.endmarker = options.endmarker;
    }
    this.runCallback();
  }

  /**
   * Closes the channel from this side, optionally with an error that the peer receives as a
   * `RemoteError` (a string becomes the message). Items already passed to `send()` are written
   * first; items that arrive afterwards are dropped. A second call is a no-op. Receiving continues
   * with the items already queued, then ends with {@link ChannelEOFError}.
   */
  close(error?: Error | string): void {
    if (this.localClosed) return;
    this.localClosed = true;
    if (!this.peerClosed && !this.lostError) {
      if (this.outQueue.length > 0) this.closePending = { error };
      else this.sendClose(error);
    }
    this.end('closed-locally');
  }

  /**
   * Closes now: items still waiting for credit are dropped (their `send()` rejects with
   * {@link ChannelClosedError}), then the channel is closed as by {@link close}.
   */
  destroy(error?: Error | string): void {
    this.rejectPendingSends('local');
    if (this.closePending) {
      const pending = this.closePending;
      this.closePending = undefined;
      this.sendClose(pending.error);
    }
    this.close(error);
  }

  /**
   * Resolves when the channel is closed by either side (after this side's close has been
   * written). Rejects once with the peer's {@link RemoteError}, and every time with
   * {@link ChannelEOFError} when the connection was lost before a close; rejects with the
   * callback's own error when a callback threw. Does not consume queued items. Rejects with
   * `TimeoutError`/`AbortError` from `options`.
   */
  waitClose(options?: WaitOptions): Promise<void> {
    if (this.isFinished()) return this.closeOutcome();
    const d = deferred<void>();
    this.closeWaiters.push(d);
    return bounded(d.promise, `channel ${this.id} to close`, options, () => {
      const i = this.closeWaiters.indexOf(d);
      if (i >= 0) this.closeWaiters.splice(i, 1);
    }).then(() => this.closeOutcome());
  }

  /** True once either side closed the channel or the connection is gone. */
  isClosed(): boolean {
    return this.endReason !== undefined || this.peerClosed;
  }

  /**
   * A Node Duplex over this channel (execnet's `makefile`): each written chunk is sent as one
   * bytes item; received bytes or string items are read as bytes. See {@link ChannelStreamOptions}.
   */
  toStream(options?: ChannelStreamOptions): Duplex {
    return channelToStream(this, options);
  }

  /** Closes the channel (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return RESOLVED;
  }

  /** `<Channel id=1 open>` or `<Channel id=1 closed>`, as execnet prints it. */
  toString(): string {
    return `<Channel id=${this.id} ${this.isClosed() ? 'closed' : 'open'}>`;
  }

  /** True when a receiver callback is set ({@link setCallback}). */
  get hasCallback(): boolean {
    return this.callback !== undefined;
  }

  /** Items received and not yet consumed. */
  get queued(): number {
    return this.inQueue.length;
  }

  /** Encoded bytes of the items received and not yet consumed (at most the window plus one item). */
  get queuedBytes(): number {
    return this.inBytes;
  }

  // ---------------------------------------------------------------------------------------------
  // Called by the multiplexer.

  /** @internal An item arrived. Returns false when it violated the advertised window. */
  _onData(item: unknown, size: number): boolean {
    if (this.localClosed || this.endReason) return true;
    if (this.peerCredit <= 0) return false;
    this.peerCredit -= size;
    if (this.callback) {
      this.inQueue.push({ item, size });
      this.inBytes += size;
      this.runCallback();
      return true;
    }
    const w = this.waiters.shift();
    if (w) {
      w.resolve(item);
      this.consumed(size);
    } else {
      this.inQueue.push({ item, size });
      this.inBytes += size;
    }
    return true;
  }

  /** @internal The peer granted credit. */
  _onCredit(bytes: number): void {
    this.credit += bytes;
    this._pump();
  }

  /** @internal The peer closed the channel (with an error, when `error` is set). */
  _onPeerClose(error: RemoteError | undefined): void {
    if (this.peerClosed) return;
    this.peerClosed = true;
    this._host.release(this);
    // When both sides close at once the peer's error, if any, still reaches us.
    if (error && !this.remoteError) this.remoteError = error;
    this.closePending = undefined;
    this.rejectPendingSends('peer');
    this.end('closed-by-peer');
    this.settleClose();
  }

  /** @internal The connection is gone. */
  _onLost(err: Error): void {
    if (this.lostError) return;
    this.lostError = err;
    this.closePending = undefined;
    this.rejectPendingSends('connection');
    this.end('connection-lost');
    this.settleClose();
  }

  /** @internal Writes queued items while there is credit and the transport takes them. */
  _pump(): void {
    while (this.outQueue.length > 0) {
      if (this.credit <= 0) return;
      if (this._host.congested) {
        this._host.waitDrain(this);
        return;
      }
      const e = this.outQueue.shift() as Outgoing;
      this.outBytes -= e.bytes.length;
      this.credit -= e.bytes.length;
      this._host.writeData(this, e.bytes);
      e.done.resolve();
    }
    if (this.closePending) {
      const { error } = this.closePending;
      this.closePending = undefined;
      this.sendClose(error);
    }
  }

  /** @internal True while this side may still send (used for announcing). */
  get _ended(): boolean {
    return this.endReason !== undefined || this.peerClosed;
  }

  // ---------------------------------------------------------------------------------------------

  private sendBlocked(): ChannelClosedError['closedBy'] | undefined {
    if (this.lostError) return 'connection';
    if (this.localClosed) return 'local';
    if (this.peerClosed) return 'peer';
    return undefined;
  }

  private sendClose(error: unknown): void {
    this.closeSent = true;
    this._host.writeClose(this, error);
    this._host.release(this);
    this.settleClose();
  }

  private rejectPendingSends(closedBy: ChannelClosedError['closedBy']): void {
    for (const e of this.outQueue.drain()) e.done.reject(new ChannelClosedError(this.id, closedBy));
    this.outBytes = 0;
  }

  private consumed(size: number): void {
    if (this.localClosed || this.endReason) return;
    this.ungranted += size;
    if (this.ungranted >= Math.max(1, this.window >> 1)) {
      const n = this.ungranted;
      this.ungranted = 0;
      this.peerCredit += n;
      this._host.writeCredit(this, n);
    }
  }

  private end(reason: EndReason): void {
    if (this.endReason) return;
    this.endReason = reason;
    if (this.callback) {
      this.runCallback();
    } else {
      for (const w of this.waiters.drain()) w.reject(this.endError());
    }
    this.settleClose();
  }

  private endError(): Error {
    if (this.remoteError && !this.remoteErrorRaised) {
      this.remoteErrorRaised = true;
      return this.remoteError;
    }
    return new ChannelEOFError(this.id, this.endReason ?? 'closed-locally', this.endReason === 'connection-lost' ? { cause: this.lostError } : undefined);
  }

  private isFinished(): boolean {
    if (this.lostError || this.peerClosed) return true;
    return this.localClosed && this.closeSent;
  }

  private settleClose(): void {
    if (!this.isFinished() || this.closeWaiters.length === 0) return;
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const d of waiters) d.resolve();
  }

  private closeOutcome(): Promise<void> {
    if (this.remoteError && !this.remoteErrorRaised) {
      this.remoteErrorRaised = true;
      return Promise.reject(this.remoteError);
    }
    if (this.callbackError !== undefined) return Promise.reject(this.callbackError);
    if (this.endReason === 'connection-lost') return Promise.reject(new ChannelEOFError(this.id, 'connection-lost', { cause: this.lostError }));
    return RESOLVED;
  }

  private runCallback(): void {
    const cb = this.callback;
    if (!cb || this.callbackBusy) return;
    for (;;) {
      const entry = this.inQueue.shift();
      if (!entry) break;
      this.inBytes -= entry.size;
      let r: unknown;
      try {
        r = cb(entry.item);
      } catch (err) {
        this.failCallback(err);
        return;
      }
      if (isThenable(r)) {
        this.callbackBusy = true;
        r.then(
          () => {
            this.callbackBusy = false;
            this.consumed(entry.size);
            this.runCallback();
          },
          (err: unknown) => {
            this.callbackBusy = false;
            this.failCallback(err);
          },
        );
        return;
      }
      this.consumed(entry.size);
    }
    if (this.endReason) this.deliverEndmarker();
  }

  private failCallback(err: unknown): void {
    if (this.callbackError === undefined) this.callbackError = err;
    this.inQueue.drain();
    this.inBytes = 0;
    if (!this.localClosed && !this.peerClosed && !this.lostError) {
      this.close(err instanceof Error ? err : String(err));
    } else {
      this.end('closed-locally');
    }
    this.deliverEndmarker();
  }

  private deliverEndmarker(): void {
    if (!this.hasEndmarker || this.endmarkerDelivered || this.callbackBusy) return;
    this.endmarkerDelivered = true;
    try {
      const r = this.callback?.(this.endmarker);
      if (isThenable(r)) {
        r.then(undefined, (err: unknown) => {
          if (this.callbackError === undefined) this.callbackError = err;
        });
      }
    } catch (err) {
      if (this.callbackError === undefined) this.callbackError = err;
    }
  }
}

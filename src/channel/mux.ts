/**
 * Channel multiplexing over one frame connection: ids, the four channel frames (`CH_OPEN`,
 * `CH_DATA`, `CH_CREDIT`, `CH_CLOSE`, see `wire/protocol.ts`), credit accounting and send
 * backpressure. The multiplexer does not own the connection: its owner feeds it incoming frame
 * bodies ({@link ChannelMux.handleFrame}) and tells it when the connection is gone
 * ({@link ChannelMux.closeAll}).
 * @module
 */
import { ChannelRef, decodeValue, encodeValue, encodeValueChunks, type CodecContext } from '../wire/codec.ts';
import { buildFrame, CH_OPEN_FLAG_CREDITED, CH_OPEN_FLAG_REF, FrameReader, FrameType, type OutFrame } from '../wire/protocol.ts';
import { ConnectionClosedError, EncodeError, MessageTooLargeError, ProtocolError, type RemoteError } from '../errors.ts';
import { Channel, type ChannelHost } from './channel.ts';
import { errorFromWire, errorToWire } from './remote-error.ts';
import { giveSlab, isSlab, SLAB_MIN_BYTES, takeSlab } from './slab-pool.ts';

/**
 * Encodes `item`. When it holds large Buffers (64 KiB and more), the encoding goes into a pooled
 * slab: the item's own Buffers are copied once, straight into it (the caller may still reuse them
 * as soon as `send()` returns).
 */
function encodePooled(item: unknown, ctx: CodecContext): Buffer {
  const chunks = encodeValueChunks(item, ctx);
  // No large Buffer inside: msgpackr's own output, as encodeValue gives it.
  if (chunks.length === 1) return chunks[0] as Buffer;
  let n = 0;
  for (const c of chunks) n += c.length;
  if (n < SLAB_MIN_BYTES) return Buffer.concat(chunks, n);
  const out = takeSlab(n) ?? Buffer.allocUnsafe(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Default receive window per channel: 1 MiB. */
export const DEFAULT_WINDOW = 1 << 20;
/** Largest window a multiplexer advertises (credit fields are u32). */
export const MAX_WINDOW = 0x7fffffff;
/** Default largest encoded item `send()` accepts: 64 MiB. */
export const DEFAULT_MAX_ITEM_BYTES = 64 << 20;
/** Default bound on bytes queued by `send()` per channel while waiting for credit: 16 MiB. */
export const DEFAULT_MAX_PENDING_SEND_BYTES = 16 << 20;
/** Default bound on open channels per connection. */
export const DEFAULT_MAX_CHANNELS = 65_536;

export { CH_OPEN_FLAG_CREDITED, CH_OPEN_FLAG_REF } from '../wire/protocol.ts';

/** Options of {@link ChannelMux}. */
export interface ChannelMuxOptions {
  /**
   * Writes one frame; returns false when the underlying stream is congested. `onWritten`, when
   * given, is to be called once the frame's bytes are no longer referenced (written out, or
   * copied); a link that cannot tell may ignore it.
   */
  send(frame: OutFrame, onWritten?: () => void): boolean;
  /** Resolves when the underlying stream has drained (for send backpressure). */
  drained(): Promise<void>;
  /** True on the side that connected (uses odd channel ids); the accepting side uses even ids. */
  initiator: boolean;
  /** Receive window per channel in bytes (default 1 MiB); advertised to the peer. */
  window?: number;
  /**
   * Encode items holding large Buffers into pooled slabs (`slab-pool.ts`), given back when `send`'s
   * `onWritten` fires. Only for a `send` that calls it: a slab that never comes back is a
   * power-of-two buffer wasted. Default false.
   */
  poolItems?: boolean;
  /**
   * The receive window the peer gives each channel, when both sides know it out of band (a gateway
   * and its worker share one configuration). Channels this side opens or announces then start
   * with that much credit ({@link CH_OPEN_FLAG_CREDITED}) instead of waiting a round trip for the
   * peer's first grant. Leave it unset unless the peer is known to understand the flag.
   */
  peerWindow?: number;
  /** Called when the peer opens a channel. Without it, peer-opened channels are refused with an error. */
  onOpen?(channel: Channel, meta: unknown, target: string): void;
  /** The peer's name: the `origin` of {@link RemoteError}s raised by its channels (default `"peer"`). */
  peerName?: string;
  /** Largest encoded item `send()` accepts (default 64 MiB); larger items reject with `MessageTooLargeError`. */
  maxItemBytes?: number;
  /** Bytes `send()` may queue per channel while waiting for credit (default 16 MiB). */
  maxPendingSendBytes?: number;
  /** Open channels allowed (default 65,536); the peer's opens beyond it are refused. */
  maxChannels?: number;
  /** Called whenever the number of open channels ({@link ChannelMux.size}) changes. */
  onSizeChange?(size: number): void;
  /**
   * Whether channels may travel inside items (default true). Connections whose channels a relay
   * forwards (client↔service through the Manager) set false: a reference carries a raw id that
   * only the two ends of one connection understand, so sending one is refused with `EncodeError`.
   */
  channelRefs?: boolean;
}

/**
 * Multiplexes channels over one connection.
 *
 * @example
 * ```ts
 * const mux = new ChannelMux({
 *   initiator: true,
 *   send: (frame) => writeFrame(frame, (c) => conn.write(c)),
 *   drained: () => new Promise((r) => conn.onDrain(r)),
 * });
 * conn.onData((chunk) => splitter.push(chunk, (body) => mux.handleFrame(body)));
 * conn.onClose((err) => mux.closeAll(err));
 * const ch = mux.open('echo');
 * await ch.send('hi');
 * ```
 */
export class ChannelMux {
  private readonly channels = new Map<number, Channel>();
  private nextId: number;
  private readonly window: number;
  private peerWindow: number;
  private readonly opts: ChannelMuxOptions;
  private readonly host: ChannelHost;
  private closedError: Error | undefined;
  private isCongested = false;
  private readonly drainWaiters = new Set<Channel>();
  private readonly decodeCtx: CodecContext;
  private readonly encodeCtx: CodecContext = { toRef: (obj) => this.toRef(obj) };
  /** What the current {@link encodeItem} walk met (reset per call). */
  private readonly found: { refs: Channel[] | undefined; foreign: Channel | undefined; relayed: Channel | undefined } = {
    refs: undefined,
    foreign: undefined,
    relayed: undefined,
  };

  constructor(options: ChannelMuxOptions) {
    this.opts = options;
    this.nextId = options.initiator ? 1 : 2;
    this.window = Math.max(1, Math.min(MAX_WINDOW, Math.floor(options.window ?? DEFAULT_WINDOW)));
    this.peerWindow = Math.max(0, Math.min(MAX_WINDOW, Math.floor(options.peerWindow ?? 0)));
    const maxItem = options.maxItemBytes ?? DEFAULT_MAX_ITEM_BYTES;
    const pooled = options.poolItems === true;
    const mux = this;
    this.host = {
      peerName: options.peerName ?? 'peer',
      maxPendingSendBytes: options.maxPendingSendBytes ?? DEFAULT_MAX_PENDING_SEND_BYTES,
      get congested(): boolean {
        return mux.isCongested;
      },
      encodeItem: (channel, item) => this.encodeItem(item, maxItem, pooled),
      writeData: (channel, bytes) => this.write(buildFrame(FrameType.CH_DATA, [channel.id], [], bytes), pooled && isSlab(bytes) ? () => giveSlab(bytes) : undefined),
      writeCredit: (channel, bytes) => this.write(buildFrame(FrameType.CH_CREDIT, [channel.id, bytes], [])),
      writeClose: (channel, error) =>
        this.write(buildFrame(FrameType.CH_CLOSE, [channel.id], [], error === undefined ? undefined : encodeValue(errorToWire(error)))),
      waitDrain: (channel) => this.waitDrain(channel),
      release: (channel) => {
        if (this.channels.get(channel.id) === channel) {
          this.channels.delete(channel.id);
          this.opts.onSizeChange?.(this.channels.size);
        }
      },
      announce: (channel) => this.announce(channel),
    };
    this.decodeCtx = { fromRef: (ref) => this.channels.get(ref.id) ?? this.deadChannel(ref.id) };
  }

  /** Open channels (known ids on this connection). */
  get size(): number {
    return this.channels.size;
  }

  /** True after {@link closeAll}. */
  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** The peer's name, as given in the options. */
  get peerName(): string {
    return this.host.peerName;
  }

  /**
   * Opens a channel: sends `CH_OPEN` with `target` and `meta` (encoded with the item codec), and
   * returns the channel at once. Sends on it wait for the peer's first credit. Throws
   * `EncodeError` when `meta` cannot be encoded and {@link ConnectionClosedError} after
   * {@link closeAll}.
   */
  open(target = '', meta?: unknown): Channel {
    this.assertOpen();
    const metaBytes = meta === undefined ? undefined : this.encodeItem(meta, Infinity);
    const credit = this.peerWindow;
    const ch = this.create(this.allocId(), credit, true);
    this.write(buildFrame(FrameType.CH_OPEN, credit > 0 ? [ch.id, this.window, CH_OPEN_FLAG_CREDITED, credit] : [ch.id, this.window, 0], [target], metaBytes));
    return ch;
  }

  /** Sets {@link ChannelMuxOptions.peerWindow} (e.g. once the peer said it understands it); 0 turns it off. */
  setPeerWindow(bytes: number): void {
    this.peerWindow = Math.max(0, Math.min(MAX_WINDOW, Math.floor(bytes)));
  }

  /**
   * Creates a channel without telling the peer (execnet's `newchannel()`). The peer learns of it
   * when it is first sent inside an item or first used to send. Throws
   * {@link ConnectionClosedError} after {@link closeAll}.
   */
  newChannel(): Channel {
    this.assertOpen();
    return this.create(this.allocId(), this.peerWindow, false);
  }

  /** The open channel with `id`, if any. */
  get(id: number): Channel | undefined {
    return this.channels.get(id);
  }

  /**
   * Feeds an incoming frame body (type byte first; the buffer may be reused after the call).
   * Returns true if it was a channel frame (types 10–13) and was handled, false for any other type.
   * Frames for unknown channel ids are dropped, as execnet does. Throws {@link ProtocolError} for a
   * malformed channel frame: the connection cannot be trusted after that.
   */
  handleFrame(body: Buffer): boolean {
    const type = body[0];
    if (type === undefined || type < FrameType.CH_OPEN || type > FrameType.CH_CLOSE) return false;
    if (this.closedError) return true;
    const r = new FrameReader(body);
    const id = r.u32();
    switch (type) {
      case FrameType.CH_DATA: {
        const ch = this.channels.get(id);
        if (!ch) return true;
        const payload = r.rest();
        let item: unknown;
        try {
          item = decodeValue(payload, this.decodeCtx);
        } catch (err) {
          this.failChannel(ch, err as Error);
          return true;
        }
        if (!ch._onData(item, payload.length)) {
          this.failChannel(ch, new ProtocolError(`The peer sent on channel ${id} beyond the credit it was given (window ${this.window} bytes)`));
        }
        return true;
      }
      case FrameType.CH_CREDIT: {
        const bytes = r.u32();
        this.channels.get(id)?._onCredit(bytes);
        return true;
      }
      case FrameType.CH_CLOSE: {
        const ch = this.channels.get(id);
        if (!ch) return true;
        const payload = r.rest();
        let error: RemoteError | undefined;
        if (payload.length > 0) {
          let decoded: unknown;
          try {
            decoded = decodeValue(payload);
          } catch {
            decoded = ['ProtocolError', 'The peer closed the channel with an undecodable error', []];
          }
          if (decoded !== null && decoded !== undefined) error = errorFromWire(this.host.peerName, decoded);
        }
        ch._onPeerClose(error);
        return true;
      }
      default:
        this.handleOpen(id, r);
        return true;
    }
  }

  /**
   * The connection is gone: every channel ends, pending `send()`s reject with `ChannelClosedError`,
   * pending and later receives reject with `ChannelEOFError` (reason `connection-lost`, `cause`
   * = `err`), callbacks get their endmarker. Safe to call twice.
   */
  closeAll(err?: Error): void {
    if (this.closedError) return;
    this.closedError = err ?? new ConnectionClosedError(`The connection to ${this.host.peerName} closed`, this.host.peerName);
    const channels = [...this.channels.values()];
    this.channels.clear();
    this.drainWaiters.clear();
    for (const ch of channels) ch._onLost(this.closedError);
    if (channels.length > 0) this.opts.onSizeChange?.(0);
  }

  // ---------------------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closedError) {
      throw new ConnectionClosedError(`Cannot open a channel: the connection to ${this.host.peerName} is closed`, this.host.peerName, {
        cause: this.closedError,
      });
    }
  }

  private allocId(): number {
    const id = this.nextId;
    this.nextId += 2;
    if (this.nextId > 0xffffffff) this.nextId = this.opts.initiator ? 1 : 2;
    return id;
  }

  private create(id: number, credit: number, announced: boolean): Channel {
    const ch = new Channel(this.host, id, this.window, credit, announced);
    this.channels.set(id, ch);
    this.opts.onSizeChange?.(this.channels.size);
    return ch;
  }

  private deadChannel(id: number): Channel {
    // A reference to a channel that is already closed on both sides.
    const ch = new Channel(this.host, id, this.window, 0, true);
    ch._onPeerClose(undefined);
    return ch;
  }

  private handleOpen(id: number, r: FrameReader): void {
    const window = r.u32();
    const flags = r.u32();
    const preCredited = flags & CH_OPEN_FLAG_CREDITED ? r.u32() : 0;
    const target = r.str();
    const metaBytes = r.rest();
    const peerParity = this.opts.initiator ? 0 : 1;
    if (id % 2 !== peerParity) throw new ProtocolError(`The peer opened channel ${id}, an id of this side's parity`);
    if (this.channels.has(id)) throw new ProtocolError(`The peer opened channel ${id}, which is already open`);
    if (this.channels.size >= (this.opts.maxChannels ?? DEFAULT_MAX_CHANNELS)) {
      this.write(
        buildFrame(FrameType.CH_CLOSE, [id], [], encodeValue(errorToWire(`Too many open channels (limit ${this.opts.maxChannels ?? DEFAULT_MAX_CHANNELS})`))),
      );
      return;
    }
    if (preCredited > this.window) {
      throw new ProtocolError(`The peer opened channel ${id} counting ${preCredited} bytes of credit; the window here is ${this.window}`);
    }
    // The peer counted preCredited and is granted the rest now: it may send the whole window.
    const ch = this.create(id, window, true);
    const grant = this.window - preCredited;
    if (grant > 0) this.write(buildFrame(FrameType.CH_CREDIT, [id, grant], []));
    if (flags & CH_OPEN_FLAG_REF) return;
    let meta: unknown;
    try {
      meta = metaBytes.length === 0 ? undefined : decodeValue(metaBytes, this.decodeCtx);
    } catch (err) {
      ch.close(err as Error);
      return;
    }
    const onOpen = this.opts.onOpen;
    if (!onOpen) {
      ch.close(`Nothing accepts channels here (target ${JSON.stringify(target)})`);
      return;
    }
    try {
      onOpen(ch, meta, target);
    } catch (err) {
      ch.close(err as Error);
    }
  }

  private failChannel(ch: Channel, err: Error): void {
    ch._host.writeClose(ch, err);
    this.host.release(ch);
    ch._onLost(err);
  }

  /**
   * Encodes an item. With `pooled`, a large result is copied into a slab of the pool (see
   * `slab-pool.ts`), which `writeData` gives back once the bytes are written.
   */
  private encodeItem(item: unknown, maxItem: number, pooled = false): Buffer {
    // One context per multiplexer (no closure per item): what the walk met is collected here.
    const found = this.resetFound();
    const ctx = this.encodeCtx;
    let bytes: Buffer;
    try {
      bytes = pooled ? encodePooled(item, ctx) : encodeValue(item, ctx);
    } catch (err) {
      const { relayed, foreign } = found;
      if (relayed && err instanceof EncodeError) {
        throw new EncodeError(
          err.path,
          `Channel ${relayed.id} (at ${err.path}) cannot travel inside an item on a connection through the Manager; open another channel instead`,
          { cause: err },
        );
      }
      if (foreign && err instanceof EncodeError) {
        throw new EncodeError(
          err.path,
          `Channel ${foreign.id} (at ${err.path}) belongs to another connection; a channel can only be sent over the connection it was opened on`,
          { cause: err },
        );
      }
      throw err;
    }
    if (bytes.length > maxItem) throw new MessageTooLargeError(bytes.length, maxItem);
    const refs = found.refs;
    if (refs) for (const ch of refs) if (!ch._announced) this.announce(ch);
    return bytes;
  }

  private resetFound(): { refs: Channel[] | undefined; foreign: Channel | undefined; relayed: Channel | undefined } {
    this.found.refs = undefined;
    this.found.foreign = undefined;
    this.found.relayed = undefined;
    return this.found;
  }

  /** The codec's hook while encoding: channels of this connection become references. */
  private toRef(obj: object): ChannelRef | undefined {
    if (!(obj instanceof Channel)) return undefined;
    if (this.opts.channelRefs === false) {
      this.found.relayed = obj;
      return undefined;
    }
    if (obj._host !== this.host) {
      this.found.foreign = obj;
      return undefined;
    }
    (this.found.refs ??= []).push(obj);
    return new ChannelRef(obj.id);
  }

  private announce(ch: Channel): void {
    if (ch._announced) return;
    ch._announced = true;
    if (ch._ended) return;
    // A channel made by newChannel() already counts peerWindow of credit (see create()).
    const credited = ch.id % 2 === (this.opts.initiator ? 1 : 0) && ch._initialCredit > 0;
    this.write(
      buildFrame(FrameType.CH_OPEN, credited ? [ch.id, this.window, CH_OPEN_FLAG_REF | CH_OPEN_FLAG_CREDITED, ch._initialCredit] : [ch.id, this.window, CH_OPEN_FLAG_REF], ['']),
    );
  }

  private write(frame: OutFrame, onWritten?: () => void): void {
    if (this.closedError) return;
    if (!this.opts.send(frame, onWritten) && !this.isCongested) {
      this.isCongested = true;
      this.opts.drained().then(
        () => {
          this.isCongested = false;
          const waiting = [...this.drainWaiters];
          this.drainWaiters.clear();
          for (const ch of waiting) ch._pump();
        },
        () => {
          // The connection failed; its owner calls closeAll().
        },
      );
    }
  }

  private waitDrain(ch: Channel): void {
    if (!this.isCongested) {
      queueMicrotask(() => ch._pump());
      return;
    }
    this.drainWaiters.add(ch);
  }
}

/**
 * One connection to the Manager: its identity, dialect, framing and flow control. The Manager's
 * routing logic lives in manager.ts; this file only moves bytes in order.
 * @module
 */
import type { Connection } from '../transport/connection.ts';
import { guardTimer } from '../util/timers.ts';
import { FrameSplitter } from '../wire/frames.ts';
import { LineSplitter } from '../wire/line-splitter.ts';
import type { OutFrame } from '../wire/protocol.ts';
import type { PeerAddress } from './peer-address.ts';
import type { RegisteredPeer } from './registry.ts';

/** Most lines or frames held while the peer's previous message is still being handled. */
const BACKLOG_LIMIT = 1024;

/**
 * Bytes queued for a peer before the Manager stops reading from the peers that feed it. Above the
 * socket's 16 KiB high-water mark on purpose: pausing for every large message costs a
 * stop/start of reading per message; memory per destination stays bounded by this, one read and
 * one message.
 */
export const HOLD_BYTES = 4 * 1024 * 1024;

/** Where a connection is in its life. */
export type PeerState = 'handshake' | 'ready' | 'closed';

/** A connected peer. */
export class Peer implements RegisteredPeer {
  networkName: string;
  name = '<Unknown>';
  kind: 'client' | 'service' | undefined;
  isAdmin = false;
  state: PeerState = 'handshake';
  dialect: 'json' | 'native' = 'json';
  /** The peer announced the native dialect in its identity; switch after its first Manager.identity. */
  nativeOffered = false;
  language = 'unknown';
  os = 'unknown';
  /** Channels relayed through the Manager: this peer's channel id → the other end. */
  readonly channels = new Map<number, { peer: Peer; id: number }>();
  /** What the peer's Switchyard says it understands beyond the dialect (e.g. `cancel`). */
  features: ReadonlySet<string> = new Set();
  /** Next even id the Manager gives a channel it opens on this connection (it accepted it). */
  nextChannelId = 2;

  private readonly lines: LineSplitter;
  private frames: FrameSplitter | undefined;
  private waiter: ((line: Buffer | undefined) => void) | undefined;
  private backlog: Array<{ native: boolean; data: Buffer }> = [];
  private busy = false;
  private pausedForBacklog = false;
  private pausedFor = 0;

  constructor(
    readonly id: number,
    readonly conn: Connection,
    readonly where: PeerAddress,
    private readonly limits: { handshakeBytes: number; messageBytes: number },
    private readonly handlers: {
      line: (peer: Peer, line: Buffer) => void | Promise<void>;
      frame: (peer: Peer, body: Buffer) => void | Promise<void>;
      fault: (peer: Peer, err: Error) => void;
    },
  ) {
    this.networkName = `<Unknown>[${where.address}]`;
    this.lines = new LineSplitter(limits.handshakeBytes);
    conn.onData((chunk) => this.receive(chunk));
  }

  /** The peer's `host:port` as msl-network writes it. */
  get address(): string {
    return this.where.address;
  }

  /** Raises the line limit once the peer is authenticated. */
  authenticated(): void {
    this.lines.maxLineBytes = this.limits.messageBytes;
  }

  private receive(chunk: Buffer): void {
    try {
      if (this.frames) {
        this.frames.push(chunk, (body) => this.deliver(true, body));
      } else {
        this.lines.push(chunk, (line) => {
          this.deliver(false, line);
          // Stop splitting lines once the dialect switched; the rest is binary frames.
          return this.frames === undefined;
        });
        const switched = this.currentFrames();
        if (switched && this.lines.buffered > 0) {
          const rest = this.lines.takeRest();
          switched.push(rest, (body) => this.deliver(true, body));
        }
      }
    } catch (err) {
      this.handlers.fault(this, err as Error);
    }
  }

  private currentFrames(): FrameSplitter | undefined {
    return this.frames;
  }

  private deliver(native: boolean, data: Buffer): void {
    if (this.state === 'closed') return;
    if (!native && this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(Buffer.from(data));
      return;
    }
    if (this.busy || this.waiter || this.state === 'handshake') {
      this.backlog.push({ native, data: Buffer.from(data) });
      if (this.backlog.length >= BACKLOG_LIMIT && !this.pausedForBacklog) {
        this.pausedForBacklog = true;
        this.conn.pause();
      }
      return;
    }
    this.run(native, data);
  }

  private run(native: boolean, data: Buffer): void {
    let r: void | Promise<void>;
    try {
      r = native ? this.handlers.frame(this, data) : this.handlers.line(this, data);
    } catch (err) {
      this.handlers.fault(this, err as Error);
      return;
    }
    if (r) {
      this.busy = true;
      r.then(
        () => this.afterBusy(),
        (err: unknown) => {
          this.handlers.fault(this, err as Error);
          this.afterBusy();
        },
      );
    }
  }

  private afterBusy(): void {
    this.busy = false;
    while (!this.busy && !this.waiter && this.backlog.length > 0 && this.state !== 'closed') {
      const next = this.backlog.shift() as { native: boolean; data: Buffer };
      this.run(next.native, next.data);
    }
    if (this.pausedForBacklog && this.backlog.length < BACKLOG_LIMIT / 2) {
      this.pausedForBacklog = false;
      this.conn.resume();
    }
  }

  /**
   * Waits for the next line from this peer (handshake answers and in-band login prompts).
   * Resolves `undefined` when the connection closes or `timeoutMs` passes.
   */
  nextLine(timeoutMs: number): Promise<Buffer | undefined> {
    const queued = this.backlog.findIndex((b) => !b.native);
    if (queued >= 0) {
      const [item] = this.backlog.splice(queued, 1);
      return Promise.resolve(item?.data);
    }
    if (this.state === 'closed') return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const t = guardTimer(() => {
        if (this.waiter === done) this.waiter = undefined;
        resolve(undefined);
      }, timeoutMs);
      const done = (line: Buffer | undefined): void => {
        clearTimeout(t);
        resolve(line);
      };
      this.waiter = done;
    });
  }

  /** The handshake succeeded: handle what the peer sent meanwhile, then everything as it comes. */
  ready(): void {
    this.state = 'ready';
    this.afterBusy();
  }

  /** Switches both directions to native frames (after the confirming reply was queued). */
  switchToNative(): void {
    this.dialect = 'native';
    this.frames = new FrameSplitter(this.limits.messageBytes);
  }

  /** Queues a JSON line (already ending in `\r\n`). Returns false when the peer is congested. */
  sendText(text: string): boolean {
    return this.conn.write(Buffer.from(text, 'utf8'));
  }

  /** Queues raw bytes. */
  sendBytes(bytes: Uint8Array): boolean {
    return this.conn.write(bytes);
  }

  /** Queues a native frame. */
  sendFrame(frame: OutFrame): boolean {
    if (Buffer.isBuffer(frame)) return this.conn.write(frame);
    let ok = true;
    for (const chunk of frame) ok = this.conn.write(chunk);
    return ok;
  }

  /**
   * Backpressure: this peer produced data for `dest`, which is congested. Stop reading from this
   * peer until `dest` drains (bounded memory without dropping anything).
   */
  holdFor(dest: Peer): void {
    if (dest === this || this.state === 'closed' || dest.conn.queuedBytes < HOLD_BYTES) return;
    this.pausedFor++;
    if (this.pausedFor === 1) this.conn.pause();
    dest.conn.onDrain(() => {
      this.pausedFor--;
      if (this.pausedFor === 0 && this.state !== 'closed' && !this.pausedForBacklog) this.conn.resume();
    });
  }

  /** Marks the peer closed and wakes a pending {@link nextLine}. */
  markClosed(): void {
    this.state = 'closed';
    this.backlog = [];
    const w = this.waiter;
    this.waiter = undefined;
    w?.(undefined);
  }
}

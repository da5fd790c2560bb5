/**
 * The seam between protocol code and sockets. Everything above transport/ talks to a
 * {@link Connection}; transport/ provides one over TCP/TLS sockets (and, for tests, an in-memory
 * pair). Writes are coalesced per event-loop turn.
 * @module
 */
import type { Socket } from 'node:net';
import { guardTimer } from '../util/timers.ts';
import { CoalescingWriter } from './writer.ts';

/** A byte connection to one peer. */
export interface Connection {
  /** Remote IP address (IPv4-mapped IPv6 addresses are unmapped). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** True when the bytes are encrypted (TLS). */
  readonly encrypted: boolean;
  /** The hook task id of this connection. */
  readonly taskId: string;
  /** Sets the receiver of incoming bytes (one receiver; set it before resuming). */
  onData(fn: (chunk: Buffer) => void): void;
  /** Called once when the connection is gone, with the error that closed it, if any. */
  onClose(fn: (err: Error | undefined) => void): void;
  /** Queues bytes; returns false when the peer is slow (buffer above high-water mark). */
  write(chunk: Uint8Array): boolean;
  /** True while the outgoing buffer is above its high-water mark. */
  readonly congested: boolean;
  /** Bytes queued for the peer. */
  readonly queuedBytes: number;
  /** Calls `fn` once when the outgoing buffer drains. */
  onDrain(fn: () => void): void;
  /** Stops delivering incoming bytes (backpressure towards the peer). */
  pause(): void;
  resume(): void;
  /** Flushes what is queued, then closes. Safe to call twice. */
  end(): void;
  /** Closes now, discarding queued bytes. Safe to call twice. */
  destroy(err?: Error): void;
  readonly closed: boolean;
}

function unmap(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** A {@link Connection} over a connected net or TLS socket. */
export class SocketConnection implements Connection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly encrypted: boolean;
  private readonly writer: CoalescingWriter;
  private closeHandlers: Array<(err: Error | undefined) => void> = [];
  private closeError: Error | undefined;
  private isClosed = false;
  private ending = false;

  constructor(
    readonly socket: Socket,
    readonly taskId: string,
    private readonly beforeClose?: () => Promise<void> | void,
    afterClose?: () => void,
  ) {
    this.remoteAddress = unmap(socket.remoteAddress);
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = unmap(socket.localAddress);
    this.localPort = socket.localPort ?? 0;
    this.encrypted = 'encrypted' in socket && (socket as { encrypted?: boolean }).encrypted === true;
    this.writer = new CoalescingWriter(socket);
    socket.on('error', (err) => {
      this.closeError ??= err;
    });
    socket.on('close', () => {
      this.isClosed = true;
      // Nothing will drain any more: wake whoever waits for it (e.g. peers paused for this one).
      this.writer.abandon();
      const handlers = this.closeHandlers;
      this.closeHandlers = [];
      for (const h of handlers) h(this.closeError);
      afterClose?.();
    });
  }

  onData(fn: (chunk: Buffer) => void): void {
    this.socket.removeAllListeners('data');
    this.socket.on('data', fn);
  }

  onClose(fn: (err: Error | undefined) => void): void {
    if (this.isClosed) queueMicrotask(() => fn(this.closeError));
    else this.closeHandlers.push(fn);
  }

  write(chunk: Uint8Array): boolean {
    if (this.isClosed || this.ending) return false;
    return this.writer.write(chunk);
  }

  get congested(): boolean {
    return this.writer.congested;
  }

  get queuedBytes(): number {
    return this.writer.queuedBytes;
  }

  onDrain(fn: () => void): void {
    this.writer.onDrain(fn);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  end(): void {
    if (this.ending || this.isClosed) return;
    this.ending = true;
    this.writer.close();
    const finish = (): void => {
      this.socket.end();
      // A peer that never reads must not keep the socket open forever.
      guardTimer(() => this.socket.destroy(), 5000);
    };
    const hook = this.beforeClose?.();
    if (hook) hook.then(finish, (err: unknown) => this.destroy(err instanceof Error ? err : undefined));
    else finish();
  }

  destroy(err?: Error): void {
    if (this.isClosed) return;
    if (err) this.closeError ??= err;
    // Abort: queued bytes are discarded, not flushed (end() is the graceful close).
    this.writer.abandon();
    this.socket.destroy();
  }
}

/**
 * Write coalescing and backpressure for one connection: what is written during one turn of the
 * event loop leaves with one write (small chunks joined into one buffer, large ones by a corked
 * `writev`) — or earlier, in 1 KiB batches, when a turn produces more (see
 * {@link EARLY_FLUSH_BYTES}) — and the writer reports when the socket's buffer is above its
 * high-water mark so producers can pause.
 * @module
 */
import type { Writable } from 'node:stream';

/** Below this many bytes in a turn, chunks are joined into one buffer (one copy, one write). */
const JOIN_LIMIT = 64 * 1024;

/**
 * Once a turn has queued this much, it is written at once instead of at the end of the turn. When
 * a batch of replies releases a batch of new requests, the next process can start on the first of
 * them while this one still produces the rest: with a broker between two peers on two cores,
 * 100 calls in flight went from about 104k to 110–145k calls/s (bench/rpc, 512 B to 1 KiB best;
 * 2 KiB and more lost the gain). One small message alone still waits for the end of the turn.
 */
export const EARLY_FLUSH_BYTES = 1024;

/** Coalescing writer over a Node Writable (a socket or a child's stdin). */
export class CoalescingWriter {
  private pending: Uint8Array[] = [];
  /** `onWritten` callbacks of pending chunks, by index (sparse: most chunks have none). */
  private pendingCallbacks: Array<(() => void) | undefined> | undefined;
  private pendingBytes = 0;
  private scheduled = false;
  private closed = false;
  /** Callers waiting for the stream to take what is queued (see {@link onDrain}). */
  private drainWaiters: Array<() => void> = [];
  private drainListening = false;
  private readonly flushNow = (): void => this.flush();

  constructor(private readonly stream: Writable) {}

  /**
   * Queues `chunk` (the caller must not change it afterwards). Returns false when the stream's
   * buffer is above its high-water mark: the caller should stop producing until {@link onDrain}
   * fires. Never drops data. `onWritten` is called once the writer and the stream no longer refer
   * to `chunk`: after the stream wrote it out (or failed to), or once it was copied into a joined
   * buffer. It is not called for chunks dropped by {@link abandon}.
   */
  write(chunk: Uint8Array, onWritten?: () => void): boolean {
    if (this.closed) return false;
    if (onWritten) (this.pendingCallbacks ??= [])[this.pending.length] = onWritten;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= EARLY_FLUSH_BYTES) {
      this.flush();
      return this.stream.writableLength < this.stream.writableHighWaterMark;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushNow);
    }
    return this.stream.writableLength + this.pendingBytes < this.stream.writableHighWaterMark;
  }

  /** Hands what this turn produced to the stream. */
  private flush(): void {
    this.scheduled = false;
    const chunks = this.pending;
    const bytes = this.pendingBytes;
    const callbacks = this.pendingCallbacks;
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingCallbacks = undefined;
    if (chunks.length > 0 && !this.stream.destroyed) {
      if (chunks.length === 1) {
        this.stream.write(chunks[0] as Uint8Array, callbacks?.[0]);
      } else if (bytes <= JOIN_LIMIT) {
        this.stream.write(Buffer.concat(chunks, bytes));
        // Copied: the chunks are free now.
        if (callbacks) for (const cb of callbacks) cb?.();
      } else {
        this.stream.cork();
        for (let i = 0; i < chunks.length; i++) this.stream.write(chunks[i] as Uint8Array, callbacks?.[i]);
        this.stream.uncork();
      }
    }
    this.releaseWaiters();
  }

  /**
   * Releases drain waiters once the stream took this turn's chunks: now, if the stream needs no
   * drain (a socket may take everything at once, and Node then never emits 'drain'), else at its
   * next 'drain'.
   */
  private releaseWaiters(): void {
    if (this.drainWaiters.length === 0) return;
    if (this.stream.writableNeedDrain && !this.stream.destroyed) {
      if (!this.drainListening) {
        this.drainListening = true;
        this.stream.once('drain', this.onStreamDrain);
      }
      return;
    }
    queueMicrotask(this.releaseAll);
  }

  private readonly onStreamDrain = (): void => {
    this.drainListening = false;
    this.releaseAll();
  };

  private readonly releaseAll = (): void => {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const fn of waiters) fn();
  };

  /** True when the stream's buffer (with this turn's chunks) is above its high-water mark. */
  get congested(): boolean {
    return this.stream.writableNeedDrain || this.stream.writableLength + this.pendingBytes >= this.stream.writableHighWaterMark;
  }

  /** Bytes waiting: this turn's and the stream's buffer. */
  get queuedBytes(): number {
    return this.stream.writableLength + this.pendingBytes;
  }

  /**
   * Calls `fn` once when what is queued has been taken by the stream and the stream is below its
   * high-water mark (soon, if nothing is waiting), or when the stream is abandoned. Never waits
   * for a 'drain' that will not come.
   */
  onDrain(fn: () => void): void {
    this.drainWaiters.push(fn);
    if (this.pendingBytes === 0) this.releaseWaiters();
  }

  /** Hands everything queued to the stream now and stops accepting writes. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }

  /** The stream is gone: drop what is queued and wake every drain waiter (nothing will drain). */
  abandon(): void {
    this.closed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingCallbacks = undefined;
    if (this.drainListening) {
      this.drainListening = false;
      this.stream.off('drain', this.onStreamDrain);
    }
    this.releaseAll();
  }
}

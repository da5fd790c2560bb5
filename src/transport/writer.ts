/**
 * Write coalescing and backpressure for one connection: everything written during one turn of the
 * event loop leaves in one `writev` (cork, then uncork on the next tick), and the writer reports
 * when the socket's buffer is above its high-water mark so producers can pause.
 * @module
 */
import type { Writable } from 'node:stream';

/** Coalescing writer over a Node Writable (a socket or a child's stdin). */
export class CoalescingWriter {
  private corked = false;
  private closed = false;
  private readonly uncork = (): void => {
    this.corked = false;
    if (!this.closed) this.stream.uncork();
  };

  constructor(private readonly stream: Writable) {}

  /**
   * Queues `chunk`. Returns false when the stream's buffer is above its high-water mark: the
   * caller should stop producing until {@link onDrain} fires. Never drops data.
   */
  write(chunk: Uint8Array): boolean {
    if (this.closed) return false;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(this.uncork);
    }
    return this.stream.write(chunk);
  }

  /** True when the stream's buffer is above its high-water mark. */
  get congested(): boolean {
    return this.stream.writableNeedDrain;
  }

  /** Bytes waiting in the stream's buffer. */
  get queuedBytes(): number {
    return this.stream.writableLength;
  }

  /** Calls `fn` once when the stream drains. */
  onDrain(fn: () => void): void {
    this.stream.once('drain', fn);
  }

  /** Flushes corked data now and stops accepting writes. */
  close(): void {
    if (this.closed) return;
    if (this.corked) {
      this.corked = false;
      this.stream.uncork();
    }
    this.closed = true;
  }
}

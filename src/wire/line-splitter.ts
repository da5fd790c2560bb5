/**
 * Splits a byte stream into lines at `\n` (msl-network framing: each JSON document is followed by
 * `\r\n`; the trailing `\r` is JSON whitespace, and peers may send a bare `\n`).
 * @module
 */
import { MessageTooLargeError } from '../errors.ts';

/** Incremental line splitter with a size limit on any single line. */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** @param maxLineBytes longest line accepted, excluding the newline. */
  constructor(public maxLineBytes: number) {}

  /**
   * Feeds a chunk and calls `onLine` for each complete line (without `\r\n`; the Buffer may share
   * memory with `chunk` and is only valid during the call). When `onLine` returns `false`, splitting
   * stops and the rest of the chunk stays buffered (see {@link takeRest}). Throws
   * {@link MessageTooLargeError} as soon as a line is known to exceed the limit.
   */
  push(chunk: Buffer, onLine: (line: Buffer) => boolean | void): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      let line: Buffer;
      if (this.pendingBytes > 0) {
        this.pending.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.pending, this.pendingBytes + nl - start);
        this.pending = [];
        this.pendingBytes = 0;
      } else {
        line = chunk.subarray(start, nl);
      }
      start = nl + 1;
      let end = line.length;
      if (end > 0 && line[end - 1] === 0x0d) end--;
      if (end > this.maxLineBytes) throw new MessageTooLargeError(end, this.maxLineBytes);
      if (onLine(end === line.length ? line : line.subarray(0, end)) === false) {
        if (start < chunk.length) {
          this.pending.push(Buffer.from(chunk.subarray(start)));
          this.pendingBytes += chunk.length - start;
        }
        return;
      }
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pendingBytes += rest.length;
      if (this.pendingBytes > this.maxLineBytes + 1) throw new MessageTooLargeError(this.pendingBytes, this.maxLineBytes);
      // Copy: the caller may reuse chunk's memory.
      this.pending.push(Buffer.from(rest));
    }
  }

  /** Bytes received that do not yet end in a newline. */
  get buffered(): number {
    return this.pendingBytes;
  }

  /** Removes and returns whatever is buffered (used when the stream switches to binary frames). */
  takeRest(): Buffer {
    const rest = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return rest;
  }
}

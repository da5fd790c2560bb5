/**
 * Native-dialect framing: every frame is a 4-byte big-endian length `N` followed by `N` bytes, the
 * first of which is the frame type (see `protocol.ts`). Frames larger than the configured limit
 * are refused before their bytes are buffered.
 * @module
 */
import { MessageTooLargeError, ProtocolError } from '../errors.ts';

/** Bytes of the length prefix. */
export const LENGTH_BYTES = 4;

/** Incremental frame splitter. */
export class FrameSplitter {
  private chunks: Buffer[] = [];
  private have = 0;
  private need = -1;

  /** @param maxFrameBytes largest frame body accepted. */
  constructor(public maxFrameBytes: number) {}

  /**
   * Feeds a chunk and calls `onFrame` with each complete frame body (type byte first). A body
   * Buffer may share memory with `chunk`; copy it to keep it past the call. Throws
   * {@link MessageTooLargeError} or {@link ProtocolError}.
   */
  push(chunk: Buffer, onFrame: (body: Buffer) => void): void {
    let data = chunk;
    if (this.have > 0) {
      this.chunks.push(chunk);
      this.have += chunk.length;
      if (this.need >= 0 && this.have < this.need + LENGTH_BYTES) return;
      if (this.need < 0 && this.have < LENGTH_BYTES) return;
      data = Buffer.concat(this.chunks, this.have);
      this.chunks = [];
      this.have = 0;
      this.need = -1;
    }
    let off = 0;
    const len = data.length;
    while (len - off >= LENGTH_BYTES) {
      const n = data.readUInt32BE(off);
      if (n > this.maxFrameBytes) throw new MessageTooLargeError(n, this.maxFrameBytes);
      if (n === 0) throw new ProtocolError('Empty native frame');
      if (len - off - LENGTH_BYTES < n) {
        this.need = n;
        break;
      }
      const body = data.subarray(off + LENGTH_BYTES, off + LENGTH_BYTES + n);
      off += LENGTH_BYTES + n;
      onFrame(body);
    }
    if (off < len) {
      const rest = Buffer.from(data.subarray(off));
      this.chunks = [rest];
      this.have = rest.length;
      if (this.need < 0 && rest.length >= LENGTH_BYTES) this.need = rest.readUInt32BE(0);
    } else {
      this.need = -1;
    }
  }

  /** Bytes of an incomplete frame held. */
  get buffered(): number {
    return this.have;
  }
}

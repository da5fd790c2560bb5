/**
 * The native dialect: binary frames between Switchyard peers (see docs/dialects.md).
 *
 * Every frame is `u32 length | u8 type | fields`. Strings are `u16 length | UTF-8`. The payload,
 * when there is one, is the rest of the frame: a value encoded by `codec.ts` (MessagePack), which
 * the Manager forwards without decoding.
 *
 * | type | frame | fields |
 * |---|---|---|
 * | 1 | REQUEST | client→Manager: `u32 id, str service, str attribute, payload [args, kwargs]`; Manager→service: `u32 id, u32 flags, str requester, str attribute, payload` (flags bit 0: the requester is an admin) |
 * | 2 | REPLY | `u32 id, payload result` |
 * | 3 | ERROR | `u32 id, payload [name, message, traceback[]]` |
 * | 4 | NOTIFY | `str service, payload [args, kwargs]` (service→Manager: service is empty) |
 * | 5 | CANCEL | `u32 id` — the caller gave up on request `id` |
 * | 6 | EVENT | `payload {event, ...}` — Manager→peer: e.g. `{event: "serviceGone", service}` |
 * | 10 | CH_OPEN | `u32 channel, u32 window, u32 flags, [u32 credit if flags bit 1,] str target, payload meta` (flags bit 0: announced only because a reference travels in an item; bit 1: the opener counts `credit` as granted) |
 * | 11 | CH_DATA | `u32 channel, payload item` |
 * | 12 | CH_CREDIT | `u32 channel, u32 bytes` |
 * | 13 | CH_CLOSE | `u32 channel`, payload empty (clean close) or `[name, message, traceback[]]` |
 * @module
 */
import { ProtocolError } from '../errors.ts';

/** Frame type numbers. */
export const FrameType = {
  REQUEST: 1,
  REPLY: 2,
  ERROR: 3,
  NOTIFY: 4,
  CANCEL: 5,
  EVENT: 6,
  CH_OPEN: 10,
  CH_DATA: 11,
  CH_CREDIT: 12,
  CH_CLOSE: 13,
} as const;

/** A frame type number. */
export type FrameTypeId = (typeof FrameType)[keyof typeof FrameType];

/** REQUEST flag (Manager→service): the requester is logged in as an administrator. */
export const REQUEST_FLAG_ADMIN = 1;

/**
 * `CH_OPEN` flag: the channel is announced because a reference to it travels inside an item (or
 * because it was created with `newChannel()` and used). The peer registers it without calling
 * `onOpen`; the item that references it resolves to it.
 */
export const CH_OPEN_FLAG_REF = 1;

/**
 * `CH_OPEN` flag: the opener already counts `credit` bytes of the acceptor's window as granted (a
 * `u32 credit` follows the flags), so it can send before the acceptor's first `CH_CREDIT`. Both
 * sides must have agreed on the acceptor's window out of band (the multiplexer's `peerWindow` option);
 * the acceptor grants only the rest of its window, and refuses more than its window.
 */
export const CH_OPEN_FLAG_CREDITED = 2;

/** The dialect name announced in identities and confirmed by the Manager. */
export const NATIVE_DIALECT = 'switchyard-native/1';

/** Payloads at least this large are written as a separate chunk (no copy). */
const COPY_LIMIT = 16 * 1024;

/** A frame ready to write: one Buffer, or chunks written back to back (header first). */
export type OutFrame = Buffer | Uint8Array[];

/** A payload: bytes, or chunks that together are the bytes (see `encodeValueChunks`). */
export type Payload = Uint8Array | readonly Uint8Array[];

function strBytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Builds a frame: `type`, then u32 fields, then strings, then the payload. Small frames are one
 * Buffer; large payloads are not copied.
 */
export function buildFrame(type: number, ints: readonly number[], strs: readonly string[], payload?: Payload): OutFrame {
  let head = 1 + 4 * ints.length;
  const lens: number[] = [];
  for (const s of strs) {
    const n = strBytes(s);
    if (n > 0xffff) throw new ProtocolError(`A name of ${n} bytes is longer than 65535 bytes`);
    lens.push(n);
    head += 2 + n;
  }
  const parts: readonly Uint8Array[] = payload === undefined ? [] : payload instanceof Uint8Array ? [payload] : payload;
  let plen = 0;
  for (const p of parts) plen += p.length;
  const inline = plen < COPY_LIMIT;
  const buf = Buffer.allocUnsafe(4 + head + (inline ? plen : 0));
  buf.writeUInt32BE(head + plen, 0);
  buf[4] = type;
  let o = 5;
  for (const v of ints) {
    buf.writeUInt32BE(v >>> 0, o);
    o += 4;
  }
  for (let i = 0; i < strs.length; i++) {
    const n = lens[i] as number;
    buf.writeUInt16BE(n, o);
    o += 2;
    if (n > 0) o += buf.write(strs[i] as string, o, 'utf8');
  }
  if (plen > 0) {
    if (inline) {
      for (const p of parts) {
        buf.set(p, o);
        o += p.length;
      }
      return buf;
    }
    return [buf, ...parts];
  }
  return buf;
}

/** A cursor over a received frame body (type byte at offset 0). */
export class FrameReader {
  private o = 1;
  constructor(readonly body: Buffer) {}

  /** The frame type. */
  get type(): number {
    return this.body[0] as number;
  }

  /** Reads a u32 field. */
  u32(): number {
    if (this.o + 4 > this.body.length) throw new ProtocolError('Truncated native frame');
    const v = this.body.readUInt32BE(this.o);
    this.o += 4;
    return v;
  }

  /** Reads a string field. */
  str(): string {
    if (this.o + 2 > this.body.length) throw new ProtocolError('Truncated native frame');
    const n = this.body.readUInt16BE(this.o);
    const start = this.o + 2;
    if (start + n > this.body.length) throw new ProtocolError('Truncated native frame');
    this.o = start + n;
    return n === 0 ? '' : this.body.toString('utf8', start, start + n);
  }

  /** The rest of the frame (shares memory with the received chunk). */
  rest(): Buffer {
    return this.body.subarray(this.o);
  }
}

/** Writes an {@link OutFrame} with `write`. Returns `write`'s result for the last chunk. */
export function writeFrame(frame: OutFrame, write: (chunk: Uint8Array) => boolean): boolean {
  if (Buffer.isBuffer(frame)) return write(frame);
  let ok = true;
  for (const chunk of frame) ok = write(chunk);
  return ok;
}

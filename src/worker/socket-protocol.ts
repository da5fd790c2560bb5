/**
 * What a socket gateway and `switchyard worker --listen` say to each other, shared by the client
 * (`io.ts`) and the server (`socket-server.ts`).
 *
 * Handshake (lines of UTF-8 ending in `\n`, each at most {@link MAX_LINE} bytes):
 *
 * ```
 * server: SWITCHYARD-WORKER 1 <server nonce>
 * client: AUTH <client proof> <client nonce> <request JSON>
 * server: OK <worker pid> <server proof>         or   ERR <code> <message>
 * ```
 *
 * Both proofs are HMAC-SHA256 keyed with the shared secret over both nonces (and the request), so
 * the secret never crosses the wire, a recorded handshake cannot be replayed, and the client knows
 * it reached a server that has the secret. After `OK` both directions carry records
 * `u8 kind | u32 length | payload` (see {@link RecordKind}): protocol bytes of the worker, its
 * stdout and stderr, the hang-up, and how the worker exited.
 * @module
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ProtocolError } from '../errors.ts';

/** First word of the server's greeting, followed by the protocol version. */
export const SOCKET_GREETING = 'SWITCHYARD-WORKER';
/** Version of this handshake and record format. */
export const SOCKET_PROTOCOL = 1;
/** Longest handshake line accepted, bytes. */
export const MAX_LINE = 64 * 1024;
/** Largest record accepted, bytes (the channel layer's own frame limit is larger than any chunk). */
export const MAX_RECORD = 64 << 20;

/** Record kinds after the handshake. */
export const RecordKind = {
  /** Both ways: bytes of the worker protocol (channel frames). */
  DATA: 0,
  /** server → client: a chunk the worker wrote to its stdout. */
  STDOUT: 1,
  /** server → client: a chunk the worker wrote to its stderr. */
  STDERR: 2,
  /** server → client, last: JSON `{ code, signal, error? }`, how the worker process ended. */
  EXIT: 3,
  /** client → server: the host hung up (the worker's input ends; it finishes and exits). */
  EOF: 4,
} as const;

/** One of {@link RecordKind}'s values. */
export type RecordKindValue = (typeof RecordKind)[keyof typeof RecordKind];

/** What the client asks for in its `AUTH` line. */
export interface SocketRequest {
  /** The worker configuration (as popen sends in its preamble). */
  config: unknown;
  /** Extra environment for the worker process. */
  env?: Record<string, string> | undefined;
  /** Run the worker under `nice -n`. */
  nice?: number | undefined;
}

/** A fresh random nonce (hex). */
export function newNonce(): string {
  return randomBytes(24).toString('hex');
}

/** The client's proof of the secret: HMAC over both nonces and a hash of the request text. */
export function clientProof(secret: string, serverNonce: string, clientNonce: string, request: string): string {
  const digest = createHash('sha256').update(request).digest('hex');
  return createHmac('sha256', secret).update(`switchyard-worker client\0${serverNonce}\0${clientNonce}\0${digest}`).digest('hex');
}

/** The server's proof of the secret, returned in `OK`. */
export function serverProof(secret: string, serverNonce: string, clientNonce: string): string {
  return createHmac('sha256', secret).update(`switchyard-worker server\0${serverNonce}\0${clientNonce}`).digest('hex');
}

/** Compares two hex proofs in constant time. */
export function proofsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Encodes a record header for `length` bytes of `kind`. */
export function recordHeader(kind: RecordKindValue, length: number): Buffer {
  const h = Buffer.allocUnsafe(5);
  h[0] = kind;
  h.writeUInt32BE(length, 1);
  return h;
}

/**
 * Splits a byte stream into records. Payloads handed to `onRecord` are views into the input (or a
 * new buffer when a record spanned chunks): copy them to keep them past the call.
 */
export class RecordSplitter {
  /** Bytes of an incomplete record, kept as received (joined once the record is complete). */
  private chunks: Buffer[] = [];
  private have = 0;
  /** Length of the record being assembled (header included), once its header is known. */
  private need = -1;

  /** Feeds bytes; calls `onRecord` per complete record. Throws `ProtocolError` on an oversized record. */
  push(chunk: Buffer, onRecord: (kind: number, payload: Buffer) => void): void {
    let b = chunk;
    if (this.have > 0) {
      this.chunks.push(chunk);
      this.have += chunk.length;
      if (this.need < 0 && this.have >= 5) this.need = 5 + this.headerLength(Buffer.concat(this.chunks, 5));
      if (this.need < 0 || this.have < this.need) return;
      b = Buffer.concat(this.chunks, this.have);
      this.chunks = [];
      this.have = 0;
      this.need = -1;
    }
    let off = 0;
    while (b.length - off >= 5) {
      const len = this.headerLength(b.subarray(off, off + 5));
      if (b.length - off < 5 + len) {
        this.need = 5 + len;
        break;
      }
      onRecord(b[off] as number, b.subarray(off + 5, off + 5 + len));
      off += 5 + len;
    }
    if (off < b.length) {
      const rest = Buffer.from(b.subarray(off));
      this.chunks = [rest];
      this.have = rest.length;
      if (rest.length < 5) this.need = -1;
    }
  }

  private headerLength(header: Buffer): number {
    const len = header.readUInt32BE(1);
    if (len > MAX_RECORD) throw new ProtocolError(`Socket-gateway record of ${len} bytes exceeds the limit of ${MAX_RECORD}`);
    return len;
  }
}

/**
 * Reads `\n`-terminated handshake lines from a byte source. `next()` resolves the next line;
 * `rest()` hands over whatever arrived after the last line read.
 */
export class LineReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (l: string) => void; reject: (e: Error) => void } | undefined;
  private error: Error | undefined;

  /** Feeds bytes. */
  push(chunk: Buffer): void {
    this.buf = this.buf.length > 0 ? Buffer.concat([this.buf, chunk]) : chunk;
    this.deliver();
  }

  /** Fails the pending and later `next()` calls. */
  fail(err: Error): void {
    this.error ??= err;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(this.error);
  }

  /** Resolves the next line (without `\n`). Rejects with `ProtocolError` on an overlong line, or the `fail()` error. */
  next(): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.deliver();
      if (this.waiting && this.error) this.fail(this.error);
    });
  }

  /** Bytes received after the last line returned. */
  rest(): Buffer {
    const r = this.buf;
    this.buf = Buffer.alloc(0);
    return r;
  }

  private deliver(): void {
    if (!this.waiting) return;
    const nl = this.buf.indexOf(10);
    if (nl < 0) {
      if (this.buf.length > MAX_LINE) this.fail(new ProtocolError(`Socket-gateway handshake line longer than ${MAX_LINE} bytes`));
      return;
    }
    const line = this.buf.subarray(0, nl).toString('utf8');
    this.buf = this.buf.subarray(nl + 1);
    const w = this.waiting;
    this.waiting = undefined;
    w.resolve(line);
  }
}

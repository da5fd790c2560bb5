/**
 * Runs a {@link ChannelMux} over a byte connection: splits incoming bytes into frames, writes
 * outgoing frames with one write per event-loop turn, and ends every channel when the connection
 * goes. Used by gateways (host side), the worker, and tests; the Manager wires its mux itself.
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import { ConnectionClosedError, ProtocolError } from '../errors.ts';
import { FrameSplitter } from '../wire/frames.ts';
import { writeFrame } from '../wire/protocol.ts';
import { CoalescingWriter } from '../transport/writer.ts';
import { deferred } from '../util/deferred.ts';
import { ChannelMux, type ChannelMuxOptions } from './mux.ts';

/** The part of a transport `Connection` a multiplexer needs. */
export interface FrameLink {
  onData(fn: (chunk: Buffer) => void): void;
  onClose(fn: (err: Error | undefined) => void): void;
  /**
   * Queues bytes; false when the peer is slow. `onWritten`, when given, is called once the link
   * no longer refers to `chunk` (it was written out or copied); a link may also never call it.
   */
  write(chunk: Uint8Array, onWritten?: () => void): boolean;
  /** True when the link calls `write`'s `onWritten` (then large items go into pooled slabs). */
  readonly reportsWritten?: boolean;
  onDrain(fn: () => void): void;
  /** Flushes, then closes. */
  end(): void;
  /** Closes now. */
  destroy(err?: Error): void;
}

/** Options of {@link attachMux}. */
export interface AttachOptions extends Omit<ChannelMuxOptions, 'send' | 'drained'> {
  /** Largest frame accepted from the peer (default 256 MiB). */
  maxFrameBytes?: number;
  /** Receives frames that are not channel frames (default: they are a protocol error). */
  onFrame?(body: Buffer): void;
}

/** A multiplexer running over a link. */
export interface AttachedMux {
  readonly mux: ChannelMux;
  /** Resolves (never rejects) when the link is gone, with the error that ended it, if any. */
  readonly closed: Promise<Error | undefined>;
}

/**
 * Attaches a new {@link ChannelMux} to `link`. Malformed input destroys the link with the
 * `ProtocolError`/`MessageTooLargeError`; when the link closes, `mux.closeAll()` runs with a
 * {@link ConnectionClosedError} whose cause is the link's error.
 */
export function attachMux(link: FrameLink, options: AttachOptions): AttachedMux {
  const splitter = new FrameSplitter(options.maxFrameBytes ?? 256 << 20);
  const done = deferred<Error | undefined>();
  const mux = new ChannelMux({
    poolItems: link.reportsWritten === true,
    ...options,
    send: (frame, onWritten) => {
      if (!onWritten) return writeFrame(frame, (c) => link.write(c));
      if (Buffer.isBuffer(frame)) return link.write(frame, onWritten);
      let ok = true;
      // The last chunk is the payload (a frame's header comes first).
      frame.forEach((c, i) => (ok = link.write(c, i === frame.length - 1 ? onWritten : undefined)));
      return ok;
    },
    drained: () => new Promise<void>((resolve) => link.onDrain(resolve)),
  });
  const onBody = (body: Buffer): void => {
    if (!mux.handleFrame(body)) {
      if (options.onFrame) options.onFrame(body);
      else throw new ProtocolError(`Unexpected frame type ${body[0]} from ${mux.peerName}`);
    }
  };
  link.onData((chunk) => {
    try {
      splitter.push(chunk, onBody);
    } catch (err) {
      link.destroy(err as Error);
    }
  });
  link.onClose((err) => {
    mux.closeAll(new ConnectionClosedError(`The connection to ${mux.peerName} closed${err ? `: ${err.message}` : ''}`, mux.peerName, { cause: err }));
    done.resolve(err);
  });
  return { mux, closed: done.promise };
}

/**
 * A {@link FrameLink} over a readable and a writable stream (a child's pipes, or one Duplex given
 * twice). Writes are coalesced per event-loop turn. The link closes when the readable ends or
 * either stream fails; `end()` ends the writable, `destroy()` destroys both.
 */
export function streamLink(readable: Readable, writable: Writable): FrameLink {
  const writer = new CoalescingWriter(writable);
  const closeHandlers: Array<(err: Error | undefined) => void> = [];
  let closed = false;
  let closeError: Error | undefined;
  const finish = (err?: Error): void => {
    if (err) closeError ??= err;
    if (closed) return;
    closed = true;
    // Nothing drains after the link is gone: wake whoever waits for it.
    writer.abandon();
    for (const h of closeHandlers.splice(0)) h(closeError);
  };
  readable.on('end', () => finish());
  readable.on('close', () => finish());
  readable.on('error', (err) => finish(err));
  writable.on('error', (err) => {
    // EPIPE after the peer exited: the read side reports the end.
    closeError ??= err;
    if (readable !== (writable as unknown)) readable.destroy();
  });
  return {
    reportsWritten: true,
    onData(fn) {
      readable.on('data', fn);
    },
    onClose(fn) {
      if (closed) queueMicrotask(() => fn(closeError));
      else closeHandlers.push(fn);
    },
    write(chunk, onWritten) {
      if (closed || writable.writableEnded || writable.destroyed) return false;
      return writer.write(chunk, onWritten);
    },
    onDrain(fn) {
      writer.onDrain(fn);
    },
    end() {
      writer.close();
      if (!writable.writableEnded && !writable.destroyed) writable.end();
    },
    destroy(err) {
      if (err) closeError ??= err;
      writer.close();
      writable.destroy();
      readable.destroy();
      finish(err);
    },
  };
}

/**
 * A channel as a Node Duplex stream (execnet's `makefile`).
 * @module
 */
import { Duplex } from 'node:stream';
import { ChannelEOFError, SwitchyardError } from '../errors.ts';
import type { Channel } from './channel.ts';

/** Options of `Channel.toStream()`. */
export interface ChannelStreamOptions {
  /**
   * Close the channel when the writable side ends (`stream.end()`), so the peer sees the end of
   * the data. Default `true`; pass `false` to keep receiving after you finished writing.
   */
  closeOnEnd?: boolean;
  /** Readable high-water mark in bytes (default 64 KiB). */
  highWaterMark?: number;
}

/**
 * Wraps `channel` in a Duplex. Each written chunk is sent as one bytes item (awaiting the peer's
 * credit, so the stream's backpressure follows the channel's). Reading pulls items: `Uint8Array`
 * items are read as-is, strings as UTF-8; any other item destroys the stream with a
 * `SWITCHYARD_ERR_CHANNEL_ITEM_TYPE` error. The channel's end is the stream's end; a peer error
 * destroys the stream with that `RemoteError`. Destroying the stream closes the channel.
 */
export function channelToStream(channel: Channel, options: ChannelStreamOptions = {}): Duplex {
  const closeOnEnd = options.closeOnEnd !== false;
  let reading = false;
  return new Duplex({
    readableHighWaterMark: options.highWaterMark ?? 64 * 1024,
    write(chunk: Buffer, _encoding, callback): void {
      channel.send(chunk).then(() => callback(), (err: Error) => callback(err));
    },
    final(callback): void {
      if (closeOnEnd) channel.close();
      callback();
    },
    read(): void {
      if (reading) return;
      reading = true;
      const pull = (): void => {
        channel.receive().then(
          (item) => {
            let more: boolean;
            if (item instanceof Uint8Array) more = this.push(item);
            else if (typeof item === 'string') more = this.push(Buffer.from(item, 'utf8'));
            else {
              reading = false;
              this.destroy(
                new SwitchyardError(
                  'SWITCHYARD_ERR_CHANNEL_ITEM_TYPE',
                  `Channel ${channel.id} stream received a ${item === null ? 'null' : typeof item} item; a stream carries only bytes or strings`,
                ),
              );
              return;
            }
            if (more) pull();
            else reading = false;
          },
          (err: unknown) => {
            reading = false;
            if (err instanceof ChannelEOFError) this.push(null);
            else this.destroy(err instanceof Error ? err : new Error(String(err)));
          },
        );
      };
      pull();
    },
    destroy(err, callback): void {
      channel.close(err ?? undefined);
      callback(err);
    },
  });
}

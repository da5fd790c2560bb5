/**
 * Channels: ordered, flow-controlled item streams multiplexed over one connection.
 * @module
 */
export { Channel, type CallbackOptions } from './channel.ts';
export {
  ChannelMux,
  type ChannelMuxOptions,
  CH_OPEN_FLAG_REF,
  DEFAULT_WINDOW,
  DEFAULT_MAX_ITEM_BYTES,
  DEFAULT_MAX_PENDING_SEND_BYTES,
  DEFAULT_MAX_CHANNELS,
  MAX_WINDOW,
} from './mux.ts';
export { type ChannelStreamOptions } from './stream.ts';
export { errorFromWire, errorToWire, type WireError } from './remote-error.ts';
export { attachMux, streamLink, type FrameLink, type AttachedMux, type AttachOptions } from './attach.ts';

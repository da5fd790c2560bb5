/**
 * How an error crosses a channel: `CH_CLOSE` carries `[name, message, traceback[]]` (the same
 * triple as the native ERROR frame), and the receiving side raises it as a {@link RemoteError}.
 * @module
 */
import { RemoteError } from '../errors.ts';

/** The wire form of an error: class name, message, stack or traceback lines. */
export type WireError = [name: string, message: string, traceback: string[]];

/**
 * Converts what a user passes to `close(error)` into its wire form. A string becomes
 * `['Error', text, []]`; a {@link RemoteError} keeps the remote's own name and traceback, so that an
 * error forwarded through several hops still names where it started. Anything else is stringified.
 */
export function errorToWire(error: unknown): WireError {
  if (error instanceof RemoteError) return [error.remoteName, error.remoteMessage, [...error.traceback]];
  if (error instanceof Error) {
    const stack = typeof error.stack === 'string' ? error.stack.split('\n') : [];
    return [error.name || 'Error', error.message, stack];
  }
  if (typeof error === 'string') return ['Error', error, []];
  return ['Error', String(error), []];
}

/** Converts a decoded `CH_CLOSE` payload into a {@link RemoteError} raised by `origin`. */
export function errorFromWire(origin: string, payload: unknown): RemoteError {
  if (Array.isArray(payload)) {
    const [name, message, tb] = payload as unknown[];
    const traceback = Array.isArray(tb) ? tb.map((l) => String(l)) : [];
    return new RemoteError(origin, typeof name === 'string' ? name : 'Error', typeof message === 'string' ? message : String(message), traceback);
  }
  return new RemoteError(origin, 'Error', typeof payload === 'string' ? payload : JSON.stringify(payload) ?? String(payload), []);
}

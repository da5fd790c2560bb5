/**
 * Every error Switchyard throws is a {@link SwitchyardError}: it has a stable string `code`, a
 * `name` equal to its class name, keeps its facts in fields, and accepts `{ cause }`.
 *
 * Layers add their own classes in this file so that users find all codes in one place.
 * @module
 */

/** Options accepted by every Switchyard error constructor. */
export interface SwitchyardErrorOptions {
  cause?: unknown;
}

/** Base class of every Switchyard error. Catch this to catch them all. */
export class SwitchyardError extends Error {
  /** Stable machine-readable code, e.g. `SWITCHYARD_ERR_TIMEOUT`. */
  readonly code: string;

  constructor(code: string, message: string, options?: SwitchyardErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** An argument or option given by the caller is not valid. */
export class InvalidArgumentError extends SwitchyardError {
  readonly argument: string;
  constructor(argument: string, message: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_INVALID_ARGUMENT', message, options);
    this.argument = argument;
  }
}

/** A wait ran longer than its `timeout`. */
export class TimeoutError extends SwitchyardError {
  readonly timeoutMs: number;
  /** What was being waited for, e.g. `"reply to Adder.add"`. */
  readonly operation: string;
  constructor(operation: string, timeoutMs: number, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_TIMEOUT', `Timed out after ${timeoutMs} ms waiting for ${operation}`, options);
    this.timeoutMs = timeoutMs;
    this.operation = operation;
  }
}

/** A wait was cancelled through its `AbortSignal`. */
export class AbortError extends SwitchyardError {
  readonly operation: string;
  constructor(operation: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_ABORTED', `Aborted while waiting for ${operation}`, options);
    this.operation = operation;
  }
}

/** A connection closed (or was never open) while something still needed it. */
export class ConnectionClosedError extends SwitchyardError {
  /** The peer's address or name, when known. */
  readonly peer: string | undefined;
  constructor(message: string, peer?: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_CONNECTION_CLOSED', message, options);
    this.peer = peer;
  }
}

/** Opening a connection failed (refused, unreachable, TLS failure, handshake refused). */
export class ConnectError extends SwitchyardError {
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number, message: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_CONNECT', message, options);
    this.host = host;
    this.port = port;
  }
}

/** An incoming message was larger than the configured limit. */
export class MessageTooLargeError extends SwitchyardError {
  readonly limit: number;
  readonly size: number;
  constructor(size: number, limit: number, options?: SwitchyardErrorOptions) {
    super(
      'SWITCHYARD_ERR_MESSAGE_TOO_LARGE',
      `A message of at least ${size} bytes exceeds the limit of ${limit} bytes ` +
        `(raise it with the maxMessageSize option or --max-message-size)`,
      options,
    );
    this.limit = limit;
    this.size = size;
  }
}

/** Bytes on the wire do not follow the protocol. */
export class ProtocolError extends SwitchyardError {
  constructor(message: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_PROTOCOL', message, options);
  }
}

/** A value cannot be encoded for the wire (a function, a class instance, a symbol, ...). */
export class EncodeError extends SwitchyardError {
  /** Path to the offending value inside the item, e.g. `"$.args[1].cb"`. */
  readonly path: string;
  constructor(path: string, message: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_ENCODE', message, options);
    this.path = path;
  }
}

/** A queue reached its bound and the operation chose to fail rather than wait. */
export class QueueFullError extends SwitchyardError {
  readonly limit: number;
  readonly queue: string;
  constructor(queue: string, limit: number, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_QUEUE_FULL', `The ${queue} queue is full (limit ${limit})`, options);
    this.limit = limit;
    this.queue = queue;
  }
}

/**
 * A failure that happened on the other side of a connection: a service method threw, or the
 * Manager refused a request. Carries the remote error's class name, its message and the remote
 * traceback lines.
 */
export class RemoteError extends SwitchyardError {
  /** The remote exception class, e.g. `"ValueError"` or `"TypeError"`. */
  readonly remoteName: string;
  /** The remote message without the class prefix. */
  readonly remoteMessage: string;
  /** Remote traceback lines (Python `format_exc().splitlines()`, or a JavaScript stack). */
  readonly traceback: string[];
  /** Who raised it: a service name or `Manager[host:port]`. */
  readonly origin: string;
  constructor(origin: string, remoteName: string, remoteMessage: string, traceback: string[], options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_REMOTE', `${origin} raised ${remoteName}: ${remoteMessage}`, options);
    this.origin = origin;
    this.remoteName = remoteName;
    this.remoteMessage = remoteMessage;
    this.traceback = traceback;
  }
}

/** The Manager refused a connection's credentials or identity. */
export class AuthenticationError extends SwitchyardError {
  readonly reason: string;
  constructor(reason: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_AUTHENTICATION', reason, options);
    this.reason = reason;
  }
}

/** A TLS certificate, key or trust decision is missing or wrong. */
export class TlsError extends SwitchyardError {
  readonly file: string | undefined;
  constructor(message: string, file?: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_TLS', message, options);
    this.file = file;
  }
}

/** The database could not be opened or a statement failed. */
export class DatabaseError extends SwitchyardError {
  readonly database: string;
  constructor(database: string, message: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_DATABASE', message, options);
    this.database = database;
  }
}

/** An object was used after `close()` or `destroy()`. */
export class ClosedError extends SwitchyardError {
  readonly what: string;
  constructor(what: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_CLOSED', `${what} is closed`, options);
    this.what = what;
  }
}

/** A network manager (hook) vetoed an operation by throwing. */
export class NetManagerError extends SwitchyardError {
  /** The manager's name, e.g. `"logging"`. */
  readonly manager: string;
  /** The callout, e.g. `"preAccept"`. */
  readonly callout: string;
  constructor(manager: string, callout: string, options?: SwitchyardErrorOptions) {
    const detail = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super('SWITCHYARD_ERR_NETMGR', `A network manager (${manager}) errored in ${callout}${detail}`, options);
    this.manager = manager;
    this.callout = callout;
  }
}

/** True when `err` is a Switchyard error with the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof SwitchyardError && err.code === code;
}

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

/**
 * A record that must be unique is already in a database table (msl-network raises `ValueError`
 * with the same message, e.g. `A user with the name 'j.doe' already exists`).
 */
export class RecordExistsError extends SwitchyardError {
  /** The table, e.g. `"auth_users"`. */
  readonly table: string;
  /** The unique value that clashed, e.g. the username. */
  readonly key: string;
  constructor(table: string, key: string, message: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_RECORD_EXISTS', message, options);
    this.table = table;
    this.key = key;
  }
}

/**
 * Records to update or delete are not in a database table (msl-network raises `ValueError`, e.g.
 * `Cannot delete 'j.doe'. This user is not in the table.`).
 */
export class RecordNotFoundError extends SwitchyardError {
  /** The table, e.g. `"auth_hostnames"`. */
  readonly table: string;
  /** The values that were not found (usernames or hostnames). */
  readonly keys: string[];
  /** What was attempted: `"delete"`, `"remove"`, `"update"`. */
  readonly action: string;
  constructor(table: string, keys: string[], action: string, message: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_RECORD_NOT_FOUND', message, options);
    this.table = table;
    this.keys = keys;
    this.action = action;
  }
}

/**
 * A call received the wrong number, names or types of arguments; the message follows Python's
 * `TypeError` text (e.g. `UsersTable.insert() missing 1 required positional argument: 'is_admin'`)
 * because admin requests from Python clients show it verbatim.
 */
export class ArgumentTypeError extends InvalidArgumentError {
  /** The callee as Python names it, e.g. `"UsersTable.insert"`. */
  readonly callee: string;
  constructor(callee: string, argument: string, message: string, options?: SwitchyardErrorOptions) {
    super(argument, message, options);
    this.callee = callee;
  }
}

/**
 * An attr string or network-manager option string is malformed (GCT's `attr_array_from_string`
 * errors: "CR and LF are not allowed in attr_string.", "Invalid attr_string.", "Empty value in
 * attr_string.").
 */
export class AttrStringError extends SwitchyardError {
  /** What is wrong: `crlf`, `no-equals`, `empty-name`, `empty-value`, or `unformattable` (an attr that cannot be written as `name=value;`). */
  readonly reason: 'crlf' | 'no-equals' | 'empty-name' | 'empty-value' | 'unformattable';
  /** The offending `name=value` segment, when there is one. */
  readonly segment: string | undefined;
  /** Where it was found, e.g. `"segment 3"` or `"/etc/switchyard/netmgr.d/10-site.conf:4"`. */
  readonly where: string | undefined;
  constructor(
    reason: AttrStringError['reason'],
    message: string,
    facts?: { segment?: string | undefined; where?: string | undefined },
    options?: SwitchyardErrorOptions,
  ) {
    super('SWITCHYARD_ERR_ATTR_STRING', message, options);
    this.reason = reason;
    this.segment = facts?.segment;
    this.where = facts?.where;
  }
}

/** An attr has a value of the wrong form for its name (e.g. `tcp sndbuf=lots`). */
export class AttrValueError extends SwitchyardError {
  readonly scope: string;
  /** The attr's name (`name` is taken by the class name). */
  readonly attrName: string;
  readonly value: string;
  /** What was expected, e.g. `"a port number 0-65535"`. */
  readonly expected: string;
  constructor(scope: string, attrName: string, value: string, expected: string, options?: SwitchyardErrorOptions) {
    super(
      'SWITCHYARD_ERR_ATTR_VALUE',
      `Invalid value ${JSON.stringify(value)} for ${scope} attr ${attrName}: expected ${expected}`,
      options,
    );
    this.scope = scope;
    this.attrName = attrName;
    this.value = value;
    this.expected = expected;
  }
}

/** A contact string is not `host:port` (IPv6 hosts in brackets). */
export class InvalidContactError extends SwitchyardError {
  readonly contact: string;
  constructor(contact: string, message: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_INVALID_CONTACT', message, options);
    this.contact = contact;
  }
}

/**
 * A network manager's callout returned a value the chain cannot use. The message starts with GCT's
 * "Bad parameter, <what>" and says what was expected. Arrives as the `cause` of a NetManagerError.
 */
export class NetManagerResultError extends SwitchyardError {
  readonly callout: string;
  /** The part that was wrong: `result`, `attrs`, `attr`, `scope`, `name`, `value`, `contact` or `array`. */
  readonly what: string;
  constructor(callout: string, what: string, detail: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_NETMGR_RESULT', `Bad parameter, ${what}: ${detail}`, options);
    this.callout = callout;
    this.what = what;
  }
}

/** A network manager cannot be created: unknown name, missing or bad attr, unreadable file or module. */
export class NetManagerConfigError extends SwitchyardError {
  /** The manager name, e.g. `"logging"`. */
  readonly manager: string;
  /** Where the configuration came from, when known (a file, `SWITCHYARD_NETMGR`, `--netmgr`). */
  readonly source: string | undefined;
  constructor(manager: string, message: string, source?: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_NETMGR_CONFIG', message, options);
    this.manager = manager;
    this.source = source;
  }
}

/** A callout function of a `module` network manager threw (GCT: "<Type> exception in <func>: <value>"). */
export class NetManagerModuleError extends SwitchyardError {
  /** Absolute path of the module. */
  readonly path: string;
  /** The export that threw, e.g. `"pre_accept"` or `"preAccept"`. */
  readonly exportName: string;
  constructor(path: string, exportName: string, message: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_NETMGR_MODULE', message, options);
    this.path = path;
    this.exportName = exportName;
  }
}

/** The program of an `exec` network manager failed: could not start, exited non-zero, timed out or wrote bad output. */
export class NetManagerExecError extends SwitchyardError {
  readonly program: string;
  readonly callout: string;
  /** Exit code, or `null` when the program was killed by a signal or never started. */
  readonly exitCode: number | null;
  /** The signal that ended the program, when one did. */
  readonly signal: string | null;
  /** The end of what the program wrote to stderr (at most 4 KiB). */
  readonly stderr: string;
  constructor(
    program: string,
    callout: string,
    message: string,
    facts: { exitCode?: number | null; signal?: string | null; stderr?: string },
    options?: SwitchyardErrorOptions,
  ) {
    super('SWITCHYARD_ERR_NETMGR_EXEC', message, options);
    this.program = program;
    this.callout = callout;
    this.exitCode = facts.exitCode ?? null;
    this.signal = facts.signal ?? null;
    this.stderr = facts.stderr ?? '';
  }
}

/**
 * A channel has no more items: it was closed by this side (`reason: 'closed-locally'`), by the
 * peer (`'closed-by-peer'`), or the connection under it is gone (`'connection-lost'`, with the
 * connection's error as `cause`). execnet raises `EOFError` in the same places.
 */
export class ChannelEOFError extends SwitchyardError {
  /** The channel id on this side. */
  readonly channelId: number;
  readonly reason: 'closed-locally' | 'closed-by-peer' | 'connection-lost';
  constructor(channelId: number, reason: ChannelEOFError['reason'], options?: SwitchyardErrorOptions) {
    const why =
      reason === 'closed-locally' ? 'it was closed on this side' : reason === 'closed-by-peer' ? 'the peer closed it' : 'the connection to the peer is gone';
    const detail = reason === 'connection-lost' && options?.cause instanceof Error ? ` (${options.cause.message})` : '';
    super('SWITCHYARD_ERR_CHANNEL_EOF', `Channel ${channelId} has no more items: ${why}${detail}`, options);
    this.channelId = channelId;
    this.reason = reason;
  }
}

/** An item was sent on a channel that is closed (execnet: `OSError("cannot send to <Channel id=N closed>")`). */
export class ChannelClosedError extends SwitchyardError {
  readonly channelId: number;
  /** Who closed it: this side, the peer, or the connection ended. */
  readonly closedBy: 'local' | 'peer' | 'connection';
  constructor(channelId: number, closedBy: ChannelClosedError['closedBy'], options?: SwitchyardErrorOptions) {
    const who = closedBy === 'local' ? 'this side closed it' : closedBy === 'peer' ? 'the peer closed it' : 'the connection is gone';
    super('SWITCHYARD_ERR_CHANNEL_CLOSED', `Cannot send on channel ${channelId}: ${who}`, options);
    this.channelId = channelId;
    this.closedBy = closedBy;
  }
}

/**
 * A channel was used in a way its current mode forbids: `receive()` or iteration while a callback
 * is set, a second `setCallback()`, or `setCallback()` while a receive or iteration is active.
 */
export class ChannelUsageError extends SwitchyardError {
  readonly channelId: number;
  /** What was attempted, e.g. `"receive"` or `"setCallback"`. */
  readonly operation: string;
  constructor(channelId: number, operation: string, message: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_CHANNEL_USAGE', message, options);
    this.channelId = channelId;
    this.operation = operation;
  }
}

/**
 * A gateway spec string is malformed (execnet: `ValueError`/`AttributeError`/`IndexError` from
 * `XSpec`). `reason` says which rule was broken.
 */
export class GatewaySpecError extends SwitchyardError {
  readonly spec: string;
  readonly reason: 'empty-segment' | 'private-key' | 'duplicate-key' | 'duplicate-id' | 'no-type' | 'bad-value' | 'unsupported';
  /** The key concerned, when there is one. */
  readonly key: string | undefined;
  constructor(spec: string, reason: GatewaySpecError['reason'], message: string, key?: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_GATEWAY_SPEC', message, options);
    this.spec = spec;
    this.reason = reason;
    this.key = key;
  }
}

/**
 * A gateway could not be started: the program is missing, the process exited before the worker
 * answered, ssh failed (its exit code and stderr are kept, so "Permission denied (publickey)" is
 * not reported as an unknown host), or the socket server refused the secret.
 */
export class GatewayStartError extends SwitchyardError {
  readonly spec: string;
  /** Exit code of the process that failed, when there was one. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The last part (at most 4 KiB) of what the process wrote to stderr. */
  readonly stderr: string;
  constructor(
    spec: string,
    message: string,
    facts: { exitCode?: number | null; signal?: string | null; stderr?: string } = {},
    options?: SwitchyardErrorOptions,
  ) {
    super('SWITCHYARD_ERR_GATEWAY_START', message, options);
    this.spec = spec;
    this.exitCode = facts.exitCode ?? null;
    this.signal = facts.signal ?? null;
    this.stderr = facts.stderr ?? '';
  }
}

/**
 * `remoteExec` was given a source it cannot send: a native or bound function, a function whose
 * first parameter is not `channel`, or a function that uses variables from its enclosing scope
 * (`freeNames` lists them).
 */
export class RemoteSourceError extends SwitchyardError {
  /** Names the function uses that are neither its own, nor parameters, nor JavaScript globals. */
  readonly freeNames: string[];
  constructor(message: string, freeNames: string[] = [], options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_REMOTE_SOURCE', message, options);
    this.freeNames = freeNames;
  }
}

/**
 * The socket-gateway server (`switchyard worker --listen`) cannot start as configured: no or a too
 * short shared secret, TLS material missing. `setting` names the option to fix.
 */
export class GatewayServerError extends SwitchyardError {
  /** The option at fault, e.g. `"secret"` or `"tls"`. */
  readonly setting: string;
  constructor(setting: string, message: string, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_GATEWAY_SERVER', message, options);
    this.setting = setting;
  }
}

/**
 * A translator graph cannot be built or started: an unknown translator type, a bad option value,
 * a translator whose `init` failed, a module that cannot be loaded. `translator` names the volume
 * of the volfile concerned.
 */
export class TranslatorError extends SwitchyardError {
  /** The volume (translator instance) name, when one is concerned. */
  readonly translator: string | undefined;
  /** The option key concerned, when there is one. */
  readonly option: string | undefined;
  constructor(message: string, facts: { translator?: string | undefined; option?: string | undefined } = {}, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_TRANSLATOR', message, options);
    this.translator = facts.translator;
    this.option = facts.option;
  }
}

/**
 * A file operation on a {@link Volume} failed. Shaped like Node's `fs` errors so code written for
 * `fs.promises` keeps working: `code` is the POSIX name (`'ENOENT'`), `errno` Node's negative
 * number, with `syscall` and `path` (and `dest` for two-path calls). This is the one error class
 * whose `code` is not a `SWITCHYARD_ERR_*` string: file-system callers test for POSIX codes.
 */
export class FsError extends SwitchyardError {
  /** Negative errno, as Node's fs errors (`-2` for ENOENT). */
  readonly errno: number;
  readonly syscall: string;
  readonly path: string | undefined;
  readonly dest: string | undefined;
  constructor(code: string, errnoValue: number, syscall: string, path?: string, dest?: string, detail?: string, options?: SwitchyardErrorOptions) {
    const where = path === undefined ? '' : dest === undefined ? ` '${path}'` : ` '${path}' -> '${dest}'`;
    super(code, `${code}: ${detail ?? describeErrno(code)}, ${syscall}${where}`, options);
    this.errno = -Math.abs(errnoValue);
    this.syscall = syscall;
    this.path = path;
    this.dest = dest;
  }
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EINVAL: 'invalid argument',
  EIO: 'i/o error',
  ENOSYS: 'function not implemented',
  ETIMEDOUT: 'operation timed out',
  ENOTCONN: 'transport endpoint is not connected',
  EBADF: 'bad file descriptor',
  ESTALE: 'stale file handle',
  ENODATA: 'no data available',
  EXDEV: 'cross-device link not permitted',
  ENOSPC: 'no space left on device',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links encountered',
  EROFS: 'read-only file system',
  EOPNOTSUPP: 'operation not supported',
};

function describeErrno(code: string): string {
  return ERRNO_TEXT[code] ?? code.toLowerCase();
}

/**
 * A FUSE mount could not be made or undone (`SWITCHYARD_ERR_MOUNT`), or FUSE is not usable on this
 * machine at all (`SWITCHYARD_ERR_FUSE_UNAVAILABLE`: fuse-native or libfuse2 missing, no /dev/fuse).
 */
export class MountError extends SwitchyardError {
  /** The mountpoint concerned, when there is one. */
  readonly mountpoint: string | undefined;
  constructor(code: 'SWITCHYARD_ERR_MOUNT' | 'SWITCHYARD_ERR_FUSE_UNAVAILABLE', message: string, mountpoint?: string, options?: SwitchyardErrorOptions) {
    super(code, message, options);
    this.mountpoint = mountpoint;
  }
}

/**
 * An RSync transfer failed or was refused: a path that would leave the destination directory,
 * a file type that cannot be synced, a target that failed. `path` is the relative path concerned.
 */
export class RSyncError extends SwitchyardError {
  /** The relative path concerned, when there is one. */
  readonly path: string | undefined;
  /** The gateway id of the target concerned, when there is one. */
  readonly target: string | undefined;
  constructor(message: string, facts: { path?: string | undefined; target?: string | undefined } = {}, options?: SwitchyardErrorOptions) {
    super('SWITCHYARD_ERR_RSYNC', message, options);
    this.path = facts.path;
    this.target = facts.target;
  }
}

/**
 * A GlusterFS volfile cannot be read or parsed. `detail` is the bare text (GlusterFS's own
 * wording where GlusterFS has one, e.g. `Line 7: volume 'posix' defined again`); `message` is
 * `detail` prefixed with `"<source>: "` when the source is known, so a CLI can print it as is.
 */
export class VolfileError extends SwitchyardError {
  /** Where the text came from (a file path), when known. */
  readonly source: string | undefined;
  /** The 1-based line where the error was found, when there is one. */
  readonly line: number | undefined;
  /** The volume (block) being parsed, when there is one. */
  readonly volume: string | undefined;
  /** The errno name (`'ENOENT'`, `'EACCES'`...) when reading the file failed. */
  readonly errnoCode: string | undefined;
  /** The message without the source prefix. */
  readonly detail: string;
  constructor(
    message: string,
    facts: { source?: string | undefined; line?: number | undefined; volume?: string | undefined; errnoCode?: string | undefined },
    options?: SwitchyardErrorOptions,
  ) {
    super('SWITCHYARD_ERR_VOLFILE', facts.source === undefined ? message : `${facts.source}: ${message}`, options);
    this.source = facts.source;
    this.line = facts.line;
    this.volume = facts.volume;
    this.errnoCode = facts.errnoCode;
    this.detail = message;
  }
}

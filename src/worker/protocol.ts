/**
 * What a gateway host and its worker say to each other. Everything after the bootstrap preamble
 * is channel frames (`wire/protocol.ts` types 10–13); gateway operations are channels opened with
 * these targets and meta values. Shared by the host (`gateway/`) and the bundled worker.
 *
 * Preamble (host → worker, once): `u32 length | worker source (UTF-8) | u32 length | config JSON`.
 * The tiny bootstrap that `node -e` runs reads it, compiles the source and calls it.
 * @module
 */

/** Protocol version announced in the hello; a host refuses a worker with another major version. */
export const WORKER_PROTOCOL = 1;

/** Channel targets. */
export const Target = {
  /** worker → host, once at start: meta {@link RemoteInfo}; closed at once. */
  HELLO: 'hello',
  /** host → worker: run code; meta {@link ExecRequest}. */
  EXEC: 'exec',
  /** host → worker: one item {@link RemoteStatus} is sent back, then the channel closes. */
  STATUS: 'status',
  /** host → worker: one item {@link RemoteInfo} is sent back, then the channel closes. */
  INFO: 'info',
  /** host → worker: start a sub-worker on the worker's host and relay its bytes (`via=`). */
  SPAWN: 'spawn',
  /** host → worker: receive an RSync stream into a directory; meta {@link RsyncRequest}. */
  RSYNC: 'rsync',
  /**
   * host → worker: serve one socket gateway on the worker's host (`installvia=`); meta
   * {@link ServeRequest}. The worker sends one item `{ host, port }` once it listens; closing the
   * channel stops the server and hangs up on the worker it started.
   */
  SERVE: 'serve',
  /**
   * worker → host, once, when the config asks for it: one item, the V8 code cache of the worker
   * bundle (`vm.Script#createCachedData`) made after the first `remoteExec` finished, so later
   * workers started the same way skip most compiling.
   */
  CODE_CACHE: 'code-cache',
} as const;

/** Configuration the host sends in the preamble. */
export interface WorkerConfig {
  /** The gateway id, e.g. `"gw0"`. */
  id: string;
  /** Receive window per channel, bytes. */
  window: number;
  /** Create (recursively) and enter this directory before anything runs. */
  chdir?: string | undefined;
  /** Environment variables to set before any code runs (already applied at spawn for popen). */
  env?: Record<string, string> | undefined;
  /** Restore `NODE_EXTRA_CA_CERTS` in `process.env` (removed at spawn to save ~90 ms of start). */
  restoreExtraCaCerts?: string | undefined;
  /** Milliseconds running code gets after the host hangs up before the worker exits. */
  graceMs: number;
  /** `SWITCHYARD_DEBUG` level: 0 off, 1 trace file, 2 stderr. */
  debug: number;
  /**
   * The host's receive window per channel, when the host can take pre-credited channel opens
   * (`CH_OPEN_FLAG_CREDITED`): the worker's own opens then need no first grant.
   */
  peerWindow?: number | undefined;
  /** Send a `CODE_CACHE` channel after the first `remoteExec` (also done when the cache sent was rejected). */
  produceCache?: boolean | undefined;
}

/** What `remoteExec` sends. */
export interface ExecRequest {
  kind: 'function' | 'source' | 'module';
  source: string;
  /** Shown in remote stack traces: `<remote exec>` or the module's path. */
  filename: string;
  kwargs?: unknown;
}

/** `gateway.remoteStatus()`. */
export interface RemoteStatus {
  /** Open channels on the worker (the status channel itself not counted). */
  numChannels: number;
  /** `remoteExec` calls still running. */
  numExecuting: number;
  /** Always `"event-loop"`: every execution runs on the worker's single event loop. */
  execModel: 'event-loop';
}

/** `gateway.remoteInfo()`: facts about the worker process (execnet's `_rinfo()`). */
export interface RemoteInfo {
  protocol: number;
  pid: number;
  ppid: number;
  /** `process.execPath` of the worker. */
  executable: string;
  /** `process.version`, e.g. `"v20.20.2"`. */
  version: string;
  /** `process.versions.node` split into numbers. */
  versionInfo: [number, number, number];
  platform: string;
  arch: string;
  cwd: string;
  hostname: string;
  /**
   * The V8 code cache the host sent with the bundle: `'accepted'`, `'rejected'` (it did not fit
   * this node; the worker then makes a fresh one) or `'none'`.
   */
  codeCache: 'accepted' | 'rejected' | 'none';
  /**
   * What this worker understands beyond protocol 1: `'precredit'` — channels the host opens may
   * count the worker's window as granted (`CH_OPEN_FLAG_CREDITED`), saving a round trip.
   */
  features: string[];
}

/** What `RSync` sends to open a target. */
export interface RsyncRequest {
  /** Destination directory on the worker's host (created with parents). */
  destDir: string;
  /** Remove destination entries that are not in the source. */
  delete: boolean;
  /** Files at least this large are sent as deltas against the old copy (bytes). */
  deltaThreshold: number;
  /**
   * The sender understands `reqs` and sends `files` batches: the receiver asks for whole files
   * it has no copy of in batches of indices instead of one `req` each. Absent (older senders):
   * one `req` per file.
   */
  batch?: boolean | undefined;
}

/**
 * One entry of the file list, in walk order (a directory before its contents). `p` is the path
 * relative to the source, `/`-separated, `''` for the root.
 */
export type RsyncEntry =
  | { p: string; k: 'd'; m: number }
  | { p: string; k: 'f'; m: number; s: number; t: number }
  /** A symlink; `b` (linkbase) marks an absolute link into the source tree, `l` then relative to the source. */
  | { p: string; k: 'l'; l: string; b?: boolean };

/** Items of an `RSYNC` channel, sender → receiver. */
export type RsyncToReceiver =
  | { t: 'entries'; e: RsyncEntry[] }
  | { t: 'end-list' }
  /** File `i` is unchanged (its content hash matched): set mode and mtime only. */
  | { t: 'same'; i: number }
  /** Content of file `i`: literal bytes and `[block, count]` copies of the old file; `md5` on the last. */
  | { t: 'ops'; i: number; ops: Array<Uint8Array | [number, number]>; last: boolean; md5?: Uint8Array }
  /**
   * Whole files, each complete: file `i[k]` is `n[k]` bytes of `d` (in order, back to back) with
   * the MD5 `h[16k, 16k + 16)`. Answers `reqs`; a file larger than a batch travels as `ops`.
   */
  | { t: 'files'; i: number[]; n: number[]; d: Uint8Array; h: Uint8Array }
  | { t: 'end' };

/** Items of an `RSYNC` channel, receiver → sender. */
export type RsyncToSender =
  /** What the receiver will ask for: number of files and their total size. */
  | { t: 'plan'; files: number; bytes: number }
  /** Send file `i`; `md5` of the old copy when sizes match, `sig` for a delta. */
  | { t: 'req'; i: number; md5?: Uint8Array; sig?: { blockSize: number; size: number; weak: Uint8Array; strong: Uint8Array } }
  /** Send files `i` whole (the receiver has no copy to compare with); only when the request had `batch`. */
  | { t: 'reqs'; i: number[] }
  | { t: 'req-end' }
  | { t: 'done'; stats: RsyncReceiverStats };

/** What a receiver did. */
export interface RsyncReceiverStats {
  /** Regular files in the source list. */
  files: number;
  /** Files written (new or changed content). */
  transferred: number;
  /** Files whose content was already right (size and mtime, or the hash, matched). */
  unchanged: number;
  /** Entries removed because of `delete`. */
  deleted: number;
  /** Symlinks created or replaced. */
  links: number;
  /** Bytes copied from old copies by block matches. */
  matchedBytes: number;
}

/** `SPAWN` meta: how to start the sub-worker. */
export interface SpawnRequest {
  /** Program and arguments before `-e` (the `node=` value, split); default: the worker's own node. */
  node?: string[] | undefined;
  env?: Record<string, string> | undefined;
  nice?: number | undefined;
  config: WorkerConfig;
}

/** `SERVE` meta: where to listen and the one-time secret the new gateway proves. */
export interface ServeRequest {
  /** Interface to bind on the worker's host. */
  host: string;
  /** Port (0 picks a free one). */
  port: number;
  /** A one-time random secret (at least 32 characters), sent over the already trusted channel. */
  secret: string;
  /** Milliseconds the new gateway has to connect and authenticate before the server gives up. */
  acceptTimeoutMs: number;
  /** Milliseconds the served worker gets to exit after a hang-up before it is killed. */
  killAfterMs: number;
}

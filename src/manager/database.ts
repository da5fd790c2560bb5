/**
 * The Manager's SQLite database: registered users (`auth_users`), trusted hostnames
 * (`auth_hostnames`) and the connection log (`connections`).
 *
 * The tables, columns and value encodings are exactly msl-network's, so a database file written
 * by the Python Manager works here unchanged and the other way round:
 * - `auth_users.key` is the raw 32-byte PBKDF2-HMAC-SHA256 output (100,000 iterations) of the
 *   UTF-8 password, `auth_users.salt` the raw 16 random salt bytes, both stored as BLOBs;
 *   `is_admin` is stored as the integer 1 or 0 (what Python's sqlite3 writes for a `bool`).
 * - `connections.datetime` is local time as `YYYY-MM-DDTHH:MM:SS`.
 *
 * Differences from msl-network, all deliberate:
 * - The connection log never blocks routing: {@link ConnectionsTable.insert} only appends to a
 *   bounded in-memory queue, written in one transaction per flush shortly afterwards.
 * - `connections({ start, end })` works (msl-network's queries name a column that does not exist).
 * - Password checks are timing-safe, and an unknown user costs one PBKDF2 derivation like a wrong
 *   password does (msl-network returns at once, which tells an attacker which usernames exist).
 * - {@link UsersTable.verifyPassword} derives the key on the libuv thread pool, off the event loop.
 * - The database runs in WAL mode, so the CLI can edit users while a Manager has the file open.
 * @module
 */
import Database from 'better-sqlite3';
import { pyRepr } from '../wire/msl-format.ts';
import { pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  ArgumentTypeError,
  ClosedError,
  DatabaseError,
  EncodeError,
  InvalidArgumentError,
  RecordExistsError,
  RecordNotFoundError,
  SwitchyardError,
} from '../errors.ts';
import { homePaths } from '../util/home.ts';
import { localhostAliases } from '../util/host.ts';
import { guardTimer, clock } from '../util/timers.ts';

type Sqlite = Database.Database;
type Statement = Database.Statement;

/** PBKDF2 parameters, identical to msl-network's `UsersTable`. */
export const PASSWORD_HASH = {
  digest: 'sha256',
  iterations: 100_000,
  keyLength: 32,
  saltLength: 16,
} as const;

/** msl-network's `_is_username_invalid_regex` (`:\d+$`): Python's `\d` is any Unicode digit and its `$` also matches before a final newline. */
const INVALID_USERNAME = /:\p{Nd}+\n?$/u;

/** A lone UTF-16 surrogate cannot be encoded as UTF-8 (Python raises `UnicodeEncodeError`). */
const LONE_SURROGATE = /\p{Cs}/u;

/** Compares strings by Unicode code point, the order Python's `sorted()` uses for `str`. */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done === true) return y.done === true ? 0 : -1;
    if (y.done === true) return 1;
    const cx = x.value.codePointAt(0) ?? 0;
    const cy = y.value.codePointAt(0) ?? 0;
    if (cx !== cy) return cx - cy;
  }
}

/** Local time as `YYYY-MM-DDTHH:MM:SS` (msl-network's `datetime.now().replace(microsecond=0).isoformat()`). */
export function localIsoSeconds(date: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return (
    `${p(date.getFullYear(), 4)}-${p(date.getMonth() + 1)}-${p(date.getDate())}` +
    `T${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`
  );
}

const ISO_LIKE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Turns a `start`/`end` bound into the text form stored in `connections.datetime`, so that SQLite's
 * text comparison orders them correctly. A date alone means midnight; a string with a zone (`Z`,
 * `+12:00`) and a `Date` are converted to local time; fractional seconds are kept (a record at
 * `10:00:00` is before a start of `10:00:00.5`).
 */
function normaliseBound(name: 'start' | 'end', value: Date | string): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new InvalidArgumentError(name, `The ${name} date is invalid`);
    const ms = value.getMilliseconds();
    return localIsoSeconds(value) + (ms === 0 ? '' : `.${String(ms).padStart(3, '0')}`);
  }
  const m = ISO_LIKE.exec(value.trim());
  if (m === null) {
    throw new InvalidArgumentError(
      name,
      `Invalid ${name} ${pyRepr(value)}: use the yyyy-mm-dd or yyyy-mm-ddTHH:MM:SS format`,
    );
  }
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac, zone] = m;
  if (zone !== undefined) {
    const parsed = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}${frac === undefined ? '' : `.${frac.slice(0, 3)}`}${zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone}`);
    if (Number.isNaN(parsed.getTime())) throw new InvalidArgumentError(name, `Invalid ${name} ${pyRepr(value)}`);
    return normaliseBound(name, parsed);
  }
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${frac === undefined ? '' : `.${frac}`}`;
}

/** Python's truthiness of a JSON value (`bool(x)`). */
function pyTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** Python's type name of a JSON value, for TypeError texts. */
function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'NoneType';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'string') return 'str';
  if (Array.isArray(value)) return 'list';
  if (Buffer.isBuffer(value)) return 'bytes';
  return 'dict';
}

function wrapSqlite(path: string, what: string, err: unknown): SwitchyardError {
  if (err instanceof SwitchyardError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DatabaseError(path, `${what} failed on ${path}: ${message}`, { cause: err });
}

/** One row of `auth_users`: `[pid, username, key, salt, isAdmin]` (msl-network's tuple order). */
export type UserRecord = [pid: number, username: string, key: Buffer, salt: Buffer, isAdmin: boolean];

/** One row of `connections`: `[pid, datetime, ip_address, domain, port, message]`. */
export type ConnectionRecord = [pid: number, datetime: string, ipAddress: string, domain: string, port: number, message: string];

/** One row of `PRAGMA table_info`: `[cid, name, type, notnull, dflt_value, pk]`. */
export type ColumnInfo = [cid: number, name: string, type: string, notnull: number, defaultValue: unknown, pk: number];

/** The peer a connection-log row is about. */
export interface ConnectionPeer {
  /** The peer's IP address, e.g. `"127.0.0.1"`. */
  ipAddress: string;
  /** The peer's domain name (msl-network stores `socket.getfqdn(ip)`); the IP address when unknown. */
  domain: string;
  /** The peer's port. */
  port: number;
}

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Most connection-log rows held in memory awaiting a flush; the oldest are dropped beyond it. Default 10,000. */
  connectionQueueLimit?: number;
  /** Milliseconds between the first queued connection-log row and its flush. Default 5. */
  flushDelayMs?: number;
  /** Milliseconds a statement waits for another process's lock before failing. Default 5,000. */
  busyTimeoutMs?: number;
}

/** Base of the three tables: the schema helpers msl-network's `Database` class offers. */
abstract class Table {
  /** @internal */
  protected readonly owner: ManagerDatabase;
  /** The table's name in the database. */
  abstract readonly name: string;

  constructor(owner: ManagerDatabase) {
    this.owner = owner;
  }

  /** The database file path (`':memory:'` for an in-memory database). */
  get path(): string {
    return this.owner.path;
  }

  /** @internal Runs `fn` against the open connection, wrapping SQLite failures in {@link DatabaseError}. */
  protected run<T>(what: string, fn: (db: Sqlite) => T): T {
    const db = this.owner.sqlite();
    try {
      return fn(db);
    } catch (err) {
      throw wrapSqlite(this.owner.path, what, err);
    }
  }
}

/**
 * `auth_users`: login credentials for `--auth-login` (msl-network's `UsersTable`).
 * Passwords are never stored, only their PBKDF2-HMAC-SHA256 key and salt.
 */
export class UsersTable extends Table {
  /** The table name, `"auth_users"`. */
  static readonly NAME = 'auth_users';
  /** The table name, `"auth_users"`. */
  readonly name = UsersTable.NAME;
  readonly #stmts: {
    insert: Statement;
    selectUser: Statement;
    selectKeySalt: Statement;
    selectAll: Statement;
    usernames: Statement;
    users: Statement;
    count: Statement;
    countUser: Statement;
    isAdmin: Statement;
    del: Statement;
    setAdmin: Statement;
    setKey: Statement;
    setKeyAdmin: Statement;
  };
  /** A fixed dummy salt/key so that checking an unknown user costs one derivation too. */
  readonly #dummySalt = randomBytes(PASSWORD_HASH.saltLength);
  readonly #dummyKey = randomBytes(PASSWORD_HASH.keyLength);

  /** Not for direct use: created by {@link openDatabase}. */
  constructor(owner: ManagerDatabase, db: Sqlite) {
    super(owner);
    db.exec(
      'CREATE TABLE IF NOT EXISTS auth_users (pid INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL, ' +
        'key BLOB NOT NULL, salt BLOB NOT NULL, is_admin BOOLEAN NOT NULL, UNIQUE(username));',
    );
    this.#stmts = {
      insert: db.prepare('INSERT INTO auth_users VALUES(NULL, ?, ?, ?, ?);'),
      selectUser: db.prepare('SELECT * FROM auth_users WHERE username = ?;').raw(),
      selectKeySalt: db.prepare('SELECT key,salt FROM auth_users WHERE username = ?;').raw(),
      selectAll: db.prepare('SELECT * FROM auth_users;').raw(),
      // The same statement as msl-network, so the row order matches whatever index SQLite picks.
      usernames: db.prepare('SELECT username FROM auth_users;').pluck(),
      users: db.prepare('SELECT username,is_admin FROM auth_users;').raw(),
      count: db.prepare('SELECT count(*) FROM auth_users;').pluck(),
      countUser: db.prepare('SELECT count(*) FROM auth_users WHERE username = ?;').pluck(),
      isAdmin: db.prepare('SELECT is_admin FROM auth_users WHERE username = ?;').raw(),
      del: db.prepare('DELETE FROM auth_users WHERE username = ?;'),
      setAdmin: db.prepare('UPDATE auth_users SET is_admin=? WHERE username=?;'),
      setKey: db.prepare('UPDATE auth_users SET key=?, salt=? WHERE username=?;'),
      setKeyAdmin: db.prepare('UPDATE auth_users SET key=?, salt=?, is_admin=? WHERE username=?;'),
    };
  }

  /**
   * Adds a user. The password is stored as a PBKDF2-HMAC-SHA256 key with a fresh 16-byte salt.
   * Takes about 20–80 ms of CPU (the derivation), synchronously.
   * @throws {InvalidArgumentError} the username ends in `:<integer>`, or the password is empty.
   * @throws {RecordExistsError} a user with that name exists.
   */
  insert(username: string, password: string, isAdmin: boolean): void {
    this.#checkUsername(username);
    this.#checkPassword(username, password);
    const salt = randomBytes(PASSWORD_HASH.saltLength);
    const key = derive(password, salt);
    this.run('insert user', () => {
      try {
        this.#stmts.insert.run(username, key, salt, isAdmin ? 1 : 0);
      } catch (err) {
        if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw new RecordExistsError(
            UsersTable.NAME,
            username,
            `A user with the name ${pyRepr(username)} already exists`,
          );
        }
        throw err;
      }
    });
  }

  /**
   * Changes a user's password (with a new salt) and/or admin rights.
   * @throws {RecordNotFoundError} the user is not in the table (`Cannot update 'x'. This user is not in the table.`).
   * @throws {InvalidArgumentError} neither `password` nor `isAdmin` is given, or `password` is empty.
   */
  update(username: string, changes: { password?: string | undefined; isAdmin?: boolean | undefined }): void {
    this.#ensureUserExists(username, 'update');
    const { password, isAdmin } = changes;
    if (password === undefined && isAdmin === undefined) {
      throw new InvalidArgumentError('password', 'Must specify either the password and/or the admin rights when updating');
    }
    if (password === undefined) {
      this.run('update user', () => this.#stmts.setAdmin.run(isAdmin === true ? 1 : 0, username));
      return;
    }
    this.#checkPassword(username, password);
    const salt = randomBytes(PASSWORD_HASH.saltLength);
    const key = derive(password, salt);
    this.run('update user', () => {
      if (isAdmin === undefined) this.#stmts.setKey.run(key, salt, username);
      else this.#stmts.setKeyAdmin.run(key, salt, isAdmin ? 1 : 0, username);
    });
  }

  /**
   * Removes a user.
   * @throws {RecordNotFoundError} the user is not in the table (`Cannot delete 'x'. This user is not in the table.`).
   */
  delete(username: string): void {
    this.#ensureUserExists(username, 'delete');
    this.run('delete user', () => this.#stmts.del.run(username));
  }

  /** The user's row, or `undefined` when there is no such user. */
  getUser(username: string): UserRecord | undefined {
    const row = this.run('get user', () => this.#stmts.selectUser.get(username)) as unknown[] | undefined;
    return row === undefined ? undefined : toUserRecord(row);
  }

  /** Every user's row, in table order. */
  records(): UserRecord[] {
    return (this.run('read users', () => this.#stmts.selectAll.all()) as unknown[][]).map(toUserRecord);
  }

  /** The names of all registered users (msl-network's order: whatever `SELECT username` yields). */
  usernames(): string[] {
    return this.run('read usernames', () => this.#stmts.usernames.all()) as string[];
  }

  /** `[username, isAdmin]` for every user, sorted by username. */
  users(): Array<[string, boolean]> {
    const rows = this.run('read users', () => this.#stmts.users.all()) as Array<[string, unknown]>;
    return rows.map(([name, admin]): [string, boolean] => [name, pyTruthy(admin)]).sort((a, b) => compareCodePoints(a[0], b[0]));
  }

  /** The number of registered users. */
  count(): number {
    return Number(this.run('count users', () => this.#stmts.count.get()));
  }

  /** Whether `username` is a registered user. */
  isUserRegistered(username: string): boolean {
    return Number(this.run('find user', () => this.#stmts.countUser.get(username))) > 0;
  }

  /**
   * Whether `password` is the user's password. Synchronous (one PBKDF2 derivation on the calling
   * thread); the Manager uses {@link verifyPassword} instead. The comparison is timing-safe and an
   * unknown user costs one derivation, like a wrong password.
   */
  isPasswordValid(username: string, password: string): boolean {
    const { key, salt, real } = this.#keySalt(username);
    if (LONE_SURROGATE.test(password)) return false;
    const ok = matches(derive(password, salt), key);
    return real && ok;
  }

  /**
   * Like {@link isPasswordValid}, but derives the key on the libuv thread pool so the event loop
   * keeps routing while a login is checked. Resolves false for a wrong password or an unknown user.
   * @throws {DatabaseError} (as a rejection) the database cannot be read.
   */
  async verifyPassword(username: string, password: string): Promise<boolean> {
    const { key, salt, real } = this.#keySalt(username);
    if (LONE_SURROGATE.test(password)) return false;
    const derived = await new Promise<Buffer>((resolve, reject) => {
      pbkdf2(password, salt, PASSWORD_HASH.iterations, PASSWORD_HASH.keyLength, PASSWORD_HASH.digest, (err, out) =>
        err === null ? resolve(out) : reject(err),
      );
    });
    const ok = matches(derived, key);
    return real && ok;
  }

  /** Whether the user has admin rights (false for an unknown user). */
  isAdmin(username: string): boolean {
    const row = this.run('read user', () => this.#stmts.isAdmin.get(username)) as [unknown] | undefined;
    return row !== undefined && pyTruthy(row[0]);
  }

  /** The stored key and salt, or a dummy pair (`real: false`) so that a miss costs the same derivation. */
  #keySalt(username: string): { key: Buffer; salt: Buffer; real: boolean } {
    const row = this.run('read user', () => this.#stmts.selectKeySalt.get(username)) as [unknown, unknown] | undefined;
    if (row !== undefined && Buffer.isBuffer(row[0]) && Buffer.isBuffer(row[1])) {
      return { key: row[0], salt: row[1], real: true };
    }
    return { key: this.#dummyKey, salt: this.#dummySalt, real: false };
  }

  #checkUsername(username: string): void {
    if (INVALID_USERNAME.test(username)) {
      throw new InvalidArgumentError('username', 'A username cannot end with ":<integer>"');
    }
  }

  #checkPassword(username: string, password: string): void {
    if (password === '') {
      throw new InvalidArgumentError('password', `You must specify a password for ${pyRepr(username)}`);
    }
    if (LONE_SURROGATE.test(password)) {
      throw new InvalidArgumentError('password', `The password for ${pyRepr(username)} is not valid Unicode (it has a lone surrogate)`);
    }
  }

  #ensureUserExists(username: string, action: string): void {
    if (!this.isUserRegistered(username)) {
      throw new RecordNotFoundError(
        UsersTable.NAME,
        [username],
        action,
        `Cannot ${action} ${pyRepr(username)}. This user is not in the table.`,
      );
    }
  }
}

function derive(password: string, salt: Buffer): Buffer {
  return pbkdf2Sync(password, salt, PASSWORD_HASH.iterations, PASSWORD_HASH.keyLength, PASSWORD_HASH.digest);
}

/** Constant-time equality; a stored key of another length never matches (and costs the same). */
function matches(derived: Buffer, stored: Buffer): boolean {
  if (stored.length !== derived.length) {
    timingSafeEqual(derived, derived);
    return false;
  }
  return timingSafeEqual(derived, stored);
}

function toUserRecord(row: unknown[]): UserRecord {
  const [pid, username, key, salt, isAdmin] = row;
  const bytes = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8'));
  return [Number(pid), String(username), bytes(key), bytes(salt), pyTruthy(isAdmin)];
}

/** `auth_hostnames`: trusted hostnames for `--auth-hostname` (msl-network's `HostnamesTable`). */
export class HostnamesTable extends Table {
  /** The table name, `"auth_hostnames"`. */
  static readonly NAME = 'auth_hostnames';
  /** The table name, `"auth_hostnames"`. */
  readonly name = HostnamesTable.NAME;
  readonly #insert: Statement;
  readonly #del: Statement;
  readonly #all: Statement;
  readonly #has: Statement;

  /** Not for direct use: created by {@link openDatabase}; seeds the localhost aliases when the table is empty. */
  constructor(owner: ManagerDatabase, db: Sqlite) {
    super(owner);
    db.exec('CREATE TABLE IF NOT EXISTS auth_hostnames (hostname TEXT NOT NULL, UNIQUE(hostname));');
    this.#insert = db.prepare('INSERT OR IGNORE INTO auth_hostnames VALUES(?);');
    this.#del = db.prepare('DELETE FROM auth_hostnames WHERE hostname = ?;');
    this.#all = db.prepare('SELECT * FROM auth_hostnames;').pluck();
    this.#has = db.prepare('SELECT count(*) FROM auth_hostnames WHERE hostname = ?;').pluck();
    if (this.#all.all().length === 0) {
      db.transaction(() => {
        for (const alias of localhostAliases()) this.#insert.run(alias);
      })();
    }
  }

  /** Adds a trusted hostname; adding one that is already there does nothing. */
  insert(hostname: string): void {
    this.run('insert hostname', () => this.#insert.run(hostname));
  }

  /**
   * Removes a trusted hostname.
   * @throws {RecordNotFoundError} it is not in the table (`Cannot delete 'x'. This hostname is not in the table.`).
   */
  delete(hostname: string): void {
    if (!this.has(hostname)) {
      throw new RecordNotFoundError(
        HostnamesTable.NAME,
        [hostname],
        'delete',
        `Cannot delete ${pyRepr(hostname)}. This hostname is not in the table.`,
      );
    }
    this.run('delete hostname', () => this.#del.run(hostname));
  }

  /** Whether `hostname` is trusted. */
  has(hostname: string): boolean {
    return Number(this.run('find hostname', () => this.#has.get(hostname))) > 0;
  }

  /** All trusted hostnames, sorted. */
  hostnames(): string[] {
    return (this.run('read hostnames', () => this.#all.all()) as unknown[]).map(String).sort(compareCodePoints);
  }
}

/** Bounds of {@link ConnectionsTable.connections}. A string is `yyyy-mm-dd` or `yyyy-mm-ddTHH:MM:SS` (local time unless it has a zone). */
export interface ConnectionsQuery {
  /** Only rows at or after this time. */
  start?: Date | string | undefined;
  /** Only rows at or before this time (`yyyy-mm-dd` alone means midnight at the start of that day). */
  end?: Date | string | undefined;
}

/**
 * `connections`: the connection log (msl-network's `ConnectionsTable`).
 *
 * {@link insert} never touches the disk: it stamps the row with the current local time and appends
 * it to a bounded queue. A short unref'd timer writes the queue in one transaction. When the queue
 * is full the oldest row is dropped and {@link dropped} counts it. Reads flush first.
 *
 * States: idle (queue empty, no timer) → pending (rows queued, timer armed) → idle after a flush;
 * any state → closed on {@link ManagerDatabase.close}, which flushes once more. After close,
 * `insert` only counts drops.
 */
export class ConnectionsTable extends Table {
  /** The table name, `"connections"`. */
  static readonly NAME = 'connections';
  /** The table name, `"connections"`. */
  readonly name = ConnectionsTable.NAME;
  readonly #insert: Statement;
  readonly #writeBatch: (rows: ReadonlyArray<readonly [string, string, string, number, string]>) => void;
  readonly #limit: number;
  readonly #delay: number;
  #queue: Array<readonly [string, string, string, number, string]> = [];
  #timer: NodeJS.Timeout | undefined;
  #dropped = 0;
  #written = 0;
  #lastError: SwitchyardError | undefined;

  /** Not for direct use: created by {@link openDatabase}. */
  constructor(owner: ManagerDatabase, db: Sqlite, limit: number, delayMs: number) {
    super(owner);
    db.exec(
      'CREATE TABLE IF NOT EXISTS connections (pid INTEGER PRIMARY KEY AUTOINCREMENT, datetime DATETIME NOT NULL, ' +
        'ip_address TEXT NOT NULL, domain TEXT NOT NULL, port INTEGER NOT NULL, message TEXT NOT NULL);',
    );
    this.#insert = db.prepare('INSERT INTO connections VALUES(NULL, ?, ?, ?, ?, ?);');
    this.#writeBatch = db.transaction((rows: ReadonlyArray<readonly [string, string, string, number, string]>) => {
      for (const row of rows) this.#insert.run(...row);
    });
    this.#limit = limit;
    this.#delay = delayMs;
  }

  /**
   * Queues a log row about `peer` (e.g. `'new connection request'`, `'disconnected'`), stamped with
   * the current local time. Never throws and never blocks; the row reaches the file within
   * `flushDelayMs`, at {@link flush} or at close.
   */
  insert(peer: ConnectionPeer, message: string): void {
    if (this.owner.closed) {
      this.#dropped++;
      return;
    }
    if (this.#queue.length >= this.#limit) {
      this.#queue.shift();
      this.#dropped++;
    }
    this.#queue.push([localIsoSeconds(new Date(clock.now())), peer.ipAddress, peer.domain, peer.port, message]);
    this.#timer ??= guardTimer(() => {
      this.#timer = undefined;
      this.#flushQuietly();
    }, this.#delay);
  }

  /**
   * Writes every queued row now, in one transaction. Returns how many rows were written.
   * @throws {DatabaseError} the write failed; the rows stay queued (within the bound) for the next flush.
   */
  flush(): number {
    if (this.#timer !== undefined) {
      clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#queue.length === 0) return 0;
    const rows = this.#queue;
    this.#queue = [];
    try {
      this.run('write connection log', () => this.#writeBatch(rows));
    } catch (err) {
      // Keep the newest rows that still fit; count the rest as dropped.
      const keep = [...rows, ...this.#queue];
      const excess = Math.max(0, keep.length - this.#limit);
      this.#dropped += excess;
      this.#queue = keep.slice(excess);
      throw err;
    }
    this.#written += rows.length;
    this.#lastError = undefined;
    return rows.length;
  }

  #flushQuietly(): void {
    try {
      this.flush();
    } catch (err) {
      this.#lastError = err instanceof SwitchyardError ? err : wrapSqlite(this.owner.path, 'write connection log', err);
      // Try again later rather than spin; the queue stays bounded meanwhile.
      if (!this.owner.closed && this.#queue.length > 0) {
        this.#timer ??= guardTimer(() => {
          this.#timer = undefined;
          this.#flushQuietly();
        }, 1000);
      }
    }
  }

  /** Rows queued and not yet written. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Rows dropped since opening because the queue was full (or the database closed). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Rows written since opening. */
  get written(): number {
    return this.#written;
  }

  /** The error of the last background flush that failed, until a flush succeeds. */
  get lastError(): SwitchyardError | undefined {
    return this.#lastError;
  }

  /**
   * The logged connections, oldest first, as `[pid, datetime, ip_address, domain, port, message]`.
   * Flushes queued rows first. Both bounds are inclusive.
   * @throws {InvalidArgumentError} a bound is not a valid date/time.
   */
  connections(query: ConnectionsQuery = {}): ConnectionRecord[] {
    const where: string[] = [];
    const params: string[] = [];
    if (query.start !== undefined && query.start !== null) {
      where.push('datetime >= ?');
      params.push(normaliseBound('start', query.start));
    }
    if (query.end !== undefined && query.end !== null) {
      where.push('datetime <= ?');
      params.push(normaliseBound('end', query.end));
    }
    if (!this.owner.closed) this.#flushQuietly();
    const sql = `SELECT * FROM connections${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY pid;`;
    const rows = this.run('read connection log', (db) => db.prepare(sql).raw().all(...params)) as unknown[][];
    return rows.map(([pid, datetime, ip, domain, port, message]): ConnectionRecord => [
      Number(pid),
      String(datetime),
      String(ip),
      String(domain),
      Number(port),
      String(message),
    ]);
  }

  /** @internal Called by {@link ManagerDatabase.close}: last flush, timer stopped. */
  finish(): void {
    try {
      this.flush();
    } finally {
      if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}

/**
 * An open Manager database: the three tables over one SQLite connection.
 * Create it with {@link openDatabase}; `close()` flushes the connection log and is safe to call twice.
 */
export class ManagerDatabase {
  /** The database file (`':memory:'` for an in-memory database). */
  readonly path: string;
  /** `auth_users`. */
  readonly users: UsersTable;
  /** `auth_hostnames`. */
  readonly hostnames: HostnamesTable;
  /** `connections`. */
  readonly connections: ConnectionsTable;
  #db: Sqlite | undefined;

  /** Not for direct use: use {@link openDatabase}. */
  constructor(path: string, db: Sqlite, options: OpenDatabaseOptions) {
    this.path = path;
    this.#db = db;
    const limit = options.connectionQueueLimit ?? 10_000;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new InvalidArgumentError('connectionQueueLimit', `connectionQueueLimit must be a positive integer, got ${limit}`);
    }
    this.connections = new ConnectionsTable(this, db, limit, Math.max(0, options.flushDelayMs ?? 5));
    this.hostnames = new HostnamesTable(this, db);
    this.users = new UsersTable(this, db);
  }

  /** Whether {@link close} has been called. */
  get closed(): boolean {
    return this.#db === undefined;
  }

  /** @internal The open connection. @throws {ClosedError} after close. */
  sqlite(): Sqlite {
    if (this.#db === undefined) throw new ClosedError(`The database ${this.path}`);
    return this.#db;
  }

  /** Names of the tables in the database, sorted (without SQLite's own `sqlite_sequence`). */
  tables(): string[] {
    const names = this.sqlite().prepare("SELECT name FROM sqlite_master WHERE type='table';").pluck().all() as string[];
    return names.filter((n) => n !== 'sqlite_sequence').sort(compareCodePoints);
  }

  /** `PRAGMA table_info` of a table: `[cid, name, type, notnull, dflt_value, pk]` per column (empty for an unknown table). */
  tableInfo(table: string): ColumnInfo[] {
    const rows = this.sqlite().prepare('SELECT cid, name, type, "notnull", dflt_value, pk FROM pragma_table_info(?);').raw().all(table);
    return rows as ColumnInfo[];
  }

  /** The column names of a table. */
  columnNames(table: string): string[] {
    return this.tableInfo(table).map((c) => c[1]);
  }

  /** The declared column types of a table. */
  columnDatatypes(table: string): string[] {
    return this.tableInfo(table).map((c) => c[2]);
  }

  /**
   * Flushes the connection log and closes the file. Safe to call twice.
   * @throws {DatabaseError} the last flush failed (the file is closed anyway).
   */
  close(): void {
    const db = this.#db;
    if (db === undefined) return;
    try {
      this.connections.finish();
    } finally {
      this.#db = undefined;
      db.close();
    }
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Opens (creating when missing) the Manager database, in WAL mode, with msl-network's three tables.
 * `path` defaults to `manager.sqlite3` in the Switchyard home; its directory is created.
 * `':memory:'` opens a private in-memory database.
 * @throws {DatabaseError} the file cannot be opened or is not a database.
 * @example
 * const db = openDatabase();
 * db.users.insert('j.doe', 'a good password', false);
 * db.users.isPasswordValid('j.doe', 'a good password'); // true
 * db.close();
 */
export function openDatabase(path?: string, options: OpenDatabaseOptions = {}): ManagerDatabase {
  const file = path ?? homePaths.database();
  const memory = file === ':memory:' || file === '';
  let db: Sqlite | undefined;
  try {
    if (!memory) mkdirSync(dirname(file), { recursive: true });
    db = new Database(file, { timeout: options.busyTimeoutMs ?? 5000 });
    if (!memory) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    return new ManagerDatabase(file, db, options);
  } catch (err) {
    db?.close();
    throw wrapSqlite(file, 'Opening the database', err);
  }
}

// ---------------------------------------------------------------------------------------------
// Admin requests

/** One admin-callable entry: Python positional args and kwargs in, a JSON-friendly value out. */
export type AdminTableFunction = (args: unknown[], kwargs: Record<string, unknown>) => unknown;

interface PySignature {
  /** Python's `__qualname__`, e.g. `UsersTable.insert`. */
  qualname: string;
  /** Positional-or-keyword parameters after `self`. */
  positional: Array<{ name: string; required: boolean }>;
  /** Keyword-only parameters (all optional here). */
  keywordOnly: string[];
}

/**
 * Binds Python-style `args`/`kwargs` to a signature, raising Python's TypeError texts (CPython
 * 3.10+ order: unexpected/multiple keyword, then too many positional, then missing).
 */
function bind(sig: PySignature, args: unknown[], kwargs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const n = sig.positional.length;
  sig.positional.slice(0, args.length).forEach((p, i) => (out[p.name] = args[i]));
  let kwonlyGiven = 0;
  for (const [k, v] of Object.entries(kwargs)) {
    const index = sig.positional.findIndex((p) => p.name === k);
    if (index < 0 && !sig.keywordOnly.includes(k)) {
      throw new ArgumentTypeError(sig.qualname, k, `${sig.qualname}() got an unexpected keyword argument ${pyRepr(k)}`);
    }
    if (index >= 0 && index < args.length) {
      throw new ArgumentTypeError(sig.qualname, k, `${sig.qualname}() got multiple values for argument ${pyRepr(k)}`);
    }
    if (index < 0) kwonlyGiven++;
    out[k] = v;
  }
  if (args.length > n) {
    const required = sig.positional.filter((p) => p.required).length;
    const takes = required === n ? `${n + 1}` : `from ${required + 1} to ${n + 1}`;
    const plural = required === n ? n + 1 !== 1 : true;
    const given = args.length + 1;
    const kwonly =
      kwonlyGiven > 0
        ? ` positional argument${given !== 1 ? 's' : ''} (and ${kwonlyGiven} keyword-only argument${kwonlyGiven !== 1 ? 's' : ''})`
        : '';
    const verb = given === 1 && kwonlyGiven === 0 ? 'was' : 'were';
    throw new ArgumentTypeError(
      sig.qualname,
      'args',
      `${sig.qualname}() takes ${takes} positional argument${plural ? 's' : ''} but ${given}${kwonly} ${verb} given`,
    );
  }
  const missing = sig.positional.filter((p) => p.required && !(p.name in out)).map((p) => pyRepr(p.name));
  if (missing.length > 0) {
    const list =
      missing.length === 1
        ? missing[0]
        : missing.length === 2
          ? `${missing[0]} and ${missing[1]}`
          : `${missing.slice(0, -1).join(', ')}, and ${missing[missing.length - 1]}`;
    throw new ArgumentTypeError(
      sig.qualname,
      missing[0] ?? '',
      `${sig.qualname}() missing ${missing.length} required positional argument${missing.length === 1 ? '' : 's'}: ${list}`,
    );
  }
  return out;
}

function str(sig: PySignature, name: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new ArgumentTypeError(sig.qualname, name, `${sig.qualname}() argument ${pyRepr(name)} must be str, not ${pyTypeName(value)}`);
  }
  return value;
}

function optionalBound(sig: PySignature, name: 'start' | 'end', value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return str(sig, name, value);
}

/** The Python password checks happen before type checks: a falsy password is msl's ValueError. */
function password(sig: PySignature, username: string, value: unknown): string {
  if (!pyTruthy(value)) throw new InvalidArgumentError('password', `You must specify a password for ${pyRepr(username)}`);
  return str(sig, 'password', value);
}

/** Python cannot JSON-encode `bytes`; neither do we send key material over the wire. */
function notSerialisable(path: string): never {
  throw new EncodeError(path, 'Object of type bytes is not JSON serializable');
}

/**
 * The admin-request allow-list over the database, keyed by msl-network's Python attribute paths
 * (`users_table.insert`, `hostnames_table.hostnames`, `connections_table.connections`, ...).
 *
 * Each function takes a request's `args` and `kwargs` (snake_case names, as a Python client sends
 * them) and returns what the Python Manager would reply: `null` for `None`, booleans, lists of lists.
 * Properties (`path`, `NAME`) ignore their arguments, as Python returns a non-callable's value.
 * `users_table.records`/`get_user` throw {@link EncodeError} for existing users, exactly where
 * Python fails to serialise `bytes` (the hash and salt never leave the Manager).
 *
 * Not exposed (unlike Python's unrestricted `getattr`): `execute`, `cursor`, `connection`, `close`.
 * `connections_table.insert` takes a peer as `{ip_address, domain, port}` (Python needs a `Peer`).
 *
 * Every function throws {@link ArgumentTypeError} for a wrong call (Python's TypeError text),
 * {@link InvalidArgumentError}, {@link RecordExistsError} or {@link RecordNotFoundError} where
 * Python raises ValueError, and {@link DatabaseError}. Use {@link pythonExceptionName} to name them.
 */
export function adminTableApi(db: ManagerDatabase): Record<string, AdminTableFunction> {
  const api: Record<string, AdminTableFunction> = {};
  const def = (
    path: string,
    qualname: string,
    positional: Array<string | [string, 'optional']>,
    keywordOnly: string[],
    fn: (a: Record<string, unknown>, sig: PySignature) => unknown,
  ): void => {
    const sig: PySignature = {
      qualname,
      positional: positional.map((p) => (typeof p === 'string' ? { name: p, required: true } : { name: p[0], required: false })),
      keywordOnly,
    };
    api[path] = (args, kwargs) => fn(bind(sig, Array.isArray(args) ? args : [], kwargs ?? {}), sig);
  };
  const property = (path: string, get: () => unknown): void => {
    api[path] = () => get();
  };

  const tables: Array<[string, string, { path: string }]> = [
    ['users_table', UsersTable.NAME, db.users],
    ['hostnames_table', HostnamesTable.NAME, db.hostnames],
    ['connections_table', ConnectionsTable.NAME, db.connections],
  ];
  for (const [prefix, name] of tables) {
    property(`${prefix}.path`, () => db.path);
    property(`${prefix}.NAME`, () => name);
    def(`${prefix}.tables`, 'Database.tables', [], [], () => db.tables());
    def(`${prefix}.table_info`, 'Database.table_info', ['name'], [], (a, s) => db.tableInfo(str(s, 'name', a['name'])));
    def(`${prefix}.column_names`, 'Database.column_names', ['table_name'], [], (a, s) =>
      db.columnNames(str(s, 'table_name', a['table_name'])),
    );
    def(`${prefix}.column_datatypes`, 'Database.column_datatypes', ['table_name'], [], (a, s) =>
      db.columnDatatypes(str(s, 'table_name', a['table_name'])),
    );
  }

  const users = db.users;
  def('users_table.insert', 'UsersTable.insert', ['username', 'password', 'is_admin'], [], (a, s) => {
    const username = str(s, 'username', a['username']);
    if (INVALID_USERNAME.test(username)) throw new InvalidArgumentError('username', 'A username cannot end with ":<integer>"');
    users.insert(username, password(s, username, a['password']), pyTruthy(a['is_admin']));
    return null;
  });
  def('users_table.update', 'UsersTable.update', ['username'], ['password', 'is_admin'], (a, s) => {
    const username = str(s, 'username', a['username']);
    const pw = a['password'];
    const admin = a['is_admin'];
    if (!users.isUserRegistered(username)) {
      throw new RecordNotFoundError(UsersTable.NAME, [username], 'update', `Cannot update ${pyRepr(username)}. This user is not in the table.`);
    }
    users.update(username, {
      password: pw === undefined || pw === null ? undefined : password(s, username, pw),
      isAdmin: admin === undefined || admin === null ? undefined : pyTruthy(admin),
    });
    return null;
  });
  def('users_table.delete', 'UsersTable.delete', ['username'], [], (a, s) => {
    users.delete(str(s, 'username', a['username']));
    return null;
  });
  def('users_table.get_user', 'UsersTable.get_user', ['username'], [], (a, s) => {
    const user = users.getUser(str(s, 'username', a['username']));
    return user === undefined ? null : notSerialisable('$[2]');
  });
  def('users_table.records', 'UsersTable.records', [], [], () => (users.count() === 0 ? [] : notSerialisable('$[0][2]')));
  def('users_table.usernames', 'UsersTable.usernames', [], [], () => users.usernames());
  def('users_table.users', 'UsersTable.users', [], [], () => users.users());
  def('users_table.is_user_registered', 'UsersTable.is_user_registered', ['username'], [], (a, s) =>
    users.isUserRegistered(str(s, 'username', a['username'])),
  );
  def('users_table.is_password_valid', 'UsersTable.is_password_valid', ['username', 'password'], [], (a, s) =>
    users.isPasswordValid(str(s, 'username', a['username']), str(s, 'password', a['password'])),
  );
  def('users_table.is_admin', 'UsersTable.is_admin', ['username'], [], (a, s) => users.isAdmin(str(s, 'username', a['username'])));

  const hosts = db.hostnames;
  def('hostnames_table.insert', 'HostnamesTable.insert', ['hostname'], [], (a, s) => {
    hosts.insert(str(s, 'hostname', a['hostname']));
    return null;
  });
  def('hostnames_table.delete', 'HostnamesTable.delete', ['hostname'], [], (a, s) => {
    hosts.delete(str(s, 'hostname', a['hostname']));
    return null;
  });
  def('hostnames_table.hostnames', 'HostnamesTable.hostnames', [], [], () => hosts.hostnames());

  const conns = db.connections;
  def('connections_table.insert', 'ConnectionsTable.insert', ['peer', 'message'], [], (a, s) => {
    const peer = a['peer'];
    const p = (typeof peer === 'object' && peer !== null ? peer : {}) as Record<string, unknown>;
    const ip = p['ip_address'];
    const domain = p['domain'];
    const port = p['port'];
    if (typeof ip !== 'string' || typeof domain !== 'string' || typeof port !== 'number' || !Number.isInteger(port)) {
      throw new ArgumentTypeError(
        s.qualname,
        'peer',
        `${s.qualname}() argument 'peer' must be a dict with str 'ip_address', str 'domain' and int 'port'`,
      );
    }
    conns.insert({ ipAddress: ip, domain, port }, str(s, 'message', a['message']));
    return null;
  });
  def('connections_table.connections', 'ConnectionsTable.connections', [], ['start', 'end'], (a, s) =>
    conns.connections({ start: optionalBound(s, 'start', a['start']), end: optionalBound(s, 'end', a['end']) }),
  );
  return api;
}

/**
 * The Python exception class msl-network raises for the same failure, so the Manager can reply
 * `"<name>: <message>"` as a Python client expects: `TypeError` for {@link ArgumentTypeError} and
 * {@link EncodeError}; `ValueError` for {@link InvalidArgumentError}, {@link RecordExistsError},
 * {@link RecordNotFoundError}; `OperationalError` (sqlite3's) for {@link DatabaseError}; otherwise
 * the error's `name`.
 */
export function pythonExceptionName(err: unknown): string {
  if (err instanceof ArgumentTypeError || err instanceof EncodeError) return 'TypeError';
  if (err instanceof InvalidArgumentError || err instanceof RecordExistsError || err instanceof RecordNotFoundError) {
    return 'ValueError';
  }
  if (err instanceof DatabaseError || err instanceof ClosedError) return 'OperationalError';
  return err instanceof Error ? err.name : 'Exception';
}

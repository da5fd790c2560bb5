import { describe, it, beforeEach, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pbkdf2Sync } from 'node:crypto';
import { spawnSync, execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import {
  adminTableApi,
  localIsoSeconds,
  openDatabase,
  pythonExceptionName,
  type ManagerDatabase,
} from '../../src/manager/database.ts';
import { pyRepr } from '../../src/wire/msl-format.ts';
import {
  ArgumentTypeError,
  ClosedError,
  EncodeError,
  InvalidArgumentError,
  RecordExistsError,
  RecordNotFoundError,
} from '../../src/errors.ts';
import { localhostAliases } from '../../src/util/host.ts';

const T = { timeout: 20_000 };

let dir: string;
let db: ManagerDatabase | undefined;
let savedHome: string | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-db-'));
  savedHome = process.env['SWITCHYARD_HOME'];
  process.env['SWITCHYARD_HOME'] = join(dir, 'home');
});

afterEach(() => {
  db?.close();
  db = undefined;
  if (savedHome === undefined) delete process.env['SWITCHYARD_HOME'];
  else process.env['SWITCHYARD_HOME'] = savedHome;
  rmSync(dir, { recursive: true, force: true });
});

function open(name = 'm.sqlite3', options?: Parameters<typeof openDatabase>[1]): ManagerDatabase {
  db = openDatabase(join(dir, name), options);
  return db;
}

function expectError<E extends Error>(fn: () => unknown, cls: new (...a: never[]) => E, message: string): E {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${String(caught)}`);
  assert.equal(caught.message, message);
  return caught;
}

describe('database - schema', () => {
  it('database - creates msl-network tables with identical columns', T, () => {
    const d = open();
    assert.deepEqual(d.tables(), ['auth_hostnames', 'auth_users', 'connections']);
    assert.deepEqual(d.tableInfo('auth_users'), [
      [0, 'pid', 'INTEGER', 0, null, 1],
      [1, 'username', 'TEXT', 1, null, 0],
      [2, 'key', 'BLOB', 1, null, 0],
      [3, 'salt', 'BLOB', 1, null, 0],
      [4, 'is_admin', 'BOOLEAN', 1, null, 0],
    ]);
    assert.deepEqual(d.columnNames('connections'), ['pid', 'datetime', 'ip_address', 'domain', 'port', 'message']);
    assert.deepEqual(d.columnDatatypes('connections'), ['INTEGER', 'DATETIME', 'TEXT', 'TEXT', 'INTEGER', 'TEXT']);
    assert.deepEqual(d.columnNames('auth_hostnames'), ['hostname']);
    assert.deepEqual(d.tableInfo('no_such_table'), []);
  });

  it('database - default path is manager.sqlite3 in SWITCHYARD_HOME, directory created, WAL mode', T, () => {
    db = openDatabase();
    const expected = join(dir, 'home', 'manager.sqlite3');
    assert.equal(db.path, expected);
    assert.ok(existsSync(expected));
    db.close();
    const raw = new Database(expected, { readonly: true });
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();
  });

  it('database - :memory: opens a private in-memory database', T, () => {
    db = openDatabase(':memory:');
    assert.equal(db.path, ':memory:');
    db.users.insert('m', 'pw', false);
    assert.deepEqual(db.users.usernames(), ['m']);
    const other = openDatabase(':memory:');
    assert.deepEqual(other.users.usernames(), []);
    other.close();
  });

  it('database - close is idempotent and later calls throw ClosedError', T, () => {
    const d = open();
    d.close();
    d.close();
    assert.equal(d.closed, true);
    assert.throws(() => d.users.usernames(), ClosedError);
    db = undefined;
  });

  it('database - a file that is not SQLite fails with DatabaseError', T, () => {
    const file = join(dir, 'bad.sqlite3');
    execFileSync(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(file)}, 'x'.repeat(4096))`]);
    assert.throws(() => openDatabase(file), { code: 'SWITCHYARD_ERR_DATABASE' });
  });
});

describe('database - users', () => {
  it('users - stores PBKDF2-HMAC-SHA256 (100000 iterations) of the UTF-8 password with a 16-byte salt', T, () => {
    const d = open();
    d.users.insert('j.doe', 'pässwörd', true);
    const user = d.users.getUser('j.doe');
    assert.ok(user !== undefined);
    const [pid, name, key, salt, isAdmin] = user;
    assert.equal(pid, 1);
    assert.equal(name, 'j.doe');
    assert.equal(salt.length, 16);
    assert.equal(key.length, 32);
    assert.deepEqual(key, pbkdf2Sync(Buffer.from('pässwörd', 'utf8'), salt, 100_000, 32, 'sha256'));
    assert.equal(isAdmin, true);
    // is_admin is stored as the integer Python's sqlite3 writes for a bool; key and salt as BLOBs
    const raw = new Database(d.path, { readonly: true });
    const row = raw.prepare('SELECT typeof(key), typeof(salt), is_admin, typeof(is_admin) FROM auth_users').raw().get();
    raw.close();
    assert.deepEqual(row, ['blob', 'blob', 1, 'integer']);
  });

  it('users - password checks accept the right password only', T, async () => {
    const d = open();
    d.users.insert('a', 'right', false);
    assert.equal(d.users.isPasswordValid('a', 'right'), true);
    assert.equal(d.users.isPasswordValid('a', 'wrong'), false);
    assert.equal(d.users.isPasswordValid('nobody', 'right'), false);
    assert.equal(await d.users.verifyPassword('a', 'right'), true);
    assert.equal(await d.users.verifyPassword('a', 'Right'), false);
    assert.equal(await d.users.verifyPassword('nobody', 'right'), false);
    assert.equal(d.users.isPasswordValid('a', 'right\ud800'), false);
  });

  it('users - an unknown user costs about as much as a wrong password', T, async () => {
    const d = open();
    d.users.insert('a', 'right', false);
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
    const time = (fn: () => unknown): number => {
      const t0 = process.hrtime.bigint();
      fn();
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      wrong.push(time(() => d.users.isPasswordValid('a', 'wrong')));
      unknown.push(time(() => d.users.isPasswordValid('nobody', 'wrong')));
    }
    assert.ok(median(unknown) > median(wrong) * 0.5, `unknown ${median(unknown)} ms vs wrong ${median(wrong)} ms`);
  });

  it('users - insert, update and delete errors carry msl-network messages', T, () => {
    const d = open();
    d.users.insert('j.doe', 'pw', false);
    const dup = expectError(() => d.users.insert('j.doe', 'pw2', true), RecordExistsError, "A user with the name 'j.doe' already exists");
    assert.equal(dup.code, 'SWITCHYARD_ERR_RECORD_EXISTS');
    assert.equal(dup.key, 'j.doe');
    assert.equal(dup.table, 'auth_users');
    expectError(() => d.users.insert('x:1', 'pw', false), InvalidArgumentError, 'A username cannot end with ":<integer>"');
    expectError(() => d.users.insert('x:12\n', 'pw', false), InvalidArgumentError, 'A username cannot end with ":<integer>"');
    expectError(() => d.users.insert('x', '', false), InvalidArgumentError, "You must specify a password for 'x'");
    const nf = expectError(() => d.users.delete('ghost'), RecordNotFoundError, "Cannot delete 'ghost'. This user is not in the table.");
    assert.deepEqual(nf.keys, ['ghost']);
    assert.equal(nf.action, 'delete');
    expectError(() => d.users.update('ghost', { isAdmin: true }), RecordNotFoundError, "Cannot update 'ghost'. This user is not in the table.");
    expectError(
      () => d.users.update('j.doe', {}),
      InvalidArgumentError,
      'Must specify either the password and/or the admin rights when updating',
    );
    expectError(() => d.users.update('j.doe', { password: '' }), InvalidArgumentError, "You must specify a password for 'j.doe'");
    // allowed names: a colon not followed by only digits
    d.users.insert('a:b', 'pw', false);
    d.users.insert('host:1x', 'pw', false);
    assert.deepEqual(d.users.usernames().sort(), ['a:b', 'host:1x', 'j.doe']);
  });

  it('users - update changes password (new salt) and admin rights independently', T, () => {
    const d = open();
    d.users.insert('u', 'old', false);
    const salt1 = d.users.getUser('u')?.[3];
    d.users.update('u', { isAdmin: true });
    assert.equal(d.users.isAdmin('u'), true);
    assert.equal(d.users.isPasswordValid('u', 'old'), true);
    d.users.update('u', { password: 'new' });
    assert.equal(d.users.isAdmin('u'), true);
    assert.equal(d.users.isPasswordValid('u', 'new'), true);
    assert.equal(d.users.isPasswordValid('u', 'old'), false);
    assert.notDeepEqual(d.users.getUser('u')?.[3], salt1);
    d.users.update('u', { password: 'newer', isAdmin: false });
    assert.equal(d.users.isAdmin('u'), false);
    assert.equal(d.users.isPasswordValid('u', 'newer'), true);
    d.users.delete('u');
    assert.equal(d.users.isUserRegistered('u'), false);
    assert.equal(d.users.count(), 0);
    assert.equal(d.users.getUser('u'), undefined);
  });

  it('users - users() is sorted by code point with booleans; records() in table order', T, () => {
    const d = open();
    d.users.insert('zed', 'pw', true);
    d.users.insert('Émile', 'pw', false);
    d.users.insert('adam', 'pw', false);
    assert.deepEqual(d.users.users(), [
      ['adam', false],
      ['zed', true],
      ['Émile', false],
    ]);
    assert.deepEqual(
      d.users.records().map((r) => [r[0], r[1], r[4]]),
      [
        [1, 'zed', true],
        [2, 'Émile', false],
        [3, 'adam', false],
      ],
    );
    assert.equal(d.users.count(), 3);
    assert.equal(d.users.isAdmin('zed'), true);
    assert.equal(d.users.isAdmin('nobody'), false);
  });

  it('users - property: any well-formed password verifies and a different one does not', { timeout: 60_000 }, () => {
    const d = open();
    let n = 0;
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), (pw) => {
        const name = `user${n++}`;
        d.users.insert(name, pw, false);
        return d.users.isPasswordValid(name, pw) && !d.users.isPasswordValid(name, `${pw}x`);
      }),
      { numRuns: 15 },
    );
  });
});

describe('database - hostnames', () => {
  it('hostnames - an empty table is seeded with the localhost aliases, sorted', T, () => {
    const d = open();
    assert.deepEqual(d.hostnames.hostnames(), [...localhostAliases()].sort());
    assert.ok(d.hostnames.has('localhost'));
    assert.ok(d.hostnames.has('127.0.0.1'));
  });

  it('hostnames - insert is idempotent; delete of a missing name has msl-network message', T, () => {
    const d = open();
    const before = d.hostnames.hostnames().length;
    d.hostnames.insert('labpc');
    d.hostnames.insert('labpc');
    assert.equal(d.hostnames.hostnames().length, before + 1);
    d.hostnames.delete('labpc');
    assert.equal(d.hostnames.has('labpc'), false);
    const err = expectError(
      () => d.hostnames.delete('labpc'),
      RecordNotFoundError,
      "Cannot delete 'labpc'. This hostname is not in the table.",
    );
    assert.equal(err.table, 'auth_hostnames');
  });

  it('hostnames - reopening a database whose table was emptied seeds it again', T, () => {
    const d = open();
    for (const h of d.hostnames.hostnames()) d.hostnames.delete(h);
    assert.deepEqual(d.hostnames.hostnames(), []);
    d.close();
    const d2 = open();
    assert.ok(d2.hostnames.has('localhost'));
  });
});

describe('database - connections', () => {
  const peer = { ipAddress: '127.0.0.1', domain: 'localhost', port: 50000 };

  function rawRows(d: ManagerDatabase): unknown[] {
    const raw = new Database(d.path, { readonly: true });
    const rows = raw.prepare('SELECT * FROM connections').raw().all();
    raw.close();
    return rows;
  }

  it('connections - insert only queues; a short timer writes the queue in one go', T, async () => {
    const d = open('c.sqlite3', { flushDelayMs: 20 });
    d.connections.insert(peer, 'new connection request');
    d.connections.insert(peer, 'connected as a client');
    assert.equal(d.connections.pending, 2);
    assert.deepEqual(rawRows(d), []);
    const deadline = Date.now() + 5000;
    while (d.connections.pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(d.connections.pending, 0);
    assert.equal(d.connections.written, 2);
    const rows = rawRows(d) as unknown[][];
    assert.deepEqual(
      rows.map((r) => [r[0], r[2], r[3], r[4], r[5]]),
      [
        [1, '127.0.0.1', 'localhost', 50000, 'new connection request'],
        [2, '127.0.0.1', 'localhost', 50000, 'connected as a client'],
      ],
    );
    assert.match(String(rows[0]?.[1]), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
  });

  it('connections - datetime is local time to the second, like msl-network', T, () => {
    const d = open();
    const before = localIsoSeconds(new Date());
    d.connections.insert(peer, 'disconnected');
    const after = localIsoSeconds(new Date());
    const [row] = d.connections.connections();
    assert.ok(row !== undefined);
    assert.ok(row[1] >= before && row[1] <= after, `${row[1]} not within ${before}..${after}`);
    assert.equal(localIsoSeconds(new Date(2024, 0, 2, 3, 4, 5, 678)), '2024-01-02T03:04:05');
  });

  it('connections - a full queue drops the oldest rows and counts them', T, () => {
    const d = open('q.sqlite3', { connectionQueueLimit: 3, flushDelayMs: 60_000 });
    for (let i = 0; i < 5; i++) d.connections.insert(peer, `m${i}`);
    assert.equal(d.connections.pending, 3);
    assert.equal(d.connections.dropped, 2);
    assert.equal(d.connections.flush(), 3);
    assert.deepEqual(
      d.connections.connections().map((r) => r[5]),
      ['m2', 'm3', 'm4'],
    );
  });

  it('connections - close flushes; inserts after close are counted as dropped', T, () => {
    const d = open('f.sqlite3', { flushDelayMs: 60_000 });
    d.connections.insert(peer, 'a');
    d.close();
    d.connections.insert(peer, 'late');
    assert.equal(d.connections.dropped, 1);
    const again = openDatabase(d.path);
    assert.deepEqual(
      again.connections.connections().map((r) => r[5]),
      ['a'],
    );
    again.close();
    db = undefined;
  });

  it('connections - start/end bounds are inclusive and accept Date and ISO strings', T, () => {
    const d = open();
    const raw = new Database(d.path);
    const ins = raw.prepare('INSERT INTO connections VALUES(NULL, ?, ?, ?, ?, ?)');
    for (const t of ['2023-01-01T00:00:00', '2023-01-01T12:30:00', '2023-01-02T00:00:00', '2023-01-03T08:00:00']) {
      ins.run(t, '10.0.0.1', 'h', 1, t);
    }
    raw.close();
    const msgs = (q: Parameters<ManagerDatabase['connections']['connections']>[0]): string[] =>
      d.connections.connections(q).map((r) => r[5]);
    assert.equal(msgs({}).length, 4);
    assert.deepEqual(msgs({ start: '2023-01-02' }), ['2023-01-02T00:00:00', '2023-01-03T08:00:00']);
    assert.deepEqual(msgs({ end: '2023-01-02' }), ['2023-01-01T00:00:00', '2023-01-01T12:30:00', '2023-01-02T00:00:00']);
    assert.deepEqual(msgs({ start: '2023-01-01T12:30:00', end: '2023-01-02T00:00:00' }), [
      '2023-01-01T12:30:00',
      '2023-01-02T00:00:00',
    ]);
    assert.deepEqual(msgs({ start: new Date(2023, 0, 1, 12, 30, 0), end: new Date(2023, 0, 1, 12, 30, 0) }), ['2023-01-01T12:30:00']);
    assert.deepEqual(msgs({ start: '2023-01-01 12:30:00.5' }), ['2023-01-02T00:00:00', '2023-01-03T08:00:00']);
    const zoned = new Date(Date.UTC(2023, 0, 2, 0, 0, 0));
    assert.deepEqual(msgs({ start: '2023-01-02T00:00:00Z' }), msgs({ start: zoned }));
    expectError(
      () => d.connections.connections({ start: 'yesterday' }),
      InvalidArgumentError,
      "Invalid start 'yesterday': use the yyyy-mm-dd or yyyy-mm-ddTHH:MM:SS format",
    );
  });

  it('connections - property: bounds select exactly the rows between them', { timeout: 60_000 }, () => {
    const d = open();
    const raw = new Database(d.path);
    const ins = raw.prepare('INSERT INTO connections VALUES(NULL, ?, ?, ?, ?, ?)');
    const base = new Date(2024, 5, 1).getTime();
    const stamps: string[] = [];
    for (let i = 0; i < 60; i++) {
      const t = localIsoSeconds(new Date(base + ((i * 7919) % 200) * 3_600_000 + i * 1000));
      stamps.push(t);
      ins.run(t, '10.0.0.1', 'h', i, `row${i}`);
    }
    raw.close();
    const hours = fc.integer({ min: -10, max: 210 });
    fc.assert(
      fc.property(hours, hours, fc.boolean(), (a, b, asString) => {
        const start = new Date(base + Math.min(a, b) * 3_600_000);
        const end = new Date(base + Math.max(a, b) * 3_600_000);
        const s = localIsoSeconds(start);
        const e = localIsoSeconds(end);
        const got = d.connections.connections(asString ? { start: s, end: e } : { start, end }).map((r) => r[1]);
        const want = stamps.filter((t) => t >= s && t <= e);
        assert.deepEqual([...got].sort(), [...want].sort());
      }),
      { numRuns: 100 },
    );
  });
});

describe('database - admin API', () => {
  it('admin - exposes every public table method under its Python name', T, () => {
    const api = adminTableApi(open());
    const names = Object.keys(api).sort();
    for (const n of [
      'users_table.insert',
      'users_table.update',
      'users_table.delete',
      'users_table.get_user',
      'users_table.records',
      'users_table.usernames',
      'users_table.users',
      'users_table.is_user_registered',
      'users_table.is_password_valid',
      'users_table.is_admin',
      'users_table.tables',
      'users_table.table_info',
      'users_table.column_names',
      'users_table.column_datatypes',
      'users_table.path',
      'users_table.NAME',
      'hostnames_table.insert',
      'hostnames_table.delete',
      'hostnames_table.hostnames',
      'connections_table.insert',
      'connections_table.connections',
    ]) {
      assert.ok(names.includes(n), `missing ${n}`);
    }
    for (const forbidden of ['users_table.execute', 'users_table.close', 'users_table.cursor', 'users_table.connection']) {
      assert.equal(names.includes(forbidden), false, `${forbidden} must not be exposed`);
    }
  });

  it('admin - results match what the Python Manager replies', T, () => {
    const d = open();
    const api = adminTableApi(d);
    const call = (name: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}): unknown => {
      const fn = api[name];
      assert.ok(fn !== undefined, name);
      return JSON.parse(JSON.stringify(fn(args, kwargs)));
    };
    assert.equal(call('users_table.insert', ['j.doe', 'pw', 1]), null);
    assert.equal(call('users_table.insert', ['a.smith'], { password: 'pw2', is_admin: false }), null);
    assert.deepEqual(call('users_table.users'), [
      ['a.smith', false],
      ['j.doe', true],
    ]);
    assert.equal(call('users_table.is_user_registered', ['j.doe']), true);
    assert.equal(call('users_table.is_password_valid', ['j.doe', 'pw']), true);
    assert.equal(call('users_table.is_admin', ['a.smith']), false);
    assert.equal(call('users_table.update', ['a.smith'], { is_admin: true }), null);
    assert.equal(call('users_table.is_admin', ['a.smith']), true);
    assert.equal(call('users_table.get_user', ['ghost']), null);
    assert.equal(call('users_table.delete', ['a.smith']), null);
    assert.deepEqual(call('users_table.usernames'), ['j.doe']);
    assert.equal(call('users_table.NAME', [1, 2]), 'auth_users');
    assert.equal(call('connections_table.path'), d.path);
    assert.deepEqual(call('users_table.tables'), ['auth_hostnames', 'auth_users', 'connections']);
    assert.deepEqual(call('hostnames_table.column_names', ['auth_hostnames']), ['hostname']);
    assert.equal(call('hostnames_table.insert', ['labpc']), null);
    assert.ok((call('hostnames_table.hostnames') as string[]).includes('labpc'));
    assert.equal(call('hostnames_table.delete', ['labpc']), null);
    assert.equal(call('connections_table.insert', [{ ip_address: '10.1.2.3', domain: 'x', port: 7 }, 'hello']), null);
    const rows = call('connections_table.connections', [], { start: '2000-01-01', end: null }) as unknown[][];
    assert.deepEqual(rows.map((r) => [r[0], r[2], r[3], r[4], r[5]]), [[1, '10.1.2.3', 'x', 7, 'hello']]);
    assert.deepEqual(call('connections_table.connections', [], { start: '2999-01-01' }), []);
  });

  it('admin - wrong calls raise the TypeError texts of Python 3.11', T, () => {
    const api = adminTableApi(open());
    // Each expected text was produced by msl-network's own UsersTable on CPython 3.11.
    const cases: Array<[string, unknown[], Record<string, unknown>, string]> = [
      ['users_table.insert', ['b'], {}, "UsersTable.insert() missing 2 required positional arguments: 'password' and 'is_admin'"],
      ['users_table.insert', [], {}, "UsersTable.insert() missing 3 required positional arguments: 'username', 'password', and 'is_admin'"],
      ['users_table.usernames', [1], {}, 'UsersTable.usernames() takes 1 positional argument but 2 were given'],
      ['users_table.update', ['a', 'x'], {}, 'UsersTable.update() takes 2 positional arguments but 3 were given'],
      [
        'users_table.update',
        ['a', 'x'],
        { is_admin: true },
        'UsersTable.update() takes 2 positional arguments but 3 positional arguments (and 1 keyword-only argument) were given',
      ],
      ['users_table.insert', ['a', 'b', true], { foo: 1 }, "UsersTable.insert() got an unexpected keyword argument 'foo'"],
      ['users_table.insert', ['a', 'b', true], { username: 1 }, "UsersTable.insert() got multiple values for argument 'username'"],
      ['connections_table.connections', [1], {}, 'ConnectionsTable.connections() takes 1 positional argument but 2 were given'],
      ['users_table.tables', [1], {}, 'Database.tables() takes 1 positional argument but 2 were given'],
      ['users_table.table_info', [], {}, "Database.table_info() missing 1 required positional argument: 'name'"],
    ];
    for (const [name, args, kwargs, message] of cases) {
      const err = expectError(() => api[name]?.(args, kwargs), ArgumentTypeError, message);
      assert.equal(err.code, 'SWITCHYARD_ERR_INVALID_ARGUMENT');
      assert.equal(pythonExceptionName(err), 'TypeError');
    }
  });

  it('admin - ValueErrors and unserialisable records match Python', T, () => {
    const d = open();
    const api = adminTableApi(d);
    const insert = api['users_table.insert'];
    assert.ok(insert);
    const e1 = expectError(() => insert(['a"\'', '', 1], {}), InvalidArgumentError, "You must specify a password for 'a\"\\''");
    assert.equal(pythonExceptionName(e1), 'ValueError');
    insert(['u', 'pw', false], {});
    const e2 = expectError(() => insert(['u', 'pw', false], {}), RecordExistsError, "A user with the name 'u' already exists");
    assert.equal(pythonExceptionName(e2), 'ValueError');
    const e3 = expectError(() => api['users_table.records']?.([], {}), EncodeError, 'Object of type bytes is not JSON serializable');
    assert.equal(pythonExceptionName(e3), 'TypeError');
    expectError(() => api['users_table.get_user']?.(['u'], {}), EncodeError, 'Object of type bytes is not JSON serializable');
    d.users.delete('u');
    assert.deepEqual(api['users_table.records']?.([], {}), []);
    expectError(
      () => api['users_table.update']?.(['ghost'], { is_admin: true }),
      RecordNotFoundError,
      "Cannot update 'ghost'. This user is not in the table.",
    );
    expectError(() => insert([5, 'x', 1], {}), ArgumentTypeError, "UsersTable.insert() argument 'username' must be str, not int");
  });

  it('admin - pyRepr quotes like Python', T, () => {
    assert.equal(pyRepr('j.doe'), "'j.doe'");
    assert.equal(pyRepr("it's"), '"it\'s"');
    assert.equal(pyRepr('a"\''), "'a\"\\''");
    assert.equal(pyRepr('tab\there\n'), "'tab\\there\\n'");
    assert.equal(pyRepr('back\\slash'), "'back\\\\slash'");
  });
});

// ---------------------------------------------------------------------------------------------
// Interoperability with msl-network's own Python UsersTable

function mslSource(): { path?: string; reason?: string; extracted?: boolean } {
  const py = spawnSync('python3', ['-c', 'import cryptography'], { encoding: 'utf8' });
  if (py.error !== undefined || py.status !== 0) return { reason: 'python3 with the cryptography package is not available' };
  const env = process.env['MSL_NETWORK_SRC'];
  if (env !== undefined && env !== '' && existsSync(join(env, 'msl', 'network', 'database.py'))) return { path: env };
  const gitDir = '/work/.mirror/MSLNZ+msl-network/repo';
  if (!existsSync(gitDir)) return { reason: 'neither MSL_NETWORK_SRC nor the msl-network mirror is available' };
  const out = mkdtempSync(join(tmpdir(), 'switchyard-msl-'));
  const r = spawnSync('sh', ['-c', `git --git-dir=${gitDir} archive HEAD msl | tar -x -C ${out}`]);
  if (r.status !== 0) return { reason: `cannot extract msl-network: ${r.stderr.toString()}` };
  return { path: out, extracted: true };
}

const msl = mslSource();
after(() => {
  if (msl.extracted === true && msl.path !== undefined) rmSync(msl.path, { recursive: true, force: true });
});

function python(code: string, args: string[]): string {
  const r = spawnSync('python3', ['-c', code, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: msl.path ?? '' },
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

describe('database - msl-network interoperability', { skip: msl.reason === undefined ? false : msl.reason }, () => {
  it('interop - users written by Switchyard are accepted by msl-network UsersTable', { timeout: 60_000 }, () => {
    const d = open('ours.sqlite3');
    d.users.insert('j.doe', 'a good pässword', false);
    d.users.insert('admin', 'secret', true);
    d.connections.insert({ ipAddress: '127.0.0.1', domain: 'localhost', port: 1 }, 'new connection request');
    d.close();
    const out = python(
      [
        'import sys, json',
        'from msl.network.database import UsersTable, HostnamesTable, ConnectionsTable',
        'u = UsersTable(database=sys.argv[1])',
        'c = ConnectionsTable(database=sys.argv[1])',
        'h = HostnamesTable(database=sys.argv[1])',
        'print(json.dumps([u.is_password_valid("j.doe", "a good pässword"), u.is_password_valid("j.doe", "nope"),',
        '  u.is_password_valid("admin", "secret"), u.users(), [list(r[3:]) for r in c.connections()], "localhost" in h.hostnames()]))',
      ].join('\n'),
      [d.path],
    );
    assert.deepEqual(JSON.parse(out), [
      true,
      false,
      true,
      [
        ['admin', true],
        ['j.doe', false],
      ],
      [['localhost', 1, 'new connection request']],
      true,
    ]);
  });

  it('interop - users written by msl-network are accepted by Switchyard', { timeout: 60_000 }, async () => {
    const file = join(dir, 'theirs.sqlite3');
    python(
      [
        'import sys',
        'from msl.network.database import UsersTable, HostnamesTable, ConnectionsTable',
        'ConnectionsTable(database=sys.argv[1]); HostnamesTable(database=sys.argv[1])',
        'u = UsersTable(database=sys.argv[1])',
        'u.insert("py.user", "PyPäss word", True)',
        'u.insert("other", "x", False)',
      ].join('\n'),
      [file],
    );
    db = openDatabase(file);
    assert.equal(db.users.isPasswordValid('py.user', 'PyPäss word'), true);
    assert.equal(await db.users.verifyPassword('py.user', 'PyPäss word'), true);
    assert.equal(db.users.isPasswordValid('py.user', 'pypäss word'), false);
    assert.deepEqual(db.users.users(), [
      ['other', false],
      ['py.user', true],
    ]);
    // and the other way round once more: update with ours, check with Python
    db.users.update('other', { password: 'changed' });
    db.close();
    db = undefined;
    const ok = python(
      'import sys\nfrom msl.network.database import UsersTable\nprint(UsersTable(database=sys.argv[1]).is_password_valid("other", "changed"))',
      [file],
    );
    assert.equal(ok, 'True');
  });
});

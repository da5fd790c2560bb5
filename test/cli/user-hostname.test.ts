import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { freshHomeEachTest } from '../helpers/index.ts';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Command, CommanderError } from 'commander';
import { registerUser } from '../../src/cli/user.ts';
import { registerHostname } from '../../src/cli/hostname.ts';
import { openDatabase } from '../../src/manager/database.ts';
import { InvalidArgumentError, RecordExistsError, RecordNotFoundError } from '../../src/errors.ts';
import { localhostAliases } from '../../src/util/host.ts';

const T = { timeout: 30_000 };

const tempOf = freshHomeEachTest('switchyard-cli-');
let dir: string;
beforeEach(() => {
  dir = tempOf();
});

interface Run {
  out: string;
  err: string;
  error: unknown;
}

/** Runs `switchyard <args>` in-process with only the user and hostname commands; output arrives through `writeOut`. */
async function cli(...args: string[]): Promise<Run> {
  const result: Run = { out: '', err: '', error: undefined };
  const program = new Command('switchyard').exitOverride();
  program.configureOutput({ writeOut: (s) => (result.out += s), writeErr: (s) => (result.err += s) });
  registerUser(program);
  registerHostname(program);
  try {
    await program.parseAsync(['node', 'switchyard', ...args]);
  } catch (err) {
    result.error = err;
  }
  return result;
}

const dbPath = (): string => join(dir, 'home', 'manager.sqlite3');

describe('cli user', () => {
  it('user - add, list, update, remove print msl-network messages', T, async () => {
    assert.equal((await cli('user', 'list')).out, 'There are no users in the database\n');
    assert.equal((await cli('user', 'add', 'j.doe', '--password', 'a', 'good', 'password')).out, 'j.doe has been added\n');
    assert.equal((await cli('user', 'insert', 'a.smith', '-p', '!PaSsWoRd*', '--admin')).out, 'a.smith has been inserted\n');
    assert.equal(
      (await cli('user', 'list')).out,
      `Users in ${dbPath()}\n\n` +
        'Username Administrator\n' +
        '======== =============\n' +
        'a.smith  True\n' +
        'j.doe    False\n',
    );
    assert.equal((await cli('user', 'update', 'j.doe', '--admin')).out, 'Updated j.doe\n');
    assert.equal((await cli('user', 'update', 'a.smith')).out, 'Updated a.smith\n');
    const db = openDatabase(dbPath());
    try {
      assert.deepEqual(db.users.users(), [
        ['a.smith', false],
        ['j.doe', true],
      ]);
      assert.equal(db.users.isPasswordValid('j.doe', 'a good password'), true);
      assert.equal(db.users.isPasswordValid('a.smith', '!PaSsWoRd*'), true);
    } finally {
      db.close();
    }
    assert.equal((await cli('user', 'remove', 'j.doe')).out, 'j.doe has been removed\n');
    assert.equal((await cli('user', 'delete', 'a.smith')).out, 'a.smith has been deleted\n');
    assert.equal((await cli('user', 'list')).out, 'There are no users in the database\n');
  });

  it('user - the list is as wide as the longest name', T, async () => {
    await cli('user', 'add', 'a.very.long.username', '-p', 'x');
    assert.equal(
      (await cli('user', 'list')).out,
      `Users in ${dbPath()}\n\n` +
        'Username             Administrator\n' +
        '==================== =============\n' +
        'a.very.long.username False\n',
    );
  });

  it('user - a password file supplies its first line, and the password is never printed', T, async () => {
    const file = join(dir, 'pw.txt');
    writeFileSync(file, '  s3cret words  \nsecond line\n');
    const r = await cli('user', 'add', 'u', '--password', file);
    assert.equal(r.out, 'Reading the password from the file\nu has been added\n');
    const db = openDatabase(dbPath());
    try {
      assert.equal(db.users.isPasswordValid('u', 's3cret words'), true);
    } finally {
      db.close();
    }
    const r2 = await cli('user', 'update', 'u', '-p', 'Hunter2', 'x');
    assert.equal(r2.out, 'Updated u\n');
    assert.doesNotMatch(r2.out + r2.err, /Hunter2/);
  });

  it('user - errors are thrown as coded errors with msl-network texts', T, async () => {
    await cli('user', 'add', 'j.doe', '-p', 'pw');
    const cases: Array<[string[], new (...a: never[]) => Error, string]> = [
      [['user', 'add', 'j.doe', '-p', 'pw'], RecordExistsError, "A user with the name 'j.doe' already exists"],
      [['user', 'add'], InvalidArgumentError, 'You must specify a username to add'],
      [['user', 'update'], InvalidArgumentError, 'You must specify a username to update'],
      [['user', 'add', 'new'], InvalidArgumentError, "You must specify a password for 'new'"],
      [['user', 'add', 'host:5', '-p', 'x'], InvalidArgumentError, 'A username cannot end with ":<integer>"'],
      [['user', 'remove', 'ghost'], RecordNotFoundError, "Cannot remove 'ghost'. This user is not in the table."],
      [['user', 'delete', 'ghost'], RecordNotFoundError, "Cannot delete 'ghost'. This user is not in the table."],
      [['user', 'update', 'ghost', '-a'], RecordNotFoundError, "Cannot update 'ghost'. This user is not in the table."],
    ];
    for (const [args, cls, message] of cases) {
      const r = await cli(...args);
      assert.ok(r.error instanceof cls, `${args.join(' ')}: ${String(r.error)}`);
      assert.equal(r.error.message, message);
      assert.equal(r.out, '');
    }
  });

  it('user - an unknown action is a usage error from the parser', T, async () => {
    const r = await cli('user', 'rename', 'x');
    assert.ok(r.error instanceof CommanderError);
    assert.equal(r.error.code, 'commander.invalidArgument');
    assert.match(r.err, /Allowed choices are insert, add, remove, delete, update, list/);
  });

  it('user - --database selects another file, creating its directory', T, async () => {
    const other = join(dir, 'nested', 'deeper', 'users.db');
    assert.equal((await cli('user', 'add', 'x', '-p', 'y', '-d', other)).out, 'x has been added\n');
    assert.ok(existsSync(other));
    assert.equal(existsSync(dbPath()), false);
    assert.match((await cli('user', 'list', '--database', other)).out, new RegExp(`^Users in ${other.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`));
  });
});

describe('cli hostname', () => {
  it('hostname - list shows the seeded localhost aliases', T, async () => {
    const r = await cli('hostname', 'list');
    const names = [...localhostAliases()].sort();
    assert.equal(r.out, `Trusted devices in ${dbPath()}\n\nHostnames:\n${names.map((n) => `  ${n}\n`).join('')}`);
  });

  it('hostname - add and remove print one line per name', T, async () => {
    assert.equal((await cli('hostname', 'add', 'TheHostname', 'OtherHostname')).out, 'Added TheHostname\nAdded OtherHostname\n');
    assert.equal((await cli('hostname', 'insert', 'third')).out, 'Inserted third\n');
    assert.equal((await cli('hostname', 'remove', 'OtherHostname')).out, 'Removed OtherHostname\n');
    assert.equal((await cli('hostname', 'delete', 'third')).out, 'Deleted third\n');
    const list = (await cli('hostname', 'list')).out;
    assert.match(list, /\n {2}TheHostname\n/);
    assert.doesNotMatch(list, /OtherHostname|third/);
  });

  it('hostname - no names is reported, not an error', T, async () => {
    assert.deepEqual(await cli('hostname', 'add'), { out: 'No hostnames were added\n', err: '', error: undefined });
    assert.deepEqual(await cli('hostname', 'insert'), { out: 'No hostnames were inserted\n', err: '', error: undefined });
    assert.deepEqual(await cli('hostname', 'remove'), { out: 'No hostnames were removed\n', err: '', error: undefined });
    assert.deepEqual(await cli('hostname', 'delete'), { out: 'No hostnames were deleted\n', err: '', error: undefined });
  });

  it('hostname - removing unknown names removes the rest, then fails naming each unknown one', T, async () => {
    await cli('hostname', 'add', 'keep', 'gone');
    const r = await cli('hostname', 'remove', 'ghost1', 'gone', 'ghost2');
    assert.equal(r.out, 'Removed gone\n');
    assert.ok(r.error instanceof RecordNotFoundError);
    assert.equal(
      r.error.message,
      "Cannot remove 'ghost1'. This hostname is not in the table.\nCannot remove 'ghost2'. This hostname is not in the table.",
    );
    assert.deepEqual(r.error.keys, ['ghost1', 'ghost2']);
    assert.equal(r.error.action, 'remove');
  });

  it('hostname - --database selects another file', T, async () => {
    const other = join(dir, 'h.db');
    await cli('hostname', 'add', 'only-there', '-d', other);
    assert.doesNotMatch((await cli('hostname', 'list')).out, /only-there/);
    assert.match((await cli('hostname', 'list', '-d', other)).out, /\n {2}only-there\n/);
  });
});

describe('cli - the switchyard executable', () => {
  const bin = new URL('../../bin/switchyard.js', import.meta.url).pathname;
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [bin, ...args], {
      encoding: 'utf8',
      env: { ...process.env, SWITCHYARD_HOME: join(dir, 'home') },
      timeout: 30_000,
    });

  it('bin - errors go to stderr as "switchyard: <message>" with exit status 1', { timeout: 60_000 }, () => {
    const bad = run('user', 'remove', 'ghost');
    assert.equal(bad.status, 1);
    assert.equal(bad.stdout, '');
    assert.equal(bad.stderr, "switchyard: Cannot remove 'ghost'. This user is not in the table.\n");
    const good = run('user', 'add', 'j.doe', '-p', 'pw');
    assert.equal(good.status, 0, good.stderr);
    assert.equal(good.stdout, 'j.doe has been added\n');
    assert.equal(good.stderr, '');
  });
});

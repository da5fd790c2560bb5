/**
 * Every error text of msl-network §2.4–2.7 that a Python client shows to users, and the admin
 * attributes Python clients read, checked with raw msl-network peers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HOSTNAME } from '../../src/util/host.ts';
import { RawPeer, startTestManager, useTempHome } from '../helpers/index.ts';

useTempHome();

const req = (service: string, attribute: string, args: unknown[], uid: string, kwargs: Record<string, unknown> = {}): string =>
  JSON.stringify({ service, attribute, args, kwargs, uid, error: false }) + '\r\n';
const answer = (value: unknown): string => JSON.stringify({ result: value }) + '\r\n';

describe('error texts', { timeout: 30_000 }, () => {
  test('texts - identities without a name, type or attributes are refused', async () => {
    const m = await startTestManager();
    try {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ type: 'client' }, "KeyError: 'name'"],
        [{ name: 'x' }, "KeyError: 'type'"],
        [{ type: 'service', name: 'S' }, "KeyError: 'attributes'"],
        [{ type: 'Printer', name: 'P' }, 'TypeError: Unknown connection type \'printer\'. Must be "client" or "service"'],
      ];
      for (const [identity, message] of cases) {
        const p = await RawPeer.connect(m.port);
        await p.identify(identity);
        const e = await p.next();
        assert.equal(e['message'], message);
        assert.equal(e['requester'], m.networkName);
        assert.equal(e['uid'], '');
        await p.eof();
      }
      // Terminal users may identify with "client <name>".
      const t = await RawPeer.connect(m.port);
      await t.nextLine();
      t.send('client Terminal User\r\n');
      t.send('identity\r\n');
      const ident = await t.next();
      assert.ok(Object.keys((ident['result'] as { clients: object }).clients).includes(`Terminal User[${HOSTNAME}:${t.localPort}]`));
      t.close();
    } finally {
      await m.close();
    }
  });

  test('texts - lock errors name the service and the client', async () => {
    const m = await startTestManager();
    try {
      const s = await RawPeer.connect(m.port);
      await s.identify({ type: 'service', name: 'Svc', attributes: {} });
      const c = await RawPeer.connect(m.port);
      await c.identify({ type: 'client', name: 'C' });
      const me = `C[${HOSTNAME}:${c.localPort}]`;
      c.send(req('Manager', 'acquire_lock', ['Nope'], 'a', { shared: true }));
      assert.equal((await c.next())['message'], `KeyError: "'Nope' service does not exist, ${me} cannot acquire a lock"`);
      c.send(req('Manager', 'acquire_lock', ['Svc'], 'b', { shared: true }));
      assert.equal((await c.next())['message'], `PermissionError: ${me} cannot acquire a lock because it is not linked with the 'Svc' service`);
      c.send(req('Manager', 'release_lock', ['Nope'], 'c'));
      assert.equal((await c.next())['message'], `KeyError: "'Nope' service does not exist, ${me} cannot release the lock"`);
      c.send(req('Manager', 'release_lock', ['Svc'], 'd'));
      const released = await c.next();
      assert.equal(released['error'], false);
      assert.deepEqual(released['result'], []);
      c.send(req('Manager', 'unlink', ['Gone'], 'e'));
      assert.equal((await c.next())['result'], true, 'unlinking from a service that is gone is not an error');
      for (const p of [s, c]) p.close();
    } finally {
      await m.close();
    }
  });

  test('texts - a registered non-admin is told admin requests need an administrator', async () => {
    const m = await startTestManager({ users: [['user', 'user-pw', false]] });
    try {
      const c = await RawPeer.connect(m.port);
      await c.identify({ type: 'client', name: 'Plain' });
      c.send(req('Manager', 'users_table.usernames', [], 'adm'));
      const u = await c.next();
      assert.equal(u['attribute'], 'username');
      assert.deepEqual(u['args'], [m.networkName]);
      c.send(answer('user'));
      const p = await c.next();
      assert.equal(p['attribute'], 'password');
      assert.deepEqual(p['args'], ['user']);
      c.send(answer('user-pw'));
      const e = await c.next();
      assert.equal(e['message'], 'ValueError: You must be an administrator to send this request to the Manager');
      assert.equal(e['uid'], 'adm');
      // The connection stays open for ordinary requests.
      c.send(req('Manager', 'identity', [], 'still-here'));
      assert.equal((await c.next())['uid'], 'still-here');
      c.close();
    } finally {
      await m.close();
    }
  });

  test('texts - admin attributes Python clients read', async () => {
    const m = await startTestManager({ authLogin: true, users: [['root', 'toor', true]] });
    try {
      const c = await RawPeer.connect(m.port);
      await c.nextLine();
      c.send(answer('root'));
      await c.nextLine();
      c.send(answer('toor'));
      await c.identify({ type: 'client', name: 'Admin' });
      const ask = async (attribute: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}): Promise<Record<string, unknown>> => {
        c.send(req('Manager', attribute, args, `q-${attribute}`, kwargs));
        const r = await c.next();
        assert.equal(r['uid'], `q-${attribute}`);
        return r;
      };
      assert.equal((await ask('port'))['result'], m.port);
      assert.equal((await ask('password'))['result'], null);
      assert.equal((await ask('login'))['result'], true);
      assert.equal((await ask('hostnames'))['result'], null);
      assert.equal((await ask('set_logging_level', ['DEBUG']))['result'], true);
      assert.equal((await ask('set_logging_level', ['LOUD']))['result'], false);
      assert.equal((await ask('hostnames_table.insert', ['lab-pc']))['error'], false);
      assert.ok(((await ask('hostnames_table.hostnames'))['result'] as string[]).includes('lab-pc'));
      assert.equal((await ask('users_table.insert', ['ann', 'pw'], { is_admin: false }))['error'], false);
      assert.deepEqual((await ask('users_table.users'))['result'], [['ann', false], ['root', true]]);
      assert.equal((await ask('users_table.is_user_registered', ['ann']))['result'], true);
      const rows = (await ask('connections_table.connections'))['result'] as unknown[][];
      assert.ok(rows.some((r) => r[5] === 'connected as a client'));
      const bad = await ask('users_table.insert', ['x']);
      assert.equal(bad['message'], "TypeError: UsersTable.insert() missing 2 required positional arguments: 'password' and 'is_admin'");
      // Errors of the table API keep their Python class names (as msl-network raises them).
      const again = await ask('users_table.insert', ['ann', 'pw'], { is_admin: false });
      assert.match(String(again['message']), /^ValueError: /);
      const missing = await ask('users_table.delete', ['nobody-here']);
      assert.match(String(missing['message']), /^ValueError: /);
      // msl-network raises ValueError for a bad value (it was TypeError here once).
      const noPassword = await ask('users_table.update', ['ann']);
      assert.equal(noPassword['message'], 'ValueError: Must specify either the password and/or the admin rights when updating');
      const nope = await ask('users_table.execute', ['DROP TABLE auth_users']);
      assert.equal(nope['error'], true, 'raw SQL is not reachable');
      c.close();
    } finally {
      await m.close();
    }
  });

  test('texts - NaN and Infinity pass through unchanged (transcript 24)', async () => {
    const m = await startTestManager();
    try {
      const s = await RawPeer.connect(m.port);
      await s.identify({ type: 'service', name: 'RawAdd', attributes: { add: '(a, b)' } });
      const c = await RawPeer.connect(m.port);
      await c.identify({ type: 'client', name: 'Owner' });
      c.send(req('Manager', 'link', ['RawAdd'], 'l'));
      await c.next();
      c.send('{"service": "RawAdd", "attribute": "add", "args": [NaN, Infinity], "kwargs": {}, "uid": "nan", "error": false}\r\n');
      const fwd = await s.nextLine();
      assert.equal(fwd, `{"service": "RawAdd", "attribute": "add", "args": [NaN, Infinity], "kwargs": {}, "uid": "nan", "error": false, "requester": "Owner[${HOSTNAME}:${c.localPort}]"}\r\n`);
      s.send(`{"error": false, "result": NaN, "requester": "Owner[${HOSTNAME}:${c.localPort}]", "uid": "nan"}\r\n`);
      assert.equal(await c.nextLine(), `{"error": false, "result": NaN, "requester": "Owner[${HOSTNAME}:${c.localPort}]", "uid": "nan"}\r\n`);
      for (const p of [s, c]) p.close();
    } finally {
      await m.close();
    }
  });
});

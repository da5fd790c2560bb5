/**
 * What msl-network gets wrong, and Switchyard fixes (reference §2.12; transcript §21–23). Each
 * test pins the Switchyard behaviour with raw peers speaking msl-network's JSON lines.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect } from '../../src/client/client.ts';
import { RemoteError } from '../../src/errors.ts';
import { HOSTNAME } from '../../src/util/host.ts';
import { Service } from '../../src/service/service.ts';
import { RawPeer, startTestManager, useTempHome, within } from '../helpers/index.ts';

useTempHome();

const req = (service: string, attribute: string, args: unknown[], uid: string, kwargs: Record<string, unknown> = {}): string =>
  JSON.stringify({ service, attribute, args, kwargs, uid, error: false }) + '\r\n';

describe('manager fixes', { timeout: 30_000 }, () => {
  let m: Awaited<ReturnType<typeof startTestManager>>;
  before(async () => {
    m = await startTestManager({ maxMessageSize: 64 * 1024 });
  });
  after(async () => {
    await m.close();
  });

  async function service(name: string, maxClients = -1): Promise<RawPeer> {
    const s = await RawPeer.connect(m.port);
    await s.identify({ type: 'service', name, attributes: { add: '(a, b)' }, max_clients: maxClients });
    return s;
  }
  async function client(name: string): Promise<RawPeer> {
    const c = await RawPeer.connect(m.port);
    await c.identify({ type: 'client', name });
    return c;
  }

  test('fixes - a request from a client that is not linked is refused, the service never sees it', async () => {
    const s = await service('Locked1', 1);
    const owner = await client('Owner');
    owner.send(req('Manager', 'link', ['Locked1'], 'o-link'));
    assert.equal((await owner.next())['uid'], 'o-link');
    owner.send(req('Manager', 'acquire_lock', ['Locked1'], 'o-lock', { shared: false }));
    assert.deepEqual((await owner.next())['result'], [`Owner[${HOSTNAME}:${owner.localPort}]`]);
    const intruder = await client('Intruder');
    intruder.send(req('Manager', 'link', ['Locked1'], 'i-link'));
    const refused = await intruder.next();
    assert.equal(refused['message'], "PermissionError: 'Locked1' service is locked");
    intruder.send(req('Locked1', 'add', [5, 5], 'i-req'));
    const err = await intruder.next();
    assert.equal(err['error'], true);
    assert.equal(err['uid'], 'i-req');
    assert.match(String(err['message']), /^PermissionError: Intruder\[.+:\d+\] cannot send a request to 'Locked1': the 'Locked1' service is locked by another client$/);
    assert.equal(await s.silent(), true, 'the service received a request it should not have');
    for (const p of [s, owner, intruder]) p.close();
  });

  test('fixes - replies and notifications are accepted only from the service they belong to', async () => {
    const s = await service('Victim');
    const other = await service('Other');
    const owner = await client('Owner2');
    const forger = await client('Forger');
    owner.send(req('Manager', 'link', ['Victim'], 'l'));
    await owner.next();
    owner.send(req('Victim', 'add', [1, 2], 'pending-1'));
    const forwarded = await s.next();
    const requester = String(forwarded['requester']);
    // A client forges the reply and a notification.
    forger.send(JSON.stringify({ error: false, result: 'forged reply', requester, uid: 'pending-1' }) + '\r\n');
    forger.send(JSON.stringify({ error: false, result: [['forged'], {}], service: 'Victim', uid: 'notification' }) + '\r\n');
    // Another service forges both too.
    other.send(JSON.stringify({ error: false, result: 'forged by Other', requester, uid: 'pending-1' }) + '\r\n');
    other.send(JSON.stringify({ error: false, result: [['forged'], {}], service: 'Victim', uid: 'notification' }) + '\r\n');
    assert.equal(await owner.silent(200), true, 'a forged message reached the client');
    // The real reply still arrives, once.
    s.send(JSON.stringify({ error: false, result: 3, requester, uid: 'pending-1' }) + '\r\n');
    assert.equal((await owner.next())['result'], 3);
    // A second (late or duplicated) reply for the same uid is dropped.
    s.send(JSON.stringify({ error: false, result: 4, requester, uid: 'pending-1' }) + '\r\n');
    assert.equal(await owner.silent(150), true);
    for (const p of [s, other, owner, forger]) p.close();
  });

  test('fixes - a malformed message is answered and leaves no stale registry entry', async () => {
    const mal = await client('Malformed');
    mal.send('{"result": 1}\r\n'); // a "reply" from a client: dropped, connection kept
    mal.send('{"service": "Manager", "args": [], "uid": "no-attr"}\r\n');
    const e1 = await mal.next();
    assert.equal(e1['uid'], 'no-attr');
    assert.equal(e1['message'], 'KeyError: "A request needs a string \'attribute\'"');
    mal.send('[1, 2]\r\n');
    assert.equal((await mal.next())['message'], 'TypeError: A message must be a JSON object');
    mal.send(req('Manager', 'identity', [], 'after'));
    const ident = await mal.next();
    assert.equal(ident['uid'], 'after');
    const name = Object.keys((ident['result'] as { clients: object }).clients).find((k) => k.startsWith('Malformed['));
    assert.ok(name);
    mal.close();
    const watcher = await client('Watcher');
    const deadline = Date.now() + 3000;
    for (;;) {
      watcher.send(req('Manager', 'identity', [], 'w'));
      const clients = Object.keys(((await watcher.next())['result'] as { clients: object }).clients);
      if (!clients.includes(name)) break;
      assert.ok(Date.now() < deadline, 'the closed client is still registered');
      await new Promise((r) => setTimeout(r, 20));
    }
    watcher.close();
  });

  test('fixes - a service that disconnects with requests pending fails each with its uid', async () => {
    const s = await service('Flaky');
    const c = await client('Waiter');
    c.send(req('Manager', 'link', ['Flaky'], 'l'));
    await c.next();
    c.send(req('Flaky', 'add', [1, 1], 'call-a'));
    c.send(req('Flaky', 'add', [2, 2], 'call-b'));
    await s.next();
    await s.next();
    s.close();
    const errors = [await c.next(), await c.next()];
    assert.deepEqual(errors.map((e) => e['uid']).sort(), ['call-a', 'call-b']);
    for (const e of errors) {
      assert.equal(e['error'], true);
      assert.equal(e['message'], "ConnectionAbortedError: The 'Flaky' service disconnected before it replied to 'add'");
    }
    c.close();
  });

  test('fixes - a peer that exceeds the size limit is told why and dropped; others are unaffected', async () => {
    const s = await service('Big');
    const bystander = await client('Bystander');
    bystander.send(req('Manager', 'link', ['Big'], 'l'));
    await bystander.next();
    const big = await client('Hog');
    big.send(req('Big', 'add', ['x'.repeat(70 * 1024), 1], 'huge'));
    const told = await big.next();
    assert.equal(told['error'], true);
    assert.match(String(told['message']), /^MemoryError: A message of at least \d+ bytes exceeds the limit of 65536 bytes/);
    await big.eof();
    bystander.send(req('Big', 'add', [1, 2], 'small'));
    const fwd = await s.next();
    assert.equal(fwd['uid'], 'small');
    s.send(JSON.stringify({ error: false, result: 3, requester: fwd['requester'], uid: 'small' }) + '\r\n');
    assert.equal((await bystander.next())['result'], 3);
    for (const p of [s, bystander]) p.close();
  });

  test('fixes - requests waiting at one service are bounded; the excess is refused at once', async () => {
    const small = await startTestManager({ maxPendingPerService: 2 });
    try {
      const s = await RawPeer.connect(small.port);
      await s.identify({ type: 'service', name: 'Slow', attributes: { add: '(a, b)' } });
      const c = await RawPeer.connect(small.port);
      await c.identify({ type: 'client', name: 'Flood' });
      c.send(req('Manager', 'link', ['Slow'], 'l'));
      await c.next();
      for (const uid of ['r1', 'r2', 'r3']) c.send(req('Slow', 'add', [1, 1], uid));
      const refused = await c.next();
      assert.equal(refused['uid'], 'r3');
      assert.equal(refused['message'], "RuntimeError: The 'Slow' service has 2 requests awaiting a reply; try again later");
      const first = await s.next();
      await s.next();
      assert.equal(await s.silent(), true, 'the third request never reached the service');
      // Once a reply frees a slot, requests flow again.
      s.send(JSON.stringify({ error: false, result: 2, requester: first['requester'], uid: first['uid'] }) + '\r\n');
      assert.equal((await c.next())['uid'], 'r1');
      c.send(req('Slow', 'add', [1, 1], 'r4'));
      assert.equal((await s.next())['uid'], 'r4');
      for (const p of [s, c]) p.close();
    } finally {
      await small.close();
    }
  });

  test('fixes - the connection log records connects and disconnects without blocking', async () => {
    const c = await client('Logged');
    const port = c.localPort;
    c.send(req('Self', '__disconnect__', [], ''));
    await c.eof();
    const mine = () => m.db.connections.connections().filter((r) => r[4] === port);
    const deadline = Date.now() + 3000;
    let rows = mine();
    while (rows.length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      rows = mine();
    }
    assert.deepEqual(
      rows.map((r) => r[5]),
      ['new connection request', 'connected as a client', 'disconnected'],
    );
    assert.equal(rows[0]?.[2], '127.0.0.1');
  });

  test('fixes - a native client is told when a linked service goes away', async () => {
    class Tmp extends Service {
      slow(): Promise<never> {
        return new Promise(() => {});
      }
    }
    const svc = new Tmp({ name: 'GoneSoon' });
    await svc.start({ host: '127.0.0.1', port: m.port, disableTls: true });
    const c = await connect({ host: '127.0.0.1', port: m.port, disableTls: true });
    try {
      const link = await c.link<Tmp>('GoneSoon');
      const gone = new Promise<string>((resolve) => c.onServiceGone(resolve));
      const pending = link.slow().then(
        () => undefined,
        (e: unknown) => e,
      );
      await svc.disconnect();
      const err = await within(pending, 3000, 'the pending call to fail');
      assert.ok(err instanceof RemoteError);
      assert.equal(err.remoteName, 'ConnectionAbortedError');
      assert.equal(await within(gone, 3000, 'serviceGone'), 'GoneSoon');
    } finally {
      await c.disconnect();
    }
  });
});

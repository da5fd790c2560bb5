/**
 * Replays the exchanges of the wire transcript captured from the real Python msl-network Manager
 * against the Switchyard Manager, byte for byte (host names, ports, the Manager's own language/os
 * and Python traceback frames masked). Where Switchyard deliberately differs, the test says so and
 * asserts the Switchyard behaviour.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HOSTNAME } from '../../src/util/host.ts';
import { RawPeer, startTestManager, useTempHome, within } from '../helpers/index.ts';
import { loadTranscript, normalize, type TranscriptLine } from '../helpers/transcript.ts';

useTempHome();
const T = loadTranscript();

function sec(n: number): TranscriptLine[] {
  const s = T.get(n);
  if (!s) throw new Error(`transcript section ${n} missing`);
  return s;
}

/** Local ports of the actors, by identity name, so that sent lines can name the real peers. */
const ports: Record<string, number> = {};

function actor(name: string, peer: RawPeer): RawPeer {
  ports[name] = peer.localPort;
  return peer;
}

/** Text to send for line `i` of section `n` (must be X -> Manager), naming the real peers. */
function send(n: number, i: number): string {
  const l = sec(n)[i] as TranscriptLine;
  assert.equal(l.to, 'Manager', `section ${n} line ${i} is not sent to the Manager`);
  return l.text.replace(/(\w+)\[vm:(\d+)\]/g, (all, name: string) => (ports[name] === undefined ? all : `${name}[${HOSTNAME}:${ports[name]}]`));
}

/** Expected text of line `i` of section `n` (must be Manager -> X), with optional deliberate changes. */
function expected(n: number, i: number, ...changes: Array<[string | RegExp, string]>): string {
  const l = sec(n)[i] as TranscriptLine;
  assert.equal(l.from, 'Manager', `section ${n} line ${i} is not from the Manager`);
  let t = l.text;
  for (const [a, b] of changes) {
    const before = t;
    t = t.replace(a, b);
    assert.notEqual(t, before, `change ${String(a)} did not apply to section ${n} line ${i}`);
  }
  return normalize(t);
}

async function expectLine(peer: RawPeer, n: number, i: number, ...changes: Array<[string | RegExp, string]>): Promise<void> {
  assert.equal(normalize(await peer.nextLine()), expected(n, i, ...changes), `section ${n} line ${i}`);
}

describe('transcript - no authentication (sections 1-15)', { timeout: 30_000 }, () => {
  let m: Awaited<ReturnType<typeof startTestManager>>;
  let service: RawPeer;
  let client: RawPeer;
  let client2: RawPeer;

  before(async () => {
    m = await startTestManager({ logger: (await import('../../src/util/log.ts')).createLogger({ level: process.env['SY_LOG'] ?? 'silent' }) });
  });
  after(async () => {
    for (const p of [service, client, client2]) p?.close();
    await m.close();
  });

  test('transcript - 1 service and client handshakes', async () => {
    service = actor('RawAdd', await RawPeer.connect(m.port));
    await expectLine(service, 1, 0);
    service.send(send(1, 1));
    client = actor('RawClient', await RawPeer.connect(m.port));
    await expectLine(client, 1, 2);
    client.send(send(1, 3));
  });

  test('transcript - 2 Manager identity lists clients and services', async () => {
    client.send(send(2, 0));
    await expectLine(client, 2, 1);
  });

  test('transcript - 3 link success and link to a missing service', async () => {
    client.send(send(3, 0));
    await expectLine(client, 3, 1);
    client.send(send(3, 2));
    await expectLine(client, 3, 3);
  });

  test('transcript - 4 request routed to the service and the reply routed back', async () => {
    client.send(send(4, 0));
    await expectLine(service, 4, 1);
    service.send(send(4, 2));
    await expectLine(client, 4, 3);
  });

  test('transcript - 5 service error reply passes through unchanged', async () => {
    client.send(send(5, 0));
    await expectLine(service, 5, 1);
    service.send(send(5, 2));
    await expectLine(client, 5, 3);
  });

  test('transcript - 6 notification reaches the linked client', async () => {
    service.send(send(6, 0));
    await expectLine(client, 6, 1);
  });

  test('transcript - 7 pipelined requests and out-of-order replies', async () => {
    client.send(send(7, 0));
    for (const i of [1, 2, 3]) await expectLine(service, 7, i);
    service.send(send(7, 4) + send(7, 5) + send(7, 6));
    for (const i of [7, 8, 9]) await expectLine(client, 7, i);
  });

  test('transcript - 8 request for a missing service: Switchyard echoes the uid (msl-network sends "")', async () => {
    client.send(send(8, 0));
    await expectLine(client, 8, 1, ['"uid": ""', '"uid": "req-ghost"']);
  });

  test('transcript - 9 exclusive and shared locks', async () => {
    client.send(send(9, 0));
    await expectLine(client, 9, 1);
    client2 = actor('Second', await RawPeer.connect(m.port));
    await expectLine(client2, 9, 2);
    client2.send(send(9, 3));
    client2.send(send(9, 4));
    await expectLine(client2, 9, 5);
    client.send(send(9, 6));
    await expectLine(client, 9, 7);
    client2.send(send(9, 8));
    const linked = JSON.parse(await client2.nextLine()) as Record<string, unknown>; // "(Client2 linked)"
    assert.equal(linked['uid'], 'link-c2b');
    assert.equal(linked['error'], false);
    client.send(send(9, 9));
    await expectLine(client, 9, 10);
    client.send(send(9, 11));
    // Python returns list(set) in hash order; Switchyard lists links in the order they were made.
    await expectLine(client, 9, 12, [/"result": \["Second\[vm:50026\]", "RawClient\[vm:50022\]"\]/, '"result": ["RawClient[vm:50022]", "Second[vm:50026]"]']);
    client.send(send(9, 13));
    await expectLine(client, 9, 14);
  });

  test('transcript - 10 unlink, then unlink again fails', async () => {
    client2.send(send(10, 0));
    await expectLine(client2, 10, 1);
    client2.send(send(10, 2));
    await expectLine(client2, 10, 3);
  });

  test('transcript - 11 terminal input and garbage', async () => {
    client2.send(send(11, 0)); // identity
    const ident = JSON.parse(await client2.nextLine()) as Record<string, unknown>;
    assert.equal(ident['uid'], '');
    assert.equal((ident['result'] as Record<string, unknown>)['port'], m.port);
    client2.send(send(11, 1)); // link RawAdd (reply not shown in the transcript)
    const link = JSON.parse(await client2.nextLine()) as Record<string, unknown>;
    assert.equal(link['uid'], '');
    assert.deepEqual(Object.keys(link['result'] as object), ['attributes', 'address', 'language', 'os', 'max_clients']);
    client2.send(send(11, 2));
    await expectLine(service, 11, 3);
    service.send(send(11, 4));
    await expectLine(client2, 11, 5);
    client2.send(send(11, 6));
    await expectLine(client2, 11, 7);
  });

  test('transcript - 12 admin request from a non-admin triggers the in-band login', async () => {
    const client3 = await RawPeer.connect(m.port);
    await expectLine(client3, 12, 0);
    client3.send(send(12, 1));
    client3.send(send(12, 2));
    await expectLine(client3, 12, 3);
    client3.send(send(12, 4));
    await expectLine(client3, 12, 5);
    await client3.eof();
  });

  test('transcript - 13 client disconnect request closes the socket without a reply', async () => {
    client2.send(send(13, 0));
    await client2.eof();
  });

  test('transcript - 14 service disconnect, then its requests fail with the uid echoed', async () => {
    service.send(send(14, 0));
    await service.eof();
    client.send(send(14, 2));
    const ident = JSON.parse(await client.nextLine()) as { result: { services: object } };
    assert.deepEqual(ident.result.services, {});
    client.send(send(14, 3));
    await expectLine(client, 14, 4, ['"uid": ""', '"uid": "req-after"']);
  });

  test('transcript - 15 duplicate service name and unknown connection type', async () => {
    const a = await RawPeer.connect(m.port);
    await expectLine(a, 15, 0);
    a.send(send(15, 1));
    const b = await RawPeer.connect(m.port);
    await expectLine(b, 15, 2);
    b.send(send(15, 3));
    await expectLine(b, 15, 4);
    await b.eof();
    const bad = await RawPeer.connect(m.port);
    await expectLine(bad, 15, 6);
    bad.send(send(15, 7));
    await expectLine(bad, 15, 8);
    await bad.eof();
    a.close();
  });
});

describe('transcript - Manager password (section 16)', { timeout: 30_000 }, () => {
  test('transcript - 16 password prompt, then a wrong password is refused', async () => {
    const m = await startTestManager({ authPassword: 'abc 123' });
    try {
      const c = await RawPeer.connect(m.port);
      await expectLine(c, 16, 0);
      c.send(send(16, 1));
      await expectLine(c, 16, 2);
      c.send(send(16, 3));
      const wrong = await RawPeer.connect(m.port);
      await expectLine(wrong, 16, 0);
      wrong.send(send(16, 4));
      await expectLine(wrong, 16, 5);
      await wrong.eof();
      c.close();
    } finally {
      await m.close();
    }
  });
});

describe('transcript - login (sections 17-20)', { timeout: 30_000 }, () => {
  test('transcript - 17 to 20 login, admin requests, refusals, shutdown', async () => {
    const m = await startTestManager({ authLogin: true, users: [['root', 'toor', true], ['alice', 'alice-pw', false]] });
    try {
      const admin = await RawPeer.connect(m.port);
      await expectLine(admin, 17, 0);
      admin.send(send(17, 1));
      await expectLine(admin, 17, 2);
      admin.send(send(17, 3));
      await expectLine(admin, 17, 4);
      admin.send(send(17, 5));

      // 18: Switchyard echoes the request's uid on admin replies (msl-network sends "").
      admin.send(send(18, 0));
      await expectLine(admin, 18, 1, ['"uid": ""', '"uid": "adm-2"']);
      admin.send(send(18, 2));
      await expectLine(admin, 18, 3, ['"uid": ""', '"uid": "adm-3"'], [/"result": \d+/, `"result": ${m.port}`]);
      admin.send(send(18, 4));
      await expectLine(admin, 18, 5, ['"uid": ""', '"uid": "adm-4"']);

      const alice = await RawPeer.connect(m.port);
      await expectLine(alice, 17, 0);
      alice.send(send(19, 0));
      await expectLine(alice, 17, 2, ['["root"]', '["alice"]']);
      alice.send(send(19, 1));
      await expectLine(alice, 19, 2);
      await alice.eof();
      const mallory = await RawPeer.connect(m.port);
      await expectLine(mallory, 17, 0);
      mallory.send(send(19, 4));
      await expectLine(mallory, 19, 5);
      await mallory.eof();

      admin.send(send(20, 0));
      await admin.eof();
      await within(m.closed, 3000, 'the Manager to stop after shutdown_manager');
    } finally {
      await m.close();
    }
  });
});

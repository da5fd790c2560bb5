/**
 * The TypeScript Client and Service API against a real Manager on loopback.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, before, describe, test } from 'node:test';
import Type from 'typebox';
import { connect, connectLinked, type Client } from '../../src/client/client.ts';
import { AbortError, ConnectionClosedError, EncodeError, QueueFullError, RemoteError, TimeoutError } from '../../src/errors.ts';
import { runServices } from '../../src/manager/run-services.ts';
import { Service } from '../../src/service/service.ts';
import { RawPeer, startTestManager, useTempHome, within } from '../helpers/index.ts';

useTempHome();

class Calc extends Service {
  protected override schemas = { typedAdd: [Type.Number(), Type.Number()] };
  protected override access = { secret: 'admin' as const, onlyAlice: (r: { requester: string }) => r.requester.startsWith('Alice[') || 'Alice only' };
  scale = 10;
  add(a: number, b: number): number {
    return a + b;
  }
  typedAdd(a: number, b: number): number {
    return a + b;
  }
  greet(name: string, greeting = 'hello'): string {
    return `${greeting} ${name}`;
  }
  echo(value: unknown): unknown {
    return value;
  }
  who(): string {
    return this.request?.requester ?? 'nobody';
  }
  async later(ms: number): Promise<string> {
    await new Promise((r) => setTimeout(r, ms));
    return 'done';
  }
  never(): Promise<never> {
    return new Promise(() => {});
  }
  secret(): string {
    return 'admin only';
  }
  onlyAlice(): string {
    return 'hi Alice';
  }
  tick(n: number): number {
    for (let i = 0; i < n; i++) this.emitNotificationWith([i], { from: 'calc' });
    return n;
  }
  _hidden(): string {
    return 'private';
  }
}

describe('client api', { timeout: 60_000 }, () => {
  let m: Awaited<ReturnType<typeof startTestManager>>;
  const calc = new Calc();
  let opts: { host: string; port: number; disableTls: true };
  const clients: Client[] = [];
  const open = async (name = 'Client', extra: Record<string, unknown> = {}): Promise<Client> => {
    const c = await connect({ ...opts, name, ...extra });
    clients.push(c);
    return c;
  };

  before(async () => {
    m = await startTestManager();
    opts = { host: '127.0.0.1', port: m.port, disableTls: true };
    await calc.start(opts);
  });
  after(async () => {
    for (const c of clients) await c.disconnect().catch(() => {});
    await calc.disconnect();
    await m.close();
  });

  test('api - typed link calls methods and returns results; the dialect is native', async () => {
    const c = await open();
    assert.equal(c.dialect, 'native');
    const link = await c.link<Calc>('Calc');
    assert.equal(await link.add(2, 3), 5);
    assert.equal(await link.greet('Ada'), 'hello Ada');
    assert.equal(await link.$call('greet', ['Ada'], { kwargs: { greeting: 'hi' } }), 'hi Ada');
    assert.equal(await link.$call('scale'), 10);
    assert.deepEqual(link.$identity.attributes['add'], '(a, b)');
    assert.equal(link.$identity.attributes['scale'], 10);
    assert.equal(link.$identity.attributes['_hidden'], undefined);
    assert.equal(await link.who(), c.networkName);
  });

  test('api - values JSON cannot carry cross the native dialect intact', async () => {
    const c = await open();
    const link = await c.link<Calc>('Calc');
    const value = {
      bytes: Buffer.from([0, 1, 2, 255]),
      big: 2n ** 80n,
      map: new Map<unknown, unknown>([[1, 'one'], ['k', [1, 2]]]),
      set: new Set(['a', 'b']),
      date: new Date('2026-01-02T03:04:05.678Z'),
      nan: Number.NaN,
      inf: -Infinity,
      undef: undefined,
      f64: new Float64Array([1.5, -2]),
    };
    assert.deepEqual(await link.echo(value), value);
  });

  test('api - a value that cannot travel is refused at the call, naming its path, in both dialects', async () => {
    class Thing {
      x = 1;
    }
    for (const dialect of ['auto', 'json'] as const) {
      const c = await open(`Refuse-${dialect}`, { dialect });
      const link = await c.link<Calc>('Calc');
      await assert.rejects(link.echo({ ok: [1, { cb: () => 1 }] }), (e: unknown) => e instanceof EncodeError && e.path === '$[0][0].ok[1].cb');
      await assert.rejects(link.echo([new Thing()]), (e: unknown) => e instanceof EncodeError && /instance of class Thing/.test(e.message));
      assert.equal(await link.add(1, 1), 2, 'the link stays usable');
    }
  });

  test('api - values sent to a JSON peer use the documented encoding', async () => {
    const raw = await RawPeer.connect(m.port);
    await raw.identify({ type: 'service', name: 'RawEcho', attributes: { echo: '(x)' } });
    const c = await open();
    const link = await c.link('RawEcho');
    const call = link.$call('echo', [{ b: Buffer.from('hi'), n: 2n ** 64n, m: new Map([['a', 1]]), s: new Set([1]), d: new Date(0), u: undefined }]);
    const fwd = await raw.nextLine();
    assert.match(fwd, /"args": \[\{"b": "aGk=", "n": 18446744073709551616, "m": \{"a": 1\}, "s": \[1\], "d": "1970-01-01T00:00:00\.000Z", "u": null\}\]/);
    const parsed = JSON.parse(fwd.replace('18446744073709551616', '0')) as { requester: string; uid: string };
    raw.send(`{"error": false, "result": [NaN, 18446744073709551616, "x"], "requester": ${JSON.stringify(parsed.requester)}, "uid": ${JSON.stringify(parsed.uid)}}\r\n`);
    assert.deepEqual(await call, [Number.NaN, 2n ** 64n, 'x']);
    raw.close();
  });

  test('api - Python-style argument errors and private or unknown attributes', async () => {
    const c = await open();
    const link = await c.link<Calc>('Calc');
    const cases: Array<[Promise<unknown>, string, string]> = [
      [link.$call('add', [1]), 'TypeError', "Calc.add() missing 1 required positional argument: 'b'"],
      [link.$call('add', [1, 2, 3]), 'TypeError', 'Calc.add() takes 2 positional arguments but 3 were given'],
      [link.$call('add', [1], { kwargs: { a: 2 } }), 'TypeError', "Calc.add() got multiple values for argument 'a'"],
      [link.$call('add', [], { kwargs: { c: 2 } }), 'TypeError', "Calc.add() got an unexpected keyword argument 'c'"],
      [link.$call('_hidden'), 'PermissionError', 'Cannot request a private attribute'],
      [link.$call('nope'), 'AttributeError', "'Calc' object has no attribute 'nope'"],
      [link.$call('typedAdd', [1, 'x']), 'TypeError', 'Calc.typedAdd(): argument 2 must be number'],
      [link.$call('secret'), 'PermissionError', `${c.networkName} may not call Calc.secret: only administrators may call it`],
      [link.$call('onlyAlice'), 'PermissionError', `${c.networkName} may not call Calc.onlyAlice: Alice only`],
    ];
    for (const [p, name, message] of cases) {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof RemoteError, `expected a RemoteError for ${message}`);
      assert.equal(err.remoteName, name);
      assert.equal(err.remoteMessage, message);
      assert.equal(err.origin, 'Calc');
    }
    const alice = await open('Alice');
    assert.equal(await (await alice.link<Calc>('Calc')).onlyAlice(), 'hi Alice');
  });

  test('api - per-call timeout and abort reject, and the late reply is ignored', async () => {
    const c = await open();
    const link = await c.link<Calc>('Calc');
    await assert.rejects(link.$with({ timeout: 50 }).never(), (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 50);
    const ac = new AbortController();
    const p = link.$call('later', [200], { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, AbortError);
    assert.equal(await link.later(1), 'done');
  });

  test('api - exclusive and shared locks gate new links and are released on disconnect', async () => {
    class Lockable extends Service {
      add(a: number, b: number): number {
        return a + b;
      }
    }
    const svc = new Lockable();
    await svc.start(opts);
    try {
      const a = await open('LockA');
      const b = await open('LockB');
      const la = await a.link<Lockable>('Lockable');
      assert.deepEqual(await la.$acquireLock(), [a.networkName]);
      const refused = await b.link('Lockable').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(refused instanceof RemoteError);
      assert.equal(refused.remoteMessage, "'Lockable' service is locked");
      await a.disconnect();
      const lb = await within(b.link<Lockable>('Lockable'), 3000, 'link after the lock holder left');
      assert.equal(await lb.add(1, 1), 2);
      const c = await open('LockC');
      const lc = await c.link<Lockable>('Lockable');
      const ex = await lc.$acquireLock({ shared: false }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(ex instanceof RemoteError);
      assert.equal(
        ex.remoteMessage,
        `${c.networkName} cannot acquire an exclusive lock, there are 2 links with the 'Lockable' service\nThe linked Clients are:\n  ${[b.networkName, c.networkName].sort().join('\n  ')}`,
      );
      assert.deepEqual(await lc.$acquireLock({ shared: true }), [b.networkName, c.networkName]);
      assert.equal(await lb.add(2, 2), 4, 'a shared lock keeps linked clients working');
      assert.deepEqual(await lc.$releaseLock(), []);
    } finally {
      await svc.disconnect();
    }
  });

  test('api - max clients refuses the extra link with the list of linked clients', async () => {
    class Solo extends Service {
      ping(): string {
        return 'pong';
      }
    }
    const solo = new Solo({ maxClients: 1 });
    await solo.start(opts);
    try {
      const a = await open('SoloA');
      await a.link('Solo');
      const b = await open('SoloB');
      const err = await b.link('Solo').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof RemoteError);
      assert.equal(err.remoteMessage, `The maximum number of Clients are already linked with 'Solo'\nThe linked Clients are:\n  ${a.networkName}`);
      await a.unlink('Solo');
      assert.equal(await (await b.link<Solo>('Solo')).ping(), 'pong');
    } finally {
      await solo.disconnect();
    }
  });

  test('api - notifications arrive in order through an iterator and a handler', async () => {
    const c = await open();
    const link = await c.link<Calc>('Calc');
    const seen: unknown[] = [];
    const off = link.$onNotification((n) => seen.push(n.args[0]));
    const it = link.$notifications()[Symbol.asyncIterator]();
    assert.equal(await link.tick(3), 3);
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await within(it.next(), 3000, 'a notification')).value);
    assert.deepEqual(
      got.map((n) => [n.service, n.args, n.kwargs]),
      [0, 1, 2].map((i) => ['Calc', [i], { from: 'calc' }]),
    );
    assert.deepEqual(seen, [0, 1, 2]);
    off();
    await it.return?.();
  });

  test('api - an ended notification iterator leaves no listener behind (signal, connection close)', async () => {
    const c = await open();
    const link = await c.link<Calc>('Calc');
    const ac = new AbortController();
    for (let round = 0; round < 5; round++) {
      const it = link.$notifications({ signal: ac.signal })[Symbol.asyncIterator]();
      await link.tick(1);
      await within(it.next(), 3000, 'a notification');
      await it.return?.();
    }
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    assert.equal((c as unknown as { closeHandlers: Set<unknown> }).closeHandlers.size, 0);
  });

  test('api - calls awaiting a reply are bounded per connection', async () => {
    const c = await open('Bounded', { maxPendingCalls: 2 });
    const link = await c.link<Calc>('Calc');
    const a = link.later(100);
    const b = link.later(100);
    await assert.rejects(link.add(1, 1), (e: unknown) => e instanceof QueueFullError && e.limit === 2);
    assert.deepEqual(await Promise.all([a, b]), ['done', 'done']);
    assert.equal(await link.add(1, 1), 2, 'slots free again after the replies');
  });

  test('api - disconnect rejects pending calls with ConnectionClosedError', async () => {
    const c = await connect({ ...opts });
    const link = await c.link<Calc>('Calc');
    const p = link.never().then(
      () => undefined,
      (e: unknown) => e,
    );
    await c.disconnect();
    assert.ok((await within(p, 3000, 'the pending call')) instanceof ConnectionClosedError);
    await assert.rejects(link.add(1, 2), ConnectionClosedError);
  });

  test('api - a client forced to JSON lines works against the Switchyard Manager', async () => {
    const c = await open('JsonClient', { dialect: 'json' });
    assert.equal(c.dialect, 'json');
    const link = await c.link<Calc>('Calc');
    assert.equal(await link.add(40, 2), 42);
    assert.deepEqual(await link.echo([1, 'two', null]), [1, 'two', null]);
    const err = await link.$call('nope').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof RemoteError);
    assert.equal(err.remoteName, 'AttributeError');
    assert.ok(Object.keys((await c.identities()).clients).includes(c.networkName));
  });

  test('api - connectLinked waits for a service that starts later, and times out otherwise', async () => {
    class Late extends Service {
      hello(): string {
        return 'late hello';
      }
    }
    const late = new Late();
    const waiting = connectLinked<Late>('Late', { ...opts, timeout: 5000 });
    setTimeout(() => void late.start(opts), 200);
    const lc = await within(waiting, 6000, 'connectLinked');
    assert.equal(await lc.link.hello(), 'late hello');
    await lc.disconnect();
    await late.disconnect();
    await assert.rejects(connectLinked('NeverThere', { ...opts, timeout: 200 }), TimeoutError);
  });
});

describe('runServices', { timeout: 30_000 }, () => {
  test('runServices - serves until every service has shut down, then stops the Manager', async () => {
    class Stopper extends Service {
      add(a: number, b: number): number {
        return a + b;
      }
      shutdownService(): string {
        return 'bye';
      }
    }
    let port = 0;
    const running = runServices(new Stopper(), { host: '127.0.0.1', port: 0, disableTls: true, database: ':memory:', onReady: (mgr) => (port = mgr.port) });
    const deadline = Date.now() + 5000;
    while (port === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const c = await connect({ host: '127.0.0.1', port, disableTls: true });
    const link = await c.link<Stopper>('Stopper');
    assert.equal(await link.add(1, 2), 3);
    assert.equal(await link.$shutdownService(), 'bye');
    await within(running, 5000, 'runServices to return');
    await within(c.whenClosed(), 3000, 'the client to be disconnected');
  });
});

describe('admin', { timeout: 30_000 }, () => {
  test('admin - a native client logs in for admin requests; services see who is an admin', async () => {
    const m = await startTestManager({ authLogin: true, users: [['root', 'toor', true], ['bob', 'bob-pw', false]] });
    const calc = new Calc();
    const base = { host: '127.0.0.1', port: m.port, disableTls: true };
    try {
      await calc.start({ ...base, username: 'bob', password: 'bob-pw' });
      const admin = await connect({ ...base, username: 'root', password: 'toor' });
      const bob = await connect({ ...base, username: 'bob', password: 'bob-pw' });
      assert.deepEqual(await admin.adminRequest('users_table.usernames'), ['bob', 'root']);
      assert.equal(await admin.adminRequest('port'), m.port);
      assert.equal(await (await admin.link<Calc>('Calc')).secret(), 'admin only');
      const denied = await bob.adminRequest('users_table.usernames').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(denied instanceof RemoteError);
      assert.match(denied.remoteMessage, /Wrong login password|administrator/);
      const nope = await admin.adminRequest('no_such_thing').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(nope instanceof RemoteError);
      assert.equal(nope.remoteMessage, "'Manager' object has no attribute 'no_such_thing'");
      await admin.adminRequest('shutdown_manager');
      await within(m.closed, 3000, 'shutdown');
      await bob.disconnect();
    } finally {
      await calc.disconnect();
      await m.close();
    }
  });
});

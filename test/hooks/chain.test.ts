import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AbortError,
  ClosedError,
  InvalidArgumentError,
  NetManagerError,
  NetManagerResultError,
  QueueFullError,
  TimeoutError,
} from '../../src/errors.ts';
import { ConnectionHooks, createChain } from '../../src/hooks/chain.ts';
import { CALLOUT_SPECS } from '../../src/hooks/callouts.ts';
import { CALLOUTS, type Attr, type Callout, type CalloutInfo, type ChainRunInfo, type NetManager } from '../../src/hooks/types.ts';

/** A run info with every input a callout may need. */
function fullInfo(attrs: Attr[] = [['tcp', 'port', '42']]): ChainRunInfo {
  return { taskId: '42', transport: 'tcp', localContact: '127.0.0.1:4242', remoteContact: '127.0.0.1:5000', attrs };
}

function portTimes(k: number): NetManager {
  return {
    name: `times${k}`,
    preListen: ({ attrs }) => ({ attrs: attrs.map(([s, n, v]) => [s, n, n === 'port' ? String(Number(v) * k) : v] as Attr) }),
  };
}
function portPlus(d: number): NetManager {
  return {
    name: `plus${d}`,
    preListen: ({ attrs }) => ({ attrs: attrs.map(([s, n, v]) => [s, n, n === 'port' ? String(Number(v) + d) : v] as Attr) }),
  };
}

/** Keeps the event loop alive while `p` settles (guard timers are unref'ed by design). */
async function alive<T>(p: Promise<T>): Promise<T> {
  const keep = setInterval(() => {}, 1000);
  try {
    return await p;
  } finally {
    clearInterval(keep);
  }
}

async function rejectsNetMgr(p: Promise<unknown>, manager: string, callout: string, cause?: (c: unknown) => void): Promise<NetManagerError> {
  let caught: unknown;
  await p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => {
      caught = e;
    },
  );
  assert.ok(caught instanceof NetManagerError, `expected NetManagerError, got ${String(caught)}`);
  assert.equal(caught.code, 'SWITCHYARD_ERR_NETMGR');
  assert.equal(caught.manager, manager);
  assert.equal(caught.callout, callout);
  assert.ok(caught.message.startsWith(`A network manager (${manager}) errored in ${callout}`), caught.message);
  cause?.(caught.cause);
  return caught;
}

// T8
test('chain - T8 port_plus_one then port_minus_one gives the port back', async () => {
  const chain = createChain([portPlus(1), portPlus(-1)]);
  const out = await chain.run('preListen', { taskId: '42', transport: 'tcp', attrs: [['tcp', 'port', '42']] });
  assert.deepEqual(out.attrs, [['tcp', 'port', '42']]);
});

test('chain - managers run in configuration order (x2 then +1 is 11, +1 then x2 is 12)', async () => {
  const info: ChainRunInfo = { taskId: '1', transport: 'tcp', attrs: [['tcp', 'port', '5']] };
  assert.deepEqual((await createChain([portTimes(2), portPlus(1)]).run('preListen', info)).attrs, [['tcp', 'port', '11']]);
  assert.deepEqual((await createChain([portPlus(1), portTimes(2)]).run('preListen', info)).attrs, [['tcp', 'port', '12']]);
});

// T14
test('chain - T14 the first error stops the chain and names the manager and callout', async () => {
  const calls: string[] = [];
  const chain = createChain([
    { name: 'A', preAccept: () => { calls.push('A'); throw new Error('peer not allowed'); } },
    { name: 'B', preAccept: () => { calls.push('B'); } },
  ]);
  const err = await rejectsNetMgr(chain.run('preAccept', fullInfo()), 'A', 'preAccept', (c) => {
    assert.ok(c instanceof Error);
    assert.equal(c.message, 'peer not allowed');
  });
  assert.equal(err.message, 'A network manager (A) errored in preAccept: peer not allowed');
  assert.deepEqual(calls, ['A']);
});

test('chain - a rejection, a sync throw and a thrown non-Error all veto', async () => {
  await rejectsNetMgr(createChain([{ name: 'x', preConnect: async () => Promise.reject(new Error('no route')) }]).run('preConnect', fullInfo()), 'x', 'preConnect');
  const e = await rejectsNetMgr(
    createChain([{ name: 'y', postClose: () => { throw 'just a string'; } }]).run('postClose', fullInfo()),
    'y',
    'postClose',
  );
  assert.match(e.message, /a non-Error value was thrown: the string "just a string"/);
});

// T6
test('chain - T6 every missing input of every callout is a Bad parameter', async () => {
  const chain = createChain([{ name: 'n', preListen: () => undefined }]);
  for (const callout of CALLOUTS) {
    const spec = CALLOUT_SPECS[callout];
    const required: Array<keyof ChainRunInfo> = ['taskId', 'transport', 'attrs'];
    if (spec.local) required.push('localContact');
    if (spec.remote) required.push('remoteContact');
    for (const key of required) {
      const info = { ...fullInfo() } as Record<string, unknown>;
      delete info[key];
      await assert.rejects(chain.run(callout, info as unknown as ChainRunInfo), (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, `${callout} without ${key}`);
        assert.equal(err.argument, key);
        assert.match(err.message, /^Bad parameter, .*No parameter may be NULL/);
        return true;
      });
    }
    await assert.rejects(chain.run(callout, null as unknown as ChainRunInfo), InvalidArgumentError);
  }
  await assert.rejects(chain.run('pre_listen' as Callout, fullInfo()), /is not a callout/);
});

test('chain - postListen and preConnect take their contact from `contact` when given', async () => {
  const seen: string[] = [];
  const chain = createChain([{ postListen: ({ localContact }) => { seen.push(localContact ?? '-'); } }]);
  await chain.run('postListen', { taskId: 't', transport: 'tcp', attrs: [], contact: 'h:1' });
  await chain.run('postListen', { taskId: 't', transport: 'tcp', attrs: [], localContact: 'h:2' });
  assert.deepEqual(seen, ['h:1', 'h:2']);
});

test('chain - each manager sees the latest attrs and contact; the outcome has the last ones', async () => {
  const seen: Array<[string | undefined, readonly Attr[]]> = [];
  const chain = createChain([
    { preConnect: ({ remoteContact, attrs }) => { seen.push([remoteContact, attrs]); return { contact: 'gw:1875', attrs: [...attrs, ['tcp', 'iface', '10.0.0.5']] }; } },
    { preConnect: ({ remoteContact, attrs }) => { seen.push([remoteContact, attrs]); return undefined; } },
    { preConnect: ({ remoteContact, attrs }) => { seen.push([remoteContact, attrs]); return { attrs: attrs.filter((a) => a[1] !== 'port') }; } },
  ]);
  const out = await chain.run('preConnect', { taskId: 't', transport: 'tcp', remoteContact: 'far:1875', attrs: [['tcp', 'port', '9']] });
  assert.deepEqual(seen, [
    ['far:1875', [['tcp', 'port', '9']]],
    ['gw:1875', [['tcp', 'port', '9'], ['tcp', 'iface', '10.0.0.5']]],
    ['gw:1875', [['tcp', 'port', '9'], ['tcp', 'iface', '10.0.0.5']]],
  ]);
  assert.deepEqual(out, { attrs: [['tcp', 'iface', '10.0.0.5']], contact: 'gw:1875' });
});

test('chain - postListen rewrites the local contact, other contacts pass through', async () => {
  const chain = createChain([{ postListen: () => ({ contact: 'public.example.org:1875' }) }]);
  assert.deepEqual(await chain.run('postListen', { taskId: 't', transport: 'tcp', attrs: [], localContact: '0.0.0.0:1875' }), {
    attrs: [],
    contact: 'public.example.org:1875',
  });
  const none = createChain([{ postAccept: () => undefined }]);
  assert.deepEqual(await none.run('postAccept', { ...fullInfo([]), contact: 'kept:1' }), { attrs: [], contact: 'kept:1' });
});

test('chain - nothing returned means no change, and the outcome attrs are a fresh array', async () => {
  const input: Attr[] = [['tcp', 'port', '1']];
  const chain = createChain([{ preListen: () => undefined }, { preListen: () => null as unknown as undefined }, { preListen: () => ({}) }]);
  const out = await chain.run('preListen', { taskId: 't', transport: 'tcp', attrs: input });
  assert.deepEqual(out, { attrs: [['tcp', 'port', '1']], contact: undefined });
  out.attrs.push(['x', 'y', 'z']);
  assert.equal(input.length, 1);
});

test('chain - managers get frozen attrs and cannot change the chain by mutation', async () => {
  const chain = createChain([
    {
      preListen: ({ attrs }) => {
        assert.throws(() => (attrs as Attr[]).push(['a', 'b', 'c']), TypeError);
      },
    },
  ]);
  assert.deepEqual((await chain.run('preListen', { taskId: 't', transport: 'tcp', attrs: [] })).attrs, []);
});

test('chain - an empty contact means no change (as GCT\'s driver treats it)', async () => {
  const chain = createChain([{ preConnect: () => ({ contact: '' }) }, { preAccept: () => ({ contact: '' }) }]);
  assert.equal((await chain.run('preConnect', fullInfo())).contact, '127.0.0.1:5000');
  assert.equal((await chain.run('preAccept', fullInfo())).contact, undefined);
});

async function badResult(callout: Callout, result: unknown, what: string, text: RegExp): Promise<void> {
  const chain = createChain([{ name: 'bad', [callout]: () => result } as NetManager]);
  await rejectsNetMgr(chain.run(callout, fullInfo()), 'bad', callout, (c) => {
    assert.ok(c instanceof NetManagerResultError, `cause of ${callout} -> ${String(c)}`);
    assert.equal(c.code, 'SWITCHYARD_ERR_NETMGR_RESULT');
    assert.equal(c.what, what);
    assert.match(c.message, text);
  });
}

test('chain - a contact returned from any callout but postListen and preConnect is an error', async () => {
  for (const c of ['preListen', 'preAccept', 'postAccept', 'postConnect'] as const) {
    await badResult(c, { contact: 'elsewhere:1' }, 'contact', /^Bad parameter, contact: only postListen and preConnect may return a contact/);
  }
});

test('chain - endListen, preClose and postClose may not return attrs or a contact', async () => {
  for (const c of ['endListen', 'preClose', 'postClose'] as const) {
    await badResult(c, { attrs: [] }, 'result', /cannot change attrs or contacts; it must return nothing/);
    await badResult(c, { contact: 'h:1' }, 'result', /must return nothing/);
  }
});

test('chain - malformed results are refused with GCT-style Bad parameter errors', async () => {
  await badResult('preListen', [['tcp', 'port', '1']], 'result', /^Bad parameter, result: preListen must return nothing or an object/);
  await badResult('preListen', 7, 'result', /not a number/);
  await badResult('preListen', { atrs: [] }, 'result', /unknown key "atrs"/);
  await badResult('preListen', { attrs: 'tcp,port,1' }, 'attrs', /^Bad parameter, attrs: attrs returned from preListen must be an array/);
  await badResult('postAccept', { attrs: [['tcp', 'port']] }, 'attr', /^Bad parameter, attr: attr 0 .* triple/);
  await badResult('postConnect', { attrs: [['tcp', 'port', 1]] }, 'value', /^Bad parameter, value: the value of attr 0/);
  await badResult('postConnect', { attrs: [[1, 'port', '1']] }, 'scope', /^Bad parameter, scope/);
  await badResult('preConnect', { contact: 17 }, 'contact', /must be a "host:port" string/);
  await badResult('preConnect', { contact: 'no-port' }, 'contact', /Invalid contact "no-port"/);
  await badResult('postListen', { contact: '[::1:5' }, 'contact', /Invalid contact/);
});

test('chain - global attrs are copied into every manager\'s managerAttrs, own attrs after them', async () => {
  const seen: Record<string, Record<string, string>> = {};
  const spy = (n: string): NetManager => ({ name: n, preListen: ({ managerAttrs }) => { seen[n] = { ...managerAttrs }; } });
  const chain = createChain(
    [
      { manager: spy('logging'), attrs: [['logging', 'file', '/tmp/x'], ['logging', 'service', 'mine']] },
      { manager: spy('other') },
    ],
    { globals: [['global', 'service', 'gridftp-data'], ['global', 'site', 'x']] },
  );
  await chain.run('preListen', { taskId: 't', transport: 'tcp', attrs: [] });
  assert.deepEqual(seen, {
    logging: { service: 'mine', site: 'x', file: '/tmp/x' },
    other: { service: 'gridftp-data', site: 'x' },
  });
  assert.deepEqual(chain.entries[0]?.attrs, [
    ['global', 'service', 'gridftp-data'],
    ['global', 'site', 'x'],
    ['logging', 'file', '/tmp/x'],
    ['logging', 'service', 'mine'],
  ]);
});

test('chain - names come from the entry, the manager, or the position', () => {
  const chain = createChain([{ manager: { name: 'm' }, name: 'entry' }, { name: 'own' }, {}]);
  assert.deepEqual(chain.entries.map((e) => e.name), ['entry', 'own', 'hooks[2]']);
});

test('chain - empty is true exactly when no manager implements a callout', () => {
  assert.equal(createChain([]).empty, true);
  assert.equal(createChain([{ name: 'nothing' }, {}]).empty, true);
  assert.equal(createChain([{ name: 'x', postClose: () => undefined }]).empty, false);
});

test('chain - an empty chain returns its input', async () => {
  const out = await createChain([]).run('preConnect', { ...fullInfo(), contact: undefined });
  assert.deepEqual(out, { attrs: [['tcp', 'port', '42']], contact: '127.0.0.1:5000' });
});

test('chain - a callout that is not a function is refused when the chain is made', () => {
  assert.throws(() => createChain([{ preListen: 'yes' } as unknown as NetManager]), /preListen is the string "yes", not a function/);
  assert.throws(() => createChain([null as unknown as NetManager]), InvalidArgumentError);
  assert.throws(() => createChain([], { timeout: 0 }), InvalidArgumentError);
});

test('chain - callouts are called with the manager as `this`', async () => {
  class Counter {
    count = 0;
    preListen(this: Counter): void {
      this.count++;
    }
  }
  const c = new Counter();
  await createChain([c as unknown as NetManager]).run('preListen', { taskId: 't', transport: 'tcp', attrs: [] });
  assert.equal(c.count, 1);
});

test('chain - a manager slower than the timeout vetoes with a TimeoutError and its signal aborts', async () => {
  let signal: AbortSignal | undefined;
  const chain = createChain([{ name: 'slow', preConnect: (info: CalloutInfo) => { signal = info.signal; return new Promise<undefined>(() => {}); } }], { timeout: 30 });
  await rejectsNetMgr(alive(chain.run('preConnect', fullInfo())), 'slow', 'preConnect', (c) => {
    assert.ok(c instanceof TimeoutError);
    assert.equal(c.timeoutMs, 30);
    assert.match(c.message, /network manager slow in preConnect/);
  });
  assert.equal(signal?.aborted, true);
});

test('chain - the caller\'s signal aborts a waiting callout with AbortError', async () => {
  const ac = new AbortController();
  const chain = createChain([{ preConnect: () => new Promise<undefined>(() => {}) }], { timeout: Infinity });
  const p = chain.run('preConnect', { ...fullInfo(), signal: ac.signal });
  setTimeout(() => ac.abort(new Error('user gave up')), 5);
  await assert.rejects(alive(p), AbortError);
});

test('chain - forConnection runs one callout at a time, in call order, and an error does not block the next', async () => {
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const chain = createChain([
    {
      postConnect: async () => {
        log.push('postConnect start');
        await gate;
        log.push('postConnect end');
        throw new Error('late veto');
      },
      preClose: () => {
        log.push('preClose');
      },
      postClose: () => {
        log.push('postClose');
      },
    },
  ]);
  const conn = chain.forConnection({ taskId: 'conn-1' });
  const a = conn.run('postConnect', { localContact: 'a:1', remoteContact: 'b:2', attrs: [] });
  const b = conn.run('preClose', { localContact: 'a:1', remoteContact: 'b:2', attrs: [] });
  const c = conn.run('postClose', { localContact: 'a:1', remoteContact: 'b:2', attrs: [] });
  assert.equal(conn.pending, 3);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ['postConnect start']);
  release();
  await assert.rejects(a, NetManagerError);
  await b;
  await c;
  assert.deepEqual(log, ['postConnect start', 'postConnect end', 'preClose', 'postClose']);
  assert.equal(conn.pending, 0);
});

test('chain - forConnection bounds the calls waiting', async () => {
  const chain = createChain([{ preClose: () => new Promise<undefined>((r) => setTimeout(() => r(undefined), 5)) }]);
  const conn = chain.forConnection({ maxPending: 2 });
  const info = { localContact: 'a:1', remoteContact: 'b:2', attrs: [] };
  const ok = [conn.run('preClose', info), conn.run('preClose', info)];
  await assert.rejects(conn.run('preClose', info), (e: unknown) => e instanceof QueueFullError && e.limit === 2);
  await Promise.all(ok);
});

test('chain - task ids: the caller\'s, else the chain\'s task-id, else a fresh one per connection', async () => {
  const ids: string[] = [];
  const m: NetManager = { preListen: ({ taskId }) => { ids.push(taskId); } };
  await createChain([m]).forConnection({ taskId: 'given' }).run('preListen', { attrs: [] });
  await createChain([m], { taskId: 'abc' }).forConnection().run('preListen', { attrs: [] });
  const fresh = createChain([m]);
  await fresh.forConnection().run('preListen', { attrs: [] });
  await fresh.forConnection().run('preListen', { attrs: [] });
  assert.equal(ids[0], 'given');
  assert.equal(ids[1], 'abc');
  assert.match(ids[2] ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(ids[2], ids[3]);
});

test('chain - ConnectionHooks wraps any NetHooks and passes its task id and transport', async () => {
  const calls: unknown[] = [];
  const conn = new ConnectionHooks(
    { empty: false, run: async (callout, info) => { calls.push([callout, info.taskId, info.transport]); return { attrs: [...info.attrs], contact: info.contact }; } },
    { taskId: 'T', transport: 'udt' },
  );
  await conn.run('preListen', { attrs: [] });
  assert.deepEqual(calls, [['preListen', 'T', 'udt']]);
  assert.throws(() => new ConnectionHooks(createChain([]), { maxPending: 0 }), InvalidArgumentError);
});

test('chain - close() closes the managers it owns, once, and later runs fail', async () => {
  const closed: string[] = [];
  const chain = createChain([
    { manager: { name: 'mine', preListen: () => undefined, close: () => { closed.push('mine'); } }, owned: true },
    { name: 'yours', preListen: () => undefined, close: () => { closed.push('yours'); } },
  ]);
  await chain.close();
  await chain[Symbol.asyncDispose]();
  assert.deepEqual(closed, ['mine']);
  await assert.rejects(chain.run('preListen', { taskId: 't', transport: 'tcp', attrs: [] }), ClosedError);
});

test('chain - malformed attrs from the caller are an InvalidArgumentError', async () => {
  const chain = createChain([{ preListen: () => undefined }]);
  await assert.rejects(
    chain.run('preListen', { taskId: 't', transport: 'tcp', attrs: [['tcp', 'port']] as unknown as Attr[] }),
    (e: unknown) => e instanceof InvalidArgumentError && /every attr must be \[scope, name, value\]/.test(e.message),
  );
});

import { bindFirstFree } from './fixtures.ts';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/index.ts';
import net from 'node:net';
import { test } from 'node:test';
import { NetManagerConfigError, NetManagerError } from '../../src/errors.ts';
import { createChain } from '../../src/hooks/chain.ts';
import { chainFromOptionString } from '../../src/hooks/config.ts';
import { formatContact } from '../../src/hooks/contact.ts';
import { createPortRangeManager } from '../../src/hooks/managers/portrange.ts';
import type { Attr } from '../../src/hooks/types.ts';
import { listenAttrs, listenOptionsFromAttrs } from '../../src/transport/socket-options.ts';

const pre = (attrs: Attr[]) => ({ taskId: 't', transport: 'tcp', attrs });

test('portrange - preListen replaces a missing, zero or outside port with listen_range', async () => {
  const chain = await chainFromOptionString('manager=portrange;range=50000-51000;');
  for (const attrs of [[], [['tcp', 'port', '0']], [['tcp', 'port', '8080']]] as Attr[][]) {
    const out = await chain.run('preListen', pre([...attrs, ['tcp', 'iface', '127.0.0.1']]));
    assert.deepEqual(out.attrs, [
      ['tcp', 'iface', '127.0.0.1'],
      ['tcp', 'listen_range', '50000-51000'],
    ]);
  }
});

test('portrange - a requested port inside the range is kept', async () => {
  const chain = createChain([createPortRangeManager({ min: 50000, max: 51000 })]);
  assert.deepEqual((await chain.run('preListen', pre([['tcp', 'port', '50500']]))).attrs, [['tcp', 'port', '50500']]);
  assert.deepEqual((await chain.run('preListen', pre([['tcp', 'port', '51000']]))).attrs, [['tcp', 'port', '51000']]);
});

test('portrange - the transport reads the range as the ports to try, in order', async () => {
  const chain = createChain([createPortRangeManager({ range: '50000-50003' })]);
  const out = await chain.run('preListen', pre(listenAttrs({ host: '127.0.0.1', port: 1875 })));
  assert.deepEqual(listenOptionsFromAttrs(out.attrs, { port: 1875 }), {
    host: '127.0.0.1',
    ports: [50000, 50001, 50002, 50003],
    range: { min: 50000, max: 50003 },
  });
});

test('portrange - postListen vetoes a listener bound outside the range', async () => {
  const chain = createChain([createPortRangeManager({ range: '50000-51000' })]);
  await chain.run('postListen', { ...pre([]), localContact: '0.0.0.0:50001' });
  await assert.rejects(chain.run('postListen', { ...pre([]), localContact: '0.0.0.0:1875' }), (e: unknown) => {
    assert.ok(e instanceof NetManagerError);
    assert.equal(e.message, 'A network manager (portrange) errored in postListen: the listener is bound to port 1875, outside the allowed range 50000-51000');
    return true;
  });
});

test('portrange - a bad or missing range fails at creation', async () => {
  for (const r of ['51000-50000', '0-10', '1-70000', 'lots']) {
    assert.throws(() => createPortRangeManager({ range: r }), (e: unknown) => e instanceof NetManagerConfigError && /needs range=lo-hi/.test(e.message));
  }
  await assert.rejects(chainFromOptionString('manager=portrange;'), (e: unknown) => e instanceof NetManagerConfigError && /needs range=lo-hi/.test(e.message));
});


test('portrange - live: a listener following the plan lands inside the range, skipping a busy port', { timeout: 10_000 }, async () => {
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const lo = (busy.address() as net.AddressInfo).port;
  const hi = Math.min(lo + 20, 65535);
  const chain = createChain([createPortRangeManager({ min: lo, max: hi })]);
  const server = net.createServer();
  try {
    const conn = chain.forConnection();
    const out = await conn.run('preListen', { attrs: listenAttrs({ host: '127.0.0.1', port: await freePort() }) });
    const plan = listenOptionsFromAttrs(out.attrs, { port: 0 });
    assert.equal(plan.ports[0], lo);
    let bound: number | undefined;
    bound = await bindFirstFree(server, plan);
    assert.ok(bound !== undefined && bound > lo && bound <= hi, `bound ${bound} in (${lo}, ${hi}]`);
    await conn.run('postListen', { attrs: out.attrs, localContact: formatContact('127.0.0.1', bound) });
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => busy.close(() => r()));
  }
});

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { AttrValueError } from '../../src/errors.ts';
import { createChain } from '../../src/hooks/chain.ts';
import { parseContact } from '../../src/hooks/contact.ts';
import type { Attr } from '../../src/hooks/types.ts';
import {
  SOCKET_BUFFER_UNSUPPORTED,
  applySocketAttrs,
  connectOptionsFromAttrs,
  listenAttrs,
  listenOptionsFromAttrs,
  socketOptionsFromAttrs,
} from '../../src/transport/socket-options.ts';

function attrValueError(fn: () => unknown, attrName: string, expected: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AttrValueError, String(e));
    assert.equal(e.code, 'SWITCHYARD_ERR_ATTR_VALUE');
    assert.equal(e.attrName, attrName);
    assert.match(e.expected, expected);
    return true;
  });
}

test('socket-options - listen plan precedence: non-zero port, then listen_range, then the default port', () => {
  assert.deepEqual(listenOptionsFromAttrs([], { port: 1875 }), { host: undefined, ports: [1875], range: undefined });
  assert.deepEqual(listenOptionsFromAttrs([['tcp', 'port', '9000'], ['tcp', 'listen_range', '1-2']], { port: 1875 }).ports, [9000]);
  assert.deepEqual(listenOptionsFromAttrs([['tcp', 'port', '0'], ['tcp', 'listen_range', '50000 50002']], { port: 1875 }).ports, [50000, 50001, 50002]);
  assert.deepEqual(listenOptionsFromAttrs([['tcp', 'listen_range', '7-7']], { port: 1875 }), { host: undefined, ports: [7], range: { min: 7, max: 7 } });
  assert.deepEqual(listenOptionsFromAttrs([['tcp', 'port', '0']], { port: 1875 }).ports, [0]);
  assert.deepEqual(listenOptionsFromAttrs([['udt', 'port', '5']], { port: 1875 }).ports, [1875], 'other transports\' attrs are ignored');
  assert.deepEqual(listenOptionsFromAttrs([['udt', 'port', '5']], { port: 1875 }, 'udt').ports, [5]);
});

test('socket-options - iface beats the default host; IPv6 brackets are removed', () => {
  assert.equal(listenOptionsFromAttrs([['tcp', 'iface', '10.0.0.1']], { host: '0.0.0.0', port: 0 }).host, '10.0.0.1');
  assert.equal(listenOptionsFromAttrs([['tcp', 'iface', '[::1]']], { port: 0 }).host, '::1');
  assert.equal(listenOptionsFromAttrs([], { host: 'localhost', port: 0 }).host, 'localhost');
});

test('socket-options - listenAttrs seeds preListen with the request', () => {
  assert.deepEqual(listenAttrs({ port: 1875 }), [['tcp', 'port', '1875']]);
  assert.deepEqual(listenAttrs({ host: '::', port: 0 }), [['tcp', 'port', '0'], ['tcp', 'iface', '::']]);
});

test('socket-options - bad listen values are coded errors naming the attr', () => {
  attrValueError(() => listenOptionsFromAttrs([['tcp', 'port', '70000']], { port: 0 }), 'port', /port number from 0 to 65535/);
  attrValueError(() => listenOptionsFromAttrs([['tcp', 'port', 'http']], { port: 0 }), 'port', /port number/);
  attrValueError(() => listenOptionsFromAttrs([['tcp', 'listen_range', '9-3']], { port: 0 }), 'listen_range', /lo-hi/);
  attrValueError(() => listenOptionsFromAttrs([['tcp', 'iface', ' ']], { port: 0 }), 'iface', /IP address or host name/);
});

test('socket-options - connect: iface is the local address; a name is refused', () => {
  assert.deepEqual(connectOptionsFromAttrs([]), {});
  assert.deepEqual(connectOptionsFromAttrs([['tcp', 'iface', '192.168.7.2']]), { localAddress: '192.168.7.2' });
  attrValueError(() => connectOptionsFromAttrs([['tcp', 'iface', 'eth0']]), 'iface', /IP address \(Node\.js binds outgoing connections only to addresses/);
});

test('socket-options - values: GCT booleans, K/M/G sizes, keepalive idle; the last attr wins', () => {
  const req = socketOptionsFromAttrs([
    ['tcp', 'nodelay', 'no'],
    ['tcp', 'nodelay', 'Y'],
    ['tcp', 'keepalive', '1'],
    ['tcp', 'keepalive_idle', '30'],
    ['tcp', 'sndbuf', '4M'],
    ['tcp', 'rcvbuf', '64K'],
    ['tcp', 'port', '1875'],
    ['tcp', 'reuse', 'true'],
    ['tcp', 'nodeley', 'true'],
    ['global', 'nodelay', 'false'],
  ]);
  assert.deepEqual(req, {
    nodelay: true,
    keepalive: true,
    keepaliveIdleSeconds: 30,
    sndbuf: 4 * 1024 * 1024,
    rcvbuf: 65536,
    unsupported: [
      { name: 'reuse', value: 'true', reason: 'Node.js sets SO_REUSEADDR on every listening socket itself and cannot turn it off' },
      { name: 'nodeley', value: 'true', reason: 'unknown tcp option' },
    ],
  });
  attrValueError(() => socketOptionsFromAttrs([['tcp', 'nodelay', 'maybe']]), 'nodelay', /boolean/);
  attrValueError(() => socketOptionsFromAttrs([['tcp', 'sndbuf', '64k']]), 'sndbuf', /64K or 4M/);
  attrValueError(() => socketOptionsFromAttrs([['tcp', 'rcvbuf', '0']]), 'rcvbuf', /from 1 to 2147483647/);
  attrValueError(() => socketOptionsFromAttrs([['tcp', 'rcvbuf', '2G']]), 'rcvbuf', /byte count/);
  attrValueError(() => socketOptionsFromAttrs([['tcp', 'keepalive_idle', '0']]), 'keepalive_idle', /integer from 1/);
});

async function pair(): Promise<{ server: net.Server; client: net.Socket; accepted: net.Socket; close: () => Promise<void> }> {
  const server = net.createServer();
  const acceptedP = new Promise<net.Socket>((r) => server.once('connection', r));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((r, j) => {
    client.once('connect', r);
    client.once('error', j);
  });
  const accepted = await acceptedP;
  return {
    server,
    client,
    accepted,
    close: async () => {
      client.destroy();
      accepted.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('socket-options - live: applied options reach Node\'s setters, buffers are reported as not applied', { timeout: 10_000 }, async () => {
  const p = await pair();
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w);
  };
  process.on('warning', onWarning);
  try {
    const calls: unknown[] = [];
    const s = p.accepted;
    const realNoDelay = s.setNoDelay.bind(s);
    const realKeepAlive = s.setKeepAlive.bind(s);
    s.setNoDelay = (v?: boolean) => {
      calls.push(['setNoDelay', v]);
      return realNoDelay(v);
    };
    s.setKeepAlive = (on?: boolean, ms?: number) => {
      calls.push(['setKeepAlive', on, ms]);
      return realKeepAlive(on, ms);
    };
    const attrs: Attr[] = [['tcp', 'nodelay', 'true'], ['tcp', 'keepalive_idle', '45'], ['tcp', 'sndbuf', '1M'], ['tcp', 'rcvbuf', '2M']];
    const report = applySocketAttrs(s, attrs);
    assert.deepEqual(calls, [['setNoDelay', true], ['setKeepAlive', true, 45_000]]);
    assert.deepEqual(report, {
      applied: { nodelay: true, keepalive: true, keepaliveIdleSeconds: 45 },
      notApplied: [
        { name: 'sndbuf', value: '1048576', reason: SOCKET_BUFFER_UNSUPPORTED },
        { name: 'rcvbuf', value: '2097152', reason: SOCKET_BUFFER_UNSUPPORTED },
      ],
    });
    assert.deepEqual(applySocketAttrs(p.client, [['tcp', 'keepalive', 'off'], ['tcp', 'sndbuf', '8K']]).applied, { keepalive: false });
    // the socket still carries data
    const got = new Promise<string>((r) => p.client.once('data', (d) => r(d.toString())));
    s.write('ping');
    assert.equal(await got, 'ping');
    await new Promise((r) => setImmediate(r));
    const ours = warnings.filter((w) => (w as NodeJS.ErrnoException).code === 'SWITCHYARD_WARN_SOCKET_BUFFER');
    assert.equal(ours.length, 1, 'one warning per process');
    assert.match(ours[0]?.message ?? '', /sndbuf=1048576, which is not applied: Node\.js 20 cannot set SO_SNDBUF\/SO_RCVBUF/);
  } finally {
    process.off('warning', onWarning);
    await p.close();
  }
});

test('socket-options - live: a bad value throws before the socket is touched', { timeout: 10_000 }, async () => {
  const p = await pair();
  try {
    let touched = false;
    p.client.setNoDelay = () => {
      touched = true;
      return p.client;
    };
    assert.throws(() => applySocketAttrs(p.client, [['tcp', 'nodelay', 'true'], ['tcp', 'sndbuf', 'big']]), AttrValueError);
    assert.equal(touched, false);
  } finally {
    await p.close();
  }
});

test('socket-options - live: preConnect picks the interface a connection leaves from', { timeout: 10_000, skip: process.platform !== 'linux' && 'needs 127.0.0.0/8 on loopback' }, async () => {
  const server = net.createServer();
  const peer = new Promise<string | undefined>((r) => server.once('connection', (s) => {
    r(s.remoteAddress);
    s.destroy();
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  try {
    const chain = createChain([{ name: 'via-lo2', preConnect: ({ attrs }) => ({ attrs: [...attrs, ['tcp', 'iface', '127.0.0.2']] }) }]);
    const out = await chain.forConnection().run('preConnect', { remoteContact: `127.0.0.1:${port}`, attrs: [] });
    const { host, port: p } = parseContact(out.contact ?? '');
    const socket = net.connect({ host, port: p, ...connectOptionsFromAttrs(out.attrs) });
    await new Promise<void>((r, j) => {
      socket.once('connect', r);
      socket.once('error', j);
    });
    assert.equal(socket.localAddress, '127.0.0.2');
    assert.equal(await peer, '127.0.0.2');
    socket.destroy();
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

/**
 * Live-socket tests of the hooks with plain node:net sockets, driven the way transport/ is meant
 * to drive them (see docs/hooks.md, "For transport authors"). The Manager-level tests live with
 * transport/ and manager/.
 */
import assert from 'node:assert/strict';
import { freePort } from '../helpers/index.ts';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NetManagerError } from '../../src/errors.ts';
import { createChain, type NetManagerChain } from '../../src/hooks/chain.ts';
import { chainFromOptionString } from '../../src/hooks/config.ts';
import { formatContact, parseContact } from '../../src/hooks/contact.ts';
import type { Attr } from '../../src/hooks/types.ts';
import { applySocketAttrs, connectOptionsFromAttrs, listenAttrs, listenOptionsFromAttrs } from '../../src/transport/socket-options.ts';
import { bindFirstFree, portDeltaModule, tempDir, writeFixture } from './fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir());
});
after(() => cleanup());

const ip = (a: string | undefined): string => (a ?? '').replace(/^::ffff:/, '');

interface HookedServer {
  server: net.Server;
  contact: string;
  port: number;
  rejected: Error[];
  close(): Promise<void>;
}

/** A listener driven through the chain: preListen, bind per plan, postListen, accept hooks, endListen. */
async function hookedListen(chain: NetManagerChain, request: { host: string; port: number }, onSocket: (s: net.Socket) => void): Promise<HookedServer> {
  const listener = chain.forConnection({ taskId: 'listener' });
  const pre = await listener.run('preListen', { attrs: listenAttrs(request) });
  const plan = listenOptionsFromAttrs(pre.attrs, request);
  const rejected: Error[] = [];
  let contact = '';
  let n = 0;
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    const conn = chain.forConnection({ taskId: `accepted-${++n}` });
    const remote = formatContact(ip(socket.remoteAddress), socket.remotePort ?? 0);
    const c = { localContact: contact, remoteContact: remote };
    void (async () => {
      try {
        const a = await conn.run('preAccept', { ...c, attrs: pre.attrs });
        const b = await conn.run('postAccept', { ...c, attrs: a.attrs });
        applySocketAttrs(socket, b.attrs);
        socket.once('close', () => {
          void conn.run('postClose', { ...c, attrs: b.attrs }).catch(() => {});
        });
        socket.resume();
        onSocket(socket);
      } catch (err) {
        rejected.push(err as Error);
        socket.destroy();
      }
    })();
  });
  const bound = await bindFirstFree(server, plan);
  assert.ok(bound !== undefined, 'bound a port');
  const post = await listener.run('postListen', { attrs: pre.attrs, localContact: formatContact(plan.host ?? '0.0.0.0', bound) });
  contact = post.contact ?? '';
  return {
    server,
    contact,
    port: bound,
    rejected,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await listener.run('endListen', { attrs: pre.attrs, localContact: contact });
    },
  };
}

/** A connection driven through the chain: preConnect (may reroute), connect, postConnect, preClose/postClose. */
async function hookedConnect(chain: NetManagerChain, contact: string, taskId: string): Promise<{ socket: net.Socket; close(): Promise<void> }> {
  const conn = chain.forConnection({ taskId });
  const pre = await conn.run('preConnect', { remoteContact: contact, attrs: [] });
  const target = parseContact(pre.contact ?? contact);
  const socket = net.connect({ host: target.host, port: target.port, ...connectOptionsFromAttrs(pre.attrs) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const c = { localContact: formatContact(ip(socket.localAddress), socket.localPort ?? 0), remoteContact: pre.contact ?? contact };
  const post = await conn.run('postConnect', { ...c, attrs: pre.attrs });
  applySocketAttrs(socket, post.attrs);
  return {
    socket,
    close: async () => {
      await conn.run('preClose', { ...c, attrs: post.attrs });
      await new Promise<void>((r) => {
        socket.once('close', () => r());
        socket.end();
      });
      await conn.run('postClose', { ...c, attrs: post.attrs });
    },
  };
}


const echo = (s: net.Socket): void => {
  s.on('data', (d) => s.write(d));
  s.on('end', () => s.end());
};

async function roundTrip(socket: net.Socket, text: string): Promise<string> {
  const got = new Promise<string>((r) => socket.once('data', (d) => r(d.toString())));
  socket.write(text);
  return got;
}

// T11
test('live - T11 with no managers: listen, accept, connect and close work', { timeout: 10_000 }, async () => {
  const chain = createChain([]);
  assert.equal(chain.empty, true);
  const srv = await hookedListen(chain, { host: '127.0.0.1', port: 0 }, echo);
  const c = await hookedConnect(chain, srv.contact, 'c');
  assert.equal(await roundTrip(c.socket, 'hello'), 'hello');
  await c.close();
  await srv.close();
});

test('live - T11 port_plus_one binds the next port; plus then minus binds the port asked for', { timeout: 10_000 }, async () => {
  const plus = await writeFixture(dir, 'port_plus_one.mjs', portDeltaModule(1));
  const minus = await writeFixture(dir, 'port_minus_one.mjs', portDeltaModule(-1));
  const q = await freePort();
  const one = await chainFromOptionString(`manager=module;path=${plus};`);
  const a = await hookedListen(one, { host: '127.0.0.1', port: q - 1 }, echo);
  assert.equal(a.port, q);
  await a.close();
  const both = await chainFromOptionString(`manager=module;path=${plus};manager=module;path=${minus};`);
  const b = await hookedListen(both, { host: '127.0.0.1', port: q }, echo);
  assert.equal(b.port, q);
  await b.close();
});

test('live - a preConnect that rewrites the contact reaches a server on another port', { timeout: 10_000 }, async () => {
  const srv = await hookedListen(createChain([]), { host: '127.0.0.1', port: 0 }, echo);
  const chain = createChain([{ name: 'redirect', preConnect: () => ({ contact: srv.contact }) }]);
  const c = await hookedConnect(chain, '127.0.0.1:1', 'c');
  assert.equal(c.socket.remotePort, srv.port);
  assert.equal(await roundTrip(c.socket, 'via redirect'), 'via redirect');
  await c.close();
  await srv.close();
});

test('live - a preAccept veto refuses one peer and the server keeps serving others', { timeout: 10_000 }, async () => {
  let refuseNext = true;
  const chain = createChain([
    {
      name: 'doorman',
      preAccept: () => {
        if (refuseNext) {
          refuseNext = false;
          throw new Error('not on the list');
        }
      },
    },
  ]);
  const srv = await hookedListen(chain, { host: '127.0.0.1', port: 0 }, echo);
  const refused = await hookedConnect(createChain([]), srv.contact, 'r');
  await new Promise<void>((r) => refused.socket.once('close', () => r()));
  assert.equal(srv.rejected.length, 1);
  assert.ok(srv.rejected[0] instanceof NetManagerError);
  assert.equal(srv.rejected[0]?.message, 'A network manager (doorman) errored in preAccept: not on the list');
  const ok = await hookedConnect(createChain([]), srv.contact, 'ok');
  assert.equal(await roundTrip(ok.socket, 'still here'), 'still here');
  await ok.close();
  await srv.close();
});

test('live - the logging manager\'s file shows one line per callout for the whole life, in order', { timeout: 10_000 }, async () => {
  const file = join(dir, 'net.log');
  const serverChain = await chainFromOptionString(`manager=logging;file=${file};`);
  const clientChain = createChain([]);
  let accepted: net.Socket | undefined;
  const srv = await hookedListen(serverChain, { host: '127.0.0.1', port: 0 }, (s) => {
    accepted = s;
    echo(s);
  });
  const c = await hookedConnect(clientChain, srv.contact, 'c');
  assert.equal(await roundTrip(c.socket, 'x'), 'x');
  const remote = formatContact('127.0.0.1', c.socket.localPort ?? 0);
  const acceptedClosed = new Promise<void>((r) => accepted?.once('close', () => r()));
  await c.close();
  await acceptedClosed;
  await new Promise((r) => setTimeout(r, 20));
  await srv.close();
  await serverChain.close();
  const local = srv.contact;
  const p: Attr = ['tcp', 'port', '0'];
  const i: Attr = ['tcp', 'iface', '127.0.0.1'];
  const at = `[${p.join(', ')}] [${i.join(', ')}] `;
  assert.deepEqual((await readFile(file, 'utf8')).split('\n'), [
    `pre_listen:logging: task-id=listener transport=tcp${at}`,
    `post_listen:logging: task-id=listener transport=tcp${at}${local} `,
    `pre_accept:logging: task-id=accepted-1 transport=tcp${at}${local} `,
    `post_accept:logging: task-id=accepted-1 transport=tcp${at}${local} ${remote} `,
    `post_close:logging: task-id=accepted-1 transport=tcp${at}${local} ${remote} `,
    `end_listen:logging: task-id=listener transport=tcp${at}${local} `,
    '',
  ]);
});

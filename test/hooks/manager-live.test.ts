/**
 * Network-manager hooks on live sockets, through the Manager and its clients (issue 4's scenarios).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connect } from '../../src/client/client.ts';
import { ConnectError, NetManagerError } from '../../src/errors.ts';
import type { NetManager } from '../../src/hooks/types.ts';
import { Service } from '../../src/service/service.ts';
import { startTestManager, tempDir, useTempHome, within } from '../helpers/index.ts';

useTempHome();

async function freeRange(size: number): Promise<[number, number]> {
  // Find `size` consecutive free ports (probing by binding; a race with other processes is possible but rare).
  for (let attempt = 0; attempt < 50; attempt++) {
    const lo = 40000 + Math.floor(Math.random() * 20000);
    let ok = true;
    for (let p = lo; p < lo + size && ok; p++) {
      ok = await new Promise<boolean>((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
      });
    }
    if (ok) return [lo, lo + size - 1];
  }
  throw new Error('no free port range found');
}

describe('hooks - live through the Manager', { timeout: 60_000 }, () => {
  test('hooks - portrange makes the Manager listen inside the range', async () => {
    const [lo, hi] = await freeRange(5);
    const m = await startTestManager({ port: 0, hooks: `manager=portrange;range=${lo}-${hi};` });
    try {
      assert.ok(m.port >= lo && m.port <= hi, `port ${m.port} outside ${lo}-${hi}`);
      const c = await connect({ host: '127.0.0.1', port: m.port, disableTls: true });
      await c.disconnect();
    } finally {
      await m.close();
    }
  });

  test('hooks - a contact rewritten in postListen is what the Manager advertises', async () => {
    const front: NetManager = { name: 'front', postListen: () => ({ contact: 'gateway.example:443' }) };
    const m = await startTestManager({ hooks: [front] });
    try {
      assert.equal(m.contact, 'gateway.example:443');
      assert.equal(m.networkName, 'Manager[gateway.example:443]');
      const c = await connect({ host: '127.0.0.1', port: m.port, disableTls: true });
      assert.equal(c.managerName, 'Manager[gateway.example:443]');
      const ids = await c.identities();
      assert.equal(ids.hostname, 'gateway.example');
      assert.equal(ids.port, 443);
      await c.disconnect();
    } finally {
      await m.close();
    }
  });

  test('hooks - a preConnect that rewrites the contact makes a client reach a Manager on another port', async () => {
    const m = await startTestManager();
    try {
      const reroute: NetManager = { name: 'reroute', preConnect: () => ({ contact: `127.0.0.1:${m.port}` }) };
      const c = await connect({ host: '127.0.0.1', port: 1, disableTls: true, hooks: [reroute] });
      assert.equal(c.managerName, m.networkName);
      await c.disconnect();
    } finally {
      await m.close();
    }
  });

  test('hooks - a preAccept veto refuses one peer and the Manager keeps serving others', async () => {
    let seen = 0;
    const bouncer: NetManager = {
      name: 'bouncer',
      preAccept: () => {
        if (seen++ === 0) throw new Error('first caller refused');
      },
    };
    const m = await startTestManager({ hooks: [bouncer] });
    try {
      const refused = await connect({ host: '127.0.0.1', port: m.port, disableTls: true, timeout: 2000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(refused instanceof ConnectError || refused instanceof Error, String(refused));
      const ok = await connect({ host: '127.0.0.1', port: m.port, disableTls: true });
      assert.equal(ok.dialect, 'native');
      await ok.disconnect();
    } finally {
      await m.close();
    }
  });

  test('hooks - a vetoing preConnect fails the connect with a coded error naming the manager', async () => {
    const m = await startTestManager();
    try {
      const deny: NetManager = {
        name: 'deny',
        preConnect: () => {
          throw new Error('not allowed');
        },
      };
      const err = await connect({ host: '127.0.0.1', port: m.port, disableTls: true, hooks: [deny] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const cause = err instanceof ConnectError ? err.cause : err;
      assert.ok(cause instanceof NetManagerError, String(err));
      assert.equal(cause.manager, 'deny');
      assert.equal(cause.callout, 'preConnect');
      assert.match(cause.message, /^A network manager \(deny\) errored in preConnect/);
    } finally {
      await m.close();
    }
  });

  test('hooks - the logging manager writes one line per callout for a whole life, in order', async () => {
    const dir = tempDir();
    const managerLog = join(dir.path, 'manager.log');
    const clientLog = join(dir.path, 'client.log');
    class Echo extends Service {
      echo(x: unknown): unknown {
        return x;
      }
    }
    const m = await startTestManager({ hooks: `manager=logging;file=${managerLog};` });
    const svc = new Echo();
    try {
      await svc.start({ host: '127.0.0.1', port: m.port, disableTls: true, hooks: [] });
      const c = await connect({ host: '127.0.0.1', port: m.port, disableTls: true, hooks: `manager=logging;file=${clientLog};` });
      const link = await c.link<Echo>('Echo');
      assert.equal(await link.echo('x'), 'x');
      const localPort = (await c.identities()).clients[c.networkName]?.address.split(':')[1];
      await c.disconnect();
      await svc.disconnect();
      await m.close();
      const deadline = Date.now() + 3000;
      const read = (f: string): string[] => readFileSync(f, 'utf8').split('\n').filter(Boolean);
      const complete = (): boolean => read(managerLog).filter((l) => l.startsWith('post_close')).length >= 2 && read(managerLog).some((l) => l.startsWith('end_listen')) && read(clientLog).some((l) => l.startsWith('post_close'));
      while (!complete() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const client = read(clientLog);
      assert.deepEqual(
        client.map((l) => l.split(':')[0]),
        ['pre_connect', 'post_connect', 'pre_close', 'post_close'],
      );
      const clientTask = /task-id=(\S+)/.exec(client[0] as string)?.[1];
      assert.ok(client.every((l) => l.includes(`task-id=${clientTask} `)), 'one task id per connection');
      // pre_accept knows only the listener's contact; the task id ties the connection's lines together.
      const accepted = read(managerLog).find((l) => l.startsWith('post_accept') && localPort !== undefined && l.includes(`:${localPort} `));
      const task = /task-id=(\S+)/.exec(accepted ?? '')?.[1];
      assert.ok(task, 'the accepted connection was logged');
      const mine = read(managerLog).filter((l) => l.includes(`task-id=${task} `));
      assert.deepEqual(
        mine.map((l) => l.split(':')[0]),
        ['pre_accept', 'post_accept', 'pre_close', 'post_close'],
      );
      const all = read(managerLog).map((l) => l.split(':')[0]);
      assert.equal(all[0], 'pre_listen');
      assert.equal(all[1], 'post_listen');
      // Connections may outlive their listener, so end_listen need not be last; it comes once.
      assert.equal(all.filter((n) => n === 'end_listen').length, 1);
      assert.match(mine[0] as string, /^pre_accept:logging: task-id=\S+ transport=tcp/);
    } finally {
      await svc.disconnect().catch(() => {});
      await m.close();
      dir.remove();
    }
  });

  test('hooks - an empty chain costs nothing: no hook object is consulted per request', async () => {
    let calls = 0;
    const counting: NetManager = {
      name: 'count',
      preAccept: () => {
        calls++;
      },
      postAccept: () => {
        calls++;
      },
    };
    class Adder extends Service {
      add(a: number, b: number): number {
        return a + b;
      }
    }
    const m = await startTestManager({ hooks: [counting] });
    const svc = new Adder();
    try {
      await svc.start({ host: '127.0.0.1', port: m.port, disableTls: true });
      const c = await connect({ host: '127.0.0.1', port: m.port, disableTls: true });
      const link = await c.link<Adder>('Adder');
      const before = calls;
      for (let i = 0; i < 100; i++) await link.add(i, 1);
      assert.equal(calls, before, 'callouts ran on the request path');
      assert.equal(before, 4, 'two accept callouts for each of two connections');
      await c.disconnect();
      await within(svc.disconnect(), 3000, 'service disconnect');
    } finally {
      await m.close();
    }
  });
});

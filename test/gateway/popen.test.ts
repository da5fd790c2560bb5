import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { Channel } from '../../src/channel/channel.ts';
import {
  ChannelEOFError,
  ConnectionClosedError,
  GatewaySpecError,
  GatewayStartError,
  RemoteError,
  RemoteSourceError,
} from '../../src/errors.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { Group } from '../../src/gateway/group.ts';
import { processAlive, runScript, tempDir, until } from './helpers.ts';

const T = { timeout: 10_000 };
const group = new Group({ output: 'ignore' });
after(() => group.terminate({ timeout: 1000 }));

describe('popen gateway', () => {
  test('remoteExec - a string source receives and answers over its channel', async () => {
    const gw = await group.makeGateway('popen');
    const ch = gw.remoteExec('channel.send(await channel.receive() + 1)');
    await ch.send(41);
    assert.equal(await ch.receive(T), 42);
    await ch.waitClose(T);
  });

  test('remoteExec - a function gets the channel and kwargs; its return closes the channel', async () => {
    const gw = await group.makeGateway('popen');
    const ch = gw.remoteExec(
      async (channel, kwargs: { factor: number; big: bigint }) => {
        for await (const n of channel) await channel.send((n as number) * kwargs.factor);
        await channel.send(kwargs.big * 2n);
      },
      { factor: 3, big: 2n ** 70n },
    );
    await ch.send(1);
    await ch.send(2);
    assert.equal(await ch.receive(T), 3);
    assert.equal(await ch.receive(T), 6);
    ch.close();
    await assert.rejects(ch.receive(T), ChannelEOFError);
  });

  test('remoteExec - a function that uses a variable of its enclosing scope is refused before anything is sent', async () => {
    const gw = await group.makeGateway('popen');
    const threshold = 10;
    const before = gw.channelCount;
    assert.throws(
      () => gw.remoteExec(async (channel) => channel.send(threshold)),
      (e: unknown) => e instanceof RemoteSourceError && e.freeNames.join() === 'threshold' && /enclosing scope/.test(e.message) && /kwargs/.test(e.message),
    );
    assert.equal(gw.channelCount, before);
    // Globals, its own declarations and parameters are fine.
    const ch = gw.remoteExec(async (channel) => {
      const threshold = Buffer.from('ok').toString();
      await channel.send(threshold);
    });
    assert.equal(await ch.receive(T), 'ok');
  });

  test('remoteExec - a module file is read at call time and its name appears in remote stack traces', async () => {
    const gw = await group.makeGateway('popen');
    const { dir, cleanup } = await tempDir();
    try {
      const file = join(dir, 'remote-task.js');
      await writeFile(file, 'await channel.send("v1");\n');
      const ch1 = gw.remoteExec({ module: file });
      assert.equal(await ch1.receive(T), 'v1');
      await writeFile(file, '// line 1\nthrow new RangeError("from module " + kwargs.n);\n');
      const ch2 = gw.remoteExec(pathToFileURL(file), { n: 7 });
      const err = await ch2.waitClose(T).catch((e: unknown) => e);
      assert.ok(err instanceof RemoteError);
      assert.equal(err.remoteName, 'RangeError');
      assert.equal(err.remoteMessage, 'from module 7');
      assert.match(err.traceback.join('\n'), new RegExp(`remote-task\\.js:2`));
      assert.equal(err.origin, gw.id);
    } finally {
      await cleanup();
    }
  });

  test('remoteExec - exceptions and syntax errors arrive as RemoteError with the remote stack', async () => {
    const gw = await group.makeGateway('popen');
    const ch = gw.remoteExec(() => {
      (null as unknown as { x: number }).x;
    });
    const err = await ch.receive(T).catch((e: unknown) => e);
    assert.ok(err instanceof RemoteError);
    assert.equal(err.remoteName, 'TypeError');
    assert.match(err.traceback.join('\n'), /<remote exec>/);
    await assert.rejects(ch.receive(T), ChannelEOFError);
    const bad = gw.remoteExec('this is not javascript');
    await assert.rejects(bad.waitClose(T), (e: unknown) => e instanceof RemoteError && e.remoteName === 'SyntaxError');
  });

  test('remoteExec - an EOF error thrown by remote code is reported, not swallowed (execnet swallows it)', async () => {
    const gw = await group.makeGateway('popen');
    const ch = gw.remoteExec(async (channel) => {
      const sub = (await channel.receive()) as { receive(): Promise<unknown>; waitClose(): Promise<void> };
      await sub.waitClose();
      await sub.receive();
    });
    const sub = gw.newChannel();
    await ch.send(sub);
    sub.close();
    await assert.rejects(ch.waitClose(T), (e: unknown) => e instanceof RemoteError && e.remoteName === 'ChannelEOFError');
  });

  test('remoteExec - remote code that sets a callback keeps its channel open and answers each item', async () => {
    const gw = await group.makeGateway('popen');
    const ch = gw.remoteExec((channel) => {
      channel.setCallback((item) => channel.send((item as string).toUpperCase()));
    });
    await ch.send('a');
    await ch.send('b');
    assert.equal(await ch.receive(T), 'A');
    assert.equal(await ch.receive(T), 'B');
    ch.close();
  });

  test('remoteExec - channels travel inside items in both directions', async () => {
    const gw = await group.makeGateway('popen');
    const ch = gw.remoteExec(async (channel) => {
      const { reply } = (await channel.receive()) as { reply: Channel };
      await reply.send('on the passed channel');
      const mine = (channel as unknown as { _host: unknown }) && undefined;
      void mine;
    });
    const sub = gw.newChannel();
    await ch.send({ reply: sub });
    assert.equal(await sub.receive(T), 'on the passed channel');
    assert.ok(sub instanceof Channel);
  });

  test('remoteExec - console.log and direct fd 1 writes in remote code do not disturb the protocol and reach the output option', async () => {
    const out: string[] = [];
    const gw = await group.makeGateway('popen', { output: (chunk, stream) => out.push(`${stream}:${chunk.toString()}`) });
    const ch = gw.remoteExec(async (channel) => {
      console.log('hello from console.log');
      require('node:fs').writeSync(1, 'raw fd 1\n');
      console.error('to stderr');
      await channel.send('still fine');
    });
    assert.equal(await ch.receive(T), 'still fine');
    await until(() => out.join('').includes('to stderr') && out.join('').includes('raw fd 1'), 5000, 'forwarded output');
    assert.ok(out.some((o) => o.startsWith('stdout:') && o.includes('hello from console.log')));
    assert.ok(out.some((o) => o.startsWith('stderr:') && o.includes('to stderr')));
  });

  test('remoteInfo and remoteStatus - facts about the worker and counts of running executions', async () => {
    const gw = await group.makeGateway('popen');
    const info = await gw.remoteInfo();
    assert.equal(info.pid, gw.pid);
    assert.equal(info.ppid, process.pid);
    assert.equal(info.version, process.version);
    assert.equal(info.cwd, process.cwd());
    assert.equal(info.platform, process.platform);
    const idle = await gw.remoteStatus(T);
    assert.deepEqual(idle, { numChannels: 0, numExecuting: 0, execModel: 'event-loop' });
    const a = gw.remoteExec('await channel.receive()');
    const b = gw.remoteExec('await channel.receive()');
    const busy = await gw.remoteStatus(T);
    assert.equal(busy.numExecuting, 2);
    assert.equal(busy.numChannels, 2);
    await a.send(1);
    await b.send(1);
    await a.waitClose(T);
    await b.waitClose(T);
    assert.equal((await gw.remoteStatus(T)).numExecuting, 0);
  });

  test('spec - chdir (created), env and nice apply to the worker before code runs', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const target = join(dir, 'a', 'b');
      const gw = await group.makeGateway(`popen//chdir=${target}//env:SWITCHYARD_TEST_X=x=y//nice=5`);
      assert.equal((await gw.remoteInfo()).cwd, target);
      const ch = gw.remoteExec(async (channel) => {
        await channel.send([process.cwd(), process.env['SWITCHYARD_TEST_X'], require('node:os').getPriority()]);
      });
      assert.deepEqual(await ch.receive(T), [target, 'x=y', 5]);
    } finally {
      await cleanup();
    }
  });

  test('start - a missing node program and one that exits fail with GatewayStartError carrying the cause', async () => {
    await assert.rejects(group.makeGateway('popen//node=/nonexistent/node'), (e: unknown) => e instanceof GatewayStartError && /ENOENT/.test(e.message));
    await assert.rejects(
      group.makeGateway('popen//node=/bin/sh -c "echo broken >&2; exit 3"'),
      (e: unknown) => e instanceof GatewayStartError && e.exitCode === 3 && e.stderr.includes('broken') && /exited with code 3/.test(e.message),
    );
  });
});

describe('termination', () => {
  test('exit - ends the worker; a second exit is a no-op; remoteExec afterwards throws', async () => {
    const gw = await group.makeGateway('popen');
    const pid = gw.pid as number;
    gw.exit();
    gw.exit();
    assert.equal(gw.alive, false);
    assert.throws(() => gw.remoteExec('1'), ConnectionClosedError);
    await gw.join(T);
    assert.deepEqual(gw.exitStatus, { code: 0, signal: null });
    assert.equal(processAlive(pid), false);
    assert.match(String(gw), /closed/);
  });

  test('terminate - right after a remoteExec that waits on its channel, the worker exits gracefully (no kill)', async () => {
    const g = new Group({ output: 'ignore' });
    const gw = await g.makeGateway('popen');
    const ch = gw.remoteExec('await channel.receive()');
    await g.terminate({ timeout: 3000 });
    assert.deepEqual(gw.exitStatus, { code: 0, signal: null });
    await assert.rejects(ch.receive(T), ChannelEOFError);
    assert.equal(g.size, 0);
    assert.equal(String(g), '<Group []>');
  });

  test('terminate - a worker stuck in a busy loop is killed and terminate still returns', async () => {
    const g = new Group({ output: 'ignore' });
    const gw = await g.makeGateway('popen');
    const ch = gw.remoteExec('await channel.send("spinning"); await new Promise((r) => setTimeout(r, 20)); for (;;) {}');
    assert.equal(await ch.receive(T), 'spinning');
    await g.terminate({ timeout: 300 });
    assert.equal(gw.exitStatus?.signal, 'SIGKILL');
    assert.equal(processAlive(gw.pid as number), false);
  });

  test('terminate - aborting the signal ends the graceful wait: a busy worker is killed at once, and terminate resolves', { timeout: 15_000 }, async () => {
    const g = new Group({ output: 'ignore' });
    try {
      const gw = await g.makeGateway('popen');
      const ch = gw.remoteExec('await channel.send("spinning"); await new Promise((r) => setTimeout(r, 20)); for (;;) {}');
      assert.equal(await ch.receive(T), 'spinning');
      const ac = new AbortController();
      const started = Date.now();
      const terminated = gw.terminate({ timeout: 60_000, signal: ac.signal });
      setTimeout(() => ac.abort(new Error('shutting down')), 100).unref();
      await terminated;
      const took = Date.now() - started;
      // Without the abort it would wait the 60 s timeout (or the worker's 10.5 s hang-up guard).
      assert.ok(took >= 90 && took < 5000, `terminate took ${took} ms`);
      assert.equal(gw.exitStatus?.signal, 'SIGKILL');
      assert.equal(processAlive(gw.pid as number), false);
      // A second terminate, even with an aborted signal, resolves at once.
      await gw.terminate({ signal: AbortSignal.abort() });
    } finally {
      await g.terminate({ timeout: 500 });
    }
  });

  test('terminate - a signal aborted before the call kills right after the hang-up; one that never aborts changes nothing', { timeout: 15_000 }, async () => {
    const g = new Group({ output: 'ignore' });
    try {
      const busy = await g.makeGateway('popen');
      const ch = busy.remoteExec('await channel.send("spinning"); await new Promise((r) => setTimeout(r, 20)); for (;;) {}');
      assert.equal(await ch.receive(T), 'spinning');
      const started = Date.now();
      await busy.terminate({ timeout: 60_000, signal: AbortSignal.abort() });
      assert.ok(Date.now() - started < 3000, `terminate took ${Date.now() - started} ms`);
      assert.equal(busy.exitStatus?.signal, 'SIGKILL');

      const idle = await g.makeGateway('popen');
      const pending = new AbortController();
      await idle.terminate({ timeout: 5000, signal: pending.signal });
      assert.deepEqual(idle.exitStatus, { code: 0, signal: null });
    } finally {
      await g.terminate({ timeout: 500 });
    }
  });

  test('dispose - await using terminates the gateway gracefully at the end of the block, also when the block throws', { timeout: 20_000 }, async () => {
    let kept: Gateway | undefined;
    {
      await using gw = await group.makeGateway('popen');
      kept = gw;
      assert.equal(await gw.remoteExec('channel.send(kwargs.n + 1)', { n: 1 }).receive(T), 2);
    }
    assert.deepEqual(kept.exitStatus, { code: 0, signal: null });
    assert.equal(processAlive(kept.pid as number), false);
    assert.equal(group.has(kept), false);

    let thrownIn: Gateway | undefined;
    await assert.rejects(async () => {
      await using gw = await group.makeGateway('popen');
      thrownIn = gw;
      throw new Error('boom');
    }, /boom/);
    assert.deepEqual(thrownIn?.exitStatus, { code: 0, signal: null });
    assert.equal(processAlive(thrownIn?.pid as number), false);
  });

  test('connection loss - a killed worker ends receives with EOF, callbacks get their endmarker once', async () => {
    const gw = await group.makeGateway('popen');
    const a = gw.remoteExec('await new Promise(() => {})');
    const b = gw.remoteExec('await new Promise(() => {})');
    const seen: unknown[] = [];
    b.setCallback((x) => seen.push(x), { endmarker: 'END' });
    const pending = a.receive(T);
    process.kill(gw.pid as number, 'SIGKILL');
    await assert.rejects(pending, (e: unknown) => e instanceof ChannelEOFError && e.reason === 'connection-lost');
    await assert.rejects(a.waitClose(T), ChannelEOFError);
    await until(() => seen.length > 0, 5000, 'endmarker');
    assert.deepEqual(seen, ['END']);
    await gw.join(T);
    assert.throws(() => gw.remoteExec('1'), ConnectionClosedError);
    await assert.rejects(a.send(1), { code: 'SWITCHYARD_ERR_CHANNEL_CLOSED' });
  });

  test('orphans - a worker whose host process is SIGKILLed exits by itself', async () => {
    let workerPid = 0;
    const code = `
      import { makeGateway } from './src/gateway/index.ts';
      const gw = await makeGateway('popen', { output: 'ignore' });
      gw.remoteExec('await new Promise(() => {})');
      console.log('worker ' + gw.pid);
      setInterval(() => {}, 1000);
    `;
    await runScript(code, (line, child) => {
      const m = /^worker (\d+)$/.exec(line);
      if (m) {
        workerPid = Number(m[1]);
        child.kill('SIGKILL');
      }
    });
    assert.ok(workerPid > 0);
    await until(() => !processAlive(workerPid), 5000, `worker ${workerPid} to exit`);
  });

  test('process exit - a script that forgets to terminate still exits, and its workers go too', async () => {
    let workerPid = 0;
    const code = `
      import { makeGateway } from './src/gateway/index.ts';
      const gw = await makeGateway('popen', { output: 'ignore' });
      const ch = gw.remoteExec('channel.send(1)');
      await ch.receive();
      await ch.waitClose();
      console.log('worker ' + gw.pid);
    `;
    const exitCode = await runScript(code, (line) => {
      const m = /^worker (\d+)$/.exec(line);
      if (m) workerPid = Number(m[1]);
    });
    assert.equal(exitCode, 0);
    assert.ok(workerPid > 0);
    await until(() => !processAlive(workerPid), 5000, `worker ${workerPid} to exit`);
  });
});

describe('group', () => {
  test('group - ids gw0, gw1 and explicit ids; lookup, duplicates, and a counter that keeps counting', async () => {
    const g = new Group({ output: 'ignore' });
    try {
      const a = await g.makeGateway();
      const b = await g.makeGateway('popen//id=special');
      assert.equal(a.id, 'gw0');
      assert.equal(b.id, 'special');
      assert.equal(g.get(0), a);
      assert.equal(g.get('special'), b);
      assert.ok(g.has('gw0') && g.has(b) && !g.has('nope'));
      assert.equal(g.size, 2);
      assert.deepEqual([...g].map((x) => x.id), ['gw0', 'special']);
      assert.equal(String(g), "<Group ['gw0', 'special']>");
      await assert.rejects(g.makeGateway('popen//id=special'), (e: unknown) => e instanceof GatewaySpecError && e.reason === 'duplicate-id');
      await g.terminate({ timeout: 1000 });
      const c = await g.makeGateway();
      assert.equal(c.id, 'gw1');
    } finally {
      await g.terminate({ timeout: 1000 });
    }
  });

  test('group - remoteExec on all gateways gives a MultiChannel: sendEach, receiveEach, receive queue, waitClose', async () => {
    const g = await Group.create(['popen', 'popen'], { output: 'ignore' });
    try {
      const mc = g.remoteExec(async (channel) => {
        const n = (await channel.receive()) as number;
        await channel.send([n, process.pid]);
      });
      assert.equal(mc.length, 2);
      await mc.sendEach(5);
      const got = (await mc.receiveEach(T)) as Array<[number, number]>;
      assert.deepEqual(got.map((x) => x[0]), [5, 5]);
      assert.deepEqual(got.map((x) => x[1]), [...g].map((gw) => gw.pid));
      await mc.waitClose(T);

      const mc2 = g.remoteExec('channel.send(kwargs.tag)', { tag: 't' });
      const q = mc2.makeReceiveQueue({ endmarker: null });
      assert.equal(mc2.makeReceiveQueue(), q);
      const entries: Array<[Channel, unknown]> = [];
      for (let i = 0; i < 4; i++) entries.push(await q.get(T));
      for (const ch of mc2) {
        assert.deepEqual(entries.filter(([c]) => c === ch).map(([, v]) => v), ['t', null]);
      }
      const mc3 = g.remoteExec('throw new Error("one failed")');
      await assert.rejects(mc3.waitClose(T), (e: unknown) => e instanceof RemoteError && e.remoteMessage === 'one failed');
    } finally {
      await g.terminate({ timeout: 1000 });
    }
  });

  test('group - terminate with an aborted signal kills every busy worker at once and still resolves', { timeout: 20_000 }, async () => {
    const g = await Group.create(['popen', 'popen//id=second'], { output: 'ignore' });
    try {
      const mc = g.remoteExec('await channel.send("spinning"); await new Promise((r) => setTimeout(r, 20)); for (;;) {}');
      assert.deepEqual(await mc.receiveEach(T), ['spinning', 'spinning']);
      const gws = [...g];
      const started = Date.now();
      await g.terminate({ timeout: 60_000, signal: AbortSignal.timeout(100) });
      const took = Date.now() - started;
      assert.ok(took >= 90 && took < 5000, `terminate took ${took} ms`);
      assert.deepEqual(gws.map((gw) => gw.exitStatus?.signal), ['SIGKILL', 'SIGKILL']);
      assert.ok(gws.every((gw) => !processAlive(gw.pid as number)));
      assert.equal(g.size, 0);
    } finally {
      await g.terminate({ timeout: 500 });
    }
  });

  test('group - await using terminates every gateway of the group at the end of the block', { timeout: 20_000 }, async () => {
    let members: Gateway[] = [];
    {
      await using g = new Group({ output: 'ignore' });
      await g.makeGateway('popen');
      await g.makeGateway('popen');
      members = [...g];
      const mc = g.remoteExec((channel, kwargs) => channel.send(kwargs.tag), { tag: 't' });
      assert.deepEqual(await mc.receiveEach({ ...T, withChannel: true }), [...mc].map((ch) => [ch, 't']));
    }
    assert.equal(members.length, 2);
    for (const gw of members) {
      assert.deepEqual(gw.exitStatus, { code: 0, signal: null });
      assert.equal(processAlive(gw.pid as number), false);
    }
  });

  test('via - a gateway started through another runs as a child of that worker and terminates first', async () => {
    const g = new Group({ output: 'ignore' });
    try {
      const host = await g.makeGateway('popen//id=hostgw');
      const sub = await g.makeGateway('popen//via=hostgw//id=sub//env:VIA_TEST=1');
      const info = await sub.remoteInfo();
      assert.equal(info.ppid, host.pid);
      const ch = sub.remoteExec(async (channel) => channel.send([process.env['VIA_TEST'], await channel.receive()]));
      await ch.send(Buffer.alloc(300_000, 1));
      const [env, data] = (await ch.receive(T)) as [string, Buffer];
      assert.equal(env, '1');
      assert.equal(data.length, 300_000);
      const subPid = info.pid;
      await g.terminate({ timeout: 2000 });
      assert.equal(processAlive(subPid), false);
      assert.equal(processAlive(host.pid as number), false);
      assert.deepEqual(sub.exitStatus, { code: 0, signal: null });
    } finally {
      await g.terminate({ timeout: 1000 });
    }
  });
});

describe('NODE_EXTRA_CA_CERTS', { timeout: 30_000 }, () => {
  test('workers have it back in process.env (they start without it): popen, via= and installvia=; env: sets another', async () => {
    const saved = process.env['NODE_EXTRA_CA_CERTS'];
    process.env['NODE_EXTRA_CA_CERTS'] = '/nonexistent/switchyard-test-ca.pem';
    const g = new Group({ output: 'ignore' });
    try {
      const probe = 'channel.send(process.env.NODE_EXTRA_CA_CERTS)';
      const seen = async (spec: string): Promise<unknown> => (await g.makeGateway(spec)).remoteExec(probe).receive({ timeout: 5000 });
      assert.deepEqual(await seen('popen//id=p'), '/nonexistent/switchyard-test-ca.pem');
      assert.deepEqual(await seen('popen//via=p'), '/nonexistent/switchyard-test-ca.pem');
      assert.deepEqual(await seen('socket//installvia=p'), '/nonexistent/switchyard-test-ca.pem');
      assert.deepEqual(await seen('popen//via=p//env:NODE_EXTRA_CA_CERTS=/other.pem'), '/other.pem');
    } finally {
      await g.terminate({ timeout: 1000 });
      if (saved === undefined) delete process.env['NODE_EXTRA_CA_CERTS'];
      else process.env['NODE_EXTRA_CA_CERTS'] = saved;
    }
  });
});

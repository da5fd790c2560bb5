/**
 * Socket gateways against the real `switchyard worker --listen` server, run as a child process:
 * the shared secret, many gateways at once, forwarded output, TLS, hooks, and no leftover workers.
 * The server's own close and dispose are tested in process (`startWorkerServer`), with real
 * worker processes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GatewaySpecError, GatewayStartError } from '../../src/errors.ts';
import { Group } from '../../src/gateway/group.ts';
import { startWorkerServer } from '../../src/gateway/socket-server.ts';
import { processAlive, tempDir, until } from './helpers.ts';
import { runSwitchyard, startServer, type ServerProcess } from './server.ts';

const T = { timeout: 10_000 };

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['SWITCHYARD_WORKER_SECRET'];
  delete env['SWITCHYARD_NETMGR'];
  return { ...env, ...extra };
}

describe('socket gateway', { timeout: 120_000 }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let secretFile: string;
  let netLog: string;
  let server: ServerProcess;
  const group = new Group({ output: 'ignore' });

  before(async () => {
    ({ dir, cleanup } = await tempDir('switchyard-sock-'));
    secretFile = join(dir, 'secret');
    writeFileSync(secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    netLog = join(dir, 'net.log');
    server = await startServer(['--secret-file', secretFile, '--netmgr', `manager=logging;file=${netLog};`], cleanEnv({ SWITCHYARD_HOME: dir }));
  });

  after(async () => {
    await group.terminate({ timeout: 1000 });
    await server?.stop();
    await cleanup?.();
  });

  const spec = (): string => `socket=127.0.0.1:${server.port}//secret_file=${secretFile}`;

  test('socket server - refuses to start without a shared secret, or with a short one', async () => {
    const none = await runSwitchyard(['worker', '--listen', '127.0.0.1:0'], cleanEnv({ SWITCHYARD_HOME: dir }));
    assert.equal(none.code, 1);
    assert.match(none.output, /Refusing to start without a shared secret .*--secret-file <path> or set SWITCHYARD_WORKER_SECRET/);
    const short = await runSwitchyard(['worker', '--listen', '127.0.0.1:0'], cleanEnv({ SWITCHYARD_HOME: dir, SWITCHYARD_WORKER_SECRET: 'tooshort' }));
    assert.equal(short.code, 1);
    assert.match(short.output, /at least 16 characters \(got 8\)/);
  });

  test('socket gateway - remoteExec round trip; the worker is a child of the server', async () => {
    const gw = await group.makeGateway(spec());
    assert.equal(gw.remoteAddress, `127.0.0.1:${server.port}`);
    const ch = gw.remoteExec('channel.send(await channel.receive() + 1)');
    await ch.send(41);
    assert.equal(await ch.receive(T), 42);
    const info = await gw.remoteInfo();
    assert.equal(info.ppid, server.child.pid);
    assert.equal(gw.pid, info.pid);
    await gw.terminate({ timeout: 2000 });
    assert.deepEqual(gw.exitStatus && { code: gw.exitStatus.code, signal: gw.exitStatus.signal }, { code: 0, signal: null });
    await until(() => !processAlive(info.pid), 5000, 'the worker to be gone');
  });

  test('socket gateway - the remote stdout and stderr are forwarded to the output option', async () => {
    const chunks: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
    const g = new Group({ output: (c, which) => (chunks[which] += c.toString()) });
    try {
      const gw = await g.makeGateway(spec());
      const ch = gw.remoteExec('console.log("out-line"); process.stderr.write("err-line\\n"); require("fs").writeSync(1, "raw-fd1\\n"); await channel.send("done")');
      assert.equal(await ch.receive(T), 'done');
      await until(() => chunks.stdout.includes('raw-fd1') && chunks.stderr.includes('err-line'), 5000, 'the output');
      assert.equal(chunks.stdout, 'out-line\nraw-fd1\n');
      assert.equal(chunks.stderr, 'err-line\n');
    } finally {
      await g.terminate({ timeout: 1000 });
    }
  });

  test('socket gateway - a wrong secret is refused with a clear error and starts no worker', async () => {
    const before = server.output().match(/worker pid/g)?.length ?? 0;
    const err = await group.makeGateway(`socket=127.0.0.1:${server.port}`, { secret: 'x'.repeat(40) }).catch((e: unknown) => e);
    assert.ok(err instanceof GatewayStartError, String(err));
    assert.match(err.message, new RegExp(`Socket gateway 127\\.0\\.0\\.1:${server.port} refused: authentication failed: the shared secret does not match`));
    await until(() => /refused 127\.0\.0\.1:\d+: authentication failed/.test(server.output()), 5000, 'the server to log the refusal');
    assert.equal(server.output().match(/worker pid/g)?.length ?? 0, before);
  });

  test('socket server - a stranger streaming a line without end is dropped at once, not buffered until the timeout', async () => {
    const sock = net.connect(server.port, '127.0.0.1');
    let received = '';
    sock.on('data', (d) => (received += d.toString()));
    const closed = new Promise<number>((resolve) => sock.on('close', () => resolve(performance.now())));
    sock.on('error', () => {});
    await until(() => received.startsWith('SWITCHYARD-WORKER'), 5000, 'the greeting');
    const t = performance.now();
    // 70 KiB with no newline: longer than a handshake line may be.
    const chunk = Buffer.alloc(10 * 1024, 0x78);
    for (let i = 0; i < 7 && !sock.destroyed; i++) sock.write(chunk);
    const end = await closed;
    // The server's handshake timeout is 10 s; the overlong line ends it long before.
    assert.ok(end - t < 5000, `closed after ${Math.round(end - t)} ms`);
  });

  test('socket gateway - a server that accepts and says nothing fails the start within startTimeout', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const t = performance.now();
      const err = await group.makeGateway(`socket=127.0.0.1:${port}`, { secret: 'x'.repeat(32), startTimeout: 300 }).catch((e: unknown) => e);
      assert.ok(err instanceof GatewayStartError, String(err));
      assert.match(err.message, /handshake of socket gateway 127\.0\.0\.1:\d+/);
      assert.ok(performance.now() - t < 3000);
    } finally {
      silent.close();
    }
  });

  test('socket gateway - no secret on the client side fails before connecting and names the ways to give one', async () => {
    const saved = process.env['SWITCHYARD_WORKER_SECRET'];
    delete process.env['SWITCHYARD_WORKER_SECRET'];
    try {
      await assert.rejects(group.makeGateway(`socket=127.0.0.1:${server.port}`), (e: unknown) => e instanceof GatewayStartError && /secret_file=<path>.*\{ secret \}.*SWITCHYARD_WORKER_SECRET/.test(e.message));
    } finally {
      if (saved !== undefined) process.env['SWITCHYARD_WORKER_SECRET'] = saved;
    }
    assert.throws(() => group.allocateId(`socket=127.0.0.1:${server.port}//secret=abc`), (e: unknown) => e instanceof GatewaySpecError && e.key === 'secret' && /secret_file=/.test(e.message));
  });

  test('socket gateway - several gateways at once each get their own worker, and terminate leaves none', async () => {
    const g = new Group({ output: 'ignore' });
    try {
      const gws = await Promise.all([1, 2, 3, 4].map(() => g.makeGateway(spec())));
      const mc = g.remoteExec(async (channel) => {
        const n = (await channel.receive()) as number;
        await channel.send([process.pid, n * 2]);
      });
      mc.sendEach(21);
      const answers = (await mc.receiveEach(T)) as Array<[number, number]>;
      const pids = answers.map((a) => a[0]);
      assert.equal(new Set(pids).size, 4);
      assert.deepEqual(answers.map((a) => a[1]), [42, 42, 42, 42]);
      // The group lists gateways in the order they started; the multi-channel follows it.
      assert.deepEqual([...g].map((gw) => gw.pid), pids);
      assert.deepEqual(gws.map((gw) => gw.pid).sort(), [...pids].sort());
      await g.terminate({ timeout: 2000 });
      await until(() => pids.every((p) => !processAlive(p)), 5000, 'every worker to be gone');
    } finally {
      await g.terminate({ timeout: 500 });
    }
  });

  test('socket gateway - killing the client side ends the worker on the server', async () => {
    const gw = await group.makeGateway(spec());
    const pid = (await gw.remoteInfo()).pid;
    gw.remoteExec('await new Promise(() => {})');
    gw.kill();
    await gw.join(T);
    await until(() => !processAlive(pid), 5000, 'the worker to exit after the hang-up grace');
  });

  test('socket server - network-manager hooks from --netmgr see the accepted connections', async () => {
    const gw = await group.makeGateway(spec());
    await gw.terminate({ timeout: 1000 });
    await until(() => existsSync(netLog) && /post_accept:logging/.test(readFileSync(netLog, 'utf8')), 5000, 'the hook log');
    assert.match(readFileSync(netLog, 'utf8'), /pre_listen:logging/);
  });
});

describe('socket gateway over TLS', { timeout: 120_000 }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: ServerProcess;
  const secret = randomBytes(24).toString('hex');
  const group = new Group({ output: 'ignore', secret });

  before(async () => {
    ({ dir, cleanup } = await tempDir('switchyard-socktls-'));
    server = await startServer(['--tls', '--quiet'], cleanEnv({ SWITCHYARD_HOME: dir, SWITCHYARD_WORKER_SECRET: secret }));
  });

  after(async () => {
    await group.terminate({ timeout: 1000 });
    await server?.stop();
    await cleanup?.();
  });

  test('socket gateway - TLS with the generated certificate as the CA carries a round trip', async () => {
    const cert = join(dir, 'certs', '127.0.0.1.crt');
    assert.match(server.output(), new RegExp(`TLS, certificate ${cert.replace(/[.]/g, '\\.')}`));
    const gw = await group.makeGateway(`socket=127.0.0.1:${server.port}//tls//ca=${cert}`);
    const ch = gw.remoteExec('channel.send(await channel.receive() * 2)');
    await ch.send(21);
    assert.equal(await ch.receive(T), 42);
    await gw.terminate({ timeout: 1000 });
  });

  test('socket gateway - TLS refuses a server certificate that the client does not trust', async () => {
    await assert.rejects(
      group.makeGateway(`socket=127.0.0.1:${server.port}//tls`),
      (e: unknown) => e instanceof GatewayStartError && /self[- ]signed certificate/i.test(e.message),
    );
  });
});

describe('socket server in process - close and dispose', { timeout: 60_000 }, () => {
  const secret = randomBytes(24).toString('hex');
  const group = new Group({ output: 'ignore', secret });
  const BUSY = 'await channel.send("spinning"); await new Promise((r) => setTimeout(r, 20)); for (;;) {}';

  after(() => group.terminate({ timeout: 500 }));

  test('socket server - close with an aborted signal kills a busy worker at once instead of waiting the timeout', { timeout: 20_000 }, async () => {
    const server = await startWorkerServer({ port: 0, secret });
    try {
      const gw = await group.makeGateway(`socket=127.0.0.1:${server.port}`);
      const pid = (await gw.remoteInfo(T)).pid;
      assert.equal(await gw.remoteExec(BUSY).receive(T), 'spinning');
      assert.equal(server.workers, 1);
      const started = Date.now();
      await server.close({ timeout: 60_000, signal: AbortSignal.timeout(100) });
      const took = Date.now() - started;
      // Without the abort the server would wait the 60 s timeout (or its 10 s kill guard).
      assert.ok(took >= 90 && took < 5000, `close took ${took} ms`);
      assert.equal(server.workers, 0);
      assert.equal(processAlive(pid), false);
      await gw.join(T);
    } finally {
      await server.close({ timeout: 500 });
    }
  });

  test('socket server - a second close returns the same Promise, and its signal cuts the first close short', { timeout: 20_000 }, async () => {
    const server = await startWorkerServer({ port: 0, secret });
    try {
      const gw = await group.makeGateway(`socket=127.0.0.1:${server.port}`);
      const pid = (await gw.remoteInfo(T)).pid;
      assert.equal(await gw.remoteExec(BUSY).receive(T), 'spinning');
      const started = Date.now();
      const first = server.close({ timeout: 60_000 });
      const second = server.close({ signal: AbortSignal.timeout(100) });
      assert.equal(second, first);
      await first;
      const took = Date.now() - started;
      assert.ok(took >= 90 && took < 5000, `close took ${took} ms`);
      assert.equal(processAlive(pid), false);
      // Closed: a third call, even with an aborted signal, resolves at once.
      await server.close({ signal: AbortSignal.abort() });
    } finally {
      await server.close({ timeout: 500 });
    }
  });

  test('socket server - await using closes the server: workers hang up and exit, and no new connection is accepted', { timeout: 20_000 }, async () => {
    let port = 0;
    let pid = 0;
    {
      await using server = await startWorkerServer({ port: 0, secret });
      port = server.port;
      const gw = await group.makeGateway(`socket=127.0.0.1:${port}`);
      pid = (await gw.remoteInfo(T)).pid;
      assert.equal(await gw.remoteExec('channel.send(kwargs.n * 2)', { n: 21 }).receive(T), 42);
      assert.equal(server.workers, 1);
    }
    assert.ok(pid > 0 && port > 0);
    assert.equal(processAlive(pid), false);
    await assert.rejects(group.makeGateway(`socket=127.0.0.1:${port}`, { startTimeout: 5000 }), GatewayStartError);
  });
});

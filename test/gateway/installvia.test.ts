/**
 * `socket//installvia=<id>`: a gateway serves a socket gateway on its own host with a one-time
 * secret. The served worker is a child of the installing worker, strangers without the secret
 * are refused, the port stops listening once the gateway is in, and termination leaves nothing.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { GatewayStartError, RemoteError } from '../../src/errors.ts';
import { Group } from '../../src/gateway/group.ts';
import { processAlive, until } from './helpers.ts';

const T = { timeout: 20_000 };

/** Connects to host:port; resolves the first line the server says, or the connection error's code. */
function firstLine(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        s.destroy();
        resolve(buf.slice(0, nl));
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.on('close', () => resolve(buf));
  });
}

describe('installvia gateway', { timeout: 60_000 }, () => {
  const group = new Group({ output: 'ignore' });
  after(() => group.terminate({ timeout: 1000 }));

  test('installvia - serves a socket gateway from another gateway; the worker is its child', T, async () => {
    const host = await group.makeGateway('popen//id=host');
    const gw = await group.makeGateway('socket//installvia=host//id=served');
    assert.equal(gw.id, 'served');
    assert.match(gw.remoteAddress ?? '', /^127\.0\.0\.1:\d+$/);
    const hostInfo = await host.remoteInfo();
    const info = await gw.remoteInfo();
    assert.equal(info.ppid, hostInfo.pid, 'the served worker is a child of the installing worker');
    const ch = gw.remoteExec('channel.send(await channel.receive() * 2)');
    await ch.send(21);
    assert.equal(await ch.receive({ timeout: 5000 }), 42);
    // The one-connection server no longer listens once the gateway is in.
    const port = Number((gw.remoteAddress ?? '').split(':')[1]);
    assert.equal(await firstLine(port), 'ECONNREFUSED');
    // Status of the installing gateway counts the serving channel while the served gateway lives.
    assert.equal((await host.remoteStatus()).numChannels, 1);
    await gw.exit();
    await gw.join({ timeout: 5000 });
    await until(() => !processAlive(info.pid), 5000, 'the served worker to exit');
  });

  test('installvia - the server refuses a stranger without the secret, serves the gateway that has it, then stops listening', T, async () => {
    const host = await group.makeGateway('popen//id=host2');
    const secret = randomBytes(32).toString('hex');
    const serving = host._serve({ host: '127.0.0.1', port: 0, secret, acceptTimeoutMs: 10_000, killAfterMs: 1000 });
    const { port } = (await serving.receive({ timeout: 5000 })) as { port: number };
    const stranger = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString();
        if (buf.split('\n').length === 2) s.write(`AUTH ${'0'.repeat(64)} ${'1'.repeat(32)} {}\n`);
      });
      s.on('close', () => resolve(buf));
    });
    assert.match(stranger, /^SWITCHYARD-WORKER 1 [0-9a-f]+\nERR SWITCHYARD_ERR_AUTH authentication failed/);
    const gw = await group.makeGateway(`socket=127.0.0.1:${port}//id=served2`, { secret });
    const ch = gw.remoteExec('channel.send(process.ppid)');
    assert.equal(await ch.receive({ timeout: 5000 }), (await host.remoteInfo()).pid);
    assert.equal(await firstLine(port), 'ECONNREFUSED');
    await gw.exit();
    serving.close();
  });

  test('installvia - nobody connecting within the accept timeout closes the serving channel with the reason', T, async () => {
    const host = await group.makeGateway('popen//id=host4');
    const serving = host._serve({ host: '127.0.0.1', port: 0, secret: randomBytes(32).toString('hex'), acceptTimeoutMs: 200, killAfterMs: 1000 });
    const { port } = (await serving.receive({ timeout: 5000 })) as { port: number };
    await assert.rejects(serving.receive({ timeout: 5000 }), (e: unknown) => e instanceof RemoteError && e.message.includes(`No gateway connected to 127.0.0.1:${port} within 200 ms`));
    assert.equal(await firstLine(port), 'ECONNREFUSED');
    const short = host._serve({ host: '127.0.0.1', port: 0, secret: 'short', acceptTimeoutMs: 200, killAfterMs: 1000 });
    await assert.rejects(short.receive({ timeout: 5000 }), (e: unknown) => e instanceof RemoteError && /at least 32 characters/.test(e.message));
  });

  test('installvia - an unknown id, and a busy port, fail with GatewayStartError naming the cause', T, async () => {
    await assert.rejects(group.makeGateway('socket//installvia=nobody'), (e: unknown) => e instanceof GatewayStartError && /installvia=nobody: no gateway with that id/.test(e.message));
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as net.AddressInfo).port;
    await group.makeGateway('popen//id=host3');
    await assert.rejects(
      group.makeGateway(`socket=127.0.0.1:${port}//installvia=host3`),
      (e: unknown) => e instanceof GatewayStartError && /gateway host3 could not serve it: .*EADDRINUSE/.test(e.message),
    );
    busy.close();
  });

  test('installvia - terminating the group ends the served gateway before its host, leaving no process', T, async () => {
    const g = new Group({ output: 'ignore' });
    const host = await g.makeGateway('popen//id=h');
    const gw = await g.makeGateway('socket//installvia=h');
    const pids = [(await host.remoteInfo()).pid, (await gw.remoteInfo()).pid];
    const ch = gw.remoteExec('await new Promise(() => {})');
    assert.equal(ch.isClosed(), false);
    const t = performance.now();
    await g.terminate({ timeout: 500 });
    assert.ok(performance.now() - t < 3000);
    await until(() => pids.every((p) => !processAlive(p)), 5000, 'both workers to exit');
  });
});

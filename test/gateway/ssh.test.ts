/**
 * ssh gateways against a real OpenSSH server on 127.0.0.1 (started by the test with generated
 * keys): round trips, ssh's own failure messages, output, and clean termination.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GatewayStartError } from '../../src/errors.ts';
import { Group } from '../../src/gateway/group.ts';
import { processAlive, tempDir, until } from './helpers.ts';
import { freePort } from '../helpers/index.ts';
import { sshSkipReason, startSshd, type TestSshd } from './sshd.ts';

const T = { timeout: 15_000 };
const skip = sshSkipReason();

describe('ssh gateway', { timeout: 120_000, skip }, () => {
  let sshd: TestSshd;
  let cleanup: () => Promise<void>;
  const stderr: string[] = [];
  const group = new Group({ output: (c, which) => which === 'stderr' && stderr.push(c.toString()) });

  before(async () => {
    const t = await tempDir('switchyard-sshd-');
    cleanup = t.cleanup;
    sshd = await startSshd(t.dir);
  });

  after(async () => {
    await group.terminate({ timeout: 1000 });
    await sshd?.stop();
    await cleanup?.();
  });

  const spec = (extra = ''): string => `ssh=${sshd.host}//ssh_config=${sshd.sshConfig}//node=${process.execPath}${extra}`;

  test('ssh - remoteExec round trip through a real sshd; the worker runs under the ssh session, not this process', async () => {
    const gw = await group.makeGateway(spec('//env:SY_TEST=over-ssh'));
    assert.equal(gw.remoteAddress, sshd.host);
    const ch = gw.remoteExec('channel.send([await channel.receive() + 1, process.env.SY_TEST, process.cwd()])');
    await ch.send(41);
    const [n, env] = (await ch.receive(T)) as [number, string, string];
    assert.equal(n, 42);
    assert.equal(env, 'over-ssh');
    const info = await gw.remoteInfo();
    assert.notEqual(info.ppid, process.pid);
    assert.notEqual(info.pid, gw.pid);
  });

  test('ssh - the worker stdout arrives on the output as stderr (ssh stdout carries the protocol)', async () => {
    const gw = await group.makeGateway(spec());
    const ch = gw.remoteExec('console.log("printed-remotely"); await channel.send(1)');
    assert.equal(await ch.receive(T), 1);
    await until(() => stderr.join('').includes('printed-remotely\n'), 5000, 'the remote output');
  });

  test('ssh - installvia on an ssh gateway needs the address to listen on there, and works with it', async () => {
    await group.makeGateway(spec('//id=sshhost'));
    // 'sshtest' is a name from the ssh config: the gateway may be on another host.
    const err = await group.makeGateway('socket//installvia=sshhost').catch((e: unknown) => e);
    assert.ok(err instanceof GatewayStartError, String(err));
    assert.match(err.message, /gateway sshhost runs on another host, whose loopback this host cannot reach; give the address/);
    // Here that host is this one, so its loopback is reachable.
    const gw = await group.makeGateway('socket=127.0.0.1:0//installvia=sshhost');
    const ch = gw.remoteExec('channel.send(await channel.receive() + 1)');
    await ch.send(1);
    assert.equal(await ch.receive({ timeout: 5000 }), 2);
    await gw.exit();
  });

  test('ssh - a refused connection is reported with ssh\'s own message and exit code', async () => {
    const port = await freePort();
    const err = await group.makeGateway(`ssh=-p ${port} 127.0.0.1//ssh_config=${sshd.sshConfig}`).catch((e: unknown) => e);
    assert.ok(err instanceof GatewayStartError, String(err));
    assert.equal(err.exitCode, 255);
    assert.match(err.message, /ssh exited with code 255: .*Connection refused/);
    assert.match(err.stderr, /port \d+: Connection refused/);
    assert.doesNotMatch(err.message, /host not found/i);
  });

  test('ssh - a key the server does not accept is reported as ssh\'s permission denied', async () => {
    const err = await group.makeGateway(`ssh=${sshd.host}//ssh_config=${sshd.badKeyConfig}`).catch((e: unknown) => e);
    assert.ok(err instanceof GatewayStartError, String(err));
    assert.equal(err.exitCode, 255);
    assert.match(err.message, /Permission denied \(publickey\)/);
  });

  test('ssh - a missing node on the remote side is reported with the shell\'s message', async () => {
    const err = await group.makeGateway(`ssh=${sshd.host}//ssh_config=${sshd.sshConfig}//node=/nonexistent/node`).catch((e: unknown) => e);
    assert.ok(err instanceof GatewayStartError, String(err));
    assert.equal(err.exitCode, 127);
    assert.match(err.message, /\/nonexistent\/node: (?:No such file|not found)/);
  });

  test('ssh - terminate leaves no process on the remote side, even with code blocked in receive', async () => {
    const g = new Group({ output: 'ignore' });
    const gw = await g.makeGateway(spec());
    const info = await gw.remoteInfo();
    const ch = gw.remoteExec('await channel.receive()');
    const sshPid = gw.pid as number;
    assert.ok(processAlive(info.pid) && processAlive(sshPid));
    await g.terminate({ timeout: 2000 });
    await until(() => !processAlive(info.pid), 5000, 'the remote worker to exit');
    await until(() => !processAlive(sshPid), 5000, 'the ssh client to exit');
    await assert.rejects(ch.receive(T));
  });
});

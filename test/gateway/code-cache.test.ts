/**
 * The V8 code cache of the worker bundle: the first popen gateway started a given way makes one
 * after its first remoteExec, later ones start with it, and a cache that does not fit is ignored
 * by V8 and replaced, never fatal.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { GatewayStartError } from '../../src/errors.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { codeCacheFile, codeCacheKey, getCodeCache, putCodeCache } from '../../src/gateway/code-cache.ts';
import { Group } from '../../src/gateway/group.ts';
import { workerSource } from '../../src/gateway/worker-source.ts';
import { runScript, until } from './helpers.ts';

const home = mkdtempSync(join(tmpdir(), 'switchyard-cc-'));
process.env['SWITCHYARD_HOME'] = home;
after(() => rmSync(home, { recursive: true, force: true }));

/** In a new process (same home): the first popen gateway's codeCache state. */
async function firstGatewayInNewProcess(env: Record<string, string> = {}): Promise<string> {
  let state = '';
  const code = `
    ${Object.entries({ SWITCHYARD_HOME: home, ...env }).map(([k, v]) => `process.env[${JSON.stringify(k)}] = ${JSON.stringify(v)};`).join('\n')}
    const { Group } = await import('./src/gateway/group.ts');
    const g = new Group({ output: 'ignore' });
    const gw = await g.makeGateway('popen');
    console.log('STATE ' + (await gw.remoteInfo()).codeCache);
    await g.terminate();
  `;
  const exit = await runScript(code, (line) => {
    if (line.startsWith('STATE ')) state = line.slice(6);
  });
  assert.equal(exit, 0);
  return state;
}

const T = { timeout: 20_000 };

describe('worker code cache', { timeout: 60_000 }, () => {
  const group = new Group({ output: 'ignore' });
  after(() => group.terminate({ timeout: 1000 }));

  const echo = async (gw: Awaited<ReturnType<Group['makeGateway']>>): Promise<void> => {
    const ch = gw.remoteExec('channel.send(await channel.receive() + 1)');
    await ch.send(1);
    assert.equal(await ch.receive({ timeout: 5000 }), 2);
  };

  test('code cache - the first gateway makes one after its first remoteExec; the next starts with it', T, async () => {
    const key = codeCacheKey([process.execPath], await workerSource());
    assert.equal(getCodeCache(key), undefined);
    const first = await group.makeGateway('popen');
    assert.equal((await first.remoteInfo()).codeCache, 'none');
    assert.equal(getCodeCache(key), undefined, 'no cache before any remoteExec ran');
    await echo(first);
    await until(() => getCodeCache(key) !== undefined, 5000, 'the worker to send its code cache');
    // The cache channel is not counted as the user's.
    assert.equal((await first.remoteStatus()).numChannels, 0);
    const second = await group.makeGateway('popen');
    assert.equal((await second.remoteInfo()).codeCache, 'accepted');
    await echo(second);
  });

  test('code cache - a cache that does not fit is rejected by V8, the worker runs anyway and makes a fresh one', T, async () => {
    const key = codeCacheKey([process.execPath], await workerSource());
    const garbage = randomBytes(4096);
    putCodeCache(key, garbage);
    const gw = await group.makeGateway('popen');
    assert.equal((await gw.remoteInfo()).codeCache, 'rejected');
    await echo(gw);
    await until(() => !getCodeCache(key)?.equals(garbage), 5000, 'the worker to replace the rejected cache');
    const next = await group.makeGateway('popen');
    assert.equal((await next.remoteInfo()).codeCache, 'accepted');
  });

  test('code cache - kept on disk (private to this user): the first gateway of the next process starts with it', T, async () => {
    const key = codeCacheKey([process.execPath], await workerSource());
    const file = codeCacheFile(key);
    // The file is written in the background: wait until it holds the cache this process uses.
    await until(() => existsSync(file) && readFileSync(file).subarray(38).equals(getCodeCache(key) ?? Buffer.alloc(0)), 5000, 'the cache file');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(home, 'cache')).mode & 0o777, 0o700);
    assert.equal(await firstGatewayInNewProcess(), 'accepted');
    assert.equal(await firstGatewayInNewProcess({ SWITCHYARD_CODE_CACHE: 'memory' }), 'none', 'memory mode reads no file');
    // A cache file others could have written is not used.
    chmodSync(file, 0o666);
    assert.equal(await firstGatewayInNewProcess(), 'none');
    chmodSync(file, 0o600);
    chmodSync(join(home, 'cache'), 0o777);
    assert.equal(await firstGatewayInNewProcess(), 'none');
    chmodSync(join(home, 'cache'), 0o700);
    assert.equal(await firstGatewayInNewProcess(), 'accepted');
  });

  test('code cache - a damaged file is not used (checksum), and nothing is written into a directory others can write', T, async () => {
    const key = codeCacheKey([process.execPath], await workerSource());
    const file = codeCacheFile(key);
    await until(() => existsSync(file), 5000, 'the cache file');
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    const mid = Math.floor(bad.length / 2);
    for (let i = 0; i < 2048; i++) bad.writeUInt8((bad.readUInt8(mid + i) ^ 0xff) & 0xff, mid + i);
    writeFileSync(file, bad, { mode: 0o600 });
    assert.equal(await firstGatewayInNewProcess(), 'none', 'the damaged cache is not sent; the worker starts without one');
    writeFileSync(file, good, { mode: 0o600 });
    assert.equal(await firstGatewayInNewProcess(), 'accepted');
    // A cache directory others could write: no file is written there.
    chmodSync(join(home, 'cache'), 0o777);
    try {
      const other = codeCacheKey(['some-other-node'], await workerSource());
      putCodeCache(other, randomBytes(1000));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(existsSync(codeCacheFile(other)), false);
    } finally {
      chmodSync(join(home, 'cache'), 0o700);
    }
  });

  test('code cache - a cache whose worker died before its hello is dropped, in memory and on disk', T, async () => {
    const key = codeCacheKey(['/bin/false'], await workerSource());
    putCodeCache(key, randomBytes(4096));
    await until(() => existsSync(codeCacheFile(key)), 5000, 'the cache file');
    await assert.rejects(group.makeGateway('popen//node=/bin/false'), GatewayStartError);
    assert.equal(getCodeCache(key), undefined);
    await until(() => !existsSync(codeCacheFile(key)), 5000, 'the file to be removed');
  });

  test('code cache - SWITCHYARD_CODE_CACHE=off: no cache is sent, asked for or kept', T, async () => {
    process.env['SWITCHYARD_CODE_CACHE'] = 'off';
    try {
      const gw = await group.makeGateway('popen');
      assert.equal((await gw.remoteInfo()).codeCache, 'none');
      await echo(gw);
      const key = codeCacheKey([process.execPath], await workerSource());
      assert.equal(getCodeCache(key), undefined);
    } finally {
      delete process.env['SWITCHYARD_CODE_CACHE'];
    }
  });

  test('code cache - kept per way of starting (node=), and only for popen', T, async () => {
    const gw = await group.makeGateway(`popen//node=${process.execPath} --no-warnings`);
    assert.equal((await gw.remoteInfo()).codeCache, 'none');
    const host = await group.makeGateway('popen//id=cachehost');
    const viaGw = await group.makeGateway('popen//via=cachehost');
    assert.equal((await host.remoteInfo()).codeCache, 'accepted');
    assert.equal((await viaGw.remoteInfo()).codeCache, 'none');
    await echo(viaGw);
  });
});

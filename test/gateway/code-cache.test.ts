/**
 * The V8 code cache of the worker bundle: the first popen gateway started a given way makes one
 * after its first remoteExec, later ones start with it, and a cache that does not fit is ignored
 * by V8 and replaced, never fatal.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { codeCacheKey, getCodeCache, putCodeCache } from '../../src/gateway/code-cache.ts';
import { Group } from '../../src/gateway/group.ts';
import { workerSource } from '../../src/gateway/worker-source.ts';
import { until } from './helpers.ts';

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

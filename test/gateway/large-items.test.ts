/**
 * Large items over a real worker: the sender copies them once into pooled slabs that come back
 * only after the bytes were written, so reusing the caller's Buffer right after `send()` and
 * reusing slabs for later items never changes what the receiver gets.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { giveSlab, isSlab, pooledBytes, SLAB_KEEP_BYTES, SLAB_MAX_BYTES, SLAB_MIN_BYTES, takeSlab } from '../../src/channel/slab-pool.ts';
import { Group } from '../../src/gateway/group.ts';

const T = { timeout: 30_000 };

describe('large channel items', { timeout: 60_000 }, () => {
  const group = new Group({ output: 'ignore' });
  after(() => group.terminate({ timeout: 1000 }));

  test('large items - the receiver gets each item as it was at send(), though the sender reuses its Buffer at once', T, async () => {
    const gw = await group.makeGateway('popen', { window: 4 << 20 });
    // The worker hashes every item and sends the digests back at the end.
    const ch = gw.remoteExec(`
      const { createHash } = require('node:crypto');
      const sums = [];
      for await (const x of channel) { if (x === null) break; sums.push(createHash('sha256').update(x).digest('hex')); }
      await channel.send(sums);
    `);
    const buf = Buffer.alloc(1 << 20);
    const expected: string[] = [];
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 64; i++) {
      // Stay under the channel's 16 MiB send queue: wait for the earlier sends now and then.
      if (i % 16 === 15) await Promise.all(sends);
      // Sizes cross slab classes; the content differs per item.
      const n = [SLAB_MIN_BYTES, 100_000, 300_000, 1 << 20][i % 4] as number;
      const item = buf.subarray(0, n);
      item.fill(i);
      item.writeUInt32BE(i * 7919, 0);
      expected.push(createHash('sha256').update(item).digest('hex'));
      // Not awaited: the next fill() overwrites the Buffer while earlier items may still be queued.
      sends.push(ch.send(item));
    }
    await Promise.all(sends);
    await ch.send(null);
    assert.deepEqual(await ch.receive({ timeout: 20_000 }), expected);
  });

  test('large items - nested in structures, next to small values, both directions', T, async () => {
    const gw = await group.makeGateway('popen');
    const ch = gw.remoteExec('for await (const x of channel) await channel.send(x)');
    for (let i = 0; i < 8; i++) {
      const big = Buffer.alloc(200_000 + i, i + 1);
      await ch.send({ i, parts: [big, 'tail', Buffer.alloc(10, 9)], map: new Map([[i, big.subarray(0, 70_000)]]) });
      const back = (await ch.receive({ timeout: 5000 })) as { i: number; parts: [Buffer, string, Buffer]; map: Map<number, Buffer> };
      assert.equal(back.i, i);
      assert.ok(back.parts[0].equals(big));
      assert.equal(back.parts[1], 'tail');
      assert.ok(back.parts[2].equals(Buffer.alloc(10, 9)));
      assert.ok(back.map.get(i)?.equals(big.subarray(0, 70_000)));
    }
  });
});

test('slab pool - takes exact-size views of power-of-two slabs, reuses given-back ones, keeps a bounded amount', () => {
  assert.equal(takeSlab(SLAB_MIN_BYTES - 1), undefined);
  assert.equal(takeSlab(SLAB_MAX_BYTES + 1), undefined);
  const a = takeSlab(100_000) as Buffer;
  assert.equal(a.length, 100_000);
  assert.ok(isSlab(a));
  const before = pooledBytes();
  giveSlab(a);
  assert.equal(pooledBytes(), before + 131_072);
  assert.ok(!isSlab(a));
  giveSlab(a); // idempotent
  assert.equal(pooledBytes(), before + 131_072);
  const b = takeSlab(120_000) as Buffer;
  assert.equal(b.buffer, a.buffer, 'the slab of the same size class is reused');
  assert.equal(pooledBytes(), before);
  // Bounded: giving back more than SLAB_KEEP_BYTES keeps only up to the limit.
  const many = Array.from({ length: SLAB_KEEP_BYTES / SLAB_MAX_BYTES + 2 }, () => takeSlab(SLAB_MAX_BYTES) as Buffer);
  for (const s of many) giveSlab(s);
  assert.ok(pooledBytes() <= SLAB_KEEP_BYTES);
  giveSlab(b);
});

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { encodeValue } from '../../src/wire/codec.ts';
import { muxPair, peerOf } from './pair.ts';

const END = Symbol('end');
let keepAlive: NodeJS.Timeout | undefined;
before(() => {
  keepAlive = setInterval(() => {}, 1000);
});
after(() => clearInterval(keepAlive));

const itemArb = fc.oneof(
  fc.uint8Array({ maxLength: 3000 }).map((u) => Buffer.from(u)),
  fc.string({ maxLength: 200 }),
  fc.integer(),
  fc.array(fc.integer(), { maxLength: 20 }),
);

test('flow control property - any window, item mix, transport congestion and consumer pace: order kept, buffer bounded', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 5000 }),
      fc.array(itemArb, { minLength: 1, maxLength: 60 }),
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 10 }),
      fc.constantFrom(Infinity, 64, 4096),
      fc.boolean(),
      async (window, items, pace, highWater, useCallback) => {
        const p = muxPair({ b: { window }, highWater });
        const ch = p.a.open('t');
        const peer = await peerOf(p, 0);
        const maxItem = Math.max(...items.map((x) => encodeValue(x).length));
        let maxBuffered = 0;
        const sender = (async () => {
          for (const it of items) await ch.send(it, { timeout: 5000 });
          ch.close();
        })();
        const got: unknown[] = [];
        if (useCallback) {
          let k = 0;
          peer.setCallback(
            async (x) => {
              if (x === END) return;
              maxBuffered = Math.max(maxBuffered, peer.queuedBytes);
              got.push(x);
              for (let t = 0; t < (pace[k++ % pace.length] ?? 0); t++) await new Promise((r) => setImmediate(r));
            },
            { endmarker: END },
          );
          await peer.waitClose({ timeout: 5000 });
          while (got.length < items.length) await new Promise((r) => setImmediate(r));
        } else {
          let k = 0;
          for (;;) {
            maxBuffered = Math.max(maxBuffered, peer.queuedBytes);
            for (let t = 0; t < (pace[k++ % pace.length] ?? 0); t++) await new Promise((r) => setImmediate(r));
            maxBuffered = Math.max(maxBuffered, peer.queuedBytes);
            try {
              got.push(await peer.receive({ timeout: 5000 }));
            } catch (err) {
              if ((err as { code?: string }).code === 'SWITCHYARD_ERR_CHANNEL_EOF') break;
              throw err;
            }
          }
        }
        await sender;
        assert.deepEqual(got, items);
        assert.ok(maxBuffered <= window + maxItem, `buffered ${maxBuffered} > window ${window} + item ${maxItem}`);
      },
    ),
    { numRuns: 60 },
  );
});

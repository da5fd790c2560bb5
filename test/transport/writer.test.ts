/**
 * The coalescing writer on real loopback sockets: one write per turn, order kept, and drain
 * waits that always end (including the case where Node emits no 'drain' at all).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { CoalescingWriter } from '../../src/transport/writer.ts';
import { within } from '../helpers/index.ts';

async function socketPair(): Promise<{ a: net.Socket; b: net.Socket; close: () => void }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const a = net.connect(port, '127.0.0.1');
  await new Promise((r) => a.once('connect', r));
  const b = await accepted;
  return {
    a,
    b,
    close: () => {
      a.destroy();
      b.destroy();
      server.close();
    },
  };
}

describe('writer', { timeout: 20_000 }, () => {
  test('writer - every drain wait ends, including when Node emits no drain', async () => {
    const { a, b, close } = await socketPair();
    try {
      b.on('data', () => {});
      const w = new CoalescingWriter(a);
      // Queued bytes above the high-water mark that the socket then takes at once: Node sets no
      // needDrain and emits no 'drain' (this hung once).
      for (const size of [9, 900, 30_023, 10, 70_000, 5]) {
        w.write(Buffer.alloc(size));
        await within(new Promise<void>((r) => w.onDrain(r)), 3000, `the drain callback after ${size} bytes`);
      }
      w.write(Buffer.alloc(500));
      w.write(Buffer.alloc(400)); // below the early-flush mark: still queued in this turn
      assert.equal(w.queuedBytes >= 900, true);
      await within(new Promise<void>((r) => w.onDrain(r)), 3000, 'the drain callback for a queued turn');
    } finally {
      close();
    }
  });

  test('writer - a turn of writes arrives whole and in order, small and large', async () => {
    const { a, b, close } = await socketPair();
    const got: Buffer[] = [];
    b.on('data', (d: Buffer) => got.push(d));
    const w = new CoalescingWriter(a);
    const parts = [Buffer.from('one,'), Buffer.alloc(200_000, 1), Buffer.from('two,'), Buffer.alloc(70_000, 2), Buffer.from('end')];
    for (const p of parts) w.write(p);
    const want = Buffer.concat(parts);
    const deadline = Date.now() + 5000;
    while (Buffer.concat(got).length < want.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    close();
    assert.ok(Buffer.concat(got).equals(want));
  });

  test('writer - waiters wake when the stream is abandoned while congested', async () => {
    const { a, b, close } = await socketPair();
    try {
      b.pause(); // the peer never reads: the socket stays congested
      const w = new CoalescingWriter(a);
      for (let i = 0; i < 64; i++) w.write(Buffer.alloc(1 << 20));
      await new Promise((r) => setTimeout(r, 20));
      let woke = false;
      w.onDrain(() => (woke = true));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(woke, false, 'still congested');
      w.abandon();
      assert.equal(woke, true);
    } finally {
      close();
    }
  });
});

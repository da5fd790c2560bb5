import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AbortError,
  ChannelClosedError,
  ChannelEOFError,
  ChannelUsageError,
  EncodeError,
  MessageTooLargeError,
  ProtocolError,
  QueueFullError,
  RemoteError,
  TimeoutError,
} from '../../src/errors.ts';
import { Channel } from '../../src/channel/channel.ts';
import { CH_OPEN_FLAG_CREDITED } from '../../src/channel/mux.ts';
import { encodeValue } from '../../src/wire/codec.ts';
import { buildFrame, FrameType } from '../../src/wire/protocol.ts';
import { muxPair, peerOf, turns, until } from './pair.ts';

const T = { timeout: 2000 };

// Guard timers are unref()ed and the in-memory pair holds no handle: keep the loop alive.
let keepAlive: NodeJS.Timeout | undefined;
before(() => {
  keepAlive = setInterval(() => {}, 1000);
});
after(() => clearInterval(keepAlive));

/** Encoded size of a Buffer item of n bytes (MessagePack bin8/bin16 header + bytes). */
function binSize(n: number): number {
  return encodeValue(Buffer.alloc(n)).length;
}

describe('channel ids and open', () => {
  test('mux - the initiator allocates odd ids and the acceptor even ids', async () => {
    const p = muxPair();
    assert.deepEqual([p.a.open().id, p.a.open().id, p.a.open().id], [1, 3, 5]);
    assert.deepEqual([p.b.open().id, p.b.open().id], [2, 4]);
  });

  test('mux - onOpen receives the target and the decoded meta', async () => {
    const p = muxPair();
    p.a.open('exec', { source: 'x', n: 1n, when: new Date(5) });
    await until(() => p.openedOnB.length === 1);
    const o = p.openedOnB[0]!;
    assert.equal(o.target, 'exec');
    assert.deepEqual(o.meta, { source: 'x', n: 1n, when: new Date(5) });
    assert.equal(o.channel.id, 1);
  });

  test('mux - a peer without onOpen refuses the channel with a RemoteError naming the target', async () => {
    const p = muxPair({ b: { onOpen: undefined } });
    const ch = p.a.open('nope');
    await assert.rejects(ch.receive(T), (e: unknown) => e instanceof RemoteError && /target "nope"/.test(e.remoteMessage) && e.origin === 'B');
  });

  test('mux - an onOpen that throws closes the channel with that error', async () => {
    const p = muxPair({
      b: {
        onOpen: () => {
          throw new TypeError('bad target');
        },
      },
    });
    const ch = p.a.open('x');
    await assert.rejects(ch.waitClose(T), (e: unknown) => e instanceof RemoteError && e.remoteName === 'TypeError' && e.remoteMessage === 'bad target');
  });

  test('mux - handleFrame returns false for frames that are not channel frames', () => {
    const p = muxPair();
    const f = buildFrame(FrameType.REPLY, [1], []) as Buffer;
    assert.equal(p.a.handleFrame(f.subarray(4)), false);
    const c = buildFrame(FrameType.CH_CREDIT, [99, 10], []) as Buffer;
    assert.equal(p.a.handleFrame(c.subarray(4)), true);
  });

  test('mux - data for an unknown channel id is dropped and the mux stays healthy', async () => {
    const p = muxPair();
    const f = buildFrame(FrameType.CH_DATA, [77], [], encodeValue('lost')) as Buffer;
    assert.equal(p.b.handleFrame(f.subarray(4)), true);
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    await ch.send('ok');
    assert.equal(await peer.receive(T), 'ok');
  });

  test('mux - a truncated channel frame throws a ProtocolError', () => {
    const p = muxPair();
    assert.throws(() => p.a.handleFrame(Buffer.from([FrameType.CH_CREDIT, 0, 0])), { code: 'SWITCHYARD_ERR_PROTOCOL' });
  });

  test('mux - size counts open channels and drops closed ones', async () => {
    const p = muxPair();
    const c1 = p.a.open('t');
    p.a.open('t');
    assert.equal(p.a.size, 2);
    c1.close();
    assert.equal(p.a.size, 1);
    await until(() => p.b.size === 1, 2000, 'peer size 1');
  });

  test('mux - opens beyond maxChannels are refused with an error naming the limit', async () => {
    const p = muxPair({ b: { maxChannels: 2 } });
    p.a.open('t');
    p.a.open('t');
    const third = p.a.open('t');
    await assert.rejects(third.receive(T), (e: unknown) => e instanceof RemoteError && /limit 2/.test(e.remoteMessage));
  });
});

describe('channel items', () => {
  test('channel - items arrive in order with their exact types', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    const items: unknown[] = [
      null,
      undefined,
      true,
      0,
      -1.5,
      Number.NaN,
      Infinity,
      2n ** 80n,
      'text',
      Buffer.from([1, 2, 3]),
      new Uint16Array([1, 65535]),
      [1, [2, [3]]],
      { a: { b: 'c' } },
      new Map<unknown, unknown>([[1, 'one'], ['1', 'string one']]),
      new Set([1, 'x']),
      new Date(1700000000000),
    ];
    for (const it of items) await ch.send(it);
    const got: unknown[] = [];
    for (let i = 0; i < items.length; i++) got.push(await peer.receive(T));
    assert.deepEqual(got.slice(0, 9), items.slice(0, 9));
    assert.ok(Buffer.isBuffer(got[9]));
    assert.deepEqual([...(got[9] as Buffer)], [1, 2, 3]);
    assert.deepEqual(got[10], new Uint16Array([1, 65535]));
    assert.deepEqual(got.slice(11), items.slice(11));
  });

  test('channel - an unsendable item rejects with EncodeError naming the path and the channel stays usable', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    class Point {
      x = 1;
    }
    await assert.rejects(ch.send({ list: [1, new Point()] }), (e: unknown) => e instanceof EncodeError && e.path === '$.list[1]' && /class Point/.test(e.message));
    await assert.rejects(ch.send({ f: () => 1 }), (e: unknown) => e instanceof EncodeError && e.path === '$.f');
    await ch.send('still fine');
    assert.equal(await peer.receive(T), 'still fine');
    assert.equal(peer.queued, 0);
  });

  test('channel - an item above maxItemBytes rejects with MessageTooLargeError', async () => {
    const p = muxPair({ a: { maxItemBytes: 100 } });
    const ch = p.a.open('t');
    await assert.rejects(ch.send(Buffer.alloc(200)), (e: unknown) => e instanceof MessageTooLargeError && e.limit === 100 && e.size === binSize(200));
  });

  test('channel - both sides send at the same time and each receives the other’s items in order', async () => {
    const p = muxPair({ a: { window: 64 }, b: { window: 64 } });
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    const n = 200;
    const sendA = (async () => {
      for (let i = 0; i < n; i++) await ch.send(i);
    })();
    const sendB = (async () => {
      for (let i = 0; i < n; i++) await peer.send(-i - 1);
    })();
    const gotA: unknown[] = [];
    const gotB: unknown[] = [];
    for (let i = 0; i < n; i++) {
      gotB.push(await peer.receive(T));
      gotA.push(await ch.receive(T));
    }
    await Promise.all([sendA, sendB]);
    assert.deepEqual(gotB, Array.from({ length: n }, (_, i) => i));
    assert.deepEqual(gotA, Array.from({ length: n }, (_, i) => -i - 1));
  });
});

/**
 * Opens a channel whose peer window holds five 100-byte items (plus 3 bytes), keeps sending such
 * items without the peer consuming, and returns once sending stalled: exactly 6 went out.
 */
async function floodNeverConsumingPeer(preCredited: boolean): Promise<{ ch: Channel; peer: Channel; size: number; window: number; sent: () => number }> {
  const size = binSize(100);
  const window = size * 5 + 3;
  const p = muxPair({ a: preCredited ? { peerWindow: window } : {}, b: { window } });
  const ch = p.a.open('t');
  const peer = await peerOf(p, 0);
  let sent = 0;
  void (async () => {
    for (let i = 0; i < 100; i++) {
      await ch.send(Buffer.alloc(100)).catch(() => {});
      sent++;
    }
  })();
  await turns(20);
  assert.equal(sent, 6);
  return { ch, peer, size, window, sent: () => sent };
}

describe('flow control', () => {
  test('flow control - send waits when the peer window is used up and resumes when the peer consumes', async () => {
    const size = binSize(40);
    const p = muxPair({ b: { window: size * 2 } });
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    await turns();
    const settled: number[] = [];
    const sends = [0, 1, 2, 3].map((i) => ch.send(Buffer.alloc(40, i)).then(() => settled.push(i)));
    await turns(5);
    assert.deepEqual(settled, [0, 1], 'only a window of items is sent');
    assert.equal(peer.queued, 2);
    // Consuming one item (half the window) returns its credit.
    assert.equal((await peer.receive(T) as Buffer)[0], 0);
    await until(() => settled.length === 3, 2000, 'third send');
    assert.deepEqual(settled, [0, 1, 2]);
    await peer.receive(T);
    await until(() => settled.length === 4, 2000, 'fourth send');
    await Promise.all(sends);
    assert.equal((await peer.receive(T) as Buffer)[0], 2);
    assert.equal((await peer.receive(T) as Buffer)[0], 3);
  });

  test('flow control - an item larger than the whole window is still sent while credit is positive', async () => {
    const p = muxPair({ b: { window: 10 } });
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    await ch.send(Buffer.alloc(1000, 7), T);
    const got = (await peer.receive(T)) as Buffer;
    assert.equal(got.length, 1000);
    // Credit went negative; the next send waits until the big item is consumed, then goes.
    await ch.send('after', T);
    assert.equal(await peer.receive(T), 'after');
  });

  test('flow control - a receiver that never consumes holds at most its window plus one item', async () => {
    const { ch, peer, size, window } = await floodNeverConsumingPeer(false);
    assert.equal(peer.queued, 6);
    assert.ok(peer.queued * size <= window + size);
    ch.destroy();
  });

  test('flow control - an async callback slows its sender: credit returns only when the callback settles', async () => {
    const size = binSize(50);
    const p = muxPair({ b: { window: size * 2 } });
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    const releases: Array<() => void> = [];
    const seen: number[] = [];
    peer.setCallback((item) => {
      seen.push((item as Buffer)[0] as number);
      return new Promise<void>((r) => releases.push(r));
    });
    let sent = 0;
    const all = (async () => {
      for (let i = 0; i < 6; i++) {
        await ch.send(Buffer.alloc(50, i));
        sent++;
      }
    })();
    await turns(10);
    assert.equal(sent, 2);
    assert.deepEqual(seen, [0], 'the next item waits for the callback');
    releases.shift()!();
    await until(() => seen.length === 2);
    assert.deepEqual(seen, [0, 1]);
    while (seen.length < 6) {
      releases.shift()?.();
      await turns(2);
    }
    releases.shift()?.();
    await all;
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
  });

  test('flow control - sends wait for the transport to drain when it reports congestion', async () => {
    const p = muxPair({ highWater: 200 });
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    await turns();
    const first = ch.send(Buffer.alloc(300));
    let secondDone = false;
    const second = ch.send(Buffer.alloc(10)).then(() => {
      secondDone = true;
    });
    await first;
    assert.equal(secondDone, false, 'the second item waits for the drain');
    await second;
    assert.equal(((await peer.receive(T)) as Buffer).length, 300);
    assert.equal(((await peer.receive(T)) as Buffer).length, 10);
  });

  test('flow control - queued sends beyond maxPendingSendBytes reject with QueueFullError', async () => {
    const p = muxPair({ a: { maxPendingSendBytes: binSize(100) * 2 }, b: { window: 1 } });
    const ch = p.a.open('t');
    await peerOf(p, 0);
    await turns();
    void ch.send(Buffer.alloc(100));
    const q1 = ch.send(Buffer.alloc(100));
    const q2 = ch.send(Buffer.alloc(100));
    const q3 = ch.send(Buffer.alloc(100));
    await assert.rejects(q3, (e: unknown) => e instanceof QueueFullError && e.limit === binSize(100) * 2);
    ch.destroy();
    await assert.rejects(q1, ChannelClosedError);
    await assert.rejects(q2, ChannelClosedError);
  });

  test('flow control - a send that times out while waiting for credit is withdrawn and never delivered', async () => {
    const p = muxPair({ b: { window: 1 } });
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    await turns();
    await ch.send('first');
    await assert.rejects(ch.send('withdrawn', { timeout: 20 }), (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 20);
    const ac = new AbortController();
    const aborted = ch.send('aborted', { signal: ac.signal });
    ac.abort();
    await assert.rejects(aborted, AbortError);
    assert.equal(await peer.receive(T), 'first');
    await ch.send('third', T);
    assert.equal(await peer.receive(T), 'third');
    assert.equal(peer.queued, 0);
  });

  test('flow control - a peer that sends beyond its credit fails the channel with a ProtocolError', async () => {
    const p = muxPair({ b: { window: 10 } });
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    // Forge data frames past the window (a well-behaved mux never does this).
    const frame = (buildFrame(FrameType.CH_DATA, [ch.id], [], encodeValue(Buffer.alloc(20))) as Buffer).subarray(4);
    p.b.handleFrame(frame);
    p.b.handleFrame(frame);
    await assert.rejects(peer.waitClose(T), (e: unknown) => e instanceof ChannelEOFError && e.reason === 'connection-lost' && /beyond the credit/.test(String((e.cause as Error).message)));
    await assert.rejects(ch.receive(T), (e: unknown) => e instanceof RemoteError && e.remoteName === 'ProtocolError');
  });
});

describe('close and end of channel', () => {
  test('close - items sent before the close are received, then the EOF error (closed-by-peer)', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    void ch.send(1);
    void ch.send(2);
    ch.close();
    await peer.waitClose(T);
    assert.equal(peer.isClosed(), true);
    assert.equal(await peer.receive(T), 1);
    assert.equal(await peer.receive(T), 2);
    await assert.rejects(peer.receive(T), (e: unknown) => e instanceof ChannelEOFError && e.reason === 'closed-by-peer' && e.channelId === 1);
    await assert.rejects(peer.receive(T), ChannelEOFError);
  });

  test('close - sends still waiting for credit are written before the close goes out', async () => {
    const p = muxPair({ b: { window: 1 } });
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    const sends = [ch.send('a'), ch.send('b'), ch.send('c')];
    ch.close();
    assert.equal(ch.isClosed(), true);
    const got: unknown[] = [];
    for await (const item of peer) got.push(item);
    await Promise.all(sends);
    assert.deepEqual(got, ['a', 'b', 'c']);
    await ch.waitClose(T);
  });

  test('close - with an error the peer gets a RemoteError once from receive, then EOF', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    ch.close(new RangeError('out of range'));
    const first = await peer.receive(T).catch((e: unknown) => e);
    assert.ok(first instanceof RemoteError);
    assert.equal(first.remoteName, 'RangeError');
    assert.equal(first.remoteMessage, 'out of range');
    assert.equal(first.origin, 'A');
    assert.match(first.traceback.join('\n'), /RangeError: out of range/);
    await assert.rejects(peer.receive(T), ChannelEOFError);
    await peer.waitClose(T);
  });

  test('close - waitClose raises the RemoteError once, then resolves; a string error becomes the message', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    ch.close('plain text');
    await assert.rejects(peer.waitClose(T), (e: unknown) => e instanceof RemoteError && e.remoteName === 'Error' && e.remoteMessage === 'plain text');
    await peer.waitClose(T);
    await assert.rejects(peer.receive(T), (e: unknown) => e instanceof ChannelEOFError && e.reason === 'closed-by-peer');
  });

  test('close - after a local close send rejects, receive ends, and a second close is a no-op', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    await peerOf(p, 0);
    ch.close();
    ch.close('ignored');
    await assert.rejects(ch.send(1), (e: unknown) => e instanceof ChannelClosedError && e.closedBy === 'local' && e.channelId === 1);
    await assert.rejects(ch.receive(T), (e: unknown) => e instanceof ChannelEOFError && e.reason === 'closed-locally');
    await ch.waitClose(T);
    assert.equal(ch.toString(), '<Channel id=1 closed>');
  });

  test('close - sending to a channel the peer closed rejects with ChannelClosedError (closedBy peer)', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    peer.close();
    await ch.waitClose(T);
    await assert.rejects(ch.send(1), (e: unknown) => e instanceof ChannelClosedError && e.closedBy === 'peer');
  });

  test('close - a pending receive rejects when the peer closes', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    const pending = ch.receive(T);
    peer.close('bye');
    await assert.rejects(pending, (e: unknown) => e instanceof RemoteError && e.remoteMessage === 'bye');
  });

  test('close - destroy rejects sends still waiting for credit and closes at once', async () => {
    const p = muxPair({ b: { window: 1 } });
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    await turns();
    await ch.send('x');
    const waiting = ch.send('y');
    ch.destroy('stop');
    await assert.rejects(waiting, (e: unknown) => e instanceof ChannelClosedError && e.closedBy === 'local');
    assert.equal(await peer.receive(T), 'x');
    await assert.rejects(peer.receive(T), (e: unknown) => e instanceof RemoteError && e.remoteMessage === 'stop');
  });

  test('close - items arriving after a local close are dropped', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    ch.close();
    void peer.send('late').catch(() => {});
    await turns(5);
    assert.equal(ch.queued, 0);
    assert.equal(p.a.size, 0);
  });

  test('close - both sides closing at once settle both channels', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    ch.close();
    peer.close();
    await ch.waitClose(T);
    await peer.waitClose(T);
    assert.equal(p.a.size + p.b.size, 0);
  });

  test('async dispose - closes the channel', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    await ch[Symbol.asyncDispose]();
    await peer.waitClose(T);
  });
});

describe('receive, timeouts, iteration', () => {
  test('receive - a timeout rejects with TimeoutError and does not lose a later item', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    await assert.rejects(peer.receive({ timeout: 20 }), (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 20 && /channel 1/.test(e.operation));
    await ch.send('later');
    assert.equal(await peer.receive(T), 'later');
  });

  test('receive - an aborted receive rejects with AbortError and withdraws its waiter', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    const ac = new AbortController();
    const r = peer.receive({ signal: ac.signal });
    ac.abort();
    await assert.rejects(r, AbortError);
    await ch.send(5);
    assert.equal(await peer.receive(T), 5);
  });

  test('receive - concurrent receives are served in call order', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    const r = [peer.receive(T), peer.receive(T), peer.receive(T)];
    await ch.send('a');
    await ch.send('b');
    await ch.send('c');
    assert.deepEqual(await Promise.all(r), ['a', 'b', 'c']);
  });

  test('iteration - for await yields items until the close and ends quietly', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    for (let i = 0; i < 5; i++) void ch.send(i);
    ch.close();
    const got: unknown[] = [];
    for await (const x of peer) got.push(x);
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
  });

  test('iteration - a peer error is thrown from the loop after the items', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    void ch.send('x');
    ch.close(new Error('boom'));
    const got: unknown[] = [];
    await assert.rejects(
      (async () => {
        for await (const x of peer) got.push(x);
      })(),
      (e: unknown) => e instanceof RemoteError && e.remoteMessage === 'boom',
    );
    assert.deepEqual(got, ['x']);
  });
});

describe('callbacks', () => {
  test('callback - queued items are delivered synchronously by setCallback, later ones as they arrive', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    await ch.send(1);
    await ch.send(2);
    await until(() => peer.queued === 2);
    const seen: unknown[] = [];
    peer.setCallback((x) => seen.push(x));
    assert.deepEqual(seen, [1, 2]);
    await ch.send(3);
    await until(() => seen.length === 3);
    assert.deepEqual(seen, [1, 2, 3]);
  });

  test('callback - the endmarker arrives exactly once after the items when the peer closes', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    const seen: unknown[] = [];
    peer.setCallback((x) => seen.push(x), { endmarker: 'END' });
    for (let i = 0; i < 3; i++) await ch.send(i);
    ch.close();
    await peer.waitClose(T);
    peer.close();
    await turns(3);
    assert.deepEqual(seen, [0, 1, 2, 'END']);
  });

  test('callback - the endmarker arrives once on a local close, on a peer error, and on a lost connection', async () => {
    for (const how of ['local', 'error', 'lost'] as const) {
      const p = muxPair();
      const ch = p.a.open('t');
      const peer = await peerOf(p, 0);
      const seen: unknown[] = [];
      peer.setCallback((x) => seen.push(x), { endmarker: null });
      if (how === 'local') peer.close();
      if (how === 'error') ch.close('e');
      if (how === 'lost') p.cut();
      await until(() => seen.length > 0, 2000, `endmarker (${how})`);
      await turns(3);
      assert.deepEqual(seen, [null], how);
      if (how === 'error') await assert.rejects(peer.waitClose(T), RemoteError);
      if (how === 'lost') await assert.rejects(peer.waitClose(T), (e: unknown) => e instanceof ChannelEOFError && e.reason === 'connection-lost');
    }
  });

  test('callback - on an already closed channel the queued items and then the endmarker are delivered at once', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    await ch.send('a');
    ch.close();
    await peer.waitClose(T);
    const seen: unknown[] = [];
    peer.setCallback((x) => seen.push(x), { endmarker: 'END' });
    assert.deepEqual(seen, ['a', 'END']);
  });

  test('callback - without an endmarker option nothing extra is delivered at the end', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    const seen: unknown[] = [];
    peer.setCallback((x) => seen.push(x));
    await ch.send(undefined);
    ch.close();
    await peer.waitClose(T);
    await turns(2);
    assert.deepEqual(seen, [undefined]);
  });

  test('callback - a second setCallback, receive and iteration are refused with ChannelUsageError', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    ch.setCallback(() => {});
    assert.throws(() => ch.setCallback(() => {}), (e: unknown) => e instanceof ChannelUsageError && e.operation === 'setCallback');
    await assert.rejects(ch.receive(), (e: unknown) => e instanceof ChannelUsageError && e.operation === 'receive');
    assert.throws(() => ch[Symbol.asyncIterator](), (e: unknown) => e instanceof ChannelUsageError && e.operation === 'iterate');
    const other = p.a.open('t');
    void other.receive().catch(() => {});
    assert.throws(() => other.setCallback(() => {}), ChannelUsageError);
  });

  test('callback - a throwing callback closes the channel: the peer gets a RemoteError, waitClose rejects with the original error', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    const seen: unknown[] = [];
    const boom = new Error('callback failed');
    peer.setCallback(
      (x) => {
        seen.push(x);
        if (x === 2) throw boom;
      },
      { endmarker: 'END' },
    );
    await ch.send(1);
    await ch.send(2);
    void ch.send(3).catch(() => {});
    await assert.rejects(ch.waitClose(T), (e: unknown) => e instanceof RemoteError && e.remoteMessage === 'callback failed');
    await assert.rejects(peer.waitClose(T), (e: unknown) => e === boom);
    assert.deepEqual(seen, [1, 2, 'END']);
  });
});

describe('channels inside items', () => {
  test('channel passing - a channel sent inside an item is usable by the receiver in both directions', async () => {
    const p = muxPair();
    const control = p.a.open('t');
    const peerControl = await peerOf(p, 0);
    const sub = p.a.newChannel();
    assert.equal(sub.id, 3);
    await control.send({ reply: sub });
    const got = (await peerControl.receive(T)) as { reply: Channel };
    assert.ok(got.reply instanceof Channel);
    assert.equal(got.reply.id, 3);
    await got.reply.send('via sub');
    assert.equal(await sub.receive(T), 'via sub');
    await sub.send('back');
    assert.equal(await got.reply.receive(T), 'back');
    // Sending it back resolves to the very same object.
    await peerControl.send([got.reply]);
    const back = (await control.receive(T)) as Channel[];
    assert.equal(back[0], sub);
  });

  test('channel passing - a channel from another connection is refused with an EncodeError naming the path', async () => {
    const p1 = muxPair();
    const p2 = muxPair();
    const foreign = p2.a.open('t');
    const ch = p1.a.open('t');
    await assert.rejects(ch.send({ x: [foreign] }), (e: unknown) => e instanceof EncodeError && e.path === '$.x[0]' && /another connection/.test(e.message));
  });

  test('newChannel - sending on it announces it, so items reach the peer once it holds the reference', async () => {
    const p = muxPair();
    const control = p.a.open('t');
    const peerControl = await peerOf(p, 0);
    const sub = p.a.newChannel();
    const first = sub.send('early');
    await control.send(sub);
    const peerSub = (await peerControl.receive(T)) as Channel;
    await first;
    assert.equal(await peerSub.receive(T), 'early');
    assert.equal(p.openedOnB.length, 1, 'announced channels do not call onOpen');
  });
});

describe('connection loss', () => {
  test('closeAll - pending receives and sends reject, waitClose rejects every time, open throws', async () => {
    const p = muxPair({ b: { window: 1 } });
    const ch = p.a.open('t');
    await peerOf(p, 0);
    await turns();
    await ch.send('x');
    const pendingSend = ch.send('y');
    const q = p.a.open('t2');
    const pendingReceive = q.receive();
    const cause = new Error('socket reset');
    p.cut(cause);
    await assert.rejects(pendingReceive, (e: unknown) => e instanceof ChannelEOFError && e.reason === 'connection-lost' && e.cause === cause);
    await assert.rejects(pendingSend, (e: unknown) => e instanceof ChannelClosedError && e.closedBy === 'connection');
    await assert.rejects(ch.waitClose(T), ChannelEOFError);
    await assert.rejects(ch.waitClose(T), ChannelEOFError);
    await assert.rejects(ch.send(1), (e: unknown) => e instanceof ChannelClosedError && e.closedBy === 'connection');
    assert.equal(ch.isClosed(), true);
    assert.throws(() => p.a.open('t'), { code: 'SWITCHYARD_ERR_CONNECTION_CLOSED' });
    assert.equal(p.a.size, 0);
    p.a.closeAll();
  });

  test('closeAll - a channel closed cleanly before the loss still waitCloses without error', async () => {
    const p = muxPair();
    const ch = p.a.open('t');
    await peerOf(p, 0);
    ch.close();
    await ch.waitClose(T);
    p.cut();
    await ch.waitClose(T);
  });
});

describe('pre-credited opens (peerWindow)', () => {
  const frameTypes = (frames: Buffer[]): number[] => frames.map((f) => f[0] as number);

  test('precredit - the first send of a new channel goes out with the open, before any grant', async () => {
    const p = muxPair({ a: { peerWindow: 4096 }, b: { window: 4096 } });
    const ch = p.a.open('t', { m: 1 });
    const sent = ch.send('first');
    assert.deepEqual(frameTypes(p.ab.queued), [FrameType.CH_OPEN, FrameType.CH_DATA], 'the item is written in the same turn as the open');
    await sent;
    const peer = await peerOf(p, 0);
    assert.equal(await peer.receive(T), 'first');
    await turns();
    assert.ok(!frameTypes(p.ba.frames).includes(FrameType.CH_CREDIT), 'the acceptor grants nothing: the whole window was counted');
    // Both directions still work.
    await peer.send('back');
    assert.equal(await ch.receive(T), 'back');
  });

  test('precredit - flow control holds: a receiver that never consumes holds at most its window plus one item', async () => {
    const { ch, peer, sent } = await floodNeverConsumingPeer(true);
    assert.equal(peer.queued, 6);
    // Consuming returns credit as before.
    for (let i = 0; i < 6; i++) await peer.receive(T);
    await until(() => sent() > 6, 2000, 'more sends after consuming');
    ch.destroy();
  });

  test('precredit - a pre-credit below the acceptor window is topped up with one grant of the rest', async () => {
    const p = muxPair({ a: { peerWindow: 100 }, b: { window: 1000 } });
    p.a.open('t');
    await peerOf(p, 0);
    await turns();
    const credits = p.ba.frames.filter((f) => f[0] === FrameType.CH_CREDIT);
    assert.equal(credits.length, 1);
    assert.equal((credits[0] as Buffer).readUInt32BE(5), 900);
  });

  test('precredit - with the top-up the opener may use the whole acceptor window, not just its pre-credit', async () => {
    const p = muxPair({ a: { peerWindow: 256 * 1024 }, b: { window: 1 << 20 } });
    const ch = p.a.open('t');
    const peer = await peerOf(p, 0);
    await turns();
    // Three 100 kB items: beyond the pre-credit, within the window. None may be refused.
    for (let i = 0; i < 3; i++) await ch.send(Buffer.alloc(100_000, i), T);
    await turns(5);
    assert.equal(peer.queued, 3);
    for (let i = 0; i < 3; i++) assert.equal(((await peer.receive(T)) as Buffer)[0], i);
  });

  test('precredit - an open counting more than the acceptor window is a ProtocolError', () => {
    const p = muxPair({ b: { window: 1000 } });
    const frame = buildFrame(FrameType.CH_OPEN, [1, 1000, CH_OPEN_FLAG_CREDITED, 2000], ['t']);
    const body = (Buffer.isBuffer(frame) ? frame : Buffer.concat(frame)).subarray(4);
    assert.throws(() => p.b.handleFrame(body), (e: unknown) => e instanceof ProtocolError && /counting 2000 bytes of credit; the window here is 1000/.test(e.message));
  });

  test('precredit - a newChannel() sent inside an item is announced pre-credited and can be used at once', async () => {
    const p = muxPair({ a: { peerWindow: 4096 }, b: { window: 4096, peerWindow: 4096 } });
    const ch = p.a.open('t');
    const side = p.a.newChannel();
    await ch.send({ side });
    const peer = await peerOf(p, 0);
    const got = (await peer.receive(T)) as { side: Channel };
    assert.ok(got.side instanceof Channel);
    const before = p.ab.queued.length;
    const s = side.send('direct');
    assert.equal(p.ab.queued.length, before + 1, 'no wait for a grant');
    await s;
    assert.equal(await got.side.receive(T), 'direct');
    await got.side.send('reply');
    assert.equal(await side.receive(T), 'reply');
    // The acceptor's own opens are pre-credited too when it knows the initiator's window.
    const fromB = p.b.open('u');
    const first = fromB.send(1);
    await first;
    await until(() => p.openedOnA.length === 1, 2000, 'a to see the open');
    assert.equal(await (p.openedOnA[0] as { channel: Channel }).channel.receive(T), 1);
  });
});

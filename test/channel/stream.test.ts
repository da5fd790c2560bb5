import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import { attachMux, streamLink } from '../../src/channel/attach.ts';
import type { Channel } from '../../src/channel/channel.ts';
import { ChannelEOFError, RemoteError } from '../../src/errors.ts';
import { muxPair, peerOf } from './pair.ts';

const T = { timeout: 3000 };
let keepAlive: NodeJS.Timeout | undefined;
before(() => {
  keepAlive = setInterval(() => {}, 1000);
});
after(() => clearInterval(keepAlive));

test('toStream - bytes piped into the stream arrive as the same bytes on the peer stream, then EOF', async () => {
  const p = muxPair({ b: { window: 4096 } });
  const ch = p.a.open('t');
  const peer = await peerOf(p, 0);
  const data = Buffer.alloc(200_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  const chunks: Buffer[] = [];
  await Promise.all([
    pipeline(Readable.from([data.subarray(0, 70_000), data.subarray(70_000)]), ch.toStream()),
    pipeline(
      peer.toStream(),
      new Writable({
        write(c: Buffer, _e, cb) {
          chunks.push(c);
          cb();
        },
      }),
    ),
  ]);
  assert.ok(Buffer.concat(chunks).equals(data));
});

test('toStream - string items are read as UTF-8 and a non-bytes item destroys the stream with a coded error', async () => {
  const p = muxPair();
  const ch = p.a.open('t');
  const peer = await peerOf(p, 0);
  await ch.send('héllo ');
  await ch.send({ not: 'bytes' });
  const s = peer.toStream();
  const got: Buffer[] = [];
  const err = await new Promise<Error>((resolve) => {
    s.on('data', (c: Buffer) => got.push(c));
    s.on('error', resolve);
  });
  assert.equal(Buffer.concat(got).toString('utf8'), 'héllo ');
  assert.equal((err as { code?: string }).code, 'SWITCHYARD_ERR_CHANNEL_ITEM_TYPE');
});

test('toStream - a peer error destroys the readable side with the RemoteError', async () => {
  const p = muxPair();
  const ch = p.a.open('t');
  const peer = await peerOf(p, 0);
  ch.close(new Error('disk full'));
  const s = peer.toStream();
  const err = await new Promise<unknown>((resolve) => {
    s.on('error', resolve);
    s.resume();
  });
  assert.ok(err instanceof RemoteError && err.remoteMessage === 'disk full');
});

test('attachMux - over a real loopback socket 2000 items keep their order and a reset ends channels with connection-lost', async () => {
  const accepted: Channel[] = [];
  const server = net.createServer({ noDelay: true }, (sock) => {
    attachMux(streamLink(sock, sock), {
      initiator: false,
      window: 8192,
      onOpen: (ch) => accepted.push(ch),
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
    await new Promise<void>((r) => sock.once('connect', r));
    const { mux, closed } = attachMux(streamLink(sock, sock), { initiator: true });
    const ch = mux.open('numbers');
    const sending = (async () => {
      for (let i = 0; i < 2000; i++) await ch.send({ i, pad: 'x'.repeat(i % 50) });
    })();
    while (accepted.length === 0) await new Promise((r) => setTimeout(r, 1));
    const peer = accepted[0] as Channel;
    for (let i = 0; i < 2000; i++) assert.equal(((await peer.receive(T)) as { i: number }).i, i);
    await sending;
    const pending = peer.receive(T);
    sock.destroy();
    await assert.rejects(pending, (e: unknown) => e instanceof ChannelEOFError && e.reason === 'connection-lost');
    await closed;
    assert.equal(mux.closed, true);
  } finally {
    server.close();
  }
});

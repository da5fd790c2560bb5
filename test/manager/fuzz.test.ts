/**
 * Hostile input: random lines, random bytes and random native frames from authenticated peers.
 * Whatever a peer sends, the Manager answers or drops that peer, and keeps serving everyone else.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { connect } from '../../src/client/client.ts';
import { Service } from '../../src/service/service.ts';
import { RawPeer, startTestManager, useTempHome } from '../helpers/index.ts';

useTempHome();

class Adder extends Service {
  add(a: number, b: number): number {
    return a + b;
  }
}

/** A raw socket that completes the handshake announcing the native dialect, then speaks frames. */
async function nativePeer(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  let buf = '';
  s.setEncoding('latin1');
  const lines: string[] = [];
  s.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const next = async (): Promise<string> => {
    const deadline = Date.now() + 3000;
    while (lines.length === 0) {
      if (Date.now() > deadline) throw new Error('no line from the Manager');
      await new Promise((r) => setTimeout(r, 5));
    }
    return lines.shift() as string;
  };
  await next();
  s.write(JSON.stringify({ error: false, result: { type: 'client', name: 'Fuzz', switchyard: { dialects: ['switchyard-native/1'] } }, requester: null, uid: '' }) + '\r\n');
  s.write('{"service": "Manager", "attribute": "identity", "args": [], "kwargs": {}, "uid": "hello", "error": false}\r\n');
  const reply = JSON.parse(await next()) as { result: { switchyard?: unknown } };
  assert.ok(reply.result.switchyard, 'the Manager confirmed the native dialect');
  s.removeAllListeners('data');
  s.on('data', () => {});
  s.on('error', () => {});
  return s;
}

describe('manager fuzz', { timeout: 120_000 }, () => {
  let m: Awaited<ReturnType<typeof startTestManager>>;
  const svc = new Adder();
  before(async () => {
    m = await startTestManager({ maxMessageSize: 1 << 20 });
    await svc.start({ host: '127.0.0.1', port: m.port, disableTls: true });
  });
  after(async () => {
    await svc.disconnect();
    await m.close();
  });

  async function stillServes(): Promise<void> {
    const c = await connect({ host: '127.0.0.1', port: m.port, disableTls: true, timeout: 5000 });
    const link = await c.link<Adder>('Adder');
    assert.equal(await link.$with({ timeout: 5000 }).add(20, 22), 42);
    await c.disconnect();
  }

  test('fuzz - random lines from a JSON peer never stop the Manager', async () => {
    const line = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.record({ service: fc.string(), attribute: fc.string(), args: fc.jsonValue(), uid: fc.oneof(fc.string(), fc.integer()), result: fc.option(fc.jsonValue()) }).map((o) => JSON.stringify(o)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 20 }), async (lines) => {
        const p = await RawPeer.connect(m.port);
        await p.identify({ type: 'client', name: 'FuzzJson' });
        p.send(lines.map((l) => l.replace(/[\r\n]/g, ' ') + '\r\n').join(''));
        await new Promise((r) => setTimeout(r, 5));
        p.close();
      }),
      { numRuns: 40 },
    );
    await stillServes();
  });

  test('fuzz - random bytes and random native frames never stop the Manager', async () => {
    const frame = fc.tuple(fc.integer({ min: 0, max: 20 }), fc.uint8Array({ maxLength: 64 })).map(([type, body]) => {
      const b = Buffer.alloc(5 + body.length);
      b.writeUInt32BE(1 + body.length, 0);
      b[4] = type;
      Buffer.from(body).copy(b, 5);
      return b;
    });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(frame, fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u))), { maxLength: 12 }), async (chunks) => {
        const s = await nativePeer(m.port);
        s.write(Buffer.concat(chunks));
        await new Promise((r) => setTimeout(r, 5));
        s.destroy();
      }),
      { numRuns: 40 },
    );
    await stillServes();
  });
});

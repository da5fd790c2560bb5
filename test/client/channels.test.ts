/**
 * Channels between a client and a service through the Manager: streaming both ways with
 * end-to-end flow control, refusals, and what happens when an end goes away.
 */
import assert from 'node:assert/strict';
import type { ChannelMux } from '../../src/channel/mux.ts';
import { after, before, describe, test } from 'node:test';
import type { Channel } from '../../src/channel/index.ts';
import { connect, type Client } from '../../src/client/client.ts';
import { EncodeError, ProtocolError, RemoteError, SwitchyardError, TimeoutError } from '../../src/errors.ts';
import { Service, type RequestContext } from '../../src/service/service.ts';
import { startTestManager, useTempHome, within } from '../helpers/index.ts';

useTempHome();

class Streamer extends Service {
  held: Channel[] = [];
  protected override onChannel(channel: Channel, meta: unknown, request: RequestContext): Promise<void> | void {
    const mode = (meta as { mode?: string } | undefined)?.mode;
    if (mode === 'hold') {
      this.held.push(channel); // never reads: the sender must run out of credit
      return;
    }
    if (mode === 'who') return channel.send(request.requester).then(() => channel.close());
    return (async () => {
      for await (const item of channel) await channel.send(item);
      channel.close();
    })();
  }
  ping(): string {
    return 'pong';
  }
  /** Opens a channel to the caller, sends `n` items and what the caller sends back, then closes. */
  async pushTo(n: number): Promise<unknown[]> {
    const ch = this.openChannel(this.request!.requester, { kind: 'push', n });
    for (let i = 0; i < n; i++) await ch.send(Buffer.alloc(1000, i));
    const back: unknown[] = [];
    for await (const item of ch) back.push(item);
    return back;
  }
  /** Opens a channel to `client` and reports how it ended. */
  async openTo(client: string): Promise<string> {
    const ch = this.openChannel(client, null);
    try {
      await ch.receive({ timeout: 3000 });
      return 'open';
    } catch (err) {
      return `${(err as RemoteError).remoteName ?? (err as Error).name}: ${(err as RemoteError).remoteMessage ?? (err as Error).message}`;
    }
  }
}

class Closed extends Service {
  ping(): string {
    return 'pong';
  }
}

describe('channels through the Manager', { timeout: 60_000 }, () => {
  let m: Awaited<ReturnType<typeof startTestManager>>;
  const svc = new Streamer();
  const closedSvc = new Closed();
  let opts: { host: string; port: number; disableTls: true };
  const clients: Client[] = [];
  const open = async (): Promise<Client> => {
    const c = await connect(opts);
    clients.push(c);
    return c;
  };

  before(async () => {
    m = await startTestManager();
    opts = { host: '127.0.0.1', port: m.port, disableTls: true };
    await svc.start(opts);
    await closedSvc.start(opts);
  });
  after(async () => {
    for (const c of clients) await c.disconnect().catch(() => {});
    await svc.disconnect();
    await closedSvc.disconnect();
    await m.close();
  });

  test('channels - a client streams items to a service and back, in order, bytes intact', async () => {
    const c = await open();
    const link = await c.link<Streamer>('Streamer');
    const ch = link.$openChannel({ mode: 'echo' });
    const big = Buffer.alloc(1024 * 1024, 3);
    const items: unknown[] = [1, 'two', { three: [3n] }, big, new Map([['k', new Set([1])]])];
    const sending = (async () => {
      for (const item of items) await ch.send(item);
    })();
    const got: unknown[] = [];
    for (let i = 0; i < items.length; i++) got.push(await ch.receive({ timeout: 5000 }));
    await sending;
    assert.deepEqual(got, items);
    ch.close();
    await ch.waitClose({ timeout: 3000 });
  });

  test('channels - the service sees the requester; many channels share one connection', async () => {
    const c = await open();
    const link = await c.link<Streamer>('Streamer');
    const chans = Array.from({ length: 20 }, () => link.$openChannel({ mode: 'who' }));
    const names = await Promise.all(chans.map((ch) => ch.receive({ timeout: 5000 })));
    assert.deepEqual(new Set(names), new Set([c.networkName]));
  });

  test('channels - flow control is end to end: a sender waits while the service does not read', async () => {
    const c = await open();
    const link = await c.link<Streamer>('Streamer');
    const ch = link.$openChannel({ mode: 'hold' });
    const chunk = Buffer.alloc(256 * 1024);
    let sent = 0;
    let blocked: unknown;
    for (let i = 0; i < 64; i++) {
      try {
        await ch.send(chunk, { timeout: 300 });
        sent++;
      } catch (err) {
        blocked = err;
        break;
      }
    }
    assert.ok(blocked instanceof TimeoutError, `expected the sender to run out of credit, sent ${sent} chunks`);
    assert.ok(sent >= 3 && sent <= 8, `a 1 MiB window admits about 4 chunks of 256 KiB, sent ${sent}`);
    const held = svc.held.at(-1) as Channel;
    for (let i = 0; i < sent; i++) await held.receive({ timeout: 3000 });
    await ch.send(chunk, { timeout: 3000 });
    assert.equal(await link.ping(), 'pong', 'requests still flow while a channel is full');
  });

  test('channels - refused when not linked, and by a service that accepts none', async () => {
    const c = await open();
    const link = await c.link<Streamer>('Streamer');
    await c.unlink('Streamer');
    const ch = link.$openChannel();
    const err = await ch.receive({ timeout: 3000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.remoteName, 'PermissionError');
    assert.match(err.remoteMessage, /cannot open a channel to 'Streamer': it is not linked/);
    const other = await c.link<Closed>('Closed');
    const refused = await other.$openChannel().receive({ timeout: 3000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(refused instanceof RemoteError, String(refused));
    assert.match(refused.remoteMessage, /The Closed service does not accept channels/);
  });

  test('channels - a channel cannot travel inside an item through the Manager', async () => {
    const c = await open();
    const link = await c.link<Streamer>('Streamer');
    const a = link.$openChannel({ mode: 'echo' });
    const b = link.$openChannel({ mode: 'echo' });
    await assert.rejects(a.send({ inner: b }), (e: unknown) => e instanceof EncodeError && e.path === '$.inner' && /cannot travel inside an item/.test(e.message));
    await a.send('still usable');
    assert.equal(await a.receive({ timeout: 3000 }), 'still usable');
  });

  test('channels - a pre-credited open (a gateway-only flag) is refused by the Manager and the service is unharmed', async () => {
    const c = await open();
    const link = await c.link<Streamer>('Streamer');
    // Play a client that sets the flag anyway: the Manager must not pass it to the service, which
    // never agreed to it (a misparsed open would cost the service its connection).
    const mux = (c as unknown as { session: { mux: ChannelMux } }).session.mux;
    mux.setPeerWindow(1 << 20);
    const bad = link.$openChannel({ mode: 'echo' });
    const err = await bad.receive({ timeout: 3000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.remoteName, 'ProtocolError');
    assert.match(err.remoteMessage, /Pre-credited channel opens are not relayed by the Manager/);
    mux.setPeerWindow(0);
    const good = link.$openChannel({ mode: 'echo' });
    await good.send('after');
    assert.equal(await good.receive({ timeout: 3000 }), 'after');
  });

  test('channels - a service opens a channel to the client that called it; flow control and both directions', async () => {
    const c = await open();
    const link = await c.link<Streamer>('Streamer');
    const seen: Array<{ meta: unknown; items: number }> = [];
    const off = link.$onChannel(async (channel, meta) => {
      let items = 0;
      for await (const item of channel) {
        assert.ok(Buffer.isBuffer(item));
        items++;
        if (items === 1500) break;
      }
      seen.push({ meta, items });
      await channel.send('thanks');
      channel.close();
    });
    // 1,500 items of 1 kB: more than the client's 1 MiB window, so credit must come back end to end.
    assert.deepEqual(await link.$with({ timeout: 10_000 }).pushTo(1500), ['thanks']);
    assert.deepEqual(seen, [{ meta: { kind: 'push', n: 1500 }, items: 1500 }]);
    off();
    // Without a handler the client refuses, and the service is told why.
    const err = (await link.$with({ timeout: 10_000 }).pushTo(0).then(
      () => undefined,
      (e: unknown) => e,
    )) as RemoteError;
    assert.ok(err instanceof RemoteError, String(err));
    assert.match(err.message, /accepts no channels from the Streamer service/);
  });

  test('channels - a service cannot open a channel to a client that is not linked with it', async () => {
    const stranger = await open();
    const c = await open();
    const link = await c.link<Streamer>('Streamer');
    const result = await link.openTo(stranger.networkName);
    assert.match(result, /PermissionError: The 'Streamer' service cannot open a channel to '.*': no linked client has that name/);
    assert.match(await link.openTo('nobody[0.0.0.0:1]'), /no linked client has that name/);
  });

  test('channels - when the service goes away, its channels end with an error', async () => {
    class Brief extends Service {
      protected override onChannel(): void {}
    }
    const brief = new Brief();
    await brief.start(opts);
    const c = await open();
    const link = await c.link<Brief>('Brief');
    const ch = link.$openChannel();
    const pending = ch.receive({ timeout: 5000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 50));
    await brief.disconnect();
    const err = await within(pending, 5000, 'the channel to end');
    assert.ok(err instanceof SwitchyardError, String(err));
    assert.match(String((err as Error).message), /disconnected|closed/);
  });

  test('channels - a client on msl-network JSON lines is told channels need the native dialect', async () => {
    const c = await connect({ ...opts, dialect: 'json' });
    clients.push(c);
    const link = await c.link<Streamer>('Streamer');
    assert.throws(() => link.$openChannel(), ProtocolError);
  });
});

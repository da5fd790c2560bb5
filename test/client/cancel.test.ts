/**
 * A caller that gives up (timeout, abort signal, disconnect) cancels the call at the service:
 * the method's `this.request.signal` aborts. Calls that finished are forgotten, so a later
 * disconnect aborts nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type Client } from '../../src/client/client.ts';
import { AbortError, TimeoutError } from '../../src/errors.ts';
import { Service } from '../../src/service/service.ts';
import { startTestManager, useTempHome, within } from '../helpers/index.ts';

useTempHome();

class Slow extends Service {
  /** Signals of the calls made so far, by tag. */
  readonly signals = new Map<string, AbortSignal>();
  async wait(tag: string): Promise<string> {
    const signal = this.request!.signal;
    this.signals.set(tag, signal);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    return 'cancelled';
  }
  async quick(tag: string): Promise<string> {
    this.signals.set(tag, this.request!.signal);
    await new Promise((r) => setTimeout(r, 5));
    return 'done';
  }
}

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal | undefined): Promise<unknown> {
  assert.ok(signal, 'the method ran and kept its signal');
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((r) => signal.addEventListener('abort', () => r(signal.reason), { once: true }));
}

describe('call cancellation', { timeout: 30_000 }, () => {
  let m: Awaited<ReturnType<typeof startTestManager>>;
  const slow = new Slow();
  let opts: { host: string; port: number; disableTls: true };
  const clients: Client[] = [];
  const open = async (): Promise<Client> => {
    const c = await connect({ ...opts, name: 'Caller' });
    clients.push(c);
    return c;
  };
  const until = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(cond());
  };

  before(async () => {
    m = await startTestManager();
    opts = { host: '127.0.0.1', port: m.port, disableTls: true };
    await slow.start(opts);
  });
  after(async () => {
    for (const c of clients) await c.disconnect().catch(() => {});
    await slow.disconnect();
    await m.close();
  });

  test('cancel - a call that times out at the caller aborts the method signal at the service', async () => {
    const c = await open();
    const link = await c.link<Slow>('Slow');
    await assert.rejects(link.$with({ timeout: 100 }).wait('timeout'), TimeoutError);
    const reason = await within(aborted(slow.signals.get('timeout')), 5000, 'the service-side abort');
    assert.ok(reason instanceof AbortError);
    assert.match((reason as Error).message, /the reply to wait: its caller gave up/);
  });

  test('cancel - the caller aborting its signal aborts the method signal', async () => {
    const c = await open();
    const link = await c.link<Slow>('Slow');
    const ac = new AbortController();
    const call = link.$with({ signal: ac.signal }).wait('abort');
    await until(() => slow.signals.has('abort'));
    assert.equal(slow.signals.get('abort')?.aborted, false);
    ac.abort();
    await assert.rejects(call, AbortError);
    await within(aborted(slow.signals.get('abort')), 5000, 'the service-side abort');
  });

  test('cancel - a caller that disconnects with calls pending aborts them all', async () => {
    const c = await open();
    const link = await c.link<Slow>('Slow');
    const calls = [link.wait('gone1'), link.wait('gone2')];
    for (const p of calls) p.catch(() => {});
    await until(() => slow.signals.has('gone1') && slow.signals.has('gone2'));
    await c.disconnect();
    await within(Promise.all([aborted(slow.signals.get('gone1')), aborted(slow.signals.get('gone2'))]), 5000, 'both aborts');
  });

  test('cancel - a finished call is forgotten: neither a late give-up nor a disconnect aborts it; other callers are untouched', async () => {
    const other = await open();
    const otherLink = await other.link<Slow>('Slow');
    const pendingElsewhere = otherLink.wait('bystander');
    pendingElsewhere.catch(() => {});
    const c = await open();
    const link = await c.link<Slow>('Slow');
    assert.equal(await link.quick('finished'), 'done');
    await c.disconnect();
    await until(() => slow.signals.has('bystander'));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(slow.signals.get('finished')?.aborted, false);
    assert.equal(slow.signals.get('bystander')?.aborted, false, 'another client\'s call is not cancelled');
    await other.disconnect();
    await within(aborted(slow.signals.get('bystander')), 5000, 'the bystander abort once its own caller left');
  });
});

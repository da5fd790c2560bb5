/**
 * bench/hooks: what network-manager hooks cost.
 * (a) RPC round trips through the Manager with an empty chain vs a chain of three no-op managers
 *     (hooks run per connection, so the request path must not notice);
 * (b) connect time (TCP + handshake) without hooks vs with the logging manager writing to a file.
 * Manager, service and client share this process; configurations alternate, median of BENCH_RUNS.
 *
 *   npm run bench -- hooks
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/client/client.ts';
import type { NetManager } from '../../src/hooks/types.ts';
import { startManager } from '../../src/manager/manager.ts';
import { Service } from '../../src/service/service.ts';
import { median } from '../lib.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
const CALLS = Number(process.env['BENCH_SEQ'] ?? 5000);
const CONNECTS = Number(process.env['BENCH_CONNECTS'] ?? 100);
const home = mkdtempSync(join(tmpdir(), 'sy-bench-hooks-'));
process.env['SWITCHYARD_HOME'] = home;

class Adder extends Service {
  add(a: number, b: number): number {
    return a + b;
  }
}

const noop = (name: string): NetManager => ({
  name,
  preListen: () => undefined,
  postListen: () => undefined,
  preAccept: () => undefined,
  postAccept: () => undefined,
  preConnect: () => undefined,
  postConnect: () => undefined,
  preClose: () => undefined,
  postClose: () => undefined,
});


async function rpc(hooks: NetManager[]): Promise<number> {
  const m = await startManager({ host: '127.0.0.1', port: 0, disableTls: true, database: ':memory:', hooks });
  const svc = new Adder();
  const opts = { host: '127.0.0.1', port: m.port, disableTls: true, hooks };
  await svc.start(opts);
  const c = await connect(opts);
  const link = await c.link<Adder>('Adder');
  for (let i = 0; i < 500; i++) await link.add(i, 1);
  const t = performance.now();
  for (let i = 0; i < CALLS; i++) await link.add(i, 1);
  const rate = CALLS / ((performance.now() - t) / 1000);
  await c.disconnect();
  await svc.disconnect();
  await m.close();
  return rate;
}

async function connects(hooks: string | undefined): Promise<number> {
  const m = await startManager({ host: '127.0.0.1', port: 0, disableTls: true, database: ':memory:', hooks: hooks ?? [] });
  const times: number[] = [];
  for (let i = 0; i < CONNECTS + 10; i++) {
    const t = performance.now();
    const c = await connect({ host: '127.0.0.1', port: m.port, disableTls: true, hooks: hooks ?? [] });
    if (i >= 10) times.push(performance.now() - t);
    await c.disconnect();
  }
  await m.close();
  return median(times);
}

const empty: number[] = [];
const three: number[] = [];
const plain: number[] = [];
const logged: number[] = [];
const logFile = join(home, 'net.log');
for (let r = 0; r < RUNS; r++) {
  empty.push(await rpc([]));
  three.push(await rpc([noop('a'), noop('b'), noop('c')]));
  plain.push(await connects(undefined));
  logged.push(await connects(`manager=logging;file=${logFile};`));
}
const f = (n: number, d = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
console.log(`bench/hooks: median of ${RUNS} runs (Manager, service and client in one process, 127.0.0.1, TLS off)\n`);
console.log(`sequential add(1, 2), empty chain           ${f(median(empty)).padStart(8)} calls/s`);
console.log(`sequential add(1, 2), three no-op managers  ${f(median(three)).padStart(8)} calls/s   ratio ${f(median(three) / median(empty), 2)} (target: no measurable cost, ~1.00)`);
console.log(`connect + handshake, no hooks               ${f(median(plain), 3).padStart(8)} ms`);
console.log(`connect + handshake, logging manager        ${f(median(logged), 3).padStart(8)} ms       ratio ${f(median(logged) / median(plain), 2)}`);
rmSync(home, { recursive: true, force: true });

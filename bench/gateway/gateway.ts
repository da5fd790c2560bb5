/**
 * Gateway benchmarks (issue 3): (a) popen start + first round trip beside a bare `node` spawn with
 * one stdio round trip, (b) sequential channel echo, (c) one-way throughput of 1 MiB items beside a
 * raw Node socket pair. Prints medians and ratios. Run:
 *
 *     node --import tsx bench/gateway/gateway.ts [--quick]
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { Group } from '../../src/gateway/group.ts';
import { workerSource } from '../../src/gateway/worker-source.ts';

const quick = process.argv.includes('--quick');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

function envWithoutCa(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  return env;
}

/** Bare floor: spawn node, send one line, read the answer. */
async function bareSpawn(env: NodeJS.ProcessEnv): Promise<number> {
  const t = performance.now();
  const child = spawn(process.execPath, ['-e', 'process.stdin.once("data",(d)=>{process.stdout.write(d);process.exit(0)})'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.write('41\n');
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  const ms = performance.now() - t;
  await new Promise((r) => child.once('exit', r));
  return ms;
}

async function benchA(n: number): Promise<void> {
  await workerSource();
  const bare: number[] = [];
  const bareCa: number[] = [];
  const gw: number[] = [];
  for (let i = 0; i < n; i++) {
    bare.push(await bareSpawn(envWithoutCa()));
    if (process.env['NODE_EXTRA_CA_CERTS']) bareCa.push(await bareSpawn(process.env));
    const g = new Group({ output: 'ignore' });
    const t = performance.now();
    const gateway = await g.makeGateway('popen');
    const ch = gateway.remoteExec('channel.send(await channel.receive() + 1)');
    await ch.send(41);
    await ch.receive();
    gw.push(performance.now() - t);
    await g.terminate();
  }
  const b = median(bare);
  console.log(`(a) bare node spawn + stdio round trip: ${b.toFixed(1)} ms${bareCa.length ? ` (with NODE_EXTRA_CA_CERTS: ${median(bareCa).toFixed(1)} ms)` : ''}`);
  console.log(`(a) popen gateway + first remoteExec round trip: ${median(gw).toFixed(1)} ms  ratio ${(median(gw) / b).toFixed(2)}x (target <= 1.2x)`);
}

async function benchB(n: number): Promise<void> {
  const g = new Group({ output: 'ignore' });
  const gw = await g.makeGateway('popen');
  const ch = gw.remoteExec('for await (const x of channel) await channel.send(x)');
  for (let i = 0; i < 200; i++) {
    await ch.send(i);
    await ch.receive();
  }
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      await ch.send(i);
      await ch.receive();
    }
    runs.push(n / ((performance.now() - t) / 1000));
  }
  ch.close();
  await g.terminate();
  console.log(`(b) sequential echo: ${Math.round(median(runs))} round trips/s (target >= 13000; execnet ~8500)`);
}

async function benchC(items: number): Promise<void> {
  const item = Buffer.alloc(1 << 20, 7);
  const g = new Group({ output: 'ignore' });
  const gw = await g.makeGateway('popen', { window: 4 << 20 });
  // The worker answers on a second channel, so the clock stops when it has every byte.
  const rates: number[] = [];
  for (let r = 0; r < 3; r++) {
    const ch = gw.remoteExec('let n = 0; const reply = await channel.receive(); for (;;) { const x = await channel.receive(); if (x === null) break; n += x.length; } await reply.send(n)');
    const reply = gw.newChannel();
    await ch.send(reply);
    const t = performance.now();
    for (let i = 0; i < items; i++) await ch.send(item);
    await ch.send(null);
    const n = (await reply.receive()) as number;
    const s = (performance.now() - t) / 1000;
    if (n !== items * item.length) throw new Error(`worker counted ${n} bytes`);
    rates.push(n / s / 1e6);
  }
  await g.terminate();

  // Raw socket pair over loopback, same bytes, 1 MiB writes with backpressure.
  const raw: number[] = [];
  for (let r = 0; r < 3; r++) {
    const total = items * item.length;
    const server = net.createServer();
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const done = new Promise<number>((res) => {
      server.once('connection', (s) => {
        let n = 0;
        const t = performance.now();
        s.on('data', (c: Buffer) => {
          n += c.length;
          if (n >= total) res(n / ((performance.now() - t) / 1000) / 1e6);
        });
      });
    });
    const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((res) => c.once('connect', res));
    for (let i = 0; i < items; i++) if (!c.write(item)) await new Promise((res) => c.once('drain', res));
    raw.push(await done);
    c.destroy();
    server.close();
  }
  console.log(`(c) 1 MiB items one way: ${Math.round(median(rates))} MB/s; raw socket pair ${Math.round(median(raw))} MB/s; ratio ${(median(rates) / median(raw)).toFixed(2)} (target >= 0.7; execnet ~400 MB/s)`);
}

await benchA(quick ? 5 : 15);
await benchB(quick ? 2000 : 5000);
await benchC(quick ? 100 : 200);

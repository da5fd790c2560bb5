/**
 * Gateway benchmarks (issue 3): (a) popen start + first round trip beside a bare `node` spawn with
 * one stdio round trip, (b) sequential channel echo, (c) one-way throughput of 1 MiB items beside a
 * raw Node socket pair, (d) RSync of 1000 × 4 KiB files (first sync, unchanged, 10 changed) beside
 * the system `rsync -a` and, when `python3 -c "import execnet"` works, beside execnet's RSync.
 * Prints medians and ratios. Run (also through `npm run bench -- gateway`):
 *
 *     node --import tsx bench/gateway/run.ts [--quick] [a b c d]
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Group } from '../../src/gateway/group.ts';
import { RSync } from '../../src/gateway/rsync.ts';
import { workerSource } from '../../src/gateway/worker-source.ts';
import { median } from '../lib.ts';

const quick = process.argv.includes('--quick');

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

const NO_EXECNET = 'execnet: not installed for python3 (apt-get install python3-execnet to compare)';

/** Finds a Python that has execnet, or undefined. */
function execnetPython(): string | undefined {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import execnet'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return undefined;
}

/** execnet doing (a), (b) or (c) the way this file does them; prints one number. */
const EXECNET_ABC = `
import sys, time, execnet
mode, n = sys.argv[1], int(sys.argv[2])
if mode == "a":
    xs = []
    for i in range(n):
        t = time.perf_counter()
        gw = execnet.makegateway("popen")
        ch = gw.remote_exec("channel.send(channel.receive() + 1)")
        ch.send(41)
        ch.receive()
        xs.append((time.perf_counter() - t) * 1000)
        gw.exit()
        gw.join()
    xs.sort()
    print("%.1f" % xs[len(xs) // 2])
elif mode == "b":
    gw = execnet.makegateway("popen")
    ch = gw.remote_exec("for x in channel: channel.send(x)")
    for i in range(200):
        ch.send(i)
        ch.receive()
    rs = []
    for r in range(3):
        t = time.perf_counter()
        for i in range(n):
            ch.send(i)
            ch.receive()
        rs.append(n / (time.perf_counter() - t))
    rs.sort()
    print("%.0f" % rs[1])
    gw.exit()
elif mode == "c":
    gw = execnet.makegateway("popen")
    item = b"\\x07" * (1 << 20)
    rates = []
    for r in range(3):
        ch = gw.remote_exec("n = 0\\nwhile True:\\n    x = channel.receive()\\n    if x is None: break\\n    n += len(x)\\nchannel.send(n)")
        t = time.perf_counter()
        for i in range(n):
            ch.send(item)
        ch.send(None)
        got = ch.receive()
        rates.append(got / (time.perf_counter() - t) / 1e6)
    rates.sort()
    print("%.0f" % rates[1])
    gw.exit()
`;

/** Runs execnet's side of (a), (b) or (c): its number, or why there is none. */
function execnet(mode: 'a' | 'b' | 'c', n: number): number | string {
  const py = execnetPython();
  if (!py) return NO_EXECNET;
  const r = spawnSync(py, ['-c', EXECNET_ABC, mode, String(n)], { encoding: 'utf8', env: envWithoutCa(), timeout: 300_000 });
  const v = Number.parseFloat(r.stdout.trim());
  if (r.status !== 0 || !Number.isFinite(v)) return `execnet failed: ${r.stderr.trim().split('\n').at(-1) ?? r.status}`;
  return v;
}

/** A new process's first gateway + round trip, timed inside that process (its own start not counted). */
function firstGatewayOfNewProcess(home: string): number {
  const code = `
    const { Group } = await import('./src/gateway/group.ts');
    const { workerSource } = await import('./src/gateway/worker-source.ts');
    await workerSource();
    const g = new Group({ output: 'ignore' });
    const t = performance.now();
    const gw = await g.makeGateway('popen');
    const ch = gw.remoteExec('channel.send(await channel.receive() + 1)');
    await ch.send(41);
    await ch.receive();
    console.log(performance.now() - t);
    await g.terminate();
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...process.env, SWITCHYARD_HOME: home },
    encoding: 'utf8',
  });
  return Number.parseFloat(r.stdout.trim());
}

async function benchA(n: number): Promise<void> {
  await workerSource();
  // A home of its own: the first gateway finds no code cache on disk, and the user's is untouched.
  const home = mkdtempSync(join(tmpdir(), 'switchyard-bench-home-'));
  const userHome = process.env['SWITCHYARD_HOME'];
  process.env['SWITCHYARD_HOME'] = home;
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
  // The very first gateway had no code cache (see src/gateway/code-cache.ts); the first gateway
  // of a later process reads the one the first worker left on disk.
  const [cold = 0, ...warm] = gw;
  await new Promise((r) => setTimeout(r, 200));
  const fresh = median(Array.from({ length: 5 }, () => firstGatewayOfNewProcess(home)));
  if (userHome === undefined) delete process.env['SWITCHYARD_HOME'];
  else process.env['SWITCHYARD_HOME'] = userHome;
  rmSync(home, { recursive: true, force: true });
  console.log(`(a) bare node spawn + stdio round trip: ${b.toFixed(1)} ms${bareCa.length ? ` (with NODE_EXTRA_CA_CERTS: ${median(bareCa).toFixed(1)} ms)` : ''}`);
  console.log(`(a) popen gateway + first remoteExec round trip: ${median(warm).toFixed(1)} ms  ratio ${(median(warm) / b).toFixed(2)}x (target <= 1.2x)`);
  console.log(`(a)   a new process's first gateway (code cache from disk): ${fresh.toFixed(1)} ms  ratio ${(fresh / b).toFixed(2)}x`);
  console.log(`(a)   the very first gateway (no code cache anywhere yet): ${cold.toFixed(1)} ms  ratio ${(cold / b).toFixed(2)}x`);
  const e = execnet('a', n);
  console.log(`(a) ${typeof e === 'string' ? e : `execnet popen gateway + first remote_exec round trip: ${e.toFixed(1)} ms`}`);
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
  // Floor: the same ping-pong of a few bytes through a bare node child's stdin/stdout.
  const child = spawn(process.execPath, ['-e', 'process.stdin.on("data",(d)=>process.stdout.write(d))'], { env: envWithoutCa(), stdio: ['pipe', 'pipe', 'inherit'] });
  const ping = async (): Promise<void> => {
    const got = new Promise<void>((r) => child.stdout.once('data', () => r()));
    child.stdin.write('12345678');
    await got;
  };
  for (let i = 0; i < 200; i++) await ping();
  const rawRuns: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) await ping();
    rawRuns.push(n / ((performance.now() - t) / 1000));
  }
  child.kill();
  console.log(`(b) floor: bare node child echoing 8 bytes over stdio: ${Math.round(median(rawRuns))} round trips/s; channel echo / floor ${(median(runs) / median(rawRuns)).toFixed(2)}`);
  const e = execnet('b', n);
  console.log(`(b) sequential echo: ${Math.round(median(runs))} round trips/s (target >= 13000)${typeof e === 'string' ? `; ${e}` : `; execnet ${Math.round(e)} in the same run, ratio ${(median(runs) / e).toFixed(2)}`}`);
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
  console.log(`(c) 1 MiB items one way: ${Math.round(median(rates))} MB/s; raw socket pair ${Math.round(median(raw))} MB/s; ratio ${(median(rates) / median(raw)).toFixed(2)} (target >= 0.7)`);
  const e = execnet('c', items);
  console.log(`(c) ${typeof e === 'string' ? e : `execnet 1 MiB bytes items one way: ${Math.round(e)} MB/s`}`);
}



const EXECNET_SCRIPT = `
import sys, time, execnet
src, dst, mode = sys.argv[1], sys.argv[2], sys.argv[3]
gw = execnet.makegateway("popen")
times = []
for phase in mode.split(","):
    if phase == "touch":
        continue
    rs = execnet.RSync(src, verbose=False)
    rs.add_target(gw, dst)
    t = time.perf_counter()
    try:
        rs.send()
    except KeyError:
        pass  # execnet bug: callback KeyError when nothing changed (see reference)
    times.append((time.perf_counter() - t) * 1000)
print(" ".join("%.1f" % x for x in times))
gw.exit()
`;

async function benchD(runs: number): Promise<void> {
  if (spawnSync('rsync', ['--version'], { stdio: 'ignore' }).error) {
    console.log('(d) rsync is not installed; installing it (apt-get install -y rsync)');
    spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq rsync'], { stdio: 'inherit' });
  }
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const work = mkdtempSync(join(base, 'switchyard-bench-rsync-'));
  const src = join(work, 'src');
  mkdirSync(src);
  const names = Array.from({ length: 1000 }, (_, i) => `f${String(i).padStart(4, '0')}.bin`);
  for (const n of names) writeFileSync(join(src, n), randomBytes(4096));
  const change10 = (round: number): void => {
    // Ten files rewritten with the same size, mtime moved 2 s later (as the execnet measurement).
    for (let k = 0; k < 10; k++) {
      const f = join(src, names[(k * 97 + round) % names.length] as string);
      writeFileSync(f, randomBytes(4096));
      const t = new Date(Date.now() + 2000 + round);
      utimesSync(f, t, t);
    }
  };
  const g = new Group({ output: 'ignore' });
  const gw = await g.makeGateway('popen');
  const ours = { first: [] as number[], unchanged: [] as number[], changed: [] as number[] };
  const sys = { first: [] as number[], unchanged: [] as number[], changed: [] as number[] };
  const time = async (fn: () => Promise<unknown> | unknown): Promise<number> => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  const rsyncA = (dst: string): void => {
    const r = spawnSync('rsync', ['-a', `${src}/`, `${dst}/`]);
    if (r.status !== 0) throw new Error(`rsync -a failed: ${r.stderr}`);
  };
  for (let r = 0; r < runs; r++) {
    const d1 = join(work, `ours${r}`);
    const d2 = join(work, `sys${r}`);
    const sync = (): Promise<unknown> => new RSync(src).addTarget(gw, d1).send({ timeout: 60_000 });
    ours.first.push(await time(sync));
    sys.first.push(await time(() => rsyncA(d2)));
    ours.unchanged.push(await time(sync));
    sys.unchanged.push(await time(() => rsyncA(d2)));
    change10(r);
    ours.changed.push(await time(sync));
    sys.changed.push(await time(() => rsyncA(d2)));
    rmSync(d1, { recursive: true, force: true });
    rmSync(d2, { recursive: true, force: true });
  }
  await g.terminate();
  let ex: { first: number[]; unchanged: number[]; changed: number[] } | undefined;
  const py = execnetPython();
  if (py) {
    ex = { first: [], unchanged: [], changed: [] };
    const script = join(work, 'execnet_bench.py');
    writeFileSync(script, EXECNET_SCRIPT);
    for (let r = 0; r < runs; r++) {
      const dst = join(work, `execnet${r}`);
      const first = spawnSync(py, [script, src, dst, 'first,unchanged'], { encoding: 'utf8' });
      change10(100 + r);
      const second = spawnSync(py, [script, src, dst, 'changed'], { encoding: 'utf8' });
      const [a, b] = first.stdout.trim().split(' ').map(Number);
      const [c] = second.stdout.trim().split(' ').map(Number);
      ex.first.push(a as number);
      ex.unchanged.push(b as number);
      ex.changed.push(c as number);
      rmSync(dst, { recursive: true, force: true });
    }
  }
  rmSync(work, { recursive: true, force: true });
  for (const phase of ['first', 'unchanged', 'changed'] as const) {
    const o = median(ours[phase]);
    const s = median(sys[phase]);
    const e = ex ? ` | execnet ${median(ex[phase]).toFixed(1)} ms (ratio ${(o / median(ex[phase])).toFixed(2)})` : '';
    const label = phase === 'changed' ? '10 changed' : phase;
    console.log(`(d) RSync 1000 x 4 KiB, ${label}: ${o.toFixed(1)} ms | rsync -a ${s.toFixed(1)} ms (ratio ${(o / s).toFixed(2)}, target <= 1.0)${e}`);
  }
  if (!py) console.log(`(d) ${NO_EXECNET}`);
  console.log(`(d) on ${base}; gateway start not included (as in the execnet figures); ${runs} runs, medians`);
}

const picked = process.argv.slice(2).filter((a) => /^[abcd]$/.test(a));
const want = (x: string): boolean => picked.length === 0 || picked.includes(x);
if (want('a')) await benchA(quick ? 5 : 25);
if (want('b')) await benchB(quick ? 2000 : 5000);
if (want('c')) await benchC(quick ? 100 : 200);
if (want('d')) await benchD(quick ? 3 : 5);

/**
 * bench/storage/remote: fops through protocol/client → Manager → protocol/server (over
 * storage/memory), beside baselines measured in the same run:
 * - remote `lookup`, 1 in flight, vs a trivial Service method (`add(1, 2)`) served by the brick's
 *   process through the same Manager (target ≤ 1.2×);
 * - remote `lookup`s per second with 64 in flight (target ≥ 100,000/s);
 * - 1 MiB `writev` and `readv` streaming (4 in flight) vs 1 MiB frames over a raw Node TCP socket
 *   pair on loopback, written and acknowledged the same way (target ≥ 0.7×).
 *
 * Roles run as separate processes (Manager, brick, raw TCP server, measuring client), as in
 * production. Each figure is the median of BENCH_RUNS (default 3) rounds, a measure's rounds
 * alternating with its baseline's.
 *
 *   node --import tsx bench/storage/remote.ts
 *
 * What bounds the figures (measured on a 2-core VM, 2026-12): at 64 in flight every process is
 * CPU-bound, so lookups/s = cores / (CPU per lookup summed over client, Manager and brick). A
 * plain Service method returning a lookup-shaped reply (two 137-byte iatt Buffers and an inode,
 * ~330 bytes) ran at ~51k calls/s where `add(1, 2)` ran at ~97k: half the gap to `add` is the
 * transport's per-byte and per-write cost, the rest the graph and codec work on both ends.
 * Streaming crosses loopback twice (client → Manager → brick) against once for the raw pair, and
 * the Manager and brick each assemble the 1 MiB frame: about 3× the copies of the raw pair.
 *
 * Env: BENCH_RUNS, BENCH_SEQ (sequential calls per round, default 4000), BENCH_LOOKUPS (lookups
 * per 64-in-flight round, default 60000), BENCH_MB (MiB per streaming round, default 128),
 * BENCH_ONLY (some of seq, inflight, writev, readv), BENCH_CPU_PROF (a directory: every process
 * writes a --cpu-prof profile there).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { firstLine, median } from '../lib.ts';
import { batchedWriter, frameSplitter } from '../rpc/frames.ts';

const self = fileURLToPath(import.meta.url);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const SEQ = Number(process.env['BENCH_SEQ'] ?? 4000);
const LOOKUPS = Number(process.env['BENCH_LOOKUPS'] ?? 60_000);
const STREAM_MB = Number(process.env['BENCH_MB'] ?? 128);
const WINDOW = 4;
const MIB = 1 << 20;
const role = process.argv[2];

const brickVolfile = (port: number): string => `
volume mem
  type storage/memory
end-volume
volume server
  type protocol/server
  option name bench-brick
  option manager 127.0.0.1:${port}
  option disable-tls on
  subvolumes mem
end-volume
`;

/** Runs `n` calls of `op`, `window` at a time; resolves with calls per second. */
async function rate(n: number, window: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < n) await op(next++);
    }),
  );
  return n / ((performance.now() - t) / 1000);
}

/** Medians of `a` and `b` over RUNS rounds, alternating (a, b, a, b, ...) so drift hits both alike. */
async function paired(a: () => Promise<number>, b: () => Promise<number>): Promise<[number, number]> {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    xs.push(await a());
    ys.push(await b());
  }
  return [median(xs), median(ys)];
}

if (role === 'manager') {
  const { startManager } = await import('../../src/manager/manager.ts');
  const m = await startManager({ host: '127.0.0.1', port: 0, disableTls: true, database: ':memory:' });
  process.stdout.write(`PORT ${m.port}\n`);
  process.once('SIGTERM', () => void m.close().then(() => process.exit(0)));
} else if (role === 'brick') {
  const { graphFromText } = await import('../../src/translator/index.ts');
  const { Service } = await import('../../src/service/service.ts');
  const port = Number(process.argv[3]);
  class Adder extends Service {
    add(a: number, b: number): number {
      return a + b;
    }
  }
  await graphFromText(brickVolfile(port));
  await new Adder().start({ host: '127.0.0.1', port, disableTls: true });
  process.stdout.write('READY\n');
  const alive = setInterval(() => {}, 1 << 30);
  // A clean exit on SIGTERM lets --cpu-prof (BENCH_CPU_PROF) write its profile.
  process.once('SIGTERM', () => {
    clearInterval(alive);
    process.exit(0);
  });
} else if (role === 'raw-server') {
  // Frames: 'W' + payload → 1-byte ack; 'R' → 1 MiB reply.
  const reply = Buffer.alloc(4 + MIB, 9);
  reply.writeUInt32BE(MIB, 0);
  const ack = Buffer.from([0, 0, 0, 1, 65]);
  const srv = net.createServer({ noDelay: true }, (s) => {
    const w = batchedWriter(s);
    s.on('data', frameSplitter((f) => w(f[4] === 0x52 ? reply : ack)));
  });
  srv.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${(srv.address() as net.AddressInfo).port}\n`));
} else if (role === 'client') {
  const { connect } = await import('../../src/client/client.ts');
  const { Fd, graphFromText, makeLoc } = await import('../../src/translator/index.ts');
  const [mport, rport] = [Number(process.argv[3]), Number(process.argv[4])];
  const graph = await graphFromText(`volume c\n  type protocol/client\n  option remote-subvolume bench-brick\n  option manager 127.0.0.1:${mport}\n  option disable-tls on\nend-volume\n`);
  const rpc = await connect({ host: '127.0.0.1', port: mport, disableTls: true, name: 'bench-rpc' });
  const adder = await rpc.link<{ add(a: number, b: number): number }>('Adder');

  const fd = new Fd(graph.inodes.root);
  await graph.call('create', makeLoc('/file'), 2 | 0o100, 0o644, 0, fd, null);
  const loc = makeLoc('/file');
  const lookup = async (): Promise<void> => {
    const r = await graph.call('lookup', loc, null);
    if (r.opRet !== 0) throw new Error(`lookup failed: ${r.opErrno}`);
  };
  const add = (): Promise<unknown> => adder.add(1, 2);
  const data = Buffer.alloc(MIB, 3);
  const n = STREAM_MB;
  const writev = async (i: number): Promise<void> => {
    const r = await graph.call('writev', fd, data, (i % 16) * MIB, 0, null);
    if (r.opRet !== MIB) throw new Error(`writev failed: ${r.opErrno}`);
  };
  const readv = async (i: number): Promise<void> => {
    const r = await graph.call('readv', fd, MIB, (i % 16) * MIB, 0, null);
    if (r.opRet !== MIB) throw new Error(`readv failed: ${r.opRet} ${r.opErrno}`);
  };

  // The raw pair: the same 1 MiB per message, acknowledged per message, WINDOW in flight.
  const sock = net.connect({ port: rport, host: '127.0.0.1', noDelay: true });
  await new Promise((r) => sock.once('connect', r));
  const waiters: Array<() => void> = [];
  sock.on('data', frameSplitter(() => waiters.shift()?.()));
  const write = batchedWriter(sock);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(MIB + 1, 0);
  head[4] = 0x57;
  const rawWrite = (): Promise<void> =>
    new Promise((resolve) => {
      waiters.push(resolve);
      write(head);
      write(data);
    });
  const readReq = Buffer.from([0, 0, 0, 1, 0x52]);
  const rawRead = (): Promise<void> =>
    new Promise((resolve) => {
      waiters.push(resolve);
      write(readReq);
    });

  for (let i = 0; i < 2000; i++) await lookup();
  for (let i = 0; i < 2000; i++) await add();
  for (let i = 0; i < 16; i++) await writev(i);
  for (let i = 0; i < 16; i++) await readv(i);
  for (let i = 0; i < 16; i++) await rawWrite();

  // BENCH_ONLY=name[,name] runs some pairs only (seq, inflight, writev, readv), e.g. for profiling.
  const only = process.env['BENCH_ONLY']?.split(',');
  const pairs: Record<string, [string, string, () => Promise<[number, number]>]> = {
    seq: ['lookupSeqUs', 'rpcSeqUs', async () => (await paired(() => rate(SEQ, 1, lookup), () => rate(SEQ, 1, add))).map((r) => 1e6 / r) as [number, number]],
    inflight: ['lookup64', 'rpc64', () => paired(() => rate(LOOKUPS, 64, lookup), () => rate(LOOKUPS, 64, add))],
    writev: ['writevMBs', 'rawWriteMBs', async () => (await paired(() => rate(n, WINDOW, writev), () => rate(n, WINDOW, rawWrite))).map((r) => r * (MIB / 1e6)) as [number, number]],
    readv: ['readvMBs', 'rawReadMBs', async () => (await paired(() => rate(n, WINDOW, readv), () => rate(n, WINDOW, rawRead))).map((r) => r * (MIB / 1e6)) as [number, number]],
  };
  const out: Record<string, number> = {};
  for (const [name, [ka, kb, run]] of Object.entries(pairs)) {
    if (only && !only.includes(name)) continue;
    [out[ka], out[kb]] = await run();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
} else {
  const children: ChildProcess[] = [];
  const prof = process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', '--cpu-prof-dir', process.env['BENCH_CPU_PROF']] : [];
  const start = (args: string[]): Promise<{ child: ChildProcess; line: string }> => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...prof, self, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    return firstLine(child, args[0] ?? 'role').then((line) => ({ child, line }));
  };
  const portOf = (line: string): string => /PORT (\d+)/.exec(line)?.[1] ?? '0';
  const t0 = performance.now();
  try {
    const mgr = await start(['manager']);
    const mport = portOf(mgr.line);
    await start(['brick', mport]);
    const raw = await start(['raw-server']);
    const client = spawn(process.execPath, ['--import', 'tsx', ...prof, self, 'client', mport, portOf(raw.line)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(client);
    let text = '';
    client.stdout.on('data', (d: Buffer) => (text += d.toString()));
    const code = await new Promise<number | null>((r) => client.once('exit', r));
    if (code !== 0) throw new Error(`the measuring client exited with ${code}`);
    const m = JSON.parse(text) as Record<string, number>;
    const f = (x: number | undefined, d = 0): string => (x === undefined ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
    const rows: string[][] = [
      ['remote lookup, 1 in flight, µs', f(m['lookupSeqUs'], 1), `add(1, 2): ${f(m['rpcSeqUs'], 1)}`, f((m['lookupSeqUs'] ?? 0) / (m['rpcSeqUs'] ?? 1), 2), '≤ 1.20×'],
      ['remote lookups/s, 64 in flight', f(m['lookup64']), `add(1, 2): ${f(m['rpc64'])}`, f((m['lookup64'] ?? 0) / (m['rpc64'] ?? 1), 2), '≥ 100,000/s'],
      ['1 MiB writev streaming, MB/s', f(m['writevMBs']), `raw TCP: ${f(m['rawWriteMBs'])}`, f((m['writevMBs'] ?? 0) / (m['rawWriteMBs'] ?? 1), 2), '≥ 0.70×'],
      ['1 MiB readv streaming, MB/s', f(m['readvMBs']), `raw TCP: ${f(m['rawReadMBs'])}`, f((m['readvMBs'] ?? 0) / (m['rawReadMBs'] ?? 1), 2), '≥ 0.70×'],
    ];
    const head = ['measure', 'remote', 'baseline', 'ratio', 'target'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
    const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
    console.log(`bench/storage/remote: median of ${RUNS} rounds; Manager, brick, raw server and client are separate processes on 127.0.0.1\n`);
    console.log(line(head));
    for (const r of rows) console.log(line(r));
    console.log(`\nstreaming: ${WINDOW} fops of 1 MiB in flight, ${STREAM_MB} MiB per round; the raw pair sends the same 1 MiB messages, each acknowledged. (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  }
}

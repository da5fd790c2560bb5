/**
 * bench/rpc: RPC through the Manager beside a raw Node TCP relay measured in the same run.
 * Every role is its own process (client, broker, service), as in production.
 *
 *   npm run bench -- rpc            (or: node --import tsx bench/rpc/run.ts)
 *
 * Env: BENCH_RUNS (default 3; the median is printed), BENCH_SEQ, BENCH_INFLIGHT, BENCH_ECHO,
 * MSL_NETWORK_SRC (adds the Python msl-network Manager as an anchor).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstLine, median } from '../lib.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const children: ChildProcess[] = [];

function start(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return firstLine(child, `${script} ${args.join(' ')}`).then((line) => ({ child, line }));
}

async function measure(args: string[]): Promise<Record<string, number>> {
  const { line, child } = await start('client.ts', args);
  await new Promise((r) => child.once('exit', r));
  return JSON.parse(line) as Record<string, number>;
}

function stop(c: ChildProcess): void {
  if (c.exitCode === null) c.kill('SIGKILL');
}


async function medianOf(run: () => Promise<Record<string, number>>): Promise<Record<string, number>> {
  const runs: Array<Record<string, number>> = [];
  for (let i = 0; i < RUNS; i++) runs.push(await run());
  const out: Record<string, number> = {};
  for (const k of Object.keys(runs[0] ?? {})) out[k] = median(runs.map((r) => r[k] as number));
  return out;
}

const portOf = (line: string): number => Number(/PORT (\d+)/.exec(line)?.[1]);

async function rawRelay(): Promise<Record<string, number>> {
  const server = await start('raw.ts', ['server']);
  const relay = await start('raw.ts', ['relay', String(portOf(server.line))]);
  try {
    return await measure(['raw', String(portOf(relay.line))]);
  } finally {
    stop(relay.child);
    stop(server.child);
  }
}

async function pipeRelay(): Promise<Record<string, number>> {
  const server = await start('raw.ts', ['server']);
  const relay = await start('raw.ts', ['pipe', String(portOf(server.line))]);
  try {
    return await measure(['raw', String(portOf(relay.line))]);
  } finally {
    stop(relay.child);
    stop(server.child);
  }
}

async function switchyard(tls: boolean): Promise<Record<string, number>> {
  const home = mkdtempSync(join(tmpdir(), 'sy-bench-'));
  const env = { SWITCHYARD_HOME: home };
  const mgr = await start('peers.ts', ['manager', tls ? 'tls' : 'plain'], env);
  const port = portOf(mgr.line);
  const cert = /CERT (\S+)/.exec(mgr.line)?.[1] as string;
  const svc = await start('peers.ts', ['service', String(port), ...(tls ? [cert] : [])], env);
  try {
    return await measure(['switchyard', String(port), ...(tls ? [cert] : [])]);
  } finally {
    stop(svc.child);
    stop(mgr.child);
    rmSync(home, { recursive: true, force: true });
  }
}

async function jsonPeers(): Promise<Record<string, number>> {
  const mgr = await start('peers.ts', ['manager', 'plain'], { SWITCHYARD_HOME: mkdtempSync(join(tmpdir(), 'sy-bench-')) });
  const port = portOf(mgr.line);
  const svc = await start('peers.ts', ['json-service', String(port)]);
  try {
    return await measure(['json', String(port)]);
  } finally {
    stop(svc.child);
    stop(mgr.child);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function pythonManager(): Promise<Record<string, number> | undefined> {
  const src = process.env['MSL_NETWORK_SRC'];
  if (!src) return undefined;
  const port = await freePort();
  const home = mkdtempSync(join(tmpdir(), 'msl-bench-'));
  const py = spawn('python3', ['-c', 'import sys; from msl.network.cli import main; main(*sys.argv[1:])', 'start', '-H', '127.0.0.1', '-p', String(port), '--disable-tls', '-G', 'WARNING', '-d', join(home, 'db'), '-l', join(home, 'log')], {
    env: { ...process.env, PYTHONPATH: src, MSL_NETWORK_HOME: home },
    stdio: 'ignore',
  });
  children.push(py);
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const svc = await start('peers.ts', ['json-service', String(port)]);
  try {
    return await measure(['json', String(port)]);
  } finally {
    stop(svc.child);
    stop(py);
    rmSync(home, { recursive: true, force: true });
  }
}

async function tlsRaw(): Promise<Record<string, number>> {
  const home = mkdtempSync(join(tmpdir(), 'sy-bench-'));
  const { ensureManagerCertificate } = await import('../../src/transport/certs.ts');
  process.env['SWITCHYARD_HOME'] = home;
  const files = await ensureManagerCertificate({ host: '127.0.0.1' });
  const srv = await start('raw.ts', ['tls-server', files.certFile, files.keyFile]);
  try {
    return await measure(['tls-raw', String(portOf(srv.line)), files.certFile]);
  } finally {
    stop(srv.child);
    rmSync(home, { recursive: true, force: true });
  }
}

const fmt = (n: number | undefined, digits = 0): string => (n === undefined || Number.isNaN(n) ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

try {
  console.log(`bench/rpc: median of ${RUNS} runs; client, broker and service are separate processes on 127.0.0.1\n`);
  const raw = await medianOf(rawRelay);
  const pipe = await medianOf(pipeRelay);
  const plain = await medianOf(() => switchyard(false));
  const secure = await medianOf(() => switchyard(true));
  const json = await medianOf(jsonPeers);
  const tlsBase = await medianOf(tlsRaw);
  const py = process.env['MSL_NETWORK_SRC'] ? await medianOf(async () => (await pythonManager()) ?? {}) : undefined;

  const rows: Array<[string, string, string, string, string]> = [
    ['sequential add(1, 2), calls/s', fmt(plain['seq']), fmt(raw['seq']), fmt((plain['seq'] ?? 0) / (raw['seq'] ?? 1), 2), '≥ 0.80× relay'],
    ['100 in flight, calls/s', fmt(plain['inflight']), fmt(raw['inflight']), fmt((plain['inflight'] ?? 0) / (raw['inflight'] ?? 1), 2), '≥ 100,000/s'],
    ['1 MB echo, ms (median)', fmt(plain['echo1mbMs'], 2), fmt(raw['echo1mbMs'], 2), fmt((plain['echo1mbMs'] ?? 0) / (raw['echo1mbMs'] ?? 1), 2), '≤ 2 ms'],
    ['  floor: byte-pipe relay (parses nothing), ms', fmt(pipe['echo1mbMs'], 2), fmt(raw['echo1mbMs'], 2), fmt((pipe['echo1mbMs'] ?? 0) / (raw['echo1mbMs'] ?? 1), 2), 'no relay beats this'],
    ['TLS: sequential, calls/s', fmt(secure['seq']), fmt(raw['seq']), fmt((secure['seq'] ?? 0) / (raw['seq'] ?? 1), 2), ''],
    ['TLS: 100 in flight, calls/s', fmt(secure['inflight']), fmt(raw['inflight']), fmt((secure['inflight'] ?? 0) / (raw['inflight'] ?? 1), 2), ''],
    ['TLS: 1 MB echo, ms', fmt(secure['echo1mbMs'], 2), fmt(raw['echo1mbMs'], 2), fmt((secure['echo1mbMs'] ?? 0) / (raw['echo1mbMs'] ?? 1), 2), ''],
    ['TLS connect + handshake, ms', fmt(secure['connectMs'], 2), fmt(tlsBase['connectMs'], 2), fmt((secure['connectMs'] ?? 0) / (tlsBase['connectMs'] ?? 1), 2), '≤ 5 ms'],
    ['JSON-lines peers: sequential, calls/s', fmt(json['seq']), fmt(raw['seq']), fmt((json['seq'] ?? 0) / (raw['seq'] ?? 1), 2), ''],
    ['JSON-lines peers: 100 in flight, calls/s', fmt(json['inflight']), fmt(raw['inflight']), fmt((json['inflight'] ?? 0) / (raw['inflight'] ?? 1), 2), ''],
  ];
  if (py) {
    rows.push(['Python Manager, JSON peers: sequential', fmt(py['seq']), fmt(json['seq']), fmt((py['seq'] ?? 0) / (json['seq'] ?? 1), 2), 'ratio = Python / Switchyard']);
    rows.push(['Python Manager, JSON peers: 100 in flight', fmt(py['inflight']), fmt(json['inflight']), fmt((py['inflight'] ?? 0) / (json['inflight'] ?? 1), 2), '']);
  }
  const head: [string, string, string, string, string] = ['measure', 'Switchyard', 'baseline', 'ratio', 'target'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  console.log('\nbaseline: raw Node TCP relay (length-prefixed frames, one write per turn) for calls and echo; a bare Node TLS connect for connect.');
} finally {
  for (const c of children) stop(c);
}

/**
 * The measuring client of bench/rpc (a child process of run.ts). Prints one JSON line of results.
 * `raw <port>` — length-prefixed frames through the raw relay;
 * `switchyard <port> [cert]` — the Switchyard client through the Manager (native dialect);
 * `json <port> <service>` — msl-network JSON lines, as a Python client sends them;
 * `tls-raw <port> <cert>` — a bare TLS connect.
 */
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { connect } from '../../src/client/client.ts';
import { batchedWriter, frameSplitter } from './frames.ts';
import { median } from '../lib.ts';

const [mode, portText, extra, extra2] = process.argv.slice(2);
const port = Number(portText);
const SEQ = Number(process.env['BENCH_SEQ'] ?? 10_000);
const INFLIGHT_TOTAL = Number(process.env['BENCH_INFLIGHT'] ?? 200_000);
const WINDOW = 100;
const ECHO = Number(process.env['BENCH_ECHO'] ?? 50);
const CONNECTS = Number(process.env['BENCH_CONNECTS'] ?? 50);

const now = (): number => performance.now();

/** A request/reply client over any framing: `send(payload)` resolves with the reply. */
function pipeClient(sock: net.Socket, frame: (p: Buffer) => Buffer | Buffer[], splitter: (onMsg: () => void) => (c: Buffer) => void) {
  const waiters: Array<() => void> = [];
  sock.on('data', splitter(() => waiters.shift()?.()));
  const write = batchedWriter(sock);
  return (p: Buffer): Promise<void> =>
    new Promise<void>((resolve) => {
      waiters.push(resolve);
      const f = frame(p);
      if (Array.isArray(f)) for (const part of f) write(part);
      else write(f);
    });
}

function lenFrames(onMsg: () => void): (c: Buffer) => void {
  return frameSplitter(() => onMsg());
}

function lines(onMsg: () => void): (c: Buffer) => void {
  return (chunk) => {
    let i = -1;
    while ((i = chunk.indexOf(10, i + 1)) >= 0) onMsg();
  };
}

async function measure(call: () => Promise<unknown>, big?: () => Promise<unknown>): Promise<Record<string, number>> {
  for (let i = 0; i < 1000; i++) await call();
  let t = now();
  for (let i = 0; i < SEQ; i++) await call();
  const seq = SEQ / ((now() - t) / 1000);
  let started = 0;
  t = now();
  await Promise.all(
    Array.from({ length: WINDOW }, async () => {
      while (started < INFLIGHT_TOTAL) {
        started++;
        await call();
      }
    }),
  );
  const inflight = INFLIGHT_TOTAL / ((now() - t) / 1000);
  const out: Record<string, number> = { seq, inflight };
  if (big) {
    for (let i = 0; i < 5; i++) await big();
    const times: number[] = [];
    for (let i = 0; i < ECHO; i++) {
      const s = now();
      await big();
      times.push(now() - s);
    }
    out['echo1mbMs'] = median(times);
  }
  return out;
}

const MB = Buffer.alloc(1024 * 1024, 7);
let result: Record<string, number> = {};
if (mode === 'raw') {
  const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise((r) => sock.once('connect', r));
  const frame = (p: Buffer): Buffer[] => {
    const h = Buffer.allocUnsafe(4);
    h.writeUInt32BE(p.length, 0);
    return [h, p];
  };
  const send = pipeClient(sock, frame, lenFrames);
  const small = Buffer.from('{"a":1,"b":2}');
  result = await measure(
    () => send(small),
    () => send(MB),
  );
  sock.destroy();
} else if (mode === 'switchyard') {
  const cert = extra;
  const opts = { host: '127.0.0.1', port, disableTls: cert === undefined, certFile: cert };
  const c = await connect(opts);
  const adder = await c.link<{ add(a: number, b: number): number; echo(x: Buffer): Buffer }>('Adder');
  result = await measure(
    () => adder.add(1, 2),
    () => adder.echo(MB),
  );
  await c.disconnect();
  if (cert !== undefined) {
    const times: number[] = [];
    for (let i = 0; i < CONNECTS + 5; i++) {
      const s = now();
      const x = await connect(opts);
      const t = now() - s;
      if (i >= 5) times.push(t);
      await x.disconnect();
    }
    result['connectMs'] = median(times);
  }
} else if (mode === 'json') {
  const service = extra ?? 'JsonAdder';
  const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
  const first = await new Promise<string>((r) => sock.once('data', (d) => r(d.toString())));
  const req = JSON.parse(first) as { requester: string };
  sock.write(JSON.stringify({ error: false, result: { type: 'client', name: 'BenchJson' }, requester: req.requester, uid: '' }) + '\r\n');
  sock.write(`{"service": "Manager", "attribute": "link", "args": [${JSON.stringify(service)}], "kwargs": {}, "uid": "l", "error": false}\r\n`);
  await new Promise((r) => sock.once('data', r));
  let uid = 0;
  const send = pipeClient(sock, () => Buffer.from(`{"service": ${JSON.stringify(service)}, "attribute": "add", "args": [1, 2], "kwargs": {}, "uid": "${++uid}", "error": false}\r\n`), lines);
  const none = Buffer.alloc(0);
  result = await measure(() => send(none));
  sock.destroy();
} else if (mode === 'tls-raw') {
  const ca = readFileSync(extra as string);
  const times: number[] = [];
  for (let i = 0; i < CONNECTS + 5; i++) {
    const s = now();
    await new Promise<void>((resolve, reject) => {
      const t = tls.connect({ port, host: '127.0.0.1', ca, servername: extra2 }, () => {
        t.destroy();
        resolve();
      });
      t.on('error', reject);
    });
    if (i >= 5) times.push(now() - s);
  }
  result = { connectMs: median(times) };
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0);

/**
 * Baseline roles for bench/rpc: a raw Node TCP echo server, a relay that parses length-prefixed
 * frames and writes each turn's frames at once (the best a Node broker can do, limits.md), a byte
 * pipe that parses nothing (the floor for any relay), and a TLS server. Run as child processes by run.ts: `node --import tsx raw.ts <role> ...`.
 */
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { batchedWriter, frameSplitter } from './frames.ts';

const frames = frameSplitter;

const batched = batchedWriter;

const role = process.argv[2];
if (role === 'server') {
  const srv = net.createServer({ noDelay: true }, (s) => {
    const w = batched(s);
    s.on('data', frames((f) => w(f)));
  });
  srv.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${(srv.address() as net.AddressInfo).port}\n`));
} else if (role === 'relay') {
  const target = Number(process.argv[3]);
  const srv = net.createServer({ noDelay: true }, (c) => {
    const up = net.connect({ port: target, host: '127.0.0.1', noDelay: true });
    const toUp = batched(up);
    const toC = batched(c);
    c.on('data', frames((f) => toUp(f)));
    up.on('data', frames((f) => toC(f)));
    c.on('close', () => up.destroy());
  });
  srv.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${(srv.address() as net.AddressInfo).port}\n`));
} else if (role === 'pipe') {
  // A byte pipe: forwards bytes as they arrive, parsing nothing (the floor for any relay).
  const target = Number(process.argv[3]);
  const srv = net.createServer({ noDelay: true }, (c) => {
    const up = net.connect({ port: target, host: '127.0.0.1', noDelay: true });
    c.pipe(up);
    up.pipe(c);
    c.on('close', () => up.destroy());
  });
  srv.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${(srv.address() as net.AddressInfo).port}\n`));
} else if (role === 'tls-server') {
  const [cert, key] = [readFileSync(process.argv[3] as string), readFileSync(process.argv[4] as string)];
  const srv = tls.createServer({ cert, key }, (s) => s.end());
  srv.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${(srv.address() as net.AddressInfo).port}\n`));
}

/**
 * Switchyard roles for bench/rpc, run as child processes by run.ts:
 * - `manager [tls]` prints `PORT n CERT path`;
 * - `service <port> [cert]` registers an Adder (add, echo) and serves;
 * - `json-service <port>` a raw msl-network JSON-lines service (as a Python service would speak).
 */
import net from 'node:net';
import { startManager } from '../../src/manager/manager.ts';
import { Service } from '../../src/service/service.ts';

const role = process.argv[2];
if (role === 'manager') {
  const useTls = process.argv[3] === 'tls';
  const m = await startManager({ host: '127.0.0.1', port: 0, disableTls: !useTls, database: ':memory:' });
  process.stdout.write(`PORT ${m.port} CERT ${m.certFile ?? '-'}\n`);
  // Exit cleanly on SIGTERM (so --cpu-prof can write its profile).
  process.once('SIGTERM', () => void m.close().then(() => process.exit(0)));
} else if (role === 'service') {
  class Adder extends Service {
    add(a: number, b: number): number {
      return a + b;
    }
    echo(x: unknown): unknown {
      return x;
    }
  }
  const cert = process.argv[4];
  await new Adder().start({ host: '127.0.0.1', port: Number(process.argv[3]), disableTls: cert === undefined, certFile: cert });
  process.stdout.write('READY\n');
  process.once('SIGINT', () => process.exit(0));
} else if (role === 'json-service') {
  // A JSON-lines service that answers add requests with the Python Service's reply layout.
  const s = net.connect({ port: Number(process.argv[3]), host: '127.0.0.1', noDelay: true });
  let buf = '';
  let ready = false;
  s.setEncoding('utf8');
  s.on('data', (d: string) => {
    buf += d;
    let i: number;
    let out = '';
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const msg = JSON.parse(line) as { attribute: string; args: number[]; requester: string; uid: string };
      if (!ready && msg.attribute === 'identity') {
        out += JSON.stringify({ error: false, result: { type: 'service', name: 'JsonAdder', attributes: { add: '(a, b)' } }, requester: msg.requester, uid: '' }) + '\r\n';
        ready = true;
        setTimeout(() => process.stdout.write('READY\n'), 50);
        continue;
      }
      out += `{"error": false, "result": ${(msg.args[0] ?? 0) + (msg.args[1] ?? 0)}, "requester": ${JSON.stringify(msg.requester)}, "uid": ${JSON.stringify(msg.uid)}}\r\n`;
    }
    if (out) s.write(out);
  });
}

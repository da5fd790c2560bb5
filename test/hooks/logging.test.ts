import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { NetManagerConfigError } from '../../src/errors.ts';
import { chainFromOptionString } from '../../src/hooks/config.ts';
import { createLoggingManager, formatLogLine } from '../../src/hooks/managers/logging.ts';
import { managerFromName } from '../../src/hooks/registry.ts';
import type { Attr, CalloutInfo } from '../../src/hooks/types.ts';
import { tempDir } from './fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir());
});
after(() => cleanup());

const attrs: Attr[] = [['tcp', 'port', '42']];
const info = (more: Partial<CalloutInfo> = {}): CalloutInfo => ({ taskId: '42', transport: 'tcp', attrs, managerAttrs: {}, ...more });

// T13
test('logging - T13 pre_listen appends GCT\'s exact line to file=', async () => {
  const file = join(dir, 'x.log');
  await writeFile(file, 'earlier line\n');
  const m = await managerFromName('logging', [['logging', 'file', file]]);
  await m.preListen?.(info());
  await m.postAccept?.(info({ localContact: '127.0.0.1:4242', remoteContact: '127.0.0.1:5000' }));
  await m.close?.();
  assert.equal(
    await readFile(file, 'utf8'),
    'earlier line\n' +
      'pre_listen:logging: task-id=42 transport=tcp[tcp, port, 42] \n' +
      'post_accept:logging: task-id=42 transport=tcp[tcp, port, 42] 127.0.0.1:4242 127.0.0.1:5000 \n',
  );
});

test('logging - each callout prints the contacts GCT gives it, and nothing when there are no attrs', () => {
  const all = { taskId: 't', transport: 'tcp', attrs: [] as Attr[], localContact: 'L:1', remoteContact: 'R:2' };
  assert.equal(formatLogLine('logging', 'preListen', all), 'pre_listen:logging: task-id=t transport=tcp\n');
  assert.equal(formatLogLine('logging', 'postListen', all), 'post_listen:logging: task-id=t transport=tcpL:1 \n');
  assert.equal(formatLogLine('logging', 'endListen', all), 'end_listen:logging: task-id=t transport=tcpL:1 \n');
  assert.equal(formatLogLine('logging', 'preAccept', all), 'pre_accept:logging: task-id=t transport=tcpL:1 \n');
  assert.equal(formatLogLine('logging', 'postAccept', all), 'post_accept:logging: task-id=t transport=tcpL:1 R:2 \n');
  assert.equal(formatLogLine('logging', 'preConnect', all), 'pre_connect:logging: task-id=t transport=tcpR:2 \n');
  assert.equal(formatLogLine('logging', 'postConnect', all), 'post_connect:logging: task-id=t transport=tcpL:1 R:2 \n');
  assert.equal(formatLogLine('logging', 'preClose', all), 'pre_close:logging: task-id=t transport=tcpL:1 R:2 \n');
  assert.equal(formatLogLine('logging', 'postClose', { ...all, localContact: undefined }), 'post_close:logging: task-id=t transport=tcpR:2 \n');
  assert.equal(
    formatLogLine('net', 'preConnect', { ...all, attrs: [['tcp', 'iface', '10.0.0.1'], ['global', 'service', 's']] }),
    'pre_connect:net: task-id=t transport=tcp[tcp, iface, 10.0.0.1] [global, service, s] R:2 \n',
  );
});

test('logging - a client\'s whole life gives one line per callout, in order', async () => {
  const file = join(dir, 'life.log');
  const chain = await chainFromOptionString(`manager=logging;file=${file};`);
  const conn = chain.forConnection({ taskId: 'c1' });
  const c = { localContact: '127.0.0.1:40000', remoteContact: '127.0.0.1:1875' };
  const runs = [
    conn.run('preConnect', { remoteContact: c.remoteContact, attrs: [] }),
    conn.run('postConnect', { ...c, attrs: [['tcp', 'nodelay', 'true']] }),
    conn.run('preClose', { ...c, attrs: [] }),
    conn.run('postClose', { ...c, attrs: [] }),
  ];
  await Promise.all(runs);
  await chain.close();
  assert.deepEqual((await readFile(file, 'utf8')).split('\n'), [
    'pre_connect:logging: task-id=c1 transport=tcp127.0.0.1:1875 ',
    'post_connect:logging: task-id=c1 transport=tcp[tcp, nodelay, true] 127.0.0.1:40000 127.0.0.1:1875 ',
    'pre_close:logging: task-id=c1 transport=tcp127.0.0.1:40000 127.0.0.1:1875 ',
    'post_close:logging: task-id=c1 transport=tcp127.0.0.1:40000 127.0.0.1:1875 ',
    '',
  ]);
});

test('logging - managers logging to one path share it; it is closed with the last one', async () => {
  const file = join(dir, 'shared.log');
  const a = await createLoggingManager({ file, name: 'a' });
  const b = await createLoggingManager({ file, name: 'b' });
  await a.preListen?.(info());
  await a.close?.();
  await a.close?.();
  await b.preListen?.(info());
  await b.close?.();
  await b.preListen?.(info());
  assert.equal(
    await readFile(file, 'utf8'),
    'pre_listen:a: task-id=42 transport=tcp[tcp, port, 42] \npre_listen:b: task-id=42 transport=tcp[tcp, port, 42] \n',
  );
});

test('logging - a file that cannot be opened fails at creation with a coded error', async () => {
  await assert.rejects(createLoggingManager({ file: join(dir, 'no', 'such', 'dir', 'x.log') }), (e: unknown) => {
    assert.ok(e instanceof NetManagerConfigError);
    assert.equal(e.manager, 'logging');
    assert.match(e.message, /cannot open .*x\.log for appending: ENOENT/);
    return true;
  });
});

test('logging - a full stream makes the callout wait for drain, and lines stay in order', async () => {
  const written: string[] = [];
  let finishWrite: (() => void) | undefined;
  const slow = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk.toString());
      finishWrite = cb;
    },
  });
  const m = await createLoggingManager({ stream: slow });
  const first = m.preListen?.(info({ taskId: '1' }));
  assert.ok(first instanceof Promise, 'waits when the buffer is full');
  let settled = false;
  void first.then(() => {
    settled = true;
  });
  const second = m.preListen?.(info({ taskId: '2' }));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false);
  while (written.length < 2) {
    const f = finishWrite;
    finishWrite = undefined;
    f?.();
    await new Promise((r) => setImmediate(r));
  }
  finishWrite?.();
  await first;
  await second;
  assert.deepEqual(written.map((l) => l.slice(0, 24)), ['pre_listen:logging: task', 'pre_listen:logging: task']);
  assert.match(written[0] ?? '', /task-id=1 /);
  assert.match(written[1] ?? '', /task-id=2 /);
});

test('logging - without file= it writes to stdout', { timeout: 20_000 }, async () => {
  const script = `
    import { managerFromName } from ${JSON.stringify(new URL('../../src/hooks/registry.ts', import.meta.url).pathname)};
    const m = await managerFromName('logging', []);
    await m.preConnect({ taskId: 'abc', transport: 'tcp', remoteContact: 'h:1', attrs: [['tcp', 'iface', '10.1.1.1']], managerAttrs: {} });
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  assert.equal(out, 'pre_connect:logging: task-id=abc transport=tcp[tcp, iface, 10.1.1.1] h:1 \n');
});

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NetManagerConfigError, NetManagerError, NetManagerExecError, QueueFullError, TimeoutError } from '../../src/errors.ts';
import { createChain } from '../../src/hooks/chain.ts';
import { chainFromOptionString } from '../../src/hooks/config.ts';
import { createExecManager } from '../../src/hooks/managers/exec.ts';
import type { ChainRunInfo } from '../../src/hooks/types.ts';
import { tempDir, writeFixture } from './fixtures.ts';

const NODE = process.execPath;
let dir: string;
let cleanup: () => Promise<void>;
const s: Record<string, string> = {};

/** A node script that reads the JSON on stdin and runs `body` with `input` in scope. */
function script(body: string): string {
  return `let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { text += d; });
process.stdin.on('end', async () => {
  const input = JSON.parse(text);
  ${body}
});
`;
}

before(async () => {
  ({ dir, cleanup } = await tempDir());
  s['echo'] = await writeFixture(dir, 'echo.mjs', script(`process.stdout.write(JSON.stringify({ attrs: [...input.attrs, ['input', 'json', text.trim()]] }));`));
  s['silent'] = await writeFixture(dir, 'silent.mjs', script(''));
  s['null'] = await writeFixture(dir, 'null.mjs', script(`process.stdout.write('null\\n');`));
  s['route'] = await writeFixture(
    dir,
    'route.mjs',
    script(`if (input.remoteContact.startsWith('lab-')) process.stdout.write(JSON.stringify({ contact: 'gw.example.org:1875' }));`),
  );
  s['deny'] = await writeFixture(dir, 'deny.mjs', script(`process.stderr.write('checking\\ndenied: ' + input.remoteContact + ' is in 10/8\\n'); process.exit(3);`));
  s['garbage'] = await writeFixture(dir, 'garbage.mjs', script(`process.stdout.write('{attrs: oops');`));
  s['sleep'] = await writeFixture(
    dir,
    'sleep.mjs',
    `import { writeFileSync } from 'node:fs'; writeFileSync(process.argv[2], String(process.pid)); setTimeout(() => {}, 30000);`,
  );
  s['loud'] = await writeFixture(dir, 'loud.mjs', `process.stdout.write('x'.repeat(200000)); process.stdin.resume();`);
  s['turns'] = await writeFixture(
    dir,
    'turns.mjs',
    script(`const { appendFileSync } = await import('node:fs');
appendFileSync(process.argv[2], 'start ' + input.taskId + '\\n');
await new Promise((r) => setTimeout(r, 50));
appendFileSync(process.argv[2], 'end ' + input.taskId + '\\n');`),
  );
  s['ignores-stdin'] = await writeFixture(dir, 'ignores.mjs', `process.exit(0);`);
});
after(() => cleanup());

const connectInfo: ChainRunInfo = { taskId: 'T1', transport: 'tcp', remoteContact: 'lab-3:1875', attrs: [['tcp', 'port', '0']] };

test('exec - the program gets the callout as JSON on stdin and its JSON answer is the result', { timeout: 20_000 }, async () => {
  const chain = createChain([await createExecManager({ program: NODE, args: [s['echo']!] })]);
  const out = await chain.run('postAccept', { taskId: 'T1', transport: 'tcp', localContact: 'l:1', remoteContact: 'r:2', attrs: [['tcp', 'port', '0']] });
  assert.equal(out.attrs.length, 2);
  assert.deepEqual(out.attrs[0], ['tcp', 'port', '0']);
  assert.deepEqual(JSON.parse(out.attrs[1]?.[2] ?? ''), {
    callout: 'postAccept',
    gctCallout: 'post_accept',
    taskId: 'T1',
    transport: 'tcp',
    localContact: 'l:1',
    remoteContact: 'r:2',
    attrs: [['tcp', 'port', '0']],
    managerAttrs: {},
  });
});

test('exec - no output or null means no change; a contact answer reroutes preConnect', { timeout: 20_000 }, async () => {
  for (const p of [s['silent']!, s['null']!, s['ignores-stdin']!]) {
    const chain = createChain([await createExecManager({ program: NODE, args: [p] })]);
    assert.deepEqual(await chain.run('preConnect', connectInfo), { attrs: [['tcp', 'port', '0']], contact: 'lab-3:1875' });
  }
  const route = await chainFromOptionString(`manager=exec;program=${NODE};arg=${s['route']};callouts=pre_connect`);
  assert.equal((await route.run('preConnect', connectInfo)).contact, 'gw.example.org:1875');
  assert.equal((await route.run('preConnect', { ...connectInfo, remoteContact: 'office:1' })).contact, 'office:1');
  assert.deepEqual(Object.keys(route.entries[0]?.manager ?? {}).sort(), ['name', 'preConnect']);
});

test('exec - a non-zero exit vetoes, with the last stderr line in the message', { timeout: 20_000 }, async () => {
  const chain = await chainFromOptionString(`manager=exec;program=${NODE};arg=${s['deny']};`);
  await assert.rejects(chain.run('preConnect', { ...connectInfo, remoteContact: '10.1.2.3:1875' }), (e: unknown) => {
    assert.ok(e instanceof NetManagerError);
    assert.equal(e.manager, 'exec');
    const c = e.cause;
    assert.ok(c instanceof NetManagerExecError);
    assert.equal(c.code, 'SWITCHYARD_ERR_NETMGR_EXEC');
    assert.equal(c.exitCode, 3);
    assert.equal(c.stderr, 'checking\ndenied: 10.1.2.3:1875 is in 10/8\n');
    assert.equal(e.message, `A network manager (exec) errored in preConnect: ${NODE} exited with code 3 in preConnect: denied: 10.1.2.3:1875 is in 10/8`);
    return true;
  });
});

test('exec - output that is not JSON, or too much of it, is an error', { timeout: 20_000 }, async () => {
  const bad = createChain([await createExecManager({ program: NODE, args: [s['garbage']!] })]);
  await assert.rejects(bad.run('preConnect', connectInfo), (e: unknown) => e instanceof NetManagerError && /wrote invalid JSON to stdout in preConnect/.test(e.message));
  const loud = createChain([await createExecManager({ program: NODE, args: [s['loud']!], maxOutputBytes: 1000 })]);
  await assert.rejects(loud.run('preConnect', connectInfo), (e: unknown) => e instanceof NetManagerError && /wrote more than 1000 bytes to stdout/.test(e.message));
});

test('exec - a JSON answer of the wrong shape is refused by the chain', { timeout: 20_000 }, async () => {
  const p = await writeFixture(dir, 'array.mjs', script(`process.stdout.write('[1,2]');`));
  const chain = createChain([await createExecManager({ program: NODE, args: [p] })]);
  await assert.rejects(chain.run('preConnect', connectInfo), /Bad parameter, result: preConnect must return nothing or an object/);
});

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

test('exec - a program past its timeout is killed and the callout fails with a TimeoutError cause', { timeout: 20_000 }, async () => {
  const pidFile = join(dir, 'sleep.pid');
  const chain = await chainFromOptionString(`manager=exec;program=${NODE};arg=${s['sleep']};arg=${pidFile};timeout=2000;`);
  const keep = setInterval(() => {}, 1000);
  try {
    await assert.rejects(chain.run('preConnect', connectInfo), (e: unknown) => {
      assert.ok(e instanceof NetManagerError);
      const c = e.cause;
      assert.ok(c instanceof NetManagerExecError);
      assert.ok(c.cause instanceof TimeoutError);
      assert.match(c.message, /did not finish preConnect within 2000 ms and was killed \(raise timeout=\)/);
      return true;
    });
    assert.equal(await gone(Number(await readFile(pidFile, 'utf8'))), true);
  } finally {
    clearInterval(keep);
  }
});

test('exec - the chain\'s own timeout aborts the program too', { timeout: 20_000 }, async () => {
  const pidFile = join(dir, 'sleep2.pid');
  const chain = createChain([await createExecManager({ program: NODE, args: [s['sleep']!, pidFile], timeout: 20_000 })], { timeout: 2000 });
  const keep = setInterval(() => {}, 1000);
  try {
    await assert.rejects(chain.run('preConnect', connectInfo), (e: unknown) => e instanceof NetManagerError && e.cause instanceof TimeoutError);
    assert.equal(await gone(Number(await readFile(pidFile, 'utf8'))), true);
  } finally {
    clearInterval(keep);
  }
});

test('exec - at most `concurrency` programs run at once; the wait queue is bounded', { timeout: 20_000 }, async () => {
  const log = join(dir, 'turns.log');
  const m = await createExecManager({ program: NODE, args: [s['turns']!, log], concurrency: 1, maxQueued: 1 });
  const chain = createChain([m]);
  const run = (id: string): Promise<unknown> => chain.run('preClose', { taskId: id, transport: 'tcp', localContact: 'a:1', remoteContact: 'b:2', attrs: [] });
  const a = run('a');
  const b = run('b');
  await assert.rejects(run('c'), (e: unknown) => e instanceof NetManagerError && e.cause instanceof QueueFullError);
  await Promise.all([a, b]);
  assert.equal(await readFile(log, 'utf8'), 'start a\nend a\nstart b\nend b\n');
});

test('exec - a program that cannot start fails the callout; a bad path fails at creation', { timeout: 20_000 }, async () => {
  const chain = createChain([await createExecManager({ program: 'switchyard-no-such-program-xyz' })]);
  await assert.rejects(chain.run('preConnect', connectInfo), (e: unknown) => e instanceof NetManagerError && /could not be started for preConnect: .*ENOENT/.test(e.message));
  await assert.rejects(createExecManager({ program: join(dir, 'missing') }), (e: unknown) => e instanceof NetManagerConfigError && /cannot run .*missing/.test(e.message));
  await assert.rejects(createExecManager({ program: '' }), /needs program=/);
  await assert.rejects(chainFromOptionString(`manager=exec;program=${NODE};callouts=pre_listen,sometimes`), /names "sometimes", which is not a callout/);
  await assert.rejects(chainFromOptionString(`manager=exec;program=${NODE};timeout=soon`), NetManagerConfigError);
});

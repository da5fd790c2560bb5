import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AttrStringError, InvalidArgumentError, NetManagerConfigError } from '../../src/errors.ts';
import { createChain } from '../../src/hooks/chain.ts';
import { NETMGR_ENV, chainFromOptionString, loadNetHooks, managersFromAttrs, netmgrDir } from '../../src/hooks/config.ts';
import { BUILT_IN_MANAGERS, managerFromName, registerNetManager, registeredNetManagers, unregisterNetManager } from '../../src/hooks/registry.ts';
import type { NetManager } from '../../src/hooks/types.ts';
import { tempDir, writeFixture } from './fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
const calls: string[] = [];
const seenAttrs: Record<string, Record<string, string>> = {};
const closed: string[] = [];

/** A test manager ("recorder") that records its `tag` attr and what it sees, in call order. */
function recorder(tag: string): NetManager {
  return {
    name: 'recorder',
    preListen: ({ managerAttrs, taskId }) => {
      calls.push(`${tag}@${taskId}`);
      seenAttrs[tag] = { ...managerAttrs };
    },
    close: () => {
      closed.push(tag);
    },
  };
}

before(async () => {
  ({ dir, cleanup } = await tempDir());
  registerNetManager('recorder', (c) => recorder(c.managerAttrs['tag'] ?? '?'));
  registerNetManager('null', () => ({ name: 'null' }));
});
after(async () => {
  unregisterNetManager('recorder');
  unregisterNetManager('null');
  await cleanup();
});

async function listenOnce(hooks: Awaited<ReturnType<typeof loadNetHooks>>): Promise<void> {
  calls.length = 0;
  await hooks.forConnection().run('preListen', { attrs: [] });
}

test('config - sources combine in order: files (sorted), environment, --netmgr, code', async () => {
  const d = join(dir, 'order', 'netmgr.d');
  await mkdir(d, { recursive: true });
  await writeFixture(d, '20-b.conf', 'manager=recorder\ntag=file20\n');
  await writeFixture(d, '10-a.conf', '# site\nsite=lab\nmanager=recorder\ntag=file10\n');
  await writeFixture(d, 'README.txt', 'manager=recorder;tag=not-a-conf-file');
  await mkdir(join(d, '15-dir.conf'));
  const hooks = await loadNetHooks({
    configDir: d,
    env: { [NETMGR_ENV]: 'service=switchyard;manager=recorder;tag=env;' },
    netmgr: ['manager=recorder;tag=cli1;', 'manager=recorder;tag=cli2;'],
    hooks: [recorder('object'), 'manager=recorder;tag=code-string;'],
    taskId: 'T',
  });
  await listenOnce(hooks);
  assert.deepEqual(calls, ['file10@T', 'file20@T', 'env@T', 'cli1@T', 'cli2@T', 'object@T', 'code-string@T']);
  assert.deepEqual(
    hooks.entries.map((e) => e.name),
    ['recorder', 'recorder', 'recorder', 'recorder', 'recorder', 'recorder', 'recorder'],
  );
  // global attrs from any source reach every manager, code objects included
  assert.deepEqual(seenAttrs['file20'], { site: 'lab', service: 'switchyard', tag: 'file20' });
  assert.deepEqual(seenAttrs['object'], { site: 'lab', service: 'switchyard' });
  closed.length = 0;
  await hooks.close();
  assert.deepEqual(closed, ['code-string', 'cli2', 'cli1', 'env', 'file20', 'file10'], 'owned managers closed in reverse; the code object stays the caller\'s');
});

test('config - the default directory is $SWITCHYARD_HOME/netmgr.d and process.env is read', async () => {
  const home = join(dir, 'home');
  await mkdir(join(home, 'netmgr.d'), { recursive: true });
  await writeFixture(join(home, 'netmgr.d'), 'site.conf', 'manager=recorder;tag=home\n');
  const saved = { home: process.env['SWITCHYARD_HOME'], env: process.env[NETMGR_ENV] };
  process.env['SWITCHYARD_HOME'] = home;
  process.env[NETMGR_ENV] = 'manager=recorder;tag=processenv;';
  try {
    assert.equal(netmgrDir(), join(home, 'netmgr.d'));
    const hooks = await loadNetHooks({ taskId: 'x' });
    await listenOnce(hooks);
    assert.deepEqual(calls, ['home@x', 'processenv@x']);
    const none = await loadNetHooks({ configDir: false, env: false });
    assert.equal(none.empty, true);
    assert.equal(none.entries.length, 0);
  } finally {
    for (const [k, v] of [['SWITCHYARD_HOME', saved.home], [NETMGR_ENV, saved.env]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('config - a missing directory and an empty environment give an empty chain', async () => {
  const hooks = await loadNetHooks({ configDir: join(dir, 'nope'), env: { [NETMGR_ENV]: '' } });
  assert.equal(hooks.empty, true);
});

test('config - task id: the caller\'s, else the last task-id= of any source, else fresh', async () => {
  const a = await loadNetHooks({ configDir: false, env: { [NETMGR_ENV]: 'task-id=env;manager=recorder;tag=a' }, netmgr: 'task-id=cli;' });
  assert.equal(a.taskId, 'cli');
  await listenOnce(a);
  assert.deepEqual(calls, ['a@cli']);
  assert.equal((await loadNetHooks({ configDir: false, env: false, netmgr: 'task-id=cli;', taskId: 'mine' })).taskId, 'mine');
  assert.equal((await loadNetHooks({ configDir: false, env: false })).taskId, undefined);
});

// T5
test('config - T5 one manager, two managers; an empty configuration is an empty chain (GCT refuses it)', async () => {
  const modulePath = await writeFixture(dir, 'noop.mjs', 'export function pre_listen() { return null; }');
  const one = await chainFromOptionString('manager=logging;');
  assert.deepEqual(one.entries.map((e) => e.name), ['logging']);
  const two = await chainFromOptionString(`manager=logging;manager=module;path=${modulePath};`);
  assert.deepEqual(two.entries.map((e) => e.name), ['logging', 'module']);
  assert.equal((await chainFromOptionString('')).empty, true);
  assert.equal(createChain([]).empty, true);
  await one.close();
  await two.close();
});

// T10
test('config - T10 an unknown manager name is an error naming it', async () => {
  await assert.rejects(chainFromOptionString('manager=bad_manager;'), (e: unknown) => {
    assert.ok(e instanceof NetManagerConfigError);
    assert.equal(e.manager, 'bad_manager');
    assert.match(e.message, /^A network manager \(bad_manager\) errored in attempting to activate module: no manager is registered as "bad_manager"/);
    assert.match(e.message, /known: exec, logging, module, null, portrange, recorder; load your own code with manager=module;path=<file>\) \(configured in option string\)$/);
    return true;
  });
  const chain = await chainFromOptionString('task-id=42;service=test;manager=null;arg=nothing;');
  assert.equal(chain.taskId, '42');
  assert.deepEqual(chain.entries[0]?.attrs, [
    ['global', 'service', 'test'],
    ['null', 'arg', 'nothing'],
  ]);
});

// T12
test('config - T12 GridFTP-style wiring: service global, session task id, module entry attrs', async () => {
  const routeman = await writeFixture(dir, 'routeman.mjs', 'export const seen = []; export function pre_connect(taskId, transport, remote, attrs, m) { seen.push([taskId, m.service]); return null; }');
  const hooks = await loadNetHooks({
    configDir: false,
    env: false,
    globals: { service: 'gridftp-data' },
    taskId: 'abc',
    netmgr: `manager=module;path=${routeman};`,
  });
  assert.deepEqual(hooks.entries[0]?.attrs, [
    ['global', 'service', 'gridftp-data'],
    ['module', 'path', routeman],
  ]);
  await hooks.forConnection().run('preConnect', { remoteContact: 'h:1', attrs: [] });
  assert.deepEqual(((await import(routeman)) as { seen: unknown[] }).seen, [['abc', 'gridftp-data']]);
});

test('config - errors say which source they come from', async () => {
  const d = join(dir, 'bad', 'netmgr.d');
  await mkdir(d, { recursive: true });
  const file = await writeFixture(d, '10-x.conf', 'manager=recorder\n\ntag\n');
  await assert.rejects(loadNetHooks({ configDir: d, env: false }), (e: unknown) => e instanceof AttrStringError && e.where === `${file}:3`);
  await assert.rejects(
    loadNetHooks({ configDir: false, env: { [NETMGR_ENV]: 'manager=logging;file' } }),
    (e: unknown) => e instanceof AttrStringError && e.where === `${NETMGR_ENV} segment 2` && e.message.startsWith(`${NETMGR_ENV}: Invalid attr_string`),
  );
  await assert.rejects(
    loadNetHooks({ configDir: false, env: { [NETMGR_ENV]: 'a=b\n' } }),
    (e: unknown) => e instanceof AttrStringError && e.reason === 'crlf' && e.where === NETMGR_ENV,
  );
  await assert.rejects(loadNetHooks({ configDir: false, env: false, hooks: ['manager=nope;'] }), (e: unknown) => {
    assert.ok(e instanceof NetManagerConfigError);
    assert.equal(e.source, 'hooks[0]');
    assert.match(e.message, /\(configured in hooks\[0\]\)$/);
    return true;
  });
  await assert.rejects(loadNetHooks({ configDir: false, env: false, hooks: [42 as unknown as string] }), InvalidArgumentError);
});

test('config - when a later manager fails, those created before it are closed again', async () => {
  closed.length = 0;
  await assert.rejects(chainFromOptionString('manager=recorder;tag=first;manager=portrange;range=oops;'), NetManagerConfigError);
  assert.deepEqual(closed, ['first']);
});

test('config - managersFromAttrs groups attrs as GCT\'s context init does', () => {
  assert.deepEqual(
    managersFromAttrs([
      ['global', 'service', 's'],
      ['net_manager', 'manager', 'module'],
      ['module', 'path', 'a.mjs'],
      ['net_manager', 'manager', 'module'],
      ['module', 'path', 'b.mjs'],
      ['logging', 'file', 'x.log'],
      ['global', 'late', 'g'],
    ]),
    [
      { name: 'module', attrs: [['module', 'path', 'a.mjs']] },
      { name: 'module', attrs: [['module', 'path', 'b.mjs']] },
      { name: 'logging', attrs: [['logging', 'file', 'x.log']] },
    ],
  );
  assert.deepEqual(managersFromAttrs([]), []);
});

test('registry - built-ins, register, unregister, and factory failures', async () => {
  assert.deepEqual([...BUILT_IN_MANAGERS].sort(), ['exec', 'logging', 'module', 'portrange']);
  assert.ok(registeredNetManagers().includes('recorder'));
  assert.throws(() => registerNetManager('recorder', () => ({})), /already registered/);
  assert.throws(() => registerNetManager('a;b', () => ({})), InvalidArgumentError);
  registerNetManager('flaky', () => {
    throw new Error('no licence');
  });
  try {
    await assert.rejects(
      managerFromName('flaky'),
      (e: unknown) => e instanceof NetManagerConfigError && e.message === 'A network manager (flaky) errored in attempting to load activated module: no licence',
    );
  } finally {
    assert.equal(unregisterNetManager('flaky'), true);
  }
  assert.equal(unregisterNetManager('flaky'), false);
});

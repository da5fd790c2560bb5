import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NetManagerConfigError, NetManagerError, NetManagerModuleError, NetManagerResultError } from '../../src/errors.ts';
import { attrsFromString, attrsToRecord } from '../../src/hooks/attrs.ts';
import { createChain } from '../../src/hooks/chain.ts';
import { chainFromOptionString } from '../../src/hooks/config.ts';
import { createModuleManager } from '../../src/hooks/managers/module.ts';
import { CALLOUTS, type Attr, type Callout, type CalloutInfo, type NetManager } from '../../src/hooks/types.ts';
import { RETURN_FUNCTION_CALLED_MODULE, TEST_MODULE, portDeltaModule, tempDir, writeFixture } from './fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
const paths: Record<string, string> = {};

before(async () => {
  ({ dir, cleanup } = await tempDir());
  paths['test_module'] = await writeFixture(dir, 'test_module.mjs', TEST_MODULE);
  paths['return_function_called_module'] = await writeFixture(dir, 'return_function_called_module.mjs', RETURN_FUNCTION_CALLED_MODULE);
  paths['port_plus_one'] = await writeFixture(dir, 'port_plus_one.mjs', portDeltaModule(1));
  paths['port_minus_one'] = await writeFixture(dir, 'port_minus_one.mjs', portDeltaModule(-1));
});
after(() => cleanup());

function infoFor(callout: Callout, managerAttrs: Record<string, string>, attrs: Attr[] = [['tcp', 'port', '42']]): CalloutInfo {
  return {
    taskId: '42',
    transport: 'tcp',
    localContact: callout === 'preConnect' ? undefined : 'localhost:4545',
    remoteContact: callout === 'preConnect' ? 'remotehost' : 'remotehost:4242',
    attrs,
    managerAttrs,
  };
}

/** GCT's python_test.c setup: the module's attrs from an attr string, as the manager's own attrs. */
function pyAttrs(text: string): Record<string, string> {
  return attrsToRecord(attrsFromString('module', text), ['module']);
}

async function call(m: NetManager, callout: Callout, info: CalloutInfo): Promise<unknown> {
  const fn = m[callout];
  assert.ok(fn, `manager has ${callout}`);
  return fn(info);
}

// T7
test('module - T7 every callout of return_function_called_module is dispatched to its function', async () => {
  const chain = await chainFromOptionString(`manager=module;path=${paths['return_function_called_module']};`);
  for (const callout of CALLOUTS) {
    const out = await chain.run(callout, { taskId: '42', transport: 'tcp', localContact: 'l:1', remoteContact: 'r:2', attrs: [] });
    const gct = callout.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (['endListen', 'preClose', 'postClose'].includes(callout)) assert.deepEqual(out.attrs, [], callout);
    else assert.deepEqual(out.attrs, [['return_function_called_module', 'function', gct]], callout);
  }
  await chain.close();
});

// T9
test('module - T9 res=None is success with no change, for every callout', async () => {
  const m = await createModuleManager({ path: paths['test_module']! });
  for (const callout of CALLOUTS) {
    const gct = callout.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    assert.equal(await call(m, callout, infoFor(callout, pyAttrs(`test_func=${gct};expected_result=res=null;`))), undefined, callout);
  }
});

test('module - T9 an exception is an error naming its type, the function and the module', async () => {
  const m = await createModuleManager({ path: paths['test_module']! });
  for (const callout of CALLOUTS) {
    const gct = callout.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    await assert.rejects(call(m, callout, infoFor(callout, pyAttrs(`test_func=${gct};expected_result=throw new TypeError('nope');`))), (e: unknown) => {
      assert.ok(e instanceof NetManagerModuleError);
      assert.equal(e.code, 'SWITCHYARD_ERR_NETMGR_MODULE');
      assert.equal(e.exportName, gct);
      assert.equal(e.message, `TypeError exception in ${gct} of ${paths['test_module']}: nope`);
      return true;
    });
  }
});

test('module - T9 pre_listen returning attrs gives those attrs', async () => {
  const m = await createModuleManager({ path: paths['test_module']! });
  const r = await call(m, 'preListen', infoFor('preListen', pyAttrs('test_func=pre_listen;expected_result=res = [["tcp", "port", "4545"]];')));
  assert.deepEqual(r, { attrs: [['tcp', 'port', '4545']] });
});

test('module - T9 post_listen and pre_connect: contact only, attrs only, both', async () => {
  const m = await createModuleManager({ path: paths['test_module']! });
  for (const [callout, gct] of [
    ['postListen', 'post_listen'],
    ['preConnect', 'pre_connect'],
  ] as const) {
    const run = (expr: string): Promise<unknown> => call(m, callout, infoFor(callout, pyAttrs(`test_func=${gct};expected_result=${expr}`)));
    assert.deepEqual(await run('res = ["new_contact:4242", null]'), { contact: 'new_contact:4242' });
    assert.deepEqual(await run('res = [null, [["tcp", "port", "4546"]]]'), { attrs: [['tcp', 'port', '4546']] });
    assert.deepEqual(await run('res = ["new_contact:4242", [["tcp", "port", "4546"]]]'), { contact: 'new_contact:4242', attrs: [['tcp', 'port', '4546']] });
  }
});

test('module - T9 through a chain, a new contact and attrs reach the outcome', async () => {
  const chain = await chainFromOptionString(
    `manager=module;path=${paths['test_module']};test_func=post_listen;expected_result=res = ["new_contact:4242", [["tcp", "port", "4546"]]];`,
  );
  assert.deepEqual(await chain.run('postListen', { taskId: '42', transport: 'tcp', localContact: 'localhost:4545', attrs: [] }), {
    attrs: [['tcp', 'port', '4546']],
    contact: 'new_contact:4242',
  });
  const raising = await chainFromOptionString(`manager=module;path=${paths['test_module']};expected_result=throw new Error('boom');`);
  await assert.rejects(raising.run('preClose', { taskId: '42', transport: 'tcp', localContact: 'a:1', remoteContact: 'b:2', attrs: [] }), (e: unknown) => {
    assert.ok(e instanceof NetManagerError);
    assert.equal(e.message, `A network manager (module) errored in preClose: Error exception in pre_close of ${paths['test_module']}: boom`);
    return true;
  });
});

test('module - T9 post_connect returning attrs gives those attrs', async () => {
  const m = await createModuleManager({ path: paths['test_module']! });
  const r = await call(m, 'postConnect', infoFor('postConnect', pyAttrs('test_func=post_connect;expected_result=res = [["tcp", "port", "4546"]]')));
  assert.deepEqual(r, { attrs: [['tcp', 'port', '4546']] });
});

// T9b
test('module - T9b a function called for the wrong callout raises (mis-dispatch shows)', async () => {
  const m = await createModuleManager({ path: paths['test_module']! });
  await assert.rejects(call(m, 'postAccept', infoFor('postAccept', pyAttrs('test_func=pre_accept;'))), /post_accept called when pre_accept expected/);
});

async function gctResultError(callout: Callout, expr: string, what: string, text: RegExp): Promise<void> {
  const m = await createModuleManager({ path: paths['test_module']! });
  await assert.rejects(call(m, callout, infoFor(callout, pyAttrs(`expected_result=${expr}`))), (e: unknown) => {
    assert.ok(e instanceof NetManagerResultError, `${callout} ${expr}: ${String(e)}`);
    assert.equal(e.what, what);
    assert.match(e.message, text);
    return true;
  });
}

test('module - GCT return rules: wrong shapes are Bad parameter errors', async () => {
  await gctResultError('preListen', 'res = "tcp"', 'result', /^Bad parameter, result: pre_listen must return null or a list/);
  await gctResultError('preAccept', 'res = [["tcp", "port"]]', 'attr', /^Bad parameter, attr: element 0 .* triple/);
  await gctResultError('postAccept', 'res = [["tcp", 1, "x"]]', 'name', /^Bad parameter, name/);
  await gctResultError('postConnect', 'res = [[null, "p", "x"]]', 'scope', /^Bad parameter, scope/);
  await gctResultError('postConnect', 'res = [["t", "p", 5]]', 'value', /^Bad parameter, value/);
  await gctResultError('postListen', 'res = ["h:1", "not a list"]', 'array', /^Bad parameter, array: post_listen must return null or a list as the second element/);
  await gctResultError('preConnect', 'res = [5, null]', 'contact', /^Bad parameter, contact/);
  for (const c of ['endListen', 'preClose', 'postClose'] as const) {
    await gctResultError(c, 'res = []', 'result', /must return nothing/);
  }
});

test('module - a contact tuple that is not exactly [contact, attrs] is refused (GCT ignores it silently)', async () => {
  await gctResultError('postListen', 'res = ["h:1"]', 'result', /^Bad parameter, result: post_listen must return null or \[contact, attrs\], not an array of length 1/);
  await gctResultError('preConnect', 'res = ["h:1", null, null]', 'result', /not an array of length 3/);
});

test('module - GCT-style functions get positional arguments and the manager attrs last', async () => {
  const p = await writeFixture(
    dir,
    'args.mjs',
    `export const seen = [];
export function pre_listen(...a) { seen.push(['pre_listen', ...a]); }
export function post_listen(...a) { seen.push(['post_listen', ...a]); }
export function pre_accept(...a) { seen.push(['pre_accept', ...a]); }
export function post_accept(...a) { seen.push(['post_accept', ...a]); }
export function pre_connect(...a) { seen.push(['pre_connect', ...a]); }
export function post_close(...a) { seen.push(['post_close', ...a]); }`,
  );
  const chain = createChain([{ manager: await createModuleManager({ path: p }), name: 'module', attrs: [['module', 'path', p]] }]);
  const base = { taskId: 'T', transport: 'tcp', localContact: 'L:1', remoteContact: 'R:2', attrs: [['tcp', 'port', '1']] as Attr[] };
  for (const c of ['preListen', 'postListen', 'preAccept', 'postAccept', 'preConnect', 'postClose'] as const) await chain.run(c, base);
  const mod = (await import(p)) as { seen: unknown[] };
  const a = [['tcp', 'port', '1']];
  const m = { path: p };
  assert.deepEqual(mod.seen, [
    ['pre_listen', 'T', 'tcp', a, m],
    ['post_listen', 'T', 'tcp', 'L:1', a, m],
    ['pre_accept', 'T', 'tcp', 'L:1', a, m],
    ['post_accept', 'T', 'tcp', 'L:1', 'R:2', a, m],
    ['pre_connect', 'T', 'tcp', 'R:2', a, m],
    ['post_close', 'T', 'tcp', 'L:1', 'R:2', a, m],
  ]);
});

test('module - camelCase exports get the CalloutInfo and return like any manager', async () => {
  const p = await writeFixture(
    dir,
    'camel.mjs',
    `export function preConnect({ remoteContact, attrs, managerAttrs }) {
  return remoteContact.startsWith('lab-') ? { contact: managerAttrs.gateway, attrs: [...attrs, ['tcp', 'iface', '192.168.7.2']] } : undefined;
}`,
  );
  const chain = await chainFromOptionString(`manager=module;path=${p};gateway=gw.example.org:1875`);
  assert.deepEqual(await chain.run('preConnect', { taskId: 't', transport: 'tcp', remoteContact: 'lab-3:1875', attrs: [] }), {
    attrs: [['tcp', 'iface', '192.168.7.2']],
    contact: 'gw.example.org:1875',
  });
  assert.deepEqual(await chain.run('preConnect', { taskId: 't', transport: 'tcp', remoteContact: 'office:1875', attrs: [] }), {
    attrs: [],
    contact: 'office:1875',
  });
});

test('module - a TypeScript module loads (under tsx) and a default-exported object works', async () => {
  const p = await writeFixture(
    dir,
    'routeman.ts',
    `import type { CalloutInfo } from ${JSON.stringify(new URL('../../src/hooks/types.ts', import.meta.url).pathname)};
const manager = {
  postListen(info: CalloutInfo): { contact: string } {
    return { contact: 'public.example.org:' + info.localContact!.split(':')[1] };
  },
};
export default manager;`,
  );
  const chain = createChain([await createModuleManager({ path: p })]);
  assert.equal((await chain.run('postListen', { taskId: 't', transport: 'tcp', localContact: '0.0.0.0:50001', attrs: [] })).contact, 'public.example.org:50001');
});

test('module - T8 two module entries port_plus_one then port_minus_one', async () => {
  const chain = await chainFromOptionString(`manager=module;path=${paths['port_plus_one']};manager=module;path=${paths['port_minus_one']};`);
  assert.deepEqual(chain.entries.map((e) => e.attrs), [[['module', 'path', paths['port_plus_one']]], [['module', 'path', paths['port_minus_one']]]]);
  assert.deepEqual((await chain.run('preListen', { taskId: '1', transport: 'tcp', attrs: [['tcp', 'port', '42']] })).attrs, [['tcp', 'port', '42']]);
});

async function configError(options: { path: string }, text: RegExp): Promise<void> {
  await assert.rejects(createModuleManager(options), (e: unknown) => {
    assert.ok(e instanceof NetManagerConfigError, String(e));
    assert.equal(e.code, 'SWITCHYARD_ERR_NETMGR_CONFIG');
    assert.equal(e.manager, 'module');
    assert.match(e.message, text);
    return true;
  });
}

test('module - configuration errors are coded and say what to fix', async () => {
  await configError({ path: '' }, /needs path=/);
  await configError({ path: `${dir}/missing.mjs` }, /cannot use .*missing\.mjs: ENOENT/);
  await configError({ path: dir }, /not a regular file/);
  await configError({ path: await writeFixture(dir, 'none.mjs', 'export const x = 1;') }, /exports none of the callouts/);
  await configError({ path: await writeFixture(dir, 'both.mjs', 'export function preListen() {}\nexport function pre_listen() {}') }, /exports both preListen and pre_listen/);
  await configError({ path: await writeFixture(dir, 'notfn.mjs', 'export const post_close = 3;') }, /exports post_close as a number; a callout must be a function/);
  await configError({ path: await writeFixture(dir, 'syntax.mjs', 'export function (') }, /cannot load .*syntax\.mjs/);
});

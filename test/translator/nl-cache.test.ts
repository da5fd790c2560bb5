import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Frame } from '../../src/translator/frame.ts';
import { FOP_NAMES, isNamespaceFop } from '../../src/translator/fops.ts';
import { Graph, graphFromText } from '../../src/translator/graph.ts';
import { Fd, IA, Inode, ROOT_GFID, errno, makeLoc, randomGfid, type Dict, type Gfid, type Iatt, type Loc } from '../../src/translator/model.ts';
import { Translator, type GraphEvent, type TranslatorHooks } from '../../src/translator/translator.ts';
import { MemoryStorage } from '../../src/translator/types/memory.ts';
import { DIR_OVERHEAD, ENTRY_OVERHEAD, NlCache } from '../../src/translator/types/nl-cache.ts';
import { within } from '../helpers/index.ts';

const P = ROOT_GFID;

/**
 * Sits between the cache and storage/memory: counts the lookups that reach it, can fail them
 * with a chosen errno, and can hold their replies back (to race them with other fops).
 */
class Probe extends Translator implements TranslatorHooks {
  lookups = 0;
  failWith: number | null = null;
  hold = false;
  readonly held: Array<() => void> = [];
  /** Applies mkdirs but answers them with this errno (a reply lost on the way). */
  loseMkdirReplies: number | null = null;

  mkdirCbk(frame: Frame, _cookie: unknown, opRet: number, opErrno: number, inode: Inode | null, buf: Iatt | null, pre: Iatt | null, post: Iatt | null, xdata: Dict | null): void {
    if (this.loseMkdirReplies !== null) return this.unwindMkdir(frame, -1, this.loseMkdirReplies);
    this.unwindMkdir(frame, opRet, opErrno, inode, buf, pre, post, xdata);
  }

  lookupFop(frame: Frame, loc: Loc, xdata: Dict | null): void {
    this.lookups++;
    if (this.failWith !== null) return this.unwindLookup(frame, -1, this.failWith);
    this.windLookup(frame, loc, xdata);
  }

  lookupCbk(frame: Frame, _cookie: unknown, opRet: number, opErrno: number, inode: Inode | null, buf: Iatt | null, xdata: Dict | null, postparent: Iatt | null): void {
    const reply = (): void => this.unwindLookup(frame, opRet, opErrno, inode, buf, xdata, postparent);
    if (this.hold) this.held.push(reply);
    else reply();
  }
}

interface Rig {
  graph: Graph;
  cache: NlCache;
  probe: Probe;
  lookup(name: string, pargfid?: Gfid | null, dirPath?: string): Promise<{ opRet: number; opErrno: number; results: unknown[] }>;
  mkdir(name: string, pargfid?: Gfid, dirPath?: string): Promise<Gfid>;
  create(name: string, pargfid?: Gfid | null): Promise<number>;
}

async function rig(options: Record<string, string> = {}, name = 'cache'): Promise<Rig> {
  const mem = new MemoryStorage({ name: `${name}-mem`, type: 'storage/memory' });
  const probe = new Probe({ name: `${name}-probe`, type: 'test/probe', children: [mem] });
  const cache = new NlCache({ name, type: 'performance/nl-cache', options, children: [probe] });
  const graph = new Graph(cache);
  await graph.init();
  const at = (dirPath: string, n: string): string => (dirPath === '/' ? `/${n}` : `${dirPath}/${n}`);
  return {
    graph,
    cache,
    probe,
    lookup: (n, pargfid = P, dirPath = '/') => graph.call('lookup', makeLoc(at(dirPath, n), { pargfid }), null),
    mkdir: async (n, pargfid = P, dirPath = '/') => {
      const r = await graph.call('mkdir', makeLoc(at(dirPath, n), { pargfid }), 0o755, 0, null);
      assert.equal(r.opRet, 0);
      return (r.results[0] as Inode).gfid;
    },
    create: async (n, pargfid = P) => {
      const fd = new Fd(new Inode(randomGfid(), IA.IFREG));
      const r = await graph.call('create', makeLoc(`/${n}`, { pargfid }), constants.O_WRONLY | constants.O_CREAT, 0o644, 0, fd, null);
      graph.releaseFd(fd);
      return r.opRet;
    },
  };
}

test('nl-cache - N1 an ENOENT lookup is wound once and cached', async () => {
  const r = await rig();
  const res = await r.lookup('foo');
  assert.deepEqual([res.opRet, res.opErrno], [-1, errno.ENOENT]);
  assert.equal(r.probe.lookups, 1);
  assert.equal(r.cache.has(P, 'foo'), true);
  assert.deepEqual(r.cache.stats(), { hits: 0, misses: 1, entries: 1, bytes: DIR_OVERHEAD + ENTRY_OVERHEAD + 3, invalidations: 0, evictions: 0 });
  await r.graph.fini();
});

test('nl-cache - N2 a repeated lookup is answered ENOENT with null results without winding', async () => {
  const r = await rig();
  await r.lookup('foo');
  const res = await r.lookup('foo');
  assert.deepEqual(res, { opRet: -1, opErrno: errno.ENOENT, results: [null, null, null, null] });
  assert.equal(r.probe.lookups, 1);
  assert.equal(r.cache.stats().hits, 1);
  await r.graph.fini();
});

test('nl-cache - N3/N4 a successful create removes the name and the next lookup is wound and succeeds', async () => {
  const r = await rig();
  await r.lookup('foo');
  assert.equal(await r.create('foo'), 0);
  assert.equal(r.cache.has(P, 'foo'), false);
  const res = await r.lookup('foo');
  assert.equal(res.opRet, 0);
  assert.equal(r.probe.lookups, 2);
  assert.equal(r.cache.stats().invalidations, 1);
  await r.graph.fini();
});

test('nl-cache - N5 other errors are not cached', async () => {
  const r = await rig();
  r.probe.failWith = errno.EACCES;
  assert.deepEqual((await r.lookup('foo')).opErrno, errno.EACCES);
  assert.deepEqual((await r.lookup('foo')).opErrno, errno.EACCES);
  assert.equal(r.probe.lookups, 2);
  assert.equal(r.cache.stats().entries, 0);
  await r.graph.fini();
});

test('nl-cache - N6 fixed: mkdir, mknod, symlink, link and rename of a cached name invalidate it', async () => {
  const ops: Record<string, (r: Rig) => Promise<number>> = {
    mkdir: async (r) => (await r.graph.call('mkdir', makeLoc('/foo', { pargfid: P }), 0o755, 0, null)).opRet,
    mknod: async (r) => (await r.graph.call('mknod', makeLoc('/foo', { pargfid: P }), 0o100644, 0, 0, null)).opRet,
    symlink: async (r) => (await r.graph.call('symlink', 'target', makeLoc('/foo', { pargfid: P }), 0, null)).opRet,
    link: async (r) => {
      assert.equal(await r.create('src'), 0);
      return (await r.graph.call('link', makeLoc('/src', { pargfid: P }), makeLoc('/foo', { pargfid: P }), null)).opRet;
    },
    rename: async (r) => {
      assert.equal(await r.create('src'), 0);
      return (await r.graph.call('rename', makeLoc('/src', { pargfid: P }), makeLoc('/foo', { pargfid: P }), null)).opRet;
    },
  };
  for (const [op, run] of Object.entries(ops)) {
    const r = await rig();
    await r.lookup('foo');
    assert.equal(r.cache.has(P, 'foo'), true, op);
    assert.equal(await run(r), 0, op);
    const res = await r.lookup('foo');
    assert.equal(res.opRet, 0, `${op}: the lookup after it must see the new name`);
    assert.equal(r.probe.lookups, 2, op);
    await r.graph.fini();
  }
});

test('nl-cache - N7 fixed: two instances have separate caches', async () => {
  const a = await rig({}, 'a');
  const b = await rig({}, 'b');
  await a.lookup('foo');
  assert.equal(a.cache.has(P, 'foo'), true);
  assert.equal(b.cache.has(P, 'foo'), false);
  await b.lookup('foo');
  assert.equal(b.probe.lookups, 1);
  assert.equal(await a.create('foo'), 0);
  assert.equal(b.cache.has(P, 'foo'), true);
  assert.equal(a.cache.has(P, 'foo'), false);
  await a.graph.fini();
  await b.graph.fini();
});

test('nl-cache - a failed namespace fop does not invalidate', async () => {
  const r = await rig();
  await r.lookup('foo');
  // The parent directory does not exist: mkdir fails, so the cached name stays.
  const res = await r.graph.call('mkdir', makeLoc('/nodir/foo', { pargfid: P, name: 'foo' }), 0o755, 0, null);
  assert.equal(res.opRet, -1);
  assert.equal(r.cache.has(P, 'foo'), true);
  await r.graph.fini();
});

test('nl-cache - a namespace fop whose outcome is unknown (EIO, ENOTCONN, ETIMEDOUT) invalidates', async () => {
  for (const err of [errno.EIO, errno.ENOTCONN, errno.ETIMEDOUT]) {
    const r = await rig();
    await r.lookup('foo');
    r.probe.loseMkdirReplies = err;
    const res = await r.graph.call('mkdir', makeLoc('/foo', { pargfid: P }), 0o755, 0, null);
    assert.deepEqual([res.opRet, res.opErrno], [-1, err]);
    assert.equal(r.cache.has(P, 'foo'), false, String(err));
    assert.equal((await r.lookup('foo')).opRet, 0);
    await r.graph.fini();
  }
});

test('nl-cache - a path-only create invalidates through the reply postparent', async () => {
  const r = await rig();
  await r.lookup('foo');
  assert.equal(await r.create('foo', null), 0);
  assert.equal(r.cache.has(P, 'foo'), false);
  await r.graph.fini();
});

test('nl-cache - rmdir drops the removed directory own cache; a renamed directory keeps its cache', async () => {
  const r = await rig();
  const d = await r.mkdir('d');
  await r.lookup('x', d, '/d');
  assert.equal(r.cache.has(d, 'x'), true);
  const mv = await r.graph.call('rename', makeLoc('/d', { pargfid: P, gfid: d }), makeLoc('/e', { pargfid: P }), null);
  assert.equal(mv.opRet, 0);
  assert.equal(r.cache.has(d, 'x'), true);
  const rm = await r.graph.call('rmdir', makeLoc('/e', { pargfid: P, gfid: d }), 0, null);
  assert.equal(rm.opRet, 0);
  assert.equal(r.cache.has(d, 'x'), false);
  assert.deepEqual(r.cache.stats().entries, 0);
  assert.deepEqual(r.cache.stats().bytes, 0);
  await r.graph.fini();
});

test('nl-cache - unlink makes the name missing again and it is cached after the next lookup', async () => {
  const r = await rig();
  assert.equal(await r.create('foo'), 0);
  assert.equal((await r.lookup('foo')).opRet, 0);
  assert.equal((await r.graph.call('unlink', makeLoc('/foo', { pargfid: P }), 0, null)).opRet, 0);
  assert.equal((await r.lookup('foo')).opErrno, errno.ENOENT);
  assert.equal((await r.lookup('foo')).opErrno, errno.ENOENT);
  assert.equal(r.probe.lookups, 2);
  await r.graph.fini();
});

test('nl-cache - every namespace fop of the table is intercepted', () => {
  const proto = NlCache.prototype as unknown as Record<string, unknown>;
  const namespace = FOP_NAMES.filter(isNamespaceFop);
  assert.deepEqual(namespace.sort(), ['create', 'link', 'mkdir', 'mknod', 'rename', 'rmdir', 'symlink', 'unlink']);
  for (const fop of namespace) {
    assert.equal(typeof proto[`${fop}Fop`], 'function', fop);
    assert.equal(typeof proto[`${fop}Cbk`], 'function', fop);
  }
});

test('nl-cache - nameless, root and parentless lookups bypass the cache', async () => {
  const r = await rig();
  const d = await r.mkdir('d');
  for (let i = 0; i < 2; i++) {
    assert.equal((await r.graph.call('lookup', makeLoc('', { gfid: randomGfid() }), null)).opErrno, errno.ESTALE);
    assert.equal((await r.graph.call('lookup', makeLoc('', { gfid: d }), null)).opRet, 0);
    assert.equal((await r.graph.call('lookup', makeLoc('/', { gfid: ROOT_GFID }), null)).opRet, 0);
    assert.equal((await r.graph.call('lookup', makeLoc('/missing'), null)).opErrno, errno.ENOENT);
  }
  assert.equal(r.probe.lookups, 8);
  assert.deepEqual(r.cache.stats(), { hits: 0, misses: 0, entries: 0, bytes: 0, invalidations: 0, evictions: 0 });
  await r.graph.fini();
});

test('nl-cache - entries expire after nl-cache-timeout', async () => {
  const r = await rig({ 'nl-cache-timeout': '0.05' });
  await r.lookup('foo');
  await r.lookup('foo');
  assert.equal(r.probe.lookups, 1);
  await sleep(80);
  assert.equal(r.cache.has(P, 'foo'), false);
  await r.lookup('foo');
  assert.equal(r.probe.lookups, 2);
  assert.equal(r.cache.stats().invalidations, 1);
  // Cached again, from the new lookup.
  await r.lookup('foo');
  assert.equal(r.probe.lookups, 2);
  await r.graph.fini();
});

test('nl-cache - the byte limit is enforced with least-recently-used eviction across directories', async () => {
  const per = ENTRY_OVERHEAD + 6; // names 'name-0'..'name-9' are 6 bytes
  const r = await rig({ 'nl-cache-limit': String(DIR_OVERHEAD + 5 * per) });
  for (let i = 0; i < 5; i++) await r.lookup(`name-${i}`);
  assert.deepEqual(r.cache.stats(), { hits: 0, misses: 5, entries: 5, bytes: DIR_OVERHEAD + 5 * per, invalidations: 0, evictions: 0 });
  await r.lookup('name-5');
  assert.deepEqual([r.cache.stats().entries, r.cache.stats().evictions, r.cache.stats().bytes], [5, 1, DIR_OVERHEAD + 5 * per]);
  assert.equal(r.cache.has(P, 'name-0'), false);
  // A hit makes name-1 the most recently used: name-2 goes next.
  await r.lookup('name-1');
  assert.equal(r.probe.lookups, 6);
  await r.lookup('name-6');
  assert.equal(r.cache.has(P, 'name-1'), true);
  assert.equal(r.cache.has(P, 'name-2'), false);
  // A second directory costs its overhead too: three more entries go (name-3, name-4, name-5).
  const d = await r.mkdir('dir-00');
  await r.lookup('name-0', d, '/dir-00');
  const s = r.cache.stats();
  assert.deepEqual([s.entries, s.evictions, s.bytes], [3, 5, 2 * DIR_OVERHEAD + 3 * per]);
  assert.deepEqual(['name-1', 'name-3', 'name-4', 'name-5', 'name-6'].map((n) => r.cache.has(P, n)), [true, false, false, false, true]);
  assert.equal(r.cache.has(d, 'name-0'), true);
  // Lowering the limit live evicts at once, oldest first.
  r.cache.reconfigure({ 'nl-cache-limit': String(DIR_OVERHEAD + per) });
  assert.deepEqual([r.cache.stats().entries, r.cache.stats().bytes], [1, DIR_OVERHEAD + per]);
  assert.equal(r.cache.has(d, 'name-0'), true);
  await r.graph.fini();
});

test('nl-cache - memory stays bounded at 10,000 names under the default limit', async () => {
  const r = await rig();
  for (let i = 0; i < 10_000; i++) await r.lookup(`missing-${i}`);
  const s = r.cache.stats();
  assert.ok(s.bytes <= 131_072, `${s.bytes} bytes`);
  assert.equal(s.entries + s.evictions, 10_000);
  // With no hits the survivors are the most recent names.
  let expected = DIR_OVERHEAD;
  for (let i = 10_000 - s.entries; i < 10_000; i++) expected += ENTRY_OVERHEAD + `missing-${i}`.length;
  assert.equal(s.bytes, expected);
  assert.ok(s.bytes > 131_072 - (ENTRY_OVERHEAD + 'missing-9999'.length), 'the limit is used, not undershot');
  assert.equal(r.cache.has(P, 'missing-9999'), true);
  assert.equal(r.cache.has(P, 'missing-0'), false);
  await r.graph.fini();
});

test('nl-cache - an upcall clears the named directories or names and is forwarded', async () => {
  const r = await rig();
  const events: GraphEvent[] = [];
  r.graph.onEvent((e) => events.push(e));
  const d = await r.mkdir('d');
  await r.lookup('a');
  await r.lookup('b');
  await r.lookup('x', d, '/d');
  await r.lookup('y', d, '/d');
  r.probe.notify({ type: 'upcall', gfid: null, pargfids: [P], names: ['a'] }, null);
  assert.deepEqual([r.cache.has(P, 'a'), r.cache.has(P, 'b')], [false, true]);
  r.probe.notify({ type: 'upcall', gfid: d, pargfids: [], names: [] }, null);
  assert.deepEqual([r.cache.has(d, 'x'), r.cache.has(d, 'y')], [false, false]);
  r.probe.notify({ type: 'upcall', gfid: randomGfid(), pargfids: [P] }, null);
  assert.equal(r.cache.has(P, 'b'), false);
  assert.equal(events.length, 3);
  assert.equal(events[0]?.type, 'upcall');
  assert.deepEqual(r.cache.stats().invalidations, 4);
  await r.graph.fini();
});

test('nl-cache - child-up, child-down and parent-down clear everything', async () => {
  const r = await rig();
  for (const type of ['child-down', 'child-up'] as const) {
    await r.lookup('foo');
    assert.equal(r.cache.stats().entries, 1);
    r.probe.notify({ type }, null);
    assert.equal(r.cache.stats().entries, 0, type);
  }
  await r.lookup('foo');
  await r.graph.fini();
  assert.equal(r.cache.stats().entries, 0);
});

test('nl-cache - a lookup reply that races with an invalidation of its directory is not cached', async () => {
  const r = await rig();
  r.probe.hold = true;
  const pending = r.lookup('foo');
  r.probe.hold = false;
  assert.equal(await r.create('foo'), 0);
  for (const reply of r.probe.held.splice(0)) reply();
  assert.equal((await within(pending, 1000, 'the held lookup')).opErrno, errno.ENOENT);
  assert.equal(r.cache.has(P, 'foo'), false);
  assert.equal((await r.lookup('foo')).opRet, 0);
  // A race in another directory does not stop caching here.
  const d = await r.mkdir('d');
  r.probe.hold = true;
  const other = r.lookup('bar');
  r.probe.hold = false;
  assert.equal((await r.graph.call('mkdir', makeLoc('/d/z', { pargfid: d }), 0o755, 0, null)).opRet, 0);
  for (const reply of r.probe.held.splice(0)) reply();
  await within(other, 1000, 'the held lookup');
  assert.equal(r.cache.has(P, 'bar'), true);
  await r.graph.fini();
});

test('nl-cache - pass-through reconfigure sends lookups to the child again and starts empty after', async () => {
  const r = await rig();
  await r.lookup('foo');
  await r.lookup('foo');
  assert.equal(r.probe.lookups, 1);
  r.cache.reconfigure({ 'pass-through': 'on' });
  await r.lookup('foo');
  await r.lookup('foo');
  assert.equal(r.probe.lookups, 3);
  // Made while passed through, unseen by the cache.
  assert.equal(await r.create('foo'), 0);
  r.cache.reconfigure({ 'pass-through': 'off' });
  assert.equal((await r.lookup('foo')).opRet, 0);
  assert.equal(r.probe.lookups, 4);
  await r.graph.fini();
});

test('nl-cache - built from a volfile with GlusterFS option names', async () => {
  const g = await graphFromText(
    ['volume mem', '  type storage/memory', 'end-volume', 'volume nlc', '  type performance/nl-cache', '  option nl-cache-timeout 10m', '  option nl-cache-limit 1MB', '  subvolumes mem', 'end-volume'].join('\n'),
  );
  const cache = g.top as NlCache;
  assert.ok(cache instanceof NlCache);
  assert.equal(cache.option('nl-cache-timeout'), 600);
  assert.equal(cache.option('nl-cache-limit'), 1024 * 1024);
  await g.call('lookup', makeLoc('/foo', { pargfid: P }), null);
  assert.equal(cache.stats().entries, 1);
  await assert.rejects(graphFromText(['volume mem', '  type storage/memory', 'end-volume', 'volume nlc', '  type performance/nl-cache', '  option nl-cache-limit lots', '  subvolumes mem', 'end-volume'].join('\n')), /nl-cache-limit/);
  await g.fini();
});

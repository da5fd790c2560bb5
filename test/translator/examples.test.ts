// The glupy-style examples under examples/translators, loaded through features/module exactly as a
// user would: helloworld (G3), negative (N1–N7) and debug-trace (same lines as debug/trace).
process.env['TZ'] = 'UTC';

import assert from 'node:assert/strict';
import { constants as fsConstants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, beforeEach, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Frame } from '../../src/translator/frame.ts';
import { graphFromText, type Graph } from '../../src/translator/graph.ts';
import { errno, Fd, IA, Inode, makeLoc, randomGfid, type Iatt, type Loc } from '../../src/translator/model.ts';
import { registerTranslator } from '../../src/translator/registry.ts';
import { Translator } from '../../src/translator/translator.ts';
import { silentLogger } from '../../src/util/log.ts';
import { tempDir, within } from '../helpers/index.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLES = join(ROOT, 'examples', 'translators');
const tmp = tempDir('switchyard-examples-');
after(() => tmp.remove());

/**
 * The examples import 'switchyard/storage'. Under the sources (the test runner imports
 * scripts/source-resolve.mjs) it resolves to src/storage/index.ts, so the examples' own files are
 * loaded, unmodified, and share the running sources' Translator class.
 */
const STORAGE_SPEC = 'switchyard/storage';
const examplesDir: Promise<string> = import(STORAGE_SPEC).then(() => EXAMPLES);

const P = '00000000-0000-0000-0000-000000000001';
const MEM = 'volume mem\n  type storage/memory\nend-volume\n';

function moduleVolume(name: string, file: string, child: string): string {
  return `volume ${name}\n  type features/module\n  option module-name ./${file}\n  subvolumes ${child}\nend-volume\n`;
}

async function build(text: string): Promise<Graph> {
  return graphFromText(text, { baseDir: await examplesDir, logger: silentLogger(), frameTimeout: 10_000 });
}

/** Runs `fn` with console.log captured. */
async function captureLog<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => {
    lines.push(args.map(String).join(' '));
  };
  try {
    return { value: await fn(), lines };
  } finally {
    console.log = original;
  }
}

// --- helloworld (G3) ---

/** glupy.t's `touch filename; ls; rm -f filename` as fops, with the results that do not depend on gfids or times. */
async function touchLsRm(g: Graph): Promise<unknown[]> {
  const root = g.inodes.root;
  const out: unknown[] = [];
  const names = async (): Promise<string[]> => {
    const dirFd = new Fd(root, true);
    const opened = await g.call('opendir', makeLoc('/', { inode: root }), dirFd, null);
    const listed = await g.call('readdir', dirFd, 4096, 0, null);
    g.releaseFd(dirFd);
    return [String(opened.opRet), ...(listed.results[0] ?? []).map((e) => e.name)];
  };
  const fd = new Fd(root);
  const created = await g.call('create', makeLoc('/filename', { parent: root }), fsConstants.O_CREAT | fsConstants.O_WRONLY, 0o644, 0o22, fd, null);
  out.push(['create', created.opRet, created.opErrno, created.results[2]?.type, created.results[2]?.prot]);
  g.releaseFd(fd);
  out.push(['ls', await names()]);
  const looked = await g.call('lookup', makeLoc('/filename', { parent: root }), null);
  out.push(['lookup', looked.opRet, looked.opErrno, looked.results[1]?.size]);
  const removed = await g.call('unlink', makeLoc('/filename', { parent: root }), 0, null);
  out.push(['rm', removed.opRet, removed.opErrno]);
  out.push(['ls', await names()]);
  const gone = await g.call('lookup', makeLoc('/filename', { parent: root }), null);
  out.push(['lookup', gone.opRet, gone.opErrno]);
  return out;
}

test('examples - G3 helloworld over storage/memory gives the same results as memory alone', async () => {
  const plain = await build(MEM);
  const expected = await touchLsRm(plain);
  await plain.fini();
  assert.deepEqual(expected, [
    ['create', 0, 0, IA.IFREG, 0o644],
    ['ls', ['0', 'filename']],
    ['lookup', 0, 0, 0],
    ['rm', 0, 0],
    ['ls', ['0']],
    ['lookup', -1, errno.ENOENT],
  ]);
  const hello = await build(MEM + moduleVolume('hello', 'helloworld.js', 'mem'));
  const { value, lines } = await captureLog(() => touchLsRm(hello));
  await hello.fini();
  assert.deepEqual(value, expected);
  // Two lookups, each greeted on the way down and on the way back.
  assert.deepEqual(lines, ['JS xlator: Hello!', 'JS xlator: Hello again!', 'JS xlator: Hello!', 'JS xlator: Hello again!']);
});

// --- negative (N1–N7) ---

function iatt(gfid: string, type: Iatt['type'], prot: number): Iatt {
  return { gfid, ino: 9, dev: 1, type, prot, nlink: 1, uid: 0, gid: 0, rdev: 0, size: 0, blksize: 4096, blocks: 0, atime: 0, atimeNsec: 0, mtime: 0, mtimeNsec: 0, ctime: 0, ctimeNsec: 0 };
}

/** The child of the N scenarios: lookups answer `lookupErrno` (0 = success); create and mkdir succeed. Counts calls. */
class ScriptedChild extends Translator {
  calls = { lookup: 0, create: 0, mkdir: 0 };
  lookupErrno: number = errno.ENOENT;
  readonly fooInode = new Inode(randomGfid(), IA.IFREG);
  readonly fooIatt = iatt(this.fooInode.gfid, IA.IFREG, 0o644);
  readonly parentIatt = iatt(P, IA.IFDIR, 0o755);

  lookupFop(frame: Frame): void {
    this.calls.lookup++;
    if (this.lookupErrno !== 0) return this.unwindLookup(frame, -1, this.lookupErrno, null, null, null, null);
    this.unwindLookup(frame, 0, 0, this.fooInode, this.fooIatt, null, this.parentIatt);
  }

  createFop(frame: Frame, _loc: Loc, _flags: number, _mode: number, _umask: number, fd: Fd): void {
    this.calls.create++;
    this.lookupErrno = 0;
    this.unwindCreate(frame, 0, 0, fd, this.fooInode, this.fooIatt, this.parentIatt, this.parentIatt, null);
  }

  mkdirFop(frame: Frame): void {
    this.calls.mkdir++;
    this.lookupErrno = 0;
    this.unwindMkdir(frame, 0, 0, this.fooInode, iatt(this.fooInode.gfid, IA.IFDIR, 0o755), this.parentIatt, this.parentIatt, null);
  }
}
registerTranslator('test/scripted-child', ScriptedChild as unknown as Parameters<typeof registerTranslator>[1]);

const negativeModule = (async () => (await import(pathToFileURL(join(await examplesDir, 'negative.js')).href)) as { cache: Map<string, Set<string>> })();

async function negativeGraph(): Promise<{ g: Graph; child: ScriptedChild }> {
  const g = await build('volume child\n  type test/scripted-child\nend-volume\n' + moduleVolume('neg', 'negative.js', 'child'));
  return { g, child: g.translators.get('child') as ScriptedChild };
}

const fooLoc = (): Loc => makeLoc('/foo', { pargfid: P, name: 'foo' });
const lookupFoo = (g: Graph) => within(g.call('lookup', fooLoc(), null), 5000, 'lookup(P, foo)');
const graphs: Graph[] = [];
after(async () => {
  for (const g of graphs) await g.fini();
});

beforeEach(async () => {
  (await negativeModule).cache.clear();
});

async function n1(): Promise<{ g: Graph; child: ScriptedChild }> {
  const made = await negativeGraph();
  graphs.push(made.g);
  const r = await lookupFoo(made.g);
  assert.deepEqual([r.opRet, r.opErrno], [-1, 2]);
  assert.equal(made.child.calls.lookup, 1);
  return made;
}

test('examples - N1 negative: a lookup the child answers ENOENT is cached under the parent gfid', async () => {
  await n1();
  assert.deepEqual((await negativeModule).cache.get(P), new Set(['foo']));
});

test('examples - N2 negative: the repeated lookup short-circuits with ENOENT and null results', async () => {
  const { g, child } = await n1();
  assert.deepEqual(await lookupFoo(g), { opRet: -1, opErrno: 2, results: [null, null, null, null] });
  assert.equal(child.calls.lookup, 1);
});

test('examples - N3 and N4 negative: a successful create invalidates, and the next lookup is wound and succeeds', async () => {
  const { g, child } = await n1();
  const fd = new Fd(g.inodes.root);
  const created = await g.call('create', fooLoc(), fsConstants.O_CREAT, 0o644, 0, fd, null);
  assert.deepEqual(created, { opRet: 0, opErrno: 0, results: [fd, child.fooInode, child.fooIatt, child.parentIatt, child.parentIatt, null] });
  assert.equal((await negativeModule).cache.get(P)?.has('foo'), false);
  const found = await lookupFoo(g);
  assert.deepEqual(found, { opRet: 0, opErrno: 0, results: [child.fooInode, child.fooIatt, null, child.parentIatt] });
  assert.equal(child.calls.lookup, 2);
});

test('examples - N5 negative: EACCES is not cached; the next lookup is wound again', async () => {
  const { g, child } = await negativeGraph();
  graphs.push(g);
  child.lookupErrno = errno.EACCES;
  assert.deepEqual(await lookupFoo(g), { opRet: -1, opErrno: 13, results: [null, null, null, null] });
  assert.equal((await negativeModule).cache.get(P), undefined);
  assert.deepEqual([(await lookupFoo(g)).opErrno, child.calls.lookup], [13, 2]);
});

test('examples - N6 negative (faithful): mkdir does not invalidate, so the lookup still short-circuits to ENOENT', async () => {
  const { g, child } = await n1();
  const made = await g.call('mkdir', fooLoc(), 0o755, 0, null);
  assert.equal(made.opRet, 0);
  assert.equal(child.calls.mkdir, 1);
  assert.deepEqual(await lookupFoo(g), { opRet: -1, opErrno: 2, results: [null, null, null, null] });
  assert.equal(child.calls.lookup, 1);
});

test('examples - N7 negative (faithful): two instances of the module share one cache', async () => {
  const a = await n1();
  const b = await negativeGraph();
  graphs.push(b.g);
  assert.notEqual(a.g.top, b.g.top);
  assert.equal(a.g.top.constructor, b.g.top.constructor);
  assert.deepEqual(await lookupFoo(b.g), { opRet: -1, opErrno: 2, results: [null, null, null, null] });
  assert.equal(b.child.calls.lookup, 0);
});

test('examples - negative: a nameless lookup bypasses the cache', async () => {
  const { g, child } = await negativeGraph();
  graphs.push(g);
  for (let i = 0; i < 2; i++) await within(g.call('lookup', makeLoc('', { gfid: randomGfid() }), null), 5000, 'nameless lookup');
  assert.equal(child.calls.lookup, 2);
  assert.equal((await negativeModule).cache.size, 0);
});

// --- debug-trace ---

test('examples - debug-trace prints the same lines as debug/trace for its six fops', async () => {
  const log = join(tmp.path, 'trace.log');
  const text = MEM + `volume trace\n  type debug/trace\n  option log-file ${log}\n  subvolumes mem\nend-volume\n` + moduleVolume('dt', 'debug-trace.js', 'trace');
  const g = await build(text);
  const root = g.inodes.root;
  const at = (path: string): Loc => makeLoc(path, { parent: root });
  const { lines } = await captureLog(async () => {
    assert.equal((await g.call('lookup', at('/f'), null)).opErrno, errno.ENOENT);
    const fd = new Fd(root);
    const created = await g.call('create', at('/f'), fsConstants.O_CREAT | fsConstants.O_RDWR, 0o644, 0o22, fd, null);
    assert.equal(created.opRet, 0);
    fd.inode = created.results[1] as Inode;
    assert.equal((await g.call('writev', fd, Buffer.from('hello'), 0, 0, null)).opRet, 5);
    assert.equal((await g.call('readv', fd, 4096, 0, 0, null)).opRet, 5);
    g.releaseFd(fd);
    assert.equal((await g.call('mkdir', at('/d'), 0o755, 0o22, null)).opRet, 0);
    assert.equal((await g.call('mkdir', at('/d'), 0o755, 0o22, null)).opErrno, errno.EEXIST);
    assert.equal((await g.call('lookup', at('/f'), { why: 'test' })).opRet, 0);
    assert.equal((await g.call('lookup', makeLoc('/'), null)).opRet, 0);
    assert.equal((await g.call('unlink', at('/f'), 0, null)).opRet, 0);
    assert.equal((await g.call('unlink', at('/f'), 0, null)).opErrno, errno.ENOENT);
    await g.call('stat', makeLoc('/'), null);
  });
  await g.fini();
  const traced = (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '' && !l.startsWith('GLUPY TRACE STAT '));
  assert.equal(lines.length, 20);
  assert.deepEqual(lines, traced);
  assert.match(lines[1] ?? '', /^GLUPY TRACE LOOKUP CBK - \d+: gfid=00000000-0000-0000-0000-000000000000; op_ret=-1; op_errno=2$/);
  assert.match(lines[3] ?? '', /^GLUPY TRACE CREATE CBK- \d+: gfid=[0-9a-f-]{36}; op_ret=0; fd=\d+; \*buf=\(gfid=[0-9a-f-]{36}, ino=\d+, mode=100644, nlink=1, uid =0, gid =0, size=0, /);
  assert.match(lines[4] ?? '', /^GLUPY TRACE WRITEV FOP- \d+: gfid=[0-9a-f-]{36}; fd=\d+; size=5; offset=0; flags=00$/);
  assert.match(lines[12] ?? '', /^GLUPY TRACE LOOKUP FOP- \d+: gfid=0{8}-0{4}-0{4}-0{4}-0{12}; path=\/f; xdata=\{why\}$/);
});

test('examples - each example is no longer than its glupy original', async () => {
  const original = { 'helloworld.js': 21, 'negative.js': 93, 'debug-trace.js': 777 };
  for (const [name, max] of Object.entries(original)) {
    const n = (await readFile(join(EXAMPLES, name), 'utf8')).split('\n').length - 1;
    assert.ok(n <= max, `${name} has ${n} lines; glupy's has ${max}`);
  }
});

// The debug translators: debug/trace (glupy's GLUPY TRACE lines, grid.md D1), debug/error-gen,
// debug/delay-gen and debug/io-stats, over storage/memory.
process.env['TZ'] = 'UTC';

import assert from 'node:assert/strict';
import { constants as fsConstants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { TranslatorError } from '../../src/errors.ts';
import { CallRoot, Frame } from '../../src/translator/frame.ts';
import { FOP_NAMES, FOPS, type FopArgs, type FopName, type FopReply, type FopResults, type Kind } from '../../src/translator/fops.ts';
import { graphFromText, type Graph } from '../../src/translator/graph.ts';
import { Fd, IA, Inode, makeLoc, ROOT_GFID, type Iatt } from '../../src/translator/model.ts';
import { fopIndex, invoke, Translator } from '../../src/translator/translator.ts';
import { DelayGen } from '../../src/translator/types/delay-gen.ts';
import { ErrorGen } from '../../src/translator/types/error-gen.ts';
import { IoStats } from '../../src/translator/types/io-stats.ts';
import { formatIatt, Trace } from '../../src/translator/types/trace.ts';
import { silentLogger } from '../../src/util/log.ts';
import { tempDir, within } from '../helpers/index.ts';

const dir = tempDir('switchyard-debug-');
after(() => dir.remove());
let logs = 0;
const newLog = (): string => join(dir.path, `trace-${++logs}.log`);

const G = '6b0e8c2f-3a4d-4e5f-8a9b-0c1d2e3f4a5b';
const MEM = 'volume mem\n  type storage/memory\nend-volume\n';

function volume(name: string, type: string, options: Record<string, string>, child: string): string {
  const opts = Object.entries(options)
    .map(([k, v]) => `  option ${k} ${v}\n`)
    .join('');
  return `volume ${name}\n  type ${type}\n${opts}  subvolumes ${child}\nend-volume\n`;
}

function build(text: string): Promise<Graph> {
  return graphFromText(text, { logger: silentLogger(), frameTimeout: 10_000 });
}

/** Runs `fop` through the graph as request number `unique` (D1 pins `frame.root.unique` = 7). */
function callWithUnique<F extends FopName>(graph: Graph, unique: number, fop: F, ...args: FopArgs<F>): Promise<FopReply<F>> {
  return within(
    new Promise((resolve) => {
      const i = fopIndex(fop);
      const root = new CallRoot(
        fop,
        (opRet, opErrno, r0, r1, r2, r3, r4, r5) => resolve({ opRet, opErrno, results: [r0, r1, r2, r3, r4, r5].slice(0, FOPS[fop].results.length) as FopResults<F> }),
        undefined,
        Infinity,
      );
      Object.defineProperty(root, 'unique', { value: unique });
      const handler = graph.top._dispatch[i] as Translator;
      const a = args as unknown[];
      invoke(handler, new Frame(root, null, handler, i, null), i, a[0], a[1], a[2], a[3], a[4], a[5]);
    }),
    5000,
    `${fop} reply`,
  );
}

/** `[Mon DD HH:MM:SS]` in UTC, made independently of the translator's formatter. */
function utcStamp(seconds: number): string {
  const p = new Date(seconds * 1000).toUTCString().split(' '); // "Tue, 08 Dec 2026 01:48:41 GMT"
  return `[${p[2]} ${p[1]} ${p[4]}]`;
}

function statText(b: Iatt, mode: string): string {
  return `(gfid=${b.gfid}, ino=${b.ino}, mode=${mode}, nlink=${b.nlink}, uid =${b.uid}, gid =${b.gid}, size=${b.size}, blocks=${b.blocks}, atime=${utcStamp(b.atime)}, mtime=${utcStamp(b.mtime)}, ctime=${utcStamp(b.ctime)})`;
}

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
}

const CREATE_FLAGS = fsConstants.O_CREAT | fsConstants.O_RDWR;

test('trace - D1 lookup: the fop line, the success line and the ENOENT line are glupy\'s', async () => {
  const log = newLog();
  const g = await build(MEM + volume('trace', 'debug/trace', { 'log-file': log }, 'mem'));
  const root = g.inodes.root;
  const made = await g.call('create', makeLoc('/a', { parent: root }), CREATE_FLAGS, 0o644, 0, new Fd(root), null);
  assert.equal(made.opRet, 0);
  const ok = await callWithUnique(g, 7, 'lookup', makeLoc('/a', { gfid: G, parent: root }), null);
  assert.equal(ok.opRet, 0);
  const buf = ok.results[1] as Iatt;
  const postparent = ok.results[3] as Iatt;
  assert.equal((await g.call('unlink', makeLoc('/a', { parent: root }), 0, null)).opRet, 0);
  const missing = await callWithUnique(g, 7, 'lookup', makeLoc('/a', { gfid: G, parent: root }), null);
  assert.deepEqual([missing.opRet, missing.opErrno], [-1, 2]);
  await g.fini();

  const seven = (await lines(log)).filter((l) => l.includes(' 7: '));
  assert.deepEqual(seven, [
    `GLUPY TRACE LOOKUP FOP- 7: gfid=${G}; path=/a`,
    `GLUPY TRACE LOOKUP CBK- 7: gfid=${buf.gfid}; op_ret=0; *buf=${statText(buf, '100644')}; *postparent=${statText(postparent, '40755')}`,
    `GLUPY TRACE LOOKUP FOP- 7: gfid=${G}; path=/a`,
    `GLUPY TRACE LOOKUP CBK - 7: gfid=${G}; op_ret=-1; op_errno=2`,
  ]);
  assert.ok(seven[1]?.startsWith(`GLUPY TRACE LOOKUP CBK- 7: gfid=${buf.gfid}; op_ret=0; *buf=(gfid=`));
});

test('trace - the stat formatter builds st_mode from the type and the suid/sgid/sticky and rwx bits', () => {
  const base: Iatt = {
    gfid: G, ino: 42, dev: 1, type: IA.IFREG, prot: 0o4755, nlink: 3, uid: 1000, gid: 100, rdev: 0, size: 5000, blksize: 4096, blocks: 16,
    atime: 0, atimeNsec: 0, mtime: 86_400 * 40 + 3661, mtimeNsec: 0, ctime: 1_700_000_000, ctimeNsec: 0,
  };
  assert.equal(
    formatIatt(base),
    `(gfid=${G}, ino=42, mode=104755, nlink=3, uid =1000, gid =100, size=5000, blocks=16, atime=[Jan 01 00:00:00], mtime=[Feb 10 01:01:01], ctime=[Nov 14 22:13:20])`,
  );
  assert.match(formatIatt({ ...base, type: IA.IFDIR, prot: 0o1777 }), /mode=41777,/);
  assert.match(formatIatt({ ...base, type: IA.IFLNK, prot: 0o777 }), /mode=120777,/);
});

/** A leaf with no hooks: every fop is answered (-1, ENOSYS) by the core. */
class Nothing extends Translator {}

function sampleArg(kind: Kind, name: string, fileInode: Inode): unknown {
  switch (kind) {
    case 'loc':
      return makeLoc(name === 'newloc' ? '/new' : '/x', { gfid: name === 'newloc' ? null : G, pargfid: ROOT_GFID });
    case 'fd':
      return new Fd(fileInode);
    case 'int':
      return name === 'mode' ? 0o644 : name === 'umask' ? 0o22 : 7;
    case 'str':
      return 'user.s';
    case 'data':
      return Buffer.from('hello');
    case 'iatt':
      return null;
    case 'xattrs':
      return { 'user.a': Buffer.from('1'), 'user.b': Buffer.from('2') };
    case 'entries':
      return [];
    default:
      return null;
  }
}

test('trace - every fop of the table gets a FOP- and a CBK- line, from real prototype methods', async () => {
  for (const f of FOP_NAMES) {
    assert.equal(typeof Object.getOwnPropertyDescriptor(Trace.prototype, `${f}Fop`)?.value, 'function', `${f}Fop`);
    assert.equal(typeof Object.getOwnPropertyDescriptor(Trace.prototype, `${f}Cbk`)?.value, 'function', `${f}Cbk`);
  }
  const log = newLog();
  const leaf = new Nothing({ name: 'leaf', type: 'test/nothing' });
  const trace = new Trace({ name: 'trace', type: 'debug/trace', options: { 'log-file': log }, children: [leaf] });
  const { Graph } = await import('../../src/translator/graph.ts');
  const g = new Graph(trace, { logger: silentLogger() });
  await g.init();
  const fileInode = new Inode('11111111-2222-4333-8444-555555555555', IA.IFREG);
  const uniques = new Map<FopName, number>();
  for (const f of FOP_NAMES) {
    const args = FOPS[f].args.map(([name, kind]) => sampleArg(kind, name, fileInode));
    const u = 1000 + fopIndex(f);
    uniques.set(f, u);
    const r = await callWithUnique(g, u, f, ...(args as FopArgs<typeof f>));
    assert.deepEqual([r.opRet, r.opErrno], [-1, 38], f);
  }
  await g.fini();
  const all = await lines(log);
  assert.equal(all.length, FOP_NAMES.length * 2);
  for (const f of FOP_NAMES) {
    const u = uniques.get(f) as number;
    const mine = all.filter((l) => l.includes(` ${u}: `));
    assert.equal(mine.length, 2, f);
    assert.ok(mine[0]?.startsWith(`GLUPY TRACE ${f.toUpperCase()} FOP- ${u}: `), mine[0]);
    const sep = f === 'lookup' ? 'CBK -' : 'CBK-';
    const gfid = FOPS[f].args.some(([, k]) => k === 'loc') ? G : fileInode.gfid;
    assert.equal(mine[1], `GLUPY TRACE ${f.toUpperCase()} ${sep} ${u}: gfid=${gfid}; op_ret=-1; op_errno=38`);
  }
  const line = (f: FopName): string => all.find((l) => l.startsWith(`GLUPY TRACE ${f.toUpperCase()} FOP- `)) ?? '';
  const u = (f: FopName): number => uniques.get(f) as number;
  assert.equal(line('rename'), `GLUPY TRACE RENAME FOP- ${u('rename')}: oldgfid=${G}; oldpath=/x; newgfid=00000000-0000-0000-0000-000000000000; newpath=/new`);
  assert.match(line('create'), new RegExp(`^GLUPY TRACE CREATE FOP- ${u('create')}: gfid=${G}; path=/x; flags=07; mode=0644; umask=022; fd=\\d+$`));
  assert.match(line('writev'), new RegExp(`^GLUPY TRACE WRITEV FOP- ${u('writev')}: gfid=${fileInode.gfid}; fd=\\d+; size=5; offset=7; flags=07$`));
  assert.equal(line('setxattr'), `GLUPY TRACE SETXATTR FOP- ${u('setxattr')}: gfid=${G}; path=/x; dict={user.a,user.b}; flags=07`);
  assert.equal(line('symlink'), `GLUPY TRACE SYMLINK FOP- ${u('symlink')}: linkname=user.s; gfid=${G}; path=/x; umask=022`);
});

test('trace - include and exclude choose the fops; the others pass at no cost; unknown names fail init', async () => {
  const log = newLog();
  const g = await build(MEM + volume('trace', 'debug/trace', { 'log-file': log, include: '"lookup, stat,statfs"', exclude: 'statfs' }, 'mem'));
  const trace = g.translators.get('trace') as Trace;
  const mem = g.translators.get('mem') as Translator;
  assert.deepEqual([...trace.tracedFops].sort(), ['lookup', 'stat']);
  assert.equal(g.top._dispatch[fopIndex('lookup')], trace);
  assert.equal(g.top._dispatch[fopIndex('statfs')], mem);
  assert.equal(g.top._dispatch[fopIndex('create')], mem);
  await g.call('lookup', makeLoc('/'), null);
  await g.call('stat', makeLoc('/'), null);
  await g.call('statfs', makeLoc('/'), null);
  await g.call('access', makeLoc('/'), 0, null);
  // reconfigure changes the traced fops live, without rebuilding the graph.
  await trace.reconfigure({ 'log-file': log, include: 'access' });
  assert.equal(g.top._dispatch[fopIndex('lookup')], mem);
  assert.equal(g.top._dispatch[fopIndex('access')], trace);
  await g.call('lookup', makeLoc('/'), null);
  await g.call('access', makeLoc('/'), 0, null);
  await g.fini();
  const labels = (await lines(log)).map((l) => l.split(' ').slice(2, 4).join(' '));
  assert.deepEqual(labels, ['LOOKUP FOP-', 'LOOKUP CBK-', 'STAT FOP-', 'STAT CBK-', 'ACCESS FOP-', 'ACCESS CBK-']);

  await assert.rejects(build(MEM + volume('trace', 'debug/trace', { 'log-file': newLog(), exclude: 'lookup,bogus' }, 'mem')), (err: unknown) => {
    assert.ok(err instanceof TranslatorError);
    assert.match(err.message, /option 'exclude' names the unknown fop 'bogus'/);
    return true;
  });
});

test('trace - a sink that falls behind drops lines, counts them and says so once it drains', async () => {
  const log = newLog();
  const g = await build(MEM + volume('trace', 'debug/trace', { 'log-file': log, 'log-buffer-size': '1KB' }, 'mem'));
  const trace = g.translators.get('trace') as Trace;
  let replies = 0;
  const N = 500;
  for (let i = 0; i < N; i++) g.wind('lookup', [makeLoc('/'), null], () => replies++);
  assert.equal(replies, N);
  const dropped = trace.droppedLines;
  assert.ok(dropped > 0 && dropped < 2 * N, `dropped ${dropped}`);
  const deadline = Date.now() + 5000;
  while (!(await readFile(log, 'utf8')).includes('GLUPY TRACE DROPPED')) {
    assert.ok(Date.now() < deadline, 'the DROPPED line never came');
    await new Promise((r) => setTimeout(r, 10));
  }
  await g.fini();
  const all = await lines(log);
  const notes = all.filter((l) => l.startsWith('GLUPY TRACE DROPPED'));
  assert.deepEqual(notes, [`GLUPY TRACE DROPPED ${dropped} lines (log sink too slow)`]);
  assert.equal(all.length - notes.length + dropped, 2 * N);
});

test('trace - a log-file that cannot be opened fails init', async () => {
  await assert.rejects(build(MEM + volume('trace', 'debug/trace', { 'log-file': join(dir.path, 'no', 'such', 'dir.log') }, 'mem')), /initialisation failed: ENOENT/);
});

// --- error-gen ---

async function lookupErrnos(g: Graph, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await g.call('lookup', makeLoc('/'), null)).opErrno);
  return out;
}

/** A leaf that counts the fops it receives and answers lookup/stat with success. */
class CountingLeaf extends Translator {
  calls = new Map<FopName, number>();
  private bump(f: FopName): void {
    this.calls.set(f, (this.calls.get(f) ?? 0) + 1);
  }
  lookupFop(frame: Frame): void {
    this.bump('lookup');
    this.unwindLookup(frame, 0, 0, this.graph.inodes.root, null, null, null);
  }
  statFop(frame: Frame): void {
    this.bump('stat');
    this.unwindStat(frame, 0, 0, null, null);
  }
}

async function overCounting(type: string, options: Record<string, string>): Promise<{ g: Graph; leaf: CountingLeaf }> {
  const leaf = new CountingLeaf({ name: 'leaf', type: 'test/counting' });
  const { loadTranslatorClass } = await import('../../src/translator/registry.ts');
  const cls = (await loadTranslatorClass(type)) as unknown as new (init: ConstructorParameters<typeof Nothing>[0]) => Translator;
  const top = new cls({ name: 'top', type, options, children: [leaf] });
  const { Graph } = await import('../../src/translator/graph.ts');
  const g = new Graph(top, { logger: silentLogger(), frameTimeout: 10_000 });
  await g.init();
  return { g, leaf };
}

test('error-gen - the same seed fails the same fops with errnos plausible for lookup', async () => {
  const run = async (seed: string): Promise<number[]> => {
    const g = await build(MEM + volume('eg', 'debug/error-gen', { failure: '50', seed }, 'mem'));
    try {
      return await lookupErrnos(g, 200);
    } finally {
      await g.fini();
    }
  };
  const a = await run('42');
  assert.deepEqual(await run('42'), a);
  assert.notDeepEqual(await run('43'), a);
  const failed = a.filter((e) => e !== 0);
  assert.ok(failed.length > 60 && failed.length < 140, `${failed.length} of 200 failed at 50%`);
  const plausible = new Set([2, 20, 36, 11]); // ENOENT, ENOTDIR, ENAMETOOLONG, EAGAIN
  for (const e of failed) assert.ok(plausible.has(e), `errno ${e}`);
});

test('error-gen - error-fops alone fails exactly those fops, short-circuited without winding', async () => {
  const { g, leaf } = await overCounting('debug/error-gen', { 'error-fops': 'lookup', 'error-no': 'EACCES' });
  try {
    for (let i = 0; i < 5; i++) assert.deepEqual(await g.call('lookup', makeLoc('/'), null), { opRet: -1, opErrno: 13, results: [null, null, null, null] });
    assert.equal((await g.call('stat', makeLoc('/'), null)).opRet, 0);
    assert.equal(leaf.calls.get('lookup'), undefined);
    assert.equal(leaf.calls.get('stat'), 1);
    assert.equal((g.top as ErrorGen).failures, 5);
    assert.equal(g.top._dispatch[fopIndex('stat')], leaf);
  } finally {
    await g.fini();
  }
});

test('error-gen - error-no takes a number; random-failure fails every Nth fop with N in 3..44', async () => {
  const g = await build(MEM + volume('eg', 'debug/error-gen', { 'random-failure': 'on', 'error-no': '5', seed: '7' }, 'mem'));
  try {
    const errs = await lookupErrnos(g, 400);
    const at = errs.flatMap((e, i) => (e === 0 ? [] : [i]));
    assert.ok(at.length >= 400 / 44 - 1, `${at.length} failures`);
    for (const e of errs) assert.ok(e === 0 || e === 5);
    let prev = -1;
    for (const i of at) {
      assert.ok(i - prev >= 3 && i - prev <= 44, `gap ${i - prev}`);
      prev = i;
    }
  } finally {
    await g.fini();
  }
});

test('error-gen - an unknown errno or fop name fails init; no failure set means nothing fails', async () => {
  await assert.rejects(build(MEM + volume('eg', 'debug/error-gen', { 'error-no': 'ENOPE' }, 'mem')), /option 'error-no' has the invalid value 'ENOPE'/);
  await assert.rejects(build(MEM + volume('eg', 'debug/error-gen', { enable: 'lookup,frob' }, 'mem')), /unknown fop 'frob'/);
  const g = await build(MEM + volume('eg', 'debug/error-gen', {}, 'mem'));
  try {
    assert.deepEqual(await lookupErrnos(g, 50), new Array<number>(50).fill(0));
    assert.equal(g.top._dispatch[fopIndex('lookup')], g.translators.get('mem'));
  } finally {
    await g.fini();
  }
});

// --- delay-gen ---

test('delay-gen - a delayed fop reaches the child no earlier than delay-duration', async () => {
  const g = await build(MEM + volume('dg', 'debug/delay-gen', { 'delay-percentage': '100', 'delay-duration': '30000' }, 'mem'));
  try {
    let sync = false;
    const t0 = performance.now();
    const done = new Promise<number>((resolve) => {
      g.wind('lookup', [makeLoc('/'), null], (opRet) => {
        sync = true;
        resolve(opRet);
      });
    });
    const wasSync = sync;
    assert.equal(await within(done, 5000, 'the delayed lookup'), 0);
    const ms = performance.now() - t0;
    assert.equal(wasSync, false);
    assert.ok(ms >= 30 && ms < 2000, `took ${ms} ms`);
    assert.equal((g.top as DelayGen).delayed, 1);
  } finally {
    await g.fini();
  }
});

test('delay-gen - fops not enabled (or at 0%) pass at once', async () => {
  const g = await build(MEM + volume('dg', 'debug/delay-gen', { 'delay-percentage': '100', 'delay-duration': '30000', enable: 'stat' }, 'mem'));
  try {
    let sync = false;
    g.wind('lookup', [makeLoc('/'), null], () => {
      sync = true;
    });
    assert.equal(sync, true);
  } finally {
    await g.fini();
  }
  const off = await build(MEM + volume('dg', 'debug/delay-gen', { 'delay-percentage': '0' }, 'mem'));
  try {
    assert.equal(off.top._dispatch[fopIndex('lookup')], off.translators.get('mem'));
  } finally {
    await off.fini();
  }
  await assert.rejects(build(MEM + volume('dg', 'debug/delay-gen', { enable: 'lookup,nope' }, 'mem')), /unknown fop 'nope'/);
});

// --- io-stats ---

test('io-stats - counts exactly N lookups and their errors, and reset forgets them', async () => {
  const g = await build(MEM + volume('ios', 'debug/io-stats', {}, 'mem'));
  try {
    for (let i = 0; i < 7; i++) await g.call('lookup', makeLoc('/'), null);
    for (let i = 0; i < 3; i++) await g.call('lookup', makeLoc('/missing'), null);
    const ios = g.top as IoStats;
    const s = ios.stats();
    assert.deepEqual(Object.keys(s), ['lookup']);
    assert.equal(s['lookup']?.count, 10);
    assert.equal(s['lookup']?.errors, 3);
    ios.reset();
    assert.deepEqual(ios.stats(), {});
  } finally {
    await g.fini();
  }
});

test('io-stats - the latency of a delay-gen child is at least its delay', async () => {
  const g = await build(MEM + volume('dg', 'debug/delay-gen', { 'delay-percentage': '100', 'delay-duration': '20000' }, 'mem') + volume('ios', 'debug/io-stats', {}, 'dg'));
  try {
    for (let i = 0; i < 3; i++) await within(g.call('lookup', makeLoc('/'), null), 5000, 'lookup');
    const s = (g.top as IoStats).stats()['lookup'];
    assert.ok(s);
    assert.equal(s.count, 3);
    assert.ok(s.minUs >= 20_000, `min ${s.minUs} µs`);
    assert.ok(s.meanUs >= 20_000 && s.p50Us >= 20_000 && s.p99Us >= s.p50Us && s.maxUs >= s.p99Us, JSON.stringify(s));
    assert.ok(s.maxUs < 2_000_000, `max ${s.maxUs} µs`);
  } finally {
    await g.fini();
  }
});

test('io-stats - percentiles come from the bounded histogram within 12.5%', () => {
  const ios = new IoStats({ name: 'ios', type: 'debug/io-stats' });
  for (let us = 1; us <= 1000; us++) ios._record(fopIndex('stat'), us % 100 === 0, us);
  const s = ios.stats()['stat'];
  assert.ok(s);
  assert.deepEqual([s.count, s.errors, s.minUs, s.maxUs, s.meanUs], [1000, 10, 1, 1000, 501]);
  for (const [got, want] of [[s.p50Us, 500], [s.p90Us, 900], [s.p99Us, 990]] as const) assert.ok(got >= want && got <= want * 1.125, `${got} for ${want}`);
});

test('io-stats - ios-dump-interval writes JSON lines to log-file', async () => {
  const log = newLog();
  const g = await build(MEM + volume('ios', 'debug/io-stats', { 'ios-dump-interval': '0.05', 'log-file': log }, 'mem'));
  try {
    await g.call('lookup', makeLoc('/'), null);
    await g.call('lookup', makeLoc('/'), null);
    const deadline = Date.now() + 5000;
    for (;;) {
      const text = await readFile(log, 'utf8').catch(() => '');
      const first = text.split('\n')[0];
      if (first) {
        const parsed = JSON.parse(first) as { translator: string; stats: Record<string, { count: number }> };
        assert.equal(parsed.translator, 'ios');
        assert.equal(parsed.stats['lookup']?.count, 2);
        break;
      }
      assert.ok(Date.now() < deadline, 'no dump within 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await g.fini();
  }
});

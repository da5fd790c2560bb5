/**
 * The contract every leaf translator keeps (storage/memory, storage/posix, and protocol/client over
 * a brick): one test per behaviour with exact results and errnos, through a Graph whose top is the
 * leaf. A leaf's test file calls {@link runLeafContract} with a factory for a fresh, initialised
 * graph over an empty volume.
 */
import assert from 'node:assert/strict';
import { constants as fsc } from 'node:fs';
import { test } from 'node:test';
import type { FopArgs, FopName, FopResults } from '../../src/translator/fops.ts';
import type { Graph } from '../../src/translator/graph.ts';
import { Fd, IA, ROOT_GFID, SETATTR, errno, errnoName, makeLoc, randomGfid, type DirEntry, type Gfid, type Iatt } from '../../src/translator/model.ts';

/** A fresh leaf graph over an empty volume, and how to tear it down. */
export interface LeafGraph {
  graph: Graph;
  cleanup: () => Promise<void>;
}

const TEST_TIMEOUT = 30_000;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/** Runs `fop` and asserts it succeeded; returns its results. */
async function ok<F extends FopName>(g: Graph, fop: F, ...args: FopArgs<F>): Promise<{ opRet: number; results: FopResults<F> }> {
  const r = await g.call(fop, ...args);
  assert.ok(r.opRet >= 0, `${fop} failed with ${errnoName(r.opErrno)}`);
  return { opRet: r.opRet, results: r.results };
}

/** Runs `fop` and asserts it failed with `expected`. */
async function fails<F extends FopName>(g: Graph, expected: number, fop: F, ...args: FopArgs<F>): Promise<void> {
  const r = await g.call(fop, ...args);
  assert.equal(r.opRet, -1, `${fop} succeeded (opRet ${r.opRet}) where ${errnoName(expected)} was expected`);
  assert.equal(errnoName(r.opErrno), errnoName(expected), `${fop} errno`);
}

const loc = (path: string) => makeLoc(path);

async function lookup(g: Graph, path: string): Promise<Iatt> {
  const { results } = await ok(g, 'lookup', loc(path), null);
  const buf = results[1];
  assert.ok(buf);
  return buf;
}

async function mkdir(g: Graph, path: string, mode = 0o755): Promise<Iatt> {
  const { results } = await ok(g, 'mkdir', loc(path), mode, 0, null);
  assert.ok(results[1]);
  return results[1];
}

/** Creates `path` (O_RDWR), writes `content`, closes it; returns the gfid create answered. */
async function createFile(g: Graph, path: string, content: string | Buffer = '', mode = 0o644): Promise<Gfid> {
  const fd = new Fd(g.inodes.root);
  const { results } = await ok(g, 'create', loc(path), fsc.O_RDWR | fsc.O_CREAT, mode, 0, fd, null);
  const inode = results[1];
  assert.ok(inode);
  fd.inode = inode;
  const data = Buffer.from(content);
  if (data.length > 0) {
    const w = await ok(g, 'writev', fd, data, 0, 0, null);
    assert.equal(w.opRet, data.length);
  }
  g.releaseFd(fd);
  return inode.gfid;
}

async function openFile(g: Graph, path: string, flags: number): Promise<Fd> {
  const st = await lookup(g, path);
  const fd = new Fd(g.inodes.link(st.gfid, st.type));
  await ok(g, 'open', loc(path), flags, fd, null);
  return fd;
}

async function readAll(g: Graph, path: string): Promise<Buffer> {
  const fd = await openFile(g, path, fsc.O_RDONLY);
  try {
    const { opRet, results } = await ok(g, 'readv', fd, 1 << 20, 0, 0, null);
    const data = results[0];
    assert.ok(data);
    assert.equal(opRet, data.length);
    return data;
  } finally {
    g.releaseFd(fd);
  }
}

async function openDir(g: Graph, path: string): Promise<Fd> {
  const st = await lookup(g, path);
  const fd = new Fd(g.inodes.link(st.gfid, st.type), true);
  await ok(g, 'opendir', loc(path), fd, null);
  return fd;
}

/** Every entry of a directory, read with `size`-byte pages. */
async function listAll(g: Graph, path: string, size: number, plus = false): Promise<{ entries: DirEntry[]; pages: DirEntry[][] }> {
  const fd = await openDir(g, path);
  const entries: DirEntry[] = [];
  const pages: DirEntry[][] = [];
  try {
    let offset = 0;
    for (let guard = 0; guard < 10_000; guard++) {
      const r = await ok(g, plus ? 'readdirp' : 'readdir', fd, size, offset, null);
      const page = r.results[0];
      assert.ok(page);
      assert.equal(r.opRet, page.length);
      if (page.length === 0) return { entries, pages };
      pages.push(page);
      entries.push(...page);
      offset = (page.at(-1) as DirEntry).offset;
    }
    assert.fail('readdir never reached the end');
  } finally {
    g.releaseFd(fd);
  }
}

const entryCost = (name: string): number => (24 + Buffer.byteLength(name) + 7) & ~7;

/** Names of contract tests a leaf may list in {@link LeafContractOptions.todo}. */
export const CONTRACT_TESTS = {
  releasedFd: 'fops on a released fd fail with EBADF',
  readdirWhileRemoving: 'readdir while entries are removed returns every remaining name exactly once',
} as const;

/** Options of {@link runLeafContract}. */
export interface LeafContractOptions {
  /**
   * Contract tests this leaf is known to fail, by name (see {@link CONTRACT_TESTS}), with the
   * reason: they run and report as TODO instead of failing the file.
   */
  todo?: Readonly<Record<string, string>>;
}

/**
 * Registers the leaf contract tests for `name`. `makeLeafGraph` returns a fresh initialised graph
 * whose top is the leaf (over an empty volume) and a cleanup that tears it down.
 */
export function runLeafContract(name: string, makeLeafGraph: () => Promise<LeafGraph>, options: LeafContractOptions = {}): void {
  const t = (what: string, body: (g: Graph) => Promise<void>): void => {
    const todo = options.todo?.[what];
    test(`leaf contract (${name}) - ${what}`, { timeout: TEST_TIMEOUT, ...(todo === undefined ? {} : { todo }) }, async () => {
      const { graph, cleanup } = await makeLeafGraph();
      try {
        await body(graph);
      } finally {
        await cleanup();
      }
    });
  };

  t('lookup of the root is a directory with the root gfid', async (g) => {
    const { results } = await ok(g, 'lookup', loc('/'), null);
    const [inode, buf] = results;
    assert.ok(inode && buf);
    assert.equal(buf.gfid, ROOT_GFID);
    assert.equal(buf.type, IA.IFDIR);
    assert.equal(inode.gfid, ROOT_GFID);
    assert.equal(inode, g.inodes.root);
  });

  t('lookup of a file gives its type, size, gfid (the one create gave) and its parent', async (g) => {
    const gfid = await createFile(g, '/a.txt', 'hello');
    const { results } = await ok(g, 'lookup', loc('/a.txt'), null);
    const [inode, buf, , postparent] = results;
    assert.ok(inode && buf && postparent);
    assert.equal(buf.type, IA.IFREG);
    assert.equal(buf.size, 5);
    assert.equal(buf.gfid, gfid);
    assert.equal(inode.gfid, gfid);
    assert.equal(buf.nlink, 1);
    assert.equal(postparent.type, IA.IFDIR);
    assert.equal(postparent.gfid, ROOT_GFID);
    assert.notEqual(gfid, ROOT_GFID);
  });

  t('lookup of a missing name is ENOENT; a file as a path component is ENOTDIR', async (g) => {
    await fails(g, errno.ENOENT, 'lookup', loc('/missing'), null);
    await fails(g, errno.ENOENT, 'lookup', loc('/missing/deeper'), null);
    await createFile(g, '/f');
    await fails(g, errno.ENOTDIR, 'lookup', loc('/f/x'), null);
    await fails(g, errno.ENOTDIR, 'mkdir', loc('/f/x'), 0o755, 0, null);
  });

  t('nameless lookup by gfid finds the file, also after a rename; an unknown gfid is ESTALE', async (g) => {
    const gfid = await createFile(g, '/n1', 'abc');
    const r1 = await ok(g, 'lookup', makeLoc('', { gfid }), null);
    assert.equal(r1.results[1]?.gfid, gfid);
    assert.equal(r1.results[1]?.size, 3);
    await ok(g, 'rename', loc('/n1'), loc('/n2'), null);
    const r2 = await ok(g, 'lookup', makeLoc('', { gfid }), null);
    assert.equal(r2.results[1]?.gfid, gfid);
    assert.equal(r2.results[1]?.type, IA.IFREG);
    await fails(g, errno.ESTALE, 'lookup', makeLoc('', { gfid: randomGfid() }), null);
  });

  t('stat and fstat agree with lookup', async (g) => {
    const gfid = await createFile(g, '/s', '12345678');
    const { results } = await ok(g, 'stat', loc('/s'), null);
    assert.equal(results[0]?.gfid, gfid);
    assert.equal(results[0]?.size, 8);
    assert.equal(results[0]?.type, IA.IFREG);
    const fd = await openFile(g, '/s', fsc.O_RDONLY);
    const f = await ok(g, 'fstat', fd, null);
    g.releaseFd(fd);
    assert.equal(f.results[0]?.gfid, gfid);
    assert.equal(f.results[0]?.size, 8);
    assert.equal(f.results[0]?.ino, results[0]?.ino);
    await fails(g, errno.ENOENT, 'stat', loc('/nope'), null);
  });

  t('statfs returns sane numbers', async (g) => {
    const { results } = await ok(g, 'statfs', loc('/'), null);
    const s = results[0];
    assert.ok(s);
    assert.ok(s.bsize > 0, 'bsize');
    assert.ok(s.frsize > 0, 'frsize');
    assert.ok(s.blocks > 0, 'blocks');
    assert.ok(s.bfree >= 0 && s.bfree <= s.blocks, 'bfree within blocks');
    assert.ok(s.bavail >= 0 && s.bavail <= s.bfree, 'bavail within bfree');
    assert.ok(s.files > 0 && s.ffree <= s.files, 'files');
    assert.equal(s.namemax, 255);
  });

  t('access of existing entries succeeds; of a missing one is ENOENT', async (g) => {
    await createFile(g, '/acc');
    await ok(g, 'access', loc('/'), fsc.F_OK, null);
    await ok(g, 'access', loc('/acc'), fsc.R_OK | fsc.W_OK, null);
    await fails(g, errno.ENOENT, 'access', loc('/none'), fsc.F_OK, null);
  });

  t('mknod makes a regular file with mode minus umask; EEXIST on an existing name', async (g) => {
    const { results } = await ok(g, 'mknod', loc('/node'), 0o100666, 0, 0o022, null);
    const [inode, buf, preparent, postparent] = results;
    assert.ok(inode && buf && preparent && postparent);
    assert.equal(buf.type, IA.IFREG);
    assert.equal(buf.prot, 0o644);
    assert.equal(buf.size, 0);
    assert.equal(inode.gfid, buf.gfid);
    assert.equal((await lookup(g, '/node')).gfid, buf.gfid);
    await fails(g, errno.EEXIST, 'mknod', loc('/node'), 0o100644, 0, 0, null);
  });

  t('mkdir makes a directory with mode minus umask; EEXIST on an existing name; ENOENT under a missing parent', async (g) => {
    const { results } = await ok(g, 'mkdir', loc('/d'), 0o777, 0o022, null);
    const [inode, buf, preparent, postparent] = results;
    assert.ok(inode && buf && preparent && postparent);
    assert.equal(buf.type, IA.IFDIR);
    assert.equal(buf.prot, 0o755);
    assert.equal(postparent.gfid, ROOT_GFID);
    assert.equal(postparent.nlink, preparent.nlink + 1);
    await fails(g, errno.EEXIST, 'mkdir', loc('/d'), 0o755, 0, null);
    await createFile(g, '/file');
    await fails(g, errno.EEXIST, 'mkdir', loc('/file'), 0o755, 0, null);
    await fails(g, errno.ENOENT, 'mkdir', loc('/nope/d'), 0o755, 0, null);
    await mkdir(g, '/d/e');
    assert.equal((await lookup(g, '/d/e')).type, IA.IFDIR);
  });

  t('unlink removes a file; ENOENT when missing, EISDIR on a directory', async (g) => {
    await createFile(g, '/u', 'x');
    const { results } = await ok(g, 'unlink', loc('/u'), 0, null);
    assert.equal(results[0]?.type, IA.IFDIR);
    assert.equal(results[1]?.type, IA.IFDIR);
    await fails(g, errno.ENOENT, 'lookup', loc('/u'), null);
    await fails(g, errno.ENOENT, 'unlink', loc('/u'), 0, null);
    await mkdir(g, '/dir');
    await fails(g, errno.EISDIR, 'unlink', loc('/dir'), 0, null);
  });

  t('rmdir: ENOTEMPTY on a non-empty directory, ENOTDIR on a file, then removes an empty one', async (g) => {
    await mkdir(g, '/r');
    await createFile(g, '/r/child');
    await fails(g, errno.ENOTEMPTY, 'rmdir', loc('/r'), 0, null);
    await fails(g, errno.ENOTDIR, 'rmdir', loc('/r/child'), 0, null);
    await fails(g, errno.ENOENT, 'rmdir', loc('/nothing'), 0, null);
    await ok(g, 'unlink', loc('/r/child'), 0, null);
    const { results } = await ok(g, 'rmdir', loc('/r'), 0, null);
    assert.equal(results[1]?.gfid, ROOT_GFID);
    assert.equal(results[1]?.nlink, (results[0]?.nlink ?? 0) - 1);
    await fails(g, errno.ENOENT, 'lookup', loc('/r'), null);
  });

  t('rename replaces a file, keeps the gfid and content, and the old name is gone', async (g) => {
    const gfid = await createFile(g, '/src', 'source');
    const victim = await createFile(g, '/dst', 'victim!');
    assert.notEqual(gfid, victim);
    const { results } = await ok(g, 'rename', loc('/src'), loc('/dst'), null);
    assert.equal(results[0]?.gfid, gfid);
    assert.equal(results[0]?.type, IA.IFREG);
    await fails(g, errno.ENOENT, 'lookup', loc('/src'), null);
    const st = await lookup(g, '/dst');
    assert.equal(st.gfid, gfid);
    assert.equal(st.size, 6);
    assert.equal((await readAll(g, '/dst')).toString(), 'source');
    await mkdir(g, '/sub');
    await ok(g, 'rename', loc('/dst'), loc('/sub/moved'), null);
    assert.equal((await lookup(g, '/sub/moved')).gfid, gfid);
    await fails(g, errno.ENOENT, 'rename', loc('/gone'), loc('/x'), null);
  });

  t('rename rules: EISDIR file over directory, ENOTDIR directory over file, ENOTEMPTY, EINVAL into itself', async (g) => {
    await createFile(g, '/file');
    await mkdir(g, '/dir');
    await mkdir(g, '/full');
    await createFile(g, '/full/x');
    await mkdir(g, '/empty');
    await fails(g, errno.EISDIR, 'rename', loc('/file'), loc('/dir'), null);
    await fails(g, errno.ENOTDIR, 'rename', loc('/dir'), loc('/file'), null);
    await fails(g, errno.ENOTEMPTY, 'rename', loc('/dir'), loc('/full'), null);
    await fails(g, errno.EINVAL, 'rename', loc('/dir'), loc('/dir/inside'), null);
    const dirGfid = (await lookup(g, '/dir')).gfid;
    await ok(g, 'rename', loc('/dir'), loc('/empty'), null);
    assert.equal((await lookup(g, '/empty')).gfid, dirGfid);
    await fails(g, errno.ENOENT, 'lookup', loc('/dir'), null);
    await ok(g, 'rename', loc('/full'), loc('/empty/full'), null);
    assert.equal((await lookup(g, '/empty/full/x')).type, IA.IFREG);
  });

  t('link: both names share the file; nlink counts up and down; EEXIST, EPERM on a directory', async (g) => {
    const gfid = await createFile(g, '/one', 'shared');
    const { results } = await ok(g, 'link', loc('/one'), loc('/two'), null);
    assert.equal(results[1]?.gfid, gfid);
    assert.equal(results[1]?.nlink, 2);
    assert.equal((await lookup(g, '/one')).nlink, 2);
    const two = await lookup(g, '/two');
    assert.equal(two.nlink, 2);
    assert.equal(two.gfid, gfid);
    assert.equal((await readAll(g, '/two')).toString(), 'shared');
    await fails(g, errno.EEXIST, 'link', loc('/one'), loc('/two'), null);
    await mkdir(g, '/d');
    await fails(g, errno.EPERM, 'link', loc('/d'), loc('/d2'), null);
    await ok(g, 'unlink', loc('/one'), 0, null);
    assert.equal((await lookup(g, '/two')).nlink, 1);
    assert.equal((await readAll(g, '/two')).toString(), 'shared');
  });

  t('symlink and readlink: the target comes back verbatim; readlink of a file is EINVAL', async (g) => {
    const { results } = await ok(g, 'symlink', 'some/where/else', loc('/ln'), 0, null);
    assert.equal(results[1]?.type, IA.IFLNK);
    const st = await lookup(g, '/ln');
    assert.equal(st.type, IA.IFLNK);
    assert.equal(st.size, Buffer.byteLength('some/where/else'));
    const r = await ok(g, 'readlink', loc('/ln'), 4096, null);
    assert.equal(r.results[0], 'some/where/else');
    assert.equal(r.results[1]?.type, IA.IFLNK);
    await fails(g, errno.EEXIST, 'symlink', 'x', loc('/ln'), 0, null);
    await createFile(g, '/plain');
    await fails(g, errno.EINVAL, 'readlink', loc('/plain'), 4096, null);
  });

  t('truncate and ftruncate set the size, shrinking and growing with zeros', async (g) => {
    await createFile(g, '/t', '0123456789');
    const r = await ok(g, 'truncate', loc('/t'), 4, null);
    assert.equal(r.results[0]?.size, 10);
    assert.equal(r.results[1]?.size, 4);
    assert.equal((await readAll(g, '/t')).toString(), '0123');
    const fd = await openFile(g, '/t', fsc.O_RDWR);
    const f = await ok(g, 'ftruncate', fd, 8, null);
    g.releaseFd(fd);
    assert.equal(f.results[0]?.size, 4);
    assert.equal(f.results[1]?.size, 8);
    assert.deepEqual(await readAll(g, '/t'), Buffer.from('0123\0\0\0\0', 'latin1'));
    assert.equal((await lookup(g, '/t')).size, 8);
    await fails(g, errno.ENOENT, 'truncate', loc('/none'), 0, null);
  });

  t('writev and readv round trip; a read past the end gives 0 bytes; a partial read gives the rest', async (g) => {
    const fd = new Fd(g.inodes.root);
    const c = await ok(g, 'create', loc('/rw'), fsc.O_RDWR | fsc.O_CREAT, 0o644, 0, fd, null);
    fd.inode = c.results[1] ?? fd.inode;
    assert.equal(c.results[2]?.size, 0);
    const data = Buffer.alloc(100_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const w = await ok(g, 'writev', fd, data, 0, 0, null);
    assert.equal(w.opRet, data.length);
    assert.equal(w.results[0]?.size, 0);
    assert.equal(w.results[1]?.size, data.length);
    const w2 = await ok(g, 'writev', fd, Buffer.from('tail'), 200_000, 0, null);
    assert.equal(w2.opRet, 4);
    assert.equal(w2.results[1]?.size, 200_004);
    const all = await ok(g, 'readv', fd, 100_000, 0, 0, null);
    assert.equal(all.opRet, 100_000);
    assert.deepEqual(all.results[0], data);
    const hole = await ok(g, 'readv', fd, 10, 150_000, 0, null);
    assert.deepEqual(hole.results[0], Buffer.alloc(10));
    const part = await ok(g, 'readv', fd, 100, 200_000, 0, null);
    assert.equal(part.opRet, 4);
    assert.equal(part.results[0]?.toString(), 'tail');
    const past = await ok(g, 'readv', fd, 100, 300_000, 0, null);
    assert.equal(past.opRet, 0);
    assert.equal(past.results[0]?.length, 0);
    g.releaseFd(fd);
  });

  t('writev on a read-only fd is EBADF', async (g) => {
    await createFile(g, '/ro', 'abc');
    const fd = await openFile(g, '/ro', fsc.O_RDONLY);
    await fails(g, errno.EBADF, 'writev', fd, Buffer.from('x'), 0, 0, null);
    g.releaseFd(fd);
    assert.equal((await readAll(g, '/ro')).toString(), 'abc');
  });

  t('O_APPEND writes go to the end whatever the offset', async (g) => {
    await createFile(g, '/app', 'abc');
    const fd = await openFile(g, '/app', fsc.O_WRONLY | fsc.O_APPEND);
    const w = await ok(g, 'writev', fd, Buffer.from('def'), 0, 0, null);
    assert.equal(w.opRet, 3);
    assert.equal(w.results[1]?.size, 6);
    await ok(g, 'writev', fd, Buffer.from('gh'), 1, 0, null);
    g.releaseFd(fd);
    assert.equal((await readAll(g, '/app')).toString(), 'abcdefgh');
  });

  t('open and create: ENOENT, EISDIR for writing a directory, EEXIST with O_EXCL, O_TRUNC empties', async (g) => {
    await fails(g, errno.ENOENT, 'open', loc('/none'), fsc.O_RDONLY, new Fd(g.inodes.root), null);
    await mkdir(g, '/d');
    await fails(g, errno.EISDIR, 'open', loc('/d'), fsc.O_WRONLY, new Fd(g.inodes.root), null);
    await createFile(g, '/c', 'content');
    await fails(g, errno.EEXIST, 'create', loc('/c'), fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, 0o644, 0, new Fd(g.inodes.root), null);
    const fd = await openFile(g, '/c', fsc.O_RDWR | fsc.O_TRUNC);
    g.releaseFd(fd);
    assert.equal((await lookup(g, '/c')).size, 0);
    const c = await ok(g, 'create', loc('/m'), fsc.O_RDWR | fsc.O_CREAT, 0o666, 0o027, new Fd(g.inodes.root), null);
    assert.equal(c.results[2]?.prot, 0o640);
    assert.equal(c.results[2]?.type, IA.IFREG);
    assert.equal(c.results[4]?.gfid, ROOT_GFID);
    if (c.results[0]) g.releaseFd(c.results[0]);
  });

  t('readdir of the root lists exactly the entries made, never . or ..', async (g) => {
    await createFile(g, '/b');
    await mkdir(g, '/a');
    await ok(g, 'symlink', 'b', loc('/c'), 0, null);
    const { entries } = await listAll(g, '/', 4096);
    assert.deepEqual(entries.map((e) => e.name).sort(), ['a', 'b', 'c']);
    const types = Object.fromEntries(entries.map((e) => [e.name, e.type]));
    assert.deepEqual(types, { a: IA.IFDIR, b: IA.IFREG, c: IA.IFLNK });
    for (const e of entries) assert.ok(e.ino > 0, 'ino');
    await fails(g, errno.ENOTDIR, 'opendir', loc('/b'), new Fd(g.inodes.root, true), null);
  });

  t('readdir pages through 200 entries with a small byte budget, every name exactly once', async (g) => {
    await mkdir(g, '/big');
    const names: string[] = [];
    for (let i = 0; i < 200; i++) names.push(`entry-${String(i).padStart(3, '0')}${'x'.repeat(i % 17)}`);
    for (const n of names) await createFile(g, `/big/${n}`);
    const { entries, pages } = await listAll(g, '/big', 256);
    assert.deepEqual(entries.map((e) => e.name).sort(), [...names].sort());
    assert.equal(new Set(entries.map((e) => e.offset)).size, entries.length, 'offsets are distinct');
    assert.ok(pages.length >= 200 / 8, `a 256-byte budget gives small pages (${pages.length} pages)`);
    for (const p of pages) {
      const cost = p.reduce((s, e) => s + entryCost(e.name), 0);
      assert.ok(p.length === 1 || cost <= 256, `page of ${p.length} entries costs ${cost} bytes`);
    }
    const one = await listAll(g, '/big', 1);
    assert.equal(one.entries.length, 200);
    for (const p of one.pages) assert.equal(p.length, 1, 'a budget smaller than one entry still gives one');
  });

  t(CONTRACT_TESTS.readdirWhileRemoving, async (g) => {
    // rm -r's pattern: read a page, remove what it listed, read on from the last offset.
    await mkdir(g, '/rm');
    const names = Array.from({ length: 60 }, (_, i) => `victim-${i}`);
    for (const n of names) await createFile(g, `/rm/${n}`);
    const fd = await openDir(g, '/rm');
    const seen: string[] = [];
    let offset = 0;
    for (let guard = 0; guard < 1000; guard++) {
      const page = (await ok(g, 'readdir', fd, 200, offset, null)).results[0];
      assert.ok(page);
      if (page.length === 0) break;
      for (const e of page) {
        seen.push(e.name);
        await ok(g, 'unlink', loc(`/rm/${e.name}`), 0, null);
      }
      offset = (page.at(-1) as DirEntry).offset;
    }
    g.releaseFd(fd);
    assert.deepEqual([...seen].sort(), [...names].sort());
    await ok(g, 'rmdir', loc('/rm'), 0, null);
  });

  t('readdirp gives each entry its stat and a linked inode', async (g) => {
    const fileGfid = await createFile(g, '/p1', 'four');
    await mkdir(g, '/p2');
    const { entries } = await listAll(g, '/', 4096, true);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual([...byName.keys()].sort(), ['p1', 'p2']);
    const f = byName.get('p1');
    assert.ok(f?.stat && f.inode);
    assert.equal(f.stat.gfid, fileGfid);
    assert.equal(f.stat.size, 4);
    assert.equal(f.stat.type, IA.IFREG);
    assert.equal(f.inode.gfid, fileGfid);
    assert.equal(f.inode, g.inodes.find(fileGfid));
    assert.equal(f.ino, f.stat.ino);
    const d = byName.get('p2');
    assert.equal(d?.stat?.type, IA.IFDIR);
    assert.equal(d?.stat?.gfid, (await lookup(g, '/p2')).gfid);
  });

  t('setattr and fsetattr set mode, times and size', async (g) => {
    await createFile(g, '/sa', 'abcdef');
    const st = await lookup(g, '/sa');
    const r = await ok(g, 'setattr', loc('/sa'), { ...st, prot: 0o600 }, SETATTR.MODE, null);
    assert.equal(r.results[0]?.prot, 0o644);
    assert.equal(r.results[1]?.prot, 0o600);
    assert.equal(r.results[1]?.type, IA.IFREG);
    const times = { ...st, atime: 1_000_000_000, atimeNsec: 0, mtime: 1_500_000_000, mtimeNsec: 0 };
    await ok(g, 'setattr', loc('/sa'), times, SETATTR.ATIME | SETATTR.MTIME, null);
    const after = await lookup(g, '/sa');
    assert.equal(after.atime, 1_000_000_000);
    assert.equal(after.mtime, 1_500_000_000);
    assert.equal(after.prot, 0o600);
    await ok(g, 'setattr', loc('/sa'), { ...st, size: 2 }, SETATTR.SIZE, null);
    assert.equal((await lookup(g, '/sa')).size, 2);
    const fd = await openFile(g, '/sa', fsc.O_RDWR);
    const f = await ok(g, 'fsetattr', fd, { ...st, prot: 0o640, mtime: 1_600_000_000, mtimeNsec: 0 }, SETATTR.MODE | SETATTR.MTIME, null);
    g.releaseFd(fd);
    assert.equal(f.results[1]?.prot, 0o640);
    assert.equal(f.results[1]?.mtime, 1_600_000_000);
    const last = await lookup(g, '/sa');
    assert.equal(last.prot, 0o640);
    assert.equal(last.mtime, 1_600_000_000);
    assert.equal(last.atime, 1_000_000_000);
    await fails(g, errno.ENOENT, 'setattr', loc('/none'), st, SETATTR.MODE, null);
  });

  t('xattrs: set, get, list, XATTR_CREATE (EEXIST), XATTR_REPLACE (ENODATA), remove', async (g) => {
    await createFile(g, '/x');
    await fails(g, errno.ENODATA, 'getxattr', loc('/x'), 'user.a', null);
    await ok(g, 'setxattr', loc('/x'), { 'user.a': Buffer.from('one') }, 0, null);
    const got = await ok(g, 'getxattr', loc('/x'), 'user.a', null);
    assert.deepEqual(got.results[0], { 'user.a': Buffer.from('one') });
    await fails(g, errno.EEXIST, 'setxattr', loc('/x'), { 'user.a': Buffer.from('two') }, 1, null);
    await fails(g, errno.ENODATA, 'setxattr', loc('/x'), { 'user.b': Buffer.from('two') }, 2, null);
    await ok(g, 'setxattr', loc('/x'), { 'user.a': Buffer.from('three') }, 2, null);
    await ok(g, 'setxattr', loc('/x'), { 'user.b': Buffer.from([0, 1, 2, 255]) }, 1, null);
    const all = await ok(g, 'getxattr', loc('/x'), '', null);
    assert.deepEqual(all.results[0], { 'user.a': Buffer.from('three'), 'user.b': Buffer.from([0, 1, 2, 255]) });
    await ok(g, 'removexattr', loc('/x'), 'user.a', null);
    await fails(g, errno.ENODATA, 'getxattr', loc('/x'), 'user.a', null);
    await fails(g, errno.ENODATA, 'removexattr', loc('/x'), 'user.a', null);
    await fails(g, errno.ENOENT, 'setxattr', loc('/none'), { 'user.a': Buffer.from('x') }, 0, null);
    await mkdir(g, '/xd');
    await ok(g, 'setxattr', loc('/xd'), { 'trusted.checksum': Buffer.from('abc') }, 0, null);
    assert.deepEqual((await ok(g, 'getxattr', loc('/xd'), 'trusted.checksum', null)).results[0], { 'trusted.checksum': Buffer.from('abc') });
  });

  t('fd xattrs: fsetxattr, fgetxattr, fremovexattr; xattrs follow a rename', async (g) => {
    await createFile(g, '/fx');
    const fd = await openFile(g, '/fx', fsc.O_RDWR);
    await ok(g, 'fsetxattr', fd, { 'user.k': Buffer.from('v') }, 0, null);
    assert.deepEqual((await ok(g, 'fgetxattr', fd, 'user.k', null)).results[0], { 'user.k': Buffer.from('v') });
    await fails(g, errno.EEXIST, 'fsetxattr', fd, { 'user.k': Buffer.from('w') }, 1, null);
    await fails(g, errno.ENODATA, 'fsetxattr', fd, { 'user.z': Buffer.from('w') }, 2, null);
    await ok(g, 'rename', loc('/fx'), loc('/fy'), null);
    assert.deepEqual((await ok(g, 'getxattr', loc('/fy'), 'user.k', null)).results[0], { 'user.k': Buffer.from('v') });
    await ok(g, 'fremovexattr', fd, 'user.k', null);
    await fails(g, errno.ENODATA, 'fgetxattr', fd, 'user.k', null);
    await fails(g, errno.ENODATA, 'fremovexattr', fd, 'user.k', null);
    g.releaseFd(fd);
  });

  t(CONTRACT_TESTS.releasedFd, async (g) => {
    await createFile(g, '/rel', 'data');
    const fd = await openFile(g, '/rel', fsc.O_RDWR);
    const dfd = await openDir(g, '/');
    g.releaseFd(fd);
    g.releaseFd(dfd);
    await fails(g, errno.EBADF, 'readv', fd, 4, 0, 0, null);
    await fails(g, errno.EBADF, 'writev', fd, Buffer.from('x'), 0, 0, null);
    await fails(g, errno.EBADF, 'fstat', fd, null);
    await fails(g, errno.EBADF, 'readdir', dfd, 4096, 0, null);
    assert.equal((await readAll(g, '/rel')).toString(), 'data');
  });

  t('flush, fsync and fsyncdir succeed', async (g) => {
    await createFile(g, '/sync', 'data');
    const fd = await openFile(g, '/sync', fsc.O_RDWR);
    await ok(g, 'flush', fd, null);
    const s = await ok(g, 'fsync', fd, 0, null);
    assert.equal(s.results[1]?.size, 4);
    await ok(g, 'fsync', fd, 1, null);
    g.releaseFd(fd);
    const dfd = await openDir(g, '/');
    await ok(g, 'fsyncdir', dfd, 0, null);
    g.releaseFd(dfd);
  });

  t('a file keeps its gfid across renames, also inside a renamed directory', async (g) => {
    await mkdir(g, '/d1');
    const gfid = await createFile(g, '/d1/f', 'keep');
    const dirGfid = (await lookup(g, '/d1')).gfid;
    await ok(g, 'rename', loc('/d1/f'), loc('/d1/g'), null);
    assert.equal((await lookup(g, '/d1/g')).gfid, gfid);
    await ok(g, 'rename', loc('/d1'), loc('/d2'), null);
    assert.equal((await lookup(g, '/d2')).gfid, dirGfid);
    assert.equal((await lookup(g, '/d2/g')).gfid, gfid);
    const nameless = await ok(g, 'lookup', makeLoc('', { gfid }), null);
    assert.equal(nameless.results[1]?.size, 4);
  });

  t('seek, zerofill and discard work on a file; fallocate grows it or is EOPNOTSUPP', async (g) => {
    await createFile(g, '/v2', 'abcdefgh');
    const fd = await openFile(g, '/v2', fsc.O_RDWR);
    assert.equal((await ok(g, 'seek', fd, 2, SEEK_DATA, null)).results[0], 2);
    assert.equal((await ok(g, 'seek', fd, 0, SEEK_HOLE, null)).results[0], 8);
    await fails(g, errno.ENXIO, 'seek', fd, 8, SEEK_DATA, null);
    const z = await ok(g, 'zerofill', fd, 6, 4, null);
    assert.equal(z.results[1]?.size, 10);
    const d = await ok(g, 'discard', fd, 1, 2, null);
    assert.equal(d.results[1]?.size, 10);
    const fa = await g.call('fallocate', fd, 0, 0, 16, null);
    if (fa.opRet === 0) assert.equal(fa.results[1]?.size, 16);
    else assert.equal(errnoName(fa.opErrno), 'EOPNOTSUPP');
    g.releaseFd(fd);
    const bytes = await readAll(g, '/v2');
    assert.deepEqual(bytes.subarray(0, 10), Buffer.from('a\0\0def\0\0\0\0', 'latin1'));
  });
}

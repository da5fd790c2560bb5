/**
 * storage/posix: the leaf contract over a real temporary directory, then what only a brick on a
 * real file system has: gfids that survive restarts and renames, nameless lookups, confinement
 * to the brick (`..`, symlinks pointing outside), the hidden metadata directory, the xattr
 * sidecar store, and init errors.
 */
import assert from 'node:assert/strict';
import { constants as fsc, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TranslatorError } from '../../src/errors.ts';
import type { FopArgs, FopName } from '../../src/translator/fops.ts';
import { Graph } from '../../src/translator/graph.ts';
import { Fd, IA, SETATTR, errno, errnoName, makeLoc, type Gfid } from '../../src/translator/model.ts';
import { PosixStorage } from '../../src/translator/types/posix.ts';
import { tempDir } from '../helpers/index.ts';
import { runLeafContract } from './leaf-contract.ts';

async function brickGraph(directory: string | undefined): Promise<Graph> {
  const graph = new Graph(new PosixStorage({ name: 'brick', type: 'storage/posix', options: directory === undefined ? {} : { directory } }));
  await graph.init();
  return graph;
}

runLeafContract('storage/posix', async () => {
  const dir = tempDir('switchyard-posix-');
  const graph = await brickGraph(dir.path);
  return {
    graph,
    cleanup: async () => {
      await graph.fini();
      dir.remove();
    },
  };
});

/** A brick on a fresh directory for one test; removed afterwards. */
async function withBrick(body: (g: Graph, dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir('switchyard-posix-');
  const graph = await brickGraph(dir.path);
  try {
    await body(graph, dir.path);
  } finally {
    await graph.fini();
    dir.remove();
  }
}

async function ok<F extends FopName>(g: Graph, fop: F, ...args: FopArgs<F>) {
  const r = await g.call(fop, ...args);
  assert.ok(r.opRet >= 0, `${fop} failed with ${errnoName(r.opErrno)}`);
  return r.results;
}

async function fails<F extends FopName>(g: Graph, expected: number, fop: F, ...args: FopArgs<F>): Promise<void> {
  const r = await g.call(fop, ...args);
  assert.equal(r.opRet, -1, `${fop} succeeded where ${errnoName(expected)} was expected`);
  assert.equal(errnoName(r.opErrno), errnoName(expected), `${fop} errno`);
}

const loc = (p: string) => makeLoc(p);

async function gfidOf(g: Graph, path: string): Promise<Gfid> {
  const r = await ok(g, 'lookup', loc(path), null);
  assert.ok(r[1]);
  return r[1].gfid;
}

async function create(g: Graph, path: string, content = ''): Promise<Gfid> {
  const fd = new Fd(g.inodes.root);
  const r = await ok(g, 'create', loc(path), fsc.O_RDWR | fsc.O_CREAT, 0o644, 0, fd, null);
  if (content !== '') await ok(g, 'writev', fd, Buffer.from(content), 0, 0, null);
  g.releaseFd(fd);
  assert.ok(r[1]);
  return r[1].gfid;
}

const T = { timeout: 30_000 };

test('posix - gfids survive a restart of the graph on the same directory, and a rename', T, async () => {
  const dir = tempDir('switchyard-posix-');
  try {
    const g1 = await brickGraph(dir.path);
    await ok(g1, 'mkdir', loc('/d'), 0o755, 0, null);
    const file = await create(g1, '/d/f', 'data');
    const d = await gfidOf(g1, '/d');
    const volumeId = readFileSync(join(dir.path, '.switchyard', 'volume-id'), 'utf8');
    await g1.fini();

    const g2 = await brickGraph(dir.path);
    assert.equal(readFileSync(join(dir.path, '.switchyard', 'volume-id'), 'utf8'), volumeId);
    assert.equal(await gfidOf(g2, '/d'), d);
    assert.equal(await gfidOf(g2, '/d/f'), file);
    await ok(g2, 'rename', loc('/d/f'), loc('/g'), null);
    await g2.fini();

    const g3 = await brickGraph(dir.path);
    assert.equal(await gfidOf(g3, '/g'), file);
    await g3.fini();
  } finally {
    dir.remove();
  }
});

test('posix - gfids are UUIDs of version 8 and differ between bricks', T, async () => {
  await withBrick(async (g1) => {
    await withBrick(async (g2) => {
      const a = await create(g1, '/same');
      const b = await create(g2, '/same');
      assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.notEqual(a, b);
    });
  });
});

test('posix - a new file never takes the gfid of a removed one, even on a reused inode number', T, async () => {
  await withBrick(async (g) => {
    const seen = new Set<Gfid>();
    for (let i = 0; i < 20; i++) {
      const gfid = await create(g, '/cycle');
      assert.equal(seen.has(gfid), false, `round ${i} reused a gfid`);
      seen.add(gfid);
      await ok(g, 'unlink', loc('/cycle'), 0, null);
    }
  });
});

test('posix - nameless lookup works after renames of the file and of its directory; unseen gfids are ESTALE', T, async () => {
  const dir = tempDir('switchyard-posix-');
  try {
    const g = await brickGraph(dir.path);
    await ok(g, 'mkdir', loc('/a'), 0o755, 0, null);
    const f = await create(g, '/a/f', 'xyz');
    await ok(g, 'rename', loc('/a'), loc('/b'), null);
    const r = await ok(g, 'lookup', makeLoc('', { gfid: f }), null);
    assert.equal(r[1]?.size, 3);
    const s = await ok(g, 'stat', makeLoc('', { gfid: f }), null);
    assert.equal(s[0]?.gfid, f);
    await g.fini();
    // A new graph has seen no path yet: the gfid is unknown until a lookup or readdirp finds it.
    const g2 = await brickGraph(dir.path);
    await fails(g2, errno.ESTALE, 'lookup', makeLoc('', { gfid: f }), null);
    await ok(g2, 'lookup', loc('/b/f'), null);
    assert.equal((await ok(g2, 'lookup', makeLoc('', { gfid: f }), null))[1]?.gfid, f);
    // Moved beside the brick: the remembered path no longer holds the gfid.
    const { renameSync } = await import('node:fs');
    renameSync(join(dir.path, 'b', 'f'), join(dir.path, 'moved'));
    await fails(g2, errno.ESTALE, 'lookup', makeLoc('', { gfid: f }), null);
    await g2.fini();
  } finally {
    dir.remove();
  }
});

test('posix - .. components and escapes are refused', T, async () => {
  await withBrick(async (g) => {
    await ok(g, 'mkdir', loc('/a'), 0o755, 0, null);
    await fails(g, errno.EINVAL, 'lookup', loc('/../x'), null);
    await fails(g, errno.EINVAL, 'lookup', loc('/a/../../etc/passwd'), null);
    await fails(g, errno.EINVAL, 'lookup', loc('/a/..'), null);
    await fails(g, errno.EINVAL, 'create', loc('/../escape'), fsc.O_RDWR | fsc.O_CREAT, 0o644, 0, new Fd(g.inodes.root), null);
    await fails(g, errno.EINVAL, 'mkdir', loc('/a/../../escape'), 0o755, 0, null);
    await fails(g, errno.EINVAL, 'rename', loc('/a'), loc('/../a'), null);
    await fails(g, errno.EINVAL, 'lookup', loc('/a\0b'), null);
    // Leading, doubled and '.' components stay inside the brick.
    assert.equal((await ok(g, 'lookup', loc('//a/./'), null))[1]?.type, IA.IFDIR);
  });
});

test('posix - a symlink pointing outside cannot be used to read, write or list outside', T, async () => {
  const outside = tempDir('switchyard-outside-');
  try {
    writeFileSync(join(outside.path, 'secret'), 'outside data');
    await withBrick(async (g, brick) => {
      // One made through the volume, one made beside it on disk.
      await ok(g, 'symlink', '/etc', loc('/etc-link'), 0, null);
      symlinkSync(outside.path, join(brick, 'out'));
      symlinkSync(join(outside.path, 'secret'), join(brick, 'secret-link'));
      for (const p of ['/etc-link/passwd', '/out/secret']) {
        await fails(g, errno.ENOTDIR, 'lookup', loc(p), null);
        await fails(g, errno.ENOTDIR, 'stat', loc(p), null);
        await fails(g, errno.ENOTDIR, 'open', loc(p), fsc.O_RDONLY, new Fd(g.inodes.root), null);
        await fails(g, errno.ENOTDIR, 'truncate', loc(p), 0, null);
        await fails(g, errno.ENOTDIR, 'setattr', loc(p), { ...(await ok(g, 'lookup', loc('/'), null))[1]!, prot: 0o777 }, SETATTR.MODE, null);
      }
      await fails(g, errno.ENOTDIR, 'create', loc('/out/new'), fsc.O_RDWR | fsc.O_CREAT, 0o644, 0, new Fd(g.inodes.root), null);
      await fails(g, errno.ENOTDIR, 'mkdir', loc('/out/newdir'), 0o755, 0, null);
      await fails(g, errno.ENOTDIR, 'unlink', loc('/out/secret'), 0, null);
      await fails(g, errno.ENOTDIR, 'rename', loc('/etc-link'), loc('/out/moved'), null);
      await fails(g, errno.ENOTDIR, 'link', loc('/out/secret'), loc('/hard'), null);
      // The last component is never followed.
      await fails(g, errno.ELOOP, 'open', loc('/secret-link'), fsc.O_RDWR, new Fd(g.inodes.root), null);
      await fails(g, errno.ELOOP, 'truncate', loc('/secret-link'), 0, null);
      // O_DIRECTORY is checked before O_NOFOLLOW: a symlink is not a directory.
      await fails(g, errno.ENOTDIR, 'opendir', loc('/out'), new Fd(g.inodes.root, true), null);
      const link = (await ok(g, 'lookup', loc('/secret-link'), null))[1];
      assert.equal(link?.type, IA.IFLNK);
      await ok(g, 'setattr', loc('/secret-link'), { ...link!, prot: 0o777 }, SETATTR.MODE, null);
      assert.equal((await ok(g, 'readlink', loc('/secret-link'), 4096, null))[0], join(outside.path, 'secret'));
      await ok(g, 'unlink', loc('/secret-link'), 0, null);
      await ok(g, 'unlink', loc('/etc-link'), 0, null);
    });
    assert.deepEqual(readdirSync(outside.path), ['secret']);
    assert.equal(readFileSync(join(outside.path, 'secret'), 'utf8'), 'outside data');
    assert.equal(statSync(join(outside.path, 'secret')).mode & 0o777, 0o644);
    assert.equal(existsSync('/etc/passwd'), true, '/etc is untouched');
  } finally {
    outside.remove();
  }
});

test('posix - the .switchyard directory is invisible and refused for every fop (EACCES)', T, async () => {
  await withBrick(async (g, brick) => {
    assert.equal(lstatSync(join(brick, '.switchyard')).isDirectory(), true);
    for (const p of ['/.switchyard', '//.switchyard', '/./.switchyard', '/.switchyard/volume-id', '/.switchyard/xattrs']) {
      await fails(g, errno.EACCES, 'lookup', loc(p), null);
    }
    await fails(g, errno.EACCES, 'mkdir', loc('/.switchyard'), 0o755, 0, null);
    await fails(g, errno.EACCES, 'create', loc('/.switchyard/x'), fsc.O_RDWR | fsc.O_CREAT, 0o644, 0, new Fd(g.inodes.root), null);
    await fails(g, errno.EACCES, 'opendir', loc('/.switchyard'), new Fd(g.inodes.root, true), null);
    await fails(g, errno.EACCES, 'rmdir', loc('/.switchyard'), 0, null);
    await fails(g, errno.EACCES, 'unlink', loc('/.switchyard/volume-id'), 0, null);
    await fails(g, errno.EACCES, 'open', loc('/.switchyard/volume-id'), fsc.O_RDONLY, new Fd(g.inodes.root), null);
    await create(g, '/a');
    await fails(g, errno.EACCES, 'rename', loc('/a'), loc('/.switchyard/a'), null);
    await fails(g, errno.EACCES, 'rename', loc('/.switchyard'), loc('/meta'), null);
    await fails(g, errno.EACCES, 'link', loc('/a'), loc('/.switchyard/a'), null);
    await fails(g, errno.EACCES, 'symlink', 'x', loc('/.switchyard/l'), 0, null);
    await fails(g, errno.EACCES, 'setxattr', loc('/.switchyard'), { 'user.x': Buffer.from('1') }, 0, null);
    // Only the root's is reserved.
    await ok(g, 'mkdir', loc('/sub'), 0o755, 0, null);
    await ok(g, 'mkdir', loc('/sub/.switchyard'), 0o755, 0, null);
    const fd = new Fd(g.inodes.root, true);
    await ok(g, 'opendir', loc('/'), fd, null);
    const names = (await ok(g, 'readdirp', fd, 65536, 0, null))[0]?.map((e) => e.name).sort();
    g.releaseFd(fd);
    assert.deepEqual(names, ['a', 'sub']);
  });
});

test('posix - data written through the brick is in the directory, and changes beside it are seen at once', T, async () => {
  await withBrick(async (g, brick) => {
    await ok(g, 'mkdir', loc('/d'), 0o750, 0, null);
    await create(g, '/d/f', 'through the graph');
    assert.equal(readFileSync(join(brick, 'd', 'f'), 'utf8'), 'through the graph');
    assert.equal(statSync(join(brick, 'd')).mode & 0o7777, 0o750);
    writeFileSync(join(brick, 'd', 'f'), 'changed beside it');
    mkdirSync(join(brick, 'd', 'new'));
    assert.equal((await ok(g, 'lookup', loc('/d/f'), null))[1]?.size, 'changed beside it'.length);
    assert.equal((await ok(g, 'lookup', loc('/d/new'), null))[1]?.type, IA.IFDIR);
  });
});

test('posix - an open directory fd lists the directory it opened, even after a rename and from offset 0 again', T, async () => {
  await withBrick(async (g, brick) => {
    await ok(g, 'mkdir', loc('/d'), 0o755, 0, null);
    await create(g, '/d/one');
    const fd = new Fd(g.inodes.root, true);
    await ok(g, 'opendir', loc('/d'), fd, null);
    await ok(g, 'rename', loc('/d'), loc('/e'), null);
    const first = (await ok(g, 'readdirp', fd, 4096, 0, null))[0];
    assert.deepEqual(first?.map((e) => e.name), ['one']);
    assert.equal(first?.[0]?.stat?.type, IA.IFREG);
    writeFileSync(join(brick, 'e', 'two'), '');
    // Going back to offset 0 reads the directory again (rewinddir).
    const again = (await ok(g, 'readdir', fd, 4096, 0, null))[0];
    assert.deepEqual(again?.map((e) => e.name).sort(), ['one', 'two']);
    g.releaseFd(fd);
  });
});

test('posix - xattrs live in the sidecar store, survive a restart and go with the last link', T, async () => {
  const dir = tempDir('switchyard-posix-');
  try {
    const g = await brickGraph(dir.path);
    const gfid = await create(g, '/x');
    await ok(g, 'link', loc('/x'), loc('/y'), null);
    await ok(g, 'setxattr', loc('/x'), { 'trusted.sum': Buffer.from('abc') }, 0, null);
    const sidecar = join(dir.path, '.switchyard', 'xattrs', gfid.slice(0, 2), `${gfid}.json`);
    assert.equal(existsSync(sidecar), true);
    await g.fini();
    const g2 = await brickGraph(dir.path);
    assert.deepEqual((await ok(g2, 'getxattr', loc('/y'), 'trusted.sum', null))[0], { 'trusted.sum': Buffer.from('abc') });
    await fails(g2, errno.ERANGE, 'setxattr', loc('/y'), { ['user.' + 'n'.repeat(300)]: Buffer.from('1') }, 0, null);
    await fails(g2, errno.E2BIG, 'setxattr', loc('/y'), { 'user.big': Buffer.alloc(70_000) }, 0, null);
    await ok(g2, 'unlink', loc('/x'), 0, null);
    assert.equal(existsSync(sidecar), true, 'one link is left');
    await ok(g2, 'unlink', loc('/y'), 0, null);
    assert.equal(existsSync(sidecar), false, 'removed with the last link');
    await g2.fini();
  } finally {
    dir.remove();
  }
});

test('posix - mknod makes regular files only; other node types are EPERM', T, async () => {
  await withBrick(async (g, brick) => {
    await ok(g, 'mknod', loc('/reg'), 0o100600, 0, 0, null);
    assert.equal(statSync(join(brick, 'reg')).isFile(), true);
    await fails(g, errno.EPERM, 'mknod', loc('/fifo'), 0o010644, 0, 0, null);
    await fails(g, errno.EPERM, 'mknod', loc('/chr'), 0o020644, 0x0103, 0, null);
    assert.equal(existsSync(join(brick, 'fifo')), false);
  });
});

test('posix - new entries belong to the caller when the brick runs as root', { ...T, skip: process.getuid?.() === 0 ? false : 'needs root' }, async () => {
  await withBrick(async (g, brick) => {
    const as = { uid: 1234, gid: 5678 };
    const m = await g.callAs(as, 'mkdir', loc('/mine'), 0o755, 0, null);
    assert.equal(m.results[1]?.uid, 1234);
    const c = await g.callAs(as, 'create', loc('/mine/f'), fsc.O_RDWR | fsc.O_CREAT, 0o644, 0, new Fd(g.inodes.root), null);
    assert.equal(c.results[2]?.uid, 1234);
    assert.equal(c.results[2]?.gid, 5678);
    if (c.results[0]) g.releaseFd(c.results[0]);
    assert.equal(statSync(join(brick, 'mine', 'f')).uid, 1234);
    const s = await g.callAs(as, 'symlink', 'f', loc('/mine/l'), 0, null);
    assert.equal(s.results[1]?.uid, 1234);
    const st = (await ok(g, 'lookup', loc('/mine/f'), null))[1]!;
    await ok(g, 'setattr', loc('/mine/f'), { ...st, uid: 42, gid: 43 }, SETATTR.UID | SETATTR.GID, null);
    assert.equal(statSync(join(brick, 'mine', 'f')).uid, 42);
    assert.equal(statSync(join(brick, 'mine', 'f')).gid, 43);
  });
});

test('posix - released fds close their OS descriptors, and fops on them are EBADF', T, async () => {
  await withBrick(async (g, brick) => {
    // Descriptors of this process open on a path of the brick.
    const openOn = (path: string): number =>
      readdirSync('/proc/self/fd').filter((n) => {
        try {
          return readlinkSync(`/proc/self/fd/${n}`) === path;
        } catch {
          return false;
        }
      }).length;
    await create(g, '/f', 'x');
    const real = realpathSync(brick);
    const file = join(real, 'f');
    // The create's own fd is closed asynchronously after its release.
    for (let i = 0; i < 100 && openOn(file) > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(openOn(file), 0);
    const fds: Fd[] = [];
    for (let i = 0; i < 50; i++) {
      const fd = new Fd(g.inodes.root);
      await ok(g, 'open', loc('/f'), fsc.O_RDONLY, fd, null);
      fds.push(fd);
    }
    const dfd = new Fd(g.inodes.root, true);
    await ok(g, 'opendir', loc('/'), dfd, null);
    assert.equal(openOn(file), 50);
    assert.equal(openOn(real), 1);
    for (const fd of fds) g.releaseFd(fd);
    g.releaseFd(dfd);
    await fails(g, errno.EBADF, 'readv', fds[0]!, 1, 0, 0, null);
    await fails(g, errno.EBADF, 'readdir', dfd, 4096, 0, null);
    for (let i = 0; i < 100 && openOn(file) + openOn(real) > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(openOn(file), 0);
    assert.equal(openOn(real), 0);
  });
});

test('posix - a release while a read is in flight closes the descriptor after the read', T, async () => {
  await withBrick(async (g) => {
    await create(g, '/f', 'payload');
    const fd = new Fd(g.inodes.root);
    await ok(g, 'open', loc('/f'), fsc.O_RDONLY, fd, null);
    const reading = g.call('readv', fd, 100, 0, 0, null);
    g.releaseFd(fd);
    const r = await reading;
    assert.equal(r.opRet, 7);
    assert.equal(r.results[0]?.toString(), 'payload');
  });
});

test('posix - init fails clearly without the directory option, on a missing directory and on a file', T, async () => {
  await assert.rejects(brickGraph(undefined), (err: unknown) => err instanceof TranslatorError && /option 'directory' is required/.test(err.message) && err.option === 'directory');
  const dir = tempDir('switchyard-posix-');
  try {
    const missing = join(dir.path, 'nope');
    await assert.rejects(brickGraph(missing), (err: unknown) => err instanceof TranslatorError && err.message.includes(`'${missing}' does not exist`));
    writeFileSync(join(dir.path, 'file'), '');
    await assert.rejects(brickGraph(join(dir.path, 'file')), (err: unknown) => err instanceof TranslatorError && /is not a directory/.test(err.message));
  } finally {
    dir.remove();
  }
});

test('posix - statfs of a symlink gives the brick figures and cannot probe paths outside', async () => {
  await withBrick(async (g, dir) => {
    symlinkSync('/nonexistent-switchyard-probe', join(dir, 'probe-missing'));
    symlinkSync('/etc', join(dir, 'probe-etc'));
    const root = (await ok(g, 'statfs', makeLoc('/'), null))[0]!;
    const viaMissing = (await ok(g, 'statfs', makeLoc('/probe-missing'), null))[0]!;
    const viaEtc = (await ok(g, 'statfs', makeLoc('/probe-etc'), null))[0]!;
    assert.equal(viaMissing.fsid, root.fsid);
    assert.equal(viaEtc.blocks, root.blocks);
  });
});

test('posix - a FIFO beside the brick is refused at open without blocking the brick', async () => {
  const { execFileSync } = await import('node:child_process');
  await withBrick(async (g, dir) => {
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const lk = await ok(g, 'lookup', makeLoc('/pipe'), null);
    for (const flags of [fsc.O_RDONLY, fsc.O_RDWR]) {
      const fd = new Fd(lk[0]!);
      await fails(g, errno.EPERM, 'open', makeLoc('/pipe'), flags, fd, null);
    }
    await fails(g, errno.EPERM, 'create', makeLoc('/pipe'), fsc.O_RDWR | fsc.O_CREAT, 0o644, 0, new Fd(g.inodes.root), null);
    assert.equal((await g.call('lookup', makeLoc('/'), null)).opRet, 0, 'the brick still answers');
  });
});

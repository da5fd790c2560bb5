import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { FsError, InvalidArgumentError } from '../../src/errors.ts';
import { openVolume, Volume } from '../../src/volume/volume.ts';
import { Translator } from '../../src/translator/translator.ts';
import type { Frame } from '../../src/translator/frame.ts';
import type { Loc } from '../../src/translator/model.ts';
import { Graph } from '../../src/translator/graph.ts';
import { MemoryStorage } from '../../src/translator/types/memory.ts';
import { tempDir } from '../helpers/index.ts';

const MEMORY = 'volume mem\n  type storage/memory\nend-volume\n';

async function rejectsWith(p: Promise<unknown>, code: string, syscall: string, path?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof FsError, `an FsError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.syscall, syscall);
    if (path !== undefined) assert.equal(e.path, path);
    assert.ok(e.errno < 0);
    return true;
  });
}

test('volume - files and directories through fs.promises-shaped calls', async () => {
  await using vol = await openVolume({ volfile: MEMORY });
  assert.equal(await vol.mkdir('/a/b/c', { recursive: true }), '/a');
  await vol.writeFile('/a/b/c/f.txt', 'hello');
  assert.equal(await vol.readFile('/a/b/c/f.txt', 'utf8'), 'hello');
  await vol.appendFile('/a/b/c/f.txt', ', world');
  assert.equal(await vol.readFile('/a/b/c/f.txt', { encoding: 'utf8' }), 'hello, world');
  const st = await vol.stat('/a/b/c/f.txt');
  assert.ok(st.isFile());
  assert.equal(st.size, 12);
  assert.equal(st.mode & 0o777, 0o644);
  assert.deepEqual(await vol.readdir('/a/b'), ['c']);
  const dirents = await vol.readdir('/a/b/c', { withFileTypes: true });
  assert.equal(dirents[0]!.name, 'f.txt');
  assert.ok(dirents[0]!.isFile());
  await vol.rename('/a/b/c/f.txt', '/a/g.txt');
  assert.deepEqual((await vol.readdir('/a')).sort(), ['b', 'g.txt']);
  await vol.symlink('g.txt', '/a/link');
  assert.equal(await vol.readlink('/a/link'), 'g.txt');
  assert.ok((await vol.lstat('/a/link')).isSymbolicLink());
  assert.equal((await vol.stat('/a/link')).size, 12, 'stat follows the link');
  assert.equal(await vol.readFile('/a/link', 'utf8'), 'hello, world');
  await vol.link('/a/g.txt', '/a/hard');
  assert.equal((await vol.stat('/a/hard')).nlink, 2);
  await vol.chmod('/a/g.txt', 0o600);
  assert.equal((await vol.stat('/a/g.txt')).mode & 0o777, 0o600);
  await vol.utimes('/a/g.txt', new Date(1_000_000_000_000), new Date(1_500_000_000_000));
  assert.equal((await vol.stat('/a/g.txt')).mtimeMs, 1_500_000_000_000);
  await vol.truncate('/a/g.txt', 5);
  assert.equal(await vol.readFile('/a/g.txt', 'utf8'), 'hello');
  await vol.setxattr('/a/g.txt', { 'user.sum': Buffer.from([1, 2, 3]) });
  assert.deepEqual((await vol.getxattr('/a/g.txt', 'user.sum'))['user.sum'], Buffer.from([1, 2, 3]));
  await vol.rm('/a', { recursive: true });
  assert.deepEqual(await vol.readdir('/'), []);
  assert.ok((await vol.statfs()).bsize > 0);
});

test('volume - errors carry Node-style code, errno, syscall and path', async () => {
  await using vol = await openVolume({ volfile: MEMORY });
  await rejectsWith(vol.stat('/missing'), 'ENOENT', 'stat', '/missing');
  await rejectsWith(vol.readFile('/missing'), 'ENOENT', 'open', '/missing');
  await vol.mkdir('/d');
  await rejectsWith(vol.mkdir('/d'), 'EEXIST', 'mkdir', '/d');
  await vol.writeFile('/d/f', 'x');
  await rejectsWith(vol.rmdir('/d'), 'ENOTEMPTY', 'rmdir', '/d');
  await rejectsWith(vol.readdir('/d/f'), 'ENOTDIR', 'scandir');
  await rejectsWith(vol.open('/d/f', 'wx'), 'EEXIST', 'open', '/d/f');
  await rejectsWith(vol.rm('/d'), 'ERR_FS_EISDIR', 'rm', '/d');
  await vol.rm('/nope', { force: true });
  const e = await vol.stat('/d/nope').catch((err: unknown) => err);
  assert.ok(e instanceof FsError);
  assert.equal(e.message, "ENOENT: no such file or directory, stat '/d/nope'");
  assert.equal(e.errno, -2);
});

test('volume - file handles read and write at positions and keep a current position', async () => {
  await using vol = await openVolume({ volfile: MEMORY });
  {
    await using h = await vol.open('/f', 'w+');
    await h.write('abcdef');
    await h.write(Buffer.from('XY'), 0, 2, 2);
    const buf = Buffer.alloc(4);
    const { bytesRead } = await h.read(buf, 0, 4, 1);
    assert.equal(bytesRead, 4);
    assert.equal(buf.toString(), 'bXYe');
    await h.truncate(3);
    assert.equal((await h.stat()).size, 3);
    await h.sync();
  }
  assert.equal(await vol.readFile('/f', 'utf8'), 'abX');
  const h = await vol.open('/f', 'a');
  await h.write('!!');
  await h.close();
  await h.close();
  assert.equal(await vol.readFile('/f', 'utf8'), 'abX!!');
  await rejectsWith(h.read(Buffer.alloc(1)), 'EBADF', 'read');
});

test('volume - streams move 5 MiB byte-exact, and a range read returns exactly the range', async () => {
  await using vol = await openVolume({ volfile: MEMORY });
  const data = randomBytes(5 * 1024 * 1024 + 17);
  await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), vol.createWriteStream('/big'));
  const parts: Buffer[] = [];
  for await (const c of vol.createReadStream('/big')) parts.push(c as Buffer);
  assert.ok(Buffer.concat(parts).equals(data));
  const range: Buffer[] = [];
  for await (const c of vol.createReadStream('/big', { start: 10, end: 19 })) range.push(c as Buffer);
  assert.ok(Buffer.concat(range).equals(data.subarray(10, 20)));
});

test('volume - parents are resolved to gfids so translators see real pargfids', async () => {
  const seen: Array<string | null> = [];
  class Spy extends Translator {
    lookupFop(frame: Frame, loc: Loc) {
      if (loc.name === 'probe') seen.push(loc.pargfid);
      this.windLookup(frame, loc, null);
    }
  }
  const g = new Graph(new Spy({ name: 'spy', type: 'test/spy', children: [new MemoryStorage({ name: 'm', type: 'storage/memory' })] }));
  await using vol = await openVolume(g);
  await vol.mkdir('/x/y', { recursive: true });
  const y = await vol.stat('/x/y');
  await vol.stat('/x/y/probe').catch(() => {});
  assert.deepEqual(seen, [y.gfid]);
});

test('volume - paths are normalised and cannot climb above the root', async () => {
  assert.equal(Volume.normalize('a/../../b/./c/'), '/b/c');
  assert.equal(Volume.normalize('/'), '/');
  assert.throws(() => Volume.normalize('a\0b'), /NUL/);
  await using vol = await openVolume({ volfile: MEMORY });
  await vol.writeFile('../../etc-file', 'x');
  assert.deepEqual(await vol.readdir('/'), ['etc-file']);
});

test('volume - opens a volfile from disk and closes the graph', async () => {
  const dir = tempDir();
  try {
    const file = join(dir.path, 'mem.vol');
    writeFileSync(file, MEMORY);
    const vol = await openVolume(file);
    await vol.writeFile('/a', 'x');
    await vol.close();
    await vol.close();
    await rejectsWith(vol.stat('/a'), 'EBADF', 'stat');
  } finally {
    dir.remove();
  }
});

test('volume - read and write ranges outside the buffer are refused before any byte moves', async () => {
  await using vol = await openVolume({ volfile: MEMORY });
  await vol.writeFile('/f', 'abcdefghij');
  await using h = await vol.open('/f', 'r+');
  await assert.rejects(h.read(Buffer.alloc(4), 2, 8), (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'length');
  await assert.rejects(h.write(Buffer.from('xy'), 3), (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'offset');
  const buf = Buffer.alloc(3);
  assert.equal((await h.read(buf, 0, 3)).bytesRead, 3);
  assert.equal(buf.toString(), 'abc', 'the refused read did not move the position');
});

test('volume - access follows symlinks (a dangling link is ENOENT)', async () => {
  await using vol = await openVolume({ volfile: MEMORY });
  await vol.writeFile('/t', 'x');
  await vol.symlink('/t', '/ok');
  await vol.symlink('/missing', '/dangling');
  await vol.access('/ok');
  await rejectsWith(vol.access('/dangling'), 'ENOENT', 'access');
});

test('volume - the directory-gfid map keeps to its size, least recently used out', async () => {
  const seen: Array<string | null> = [];
  class Spy extends Translator {
    lookupFop(frame: Frame, loc: Loc) {
      seen.push(loc.path);
      this.windLookup(frame, loc, null);
    }
  }
  const g = new Graph(new Spy({ name: 'spy', type: 'test/spy', children: [new MemoryStorage({ name: 'm', type: 'storage/memory' })] }));
  await using vol = await openVolume(g, { dentryCacheSize: 4 });
  for (let i = 0; i < 10; i++) await vol.mkdir(`/d${i}`);
  seen.length = 0;
  await vol.stat('/d9/x').catch(() => {});
  assert.deepEqual(seen, ['/d9/x'], 'a recent directory is still known');
  seen.length = 0;
  await vol.stat('/d0/x').catch(() => {});
  assert.deepEqual(seen, ['/d0', '/d0/x'], 'an old one was evicted and is looked up again');
});

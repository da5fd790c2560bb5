/**
 * RSync through real popen gateways on real temporary trees, and the block algorithm on its own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AbortError, RemoteError, RSyncError } from '../../src/errors.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { Group } from '../../src/gateway/group.ts';
import { RSync, type RSyncProgress } from '../../src/gateway/rsync.ts';
import { chooseBlockSize, computeDelta, signatures, type DeltaOp } from '../../src/worker/rsync-blocks.ts';
import { tempDir, until } from './helpers.ts';

const T = { timeout: 20_000 };

/** Applies a delta to `old` (what the receiver does, in memory). */
function applyDelta(old: Buffer, bs: number, ops: DeltaOp[]): Buffer {
  const parts: Buffer[] = [];
  for (const op of ops) {
    if (op instanceof Uint8Array) parts.push(Buffer.from(op));
    else parts.push(old.subarray(op[0] * bs, Math.min(old.length, (op[0] + op[1]) * bs)));
  }
  return Buffer.concat(parts);
}

function deltaOf(oldData: Buffer, newData: Buffer): { ops: DeltaOp[]; literal: number; bs: number } {
  const bs = chooseBlockSize(oldData.length);
  const ops: DeltaOp[] = [];
  computeDelta(newData, signatures(oldData, bs), (batch) => ops.push(...batch), 4096);
  const literal = ops.reduce((n, op) => n + (op instanceof Uint8Array ? op.length : 0), 0);
  return { ops, literal, bs };
}

describe('rsync blocks', () => {
  test('rsync blocks - a delta rebuilds the new file from the old one for edits, inserts, deletes and appends', () => {
    const old = randomBytes(300_000);
    const cases: Array<[string, Buffer]> = [
      ['same', Buffer.from(old)],
      ['edit', Buffer.concat([old.subarray(0, 150_000), Buffer.from('CHANGED'), old.subarray(150_007)])],
      ['insert', Buffer.concat([Buffer.from('0123456789'), old])],
      ['delete', Buffer.concat([old.subarray(0, 1000), old.subarray(5000)])],
      ['append', Buffer.concat([old, randomBytes(777)])],
      ['empty', Buffer.alloc(0)],
      ['unrelated', randomBytes(10_000)],
    ];
    for (const [name, data] of cases) {
      const { ops, literal, bs } = deltaOf(old, data);
      assert.ok(applyDelta(old, bs, ops).equals(data), `${name}: rebuilt`);
      if (name === 'same') assert.equal(literal, 0, 'same: nothing literal');
      if (name === 'edit' || name === 'insert' || name === 'delete') assert.ok(literal <= 2 * bs, `${name}: ${literal} literal bytes for blocks of ${bs}`);
      if (name === 'unrelated') assert.equal(literal, data.length);
    }
  });

  test('rsync blocks - the block size grows with the square root of the size, within 1 KiB..128 KiB', () => {
    assert.equal(chooseBlockSize(100), 1024);
    assert.equal(chooseBlockSize(4 << 20), 2048);
    assert.equal(chooseBlockSize(2 ** 40), 128 * 1024);
  });
});

describe('rsync', { timeout: 120_000 }, () => {
  const group = new Group({ output: 'ignore' });
  let gw: Gateway;
  let gw2: Gateway;
  let root: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  const fresh = (): { src: string; dst: string } => {
    n++;
    const src = join(root, `src${n}`);
    const dst = join(root, `dst${n}`);
    mkdirSync(src);
    return { src, dst };
  };

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('switchyard-rsync-'));
    gw = await group.makeGateway('popen');
    gw2 = await group.makeGateway('popen');
  });
  after(async () => {
    await group.terminate({ timeout: 1000 });
    await cleanup?.();
  });

  function makeTree(src: string): void {
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    mkdirSync(join(src, 'sub', 'deep'), { recursive: true });
    writeFileSync(join(src, 'sub', 'b.bin'), randomBytes(10_000));
    writeFileSync(join(src, 'sub', 'deep', 'empty'), '');
    writeFileSync(join(src, 'run.sh'), '#!/bin/sh\necho hi\n');
    chmodSync(join(src, 'run.sh'), 0o750);
  }

  function assertSameFile(a: string, b: string): void {
    assert.ok(readFileSync(a).equals(readFileSync(b)), `${b} content`);
    const sa = statSync(a);
    const sb = statSync(b);
    assert.equal(sb.mode & 0o7777, sa.mode & 0o7777, `${b} mode`);
    assert.equal(Math.floor(sb.mtimeMs), Math.floor(sa.mtimeMs), `${b} mtime`);
  }

  test('rsync - the first sync copies files, directories, modes and mtimes to two targets, with progress events in order', async () => {
    const { src, dst } = fresh();
    makeTree(src);
    const events: RSyncProgress[] = [];
    const rs = new RSync(src, { onProgress: (e) => events.push(e) });
    rs.addTarget(gw, dst).addTarget(gw2, `${dst}-b`);
    const stats = await rs.send(T);
    for (const d of [dst, `${dst}-b`]) {
      for (const f of ['a.txt', 'sub/b.bin', 'sub/deep/empty', 'run.sh']) assertSameFile(join(src, f), join(d, f));
      assert.deepEqual(readdirSync(d).sort(), ['a.txt', 'run.sh', 'sub']);
    }
    assert.equal(stats.length, 2);
    assert.deepEqual(
      stats.map((s) => [s.target, s.files, s.transferred, s.unchanged, s.literalBytes, s.matchedBytes]),
      [
        [gw.id, 4, 4, 0, 6 + 10_000 + 18, 0],
        [gw2.id, 4, 4, 0, 6 + 10_000 + 18, 0],
      ],
    );
    const mine = events.filter((e) => e.target === gw.id);
    assert.deepEqual(mine.map((e) => e.type), ['list', 'file', 'file', 'file', 'file', 'done']);
    assert.deepEqual(mine[0], { type: 'list', target: gw.id, files: 4, bytes: 10_024 });
    assert.deepEqual(mine.filter((e) => e.type === 'file').map((e) => (e as { path: string }).path), ['a.txt', 'run.sh', 'sub/b.bin', 'sub/deep/empty']);
  });

  test('rsync - an aborted send rejects with AbortError, as its doc says, not an RSyncError', async () => {
    const { src, dst } = fresh();
    makeTree(src);
    const rs = new RSync(src).addTarget(gw, dst);
    await assert.rejects(rs.send({ signal: AbortSignal.abort() }), AbortError);
    const ac = new AbortController();
    const sending = rs.send({ signal: ac.signal });
    ac.abort();
    await assert.rejects(sending, AbortError);
  });

  test('rsync - an unchanged tree sends no file bytes, and a new mtime on the same content is settled by the hash', async () => {
    const { src, dst } = fresh();
    makeTree(src);
    const rs = new RSync(src);
    rs.addTarget(gw, dst);
    await rs.send(T);
    const events: RSyncProgress[] = [];
    const again = new RSync(src, { onProgress: (e) => events.push(e) });
    again.addTarget(gw, dst);
    const [s1] = await again.send(T);
    assert.deepEqual([s1?.transferred, s1?.unchanged, s1?.literalBytes], [0, 4, 0]);
    assert.deepEqual(events.map((e) => e.type), ['list', 'done']);
    assert.deepEqual(events[0], { type: 'list', target: gw.id, files: 0, bytes: 0 });
    // Same size and content, newer mtime: the MD5 matches, only the mtime is updated.
    const later = new Date(Date.now() + 5000);
    utimesSync(join(src, 'sub', 'b.bin'), later, later);
    const [s2] = await again.send(T);
    assert.deepEqual([s2?.transferred, s2?.unchanged, s2?.literalBytes], [0, 4, 0]);
    assertSameFile(join(src, 'sub', 'b.bin'), join(dst, 'sub', 'b.bin'));
  });

  test('rsync - one changed block of a large file sends about one block; an insert at the front sends the insert', async () => {
    const { src, dst } = fresh();
    const big = randomBytes(2 << 20);
    writeFileSync(join(src, 'big.bin'), big);
    const rs = new RSync(src);
    rs.addTarget(gw, dst);
    await rs.send(T);
    const bs = chooseBlockSize(big.length);
    big.write('a few changed bytes in the middle', 1 << 20);
    writeFileSync(join(src, 'big.bin'), big);
    const [s] = await rs.send(T);
    assert.equal(s?.transferred, 1);
    assert.ok((s?.literalBytes as number) <= 2 * bs, `${s?.literalBytes} literal bytes for blocks of ${bs}`);
    assert.ok((s?.literalBytes as number) >= 33);
    assert.equal((s?.literalBytes as number) + (s?.matchedBytes as number), big.length);
    assertSameFile(join(src, 'big.bin'), join(dst, 'big.bin'));
    writeFileSync(join(src, 'big.bin'), Buffer.concat([Buffer.from('inserted!'), big]));
    const [s2] = await rs.send(T);
    assert.ok((s2?.literalBytes as number) <= 9 + bs, `${s2?.literalBytes} literal bytes after an insert`);
    assertSameFile(join(src, 'big.bin'), join(dst, 'big.bin'));
    assert.deepEqual(readdirSync(dst), ['big.bin'], 'no temporary files left');
  });

  test('rsync - delete removes what the source lacks, only on the targets that ask for it', async () => {
    const { src, dst } = fresh();
    makeTree(src);
    for (const d of [dst, `${dst}-keep`]) {
      mkdirSync(join(d, 'sub', 'stale-dir'), { recursive: true });
      writeFileSync(join(d, 'stale.txt'), 'x');
      writeFileSync(join(d, 'sub', 'stale-dir', 'f'), 'x');
    }
    const rs = new RSync(src);
    rs.addTarget(gw, dst, { delete: true }).addTarget(gw2, `${dst}-keep`);
    const [del, keep] = await rs.send(T);
    assert.equal(del?.deleted, 2);
    assert.equal(keep?.deleted, 0);
    assert.deepEqual(readdirSync(dst).sort(), ['a.txt', 'run.sh', 'sub']);
    assert.deepEqual(readdirSync(join(dst, 'sub')).sort(), ['b.bin', 'deep']);
    assert.ok(existsSync(join(`${dst}-keep`, 'stale.txt')) && existsSync(join(`${dst}-keep`, 'sub', 'stale-dir', 'f')));
  });

  test('rsync - symlinks: relative ones as they are, absolute ones into the source point into the destination, others kept', async () => {
    const { src, dst } = fresh();
    makeTree(src);
    symlinkSync('sub/b.bin', join(src, 'rel-link'));
    symlinkSync(join(src, 'sub', 'deep'), join(src, 'abs-inside'));
    symlinkSync('/etc/hostname', join(src, 'abs-outside'));
    symlinkSync('missing-target', join(src, 'dangling'));
    const rs = new RSync(src);
    rs.addTarget(gw, dst);
    const [s] = await rs.send(T);
    assert.equal(s?.links, 4);
    assert.equal(readlinkSync(join(dst, 'rel-link')), 'sub/b.bin');
    assert.equal(readlinkSync(join(dst, 'abs-inside')), join(dst, 'sub', 'deep'));
    assert.equal(readlinkSync(join(dst, 'abs-outside')), '/etc/hostname');
    assert.equal(readlinkSync(join(dst, 'dangling')), 'missing-target');
    // Unchanged links are left alone on the next sync.
    const [s2] = await rs.send(T);
    assert.equal(s2?.links, 0);
  });

  test('rsync - a FIFO in the source is refused before anything is sent; no targets is an error', async () => {
    const { src, dst } = fresh();
    writeFileSync(join(src, 'ok'), 'x');
    const r = spawnSync('mkfifo', [join(src, 'pipe')]);
    assert.equal(r.status, 0);
    const rs = new RSync(src);
    rs.addTarget(gw, dst);
    await assert.rejects(rs.send(T), (e: unknown) => e instanceof RSyncError && e.path === 'pipe' && /FIFO, socket or device/.test(e.message));
    assert.equal(existsSync(dst), false);
    const filtered = new RSync(src, { filter: (p) => p !== 'pipe' });
    filtered.addTarget(gw, dst);
    await filtered.send(T);
    assert.deepEqual(readdirSync(dst), ['ok']);
    await assert.rejects(new RSync(src).send(T), (e: unknown) => e instanceof RSyncError && /no targets/.test(e.message));
  });

  /** Opens a raw RSYNC channel and plays a (malicious) sender. */
  async function rawSend(dest: string, items: unknown[]): Promise<unknown> {
    const ch = gw._openRsync({ destDir: dest, delete: false, deltaThreshold: 64 * 1024 });
    for (const item of items) await ch.send(item);
    for (;;) {
      const got = await ch.receive(T).catch((e: unknown) => e);
      if (got instanceof Error) return got;
      const t = (got as { t: string }).t;
      if (t === 'req-end') await ch.send({ t: 'end' });
    }
  }

  test('rsync - a malicious sender cannot write outside the destination: .., absolute paths and symlinked parents are refused', async () => {
    const { dst } = fresh();
    const outside = join(root, `outside${n}`);
    mkdirSync(outside);
    const dirEntry = { p: '', k: 'd', m: 0o755 };
    const file = (p: string) => ({ p, k: 'f', m: 0o644, s: 1, t: Date.now() });
    for (const [bad, why] of [
      [file('../escape'), /Refusing path "\.\.\/escape"/],
      [file('/etc/evil'), /Refusing path "\/etc\/evil": absolute/],
      [file('a/../../escape'), /could leave the destination/],
      [file('nodir/f'), /its directory is not earlier in the file list/],
    ] as const) {
      const err = await rawSend(dst, [{ t: 'entries', e: [dirEntry, bad] }, { t: 'end-list' }]);
      assert.ok(err instanceof RemoteError, String(err));
      assert.equal(err.remoteName, 'RSyncError');
      assert.match(err.remoteMessage, why);
    }
    // A symlink entry cannot serve as a directory for later entries.
    const viaLink = await rawSend(dst, [{ t: 'entries', e: [dirEntry, { p: 'lnk', k: 'l', l: outside }, file('lnk/f')] }, { t: 'end-list' }]);
    assert.ok(viaLink instanceof RemoteError && /its directory is not earlier/.test(viaLink.remoteMessage), String(viaLink));
    // A symlink already in the destination where the list has a directory is replaced, not followed.
    symlinkSync(outside, join(dst, 'esc'));
    const rs = new RSync(join(root, 'legit-src'));
    mkdirSync(join(root, 'legit-src', 'esc'), { recursive: true });
    writeFileSync(join(root, 'legit-src', 'esc', 'f'), 'inside');
    rs.addTarget(gw, dst);
    await rs.send(T);
    assert.equal(lstatSync(join(dst, 'esc')).isDirectory(), true);
    assert.equal(readFileSync(join(dst, 'esc', 'f'), 'utf8'), 'inside');
    assert.deepEqual(readdirSync(outside), []);
  });

  test('rsync - a sender that sends unrequested files or bad block copies is refused and leaves no temporary file', async () => {
    const { dst } = fresh();
    const entries = [
      { p: '', k: 'd', m: 0o755 },
      { p: 'f', k: 'f', m: 0o644, s: 3, t: Date.now() },
    ];
    const unrequested = await rawSend(dst, [{ t: 'entries', e: entries }, { t: 'end-list' }, { t: 'ops', i: 0, ops: [Buffer.from('x')], last: true }]);
    assert.ok(unrequested instanceof RemoteError && /#0, which was not requested/.test(unrequested.remoteMessage), String(unrequested));
    const badCopy = await rawSend(dst, [{ t: 'entries', e: entries }, { t: 'end-list' }, { t: 'ops', i: 1, ops: [[5, 1]], last: true }]);
    assert.ok(badCopy instanceof RemoteError && /Invalid block copy \[5, 1\]/.test(badCopy.remoteMessage), String(badCopy));
    const badSum = await rawSend(dst, [{ t: 'entries', e: entries }, { t: 'end-list' }, { t: 'ops', i: 1, ops: [Buffer.from('abc')], last: true, md5: Buffer.alloc(16) }]);
    assert.ok(badSum instanceof RemoteError && /different checksum/.test(badSum.remoteMessage), String(badSum));
    assert.deepEqual(readdirSync(dst), []);
  });

  /** Names in `dir` (recursively) that are temporary files. */
  function temporaries(dir: string): string[] {
    return (readdirSync(dir, { recursive: true }) as string[]).filter((p) => p.endsWith('.sytmp'));
  }

  test('rsync - many small files travel in batches: empty files, batch boundaries, a file larger than a batch and files with old copies arrive exactly, with progress in list order', async () => {
    const { src, dst } = fresh();
    const sizes = new Map<string, number>([['e0', 0]]);
    // 1500-byte files cross the 64 KiB first batch and the larger ones after it; every 50th is empty.
    for (let k = 0; k < 200; k++) sizes.set(`m${String(k).padStart(3, '0')}`, k % 50 === 49 ? 0 : 1500);
    // Exactly a whole batch (256 KiB) and exactly a first batch (64 KiB); then more than a batch.
    sizes.set('w-batch', 256 * 1024);
    sizes.set('x-exact', 64 * 1024);
    sizes.set('y-big', 300 * 1024);
    sizes.set('z-empty', 0);
    for (const [name, size] of sizes) writeFileSync(join(src, name), randomBytes(size));
    chmodSync(join(src, 'm007'), 0o600);
    // Old copies on the target: same size, other content (sent) and same content, older mtime (not sent).
    mkdirSync(dst);
    writeFileSync(join(dst, 'm100'), randomBytes(1500));
    writeFileSync(join(dst, 'm101'), readFileSync(join(src, 'm101')));
    utimesSync(join(dst, 'm100'), new Date(2020, 0, 1), new Date(2020, 0, 1));
    utimesSync(join(dst, 'm101'), new Date(2020, 0, 1), new Date(2020, 0, 1));
    const events: RSyncProgress[] = [];
    const rs = new RSync(src, { onProgress: (e) => events.push(e) });
    rs.addTarget(gw, dst);
    const [s] = await rs.send(T);
    const names = [...sizes.keys()].sort();
    for (const name of names) assertSameFile(join(src, name), join(dst, name));
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    assert.deepEqual([s?.files, s?.transferred, s?.unchanged, s?.literalBytes, s?.matchedBytes], [names.length, names.length - 1, 1, total - 1500, 0]);
    const files = events.filter((e): e is Extract<RSyncProgress, { type: 'file' }> => e.type === 'file');
    assert.deepEqual(
      files.map((e) => [e.path, e.size, e.literalBytes]),
      // The hash settles m101: its event has no literal bytes.
      names.map((n) => [n, sizes.get(n), n === 'm101' ? 0 : sizes.get(n)]),
    );
    assert.deepEqual(events[0], { type: 'list', target: gw.id, files: names.length, bytes: total });
    assert.deepEqual(temporaries(dst), []);
  });

  test('rsync - more empty files than a batch holds arrive, in order, with the files around them', async () => {
    const { src, dst } = fresh();
    const names: string[] = [];
    for (let k = 0; k < 1030; k++) names.push(`e${String(k).padStart(4, '0')}`);
    for (const name of names) writeFileSync(join(src, name), '');
    writeFileSync(join(src, 'a-first'), 'first');
    writeFileSync(join(src, 'z-last'), 'last');
    const events: RSyncProgress[] = [];
    const rs = new RSync(src, { onProgress: (e) => events.push(e) });
    rs.addTarget(gw, dst);
    const [s] = await rs.send(T);
    assert.deepEqual([s?.transferred, s?.literalBytes], [1032, 9]);
    assert.deepEqual(readdirSync(dst).sort(), ['a-first', ...names, 'z-last']);
    assert.equal(readFileSync(join(dst, 'z-last'), 'utf8'), 'last');
    assert.deepEqual(
      events.filter((e) => e.type === 'file').map((e) => (e as { path: string }).path),
      ['a-first', ...names, 'z-last'],
    );
  });

  test('rsync - a file that grows or shrinks after the walk is sent as it is when read', async () => {
    const { src, dst } = fresh();
    for (const name of ['a', 'b', 'c', 'd']) writeFileSync(join(src, name), randomBytes(2000));
    const events: RSyncProgress[] = [];
    const rs = new RSync(src, {
      onProgress: (e) => {
        events.push(e);
        // The list is settled and nothing is read yet: change two files under the sender.
        if (e.type === 'list') {
          appendFileSync(join(src, 'b'), randomBytes(5000));
          truncateSync(join(src, 'c'), 10);
        }
      },
    });
    rs.addTarget(gw, dst);
    const [s] = await rs.send(T);
    for (const name of ['a', 'b', 'c', 'd']) assert.ok(readFileSync(join(dst, name)).equals(readFileSync(join(src, name))), `${name} content`);
    assert.equal(s?.literalBytes, 2000 + 7000 + 10 + 2000);
    assert.deepEqual(
      events.filter((e) => e.type === 'file').map((e) => [(e as { path: string }).path, (e as { literalBytes: number }).literalBytes]),
      [['a', 2000], ['b', 7000], ['c', 10], ['d', 2000]],
    );
    assert.deepEqual(temporaries(dst), []);
  });

  test('rsync - a source file that vanishes in the middle of a batch fails the sync naming it; the files before it arrive', async () => {
    const { src, dst } = fresh();
    for (const name of ['a', 'b', 'c']) writeFileSync(join(src, name), `content of ${name}`);
    const rs = new RSync(src, { onProgress: (e) => e.type === 'list' && unlinkSync(join(src, 'b')) });
    rs.addTarget(gw, dst);
    await assert.rejects(rs.send(T), (e: unknown) => e instanceof RSyncError && e.target === gw.id && e.path === 'b' && /Cannot read "b" of the source: ENOENT/.test(e.message));
    // The receiver writes what came before the failure, then sees the sender's error.
    await until(() => existsSync(join(dst, 'a')), 5000, 'a on the target');
    assert.equal(readFileSync(join(dst, 'a'), 'utf8'), 'content of a');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(readdirSync(dst), ['a']);
  });

  test('rsync - a batch with a bad checksum in the middle keeps the files before it and names the file that failed; a malformed batch writes nothing', async () => {
    const { dst } = fresh();
    const md5 = (x: string): Buffer => createHash('md5').update(x).digest();
    const entries = [
      { p: '', k: 'd', m: 0o755 },
      { p: 'a', k: 'f', m: 0o640, s: 3, t: 1_600_000_000_000 },
      { p: 'b', k: 'f', m: 0o644, s: 3, t: 1_600_000_000_000 },
      { p: 'c', k: 'f', m: 0o644, s: 3, t: 1_600_000_000_000 },
    ];
    const batch = (n: number[], h: Buffer) => ({ t: 'files', i: [1, 2, 3], n, d: Buffer.from('aaabbbccc'), h });
    const bad = await rawSend(dst, [{ t: 'entries', e: entries }, { t: 'end-list' }, batch([3, 3, 3], Buffer.concat([md5('aaa'), Buffer.alloc(16), md5('ccc')]))]);
    assert.ok(bad instanceof RemoteError && /"b" arrived with a different checksum/.test(bad.remoteMessage), String(bad));
    assert.deepEqual(readdirSync(dst), ['a']);
    assert.equal(readFileSync(join(dst, 'a'), 'utf8'), 'aaa');
    assert.equal(statSync(join(dst, 'a')).mode & 0o7777, 0o640);
    assert.equal(statSync(join(dst, 'a')).mtimeMs, 1_600_000_000_000);
    const other = `${dst}-malformed`;
    const malformed = await rawSend(other, [{ t: 'entries', e: entries }, { t: 'end-list' }, batch([3, 3, 4], Buffer.concat([md5('aaa'), md5('bbb'), md5('ccc')]))]);
    assert.ok(malformed instanceof RemoteError && /batch of files of 9 bytes whose lengths add up to 10/.test(malformed.remoteMessage), String(malformed));
    assert.deepEqual(readdirSync(other), []);
  });

  test('rsync - the receiver asks for whole files many to an item only from a sender that announces batches', async () => {
    const entries = [
      { p: '', k: 'd', m: 0o755 },
      { p: 'a', k: 'f', m: 0o644, s: 1, t: Date.now() },
      { p: 'b', k: 'f', m: 0o644, s: 1, t: Date.now() },
    ];
    const requests = async (batch: boolean | undefined): Promise<unknown[]> => {
      const { dst } = fresh();
      const ch = gw._openRsync({ destDir: dst, delete: false, deltaThreshold: 64 * 1024, ...(batch === undefined ? {} : { batch }) });
      await ch.send({ t: 'entries', e: entries });
      await ch.send({ t: 'end-list' });
      const got: unknown[] = [];
      for (;;) {
        const item = (await ch.receive(T)) as { t: string };
        got.push(item);
        if (item.t === 'req-end') break;
      }
      ch.close();
      return got;
    };
    assert.deepEqual(await requests(undefined), [{ t: 'plan', files: 2, bytes: 2 }, { t: 'req', i: 1 }, { t: 'req', i: 2 }, { t: 'req-end' }]);
    assert.deepEqual(await requests(true), [{ t: 'plan', files: 2, bytes: 2 }, { t: 'reqs', i: [1, 2] }, { t: 'req-end' }]);
  });

  test('rsync - a directory where the source has a file is replaced by the file, and a file where it has a directory by the directory', async () => {
    const { src, dst } = fresh();
    writeFileSync(join(src, 'x'), 'now a file');
    mkdirSync(join(src, 'y'));
    writeFileSync(join(src, 'y', 'f'), 'inside');
    mkdirSync(join(dst, 'x', 'deep'), { recursive: true });
    writeFileSync(join(dst, 'x', 'deep', 'old'), 'old');
    writeFileSync(join(dst, 'y'), 'was a file');
    const rs = new RSync(src);
    rs.addTarget(gw, dst);
    const [s] = await rs.send(T);
    assert.equal(s?.transferred, 2);
    assert.equal(readFileSync(join(dst, 'x'), 'utf8'), 'now a file');
    assert.equal(readFileSync(join(dst, 'y', 'f'), 'utf8'), 'inside');
    assert.deepEqual(readdirSync(dst).sort(), ['x', 'y']);
  });
});

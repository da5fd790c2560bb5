/**
 * protocol/client ↔ protocol/server through a real Manager on 127.0.0.1: every fop round trip
 * against the same fops on a local storage/memory, pipelining, upcalls to another client, a brick
 * in another process killed mid-fop, and `switchyard brick serve`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect } from '../../src/client/client.ts';
import { TranslatorError } from '../../src/errors.ts';
import { FOPS, FOP_NAMES, Fd, Graph, IA, errno, graphFromText, makeLoc, type GraphEvent, type Iatt } from '../../src/translator/index.ts';
import { MemoryStorage } from '../../src/translator/types/memory.ts';
import { ROOT_GFID } from '../../src/translator/model.ts';
import { WireError, decodeArgs, decodeResults, encodeArgs, encodeResults, type DecodeContext } from '../../src/translator/wire-codec.ts';
import type { ProtocolServer } from '../../src/translator/types/protocol-server.ts';
import { startTestManager, tempDir, within } from '../helpers/index.ts';
import { runLeafContract } from './leaf-contract.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const O_RDWR = 2;
const O_CREAT = 0o100;

type Manager = Awaited<ReturnType<typeof startTestManager>>;

const brickVolfile = (port: number, name: string, extra = ''): string => `
volume mem
  type storage/memory
end-volume
volume server
  type protocol/server
  option name ${name}
  option manager 127.0.0.1:${port}
  option disable-tls on
${extra}
  subvolumes mem
end-volume
`;

const clientVolfile = (port: number, brick: string, extra = ''): string => `
volume client
  type protocol/client
  option remote-subvolume ${brick}
  option manager 127.0.0.1:${port}
  option disable-tls on
${extra}
end-volume
`;

/** Results made comparable across graphs: inodes by gfid and type, fds by name, no timestamps. */
function normalize(v: unknown): unknown {
  if (v === null || v === undefined) return v ?? null;
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Fd) return 'fd';
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o['gfid'] === 'string' && 'fdCount' in o) return { inode: o['gfid'], type: o['type'] };
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) if (!/^(a|m|c)time(Nsec)?$/.test(k)) out[k] = normalize(x);
    return out;
  }
  return v;
}

function onEvents(graph: Graph): { events: GraphEvent[]; next(type: GraphEvent['type'], ms: number): Promise<GraphEvent> } {
  const events: GraphEvent[] = [];
  const waiters: Array<() => void> = [];
  graph.onEvent((e) => {
    events.push(e);
    for (const w of waiters.splice(0)) w();
  });
  return {
    events,
    async next(type, ms) {
      const found = (): GraphEvent | undefined => {
        const i = events.findIndex((e) => e.type === type);
        return i >= 0 ? events.splice(i, 1)[0] : undefined;
      };
      return within(
        (async () => {
          for (;;) {
            const e = found();
            if (e) return e;
            await new Promise<void>((r) => waiters.push(r));
          }
        })(),
        ms,
        `a ${type} event`,
      );
    },
  };
}

describe('wire codec', () => {
  const g = new Graph(new MemoryStorage({ name: 'm', type: 'storage/memory' }));
  const ctx: DecodeContext = { linkInode: (gfid, type) => g.inodes.link(gfid, type), findInode: (gfid) => g.inodes.find(gfid) ?? null, fd: () => undefined };
  const st: Iatt = { gfid: 'f0e7f1e0-0f6e-4b47-9e54-3fd3b7e3b2c1', ino: 2 ** 50, dev: 77, type: IA.IFREG, prot: 0o644, nlink: 1, uid: 1000, gid: 1000, rdev: 2 ** 40, size: 2 ** 45, blksize: 4096, blocks: 9, atime: 1, atimeNsec: 2, mtime: -3, mtimeNsec: 4, ctime: 5, ctimeNsec: 999_999_999 };

  test('wire codec - iatts round trip exactly, including fields beyond 32 bits and uid -1', () => {
    for (const x of [st, { ...st, uid: -1 }, { ...st, gid: 2 ** 33, gfid: 'ünïcode' }]) {
      assert.deepEqual(decodeResults('stat', encodeResults('stat', [x, null]), ctx), [x, null]);
    }
  });

  test('wire codec - every fop of the table encodes its arguments and results, nulls kept', () => {
    for (const fop of FOP_NAMES) {
      const n = FOPS[fop].results.length;
      assert.deepEqual(decodeResults(fop, encodeResults(fop, new Array(n).fill(null)), ctx), new Array(n).fill(null), fop);
    }
  });

  test('wire codec - readdir entries stay without stat and inode keys, readdirp entries keep them', () => {
    const plain = [{ name: 'a', offset: 1, ino: 3, type: IA.IFREG }];
    assert.deepEqual(decodeResults('readdir', encodeResults('readdir', [plain, null]), ctx)[0], plain);
    const plus = [{ name: 'a', offset: 1, ino: 3, type: IA.IFREG, stat: st, inode: g.inodes.link(st.gfid, IA.IFREG) }];
    assert.deepEqual(decodeResults('readdirp', encodeResults('readdirp', [plus, null]), ctx)[0], plus);
  });

  test('wire codec - malformed arguments throw a WireError with EINVAL, unknown fds EBADF', () => {
    assert.throws(() => decodeArgs('lookup', [['/'], null], ctx), (e: unknown) => e instanceof WireError && e.errno === errno.EINVAL);
    assert.throws(() => decodeArgs('fstat', [7, null], ctx), (e: unknown) => e instanceof WireError && e.errno === errno.EBADF);
    assert.throws(() => decodeArgs('writev', [7, 'not bytes', 0, 0, null], { ...ctx, fd: () => new Fd(g.inodes.root) }), (e: unknown) => e instanceof WireError && e.errno === errno.EINVAL);
    const loc = makeLoc('/x', { gfid: st.gfid });
    assert.deepEqual(decodeArgs('lookup', encodeArgs('lookup', [loc, { k: 1 }]), ctx), [{ ...loc, inode: g.inodes.find(st.gfid) ?? null }, { k: 1 }]);
  });
});

describe('protocol/client and protocol/server', () => {
  let mgr: Manager;
  let brick: Graph;
  let client: Graph;

  before(async () => {
    mgr = await startTestManager();
    // Root's fops stay root's: the round trip compares uids with a local leaf's.
    brick = await graphFromText(brickVolfile(mgr.port, 'brick1', '  option root-squash off'));
    client = await graphFromText(clientVolfile(mgr.port, 'brick1'));
  });

  after(async () => {
    await client?.fini();
    await brick?.fini();
    await mgr?.close();
  });

  test('protocol - every fop round trip gives the same results as the local memory leaf', async () => {
    const local = await graphFromText('volume mem\n  type storage/memory\nend-volume\n');
    const payload = randomBytes(1 << 20);
    const xattr = Buffer.from([0, 255, 0, 1, 128, 10, 13]);
    const run = async (g: Graph): Promise<unknown[]> => {
      const out: unknown[] = [];
      const rec = (r: { opRet: number; opErrno: number; results: readonly unknown[] }): void => void out.push([r.opRet, r.opErrno, normalize(r.results)]);
      const ids = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];
      rec(await g.call('lookup', makeLoc('/'), null));
      rec(await g.call('mkdir', makeLoc('/d', { gfid: ids[0] }), 0o755, 0o022, null));
      rec(await g.call('lookup', makeLoc('/d'), null));
      const fd = new Fd(g.inodes.root);
      rec(await g.call('create', makeLoc('/d/f', { gfid: ids[1] }), O_RDWR | O_CREAT, 0o644, 0o022, fd, null));
      const w = await g.call('writev', fd, payload, 0, 0, null);
      rec(w);
      const r = await g.call('readv', fd, payload.length, 0, 0, null);
      assert.equal(r.opRet, payload.length);
      assert.ok(Buffer.isBuffer(r.results[0]), 'readv data is a Buffer');
      assert.ok((r.results[0] as Buffer).equals(payload), 'readv returns the 1 MiB written, byte-exact');
      rec(r);
      rec(await g.call('fstat', fd, null));
      rec(await g.call('setxattr', makeLoc('/d/f'), { 'user.bin': xattr }, 0, null));
      const gx = await g.call('getxattr', makeLoc('/d/f'), 'user.bin', null);
      assert.ok(gx.results[0]?.['user.bin']?.equals(xattr), 'binary xattr value survives');
      rec(gx);
      rec(await g.call('getxattr', makeLoc('/d/f'), 'user.missing', null));
      rec(await g.call('statfs', makeLoc('/'), null));
      rec(await g.call('symlink', '../target', makeLoc('/d/l', { gfid: ids[2] }), 0o022, null));
      rec(await g.call('readlink', makeLoc('/d/l'), 4096, null));
      const dfd = new Fd(g.inodes.root, true);
      rec(await g.call('opendir', makeLoc('/d'), dfd, null));
      rec(await g.call('readdirp', dfd, 4096, 0, null));
      rec(await g.call('readdir', dfd, 4096, 0, null));
      rec(await g.call('truncate', makeLoc('/d/f'), 10, null));
      rec(await g.call('rename', makeLoc('/d/f'), makeLoc('/d/g'), null));
      rec(await g.call('lookup', makeLoc('/d/f'), null));
      rec(await g.call('lookup', makeLoc('/d/g'), null));
      rec(await g.call('rmdir', makeLoc('/d'), 0, null));
      rec(await g.call('unlink', makeLoc('/d/g'), 0, null));
      rec(await g.call('unlink', makeLoc('/d/l'), 0, null));
      rec(await g.call('rmdir', makeLoc('/d'), 0, null));
      rec(await g.call('lookup', makeLoc('/d'), null));
      g.releaseFd(fd);
      g.releaseFd(dfd);
      return out;
    };
    try {
      const want = await run(local);
      const got = await run(client);
      assert.deepEqual(got, want);
      // Inodes of results live in the client's own graph.
      const lk = await client.call('lookup', makeLoc('/'), null);
      assert.equal(lk.results[0], client.inodes.root);
    } finally {
      await local.fini();
    }
  });

  test('protocol - readdirp entries carry inodes linked in the client graph', async () => {
    const fd = new Fd(client.inodes.root);
    const c = await client.call('create', makeLoc('/rd-file'), O_RDWR | O_CREAT, 0o644, 0, fd, null);
    assert.equal(c.opRet, 0);
    client.releaseFd(fd);
    const dfd = new Fd(client.inodes.root, true);
    assert.equal((await client.call('opendir', makeLoc('/'), dfd, null)).opRet, 0);
    const r = await client.call('readdirp', dfd, 65536, 0, null);
    const e = r.results[0]?.find((x) => x.name === 'rd-file');
    assert.ok(e?.inode, 'readdirp entry has an inode');
    assert.equal(e.inode, client.inodes.find((e.stat as Iatt).gfid));
    client.releaseFd(dfd);
    assert.equal((await client.call('unlink', makeLoc('/rd-file'), 0, null)).opRet, 0);
  });

  test('protocol - fds opened elsewhere or released answer EBADF', async () => {
    const stranger = new Fd(client.inodes.root);
    assert.deepEqual(await client.call('fstat', stranger, null), { opRet: -1, opErrno: errno.EBADF, results: [null, null] });
    const fd = new Fd(client.inodes.root);
    assert.equal((await client.call('create', makeLoc('/ebadf'), O_RDWR | O_CREAT, 0o644, 0, fd, null)).opRet, 0);
    assert.equal((await client.call('fstat', fd, null)).opRet, 0);
    client.releaseFd(fd);
    assert.equal((await client.call('fstat', fd, null)).opErrno, errno.EBADF);
    await client.call('unlink', makeLoc('/ebadf'), 0, null);
  });

  test('protocol - 64 lookups in flight on one link', async () => {
    await client.call('mkdir', makeLoc('/many'), 0o755, 0, null);
    const replies = await within(Promise.all(Array.from({ length: 64 }, (_, i) => client.call('lookup', makeLoc(i % 2 ? '/many' : '/nothing-here'), null))), 5000, '64 lookups');
    replies.forEach((r, i) => assert.deepEqual([r.opRet, r.opErrno], i % 2 ? [0, 0] : [-1, errno.ENOENT]));
    await client.call('rmdir', makeLoc('/many'), 0, null);
  });

  test('protocol/server - unknown fops and malformed arguments answer EINVAL, never a crash', async () => {
    const c = await connect({ host: '127.0.0.1', port: mgr.port, disableTls: true, name: 'raw' });
    try {
      const link = await c.link('brick1');
      assert.deepEqual(await link.$call('fop', ['nosuchfop', []]), [-1, errno.EINVAL]);
      assert.deepEqual(await link.$call('fop', ['lookup', 'not an array']), [-1, errno.EINVAL]);
      assert.deepEqual(await link.$call('fop', ['lookup', [[1, 2], null]]), [-1, errno.EINVAL]);
      assert.deepEqual(await link.$call('fop', ['readv', [999999, 10, 0, 0, null]]), [-1, errno.EBADF]);
      assert.deepEqual(await link.$call('fop', ['lookup', [['/', '', null, null], null], 'bad creds']), [-1, errno.EINVAL]);
      const ok = (await link.$call('fop', ['lookup', [['/', '', null, null], null]])) as unknown[];
      assert.equal(ok[0], 0);
    } finally {
      await c.disconnect();
    }
  });

  test('protocol - an upcall reaches a second client graph within 100 ms of a create by the first', async () => {
    const other = await graphFromText(clientVolfile(mgr.port, 'brick1').replace('volume client', 'volume client2'));
    try {
      const theirs = onEvents(other);
      const mine = onEvents(client);
      const fd = new Fd(client.inodes.root);
      const t0 = performance.now();
      const c = await client.call('create', makeLoc('/pushed'), O_RDWR | O_CREAT, 0o644, 0, fd, null);
      assert.equal(c.opRet, 0);
      const ev = await theirs.next('upcall', 1000);
      const ms = performance.now() - t0;
      assert.ok(ms < 100, `upcall after ${ms.toFixed(1)} ms`);
      assert.equal(ev.type, 'upcall');
      if (ev.type === 'upcall') {
        assert.deepEqual(ev.names, ['pushed']);
        assert.equal(ev.gfid, (c.results[2] as Iatt).gfid);
        assert.deepEqual(ev.pargfids, [(c.results[4] as Iatt).gfid]);
      }
      client.releaseFd(fd);
      await client.call('unlink', makeLoc('/pushed'), 0, null);
      await theirs.next('upcall', 1000);
      // The client that made the change is not told about it.
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(mine.events.filter((e) => e.type === 'upcall'), []);
    } finally {
      await other.fini();
    }
  });

  test('protocol/server - a client that leaves has its fds released', async () => {
    const server = brick.top as ProtocolServer;
    const g = await graphFromText(clientVolfile(mgr.port, 'brick1').replace('volume client', 'volume leaver'));
    const fd = new Fd(g.inodes.root);
    assert.equal((await g.call('create', makeLoc('/leaver'), O_RDWR | O_CREAT, 0o644, 0, fd, null)).opRet, 0);
    const before = server.clients.length;
    await g.fini();
    await within(
      (async () => {
        while (server.clients.length >= before) await new Promise((r) => setTimeout(r, 10));
      })(),
      2000,
      'the server to drop the client',
    );
    await client.call('unlink', makeLoc('/leaver'), 0, null);
  });

  test('protocol/client - init fails with a TranslatorError when the brick does not exist', async () => {
    const t0 = Date.now();
    await assert.rejects(within(graphFromText(clientVolfile(mgr.port, 'no-such-brick')), 15_000, 'init'), (err: unknown) => {
      assert.ok(err instanceof TranslatorError);
      assert.match(err.message, /no-such-brick/);
      return true;
    });
    assert.ok(Date.now() - t0 < 12_000);
  });

  test('protocol/server - auth.allow refuses other client names with EACCES', async () => {
    const b = await graphFromText(brickVolfile(mgr.port, 'guarded', '  option auth.allow alice,bo*'));
    try {
      const bob = await graphFromText(clientVolfile(mgr.port, 'guarded', '  option username bob'));
      const eve = await graphFromText(clientVolfile(mgr.port, 'guarded', '  option username eve'));
      assert.equal((await bob.call('lookup', makeLoc('/'), null)).opRet, 0);
      assert.deepEqual([(await eve.call('lookup', makeLoc('/'), null)).opErrno], [errno.EACCES]);
      await bob.fini();
      await eve.fini();
    } finally {
      await b.fini();
    }
  });
});

/** Polls `cond` every 10 ms until it holds; fails after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  await within(
    (async () => {
      while (!cond()) await new Promise((r) => setTimeout(r, 10));
    })(),
    ms,
    what,
  );
}

/** A brick whose opens (only) take `ms` milliseconds. */
const slowOpenBrick = (port: number, name: string, ms: number): string => `
volume mem
  type storage/memory
end-volume
volume slow
  type debug/delay-gen
  option delay-percentage 100%
  option delay-duration ${ms * 1000}
  option enable open
  subvolumes mem
end-volume
volume server
  type protocol/server
  option name ${name}
  option manager 127.0.0.1:${port}
  option disable-tls on
  subvolumes slow
end-volume
`;

const MiB = 1 << 20;

describe('protocol limits and fd bookkeeping', () => {
  let mgr: Manager;

  before(async () => {
    mgr = await startTestManager();
  });

  after(async () => {
    await mgr?.close();
  });

  test('protocol - a readv beyond max-read-size is a short read of 1 MiB, and a write beyond max-write-size is split, under a 4 MiB Manager limit', async () => {
    const small = await startTestManager({ maxMessageSize: 4 * MiB });
    const b = await graphFromText(brickVolfile(small.port, 'limited'));
    const g = await graphFromText(clientVolfile(small.port, 'limited'));
    const other = await graphFromText(clientVolfile(small.port, 'limited').replace('volume client', 'volume other'));
    try {
      const stopped = { yes: false };
      void (b.top as ProtocolServer).whenStopped().then(() => (stopped.yes = true));
      const data = randomBytes(8 * MiB);
      const fd = new Fd(g.inodes.root);
      assert.equal((await g.call('create', makeLoc('/big'), O_RDWR | O_CREAT, 0o644, 0, fd, null)).opRet, 0);
      const w = await g.call('writev', fd, data, 0, 0, null);
      assert.deepEqual([w.opRet, w.opErrno], [8 * MiB, 0]);
      assert.equal((w.results[0] as Iatt).size, 0, 'prebuf is the first call’s');
      assert.equal((w.results[1] as Iatt).size, 8 * MiB, 'postbuf is the last call’s');
      const r = await g.call('readv', fd, 8 * MiB, 0, 0, null);
      assert.deepEqual([r.opRet, r.opErrno], [MiB, 0]);
      assert.ok((r.results[0] as Buffer).equals(data.subarray(0, MiB)));
      const tail = await g.call('readv', fd, 8 * MiB, 7 * MiB, 0, null);
      assert.ok((tail.results[0] as Buffer).equals(data.subarray(7 * MiB)), 'the last MiB was written at its offset');
      g.releaseFd(fd);
      // The brick is still served, to this client and to others.
      assert.equal((await other.call('lookup', makeLoc('/big'), null)).opRet, 0);
      assert.equal(stopped.yes, false);
    } finally {
      await other.fini();
      await g.fini();
      await b.fini();
      await small.close();
    }
  });

  test('protocol - a split write stops at the first failure and answers the bytes written before it', async () => {
    const b = await graphFromText(brickVolfile(mgr.port, 'full').replace('type storage/memory', 'type storage/memory\n  option size 3MB'));
    const g = await graphFromText(clientVolfile(mgr.port, 'full', '  option max-write-size 1MB'));
    try {
      const fd = new Fd(g.inodes.root);
      assert.equal((await g.call('create', makeLoc('/f'), O_RDWR | O_CREAT, 0o644, 0, fd, null)).opRet, 0);
      const w = await g.call('writev', fd, Buffer.alloc(8 * MiB, 7), 0, 0, null);
      assert.deepEqual([w.opRet, w.opErrno, (w.results[1] as Iatt).size], [3 * MiB, 0, 3 * MiB]);
      const again = await g.call('writev', fd, Buffer.alloc(2 * MiB, 7), 3 * MiB, 0, null);
      assert.deepEqual([again.opRet, again.opErrno], [-1, errno.ENOSPC]);
      g.releaseFd(fd);
    } finally {
      await g.fini();
      await b.fini();
    }
  });

  test('protocol - readdir and readdirp size budgets are clamped to max-read-size', async () => {
    const b = await graphFromText(brickVolfile(mgr.port, 'dirs', '  option max-read-size 4KB'));
    const g = await graphFromText(clientVolfile(mgr.port, 'dirs'));
    try {
      await Promise.all(Array.from({ length: 300 }, (_, i) => g.call('mkdir', makeLoc(`/d${i}`), 0o755, 0, null)));
      const dfd = new Fd(g.inodes.root, true);
      assert.equal((await g.call('opendir', makeLoc('/'), dfd, null)).opRet, 0);
      for (const fop of ['readdir', 'readdirp'] as const) {
        const r = await g.call(fop, dfd, MiB, 0, null);
        const n = r.results[0]?.length ?? 0;
        // Each entry costs 32 bytes of budget in storage/memory: 4096 / 32 = 128.
        assert.equal(n, 128, `${fop} entries`);
      }
      g.releaseFd(dfd);
    } finally {
      await g.fini();
      await b.fini();
    }
  });

  test('protocol - two concurrent opens of one fd number: the second answers EBADF and no fd is left open', async () => {
    const b = await graphFromText(slowOpenBrick(mgr.port, 'racy', 30));
    const c = await connect({ host: '127.0.0.1', port: mgr.port, disableTls: true, name: 'racer' });
    try {
      const link = await c.link('racy');
      void link.$call('hold').catch(() => {});
      const created = (await link.$call('fop', ['create', [['/f', 'f', null, ROOT_GFID], O_RDWR | O_CREAT, 0o644, 0, 1, null]])) as unknown[];
      assert.equal(created[0], 0);
      assert.equal(await link.$call('release', [1]), true);
      const gfid = (created[3] as [string, number])[0];
      const loc = ['/f', 'f', gfid, ROOT_GFID];
      const inode = b.inodes.find(gfid);
      assert.ok(inode);
      const open = (fdId: number, xdata: unknown = null): Promise<unknown[]> => link.$call('fop', ['open', [loc, O_RDWR, fdId, xdata]]) as Promise<unknown[]>;
      const both = await within(Promise.all([open(7), open(7)]), 5000, 'two opens');
      assert.deepEqual(both.map((r) => [r[0], r[1]]), [
        [0, 0],
        [-1, errno.EBADF],
      ]);
      assert.equal(inode.fdCount, 1);
      assert.equal(await link.$call('release', [7]), true);
      assert.equal(inode.fdCount, 0);
      // A number whose open failed (malformed xdata after the fd, a file that is not there) is free again.
      assert.deepEqual(await open(8, 'not a dict'), [-1, errno.EINVAL]);
      assert.deepEqual(await link.$call('fop', ['open', [['/nope', 'nope', null, ROOT_GFID], O_RDWR, 9, null]]), [-1, errno.ENOENT]);
      assert.equal((await open(8))[0], 0);
      assert.equal((await open(9))[0], 0);
      assert.equal(inode.fdCount, 2);
      await link.$call('release', [8]);
      await link.$call('release', [9]);
      assert.equal(inode.fdCount, 0);
    } finally {
      await c.disconnect();
      await b.fini();
    }
  });

  test('protocol - a requester without hold() is served, cannot open fds (EPROTO), and leaves no state behind', async () => {
    const b = await graphFromText(brickVolfile(mgr.port, 'nohold'));
    const server = b.top as ProtocolServer;
    try {
      for (let i = 0; i < 5; i++) {
        const c = await connect({ host: '127.0.0.1', port: mgr.port, disableTls: true, name: 'py' });
        try {
          const link = await c.link('nohold');
          const lk = (await link.$call('fop', ['lookup', [['/', '', ROOT_GFID, null], null]])) as unknown[];
          assert.equal(lk[0], 0);
          assert.deepEqual(await link.$call('fop', ['create', [['/x', 'x', null, ROOT_GFID], O_RDWR | O_CREAT, 0o644, 0, 1, null]]), [-1, errno.EPROTO]);
          assert.deepEqual(await link.$call('fop', ['opendir', [['/', '', ROOT_GFID, null], 2, null]]), [-1, errno.EPROTO]);
        } finally {
          await c.disconnect();
        }
      }
      assert.deepEqual(server.clients, []);
      // A client that holds is kept while linked.
      const g = await graphFromText(clientVolfile(mgr.port, 'nohold'));
      assert.equal((await g.call('lookup', makeLoc('/'), null)).opRet, 0);
      assert.equal(server.clients.length, 1);
      await g.fini();
      await until(() => server.clients.length === 0, 2000, 'the holding client to be dropped');
    } finally {
      await b.fini();
    }
  });

  test('protocol - an open answered after frame-timeout has its fd released on the brick', async () => {
    const b = await graphFromText(slowOpenBrick(mgr.port, 'late', 400));
    const g = await graphFromText(clientVolfile(mgr.port, 'late', '  option frame-timeout 100ms'));
    try {
      const cfd = new Fd(g.inodes.root);
      const c = await g.call('create', makeLoc('/f'), O_RDWR | O_CREAT, 0o644, 0, cfd, null);
      assert.equal(c.opRet, 0);
      g.releaseFd(cfd);
      const gfid = (c.results[2] as Iatt).gfid;
      const inode = b.inodes.find(gfid);
      assert.ok(inode);
      await until(() => inode.fdCount === 0, 1000, 'the create fd to be released');
      // The brick holds the late fd only for one round trip: record the highest count it reached.
      let count = 0;
      let peak = 0;
      Object.defineProperty(inode, 'fdCount', {
        get: () => count,
        set: (v: number) => {
          count = v;
          peak = Math.max(peak, v);
        },
        configurable: true,
      });
      const t0 = performance.now();
      const o = await g.call('open', makeLoc('/f', { gfid }), O_RDWR, new Fd(g.inodes.root), null);
      assert.deepEqual([o.opRet, o.opErrno], [-1, errno.ETIMEDOUT]);
      assert.ok(performance.now() - t0 < 400, 'the open timed out before the brick answered');
      // The brick opens it at 400 ms; the late reply makes the client release it at once.
      await until(() => peak === 1, 2000, 'the brick to open the file');
      await until(() => count === 0, 1000, 'the late-opened fd to be released on the brick');
    } finally {
      await g.fini();
      await b.fini();
    }
  });

  test('protocol - root-squash (default on) runs uid 0 and gid 0 as anonuid and anongid', async () => {
    const stOf = async (g: Graph, path: string, creds?: { uid: number; gid: number; pid: number; groups: number[] }): Promise<[number, number]> => {
      const r = await g.callAs(creds, 'mkdir', makeLoc(path), 0o755, 0, null);
      assert.equal(r.opRet, 0);
      const st = r.results[1] as Iatt;
      return [st.uid, st.gid];
    };
    const squashed = await graphFromText(brickVolfile(mgr.port, 'squashed'));
    const custom = await graphFromText(brickVolfile(mgr.port, 'custom', '  option anonuid 4242\n  option anongid 4343'));
    const open = await graphFromText(brickVolfile(mgr.port, 'open', '  option root-squash off'));
    const cs = await graphFromText(clientVolfile(mgr.port, 'squashed'));
    const cc = await graphFromText(clientVolfile(mgr.port, 'custom'));
    const co = await graphFromText(clientVolfile(mgr.port, 'open'));
    try {
      assert.deepEqual(await stOf(cs, '/a'), [65534, 65534]);
      assert.deepEqual(await stOf(cs, '/b', { uid: 1000, gid: 0, pid: 1, groups: [] }), [1000, 65534]);
      assert.deepEqual(await stOf(cc, '/a'), [4242, 4343]);
      assert.deepEqual(await stOf(co, '/a'), [0, 0]);
      assert.deepEqual(await stOf(co, '/b', { uid: 1000, gid: 1001, pid: 1, groups: [] }), [1000, 1001]);
    } finally {
      for (const g of [cs, cc, co, squashed, custom, open]) await g.fini();
    }
  });
});

function startChild(port: number, name: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/brick-child.ts'), String(port), name], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return within(
    new Promise<ChildProcess>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('READY')) resolve(child);
      });
      child.once('exit', (code) => reject(new Error(`brick-child exited with ${code}`)));
    }),
    20_000,
    'the brick child to start',
  );
}

describe('protocol/client against a brick in another process', () => {
  test('protocol/client - a killed brick fails fops in flight with ENOTCONN at once, then reconnects', async () => {
    const mgr = await startTestManager();
    let child: ChildProcess | undefined;
    let g: Graph | undefined;
    try {
      child = await startChild(mgr.port, 'remote1');
      g = await graphFromText(clientVolfile(mgr.port, 'remote1'));
      const ev = onEvents(g);
      assert.equal((await g.call('lookup', makeLoc('/'), null)).opRet, 0);
      const pending = g.call('lookup', makeLoc('/slow-one'), null);
      await new Promise((r) => setTimeout(r, 100));
      const t0 = performance.now();
      child.kill('SIGKILL');
      const r = await within(pending, 1000, 'the fop in flight to fail');
      assert.deepEqual([r.opRet, r.opErrno], [-1, errno.ENOTCONN]);
      assert.ok(performance.now() - t0 < 1000);
      await ev.next('child-down', 1000);
      const t1 = performance.now();
      const later = await g.call('lookup', makeLoc('/'), null);
      assert.deepEqual([later.opRet, later.opErrno], [-1, errno.ENOTCONN]);
      assert.ok(performance.now() - t1 < 50, 'a later fop fails fast');
      child = await startChild(mgr.port, 'remote1');
      await ev.next('child-up', 10_000);
      assert.equal((await g.call('lookup', makeLoc('/'), null)).opRet, 0);
    } finally {
      await g?.fini();
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await mgr.close();
    }
  });
});

describe('protocol/client against a hung brick', () => {
  test('protocol/client - a brick that stops answering pings is declared down after ping-timeout', async () => {
    const mgr = await startTestManager();
    let child: ChildProcess | undefined;
    let g: Graph | undefined;
    try {
      child = await startChild(mgr.port, 'hung1');
      g = await graphFromText(clientVolfile(mgr.port, 'hung1', '  option ping-timeout 600ms'));
      const ev = onEvents(g);
      assert.equal((await g.call('lookup', makeLoc('/'), null)).opRet, 0);
      child.kill('SIGSTOP');
      const t0 = performance.now();
      const r = await within(g.call('lookup', makeLoc('/'), null), 3000, 'the fop to the hung brick to fail');
      assert.deepEqual([r.opRet, r.opErrno], [-1, errno.ENOTCONN]);
      await ev.next('child-down', 1000);
      const ms = performance.now() - t0;
      assert.ok(ms >= 400 && ms < 2000, `declared down after ${ms.toFixed(0)} ms`);
      child.kill('SIGCONT');
      await ev.next('child-up', 10_000);
      assert.equal((await g.call('lookup', makeLoc('/'), null)).opRet, 0);
    } finally {
      await g?.fini();
      if (child && child.exitCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
      await mgr.close();
    }
  });
});

describe('switchyard brick serve', () => {
  test('cli - brick serve prints its line, serves fops and exits 0 on SIGTERM', async () => {
    const mgr = await startTestManager();
    const dir = tempDir();
    let child: ChildProcess | undefined;
    let g: Graph | undefined;
    try {
      const volfile = join(dir.path, 'brick.vol');
      writeFileSync(volfile, 'volume mem\n  type storage/memory\nend-volume\n');
      const argv = ['brick', 'serve', volfile, '--name', 'clibrick', '--manager', `127.0.0.1:${mgr.port}`, '--disable-tls'];
      child = spawn(process.execPath, [join(ROOT, 'bin/switchyard.js'), ...argv], {
        cwd: ROOT,
        env: { ...process.env, SWITCHYARD_SOURCE: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      const line = await within(
        new Promise<string>((resolve, reject) => {
          child?.stdout?.on('data', (d: Buffer) => {
            out += d.toString();
            const i = out.indexOf('\n');
            if (i >= 0) resolve(out.slice(0, i));
          });
          child?.once('exit', (code) => reject(new Error(`brick serve exited with ${code}: ${err}`)));
        }),
        20_000,
        'the brick serve line',
      );
      assert.equal(line, `brick clibrick serving mem through 127.0.0.1:${mgr.port}`);
      g = await graphFromText(clientVolfile(mgr.port, 'clibrick'));
      assert.equal((await g.call('mkdir', makeLoc('/via-cli'), 0o755, 0, null)).opRet, 0);
      const lk = await g.call('lookup', makeLoc('/via-cli'), null);
      assert.equal(lk.opRet, 0);
      assert.equal((lk.results[1] as Iatt).type, IA.IFDIR);
      const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await within(exited, 5000, 'brick serve to exit'), 0, err);
    } finally {
      await g?.fini();
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await mgr.close();
      dir.remove();
    }
  });
});

// The shared leaf contract over a protocol/client leaf: a fresh brick per graph, so each contract
// test starts from an empty volume.
{
  let shared: Manager | undefined;
  let bricks = 0;
  runLeafContract('protocol/client', async () => {
    shared ??= await startTestManager();
    const name = `contract-${++bricks}`;
    const brick = await graphFromText(brickVolfile(shared.port, name));
    const graph = await graphFromText(clientVolfile(shared.port, name));
    return {
      graph,
      cleanup: async () => {
        await graph.fini();
        await brick.fini();
      },
    };
  });
  after(async () => {
    await shared?.close();
  });
}

test('protocol - a write through a Volume invalidates the file it wrote, not the root', async () => {
  const { openVolume } = await import('../../src/volume/volume.ts');
  const mgr = await startTestManager();
  const brick = await graphFromText(brickVolfile(mgr.port, 'upcall-brick'));
  const other = await graphFromText(clientVolfile(mgr.port, 'upcall-brick'));
  const vol = await openVolume({ volfile: clientVolfile(mgr.port, 'upcall-brick') });
  try {
    await vol.writeFile('/f', 'one');
    const gfid = (await vol.stat('/f')).gfid;
    const events: GraphEvent[] = [];
    other.onEvent((e) => events.push(e));
    await vol.writeFile('/f', 'two', { flag: 'r+' });
    await within(
      (async () => {
        while (!events.some((e) => e.type === 'upcall' && e.gfid === gfid)) await new Promise((r) => setTimeout(r, 5));
      })(),
      2000,
      "the write's upcall naming the file",
    );
    assert.ok(!events.some((e) => e.type === 'upcall' && e.gfid === '00000000-0000-0000-0000-000000000001'), 'no upcall names the root for a file write');
  } finally {
    await vol.close();
    await other.fini();
    await brick.fini();
    await mgr.close();
  }
});

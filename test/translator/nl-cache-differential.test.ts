/**
 * Differential test of performance/nl-cache: two client graphs (nl-cache over protocol/client)
 * and one uncached oracle client share one brick (protocol/server over storage/posix on a
 * temporary directory) through a real Manager on loopback. A seeded random
 * sequence of namespace ops runs through both cached clients; after each op every touched name
 * is looked up through all three graphs. The client that made the change must agree with the
 * oracle at once; the other client within 100 ms (the brick's pushed invalidation).
 */
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { graphFromText, type Graph } from '../../src/translator/graph.ts';
import { Fd, IA, Inode, ROOT_GFID, makeLoc, randomGfid, type Gfid, type Loc } from '../../src/translator/model.ts';
import type { NlCache } from '../../src/translator/types/nl-cache.ts';
import { seededRandom } from '../../src/translator/types/debug-util.ts';
import { startTestManager, tempDir, within } from '../helpers/index.ts';

const OPS = 2000;
const SEED = 0x5eed_2026;
const PUSH_BOUND_MS = 100;
/** How long a mismatch is polled before the test gives up on it (well above the bound, to measure). */
const POLL_GIVE_UP_MS = 2000;


interface Dir {
  readonly path: string;
  readonly gfid: Gfid;
}

type Outcome = readonly [opRet: number, opErrno: number];

function clientVolfile(volume: string, port: number, cached: boolean): string {
  const client = [`volume ${volume}`, '  type protocol/client', '  option remote-subvolume nlc-brick', `  option manager 127.0.0.1:${port}`, '  option disable-tls on', 'end-volume'];
  const cache = [`volume ${volume}-nlc`, '  type performance/nl-cache', `  subvolumes ${volume}`, 'end-volume'];
  return [...client, ...(cached ? cache : [])].join('\n');
}

test('nl-cache differential - two clients over one brick never see a stale ENOENT (own changes at once, the other client within 100 ms)', { timeout: 120_000 }, async () => {
  const manager = await startTestManager();
  const graphs: Graph[] = [];
  const dir = tempDir('switchyard-nlc-brick-');
  try {
    const brick = await graphFromText(
      ['volume brick-mem', '  type storage/posix', `  option directory ${dir.path}`, 'end-volume', 'volume brick', '  type protocol/server', '  option name nlc-brick', `  option manager 127.0.0.1:${manager.port}`, '  option disable-tls on', '  subvolumes brick-mem', 'end-volume'].join('\n'),
    );
    graphs.push(brick);
    const a = await graphFromText(clientVolfile('client-a', manager.port, true));
    graphs.push(a);
    const b = await graphFromText(clientVolfile('client-b', manager.port, true));
    graphs.push(b);
    const oracle = await graphFromText(clientVolfile('client-oracle', manager.port, false));
    graphs.push(oracle);
    const clients = [a, b] as const;

    const loc = (dir: Dir, name: string, gfid: Gfid | null = null): Loc => makeLoc(`${dir.path}/${name}`, { pargfid: dir.gfid, gfid });
    const outcome = async (g: Graph, dir: Dir, name: string): Promise<Outcome> => {
      const r = await within(g.call('lookup', loc(dir, name), null), 5000, `lookup ${dir.path}/${name}`);
      return [r.opRet, r.opErrno];
    };

    const root: Dir = { path: '', gfid: ROOT_GFID };
    const dirs: Dir[] = [];
    for (const d of ['d0', 'd1', 'd2']) {
      const r = await oracle.call('mkdir', loc(root, d), 0o755, 0, null);
      assert.equal(r.opRet, 0);
      dirs.push({ path: `/${d}`, gfid: (r.results[0] as Inode).gfid });
    }
    const names = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
    const rand = seededRandom(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

    let maxPushDelay = 0;
    let staleSeenByOther = 0;
    let compared = 0;
    const opCounts: Record<string, number> = {};

    const run = async (g: Graph, op: string, d1: Dir, n1: string, d2: Dir, n2: string): Promise<number> => {
      switch (op) {
        case 'create': {
          const fd = new Fd(new Inode(randomGfid(), IA.IFREG));
          const r = await g.call('create', loc(d1, n1), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644, 0, fd, null);
          g.releaseFd(fd);
          return r.opRet;
        }
        case 'mkdir':
          return (await g.call('mkdir', loc(d1, n1), 0o755, 0, null)).opRet;
        case 'mknod':
          return (await g.call('mknod', loc(d1, n1), 0o100644, 0, 0, null)).opRet;
        case 'symlink':
          return (await g.call('symlink', `../${n2}`, loc(d1, n1), 0, null)).opRet;
        case 'link':
          return (await g.call('link', loc(d2, n2), loc(d1, n1), null)).opRet;
        case 'rename':
          return (await g.call('rename', loc(d2, n2), loc(d1, n1), null)).opRet;
        case 'unlink':
          return (await g.call('unlink', loc(d1, n1), 0, null)).opRet;
        case 'rmdir':
          return (await g.call('rmdir', loc(d1, n1), 0, null)).opRet;
        default:
          return (await g.call('lookup', loc(d1, n1), null)).opRet;
      }
    };
    const opsTable = ['lookup', 'lookup', 'lookup', 'create', 'mkdir', 'mknod', 'symlink', 'link', 'rename', 'rename', 'unlink', 'unlink', 'rmdir'];

    for (let step = 0; step < OPS; step++) {
      const who = rand() < 0.5 ? 0 : 1;
      const self = clients[who] as Graph;
      const other = clients[1 - who] as Graph;
      const op = pick(opsTable);
      const d1 = pick(dirs);
      const n1 = pick(names);
      const d2 = pick(dirs);
      const n2 = pick(names);
      opCounts[op] = (opCounts[op] ?? 0) + 1;
      // The other client looks the target name up while the op is in flight: its reply may
      // predate the change and must not leave a stale entry behind.
      const racing = outcome(other, d1, n1);
      await within(run(self, op, d1, n1, d2, n2), 5000, `${op} ${d1.path}/${n1}`);
      await racing;
      const touched: Array<[Dir, string]> = [[d1, n1]];
      if (op === 'link' || op === 'rename') touched.push([d2, n2]);
      touched.push([pick(dirs), pick(names)]);
      for (const [d, n] of touched) {
        const truth = await outcome(oracle, d, n);
        const mine = await outcome(self, d, n);
        compared++;
        if (mine[0] !== truth[0] || mine[1] !== truth[1]) {
          assert.fail(`step ${step} (seed ${SEED}): after its own ${op}, the client sees ${d.path}/${n} as ${mine.join(',')} but the brick says ${truth.join(',')}`);
        }
        const started = performance.now();
        let theirs = await outcome(other, d, n);
        if (theirs[0] === truth[0] && theirs[1] === truth[1]) continue;
        staleSeenByOther++;
        for (;;) {
          const waited = performance.now() - started;
          if (waited > POLL_GIVE_UP_MS) assert.fail(`step ${step} (seed ${SEED}): the other client still sees ${d.path}/${n} as ${theirs.join(',')} after ${Math.round(waited)} ms; the brick says ${truth.join(',')}`);
          await sleep(1);
          theirs = await outcome(other, d, n);
          if (theirs[0] === truth[0] && theirs[1] === truth[1]) break;
        }
        maxPushDelay = Math.max(maxPushDelay, performance.now() - started);
      }
    }

    const sa = (a.top as NlCache).stats();
    const sb = (b.top as NlCache).stats();
    const report = { ops: OPS, seed: SEED, compared, opCounts, staleSeenByOther, maxPushDelayMs: Math.round(maxPushDelay * 100) / 100, a: sa, b: sb };
    console.log(`# nl-cache differential: ${JSON.stringify(report)}`);
    assert.ok(maxPushDelay <= PUSH_BOUND_MS, `the other client saw a change after ${maxPushDelay.toFixed(1)} ms (bound ${PUSH_BOUND_MS} ms)`);
    // The test means something only if both caches answered and were invalidated.
    for (const s of [sa, sb]) {
      assert.ok(s.hits > 100, `hits ${s.hits}`);
      assert.ok(s.invalidations > 100, `invalidations ${s.invalidations}`);
    }
  } finally {
    for (const g of graphs.reverse()) await g.fini().catch(() => {});
    await manager.close();
    dir.remove();
  }
});

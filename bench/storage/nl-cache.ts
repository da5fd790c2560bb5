/**
 * bench/storage/nl-cache: 10,000 missing names × 10 rounds of lookups against a remote brick,
 * through `performance/nl-cache` over `protocol/client`, beside the same graph with the cache in
 * `pass-through`. The brick (a Manager plus protocol/server → debug/io-stats → storage/memory)
 * runs in a child process; its io-stats counts the lookups that reach it.
 *
 *   node --import tsx bench/storage/nl-cache.ts
 *
 * Env: BENCH_NAMES (default 10000), BENCH_ROUNDS (default 10), BENCH_INFLIGHT (lookups in flight
 * at once, default 1), BENCH_LIMIT (`nl-cache-limit`, default 2MB).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startManager } from '../../src/manager/manager.ts';
import { openDatabase } from '../../src/manager/database.ts';
import { graphFromText, type Graph } from '../../src/translator/graph.ts';
import { ROOT_GFID, makeLoc, type Loc } from '../../src/translator/model.ts';
import type { IoStats } from '../../src/translator/types/io-stats.ts';
import type { NlCache } from '../../src/translator/types/nl-cache.ts';

const NAMES = Number(process.env['BENCH_NAMES'] ?? 10_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 10);
const INFLIGHT = Number(process.env['BENCH_INFLIGHT'] ?? 1);
/** 10,000 names of 10-11 bytes are about 750 KB by the cache's accounting: the default 128 KB holds 1,700. */
const LIMIT = process.env['BENCH_LIMIT'] ?? '2MB';

/** The brick process: prints its Manager port, then answers each stdin line with its lookup count. */
async function brick(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-nlc-'));
  const db = openDatabase(join(dir, 'manager.sqlite3'));
  const manager = await startManager({ host: '127.0.0.1', port: 0, disableTls: true, database: db });
  const graph = await graphFromText(
    [
      'volume mem',
      '  type storage/memory',
      'end-volume',
      'volume stats',
      '  type debug/io-stats',
      '  option latency-measurement off',
      '  subvolumes mem',
      'end-volume',
      'volume server',
      '  type protocol/server',
      '  option name bench-brick',
      `  option manager 127.0.0.1:${manager.port}`,
      '  option disable-tls on',
      '  subvolumes stats',
      'end-volume',
    ].join('\n'),
  );
  const stats = graph.translators.get('stats') as IoStats;
  process.stdout.write(`${manager.port}\n`);
  for await (const _line of createInterface({ input: process.stdin })) process.stdout.write(`${stats.stats()['lookup']?.count ?? 0}\n`);
  await graph.fini();
  await manager.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Runs the lookups of `locs`, `INFLIGHT` at a time; resolves with the milliseconds taken. Cache
 * hits answer synchronously, so issuing is a loop, never a recursion from the callback.
 */
function lookups(graph: Graph, locs: readonly Loc[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let next = 0;
    let done = 0;
    let inflight = 0;
    let pumping = false;
    const onReply = (loc: Loc, opRet: number, opErrno: number): void => {
      inflight--;
      if (opRet !== -1 || opErrno !== 2) return reject(new Error(`lookup ${loc.path}: ${opRet}/${opErrno}, ENOENT expected`));
      if (++done === locs.length) resolve(performance.now() - start);
      else pump();
    };
    const pump = (): void => {
      if (pumping) return;
      pumping = true;
      while (inflight < INFLIGHT && next < locs.length) {
        const loc = locs[next++] as Loc;
        inflight++;
        graph.wind('lookup', [loc, null], (opRet, opErrno) => onReply(loc, opRet, opErrno));
      }
      pumping = false;
    };
    pump();
  });
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'brick'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const line = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done) throw new Error('the brick process ended');
    return r.value;
  };
  const brickLookups = async (): Promise<number> => {
    child.stdin.write('count\n');
    return Number(await line());
  };
  try {
    const port = Number(await line());
    const graph = await graphFromText(
      [
        'volume client',
        '  type protocol/client',
        '  option remote-subvolume bench-brick',
        `  option manager 127.0.0.1:${port}`,
        '  option disable-tls on',
        'end-volume',
        'volume nlc',
        '  type performance/nl-cache',
        `  option nl-cache-limit ${LIMIT}`,
        '  subvolumes client',
        'end-volume',
      ].join('\n'),
    );
    const cache = graph.top as NlCache;
    const locs = Array.from({ length: NAMES }, (_, i) => makeLoc(`/missing-${i}`, { pargfid: ROOT_GFID }));

    const run = async (label: string): Promise<{ first: number; rest: number; rpcsRest: number; rounds: number[] }> => {
      const rounds: number[] = [];
      let before = 0;
      for (let r = 0; r < ROUNDS; r++) {
        if (r === 1) before = await brickLookups();
        rounds.push(await lookups(graph, locs));
      }
      const rpcsRest = (await brickLookups()) - before;
      const rest = rounds.slice(1).reduce((a, b) => a + b, 0);
      console.log(`${label}: round 1 ${rounds[0]?.toFixed(1)} ms; rounds 2-${ROUNDS} ${rest.toFixed(1)} ms (${((rest * 1e6) / (NAMES * (ROUNDS - 1))).toFixed(0)} ns/lookup); brick lookups in rounds 2-${ROUNDS}: ${rpcsRest}`);
      return { first: rounds[0] ?? 0, rest, rpcsRest, rounds };
    };

    // Warm the connection and the JIT on other names.
    await lookups(graph, Array.from({ length: 2000 }, (_, i) => makeLoc(`/warm-${i}`, { pargfid: ROOT_GFID })));
    cache.clear();
    const cached = await run('nl-cache');
    const s = cache.stats();
    console.log(`  cache: ${s.entries} entries, ${s.bytes} bytes, ${s.hits} hits, ${s.misses} misses, ${s.evictions} evictions`);
    cache.reconfigure({ 'nl-cache-limit': LIMIT, 'pass-through': 'on' });
    const plain = await run('pass-through');
    console.log(
      JSON.stringify({
        names: NAMES,
        rounds: ROUNDS,
        inflight: INFLIGHT,
        brick: 'child process (Manager + protocol/server + io-stats + storage/memory), client in this process',
        cachedRestMs: Math.round(cached.rest),
        plainRestMs: Math.round(plain.rest),
        rpcsRoundsTwoOnCached: cached.rpcsRest,
        rpcsRoundsTwoOnPlain: plain.rpcsRest,
        speedup: Math.round((plain.rest / cached.rest) * 10) / 10,
      }),
    );
    await graph.fini();
  } finally {
    child.stdin.end();
    await new Promise((r) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        r(undefined);
      }, 5000);
      child.once('exit', () => {
        clearTimeout(t);
        r(undefined);
      });
    });
  }
}

if (process.argv[2] === 'brick') await brick();
else await main();

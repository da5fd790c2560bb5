/**
 * bench/storage (a): the cost of translator levels, in one process, over storage/memory.
 * - `lookup` through N = 0, 1, 4, 16 default (pass-through) translators: target ≤ 100 ns per level,
 *   linear in N (the N = 0 graph is the baseline of the same run);
 * - through N intercepting translators that wind and call back (glupy's helloworld without its
 *   prints): target ≤ 0.5 µs per level;
 * - through debug/trace writing to /dev/null: target ≤ 2 µs per fop.
 * Each figure is the median of 5 rounds of 300,000 lookups; rounds of all graphs are interleaved so
 * that the machine's drift hits them alike.
 */
import { median } from '../lib.ts';
import { Graph, graphFromText } from '../../src/translator/graph.ts';
import type { Frame } from '../../src/translator/frame.ts';
import { makeLoc, type Dict, type Loc } from '../../src/translator/model.ts';
import { Translator } from '../../src/translator/translator.ts';
import { MemoryStorage } from '../../src/translator/types/memory.ts';

const OPS = Number(process.env['BENCH_OPS'] ?? 300_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);

class Default extends Translator {}
class Hello extends Translator {
  lookupFop(frame: Frame, loc: Loc, xdata: Dict | null): void {
    this.windLookup(frame, loc, xdata);
  }
  lookupCbk(frame: Frame, _cookie: unknown, opRet: number, opErrno: number, inode: unknown, buf: unknown, xdata: unknown, postparent: unknown): void {
    this.unwindLookup(frame, opRet, opErrno, inode as never, buf as never, xdata as never, postparent as never);
  }
}

async function stack(n: number, cls: typeof Default | typeof Hello): Promise<Graph> {
  let t: Translator = new MemoryStorage({ name: 'mem', type: 'storage/memory' });
  for (let i = 0; i < n; i++) t = new cls({ name: `l${i}`, type: 'bench/level', children: [t] });
  const g = new Graph(t);
  await g.init();
  await g.call('create', makeLoc('/file'), 0, 0o644, 0, new (await import('../../src/translator/model.ts')).Fd(g.inodes.root), null);
  return g;
}

function time(g: Graph): number {
  const loc = makeLoc('/file');
  const args: [Loc, null] = [loc, null];
  let done = 0;
  const cb = (): void => {
    done++;
  };
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < OPS; i++) g.wind('lookup', args, cb);
  const ns = Number(process.hrtime.bigint() - t0) / OPS;
  if (done !== OPS) throw new Error(`only ${done} of ${OPS} lookups completed synchronously`);
  return ns;
}

const graphs: Array<{ label: string; n: number; kind: string; g: Graph; samples: number[] }> = [];
for (const n of [0, 1, 4, 16]) graphs.push({ label: `default × ${n}`, n, kind: 'default', g: await stack(n, Default), samples: [] });
for (const n of [1, 4, 16]) graphs.push({ label: `intercepting × ${n}`, n, kind: 'hello', g: await stack(n, Hello), samples: [] });
let traceGraph: Graph | undefined;
try {
  traceGraph = await graphFromText(
    'volume mem\n  type storage/memory\nend-volume\nvolume trace\n  type debug/trace\n  option log-file /dev/null\n  subvolumes mem\nend-volume\n',
  );
  const { Fd } = await import('../../src/translator/model.ts');
  await traceGraph.call('create', makeLoc('/file'), 0, 0o644, 0, new Fd(traceGraph.inodes.root), null);
  graphs.push({ label: 'debug/trace to /dev/null', n: 1, kind: 'trace', g: traceGraph, samples: [] });
} catch (err) {
  console.log(`(debug/trace not measured: ${(err as Error).message})`);
}

for (const x of graphs) time(x.g); // warm up every path
for (let r = 0; r < ROUNDS; r++) for (const x of graphs) x.samples.push(time(x.g));

const base = median(graphs[0]!.samples);
console.log(`lookup over storage/memory, ${OPS.toLocaleString()} per round, median of ${ROUNDS} rounds (N = 0 baseline: ${base.toFixed(0)} ns per lookup)`);
console.log('graph                        ns/lookup   per level vs N=0   target');
for (const x of graphs) {
  const m = median(x.samples);
  const per = x.n === 0 ? 0 : (m - base) / x.n;
  const target = x.kind === 'default' ? '≤ 100 ns' : x.kind === 'hello' ? '≤ 500 ns' : '≤ 2000 ns';
  const perText = x.n === 0 ? '      —' : `${per.toFixed(1).padStart(7)} ns`;
  console.log(`${x.label.padEnd(28)} ${m.toFixed(0).padStart(9)}   ${perText}         ${target}`);
}
for (const x of graphs) await x.g.fini();

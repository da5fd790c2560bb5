import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TranslatorError } from '../../src/errors.ts';
import { FOPS, FOP_NAMES, FOP_TABLE_VERSION, type FopName } from '../../src/translator/fops.ts';
import type { Frame } from '../../src/translator/frame.ts';
import { Graph, graphFromText } from '../../src/translator/graph.ts';
import { Fd, errno, makeLoc, type Loc } from '../../src/translator/model.ts';
import { Translator, type TranslatorInit } from '../../src/translator/translator.ts';
import { MemoryStorage } from '../../src/translator/types/memory.ts';
import { within } from '../helpers/index.ts';

/** A leaf that records every fop's arguments and answers with a distinct result tuple per fop. */
class RecordingLeaf extends Translator {
  static override fopVersion = FOP_TABLE_VERSION;
  calls: Array<{ fop: FopName; args: unknown[]; frame: Frame }> = [];
  async = false;
  results(fop: FopName): unknown[] {
    return FOPS[fop].results.map((_, i) => ({ fop, result: i }));
  }
}
for (const fop of FOP_NAMES) {
  Object.defineProperty(RecordingLeaf.prototype, `${fop}Fop`, {
    value: function (this: RecordingLeaf, frame: Frame, ...args: unknown[]) {
      this.calls.push({ fop, args: args.slice(0, FOPS[fop].args.length), frame });
      const answer = (): void => (this as unknown as Record<string, (...a: unknown[]) => void>)[`unwind${fop[0]!.toUpperCase()}${fop.slice(1)}`]!(frame, 7, 0, ...this.results(fop));
      if (this.async) setImmediate(answer);
      else answer();
    },
  });
}

class Pass extends Translator {}

function argsFor(fop: FopName): unknown[] {
  return FOPS[fop].args.map(([name, kind]) => ({ arg: name, kind }));
}

function chain(leaf: Translator, n: number): Translator {
  let t = leaf;
  for (let i = 0; i < n; i++) t = new Pass({ name: `pass-${i}`, type: 'test/pass', children: [t] });
  return t;
}

test('translator core - G4: every fop passes through default translators with identical arguments and results', async () => {
  const leaf = new RecordingLeaf({ name: 'leaf', type: 'test/leaf' });
  const g = new Graph(chain(leaf, 3));
  await g.init();
  for (const fop of FOP_NAMES) {
    const args = argsFor(fop);
    const r = await (g.call as (f: FopName, ...a: unknown[]) => ReturnType<Graph['call']>)(fop, ...args);
    const call = leaf.calls.at(-1)!;
    assert.equal(call.fop, fop);
    assert.equal(call.args.length, args.length);
    for (let i = 0; i < args.length; i++) assert.equal(call.args[i], args[i], `${fop} argument ${i} is the caller's object`);
    assert.equal(r.opRet, 7);
    assert.deepEqual(r.results, leaf.results(fop));
  }
  assert.equal(leaf.calls.length, FOP_NAMES.length);
  await g.fini();
});

test('translator core - G5: wind to the first child, a named child, and exactly one unwind to the parent', async () => {
  const a = new RecordingLeaf({ name: 'a', type: 'test/leaf' });
  const b = new RecordingLeaf({ name: 'b', type: 'test/leaf' });
  const seen: unknown[] = [];
  class Router extends Translator {
    lookupFop(frame: Frame, loc: Loc) {
      if (loc.name === 'to-b') this.windTo('b', 'lookup', frame, loc, null);
      else this.windLookup(frame, loc, null);
    }
    lookupCbk(frame: Frame, cookie: unknown, opRet: number, opErrno: number, ...rest: unknown[]) {
      seen.push(cookie);
      this.unwindLookup(frame, opRet, opErrno, ...(rest as []));
    }
  }
  const g = new Graph(new Router({ name: 'r', type: 'test/router', children: [a, b] }));
  await g.init();
  let completions = 0;
  await new Promise<void>((resolve) => g.wind('lookup', [makeLoc('/to-a'), null], () => (++completions, resolve())));
  await new Promise<void>((resolve) => g.wind('lookup', [makeLoc('/to-b'), null], () => (++completions, resolve())));
  assert.equal(a.calls.length, 1);
  assert.equal(b.calls.length, 1);
  assert.deepEqual(seen, [a, b], 'the cookie is the child wound to');
  await new Promise((r) => setImmediate(r));
  assert.equal(completions, 2);
});

test('translator core - G6: a synchronous child completes before wind returns, an asynchronous one later, each once', async () => {
  for (const async of [false, true]) {
    const leaf = new RecordingLeaf({ name: 'leaf', type: 'test/leaf' });
    leaf.async = async;
    const order: string[] = [];
    class Hook extends Translator {
      statFop(frame: Frame, loc: Loc) {
        this.windStat(frame, loc, null);
        order.push('wind returned');
      }
      statCbk(frame: Frame, _c: unknown, opRet: number, opErrno: number) {
        order.push('cbk');
        this.unwindStat(frame, opRet, opErrno, null, null);
      }
    }
    const g = new Graph(new Hook({ name: 'h', type: 'test/hook', children: [leaf] }));
    await g.init();
    let n = 0;
    await within(new Promise<void>((resolve) => g.wind('stat', [makeLoc('/x'), null], () => (n++, resolve()))), 2000, 'stat');
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(order, async ? ['wind returned', 'cbk'] : ['cbk', 'wind returned']);
    assert.equal(n, 1);
  }
});

test('translator core - a short-circuit unwinds without winding; a second unwind of the same frame is dropped', async () => {
  const leaf = new RecordingLeaf({ name: 'leaf', type: 'test/leaf' });
  class Twice extends Translator {
    lookupFop(frame: Frame) {
      this.unwindLookup(frame, -1, errno.ENOENT);
      this.unwindLookup(frame, 0, 0);
    }
  }
  const g = new Graph(new Twice({ name: 't', type: 'test/twice', children: [leaf] }), { logger: silent() });
  await g.init();
  const replies: number[] = [];
  g.wind('lookup', [makeLoc('/a'), null], (opRet) => replies.push(opRet));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(replies, [-1]);
  assert.equal(leaf.calls.length, 0);
});

test('translator core - a fop that is neither wound nor unwound fails with ETIMEDOUT after the frame-timeout', async () => {
  class BlackHole extends Translator {
    lookupFop() {}
  }
  const g = new Graph(new BlackHole({ name: 'hole', type: 'test/hole', children: [new MemoryStorage({ name: 'm', type: 'storage/memory' })] }), {
    frameTimeout: 80,
    logger: silent(),
  });
  await g.init();
  const t0 = Date.now();
  const r = await within(g.call('lookup', makeLoc('/a'), null), 3000, 'the timeout');
  assert.equal(r.opRet, -1);
  assert.equal(r.opErrno, errno.ETIMEDOUT);
  assert.ok(Date.now() - t0 >= 75, 'not before the frame-timeout');
  await g.fini();
});

test('translator core - a hook that throws fails its fop with EIO; the graph keeps working', async () => {
  class Thrower extends Translator {
    statFop() {
      throw new Error('boom');
    }
    async mkdirFop() {
      throw new Error('async boom');
    }
  }
  const g = new Graph(new Thrower({ name: 'th', type: 'test/throw', children: [new MemoryStorage({ name: 'm', type: 'storage/memory' })] }), { logger: silent() });
  await g.init();
  assert.deepEqual([(await g.call('stat', makeLoc('/'), null)).opErrno], [errno.EIO]);
  assert.deepEqual([(await g.call('mkdir', makeLoc('/d'), 0o755, 0, null)).opErrno], [errno.EIO]);
  assert.equal((await g.call('lookup', makeLoc('/'), null)).opRet, 0);
});

test('translator core - a fop newer than the translator fails closed with ENOSYS unless it passes unknown fops', async () => {
  class Old extends Translator {
    static override fopVersion = 1;
  }
  class OldOpen extends Translator {
    static override fopVersion = 1;
    static override passUnknownFops = true;
  }
  const newer = FOP_NAMES.find((f) => FOPS[f].since > 1)!;
  assert.ok(newer, 'the table has a fop newer than version 1');
  for (const [cls, expect] of [
    [Old, errno.ENOSYS],
    [OldOpen, 0],
  ] as const) {
    const mem = new MemoryStorage({ name: 'm', type: 'storage/memory' });
    const g = new Graph(new cls({ name: 'o', type: 'test/old', children: [mem] }));
    await g.init();
    const fd = new Fd(g.inodes.root);
    assert.equal((await g.call('create', makeLoc('/f'), 0o2, 0o644, 0, fd, null)).opRet, 0, 'version-1 fops still pass');
    const r = await g.call('zerofill', fd, 0, 10, null);
    assert.equal(r.opErrno, expect, `${cls.name}: ${newer}`);
  }
});

test('translator core - pass-through on/off by reconfigure, without rebuilding the graph', async () => {
  const leaf = new RecordingLeaf({ name: 'leaf', type: 'test/leaf' });
  let intercepted = 0;
  class Counter extends Translator {
    lookupFop(frame: Frame, loc: Loc, xdata: null) {
      intercepted++;
      this.windLookup(frame, loc, xdata);
    }
  }
  const c = new Counter({ name: 'c', type: 'test/counter', children: [leaf] });
  const g = new Graph(c);
  await g.init();
  await g.call('lookup', makeLoc('/a'), null);
  c.reconfigure({ 'pass-through': 'on' });
  await g.call('lookup', makeLoc('/a'), null);
  c.reconfigure({ 'pass-through': 'off' });
  await g.call('lookup', makeLoc('/a'), null);
  assert.equal(intercepted, 2);
  assert.equal(leaf.calls.length, 3);
  assert.throws(() => c.reconfigure({ 'pass-through': 'maybe' }), (e: unknown) => e instanceof TranslatorError && /pass-through/.test(e.message));
});

test('translator core - a callback without its fop hook still sees every reply', async () => {
  const leaf = new RecordingLeaf({ name: 'leaf', type: 'test/leaf' });
  const rets: number[] = [];
  class Watcher extends Translator {
    lookupCbk(frame: Frame, _c: unknown, opRet: number, opErrno: number, ...r: unknown[]) {
      rets.push(opRet);
      this.unwindLookup(frame, opRet + 1, opErrno, ...(r as []));
    }
  }
  const g = new Graph(new Watcher({ name: 'w', type: 'test/watch', children: [leaf] }));
  await g.init();
  const r = await g.call('lookup', makeLoc('/a'), null);
  assert.deepEqual(rets, [7]);
  assert.equal(r.opRet, 8);
});

test('translator core - frame.local is per translator and per request; root.unique is unique per request', async () => {
  const uniques = new Set<number>();
  const locals: unknown[] = [];
  class Local extends Translator {
    lookupFop(frame: Frame<{ path: string }>, loc: Loc) {
      frame.local = { path: loc.path };
      uniques.add(frame.root.unique);
      this.windLookup(frame, loc, null);
    }
    lookupCbk(frame: Frame<{ path: string }>, _c: unknown, opRet: number, opErrno: number, ...r: unknown[]) {
      locals.push(frame.local?.path);
      this.unwindLookup(frame, opRet, opErrno, ...(r as []));
    }
  }
  const leaf = new RecordingLeaf({ name: 'leaf', type: 'test/leaf' });
  leaf.async = true;
  const g = new Graph(new Local({ name: 'l', type: 'test/local', children: [leaf] }));
  await g.init();
  await Promise.all(['/a', '/b', '/c'].map((p) => g.call('lookup', makeLoc(p), null)));
  await g.call('create', makeLoc('/d'), 0, 0, 0, new Fd(g.inodes.root), null);
  assert.deepEqual(locals.sort(), ['/a', '/b', '/c']);
  assert.equal(uniques.size, 3);
});

test('translator core - option values are checked against the schema with errors naming volume, key and value', async () => {
  class Opt extends Translator {
    static override options = { limit: { type: 'size', default: '1MB', description: 'x' }, mode: { type: 'enum', values: ['a', 'b'], description: 'y' } } as const;
  }
  const ok = new Opt({ name: 'o', type: 'test/opt', options: { limit: '128KB' } } as TranslatorInit);
  assert.equal(ok.option('limit'), 131072);
  assert.throws(
    () => new Opt({ name: 'o', type: 'test/opt', options: { limit: 'lots' } }),
    (e: unknown) => e instanceof TranslatorError && e.message === "volume 'o': option 'limit' has the invalid value 'lots' (a size expected, e.g. 131072, 128KB, 1MB)",
  );
  assert.throws(() => new Opt({ name: 'o', type: 'test/opt', options: { mode: 'c' } }), /one of a, b expected/);
});

test('translator core - a volfile with an unknown type fails with GlusterFS message', async () => {
  await assert.rejects(
    graphFromText('volume x\n  type storage/nonesuch\nend-volume\n'),
    (e: unknown) => e instanceof TranslatorError && e.message.includes("type 'storage/nonesuch' is not valid or not found on this machine"),
  );
});

test('translator core - a failing init stops the translators already started and names the volume', async () => {
  const order: string[] = [];
  class Ok extends Translator {
    override init() {
      order.push(`init ${this.name}`);
    }
    override fini() {
      order.push(`fini ${this.name}`);
    }
  }
  class Bad extends Translator {
    override init() {
      throw new Error('needs exactly two children');
    }
  }
  const g = new Graph(new Bad({ name: 'bad', type: 'test/bad', children: [new Ok({ name: 'ok', type: 'test/ok' })] }));
  await assert.rejects(g.init(), (e: unknown) => e instanceof TranslatorError && e.translator === 'bad' && /needs exactly two children/.test(e.message));
  assert.deepEqual(order, ['init ok', 'fini ok']);
});

test('translator core - fini answers pending requests with ENOTCONN', async () => {
  class Hold extends Translator {
    lookupFop() {}
  }
  const g = new Graph(new Hold({ name: 'h', type: 'test/hold', children: [new MemoryStorage({ name: 'm', type: 'storage/memory' })] }));
  await g.init();
  const pending = g.call('lookup', makeLoc('/a'), null);
  await g.fini();
  assert.equal((await within(pending, 1000, 'the pending lookup')).opErrno, errno.ENOTCONN);
  assert.equal((await g.call('lookup', makeLoc('/a'), null)).opErrno, errno.ENOTCONN);
});

function silent() {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return { child: () => silent(), warn() {}, error() {}, info() {}, debug() {} } as unknown as import('../../src/util/log.ts').Logger;
}

test('translator core - a graph takes new option values from a volfile in place, and refuses a new topology', async () => {
  const { parseVolfile } = await import('../../src/translator/volfile.ts');
  const text = (pass: string, size = '1MB') =>
    `volume m\n  type storage/memory\n  option size ${size}\nend-volume\nvolume c\n  type storage/memory\n  option pass-through ${pass}\nend-volume\n`;
  const g = await graphFromText('volume m\n  type storage/memory\n  option size 1MB\nend-volume\n');
  await g.reconfigure(parseVolfile('volume m\n  type storage/memory\n  option size 2MB\nend-volume\n'));
  assert.equal(g.top.option('size'), 2 * 1024 * 1024);
  await assert.rejects(g.reconfigure(parseVolfile(text('off'))), /cannot reconfigure in place: volume 'c'|volume 'm'/);
  await assert.rejects(g.reconfigure(parseVolfile('volume m\n  type storage/memory\n  option size lots\nend-volume\n')), /invalid value 'lots'/);
  assert.equal(g.top.option('size'), 2 * 1024 * 1024, 'nothing applied after a bad value');
  await g.fini();
});

test('translator core - fini answers pending requests with ENOTCONN also without a frame-timeout', async () => {
  class Hold extends Translator {
    lookupFop() {}
  }
  const g = new Graph(new Hold({ name: 'h', type: 'test/hold', children: [new MemoryStorage({ name: 'm', type: 'storage/memory' })] }), { frameTimeout: Infinity });
  await g.init();
  const pending = g.call('lookup', makeLoc('/a'), null);
  await g.fini();
  assert.equal((await within(pending, 1000, 'the pending lookup')).opErrno, errno.ENOTCONN);
});

test('translator core - a notify that throws does not stop the event reaching the others', async () => {
  const seen: string[] = [];
  class Thrower extends Translator {
    override notify(): void {
      throw new Error('bad notify');
    }
  }
  class Listener extends Translator {
    override notify(event: import('../../src/translator/translator.ts').GraphEvent, from: Translator | null): void {
      seen.push(`${this.name}:${event.type}`);
      super.notify(event, from);
    }
  }
  const leaf = new MemoryStorage({ name: 'm', type: 'storage/memory' });
  const a = new Thrower({ name: 'a', type: 'test/throw', children: [leaf] });
  const b = new Listener({ name: 'b', type: 'test/listen', children: [leaf] });
  const top = new Listener({ name: 'top', type: 'test/listen', children: [a, b] });
  const g = new Graph(top, { logger: silent() });
  await g.init();
  leaf.notify({ type: 'child-down' }, null);
  assert.deepEqual(seen, ['b:child-down', 'top:child-down']);
});

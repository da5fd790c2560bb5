/**
 * Compile-time checks of switchyard/storage's generics (run by `npm run typecheck`, which
 * `npm test` runs first): the fop table types wind/unwind helpers, graph calls and hooks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as storage from '../../src/storage/index.ts';
import { Translator, makeLoc, type Dict, type Frame, type Graph, type Iatt, type Inode, type Loc, type TranslatorHooks } from '../../src/storage/index.ts';

class Good extends Translator implements TranslatorHooks {
  lookupFop(frame: Frame, loc: Loc, xdata: Dict | null): void {
    this.windLookup(frame, loc, xdata);
    // @ts-expect-error a path string is not a Loc
    this.windLookup(frame, '/a', xdata);
    // @ts-expect-error lookup takes two arguments after the frame
    this.windLookup(frame, loc);
    this.windTo('child', 'mkdir', frame, loc, 0o755, 0o022, null);
    // @ts-expect-error mkdir's mode is a number
    this.windTo('child', 'mkdir', frame, loc, '755', 0o022, null);
    // @ts-expect-error no such fop
    this.windTo('child', 'lookupp', frame, loc, null);
  }
  lookupCbk(frame: Frame, _cookie: unknown, opRet: number, opErrno: number, inode: Inode | null, buf: Iatt | null, xdata: Dict | null, postparent: Iatt | null): void {
    this.unwindLookup(frame, opRet, opErrno, inode, buf, xdata, postparent);
    // results may be left out on failure
    this.unwindLookup(frame, -1, storage.errno.ENOENT);
    // @ts-expect-error an inode is not a string
    this.unwindLookup(frame, 0, 0, 'inode');
  }
}

class Bad extends Translator implements TranslatorHooks {
  // @ts-expect-error a hook whose argument types do not match the fop table is refused
  statFop(frame: Frame, loc: string): void {
    void frame;
    void loc;
  }
}

// Never called: only type-checked.
export async function typeChecks(graph: Graph): Promise<void> {
  const r = await graph.call('lookup', makeLoc('/a'), null);
  const inode: Inode | null = r.results[0];
  const buf: Iatt | null = r.results[1];
  // @ts-expect-error lookup has four results
  void r.results[4];
  // @ts-expect-error readv takes (fd, size, offset, flags, xdata)
  await graph.call('readv', makeLoc('/a'), 1, 0, 0, null);
  void inode;
  void buf;
}

test('types - switchyard/storage generics are checked at compile time (see npm run typecheck)', () => {
  assert.equal(typeof typeChecks, 'function');
  assert.equal(typeof Good, 'function');
  assert.equal(typeof Bad, 'function');
});

test('types - switchyard/storage exports its public names', () => {
  for (const name of ['Translator', 'Graph', 'Frame', 'Fd', 'Inode', 'makeLoc', 'errno', 'FOPS', 'parseVolfile', 'openVolume', 'Volume', 'FsError', 'TranslatorError', 'VolfileError', 'registerTranslator', 'graphFromText']) {
    assert.ok(name in storage, name);
  }
});

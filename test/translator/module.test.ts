// features/module: glupy's loader and its three errors (grid.md D2), modules relative to the
// volfile's directory, and module-level state shared by the volumes that load the same module.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TranslatorError } from '../../src/errors.ts';
import { graphFromText } from '../../src/translator/graph.ts';
import { makeLoc } from '../../src/translator/model.ts';
import { silentLogger } from '../../src/util/log.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'translators');

function volfile(moduleOption: string): string {
  return `volume mem
  type storage/memory
end-volume
volume user
  type features/module
${moduleOption}
  subvolumes mem
end-volume
`;
}

async function assertInitFails(text: string, message: RegExp): Promise<void> {
  await assert.rejects(graphFromText(text, { baseDir: FIXTURES, logger: silentLogger() }), (err: unknown) => {
    assert.ok(err instanceof TranslatorError, `expected a TranslatorError, got ${String(err)}`);
    assert.match(err.message, message);
    assert.equal(err.translator, 'user');
    return true;
  });
}

test('module - D2 a volume without module-name fails with "missing module-name"', async () => {
  await assertInitFails(volfile(''), /^volume 'user': missing module-name$/);
});

test('module - D2 a module that cannot be found fails with "import of M failed"', async () => {
  await assertInitFails(volfile('  option module-name ./does-not-exist.js'), /^volume 'user': import of \.\/does-not-exist\.js failed: /);
});

test('module - D2 a module that throws while importing fails with "import of M failed" and the reason', async () => {
  await assertInitFails(volfile('  option module-name ./throws-on-import.js'), /^volume 'user': import of \.\/throws-on-import\.js failed: boom at import$/);
});

test('module - D2 a default export that is not a Translator fails with "missing init func"', async () => {
  await assertInitFails(volfile('  option module-name ./not-a-translator.js'), /^volume 'user': missing init func: \.\/not-a-translator\.js has no default export that extends Translator$/);
});

test('module - D2 a module without a default export fails with "missing init func"', async () => {
  await assertInitFails(volfile('  option module-name ./no-default'), /^volume 'user': missing init func: \.\/no-default has no default export/);
});

test('module - module-name resolves against baseDir, and two volumes share the module state', async () => {
  const mod = (await import(pathToFileURL(join(FIXTURES, 'count-lookups.js')).href)) as { counts: { lookups: number } };
  const before = mod.counts.lookups;
  const text = `volume mem
  type storage/memory
end-volume
volume one
  type features/module
  option module-name ./count-lookups.js
  subvolumes mem
end-volume
volume two
  type features/module
  option module-name ./count-lookups
  subvolumes one
end-volume
`;
  const g = await graphFromText(text, { baseDir: FIXTURES, logger: silentLogger() });
  try {
    const r = await g.call('lookup', makeLoc('/'), null);
    assert.equal(r.opRet, 0);
    // Both volumes run the same class from the same module instance: one lookup counts twice.
    assert.equal(mod.counts.lookups - before, 2);
    assert.equal(g.translators.get('one')?.constructor, g.translators.get('two')?.constructor);
  } finally {
    await g.fini();
  }
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/index.ts';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;
const run = promisify(execFile);

async function check(file: string): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [BIN, 'volfile', 'check', file], { timeout: 30_000, env: { ...process.env, SWITCHYARD_SOURCE: '1' } });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

test('cli volfile check - prints the graph as a tree, or the error with its line and exit 1', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  try {
    const good = join(dir.path, 'good.vol');
    writeFileSync(good, 'volume a\n  type storage/memory\n  option size 1MB\nend-volume\nvolume b\n  type storage/memory\nend-volume\nvolume top\n  type features/module\n  option module-name ./nope.js\n  subvolumes a b\nend-volume\n');
    const bad = join(dir.path, 'bad.vol');
    writeFileSync(bad, 'volume a\n  type storage/memory\nend-volume\nvolume b\n  type storage/memory\n  subvolumes c\nend-volume\n');
    const badValue = join(dir.path, 'value.vol');
    writeFileSync(badValue, 'volume a\n  type storage/memory\n  option size huge\nend-volume\n');
    const [g, b, v] = await Promise.all([check(good), check(bad), check(badValue)]);
    // features/module is loaded when checked: a missing module is reported as glupy does.
    assert.equal(g.code, 1);
    assert.match(g.err, /import of \.\/nope\.js failed/);
    assert.equal(b.code, 1);
    assert.equal(b.err.trim(), `${bad}: Volume 'b', line 6: subvolume 'c' is not defined prior to usage`);
    assert.equal(v.code, 1);
    assert.equal(v.err.trim(), `${badValue}: volume 'a': option 'size' has the invalid value 'huge' (a size expected, e.g. 131072, 128KB, 1MB)`);
    writeFileSync(good, 'volume a\n  type storage/memory\n  option size 1MB\nend-volume\nvolume b\n  type storage/memory\nend-volume\nvolume top\n  type storage/memory\n  option pass-through on\n  subvolumes a b\nend-volume\n');
    const ok = await check(good);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.out, 'top (storage/memory) pass-through=on\n├─ a (storage/memory) size=1MB\n└─ b (storage/memory)\n');
  } finally {
    dir.remove();
  }
});

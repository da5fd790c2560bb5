/**
 * The README's 30-second example must run as written (with the package import pointed at the
 * sources) and print what its comments promise.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/index.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('docs - the README example runs and prints what it promises', { timeout: 60_000 }, () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'README has a ```ts example');
  const dir = tempDir();
  const file = join(dir.path, 'example.mts');
  writeFileSync(file, block.replace("from 'switchyard'", `from ${JSON.stringify(join(root, 'src/index.ts'))}`));
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
    cwd: root,
    env: { ...process.env, SWITCHYARD_HOME: join(dir.path, 'home') },
    encoding: 'utf8',
    timeout: 50_000,
  });
  dir.remove();
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '3\nnotification [ 3 ]\nnotification [ 2 ]\nnotification [ 1 ]\nlift-off\n');
});

#!/usr/bin/env node
// Runs every test/**/*.test.ts file with node:test through tsx. Node 20's test runner has no
// glob support, so the files are listed here. Extra arguments narrow the run to matching paths.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk('test').sort().filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Child processes the tests start run the TypeScript sources, never a stale dist/ build.
process.env.SWITCHYARD_SOURCE = '1';
// Nothing a test writes under the Switchyard home (certificates, worker code caches) may land in
// the user's real one: tests that need their own home set it themselves.
const home = mkdtempSync(join(tmpdir(), 'switchyard-test-home-'));
process.env.SWITCHYARD_HOME = home;
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--import', './scripts/source-resolve.mjs', '--test', '--test-reporter=spec', '--test-timeout=60000', '--test-concurrency=2', ...files],
  { stdio: 'inherit' },
);
rmSync(home, { recursive: true, force: true });
process.exit(r.status ?? 1);

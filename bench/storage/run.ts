/**
 * bench/storage: runs each storage benchmark in its own process (a: translator levels, b: remote
 * bricks, c: nl-cache, d: the FUSE mount). `node --import tsx bench/storage/run.ts [a b c d]`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const parts: Record<string, string> = { a: 'passthrough.ts', b: 'remote.ts', c: 'nl-cache.ts', d: 'fuse.ts' };
const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(parts);
let failed = false;
for (const key of wanted) {
  const file = parts[key];
  const script = file === undefined ? undefined : fileURLToPath(new URL(`./${file}`, import.meta.url));
  if (script === undefined || !existsSync(script)) {
    console.error(`bench/storage: no part ${key} (have: ${Object.keys(parts).join(', ')})`);
    failed = true;
    continue;
  }
  console.log(`\n--- bench/storage (${key}) ${file} ---`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', fileURLToPath(new URL('../../scripts/source-resolve.mjs', import.meta.url)), script], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);

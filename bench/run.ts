/**
 * Runs the benchmarks: `npm run bench` runs all; `npm run bench -- rpc hooks` runs some.
 * Each benchmark prints its numbers beside a baseline measured in the same run, with ratios.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const all = ['rpc', 'hooks', 'gateway', 'storage'];
const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : all;
let failed = false;
for (const name of wanted) {
  const script = fileURLToPath(new URL(`./${name}/run.ts`, import.meta.url));
  if (!existsSync(script)) {
    console.error(`bench: no benchmark named ${name} (have: ${all.join(', ')})`);
    failed = true;
    continue;
  }
  console.log(`\n=== bench/${name} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);

#!/usr/bin/env node
// The `switchyard` command. Runs the compiled CLI from dist/ (built by `npm ci` through the
// `prepare` script); in a source checkout without dist/, or with SWITCHYARD_SOURCE=1 (the tests
// set it, so they never run a stale build), it runs the TypeScript sources.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (existsSync(dist) && process.env.SWITCHYARD_SOURCE !== '1') {
  const { main } = await import(dist);
  await main(process.argv);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../scripts/source-resolve.mjs');
  const { main } = await import('../src/cli/main.ts');
  await main(process.argv);
}

/**
 * Finds the worker bundle to send: the prebuilt `dist/worker/switchyard-worker.js` of an installed
 * package, or, in a source checkout, a bundle built once per process with esbuild.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { GatewayStartError } from '../errors.ts';
import { WORKER_BUNDLE_NAME } from '../worker/build.ts';

let cached: Promise<string> | undefined;

/**
 * Resolves the worker source text (cached per process). Rejects with {@link GatewayStartError}
 * when there is no prebuilt bundle and esbuild is not installed.
 */
export function workerSource(): Promise<string> {
  cached ??= load();
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}

async function load(): Promise<string> {
  try {
    return await readFile(new URL(`../worker/${WORKER_BUNDLE_NAME}`, import.meta.url), 'utf8');
  } catch {
    // Not built: a source checkout.
  }
  try {
    const { buildWorkerBundle } = await import('../worker/build.ts');
    return await buildWorkerBundle();
  } catch (err) {
    throw new GatewayStartError(
      '',
      `The worker bundle is missing and cannot be built (${(err as Error).message}); run "npm run build" (it writes dist/worker/switchyard-worker.js)`,
      {},
      { cause: err },
    );
  }
}

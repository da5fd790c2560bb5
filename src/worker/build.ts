/**
 * Bundles the worker runtime (`main.ts` and everything it imports, msgpackr included) into one
 * self-contained CommonJS file with esbuild. Run at build time:
 *
 *     node --import tsx src/worker/build.ts dist/worker/switchyard-worker.js
 *
 * and on demand by source checkouts (see `gateway/worker-source.ts`). esbuild is a development
 * dependency (it comes with tsx); installed packages use the prebuilt file.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** File name of the bundle next to the compiled gateway code (`dist/worker/`). */
export const WORKER_BUNDLE_NAME = 'switchyard-worker.js';

/**
 * Builds the bundle and resolves its text: a function expression `(function (require, module,
 * exports) { ... })` around esbuild's CommonJS output. Rejects when esbuild is not installed or
 * the sources do not compile.
 */
export async function buildWorkerBundle(): Promise<string> {
  const esbuild = await import('esbuild');
  const here = dirname(fileURLToPath(import.meta.url));
  const require = createRequire(import.meta.url);
  // msgpackr's Node entry tries to load a native addon; the plain JavaScript build needs nothing.
  const msgpackrPure = join(dirname(require.resolve('msgpackr')), '..', 'index.js');
  const result = await esbuild.build({
    entryPoints: [join(here, 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    minify: true,
    keepNames: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
    plugins: [
      {
        name: 'msgpackr-pure',
        setup(build) {
          build.onResolve({ filter: /^msgpackr$/ }, () => ({ path: msgpackrPure }));
        },
      },
    ],
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error('esbuild produced no output for the worker bundle');
  // Shipped as one function expression taking (require, module, exports), so the bootstrap
  // compiles the received text as it is: wrapping it there would cost the worker another copy of
  // the whole source on its young heap at start (bench/gateway (a)).
  return `(function(require,module,exports){${out.text}\n})`;
}

const invokedPath = process.argv[1] ? resolve(process.argv[1]) : '';
if (invokedPath === fileURLToPath(import.meta.url)) {
  const target = resolve(process.argv[2] ?? join('dist', 'worker', WORKER_BUNDLE_NAME));
  const text = await buildWorkerBundle();
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
  process.stdout.write(`wrote ${target} (${text.length} bytes)\n`);
}

/**
 * Test fixtures for the hooks tests: temporary directories and the GCT test modules translated to
 * JavaScript (written to disk so that the `module` manager loads real files).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory, removed by `cleanup()`. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-hooks-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `text` to `dir/name` and returns the path. */
export async function writeFixture(dir: string, name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text, { mode: 0o755 });
  return p;
}

/**
 * GCT's `test_module.py`, translated: every function checks it is called for `test_func` (else it
 * throws, to catch mis-dispatch) and returns the value of `expected_result`, a statement that sets
 * `res`. GCT passes these attrs as the operation attrs; we read them from the manager attrs, which
 * GCT-style functions receive as their last argument.
 */
export const TEST_MODULE = `
function run(fn, managerAttrs) {
  if (managerAttrs.test_func !== undefined && managerAttrs.test_func !== fn) {
    throw new Error(fn + ' called when ' + managerAttrs.test_func + ' expected');
  }
  const expr = managerAttrs.expected_result;
  if (expr === undefined) return null;
  return new Function('let res; ' + expr + '; return res;')();
}
export function pre_listen(taskId, transport, attrs, m) { return run('pre_listen', m); }
export function post_listen(taskId, transport, local, attrs, m) { return run('post_listen', m); }
export function end_listen(taskId, transport, local, attrs, m) { return run('end_listen', m); }
export function pre_accept(taskId, transport, local, attrs, m) { return run('pre_accept', m); }
export function post_accept(taskId, transport, local, remote, attrs, m) { return run('post_accept', m); }
export function pre_connect(taskId, transport, remote, attrs, m) { return run('pre_connect', m); }
export function post_connect(taskId, transport, local, remote, attrs, m) { return run('post_connect', m); }
export function pre_close(taskId, transport, local, remote, attrs, m) { return run('pre_close', m); }
export function post_close(taskId, transport, local, remote, attrs, m) { return run('post_close', m); }
`;

/** GCT's `return_function_called_module.py`, translated. */
export const RETURN_FUNCTION_CALLED_MODULE = `
const MODULE_NAME = 'return_function_called_module';
const FUNCTION = 'function';
export function pre_listen(taskId, transport, attrs) { return [[MODULE_NAME, FUNCTION, 'pre_listen']]; }
export function post_listen(taskId, transport, local, attrs) { return ['', [[MODULE_NAME, FUNCTION, 'post_listen']]]; }
export function end_listen(taskId, transport, local, attrs) { return; }
export function pre_accept(taskId, transport, local, attrs) { return [[MODULE_NAME, FUNCTION, 'pre_accept']]; }
export function post_accept(taskId, transport, local, remote, attrs) { return [[MODULE_NAME, FUNCTION, 'post_accept']]; }
export function pre_connect(taskId, transport, remote, attrs) { return ['', [[MODULE_NAME, FUNCTION, 'pre_connect']]]; }
export function post_connect(taskId, transport, local, remote, attrs) { return [[MODULE_NAME, FUNCTION, 'post_connect']]; }
export function pre_close(taskId, transport, local, remote, attrs) { return; }
export function post_close(taskId, transport, local, remote, attrs) { return; }
`;

/** GCT's `port_plus_one.py` (and, with `delta` -1, `port_minus_one.py`), translated. */
export function portDeltaModule(delta: number): string {
  return `
export function pre_listen(taskId, transport, attrs) {
  return attrs.map(([scope, name, value]) =>
    scope === transport && name === 'port' ? [scope, name, String(Number(value) + (${delta}))] : [scope, name, value]);
}
`;
}

/**
 * Binds `server` to the first port of `plan.ports` that is free (as transport/tcp.ts does), and
 * returns it; `undefined` when every port is taken. Errors other than EADDRINUSE are thrown.
 */
export async function bindFirstFree(server: import('node:net').Server, plan: { host: string | undefined; ports: readonly number[] }): Promise<number | undefined> {
  for (const port of plan.ports) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: plan.host, port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return (server.address() as import('node:net').AddressInfo).port;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  return undefined;
}

/**
 * `switchyard start`, run as a real child process: option validation with msl-network's errors,
 * and a Manager that serves and stops on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connect } from '../../src/client/client.ts';
import { getFingerprint } from '../../src/transport/certs.ts';
import { freePort, tempDir, within } from '../helpers/index.ts';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;

function run(args: string[], home: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, SWITCHYARD_HOME: home }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}


describe('cli start', { timeout: 90_000 }, () => {
  test('start - refuses several authentication methods, a bad port and a bad log level', () => {
    const home = tempDir();
    const multi = run(['start', '--auth-login', '--auth-hostname', '-d', join(home.path, 'db.sqlite3')], home.path);
    assert.equal(multi.status, 1);
    assert.match(multi.stderr, /Cannot specify multiple authentication methods/);
    const port = run(['start', '-p', '-5', '--disable-tls'], home.path);
    assert.equal(port.status, 1);
    assert.match(port.stderr, /The port must be a positive integer/);
    const level = run(['start', '-G', 'LOUD', '--disable-tls'], home.path);
    assert.equal(level.status, 1);
    assert.match(level.stderr, /Cannot set logging level to 'LOUD'/);
    home.remove();
  });

  test('start - --auth-login with no users explains how to add one', () => {
    const home = tempDir();
    const r = run(['start', '--auth-login', '--disable-tls', '-p', '1', '-d', join(home.path, 'db.sqlite3')], home.path);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /auth_users table is empty[\s\S]*switchyard user add/);
    home.remove();
  });

  test('start - serves with TLS and a generated certificate, logs to a file, stops on SIGTERM', async () => {
    const home = tempDir();
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'start', '-H', '127.0.0.1', '-p', String(port), '-P', 'open', 'sesame'], {
      env: { ...process.env, SWITCHYARD_HOME: home.path },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const deadline = Date.now() + 20_000;
      while (!out.includes('Network Manager running')) {
        assert.ok(Date.now() < deadline, `the Manager did not start: ${out}`);
        assert.equal(child.exitCode, null, `the Manager exited: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const certFile = join(home.path, 'certs', '127.0.0.1.crt');
      assert.ok(existsSync(certFile));
      // The startup line shows the certificate's fingerprint, for checking a trust-on-first-use prompt.
      assert.ok(out.includes(`SHA-1 fingerprint ${getFingerprint(certFile)}`), out);
      assert.ok(existsSync(join(home.path, 'keys', '127.0.0.1.key')));
      const c = await connect({ host: '127.0.0.1', port, certFile, passwordManager: 'open sesame' });
      assert.equal(c.managerName.endsWith(`:${port}]`), true);
      await c.disconnect();
      const logs = readdirSync(join(home.path, 'logs'));
      assert.equal(logs.length, 1);
      assert.match(logs[0] as string, /^manager-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}\.log$/);
      child.kill('SIGTERM');
      const code = await within(new Promise<number | null>((r) => child.once('close', r)), 10_000, 'the Manager to exit');
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      home.remove();
    }
  });
});

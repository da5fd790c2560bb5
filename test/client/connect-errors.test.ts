/**
 * Connecting: TLS trust on first use, certificate and hostname checks, and the advice a user gets
 * when something is wrong (msl-network's messages, in camelCase option names).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from '../../src/client/client.ts';
import { AuthenticationError, ConnectError, TlsError } from '../../src/errors.ts';
import { generateCertificate, generateKey, getFingerprint } from '../../src/transport/certs.ts';
import { freePort, startTestManager, tempDir, useTempHome } from '../helpers/index.ts';

const managerHome = useTempHome();
/** The client side has a home of its own, as on another machine. */
const home = tempDir('switchyard-client-home-').path;

describe('connect - TLS', { timeout: 60_000 }, () => {
  let m: Awaited<ReturnType<typeof startTestManager>>;
  before(async () => {
    m = await startTestManager({ disableTls: false });
    process.env['SWITCHYARD_HOME'] = home;
  });
  after(async () => {
    await m.close();
  });

  test('connect - an unknown certificate is refused with its fingerprint unless autoSave', async () => {
    const err = await connect({ host: '127.0.0.1', port: m.port }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof TlsError);
    assert.match(err.message, /is not trusted yet \(SHA-1 fingerprint ([0-9a-f]{2}:){19}[0-9a-f]{2}\)/);
    assert.ok(err.message.includes(getFingerprint(m.certFile as string)), 'the fingerprint the Manager prints at startup');
    assert.equal(err.file, join(home, 'certs', '127.0.0.1.crt'));
    assert.equal(existsSync(join(home, 'certs', '127.0.0.1.crt')), false);
  });

  test('connect - autoSave trusts on first use, saves the certificate and connects over TLS', async () => {
    const c = await connect({ host: '127.0.0.1', port: m.port, autoSave: true });
    assert.equal(readFileSync(join(home, 'certs', '127.0.0.1.crt'), 'utf8'), readFileSync(m.certFile as string, 'utf8'));
    await c.disconnect();
    const again = await connect({ host: '127.0.0.1', port: m.port });
    await again.disconnect();
  });

  test('connect - a different certificate is refused with the advice to delete the saved one', async () => {
    const dir = tempDir();
    const keyFile = await generateKey({ algorithm: 'ecc', out: join(dir.path, 'k.key') });
    const certFile = await generateCertificate({ keyFile, out: join(dir.path, 'c.crt'), host: 'localhost' });
    const err = await connect({ host: '127.0.0.1', port: m.port, certFile }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectError);
    assert.match(err.message, /Perhaps the Network Manager is using a new certificate/);
    assert.match(err.message, new RegExp(`delete the certificate at\\n {2}${certFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    dir.remove();
  });

  test('connect - a host name the certificate does not name is refused unless assertHostname is false', async () => {
    // A second Manager on 127.0.0.2 serves the first one's certificate, which does not name 127.0.0.2.
    const other = await startTestManager({
      host: '127.0.0.2',
      disableTls: false,
      certFile: m.certFile,
      keyFile: join(managerHome, 'keys', '127.0.0.1.key'),
    });
    try {
      const err = await connect({ host: '127.0.0.2', port: other.port, certFile: m.certFile }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConnectError, String(err));
      assert.match(err.message, /To disable hostname checking set assertHostname: false/);
      const ok = await connect({ host: '127.0.0.2', port: other.port, certFile: m.certFile, assertHostname: false });
      await ok.disconnect();
    } finally {
      await other.close();
    }
  });

  test('connect - a plain client against a TLS Manager is told TLS may be on', async () => {
    const err = await connect({ host: '127.0.0.1', port: m.port, disableTls: true, timeout: 300 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectError);
    assert.match(err.message, /was not established after 300 ms\nYou have TLS disabled\. Perhaps the Manager is using TLS for the connection\./);
  });
});

describe('connect - failures', { timeout: 30_000 }, () => {
  test('connect - a TLS client against a plain Manager is told to set disableTls', async () => {
    const m = await startTestManager();
    try {
      const err = await connect({ host: '127.0.0.1', port: m.port, autoSave: true, timeout: 2000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConnectError, String(err));
      assert.match(err.message, /Try setting disableTls: true/);
    } finally {
      await m.close();
    }
  });

  test('connect - nothing listening: make sure a Manager is running', async () => {
    const port = await freePort()
    const err = await connect({ host: '127.0.0.1', port, disableTls: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectError);
    assert.equal(err.port, port);
    assert.match(err.message, /ECONNREFUSED[\s\S]*\nMake sure a Manager is running on this computer$/);
  });

  test('connect - wrong and missing Manager passwords', async () => {
    const m = await startTestManager({ authPassword: 'sesame' });
    try {
      const wrong = await connect({ host: '127.0.0.1', port: m.port, disableTls: true, passwordManager: 'nope' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(wrong instanceof AuthenticationError);
      assert.equal(wrong.message, 'ValueError: Wrong Manager password');
      const missing = await connect({ host: '127.0.0.1', port: m.port, disableTls: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(missing instanceof AuthenticationError);
      assert.match(missing.message, /asks for its password: pass the passwordManager option/);
      const ok = await connect({ host: '127.0.0.1', port: m.port, disableTls: true, passwordManager: 'sesame' });
      await ok.disconnect();
    } finally {
      await m.close();
    }
  });

  test('connect - login: unregistered user and wrong password', async () => {
    const m = await startTestManager({ authLogin: true, users: [['ann', 'ann-pw', false]] });
    try {
      const base = { host: '127.0.0.1', port: m.port, disableTls: true } as const;
      const unknown = await connect({ ...base, username: 'zed', password: 'x' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(unknown instanceof AuthenticationError);
      assert.equal(unknown.message, 'ValueError: Unregistered user');
      const wrong = await connect({ ...base, username: 'ann', password: 'x' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(wrong instanceof AuthenticationError);
      assert.equal(wrong.message, 'ValueError: Wrong login password');
    } finally {
      await m.close();
    }
  });

  test('connect - hostname authentication admits trusted hosts only', async () => {
    const m = await startTestManager({ authHostname: true });
    try {
      const ok = await connect({ host: '127.0.0.1', port: m.port, disableTls: true });
      await ok.disconnect();
    } finally {
      await m.close();
    }
    const m2 = await (async () => {
      const { openDatabase } = await import('../../src/manager/database.ts');
      const dir = tempDir();
      const db = openDatabase(join(dir.path, 'h.sqlite3'));
      for (const h of db.hostnames.hostnames()) db.hostnames.delete(h);
      db.hostnames.insert('some-other-host');
      const { startManager } = await import('../../src/manager/manager.ts');
      const mgr = await startManager({ host: '127.0.0.1', port: 0, disableTls: true, authHostname: true, database: db });
      return { mgr, db, dir };
    })();
    try {
      const err = await connect({ host: '127.0.0.1', port: m2.mgr.port, disableTls: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof AuthenticationError);
      assert.equal(err.message, "ValueError: 'localhost' is not a trusted hostname");
    } finally {
      await m2.mgr.close();
      m2.db.close();
      m2.dir.remove();
    }
  });
});

/**
 * Interoperability with the real Python msl-network, run from its source (MSL_NETWORK_SRC points
 * at a checkout containing `msl/network`). All four pairings through the Switchyard Manager, and
 * Switchyard peers against the Python Manager (JSON-lines fallback). Skipped, with a message,
 * when the source or Python's `cryptography` package is missing.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect } from '../../src/client/client.ts';
import { RemoteError } from '../../src/errors.ts';
import { Service } from '../../src/service/service.ts';
import { freePort, mslNetworkSource, startTestManager, tempDir, useTempHome, within } from '../helpers/index.ts';

useTempHome();
const src = mslNetworkSource();
const python = process.env['PYTHON'] ?? 'python3';
const skip =
  src === undefined
    ? 'MSL_NETWORK_SRC is not set: point it at an msl-network checkout to run the Python interop tests'
    : spawnSync(python, ['-c', 'import cryptography'], { env: { ...process.env, PYTHONPATH: src } }).status !== 0
      ? `${python} cannot import cryptography, which msl-network needs`
      : spawnSync(python, ['-c', 'import msl.network'], { env: { ...process.env, PYTHONPATH: src } }).status !== 0
        ? `${python} cannot import msl.network from MSL_NETWORK_SRC=${src}`
        : false;
if (skip) console.log(`# skipping Python interop: ${skip}`);

const PY = String.raw`
import sys, json, time
from msl.network import connect, Service

mode = sys.argv[1]
cfg = json.loads(sys.argv[2])
conn = dict(host=cfg['host'], port=cfg['port'], disable_tls=cfg.get('disable_tls', False),
            cert_file=cfg.get('cert_file'), username=cfg.get('username'), password=cfg.get('password'),
            password_manager=cfg.get('password_manager'), timeout=10)

class PyMath(Service):
    euler = 2.718281828459045
    def add(self, a, b):
        return a + b
    def echo(self, *args, **kwargs):
        return [args, kwargs]
    def fail(self):
        raise ValueError('boom')
    def ping(self, n):
        for i in range(n):
            self.emit_notification(i, tag='py')
        return n
    def whoami(self):
        return self.request['requester']

def err(fn):
    try:
        fn()
    except Exception as e:
        return type(e).__name__ + ': ' + str(e)
    return None

def value_or_err(fn):
    try:
        return fn()
    except Exception as e:
        return type(e).__name__ + ': ' + str(e)

def wait_for(pred, seconds=5):
    end = time.time() + seconds
    while time.time() < end and not pred():
        time.sleep(0.01)

if mode == 'service':
    PyMath(name=cfg.get('name', 'PyMath'), max_clients=cfg.get('max_clients')).start(**conn)
elif mode == 'tofu':
    # No cert_file: msl-network fetches the Manager's certificate, saves it (auto_save) and connects.
    c = connect(name='Tofu', host=cfg['host'], port=cfg['port'], auto_save=True, timeout=10,
                password_manager=cfg.get('password_manager'))
    ids = c.identities()
    print(json.dumps({'port': ids['port'], 'me': c._network_name in ids['clients']}), flush=True)
    c.disconnect()
elif mode == 'linked':
    # msl-network's LinkedClient against a TypeScript service with max_clients=1.
    from msl.network import LinkedClient
    first = LinkedClient(cfg['service'], name='First', **conn)
    out = {'first': first.add(2, 3)}
    out['second'] = value_or_err(lambda: LinkedClient(cfg['service'], name='Second', **conn))
    first.disconnect()
    print(json.dumps(out), flush=True)
elif mode == 'client':
    out = {}
    c = connect(name='PyClient', **conn)
    target = cfg['service']
    link = c.link(target)
    out['add'] = link.add(1, 2)
    out['add_kw'] = link.add(a='x', b='y')
    out['echo'] = value_or_err(lambda: link.echo(1, [2, 3], {'k': None}, x=1.5, big=2**70))
    out['fail'] = err(link.fail)
    out['private'] = err(lambda: link._secret())
    out['unknown'] = err(lambda: link.nope())
    out['arity'] = err(lambda: link.add(1))
    out['whoami'] = link.whoami() == c._network_name
    notes = []
    link.notification_handler = lambda *a, **k: notes.append([list(a), k])
    out['ping'] = link.ping(3)
    wait_for(lambda: len(notes) >= 3)
    out['notes'] = notes
    out['lock'] = link.acquire_lock(shared=False)
    out['release'] = link.release_lock()
    ids = c.identities()
    out['services'] = sorted(ids['services'].keys())
    out['me'] = c._network_name in ids['clients']
    if cfg.get('admin'):
        out['usernames'] = c.admin_request('users_table.usernames')
        out['port'] = c.admin_request('port')
    c.unlink(link)
    out['after_unlink'] = err(lambda: link.add(1, 2))
    c.disconnect()
    print(json.dumps(out), flush=True)
`;

function runPython(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(python, ['-c', PY, ...args], { env: { ...process.env, PYTHONPATH: src }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`python ${args[0]} did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

function startPythonService(cfg: Record<string, unknown>): ChildProcess {
  const p = spawn(python, ['-c', PY, 'service', JSON.stringify(cfg)], { env: { ...process.env, PYTHONPATH: src }, stdio: ['ignore', 'ignore', 'pipe'] });
  p.stderr?.on('data', () => {});
  return p;
}

function stop(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('close', () => resolve());
    p.kill('SIGTERM');
    setTimeout(() => p.kill('SIGKILL'), 3000).unref();
  });
}

/** A TypeScript service with the same surface as PyMath. */
class TsMath extends Service {
  add(a: unknown, b: unknown): unknown {
    return (a as number) + (b as number);
  }
  echo(...args: unknown[]): unknown {
    return [args, {}];
  }
  fail(): never {
    throw Object.assign(new Error('boom'), { name: 'ValueError' });
  }
  ping(n: number): number {
    for (let i = 0; i < n; i++) this.emitNotificationWith([i], { tag: 'ts' });
    return n;
  }
  whoami(): string {
    return this.request?.requester ?? '';
  }
}

async function waitForService(port: number, name: string, extra: Record<string, unknown> = {}): Promise<void> {
  const c = await connect({ host: '127.0.0.1', port, ...extra });
  try {
    const deadline = Date.now() + 15_000;
    while (!((await c.identities()).services[name] !== undefined)) {
      if (Date.now() > deadline) throw new Error(`service ${name} did not register within 15 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await c.disconnect();
  }
}

describe('interop - Python peers through the Switchyard Manager (TLS, login)', { skip, timeout: 120_000 }, () => {
  let m: Awaited<ReturnType<typeof startTestManager>>;
  let pySvc: ChildProcess | undefined;
  const tsSvc = new TsMath();
  const login = { username: 'admin', password: 'admin-pw' };
  let cfg: Record<string, unknown>;

  before(async () => {
    m = await startTestManager({ disableTls: false, authLogin: true, users: [['admin', 'admin-pw', true]] });
    cfg = { host: '127.0.0.1', port: m.port, cert_file: m.certFile, ...login };
    pySvc = startPythonService({ ...cfg, name: 'PyMath' });
    await tsSvc.start({ host: '127.0.0.1', port: m.port, certFile: m.certFile, ...login });
    await waitForService(m.port, 'PyMath', { certFile: m.certFile, ...login });
  });
  after(async () => {
    await stop(pySvc);
    await tsSvc.disconnect();
    await m.close();
  });

  test('interop - Python client calls a Python service', async () => {
    const r = await runPython(['client', JSON.stringify({ ...cfg, service: 'PyMath', admin: true })]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out['add'], 3);
    assert.equal(out['add_kw'], 'xy');
    assert.deepEqual(out['echo'], [[1, [2, 3], { k: null }], { x: 1.5, big: 2 ** 70 }]);
    assert.match(String(out['fail']), /^RuntimeError: Manager\[.*\] returned the following exception:\n\nValueError: boom$/);
    assert.match(String(out['private']), /PermissionError: Cannot request a private attribute/);
    assert.match(String(out['unknown']), /AttributeError: 'PyMath' object has no attribute 'nope'/);
    assert.match(String(out['arity']), /TypeError: PyMath\.add\(\) missing 1 required positional argument: 'b'/);
    assert.equal(out['whoami'], true);
    assert.equal(out['ping'], 3);
    assert.deepEqual(out['notes'], [[[0], { tag: 'py' }], [[1], { tag: 'py' }], [[2], { tag: 'py' }]]);
    assert.equal((out['lock'] as string[]).length, 1);
    assert.deepEqual(out['release'], []);
    assert.deepEqual(out['services'], ['PyMath', 'TsMath']);
    assert.equal(out['me'], true);
    assert.deepEqual(out['usernames'], ['admin']);
    assert.equal(out['port'], m.port);
    // Switchyard enforces links: after unlink, calls are refused (msl-network would forward them).
    assert.match(String(out['after_unlink']), /PermissionError: PyClient\[.*\] cannot send a request to 'PyMath': it is not linked/);
  });

  test('interop - Python client calls a TypeScript service', async () => {
    const r = await runPython(['client', JSON.stringify({ ...cfg, service: 'TsMath' })]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out['add'], 3);
    assert.equal(out['add_kw'], 'xy');
    // A JavaScript method has no **kwargs: keyword arguments must name its parameters.
    assert.match(String(out['echo']), /TypeError: TsMath\.echo\(\) got an unexpected keyword argument 'x'/);
    assert.match(String(out['fail']), /ValueError: boom$/);
    assert.match(String(out['private']), /PermissionError: Cannot request a private attribute/);
    assert.match(String(out['unknown']), /AttributeError: 'TsMath' object has no attribute 'nope'/);
    assert.match(String(out['arity']), /TypeError: TsMath\.add\(\) missing 1 required positional argument: 'b'/);
    assert.equal(out['whoami'], true);
    assert.deepEqual(out['notes'], [[[0], { tag: 'ts' }], [[1], { tag: 'ts' }], [[2], { tag: 'ts' }]]);
  });

  test('interop - Python LinkedClient and max_clients against a TypeScript service', async () => {
    class Solo extends TsMath {}
    const solo = new Solo({ name: 'Solo', maxClients: 1 });
    await solo.start({ host: '127.0.0.1', port: m.port, certFile: m.certFile, ...login });
    try {
      const r = await runPython(['linked', JSON.stringify({ ...cfg, service: 'Solo' })]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(out['first'], 5);
      assert.match(String(out['second']), /The maximum number of Clients are already linked with 'Solo'\nThe linked Clients are:\n {2}First\[/);
    } finally {
      await solo.disconnect();
    }
  });

  test('interop - TypeScript client calls a Python service', async () => {
    const c = await connect({ host: '127.0.0.1', port: m.port, certFile: m.certFile, ...login });
    try {
      assert.equal(c.dialect, 'native');
      const py = await c.link<{ add(a: unknown, b: unknown): unknown; echo(...a: unknown[]): unknown; fail(): void; ping(n: number): number; euler(): number }>('PyMath');
      assert.equal(await py.add(1, 2), 3);
      assert.equal(await py.$call('add', [], { kwargs: { a: 'x', b: 'y' } }), 'xy');
      assert.deepEqual(await py.echo(1n << 70n, 'é', null), [[1n << 70n, 'é', null], {}]);
      assert.equal(await py.euler(), 2.718281828459045);
      const err = await py.fail().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof RemoteError);
      assert.equal(err.remoteName, 'ValueError');
      assert.equal(err.remoteMessage, 'boom');
      const notes: unknown[] = [];
      py.$onNotification((n) => notes.push([n.args, n.kwargs]));
      assert.equal(await py.ping(2), 2);
      const deadline = Date.now() + 5000;
      while (notes.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(notes, [[[0], { tag: 'py' }], [[1], { tag: 'py' }]]);
    } finally {
      await c.disconnect();
    }
  });
});

describe('interop - Python trust on first use and the Manager password', { skip, timeout: 60_000 }, () => {
  test('interop - a Python client fetches, saves and trusts the certificate, then sends the Manager password', async () => {
    const m = await startTestManager({ disableTls: false, authPassword: 'open sesame' });
    const mslHome = tempDir('msl-home-');
    try {
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(python, ['-c', PY, 'tofu', JSON.stringify({ host: '127.0.0.1', port: m.port, password_manager: 'open sesame' })], {
          env: { ...process.env, PYTHONPATH: src, MSL_NETWORK_HOME: mslHome.path },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
        p.on('close', (code) => {
          clearTimeout(t);
          resolve({ code, stdout, stderr });
        });
      });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { port: m.port, me: true });
    } finally {
      mslHome.remove();
      await m.close();
    }
  });
});

describe('interop - Switchyard peers with the Python Manager (JSON lines)', { skip, timeout: 120_000 }, () => {
  let mgr: ChildProcess | undefined;
  let port = 0;
  const home = tempDir('msl-home-');
  const tsSvc = new TsMath();

  before(async () => {
    port = await freePort()
    mgr = spawn(python, ['-c', 'import sys; from msl.network.cli import main; main(*sys.argv[1:])', 'start', '-H', '127.0.0.1', '-p', String(port), '--disable-tls', '-d', `${home.path}/m.sqlite3`, '-l', `${home.path}/m.log`], {
      env: { ...process.env, PYTHONPATH: src, MSL_NETWORK_HOME: home.path },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    mgr.stderr?.on('data', () => {});
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) break;
      if (Date.now() > deadline) throw new Error('the Python Manager did not start within 20 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    await tsSvc.start({ host: '127.0.0.1', port, disableTls: true });
  });
  after(async () => {
    await tsSvc.disconnect().catch(() => {});
    await stop(mgr);
    home.remove();
  });

  test('interop - a TypeScript client falls back to JSON lines and calls a TypeScript service', async () => {
    const c = await within(connect({ host: '127.0.0.1', port, disableTls: true }), 10_000, 'connect');
    try {
      assert.equal(c.dialect, 'json');
      assert.match(c.managerName, /^Manager\[.+:\d+\]$/);
      const ts = await c.link<TsMath>('TsMath');
      assert.equal(await ts.add(2, 3), 5);
      assert.deepEqual(await Promise.all([ts.add(1, 1), ts.add(2, 2), ts.add(3, 3)]), [2, 4, 6]);
      const err = await ts.fail().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof RemoteError);
      assert.equal(err.remoteName, 'ValueError');
      // The Python Manager answers a missing service with uid "": the client still matches it.
      const ghost = await c.link('Ghost').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(ghost instanceof RemoteError);
      assert.equal(ghost.remoteName, 'KeyError');
    } finally {
      await c.disconnect();
    }
  });

  test('interop - a Python client calls a TypeScript service through the Python Manager', async () => {
    const r = await runPython(['client', JSON.stringify({ host: '127.0.0.1', port, disable_tls: true, service: 'TsMath' })]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out['add'], 3);
    assert.equal(out['add_kw'], 'xy');
    assert.match(String(out['fail']), /ValueError: boom$/);
    assert.deepEqual(out['notes'], [[[0], { tag: 'ts' }], [[1], { tag: 'ts' }], [[2], { tag: 'ts' }]]);
  });
});

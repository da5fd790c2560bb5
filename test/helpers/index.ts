/**
 * Test helpers: temporary homes, Managers on loopback port 0, raw line-oriented peers, and
 * bounded waits. Every wait here fails (never hangs) when its deadline passes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { afterEach, beforeEach } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startManager, type ManagerHandle, type ManagerOptions } from '../../src/manager/manager.ts';
import { openDatabase, type ManagerDatabase } from '../../src/manager/database.ts';

// Processes the tests start (bin/switchyard.js) run the TypeScript sources, never a stale dist/.
process.env['SWITCHYARD_SOURCE'] ??= '1';

/** A temporary directory, removed by the returned function. */
export function tempDir(prefix = 'switchyard-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Points SWITCHYARD_HOME at a fresh temporary directory for this test file. */
export function useTempHome(): string {
  const home = tempDir('switchyard-home-').path;
  process.env['SWITCHYARD_HOME'] = home;
  return home;
}

/**
 * Gives every test of the file a fresh temporary directory with `SWITCHYARD_HOME` at `<dir>/home`
 * (restored and removed after each test). Returns a getter for the current directory.
 */
export function freshHomeEachTest(prefix = 'switchyard-test-'): () => string {
  let dir = '';
  let saved: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    saved = process.env['SWITCHYARD_HOME'];
    process.env['SWITCHYARD_HOME'] = join(dir, 'home');
  });
  afterEach(() => {
    if (saved === undefined) delete process.env['SWITCHYARD_HOME'];
    else process.env['SWITCHYARD_HOME'] = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  return () => dir;
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned; another process could take it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Rejects after `ms` with a message naming what was awaited. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`test timed out after ${ms} ms waiting for ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** A Manager on 127.0.0.1 port 0 with its own database (TLS off unless asked). */
export async function startTestManager(options: ManagerOptions & { users?: Array<[string, string, boolean]> } = {}): Promise<ManagerHandle & { db: ManagerDatabase; dir: string }> {
  const dir = tempDir('switchyard-mgr-');
  const db = openDatabase(join(dir.path, 'manager.sqlite3'));
  for (const [u, p, admin] of options.users ?? []) db.users.insert(u, p, admin);
  const m = await startManager({ host: '127.0.0.1', port: 0, disableTls: true, database: db, ...options });
  const close = m.close.bind(m);
  return Object.assign(Object.create(null) as object, {
    get port() {
      return m.port;
    },
    get networkName() {
      return m.networkName;
    },
    get contact() {
      return m.contact;
    },
    get certFile() {
      return m.certFile;
    },
    closed: m.closed,
    db,
    dir: dir.path,
    close: async () => {
      await close();
      db.close();
      dir.remove();
    },
    [Symbol.asyncDispose]: async () => {
      await close();
    },
  }) as ManagerHandle & { db: ManagerDatabase; dir: string };
}

/** A raw socket peer that speaks lines, for byte-exact protocol tests. */
export class RawPeer {
  private buf = '';
  private lines: string[] = [];
  private waiters: Array<() => void> = [];
  private ended = false;
  readonly socket: net.Socket;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i + 1));
        this.buf = this.buf.slice(i + 1);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  /** Local port (the Manager names this peer `name[HOSTNAME:port]`). */
  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** The next line including its `\r\n`. */
  async nextLine(ms = 3000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const l = this.lines.shift();
      if (l !== undefined) return l;
      if (this.ended) throw new Error(`connection closed while waiting for a line (buffered: ${JSON.stringify(this.buf)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${ms} ms`);
      await within(new Promise<void>((r) => this.waiters.push(r)), left, 'a line').catch(() => {});
    }
  }

  /** The next line parsed as JSON. */
  async next(ms = 3000): Promise<Record<string, unknown>> {
    return JSON.parse(await this.nextLine(ms)) as Record<string, unknown>;
  }

  /** Resolves when the Manager closes the connection (fails after `ms`). */
  async eof(ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`connection still open after ${ms} ms; unread: ${JSON.stringify(this.lines)}`);
      await within(new Promise<void>((r) => this.waiters.push(r)), left, 'EOF').catch(() => {});
    }
    if (this.lines.length > 0) throw new Error(`unread lines before EOF: ${JSON.stringify(this.lines)}`);
  }

  /** True when no line arrives within `ms`. */
  async silent(ms = 150): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.lines.length === 0;
  }

  /** Answers the identity prompt (reads it first). */
  async identify(identity: Record<string, unknown>): Promise<void> {
    const prompt = await this.next();
    if (prompt['attribute'] !== 'identity') throw new Error(`expected the identity prompt, got ${JSON.stringify(prompt)}`);
    this.send(JSON.stringify({ error: false, result: identity, requester: prompt['requester'], uid: '' }) + '\r\n');
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Path of msl-network's source (a checkout with `msl/network`), or undefined. */
export function mslNetworkSource(): string | undefined {
  const src = process.env['MSL_NETWORK_SRC'];
  return src !== undefined && src !== '' ? src : undefined;
}

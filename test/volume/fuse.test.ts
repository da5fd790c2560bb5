/**
 * `switchyard mount`: a volfile's graph as a real FUSE file system, served by a child process and
 * driven only by unmodified system tools in further child processes (a process that touches its
 * own FUSE mount synchronously deadlocks; the test process never touches the mount at all).
 * The mount runs over storage/posix (the brick directory is checked too) and over protocol/client
 * to a brick served by this process through a Manager on 127.0.0.1.
 * Skipped, with the reason, only when /dev/fuse is missing or fuse-native/libfuse2 cannot load.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { graphFromText, type Graph } from '../../src/translator/graph.ts';
import { fuseUnavailableReason } from '../../src/volume/fuse.ts';
import { openVolume, type Volume } from '../../src/volume/volume.ts';
import { startTestManager, tempDir, within } from '../helpers/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOOL_TIMEOUT = 30_000;
const MOUNT_WAIT = 20_000;

const unavailable = await fuseUnavailableReason();
if (unavailable !== undefined) process.stderr.write(`fuse.test.ts: FUSE tests skipped: ${unavailable}\n`);

function volfileText(brick: string): string {
  return `volume brick\n  type storage/posix\n  option directory ${brick}\nend-volume\n`;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `sh -c script` in a child (bounded); never rejects on a non-zero exit. */
function sh(script: string, cwd?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', script], { timeout: TOOL_TIMEOUT, cwd, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(new Error(`sh -c ${script}: ${err.message} ${stderr}`));
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

/** Runs `sh -c script` and asserts it exits 0; returns stdout. */
async function ok(script: string, cwd?: string): Promise<string> {
  const r = await sh(script, cwd);
  assert.equal(r.code, 0, `${script} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

async function isMounted(mnt: string): Promise<boolean> {
  const mounts = await readFile('/proc/mounts', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[1] === mnt);
}

/** `switchyard mount ...` as a child process. */
function spawnMount(args: string[]): ChildProcess {
  const argv = [join(ROOT, 'bin/switchyard.js'), 'mount', ...args];
  return spawn(process.execPath, argv, { cwd: ROOT, env: { ...process.env, SWITCHYARD_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Output and exit of a mount child. */
class MountChild {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Resolves when the child printed its "mounted" line; rejects when it exits first. */
  mounted(): Promise<void> {
    return within(
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (/^mounted .* on /m.test(this.stdout)) resolve();
        };
        this.child.stdout?.on('data', check);
        check();
        void this.exited.then((code) => reject(new Error(`mount exited with ${code}: ${this.stderr}`)));
      }),
      MOUNT_WAIT,
      `the "mounted" line (stderr so far: ${this.stderr})`,
    );
  }

  /** SIGTERM, a bounded wait, then SIGKILL; and `umount -l` if a mount is somehow left. */
  async stop(mnt: string): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    let code: number | null = null;
    try {
      code = await within(this.exited, 10_000, 'the mount process to exit after SIGTERM');
    } catch {
      this.child.kill('SIGKILL');
      await within(this.exited, 5_000, 'the mount process to exit after SIGKILL').catch(() => {});
    }
    if (await isMounted(mnt)) await sh(`fusermount -uz '${mnt}' || umount -l '${mnt}'`);
    return code;
  }
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

describe('fuse mount', { skip: unavailable === undefined ? false : `FUSE unavailable: ${unavailable}` }, () => {
  const dir = tempDir('switchyard-fuse-');
  const brick = join(dir.path, 'brick');
  const mnt = join(dir.path, 'mnt');
  const volfile = join(dir.path, 'brick.vol');
  let m: MountChild | undefined;

  before(async () => {
    await mkdir(brick);
    await mkdir(mnt);
    await writeFile(volfile, volfileText(brick));
    m = new MountChild(spawnMount([volfile, mnt]));
    await m.mounted();
  });

  after(async () => {
    try {
      if (m) await m.stop(mnt);
    } finally {
      if (!(await isMounted(mnt))) dir.remove();
    }
  });

  test('fuse - the mount prints its line and is listed in /proc/mounts as fuse.switchyard', async () => {
    assert.equal(m?.stdout, `mounted ${volfile} on ${mnt}\n`);
    const line = (await readFile('/proc/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === mnt);
    assert.ok(line, 'the mountpoint is in /proc/mounts');
    assert.equal(line.split(' ')[2], 'fuse.switchyard');
    assert.equal(await ok(`ls -A '${mnt}'`), '');
  });

  test('fuse - mkdir, touch, ls and stat -c through the mount', async () => {
    await ok(`mkdir '${mnt}/d1' && mkdir '${mnt}/d1/sub' && touch '${mnt}/d1/f1' '${mnt}/d1/f2' && chmod 600 '${mnt}/d1/f2'`);
    assert.equal(await ok(`ls '${mnt}/d1'`), 'f1\nf2\nsub\n');
    assert.equal(await ok(`stat -c '%F %a %s' '${mnt}/d1/f1' '${mnt}/d1/f2'`), 'regular empty file 644 0\nregular empty file 600 0\n');
    assert.equal(await ok(`stat -c '%F %a' '${mnt}/d1/sub'`), 'directory 755\n');
    const mtime = Number(await ok(`stat -c '%Y' '${mnt}/d1/f1'`));
    assert.ok(Math.abs(mtime - Date.now() / 1000) < 60, `touch set the time to now (got ${mtime})`);
    await ok(`touch -d '2001-02-03 04:05:06 UTC' '${mnt}/d1/f1'`);
    assert.equal(await ok(`stat -c '%Y' '${mnt}/d1/f1'`), `${Date.UTC(2001, 1, 3, 4, 5, 6) / 1000}\n`);
    assert.deepEqual((await readdir(join(brick, 'd1'))).sort(), ['f1', 'f2', 'sub']);
    assert.equal((await lstat(join(brick, 'd1/f2'))).mode & 0o777, 0o600);
    assert.equal(Math.round((await lstat(join(brick, 'd1/f1'))).mtimeMs / 1000), Date.UTC(2001, 1, 3, 4, 5, 6) / 1000);
    await ok(`rmdir '${mnt}/d1/sub'`);
    assert.equal(await ok(`ls '${mnt}/d1'`), 'f1\nf2\n');
  });

  test('fuse - cp of a 5 MiB random file in and out is byte-exact', async () => {
    const data = randomBytes(5 << 20);
    const src = join(dir.path, 'random.bin');
    await writeFile(src, data);
    await ok(`cp '${src}' '${mnt}/random.bin'`);
    assert.equal(await ok(`stat -c '%s' '${mnt}/random.bin'`), `${data.length}\n`);
    assert.equal((await ok(`sha256sum '${mnt}/random.bin'`)).split(' ')[0], sha256(data));
    await ok(`cp '${mnt}/random.bin' '${dir.path}/back.bin'`);
    assert.equal(sha256(await readFile(join(dir.path, 'back.bin'))), sha256(data));
    assert.equal(sha256(await readFile(join(brick, 'random.bin'))), sha256(data));
    await ok(`cat '${mnt}/random.bin' > '${dir.path}/cat.bin'`);
    assert.equal(sha256(await readFile(join(dir.path, 'cat.bin'))), sha256(data));
    // Four copies at once: each open file keeps its own handle.
    await ok(`for i in 1 2 3 4; do cp '${src}' '${mnt}'/par-$i.bin & done; wait`);
    const sums = await ok(`sha256sum '${mnt}'/par-*.bin`);
    assert.deepEqual(
      sums.trim().split('\n').map((l) => l.split(' ')[0]),
      [1, 2, 3, 4].map(() => sha256(data)),
    );
  });

  test('fuse - echo >> appends and cat shows the whole file', async () => {
    await ok(`echo one > '${mnt}/log.txt' && echo two >> '${mnt}/log.txt' && echo three >> '${mnt}/log.txt'`);
    assert.equal(await ok(`cat '${mnt}/log.txt'`), 'one\ntwo\nthree\n');
    assert.equal(await readFile(join(brick, 'log.txt'), 'utf8'), 'one\ntwo\nthree\n');
    await ok(`echo new > '${mnt}/log.txt'`);
    assert.equal(await ok(`cat '${mnt}/log.txt'`), 'new\n');
  });

  test('fuse - mv renames files and directories, rm removes them', async () => {
    await ok(`mkdir -p '${mnt}/mv/a' && echo payload > '${mnt}/mv/a/file' && mv '${mnt}/mv/a/file' '${mnt}/mv/renamed' && mv '${mnt}/mv/a' '${mnt}/mv/b'`);
    assert.equal(await ok(`ls '${mnt}/mv'`), 'b\nrenamed\n');
    assert.equal(await ok(`cat '${mnt}/mv/renamed'`), 'payload\n');
    assert.deepEqual((await readdir(join(brick, 'mv'))).sort(), ['b', 'renamed']);
    await ok(`rm '${mnt}/mv/renamed' && rm -r '${mnt}/mv'`);
    assert.equal((await sh(`ls '${mnt}/mv'`)).code, 2);
    assert.equal(existsSync(join(brick, 'mv')), false);
  });

  test('fuse - ln -s makes a symlink that readlink and cat follow', async () => {
    await ok(`echo target > '${mnt}/target.txt' && ln -s target.txt '${mnt}/link'`);
    assert.equal(await ok(`readlink '${mnt}/link'`), 'target.txt\n');
    assert.equal(await ok(`stat -c '%F' '${mnt}/link'`), 'symbolic link\n');
    assert.equal(await ok(`cat '${mnt}/link'`), 'target\n');
    assert.equal(await readlink(join(brick, 'link')), 'target.txt');
    await ok(`ln '${mnt}/target.txt' '${mnt}/hard' && echo more >> '${mnt}/hard'`);
    assert.equal(await ok(`cat '${mnt}/target.txt'`), 'target\nmore\n');
    assert.equal(await ok(`stat -c '%h' '${mnt}/target.txt'`), '2\n');
  });

  test('fuse - failures reach the tools as errno messages', async () => {
    const missing = await sh(`cat '${mnt}/no-such-file'`);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such file or directory/);
    await ok(`mkdir '${mnt}/full' && touch '${mnt}/full/x'`);
    const notEmpty = await sh(`rmdir '${mnt}/full'`);
    assert.notEqual(notEmpty.code, 0);
    assert.match(notEmpty.stderr, /Directory not empty/);
    const exists = await sh(`mkdir '${mnt}/full'`);
    assert.match(exists.stderr, /File exists/);
  });

  test('fuse - user xattrs (security.* refused), truncate, ftruncate, fsync, chmod, chown, statvfs and access through python3 os calls', async () => {
    const script = [
      'import os, sys',
      'p = sys.argv[1]',
      'open(p, "w").close()',
      'os.setxattr(p, "user.color", b"blue")',
      'os.setxattr(p, "user.size", b"xl")',
      'print(os.getxattr(p, "user.color").decode(), sorted(os.listxattr(p)))',
      'os.removexattr(p, "user.color")',
      'print(sorted(os.listxattr(p)))',
      'try: os.getxattr(p, "user.color")\nexcept OSError as e: print(e.strerror)',
      'try: os.setxattr(p, "user.size", b"m", os.XATTR_CREATE)\nexcept OSError as e: print(e.strerror)',
      'try: os.setxattr(p, "security.label", b"x")\nexcept OSError as e: print(e.strerror)',
      'os.truncate(p, 10); print(os.stat(p).st_size)',
      'f = os.open(p, os.O_RDWR); os.ftruncate(f, 3); os.fsync(f); os.fdatasync(f); os.close(f); print(os.stat(p).st_size)',
      'os.chmod(p, 0o640); print(oct(os.stat(p).st_mode))',
      'os.chown(p, 1234, -1); st = os.stat(p); print(st.st_uid, st.st_gid)',
      'print(os.statvfs(os.path.dirname(p)).f_namemax, os.access(p, os.R_OK))',
    ].join('\n');
    const out = await ok(`python3 -c '${script.replace(/'/g, `'"'"'`)}' '${mnt}/attrs'`);
    assert.equal(out, "blue ['user.color', 'user.size']\n['user.size']\nNo data available\nFile exists\nOperation not supported\n10\n3\n0o100640\n1234 0\n255 True\n");
    const st = await lstat(join(brick, 'attrs'));
    assert.equal(st.size, 3);
    assert.equal(st.mode & 0o777, 0o640);
    assert.equal(st.uid, 1234);
  });

  test('fuse - a change made beside the mount is seen through it at once (timeouts 0)', async () => {
    await ok(`echo before > '${mnt}/seen.txt' && cat '${mnt}/seen.txt' && stat '${mnt}/seen.txt' > /dev/null`);
    await writeFile(join(brick, 'seen.txt'), 'after, and longer\n');
    await writeFile(join(brick, 'fresh.txt'), 'fresh\n');
    assert.equal(await ok(`cat '${mnt}/seen.txt'`), 'after, and longer\n');
    assert.equal(await ok(`cat '${mnt}/fresh.txt'`), 'fresh\n');
  });
});

describe('fuse mount lifecycle', { skip: unavailable === undefined ? false : `FUSE unavailable: ${unavailable}` }, () => {
  const dir = tempDir('switchyard-fuse-life-');
  const volfile = join(dir.path, 'brick.vol');
  let n = 0;
  const fresh = async (): Promise<{ brick: string; mnt: string }> => {
    n++;
    const brick = join(dir.path, `brick${n}`);
    const mnt = join(dir.path, `mnt${n}`);
    await mkdir(brick);
    await mkdir(mnt);
    await writeFile(volfile, volfileText(brick));
    return { brick, mnt };
  };
  const mnts: string[] = [];

  after(async () => {
    let left = false;
    for (const mnt of mnts) {
      if (await isMounted(mnt)) {
        await sh(`fusermount -uz '${mnt}' || umount -l '${mnt}'`);
        left = true;
      }
    }
    dir.remove();
    assert.equal(left, false, 'no test left a mount behind');
  });

  test('fuse - SIGTERM unmounts, exits 0 and leaves an empty directory', async () => {
    const { brick, mnt } = await fresh();
    mnts.push(mnt);
    const m = new MountChild(spawnMount([volfile, mnt]));
    try {
      await m.mounted();
      await ok(`echo x > '${mnt}/f'`);
      assert.equal(await isMounted(mnt), true);
      m.child.kill('SIGTERM');
      assert.equal(await within(m.exited, 10_000, 'exit after SIGTERM'), 0);
      assert.equal(await isMounted(mnt), false);
      assert.notEqual((await sh(`mountpoint -q '${mnt}'`)).code, 0);
      assert.deepEqual(await readdir(mnt), []);
      assert.equal(await readFile(join(brick, 'f'), 'utf8'), 'x\n');
      assert.equal(m.stderr, '');
    } finally {
      await m.stop(mnt);
    }
  });

  test('fuse - SIGINT unmounts and exits 0', async () => {
    const { mnt } = await fresh();
    mnts.push(mnt);
    const m = new MountChild(spawnMount([volfile, mnt]));
    try {
      await m.mounted();
      m.child.kill('SIGINT');
      assert.equal(await within(m.exited, 10_000, 'exit after SIGINT'), 0);
      assert.equal(await isMounted(mnt), false);
    } finally {
      await m.stop(mnt);
    }
  });

  test('fuse - a killed mount process leaves no stale mount (auto_unmount)', async () => {
    const { mnt } = await fresh();
    mnts.push(mnt);
    const m = new MountChild(spawnMount([volfile, mnt]));
    try {
      await m.mounted();
      m.child.kill('SIGKILL');
      await within(m.exited, 10_000, 'exit after SIGKILL');
      const deadline = Date.now() + 5_000;
      while ((await isMounted(mnt)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await isMounted(mnt), false);
      assert.deepEqual(await readdir(mnt), []);
    } finally {
      await m.stop(mnt);
    }
  });

  test('fuse - --read-only refuses writes with Read-only file system and still reads', async () => {
    const { brick, mnt } = await fresh();
    mnts.push(mnt);
    const seed = new MountChild(spawnMount([volfile, mnt]));
    try {
      await seed.mounted();
      await ok(`echo kept > '${mnt}/kept.txt'`);
    } finally {
      assert.equal(await seed.stop(mnt), 0);
    }
    const m = new MountChild(spawnMount(['--read-only', volfile, mnt]));
    try {
      await m.mounted();
      const write = await sh(`echo x > '${mnt}/new.txt'`);
      assert.notEqual(write.code, 0);
      assert.match(write.stderr, /Read-only file system/);
      const mk = await sh(`mkdir '${mnt}/dir'`);
      assert.match(mk.stderr, /Read-only file system/);
      assert.equal(await ok(`cat '${mnt}/kept.txt'`), 'kept\n');
      const rm = await sh(`rm '${mnt}/kept.txt'`);
      assert.match(rm.stderr, /Read-only file system/);
      assert.equal(await readFile(join(brick, 'kept.txt'), 'utf8'), 'kept\n');
    } finally {
      assert.equal(await m.stop(mnt), 0);
    }
  });

  test('fuse - a mountpoint that is not an empty directory is refused with one line and exit 1', async () => {
    const { mnt } = await fresh();
    await writeFile(join(mnt, 'occupied'), 'x');
    const m = new MountChild(spawnMount([volfile, mnt]));
    assert.equal(await within(m.exited, MOUNT_WAIT, 'exit'), 1);
    assert.equal(m.stderr, `switchyard mount: The mountpoint ${mnt} is not empty\n`);
    const missing = new MountChild(spawnMount([volfile, join(dir.path, 'nowhere')]));
    assert.equal(await within(missing.exited, MOUNT_WAIT, 'exit'), 1);
    assert.match(missing.stderr, /^switchyard mount: The mountpoint .*nowhere does not exist[^\n]*\n$/);
    assert.equal(await isMounted(mnt), false);
  });

  test('fuse - a volfile error is refused with one line and exit 1', async () => {
    const { mnt } = await fresh();
    const bad = join(dir.path, 'bad.vol');
    await writeFile(bad, 'volume x\n  type storage/nonesuch\nend-volume\n');
    const m = new MountChild(spawnMount([bad, mnt]));
    assert.equal(await within(m.exited, MOUNT_WAIT, 'exit'), 1);
    assert.equal(m.stderr, `switchyard mount: ${bad}: type 'storage/nonesuch' is not valid or not found on this machine\n`);
    const none = new MountChild(spawnMount([join(dir.path, 'missing.vol'), mnt]));
    assert.equal(await within(none.exited, MOUNT_WAIT, 'exit'), 1);
    assert.match(none.stderr, /^switchyard mount: .*missing\.vol: cannot read the volfile: ENOENT[^\n]*\n$/);
    assert.equal(await isMounted(mnt), false);
  });
});

describe('fuse mount over protocol/client', { skip: unavailable === undefined ? false : `FUSE unavailable: ${unavailable}` }, () => {
  test('fuse - --manager and --disable-tls override the volfile, and another client sees the mount change at once', async () => {
    const mgr = await startTestManager();
    const dir = tempDir('switchyard-fuse-remote-');
    const mnt = join(dir.path, 'mnt');
    let brick: Graph | undefined;
    let other: Volume | undefined;
    let m: MountChild | undefined;
    try {
      await mkdir(mnt);
      brick = await graphFromText(
        `volume mem\n  type storage/memory\nend-volume\nvolume server\n  type protocol/server\n  option name fusebrick\n  option manager 127.0.0.1:${mgr.port}\n  option disable-tls on\n  subvolumes mem\nend-volume\n`,
      );
      const clientVol = (manager: string, tls: string): string =>
        `volume client\n  type protocol/client\n  option remote-subvolume fusebrick\n  option manager ${manager}\n  option disable-tls ${tls}\n  option ping-timeout 0\nend-volume\n`;
      // The volfile names a Manager that is not there, with TLS: the command line must win.
      const volfile = join(dir.path, 'client.vol');
      await writeFile(volfile, clientVol('127.0.0.1:1', 'off'));
      m = new MountChild(spawnMount([volfile, mnt, '--manager', `127.0.0.1:${mgr.port}`, '--disable-tls']));
      await m.mounted();
      other = await openVolume({ volfile: clientVol(`127.0.0.1:${mgr.port}`, 'on') });
      await ok(`mkdir '${mnt}/shared' && echo from-mount > '${mnt}/shared/a.txt'`);
      assert.equal(await other.readFile('/shared/a.txt', 'utf8'), 'from-mount\n');
      await other.writeFile('/shared/b.txt', 'from-other\n');
      await other.writeFile('/shared/a.txt', 'rewritten by the other client\n');
      assert.equal(await ok(`ls '${mnt}/shared'`), 'a.txt\nb.txt\n');
      assert.equal(await ok(`cat '${mnt}/shared/b.txt' '${mnt}/shared/a.txt'`), 'from-other\nrewritten by the other client\n');
      await other.unlink('/shared/b.txt');
      assert.equal((await sh(`cat '${mnt}/shared/b.txt'`)).code, 1);
    } finally {
      if (m) assert.equal(await m.stop(mnt), 0);
      await other?.close();
      await brick?.fini();
      await mgr.close();
      if (!(await isMounted(mnt))) dir.remove();
    }
  });
});

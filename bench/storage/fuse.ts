/**
 * bench/storage (d): the FUSE mount against the brick's directory, in one run.
 * - `cp` of a 256 MiB file into the mount and back out, beside `cp` into and out of the brick
 *   directory itself (MB/s, ratio mount/direct);
 * - `ls -l` of a directory of 10,000 small files, through the mount and on the brick directory
 *   (ms, best of 2; ratio), and through a second mount of the same brick with
 *   `--cache-timeout 1`.
 * The mount is `switchyard mount` in a child process over storage/posix; every command is a
 * child process. `BENCH_FUSE_MB` and `BENCH_FUSE_FILES` shrink the run. Needs /dev/fuse and libfuse2.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fuseUnavailableReason } from '../../src/volume/fuse.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MB = Number(process.env['BENCH_FUSE_MB'] ?? 256);
const FILES = Number(process.env['BENCH_FUSE_FILES'] ?? 10_000);
// Two rounds, the faster one counts: an uncached `ls -l` of 10,000 files through FUSE takes ~20 s here.
const LS_ROUNDS = 2;

function sh(script: string, timeoutMs = 60_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    execFile('sh', ['-c', script], { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, _out, stderr) => {
      if (err) reject(new Error(`${script}: ${stderr || err.message}`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
  });
}

async function isMounted(mnt: string): Promise<boolean> {
  return (await readFile('/proc/mounts', 'utf8')).split('\n').some((l) => l.split(' ')[1] === mnt);
}

const reason = await fuseUnavailableReason();
if (reason !== undefined) {
  console.log(`bench/storage fuse: skipped: ${reason}`);
  process.exit(0);
}

const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-fuse-'));
const brick = join(dir, 'brick');
const direct = brick;
const mnt = join(dir, 'mnt');
await mkdir(brick);
await mkdir(mnt);
const volfile = join(dir, 'bench.vol');
await writeFile(volfile, `volume brick\n  type storage/posix\n  option directory ${brick}\nend-volume\n`);

/** `switchyard mount` in a child process; resolves once it printed its line. */
async function startMount(at: string, extra: string[] = []): Promise<() => Promise<void>> {
  const args = [volfile, at, ...extra];
  const argv = [join(ROOT, 'bin/switchyard.js'), 'mount', ...args];
  const child = spawn(process.execPath, argv, { cwd: ROOT, env: { ...process.env, SWITCHYARD_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
    if (await isMounted(at)) await sh(`fusermount -uz '${at}' || umount -l '${at}'`);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error('switchyard mount did not print its line within 20 s')), 20_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('mounted ')) {
          clearTimeout(t);
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`switchyard mount exited with ${code}`)));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}

const stops: Array<() => Promise<void>> = [];
try {
  stops.push(await startMount(mnt));
  const src = join(dir, 'big.bin');
  const fh = await open(src, 'w');
  for (let i = 0; i < MB; i++) await fh.write(randomBytes(1 << 20));
  await fh.close();
  const bytes = MB * (1 << 20);
  const rate = (ms: number): number => bytes / (1 << 20) / (ms / 1000);

  // Same order for both sides: in, then out; the source is in the page cache for every read, and
  // `sync` first, so that no step pays for the previous one's dirty pages.
  const timed = async (script: string): Promise<number> => {
    await sh('sync');
    return sh(script);
  };
  const directIn = await timed(`cp '${src}' '${direct}/direct.bin'`);
  const directOut = await timed(`cp '${direct}/direct.bin' '${dir}/out-direct.bin'`);
  const mountIn = await timed(`cp '${src}' '${mnt}/big.bin'`);
  const mountOut = await timed(`cp '${mnt}/big.bin' '${dir}/out-mount.bin'`);
  await sh(`cmp '${src}' '${dir}/out-mount.bin'`);
  await rm(join(dir, 'out-direct.bin'));
  await rm(join(dir, 'out-mount.bin'));
  await sh(`rm -f '${direct}/direct.bin' '${mnt}/big.bin'`);

  // 10,000 small files, made in the brick directly.
  const makeMs = await sh(`mkdir '${brick}/files' && cd '${brick}/files' && seq 1 ${FILES} | sed 's/^/file-/' | xargs touch`, 120_000);
  // A second mount of the same brick, whose kernel may cache names and attributes for 1 s.
  const cached = join(dir, 'mnt-cached');
  await mkdir(cached);
  stops.push(await startMount(cached, ['--cache-timeout', '1']));
  const lsDirect: number[] = [];
  const lsMount: number[] = [];
  const lsCached: number[] = [];
  for (let r = 0; r < LS_ROUNDS; r++) {
    lsDirect.push(await sh(`ls -l '${direct}/files' > /dev/null`));
    lsMount.push(await sh(`ls -l '${mnt}/files' > /dev/null`));
    lsCached.push(await sh(`ls -l '${cached}/files' > /dev/null`));
  }
  // Rejects unless the mount lists every file.
  await sh(`test $(ls '${mnt}/files' | wc -l) -eq ${FILES}`);

  console.log(`FUSE mount over storage/posix (direct = the brick directory); ${MB} MiB file, ${FILES} files`);
  console.log(`cp into:        mount ${rate(mountIn).toFixed(0)} MB/s (${mountIn.toFixed(0)} ms)   direct ${rate(directIn).toFixed(0)} MB/s (${directIn.toFixed(0)} ms)   mount/direct ${(rate(mountIn) / rate(directIn)).toFixed(2)}`);
  console.log(`cp out of:      mount ${rate(mountOut).toFixed(0)} MB/s (${mountOut.toFixed(0)} ms)   direct ${rate(directOut).toFixed(0)} MB/s (${directOut.toFixed(0)} ms)   mount/direct ${(rate(mountOut) / rate(directOut)).toFixed(2)}`);
  const lm = Math.min(...lsMount);
  const ld = Math.min(...lsDirect);
  console.log(`ls -l ${FILES} files: mount ${lm.toFixed(0)} ms (${((lm * 1000) / FILES).toFixed(1)} µs/file)   direct ${ld.toFixed(0)} ms   mount/direct ${(lm / ld).toFixed(1)}x   (best of ${LS_ROUNDS}; rounds ${lsMount.map((x) => x.toFixed(0)).join(', ')} vs ${lsDirect.map((x) => x.toFixed(0)).join(', ')} ms)`);
  const lc = Math.min(...lsCached);
  console.log(`ls -l, --cache-timeout 1: mount ${lc.toFixed(0)} ms (${((lc * 1000) / FILES).toFixed(1)} µs/file)   mount/direct ${(lc / ld).toFixed(1)}x   (rounds ${lsCached.map((x) => x.toFixed(0)).join(', ')} ms)`);
  console.log(`(${FILES} files made in the brick in ${makeMs.toFixed(0)} ms; the mount lists all ${FILES})`);
} finally {
  for (const stop of stops) await stop();
  if (!(await isMounted(mnt)) && !(await isMounted(join(dir, 'mnt-cached')))) await rm(dir, { recursive: true, force: true });
}

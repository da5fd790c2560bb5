/**
 * `debug/error-gen`: fault injection, after GlusterFS's error-gen. A fop chosen to fail is answered
 * `(-1, errno)` at once, without winding; every other fop passes to the first child unchanged.
 *
 * Options:
 * - `failure` (percent): the chance that an enabled fop fails. When it is not set it is 0 (nothing
 *   fails), except that naming fops in `error-fops`/`enable` without a `failure` makes those fops
 *   always fail: the short way to say "this fop is broken".
 * - `error-no`: the errno to answer, by name (`ENOENT`) or number. Default: for each failure one
 *   drawn from a list of errnos plausible for that fop (GlusterFS's error-gen table).
 * - `error-fops` (alias `enable`): the fops that may fail (commas or spaces); default all. An
 *   unknown fop name fails init (GlusterFS only warns).
 * - `random-failure` (bool): GlusterFS's legacy mode: ignore `failure` and fail every Nth enabled
 *   fop, with N drawn anew between 3 and 44 after each failure.
 * - `seed` (int): seed of the random draws, so a test sees the same failures on every run; default
 *   a random seed.
 * @module
 */
import { TranslatorError } from '../../errors.ts';
import { FOP_NAMES, type FopName } from '../fops.ts';
import { errno } from '../model.ts';
import { unwind, wind, type Translator } from '../translator.ts';
import { DebugTranslator, defineFopHooks, parseFopList, SEED_OPTION, seededRandom, seedOf, setHooks } from './debug-util.ts';

const ERRNOS_BY_FOP: Readonly<Record<FopName, readonly string[]>> = {
  lookup: ['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'EAGAIN'],
  stat: ['EACCES', 'EFAULT', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOTDIR'],
  fstat: ['EACCES', 'EBADF', 'EFAULT', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOTDIR'],
  statfs: ['EACCES', 'EFAULT', 'EINTR', 'EIO', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOSYS', 'ENOTDIR'],
  access: ['EACCES', 'ENAMETOOLONG', 'ENOENT', 'ENOTDIR', 'EROFS', 'EFAULT', 'EINVAL', 'EIO'],
  readlink: ['EACCES', 'EFAULT', 'EINVAL', 'EIO', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOTDIR'],
  mknod: ['EACCES', 'EEXIST', 'EFAULT', 'EINVAL', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOSPC', 'ENOTDIR', 'EPERM', 'EROFS'],
  mkdir: ['EACCES', 'EEXIST', 'EFAULT', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOSPC', 'ENOTDIR', 'EPERM', 'EROFS'],
  unlink: ['EACCES', 'EBUSY', 'EFAULT', 'EIO', 'EISDIR', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOTDIR', 'EPERM', 'EROFS'],
  rmdir: ['EACCES', 'EBUSY', 'EFAULT', 'ENOMEM', 'ENOTDIR', 'ENOTEMPTY', 'EPERM', 'EROFS'],
  symlink: ['EACCES', 'EEXIST', 'EFAULT', 'EIO', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOSPC', 'ENOTDIR', 'EPERM', 'EROFS'],
  rename: ['EACCES', 'EBUSY', 'EFAULT', 'EINVAL', 'EISDIR', 'EMLINK', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOSPC', 'ENOTDIR', 'EEXIST', 'EXDEV'],
  link: ['EACCES', 'EFAULT', 'EEXIST', 'EIO', 'EMLINK', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOSPC', 'ENOTDIR', 'EPERM', 'EROFS', 'EXDEV'],
  truncate: ['EACCES', 'EFAULT', 'EFBIG', 'EINTR', 'EINVAL', 'EIO', 'EISDIR', 'ENAMETOOLONG', 'ENOENT'],
  ftruncate: ['EACCES', 'EFAULT', 'EFBIG', 'EINTR', 'EINVAL', 'EIO', 'EISDIR', 'ENAMETOOLONG', 'ENOENT'],
  open: ['EACCES', 'EEXIST', 'EFAULT', 'EISDIR', 'EMFILE', 'ENAMETOOLONG', 'ENFILE', 'ENODEV', 'ENOENT', 'ENOMEM'],
  create: ['EACCES', 'EEXIST', 'EFAULT', 'EISDIR', 'EMFILE', 'ENAMETOOLONG', 'ENFILE', 'ENODEV', 'ENOENT'],
  readv: ['EINVAL', 'EBADF', 'EFAULT', 'EISDIR', 'ENAMETOOLONG'],
  writev: ['EINVAL', 'EBADF', 'EFAULT', 'EISDIR', 'ENAMETOOLONG', 'ENOSPC'],
  flush: ['EACCES', 'EFAULT', 'ENAMETOOLONG', 'ENOSYS', 'ENOENT'],
  fsync: ['EBADF', 'EIO', 'EROFS', 'EINVAL'],
  opendir: ['EACCES', 'EEXIST', 'EFAULT', 'EISDIR', 'EMFILE', 'ENAMETOOLONG', 'ENFILE', 'ENODEV'],
  readdir: ['EINVAL', 'EACCES', 'EBADF', 'EMFILE', 'ENOENT'],
  readdirp: ['EINVAL', 'EACCES', 'EBADF', 'EMFILE', 'ENOENT'],
  fsyncdir: ['EBADF', 'EIO', 'EROFS', 'EINVAL'],
  setattr: ['EACCES', 'EFAULT', 'EIO', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOTDIR', 'EPERM', 'EROFS'],
  fsetattr: ['EACCES', 'EFAULT', 'EIO', 'ENAMETOOLONG', 'ENOENT', 'ENOMEM', 'ENOTDIR', 'EPERM', 'EROFS', 'EBADF'],
  getxattr: ['EACCES', 'ENAMETOOLONG', 'EINTR'],
  setxattr: ['EACCES', 'EINTR', 'ENAMETOOLONG'],
  fgetxattr: ['EACCES', 'EBADF', 'ENAMETOOLONG', 'EINTR'],
  fsetxattr: ['EACCES', 'EBADF', 'EINTR', 'ENAMETOOLONG'],
  removexattr: ['EACCES', 'ENAMETOOLONG', 'EINTR'],
  fremovexattr: ['EACCES', 'EBADF', 'ENAMETOOLONG', 'EINTR'],
  // Not in GlusterFS's table; what fallocate(2), lseek(2) and friends document.
  fallocate: ['EBADF', 'EFBIG', 'EIO', 'ENOSPC', 'EINVAL'],
  discard: ['EBADF', 'EIO', 'EINVAL', 'EOPNOTSUPP'],
  zerofill: ['EBADF', 'EIO', 'ENOSPC', 'EINVAL'],
  seek: ['EBADF', 'EINVAL', 'ENXIO'],
};

const ERRNOS_BY_INDEX: readonly (readonly number[])[] = FOP_NAMES.map((f) => ERRNOS_BY_FOP[f].map((n) => errno[n] ?? errno.EIO));

/** Parses `error-no`: a name (`ENOENT`) or a positive number. @internal */
export function parseErrno(volume: string, raw: string): number {
  const byName = errno[raw.toUpperCase()];
  if (byName !== undefined) return byName;
  if (/^\d+$/.test(raw) && Number(raw) > 0) return Number(raw);
  throw new TranslatorError(`volume '${volume}': option 'error-no' has the invalid value '${raw}' (an errno name such as ENOENT, or a number, expected)`, {
    translator: volume,
    option: 'error-no',
  });
}

/** The `debug/error-gen` translator (see the module documentation for its options). */
export class ErrorGen extends DebugTranslator {
  static override options = {
    failure: { type: 'percent', min: 0, max: 100, description: 'Chance (percent) that an enabled fop fails; default 0, or 100 when error-fops is set alone.' },
    'error-no': { type: 'str', description: 'The errno to fail with (name or number); default a plausible one per fop.' },
    'error-fops': { type: 'list', description: 'Fops that may fail (default all).' },
    enable: { type: 'list', description: 'Alias of error-fops (GlusterFS spells it both ways).' },
    'random-failure': { type: 'bool', default: 'off', description: "GlusterFS's legacy mode: fail every Nth enabled fop, N drawn from 3..44." },
    seed: SEED_OPTION,
  } as const;

  protected readonly volfileType = 'debug/error-gen';
  #random: () => number = Math.random;
  #threshold = 0;
  #errno = 0;
  #randomFailure = false;
  #opCount = 0;
  #every = 3;
  /** Fops failed so far. */
  failures = 0;

  protected override configure(): void {
    const listed = [...(this.option<readonly string[]>('error-fops') ?? []), ...(this.option<readonly string[]>('enable') ?? [])];
    const enabled = listed.length === 0 ? new Set(FOP_NAMES) : parseFopList(this.name, this.options['error-fops'] !== undefined ? 'error-fops' : 'enable', listed);
    const failure = this.option<number>('failure');
    this.#threshold = (failure ?? (listed.length > 0 ? 100 : 0)) / 100;
    const raw = this.option<string>('error-no');
    this.#errno = raw === undefined || raw === '' ? 0 : parseErrno(this.name, raw);
    this.#randomFailure = this.option<boolean>('random-failure') === true;
    this.#random = seededRandom(seedOf(this.option<number>('seed')));
    this.#opCount = 0;
    this.#every = this.drawEvery();
    const active = this.#randomFailure || this.#threshold > 0;
    for (const f of FOP_NAMES) setHooks(this, f, active && enabled.has(f));
  }

  private drawEvery(): number {
    return 3 + Math.floor(this.#random() * 42);
  }

  /** @internal The errno this fop fails with, or 0 to let it through. */
  _draw(opIndex: number): number {
    if (this.#randomFailure) {
      if (++this.#opCount < this.#every) return 0;
      this.#opCount = 0;
      this.#every = this.drawEvery();
    } else if (!(this.#random() < this.#threshold)) {
      return 0;
    }
    this.failures++;
    if (this.#errno !== 0) return this.#errno;
    const list = ERRNOS_BY_INDEX[opIndex] ?? [errno.EIO];
    return list[Math.floor(this.#random() * list.length)] ?? errno.EIO;
  }
}

defineFopHooks(ErrorGen, (_fop, opIndex) => ({
  fop(frame, a, b, c, d, e, f) {
    const err = this._draw(opIndex);
    if (err !== 0) {
      unwind(frame, -1, err, null, null, null, null, null, null);
      return;
    }
    const child = this.children[0] as Translator;
    wind(child, opIndex, frame, child, a, b, c, d, e, f);
  },
}));

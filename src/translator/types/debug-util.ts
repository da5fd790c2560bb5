/**
 * What the debug translators (`debug/trace`, `debug/io-stats`, `debug/error-gen`,
 * `debug/delay-gen`) share: their base class (one subvolume, options applied at init and on every
 * reconfigure), the table-driven definition of their fop hooks, fop-list options, switching hooks
 * off, and the seeded random draws. Not part of the package's public surface.
 * @module
 */
import { randomInt } from 'node:crypto';
import { TranslatorError } from '../../errors.ts';
import type { Frame } from '../frame.ts';
import { FOP_NAMES, FOPS, type FopName } from '../fops.ts';
import { Translator } from '../translator.ts';

/**
 * Parses a fop-name list option; an unknown name is an error naming the volume, the option and
 * the name.
 * @internal
 */
export function parseFopList(volume: string, option: string, names: readonly string[]): Set<FopName> {
  const out = new Set<FopName>();
  for (const n of names) {
    if (!Object.hasOwn(FOPS, n)) throw new TranslatorError(`volume '${volume}': option '${option}' names the unknown fop '${n}' (known: ${FOP_NAMES.join(', ')})`, { translator: volume, option });
    out.add(n as FopName);
  }
  return out;
}

/**
 * Turns this translator's hooks for `fop` off (an own `undefined` shadows the prototype's methods,
 * so the graph resolves the fop past it at no cost) or back on. Relink the graph afterwards.
 * @internal
 */
export function setHooks(xl: Translator, fop: FopName, on: boolean): void {
  for (const key of [`${fop}Fop`, `${fop}Cbk`]) {
    if (on) Reflect.deleteProperty(xl, key);
    else Object.defineProperty(xl, key, { value: undefined, writable: true, configurable: true, enumerable: false });
  }
}

/**
 * A seeded pseudo-random generator (mulberry32): returns numbers in [0, 1). Small, fast and good
 * enough for fault injection; not for anything secret.
 * @internal
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The `seed` option of the translators that draw at random (`debug/error-gen`, `debug/delay-gen`). @internal */
export const SEED_OPTION = { type: 'int', description: 'Seed of the random draws (for reproducible tests); default random.' } as const;

/** The seed to use: the `seed` option, else a random one. @internal */
export function seedOf(value: number | undefined): number {
  return value ?? randomInt(0, 2 ** 31);
}

/**
 * Base of the debug translators. `init` fails without a subvolume (naming {@link volfileType}),
 * then calls {@link configure}; `reconfigure` applies the new options, calls `configure` again and
 * relinks the graph (so hooks switched on or off by {@link setHooks} take effect).
 */
export abstract class DebugTranslator extends Translator {
  /** The volfile type named in the missing-subvolume error (`debug/trace`, ...). */
  protected abstract readonly volfileType: string;

  /** Reads the options into the translator's state and switches its fop hooks on or off. */
  protected abstract configure(): void;

  override init(): void {
    if (this.children.length === 0) throw new TranslatorError(`volume '${this.name}': ${this.volfileType} needs a subvolume`, { translator: this.name });
    this.configure();
  }

  override reconfigure(options: Readonly<Record<string, string>>): void {
    super.reconfigure(options);
    this.configure();
    this.graph.relink();
  }
}

/** A table-made fop hook: the frame and the fop's six argument slots. @internal */
export type DebugFopHook<X extends Translator, L> = (this: X, frame: Frame<L>, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown) => void;

/** A table-made callback: the frame, the cookie, the outcome and the fop's six result slots. @internal */
export type DebugCbkHook<X extends Translator, L> = (
  this: X,
  frame: Frame<L>,
  cookie: unknown,
  opRet: number,
  opErrno: number,
  a: unknown,
  b: unknown,
  c: unknown,
  d: unknown,
  e: unknown,
  f: unknown,
) => void;

/**
 * Defines `<fop>Fop` (and `<fop>Cbk` when `make` returns one) on `cls.prototype` for every fop in
 * the table, as `make(fop, opIndex)` builds them. They are real prototype methods (writable,
 * configurable, not enumerable), so the graph's link step sees them like hand-written ones and
 * {@link setHooks} can shadow them per instance.
 * @internal
 */
export function defineFopHooks<X extends Translator, L = unknown>(
  cls: abstract new (...args: never[]) => X,
  make: (fop: FopName, opIndex: number) => { fop: DebugFopHook<X, L>; cbk?: DebugCbkHook<X, L> },
): void {
  for (let i = 0; i < FOP_NAMES.length; i++) {
    const fop = FOP_NAMES[i] as FopName;
    const hooks = make(fop, i);
    Object.defineProperty(cls.prototype, `${fop}Fop`, { value: hooks.fop, writable: true, configurable: true });
    if (hooks.cbk !== undefined) Object.defineProperty(cls.prototype, `${fop}Cbk`, { value: hooks.cbk, writable: true, configurable: true });
  }
}

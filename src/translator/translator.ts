/**
 * The {@link Translator} base class and the wind/unwind engine.
 *
 * A translator intercepts fops by defining `<fop>Fop(frame, ...args)` and callbacks by defining
 * `<fop>Cbk(frame, cookie, opRet, opErrno, ...results)`; it passes a fop on with
 * `this.wind<Fop>(frame, ...args)` (first child) or `this.windTo(child, fop, frame, ...args)`, and
 * answers with `this.unwind<Fop>(frame, opRet, opErrno, ...results)`. Errors travel as values
 * (`opRet = -1`, `opErrno`), never as exceptions.
 *
 * Pass-through costs nothing: when the graph links, every fop a translator does not intercept is
 * resolved to the translator below that does, so a default level is skipped entirely at call time
 * (no frame, no Promise, no call). This is GlusterFS's `STACK_WIND_TAIL` default taken one step
 * further; it is redone whenever `pass-through` is reconfigured.
 * @module
 */
import { TranslatorError } from '../errors.ts';
import type { Logger } from '../util/log.ts';
import { FOP_NAMES, FOP_TABLE_VERSION, FOPS, capitalize, type FopArgs, type FopName, type FopResults } from './fops.ts';
import { Frame } from './frame.ts';
import { errno, type Fd, type Inode } from './model.ts';
import { resolveOptions, type OptionSchema, type OptionValue } from './options.ts';
import type { Graph } from './graph.ts';

/** Events that travel through the graph outside fops (GlusterFS's `notify`). */
export type GraphEvent =
  /** A child became usable (protocol/client connected). Travels up. */
  | { readonly type: 'child-up' }
  /** A child stopped being usable (protocol/client lost its brick). Travels up. */
  | { readonly type: 'child-down'; readonly reason?: string }
  /**
   * The brick says cached knowledge of these inodes is stale (GlusterFS's upcall cache
   * invalidation): `gfid` changed; `pargfids` are directories whose entries changed. Travels up.
   */
  | { readonly type: 'upcall'; readonly gfid: string | null; readonly pargfids: readonly string[]; readonly names?: readonly string[] }
  /** The graph is going down. Travels down. */
  | { readonly type: 'parent-down' };

/** What a translator is constructed with (the graph builder passes it; tests may too). */
export interface TranslatorInit {
  /** The volume name in the volfile. */
  readonly name: string;
  /** The volfile type, e.g. `storage/posix`. */
  readonly type: string;
  /** Option values as written in the volfile. */
  readonly options?: Readonly<Record<string, string>> | undefined;
  readonly children?: readonly Translator[] | undefined;
}

type AnyFn = (...args: never[]) => unknown;

/** @internal The fixed-arity form of a fop hook: (frame, a0..a5). */
type FopImpl = (this: Translator, frame: Frame, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown) => unknown;
/** @internal The fixed-arity form of a callback: (frame, cookie, opRet, opErrno, r0..r5). */
type CbkImpl = (this: Translator, frame: Frame, cookie: unknown, opRet: number, opErrno: number, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown) => unknown;

const FOP_COUNT = FOP_NAMES.length;
const FOP_INDEX: Readonly<Record<FopName, number>> = Object.fromEntries(FOP_NAMES.map((f, i) => [f, i])) as Record<FopName, number>;

/** The index of a fop in the table (internal dispatch tables are arrays). */
export function fopIndex(fop: FopName): number {
  const i = FOP_INDEX[fop];
  if (i === undefined) throw new TypeError(`unknown fop '${String(fop)}'`);
  return i;
}

/**
 * Base class of every translator. Subclass it, define the hooks you need, and register the class
 * (or load it with `features/module`). Hooks not defined pass through unchanged.
 *
 * @example
 * ```ts
 * export default class Hello extends Translator {
 *   lookupFop(frame: Frame, loc: Loc, xdata: Dict | null) {
 *     console.log('Hello!');
 *     this.windLookup(frame, loc, xdata);
 *   }
 * }
 * ```
 */
export abstract class Translator {
  /** The fop-table version this class was written against (see {@link FOP_TABLE_VERSION}). */
  static fopVersion: number = FOP_TABLE_VERSION;
  /**
   * Pass fops added to the table after {@link Translator.fopVersion} through to the first child
   * instead of failing them with `ENOSYS`. Only safe for translators that do not care about data
   * or namespace (nbdkit's documented corruption risk).
   */
  static passUnknownFops = false;
  /** The options this translator understands (`pass-through` is understood by all). */
  static options: OptionSchema = {};

  /** The volume name in the volfile. */
  readonly name: string;
  /** The volfile type, e.g. `storage/posix`. */
  readonly type: string;
  /** The children, in `subvolumes` order. */
  readonly children: readonly Translator[];
  /** The translators that name this one in their `subvolumes`. */
  readonly parents: Translator[] = [];
  /** Options as written in the volfile (after the last `reconfigure`). */
  options: Readonly<Record<string, string>>;
  /** Options checked against the class's schema, defaults filled in. */
  values: Readonly<Record<string, OptionValue>>;
  /** Option keys the schema does not know (kept as strings). */
  unknownOptions: readonly string[];
  /** True while `pass-through` is on: every fop goes straight to the first child. */
  passThrough: boolean;
  #graph: Graph | undefined;

  /** @internal who handles each fop wound to this translator (this one, or one below). */
  _dispatch: Translator[] = new Array<Translator>(FOP_COUNT);
  /** @internal this translator's fop hooks (fixed arity), or the ENOSYS/default-wind functions. */
  _fops: FopImpl[] = new Array<FopImpl>(FOP_COUNT);
  /** @internal this translator's callbacks, or null to unwind unchanged. */
  _cbks: (CbkImpl | null)[] = new Array<CbkImpl | null>(FOP_COUNT).fill(null);

  constructor(init: TranslatorInit) {
    this.name = init.name;
    this.type = init.type;
    this.children = init.children ?? [];
    for (const c of this.children) c.parents.push(this);
    this.options = { ...(init.options ?? {}) };
    const ctor = this.constructor as typeof Translator;
    const { values, unknown } = resolveOptions(this.name, this.options, ctor.options);
    this.values = values;
    this.unknownOptions = unknown;
    this.passThrough = values['pass-through'] === true;
  }

  /** The graph this translator belongs to (set when the graph is built). */
  get graph(): Graph {
    if (!this.#graph) throw new TranslatorError(`translator '${this.name}' is not part of a graph`, { translator: this.name });
    return this.#graph;
  }

  /** @internal */
  attach(graph: Graph): void {
    this.#graph = graph;
  }

  /** The first child, or `undefined` for a leaf. */
  get firstChild(): Translator | undefined {
    return this.children[0];
  }

  /** The graph's logger, named for this translator. */
  get log(): Logger {
    return this.graph.loggerFor(this);
  }

  /** Called once, children first, before any fop arrives; throw (or reject) to fail the graph. */
  init(): void | Promise<void> {}

  /** Called once when the graph is torn down, parents first. */
  fini(): void | Promise<void> {}

  /**
   * Applies new option values without rebuilding the graph (GlusterFS's `reconfigure`). The base
   * checks them against the schema and applies `pass-through`; override to apply your own (call
   * `super.reconfigure(options)` first).
   */
  reconfigure(options: Readonly<Record<string, string>>): void | Promise<void> {
    const ctor = this.constructor as typeof Translator;
    const { values, unknown } = resolveOptions(this.name, options, ctor.options);
    this.options = { ...options };
    this.values = values;
    this.unknownOptions = unknown;
    const pass = values['pass-through'] === true;
    if (pass !== this.passThrough) {
      this.passThrough = pass;
      this.#graph?.relink();
    }
  }

  /**
   * Receives graph events. The default forwards `child-up`, `child-down` and `upcall` to the
   * parents and `parent-down` to the children; override and call `super.notify` to keep that.
   */
  notify(event: GraphEvent, from: Translator | null): void {
    void from;
    if (event.type === 'parent-down') for (const c of this.children) deliver(c, event, this);
    else if (this.parents.length === 0) this.#graph?.emitTop(event);
    else for (const p of this.parents) deliver(p, event, this);
  }

  /** An inode this translator holds context on left the graph's inode table. */
  forget?(inode: Inode): void;
  /** A file fd this translator holds context on was closed. */
  release?(fd: Fd): void;
  /** A directory fd this translator holds context on was closed. */
  releasedir?(fd: Fd): void;

  /** A typed option value (checked against the class's schema, default filled in). */
  option<T extends OptionValue = OptionValue>(key: string): T | undefined {
    return this.values[key] as T | undefined;
  }

  /**
   * Winds fop `fop` to `child` (a child translator, its name, or null for the first child).
   * The callback `<fop>Cbk` of this translator receives `cookie` (default: the child translator).
   */
  windTo<F extends FopName>(child: Translator | string | null, fop: F, frame: Frame, ...args: FopArgs<F>): void {
    const target = this.resolveChild(child);
    const a = args as unknown[];
    wind(target, FOP_INDEX[fop], frame, target, a[0], a[1], a[2], a[3], a[4], a[5]);
  }

  /** Like {@link windTo} with an explicit cookie (GlusterFS's `STACK_WIND_COOKIE`). */
  windCookie<F extends FopName>(cookie: unknown, child: Translator | string | null, fop: F, frame: Frame, ...args: FopArgs<F>): void {
    const target = this.resolveChild(child);
    const a = args as unknown[];
    wind(target, FOP_INDEX[fop], frame, cookie, a[0], a[1], a[2], a[3], a[4], a[5]);
  }

  /** Answers `frame` with `(-1, err)` and null results (GlusterFS's `default_<fop>_failure_cbk`). */
  fail(frame: Frame, err: number): void {
    unwind(frame, -1, err, null, null, null, null, null, null);
  }

  private resolveChild(child: Translator | string | null): Translator {
    if (child === null || child === this) {
      const first = this.children[0];
      if (!first) throw new TranslatorError(`translator '${this.name}' has no child to wind to`, { translator: this.name });
      return first;
    }
    if (typeof child === 'string') {
      const found = this.children.find((c) => c.name === child);
      if (!found) throw new TranslatorError(`translator '${this.name}' has no child named '${child}'`, { translator: this.name });
      return found;
    }
    if (!this.children.includes(child)) throw new TranslatorError(`'${child.name}' is not a child of '${this.name}'`, { translator: this.name });
    return child;
  }

  /**
   * @internal Recomputes who handles each fop at this translator. Children must be linked first.
   */
  _link(): void {
    const ctor = this.constructor as typeof Translator;
    const first = this.children[0];
    const self = this as unknown as Record<string, unknown>;
    for (let i = 0; i < FOP_COUNT; i++) {
      const fop = FOP_NAMES[i] as FopName;
      const own = self[`${fop}Fop`];
      const cbk = self[`${fop}Cbk`];
      this._cbks[i] = typeof cbk === 'function' ? (cbk as CbkImpl) : null;
      if (this.passThrough && first) {
        this._dispatch[i] = first._dispatch[i] as Translator;
      } else if (typeof own === 'function') {
        this._dispatch[i] = this;
        this._fops[i] = own as FopImpl;
      } else if (FOPS[fop].since > ctor.fopVersion && !ctor.passUnknownFops) {
        this._dispatch[i] = this;
        this._fops[i] = enosys;
      } else if (typeof cbk === 'function' && first) {
        // A callback without its fop hook still sees every reply: wind on, then call back here.
        this._dispatch[i] = this;
        this._fops[i] = windOn;
      } else if (first) {
        this._dispatch[i] = first._dispatch[i] as Translator;
      } else {
        this._dispatch[i] = this;
        this._fops[i] = enosys;
      }
    }
  }
}

/** Passes an event on; a translator whose `notify` throws is logged, and the event goes on to the others. */
function deliver(to: Translator, event: GraphEvent, from: Translator): void {
  try {
    to.notify(event, from);
  } catch (err) {
    try {
      to.log.warn({ err, event: event.type }, `translator '${to.name}': notify threw`);
    } catch {
      // outside a graph: nothing to log to
    }
  }
}

function enosys(this: Translator, frame: Frame): void {
  unwind(frame, -1, errno.ENOSYS, null, null, null, null, null, null);
}

function windOn(this: Translator, frame: Frame, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): void {
  const child = this.children[0] as Translator;
  wind(child, frame.opIndex, frame, child, a, b, c, d, e, f);
}

/**
 * Winds fop `i` from `parent` (the winding translator's frame) to `child`: makes the frame of the
 * translator that handles it and calls its hook synchronously.
 * @internal
 */
export function wind(child: Translator, i: number, parent: Frame, cookie: unknown, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): void {
  const handler = child._dispatch[i] as Translator;
  invoke(handler, new Frame(parent.root, parent, handler, i, cookie), i, a, b, c, d, e, f);
}

/** @internal Calls `handler`'s hook for fop `i` on `frame`, turning a throw into `(-1, EIO)`. */
export function invoke(handler: Translator, frame: Frame, i: number, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): void {
  try {
    const r = (handler._fops[i] as FopImpl).call(handler, frame, a, b, c, d, e, f);
    if (r !== undefined && r !== null && typeof (r as Promise<unknown>).then === 'function') {
      (r as Promise<unknown>).then(undefined, (err: unknown) => hookFailed(frame, handler, 'fop', err));
    }
  } catch (err) {
    hookFailed(frame, handler, 'fop', err);
  }
}

/**
 * Completes `frame`: the parent's callback runs with the results (or, when the parent defines
 * none, the parent's frame is unwound unchanged). A frame completes once; later unwinds of the
 * same frame are ignored (and reported, unless the request already timed out).
 * @internal
 */
export function unwind(frame: Frame, opRet: number, opErrno: number, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): void {
  for (;;) {
    if (frame.done) {
      if (!frame.root.done) reportDoubleUnwind(frame);
      return;
    }
    frame.done = true;
    const root = frame.root;
    if (opRet < 0) {
      root.error = opErrno;
      root.errXl = frame.xl;
    } else if (opRet === 0) root.error = 0;
    const parent = frame.parent;
    if (parent === null) {
      root.complete(opRet, opErrno, a, b, c, d, e, f);
      return;
    }
    const owner = parent.xl;
    const cbk = owner._cbks[frame.opIndex];
    if (cbk === null || cbk === undefined) {
      frame = parent;
      continue;
    }
    try {
      const r = cbk.call(owner, parent, frame.cookie, opRet, opErrno, a, b, c, d, e, f);
      if (r !== undefined && r !== null && typeof (r as Promise<unknown>).then === 'function') {
        (r as Promise<unknown>).then(undefined, (err: unknown) => hookFailed(parent, owner, 'cbk', err));
      }
    } catch (err) {
      hookFailed(parent, owner, 'cbk', err);
    }
    return;
  }
}

function hookFailed(frame: Frame, xl: Translator, where: 'fop' | 'cbk', err: unknown): void {
  const op = frame.op;
  try {
    xl.log.error({ err, fop: op, unique: frame.root.unique }, `translator '${xl.name}': ${op}${where === 'fop' ? 'Fop' : 'Cbk'} threw; the fop fails with EIO`);
  } catch {
    // A translator outside a graph has no logger; the failure still reaches the caller.
  }
  if (!frame.done) unwind(frame, -1, errno.EIO, null, null, null, null, null, null);
}

const doubleReported = new WeakSet<Translator>();
function reportDoubleUnwind(frame: Frame): void {
  const xl = frame.xl;
  if (doubleReported.has(xl)) return;
  doubleReported.add(xl);
  try {
    xl.log.warn({ fop: frame.op, unique: frame.root.unique }, `translator '${xl.name}' unwound a ${frame.op} frame twice; the second completion was dropped`);
  } catch {
    // no graph, no logger
  }
}

// The typed helpers derive from the fop table: windLookup, unwindLookup, ... for every fop.
type WindHelpers = { [F in FopName as `wind${Capitalize<F>}`]: (frame: Frame, ...args: FopArgs<F>) => void };
type UnwindHelpers = {
  [F in FopName as `unwind${Capitalize<F>}`]: (frame: Frame, opRet: number, opErrno: number, ...results: Partial<FopResults<F>>) => void;
};
/** The fop hooks a translator may define, typed from the fop table. */
export type FopHooks = { [F in FopName as `${F}Fop`]?: (frame: Frame, ...args: FopArgs<F>) => void | Promise<void> };
/** The callbacks a translator may define, typed from the fop table. */
export type CbkHooks = {
  [F in FopName as `${F}Cbk`]?: (frame: Frame, cookie: unknown, opRet: number, opErrno: number, ...results: FopResults<F>) => void | Promise<void>;
};

/**
 * The hooks a translator may define, typed from the fop table. Add `implements TranslatorHooks` to
 * a subclass to have its `<fop>Fop`/`<fop>Cbk` signatures checked.
 */
export type TranslatorHooks = FopHooks & CbkHooks;

// The wind/unwind helpers are installed on the prototype below; this merge gives them their types.
export interface Translator extends WindHelpers, UnwindHelpers {}

for (let i = 0; i < FOP_COUNT; i++) {
  const fop = FOP_NAMES[i] as FopName;
  const name = capitalize(fop);
  const opIndex = i;
  Object.defineProperty(Translator.prototype, `wind${name}`, {
    value: function (this: Translator, frame: Frame, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): void {
      const child = this.children[0];
      if (child === undefined) throw new TranslatorError(`translator '${this.name}' has no child to wind ${fop} to`, { translator: this.name });
      wind(child, opIndex, frame, child, a, b, c, d, e, f);
    },
    writable: true,
    configurable: true,
  });
  Object.defineProperty(Translator.prototype, `unwind${name}`, {
    value: function (this: Translator, frame: Frame, opRet: number, opErrno: number, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown): void {
      if (frame.opIndex !== opIndex) throw new TranslatorError(`translator '${this.name}': unwind${name} called on a ${frame.op} frame`, { translator: this.name });
      unwind(frame, opRet, opErrno, a ?? null, b ?? null, c ?? null, d ?? null, e ?? null, f ?? null);
    },
    writable: true,
    configurable: true,
  });
}

/** True when `value` is a Translator subclass (a class, not an instance). */
export function isTranslatorClass(value: unknown): value is new (init: TranslatorInit) => Translator {
  return typeof value === 'function' && (value === Translator || (value as AnyFn).prototype instanceof Translator);
}

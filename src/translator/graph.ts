/**
 * A translator graph: built from a volfile (or from translator objects), initialised children
 * first, linked so pass-through levels cost nothing, and driven through {@link Graph.call} /
 * {@link Graph.wind}. Each graph has its own inode table and a frame-timeout after which a request
 * that no translator answers fails with `ETIMEDOUT`.
 * @module
 */
import { dirname } from 'node:path';
import pino from 'pino';
import { TranslatorError } from '../errors.ts';
import type { Logger } from '../util/log.ts';
import { CallRoot, Frame, type Credentials, type RootCallback } from './frame.ts';
import { FOP_NAMES, FOPS, type FopArgs, type FopName, type FopReply, type FopResults } from './fops.ts';
import { InodeTable } from './inode-table.ts';
import { errno, type Fd, type Inode } from './model.ts';
import { loadModuleTranslator } from './module-loader.ts';
import { MODULE_TYPE, loadTranslatorClass, type TranslatorClass } from './registry.ts';
import { resolveOptions } from './options.ts';
import { fopIndex, invoke, type GraphEvent, type Translator } from './translator.ts';
import { loadVolfile, parseVolfile, typeNotFoundMessage, type VolfileSpec, type VolumeDecl } from './volfile.ts';

/** Options of {@link buildGraph} and {@link Graph}. */
export interface GraphOptions {
  /** Milliseconds after which an unanswered request fails with `ETIMEDOUT` (default 60 000). */
  frameTimeout?: number | undefined;
  /** Most inodes the inode table keeps (default 131 072). */
  inodeLruLimit?: number | undefined;
  /** Where translators log (default: warnings and errors to stderr). */
  logger?: Logger | undefined;
  /** Directory that relative `module-name`s resolve against (default: the volfile's, else the cwd). */
  baseDir?: string | undefined;
  /** Use this volume as the top instead of the last one in the file. */
  top?: string | undefined;
}

/** Default frame-timeout, in milliseconds. */
export const DEFAULT_FRAME_TIMEOUT = 60_000;

let defaultLogger: Logger | undefined;
function stderrLogger(): Logger {
  return (defaultLogger ??= pino({ level: 'warn', name: 'switchyard-storage' }, pino.destination({ dest: 2, sync: false })));
}

const NULLS = [null, null, null, null, null, null] as const;

/** A built graph of translators. */
export class Graph {
  /** Every translator, by volume name. */
  readonly translators: ReadonlyMap<string, Translator>;
  /** The top translator: where fops enter. */
  readonly top: Translator;
  /** This graph's inodes. */
  readonly inodes: InodeTable;
  /** Milliseconds after which an unanswered request fails with `ETIMEDOUT`. */
  frameTimeout: number;
  readonly #logger: Logger;
  readonly #loggers = new WeakMap<Translator, Logger>();
  readonly #inflight = new Set<CallRoot>();
  #sweeper: NodeJS.Timeout | undefined;
  readonly #listeners = new Set<(event: GraphEvent) => void>();
  #state: 'built' | 'up' | 'down' = 'built';
  readonly #order: Translator[];

  constructor(top: Translator, options: GraphOptions = {}) {
    this.top = top;
    this.#logger = options.logger ?? stderrLogger();
    this.frameTimeout = options.frameTimeout ?? DEFAULT_FRAME_TIMEOUT;
    // Children before parents: the order init and linking need.
    const order: Translator[] = [];
    const seen = new Set<Translator>();
    const visit = (t: Translator, path: Set<Translator>): void => {
      if (path.has(t)) throw new TranslatorError(`translator graph has a cycle through '${t.name}'`, { translator: t.name });
      if (seen.has(t)) return;
      path.add(t);
      for (const c of t.children) visit(c, path);
      path.delete(t);
      seen.add(t);
      order.push(t);
    };
    visit(top, new Set());
    this.#order = order;
    const byName = new Map<string, Translator>();
    for (const t of order) {
      if (byName.has(t.name)) throw new TranslatorError(`two translators are named '${t.name}'`, { translator: t.name });
      byName.set(t.name, t);
      t.attach(this);
    }
    this.translators = byName;
    this.inodes = new InodeTable(options.inodeLruLimit ?? 131_072, (inode) => this.forgetInode(inode));
    this.relink();
  }

  /** The logger of one translator. */
  loggerFor(xl: Translator): Logger {
    let l = this.#loggers.get(xl);
    if (!l) {
      l = this.#logger.child({ translator: xl.name });
      this.#loggers.set(xl, l);
    }
    return l;
  }

  /** Recomputes pass-through resolution (after a `pass-through` change). */
  relink(): void {
    for (const t of this.#order) t._link();
  }

  /** Translators children-first. */
  get ordered(): readonly Translator[] {
    return this.#order;
  }

  /**
   * Runs every translator's `init`, children first. On a failure the translators already
   * started are stopped again and a {@link TranslatorError} names the one that failed.
   */
  async init(): Promise<void> {
    if (this.#state !== 'built') return;
    const started: Translator[] = [];
    for (const t of this.#order) {
      try {
        await t.init();
        started.push(t);
      } catch (err) {
        for (const s of started.reverse()) await Promise.resolve(s.fini()).catch(() => {});
        this.#state = 'down';
        if (err instanceof TranslatorError) throw err;
        const why = err instanceof Error ? err.message : String(err);
        throw new TranslatorError(`volume '${t.name}' (${t.type}): initialisation failed: ${why}`, { translator: t.name }, { cause: err });
      }
    }
    this.relink();
    this.#state = 'up';
  }

  /**
   * Tears the graph down: `parent-down` travels down, pending requests fail with `ENOTCONN`, and
   * every translator's `fini` runs, parents first. Safe to call twice.
   */
  async fini(): Promise<void> {
    if (this.#state === 'down') return;
    const wasUp = this.#state === 'up';
    this.#state = 'down';
    if (wasUp) this.top.notify({ type: 'parent-down' }, null);
    for (const root of [...this.#inflight]) root.complete(-1, errno.ENOTCONN, null, null, null, null, null, null);
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.inodes.clear();
    if (wasUp) for (const t of [...this.#order].reverse()) await Promise.resolve(t.fini()).catch((err: unknown) => this.loggerFor(t).warn({ err }, 'fini failed'));
  }

  /**
   * Applies a new volfile's option values to the running graph without rebuilding it (GlusterFS
   * reconfigures a graph in place when only options changed). The new volfile must declare the
   * same volumes with the same types and subvolumes; otherwise nothing changes and a
   * {@link TranslatorError} says what differs. Every value is checked before any is applied.
   */
  async reconfigure(spec: VolfileSpec): Promise<void> {
    const declared = new Map(spec.volumes.map((v) => [v.name, v]));
    for (const t of this.#order) {
      const d = declared.get(t.name);
      const why =
        d === undefined
          ? `volume '${t.name}' is missing`
          : d.type !== t.type
            ? `volume '${t.name}' changed type from ${t.type} to ${d.type}`
            : d.subvolumes.join(' ') !== t.children.map((c) => c.name).join(' ')
              ? `volume '${t.name}' changed its subvolumes`
              : undefined;
      if (why !== undefined) throw new TranslatorError(`cannot reconfigure in place: ${why}; restart with the new volfile`, { translator: t.name });
    }
    for (const name of declared.keys()) {
      if (!this.translators.has(name)) throw new TranslatorError(`cannot reconfigure in place: volume '${name}' is new; restart with the new volfile`, { translator: name });
    }
    for (const t of this.#order) {
      const cls = t.constructor as typeof Translator;
      resolveOptions(t.name, (declared.get(t.name) as VolumeDecl).options, cls.options);
    }
    for (const t of this.#order) await t.reconfigure((declared.get(t.name) as VolumeDecl).options);
  }

  /** True between a successful `init` and `fini`. */
  get isUp(): boolean {
    return this.#state === 'up';
  }

  /** Listens to events that reach the top of the graph (child-up/down, upcalls). Returns an unsubscribe function. */
  onEvent(listener: (event: GraphEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** @internal The top translator passes upward events here. */
  emitTop(event: GraphEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (err) {
        this.#logger.warn({ err }, 'graph event listener threw');
      }
    }
  }

  /**
   * Winds `fop` into the top of the graph; `callback(opRet, opErrno, results)` runs exactly once
   * (possibly before `wind` returns). No Promise is made: the fast form of {@link call}.
   */
  wind<F extends FopName>(fop: F, args: FopArgs<F>, callback: (opRet: number, opErrno: number, ...results: FopResults<F>) => void, credentials?: Credentials): void {
    const a = args as unknown[];
    this.windAt(this.top, fopIndex(fop), callback as unknown as RootCallback, credentials, a[0], a[1], a[2], a[3], a[4], a[5]);
  }

  /** @internal Winds fop `i` into `at` with a root that finishes through `finish`. */
  windAt(at: Translator, i: number, finish: RootCallback, credentials: Credentials | undefined, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): void {
    const op = FOP_NAMES[i] as FopName;
    if (this.#state === 'down') {
      finish(-1, errno.ENOTCONN, null, null, null, null, null, null);
      return;
    }
    const timeout = this.frameTimeout;
    const finite = Number.isFinite(timeout) && timeout > 0;
    // Every request is tracked (fini answers the pending ones); only a finite timeout sweeps.
    const root = new CallRoot(op, finish, credentials, finite ? Date.now() + timeout : Infinity, this.#inflight);
    if (finite && this.#sweeper === undefined) this.startSweeper();
    const handler = at._dispatch[i] as Translator;
    invoke(handler, new Frame(root, null, handler, i, null), i, a, b, c, d, e, f);
  }

  /**
   * Runs `fop` through the graph and resolves with its reply `{ opRet, opErrno, results }`. Never
   * rejects for a failed fop (errors are values); rejects only for a misuse (an unknown fop).
   */
  call<F extends FopName>(fop: F, ...args: FopArgs<F>): Promise<FopReply<F>> {
    return this.callAs(undefined, fop, ...args);
  }

  /** {@link call} with the caller's uid/gid/pid. */
  callAs<F extends FopName>(credentials: Credentials | undefined, fop: F, ...args: FopArgs<F>): Promise<FopReply<F>> {
    const i = fopIndex(fop);
    const a = args as unknown[];
    return new Promise((resolve) => {
      this.windAt(
        this.top,
        i,
        (opRet, opErrno, r0, r1, r2, r3, r4, r5) => {
          const results = [r0, r1, r2, r3, r4, r5];
          results.length = RESULT_COUNTS[fop];
          resolve({ opRet, opErrno, results: results as FopResults<F> });
        },
        credentials,
        a[0],
        a[1],
        a[2],
        a[3],
        a[4],
        a[5],
      );
    });
  }

  private startSweeper(): void {
    const period = Math.max(10, Math.min(1000, this.frameTimeout / 4));
    this.#sweeper = setInterval(() => {
      const now = Date.now();
      for (const root of this.#inflight) {
        if (now < root.deadline) continue;
        this.#logger.warn({ fop: root.op, unique: root.unique, frameTimeout: this.frameTimeout }, `${root.op} ${root.unique} got no answer within the frame-timeout; it fails with ETIMEDOUT`);
        root.complete(-1, errno.ETIMEDOUT, ...NULLS);
      }
    }, period);
    this.#sweeper.unref();
  }

  /** Closes `fd`: every translator holding context on it gets `release` (or `releasedir`). */
  releaseFd(fd: Fd): void {
    if (fd.released) return;
    fd.released = true;
    if (fd.inode.fdCount > 0) fd.inode.fdCount--;
    for (const key of fd.ctxKeys()) {
      const xl = key as Translator;
      if (!this.translators.has(xl.name) || this.translators.get(xl.name) !== xl) continue;
      try {
        if (fd.isDir) xl.releasedir?.(fd);
        else xl.release?.(fd);
      } catch (err) {
        this.loggerFor(xl).warn({ err }, 'release failed');
      }
    }
  }

  private forgetInode(inode: Inode): void {
    for (const key of inode.ctxKeys()) {
      const xl = key as Translator;
      if (this.translators.get(xl.name) !== xl) continue;
      try {
        xl.forget?.(inode);
      } catch (err) {
        this.loggerFor(xl).warn({ err }, 'forget failed');
      }
    }
  }
}

const RESULT_COUNTS = Object.fromEntries(FOP_NAMES.map((f) => [f, FOPS[f].results.length])) as Record<FopName, number>;

/**
 * Builds (but does not initialise) a graph from a parsed volfile. Unknown types fail with
 * GlusterFS's message; option values are checked against each translator's schema.
 */
export async function buildGraph(spec: VolfileSpec, options: GraphOptions & { source?: string } = {}): Promise<Graph> {
  const baseDir = options.baseDir ?? (options.source ? dirname(options.source) : process.cwd());
  const made = new Map<string, Translator>();
  for (const decl of spec.volumes) {
    let cls: TranslatorClass | undefined;
    if (decl.type === MODULE_TYPE) cls = await loadModuleTranslator(decl.name, decl.options, baseDir);
    else cls = await loadTranslatorClass(decl.type);
    if (!cls) throw new TranslatorError(typeNotFoundMessage(decl.type), { translator: decl.name });
    const children = decl.subvolumes.map((n) => made.get(n) as Translator);
    made.set(decl.name, new cls({ name: decl.name, type: decl.type, options: decl.options, children }));
  }
  let top = made.get(spec.top.name) as Translator;
  if (options.top !== undefined) {
    const chosen = made.get(options.top);
    if (!chosen) throw new TranslatorError(`the volfile has no volume named '${options.top}'`, { translator: options.top });
    top = chosen;
  }
  return new Graph(top, options);
}

/** Parses, builds and initialises a graph from volfile text. */
export async function graphFromText(text: string, options: GraphOptions & { source?: string } = {}): Promise<Graph> {
  const spec = parseVolfile(text, options.source === undefined ? {} : { source: options.source });
  const graph = await buildGraph(spec, options);
  await graph.init();
  return graph;
}

/** Loads, builds and initialises a graph from a volfile on disk. */
export async function graphFromFile(path: string, options: GraphOptions = {}): Promise<Graph> {
  const spec = await loadVolfile(path);
  const graph = await buildGraph(spec, { ...options, source: path });
  await graph.init();
  return graph;
}

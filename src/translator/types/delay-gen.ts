/**
 * `debug/delay-gen`: latency injection, after GlusterFS's delay-gen. A fop chosen to be delayed is
 * wound to the first child only after `delay-duration` microseconds (a timer; the event loop is not
 * blocked, unlike GlusterFS's nanosleep); every other fop passes through unchanged.
 *
 * Options (GlusterFS's names and defaults):
 * - `delay-percentage` (percent, default 10%): the chance that an enabled fop is delayed;
 * - `delay-duration` (microseconds, default 100000);
 * - `enable`: the fops that may be delayed (commas or spaces); default all. An unknown fop name
 *   fails init, as in GlusterFS;
 * - `seed` (int): seed of the random draws (for reproducible tests); default random.
 *
 * A delayed fop is wound no earlier than `delay-duration` after it arrived (a timer that fires
 * early is re-armed for the rest). Fops still waiting when the graph goes down are dropped: the
 * graph has already answered their callers `ENOTCONN`.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { clock } from '../../util/timers.ts';
import type { Frame } from '../frame.ts';
import { FOP_NAMES } from '../fops.ts';
import { wind, type Translator } from '../translator.ts';
import { DebugTranslator, defineFopHooks, parseFopList, SEED_OPTION, seededRandom, seedOf, setHooks } from './debug-util.ts';

/** The `debug/delay-gen` translator (see the module documentation for its options). */
export class DelayGen extends DebugTranslator {
  static override options = {
    'delay-percentage': { type: 'percent', default: '10%', min: 0, max: 100, description: 'Chance (percent) that an enabled fop is delayed.' },
    'delay-duration': { type: 'int', default: '100000', min: 0, description: 'How long a delayed fop waits, in microseconds.' },
    enable: { type: 'list', description: 'Fops that may be delayed (default all).' },
    seed: SEED_OPTION,
  } as const;

  protected readonly volfileType = 'debug/delay-gen';
  #random: () => number = Math.random;
  #chance = 0;
  #durationMs = 0;
  readonly #pending = new Set<NodeJS.Timeout>();
  /** Fops delayed so far. */
  delayed = 0;

  override fini(): void {
    for (const t of this.#pending) clock.clearTimeout(t);
    this.#pending.clear();
  }

  protected override configure(): void {
    const listed = this.option<readonly string[]>('enable') ?? [];
    const enabled = listed.length === 0 ? new Set(FOP_NAMES) : parseFopList(this.name, 'enable', listed);
    this.#chance = (this.option<number>('delay-percentage') ?? 0) / 100;
    this.#durationMs = (this.option<number>('delay-duration') ?? 0) / 1000;
    this.#random = seededRandom(seedOf(this.option<number>('seed')));
    const active = this.#chance > 0 && this.#durationMs > 0;
    for (const f of FOP_NAMES) setHooks(this, f, active && enabled.has(f));
  }

  /** @internal Winds `frame` on, now or after the delay. */
  _pass(opIndex: number, frame: Frame, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): void {
    const child = this.children[0] as Translator;
    if (!(this.#random() < this.#chance)) {
      wind(child, opIndex, frame, child, a, b, c, d, e, f);
      return;
    }
    this.delayed++;
    const due = performance.now() + this.#durationMs;
    const arm = (ms: number): void => {
      const t = clock.setTimeout(() => {
        this.#pending.delete(t);
        const left = due - performance.now();
        // libuv timers run off a cached loop time and can fire a fraction of a millisecond early.
        if (left > 0) return arm(left);
        if (!frame.root.done) wind(child, opIndex, frame, child, a, b, c, d, e, f);
      }, Math.ceil(ms));
      this.#pending.add(t);
    };
    arm(this.#durationMs);
  }
}

defineFopHooks(DelayGen, (_fop, opIndex) => ({
  fop(frame, a, b, c, d, e, f) {
    this._pass(opIndex, frame, a, b, c, d, e, f);
  },
}));

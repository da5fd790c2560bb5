/**
 * Call frames: one {@link CallRoot} per request (its identity, credentials and deadline) and one
 * {@link Frame} per translator that handles the request (its `local` slot, its parent and the
 * cookie its parent wound with). Pass-through levels get no frame at all.
 * @module
 */
import type { FopName } from './fops.ts';
import { FOP_NAMES } from './fops.ts';
import type { Translator } from './translator.ts';

let uniques = 0;

/** The next request id of this process (`frame.root.unique`). */
export function nextUnique(): number {
  return ++uniques;
}

/** Who a request runs as. */
export interface Credentials {
  uid?: number | undefined;
  gid?: number | undefined;
  pid?: number | undefined;
  /** Supplementary groups. */
  groups?: readonly number[] | undefined;
}

/**
 * How a completed request reaches the graph's caller: `(opRet, opErrno, r0..r5)`, the fixed-arity
 * form of a callback's results.
 * @internal
 */
export type RootCallback = (opRet: number, opErrno: number, r0: unknown, r1: unknown, r2: unknown, r3: unknown, r4: unknown, r5: unknown) => void;

/**
 * The call stack of one request (GlusterFS's `call_stack_t`): `unique` is unique per request in
 * this process (not glupy's per-fop counter), with the caller's uid/gid/pid and the deadline after
 * which the caller is answered `ETIMEDOUT` (the frame-timeout).
 */
export class CallRoot {
  readonly unique = nextUnique();
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  readonly groups: readonly number[];
  /** The fop the caller asked for. */
  readonly op: FopName;
  /** Milliseconds since the epoch after which the caller gets `ETIMEDOUT`; `Infinity` for none. */
  readonly deadline: number;
  /** True once the caller has its answer (a real one or the timeout). */
  done = false;
  /** The errno of the last failing unwind, 0 after a success (GlusterFS's `root->error`). */
  error = 0;
  /** The translator that last unwound a failure (GlusterFS's `root->err_xl`). */
  errXl: Translator | null = null;
  /** @internal */
  readonly finish: RootCallback;
  /** @internal the graph's set of requests in flight; the root leaves it when it completes. */
  readonly tracker: Set<CallRoot> | null;

  constructor(op: FopName, finish: RootCallback, credentials: Credentials | undefined, deadline: number, tracker: Set<CallRoot> | null = null) {
    this.op = op;
    this.finish = finish;
    this.tracker = tracker;
    tracker?.add(this);
    this.uid = credentials?.uid ?? 0;
    this.gid = credentials?.gid ?? 0;
    this.pid = credentials?.pid ?? 0;
    this.groups = credentials?.groups ?? [];
    this.deadline = deadline;
  }

  /** @internal Answers the caller once: `(opRet, opErrno, r0..r5)`; later calls do nothing. */
  complete(opRet: number, opErrno: number, r0: unknown, r1: unknown, r2: unknown, r3: unknown, r4: unknown, r5: unknown): void {
    if (this.done) return;
    this.done = true;
    this.tracker?.delete(this);
    this.finish(opRet, opErrno, r0, r1, r2, r3, r4, r5);
  }
}

/**
 * One translator's part in one request (GlusterFS's `call_frame_t`). A translator's fop hook
 * receives its own frame; `local` is that translator's private per-request slot, kept until the
 * frame is unwound. `cookie` is what the parent wound with (by default the child translator it
 * wound to), and it comes back as the `cookie` argument of the parent's callback.
 */
export class Frame<L = unknown> {
  /** This translator's private data for this request. */
  local: L | undefined = undefined;
  /** True once unwound. */
  done = false;
  constructor(
    /** The request. */
    readonly root: CallRoot,
    /** The frame of the translator that wound this one; `null` for the top. */
    readonly parent: Frame | null,
    /** The translator this frame belongs to (GlusterFS's `frame->this`). */
    readonly xl: Translator,
    /** @internal index of the fop in FOP_NAMES */
    readonly opIndex: number,
    /** What the parent wound with; passed back to the parent's callback. */
    readonly cookie: unknown,
  ) {}

  /** The fop this frame carries. */
  get op(): FopName {
    return FOP_NAMES[this.opIndex] as FopName;
  }
}

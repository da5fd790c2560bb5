/**
 * The one place Switchyard creates timers. Guard timers are `unref()`ed so that they never keep a
 * process alive; tests that need to control time replace {@link clock}.
 * @module
 */
import { AbortError, TimeoutError } from '../errors.ts';

/** The timer functions Switchyard uses. Tests may swap them (see `test/helpers`). */
export const clock = {
  setTimeout: (fn: () => void, ms: number): NodeJS.Timeout => setTimeout(fn, ms),
  clearTimeout: (t: NodeJS.Timeout | undefined): void => clearTimeout(t),
  now: (): number => Date.now(),
};

/** Starts a guard timer that does not keep the process alive. */
export function guardTimer(fn: () => void, ms: number): NodeJS.Timeout {
  const t = clock.setTimeout(fn, ms);
  t.unref();
  return t;
}

/** Options every waiting call accepts. */
export interface WaitOptions {
  /** Milliseconds before the wait rejects with {@link TimeoutError}. Omit or `undefined`/`Infinity` to wait without limit. */
  timeout?: number | undefined;
  /** Rejects the wait with {@link AbortError} when aborted. */
  signal?: AbortSignal | undefined;
}

/**
 * Races `promise` against `timeout` and `signal`. `onCancel` runs once when the wait is given up
 * (timeout or abort) so the caller can withdraw whatever it registered.
 */
export function bounded<T>(
  promise: Promise<T>,
  operation: string,
  options: WaitOptions | undefined,
  onCancel?: (reason: Error) => void,
): Promise<T> {
  const timeout = options?.timeout;
  const signal = options?.signal;
  const hasTimeout = timeout !== undefined && Number.isFinite(timeout);
  if (!hasTimeout && !signal) return promise;
  if (signal?.aborted) {
    const err = new AbortError(operation, { cause: signal.reason });
    onCancel?.(err);
    promise.catch(() => {});
    return Promise.reject(err);
  }
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (timer !== undefined) clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      finish();
      const err = new AbortError(operation, { cause: signal?.reason });
      onCancel?.(err);
      reject(err);
    };
    if (hasTimeout) {
      timer = guardTimer(() => {
        finish();
        const err = new TimeoutError(operation, timeout);
        onCancel?.(err);
        reject(err);
      }, Math.max(0, timeout));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        finish();
        resolve(v);
      },
      (e: unknown) => {
        finish();
        reject(e);
      },
    );
  });
}

/** Resolves after `ms` milliseconds, or rejects with {@link AbortError} when `signal` aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  // bounded() removes its own abort listener; the timer is cleared when the wait is given up.
  return bounded(
    new Promise<void>((resolve) => {
      t = clock.setTimeout(resolve, ms);
    }),
    `a delay of ${ms} ms`,
    { signal },
    () => clock.clearTimeout(t),
  );
}

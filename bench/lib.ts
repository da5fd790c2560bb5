/**
 * Small helpers shared by the benchmarks.
 * @module
 */

/** The median of `xs` (the upper middle for an even count); `NaN` for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
}

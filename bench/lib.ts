/**
 * Small helpers shared by the benchmarks.
 * @module
 */

/** The median of `xs` (the upper middle for an even count); `NaN` for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
}

/**
 * Resolves with the first line `child` prints (a started role announcing itself, e.g. its port);
 * rejects when it exits first or says nothing for 30 s. `what` names it in the error.
 */
export function firstLine(child: import('node:child_process').ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`${what} did not start`)), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const i = out.indexOf('\n');
      if (i >= 0) {
        clearTimeout(t);
        resolve(out.slice(0, i));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${what} exited with ${code}`));
    });
  });
}

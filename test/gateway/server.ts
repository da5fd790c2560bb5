/**
 * Runs the real `switchyard worker` command as a child process for socket-gateway tests, through
 * `bin/switchyard.js` with `SWITCHYARD_SOURCE=1` (the TypeScript sources, never a stale dist/).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/switchyard.js', import.meta.url));

/** The argv prefix that runs `switchyard` (with {@link sourceEnv}). */
export function switchyardCommand(): string[] {
  return [BIN];
}

/** `env` with `SWITCHYARD_SOURCE=1`, so `bin/switchyard.js` runs the sources. */
function sourceEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, SWITCHYARD_SOURCE: '1' };
}

/** A running `switchyard worker` process. */
export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then a bounded wait for the exit; resolves the exit code. */
  stop(): Promise<number | null>;
}

/** Runs `switchyard <args>` to completion (bounded); resolves its exit code and output. */
export function runSwitchyard(args: string[], env: NodeJS.ProcessEnv, ms = 20_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...switchyardCommand(), ...args], { cwd: ROOT, env: sourceEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`switchyard ${args.join(' ')} did not finish within ${ms} ms: ${out}`));
    }, ms);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: out });
    });
  });
}

/**
 * Starts `switchyard worker --listen 127.0.0.1:0 <args>` and resolves once it prints its port.
 * Rejects (and kills it) when it exits or does not listen within `ms`.
 */
export function startServer(args: string[], env: NodeJS.ProcessEnv, ms = 20_000): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...switchyardCommand(), 'worker', '--listen', '127.0.0.1:0', ...args], {
      cwd: ROOT,
      env: sourceEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let done = false;
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    const stop = async (): Promise<number | null> => {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    };
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill('SIGKILL');
      reject(new Error(`switchyard worker did not listen within ${ms} ms: ${out}`));
    }, ms);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m && !done) {
        done = true;
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), output: () => out, stop });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`switchyard worker exited with code ${code}: ${out}`));
    });
  });
}

/**
 * Gateway specs: execnet's XSpec grammar, `key[=value]//key[=value]//...`, with `node=` in place
 * of `python=`.
 *
 * Rules (as execnet): segments are split on `//`; the value is everything after the first `=`
 * (`env:B=x=y` sets `B` to `x=y`); a bare key means `true`; a key starting with `_` is refused; a
 * repeated key is refused except `env:NAME`, where the last one wins; an empty segment (e.g. a
 * trailing `//`) is refused; unknown keys are kept and readable with {@link XSpec.get}.
 * Differences: `python=` is refused with a hint (this is a Node worker), `vagrant_ssh=` is refused
 * as not supported, and with `installvia=` a `socket=host:port` is the address the server binds on
 * that gateway's host (execnet ignores it).
 * @module
 */
import { GatewaySpecError } from '../errors.ts';
import { parseContact } from '../transport/tcp.ts';

/** The gateway types. */
export type GatewayType = 'popen' | 'ssh' | 'socket';

/** Splits a command line the way a POSIX shell would (quotes and backslashes; no expansion). */
export function shellSplit(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1] as string)) cur += text[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

/** Quotes `s` for a POSIX shell (single quotes). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * A parsed gateway spec. `toString()` is the raw text; two specs are {@link equals} when their
 * texts are.
 *
 * @example
 * ```ts
 * const spec = new XSpec('ssh=alice@build1:2222//id=b1//chdir=/tmp/work//env:CI=1');
 * spec.type; // 'ssh'
 * spec.env; // { CI: '1' }
 * ```
 */
export class XSpec {
  /** The raw spec text. */
  readonly raw: string;
  readonly type: GatewayType;
  /** `id=`: the gateway id (otherwise the group allocates `gw0`, `gw1`, ...). */
  readonly id: string | undefined;
  /** `node=`: the program (and leading arguments) that runs the worker, shell-split. */
  readonly node: string[] | undefined;
  /** `chdir=`: created (with parents) and entered by the worker before any code runs. */
  readonly chdir: string | undefined;
  /** `nice=`: the worker runs under `nice -n <value>`. */
  readonly nice: number | undefined;
  /** `env:NAME=value` entries. */
  readonly env: Readonly<Record<string, string>>;
  /** `ssh=`: the ssh destination and arguments, shell-split (`alice@host:2222` gives `-p 2222 alice@host`). */
  readonly ssh: string[] | undefined;
  /** `ssh_config=`: passed to ssh as `-F`. */
  readonly sshConfig: string | undefined;
  /** `socket=host:port`: the `switchyard worker --listen` server. */
  readonly socket: { host: string; port: number } | undefined;
  /** `via=<gateway id>`: start this gateway's process from that gateway. */
  readonly via: string | undefined;
  /**
   * `installvia=<gateway id>` (socket only): that gateway serves this one on its host, on a fresh
   * port with a one-time secret; `socket` may then be given bare.
   */
  readonly installvia: string | undefined;
  /** `secret_file=<path>`: the socket server's shared secret is the first line of this file. */
  readonly secretFile: string | undefined;
  private readonly values: ReadonlyMap<string, string | true>;

  /** Parses `text`. Throws {@link GatewaySpecError}. */
  constructor(text: string) {
    this.raw = text;
    const values = new Map<string, string | true>();
    const env: Record<string, string> = {};
    for (const segment of text.split('//')) {
      if (segment === '') throw new GatewaySpecError(text, 'empty-segment', `Empty segment in gateway spec ${JSON.stringify(text)} (a leading, trailing or doubled "//")`);
      const eq = segment.indexOf('=');
      const key = eq < 0 ? segment : segment.slice(0, eq);
      const value: string | true = eq < 0 ? true : segment.slice(eq + 1);
      if (key.startsWith('_')) throw new GatewaySpecError(text, 'private-key', `Gateway spec key ${JSON.stringify(key)} may not start with "_"`, key);
      if (key.startsWith('env:')) {
        env[key.slice(4)] = value === true ? '' : value;
        continue;
      }
      if (values.has(key)) throw new GatewaySpecError(text, 'duplicate-key', `Duplicate key ${JSON.stringify(key)} in gateway spec ${JSON.stringify(text)}`, key);
      values.set(key, value);
    }
    this.values = values;
    this.env = env;
    const str = (key: string): string | undefined => {
      const v = values.get(key);
      if (v === undefined) return undefined;
      if (v === true || v === '') throw new GatewaySpecError(text, 'bad-value', `Gateway spec key ${JSON.stringify(key)} needs a value (${key}=...)`, key);
      return v;
    };
    if (values.has('python')) {
      throw new GatewaySpecError(text, 'unsupported', 'python= is execnet\'s; Switchyard workers run Node: use node=<path to node>', 'python');
    }
    if (values.has('secret')) {
      throw new GatewaySpecError(
        text,
        'unsupported',
        'A secret inside a gateway spec would show in logs, ids and process lists: use secret_file=<path>, the { secret } option, or SWITCHYARD_WORKER_SECRET',
        'secret',
      );
    }
    if (values.has('vagrant_ssh')) throw new GatewaySpecError(text, 'unsupported', 'Gateway spec key vagrant_ssh= is not supported', 'vagrant_ssh');
    this.id = str('id');
    const node = str('node');
    this.node = node === undefined ? undefined : shellSplit(node);
    this.chdir = str('chdir');
    const nice = str('nice');
    if (nice !== undefined && !/^[+-]?\d+$/.test(nice.trim())) {
      throw new GatewaySpecError(text, 'bad-value', `nice=${nice} is not an integer`, 'nice');
    }
    this.nice = nice === undefined ? undefined : Number(nice);
    this.sshConfig = str('ssh_config');
    this.via = str('via');
    this.installvia = str('installvia');
    this.secretFile = str('secret_file');
    let type: GatewayType | undefined;
    if (values.has('popen')) type = 'popen';
    const ssh = str('ssh');
    if (ssh !== undefined) {
      type ??= 'ssh';
      const parts = shellSplit(ssh);
      const m = parts.length === 1 ? /^((?:[^@\s]+@)?(?:\[[^\]]+\]|[^:@\s]+))(?::(\d+))?$/.exec(parts[0] as string) : null;
      this.ssh = m && m[2] ? ['-p', m[2], m[1] as string] : parts;
    } else {
      this.ssh = undefined;
    }
    const socket = values.get('socket') === true && this.installvia !== undefined ? undefined : str('socket');
    if (values.get('socket') === true && this.installvia !== undefined) {
      type ??= 'socket';
      this.socket = undefined;
    } else if (socket !== undefined) {
      type ??= 'socket';
      try {
        this.socket = parseContact(socket);
      } catch (err) {
        throw new GatewaySpecError(text, 'bad-value', `socket=${socket} is not host:port`, 'socket', { cause: err });
      }
    } else {
      this.socket = undefined;
    }
    if (!type) throw new GatewaySpecError(text, 'no-type', `No gateway type found in ${JSON.stringify(text)} (expected popen, ssh=... or socket=...)`);
    const types = ['popen', 'ssh', 'socket'].filter((t) => values.has(t));
    if (types.length > 1) throw new GatewaySpecError(text, 'bad-value', `Gateway spec ${JSON.stringify(text)} names ${types.length} types (${types.join(', ')}); give one`);
    this.type = type;
    if (this.via !== undefined && type === 'socket') {
      throw new GatewaySpecError(text, 'unsupported', 'via= starts a worker process from another gateway; it applies to popen (and ssh) specs, not socket=', 'via');
    }
    if (this.installvia !== undefined && type !== 'socket') {
      throw new GatewaySpecError(text, 'unsupported', 'installvia= has another gateway serve a socket gateway: write socket//installvia=<id>', 'installvia');
    }
    if (this.installvia !== undefined && (values.has('tls') || values.has('ca'))) {
      throw new GatewaySpecError(text, 'unsupported', 'installvia= serves the new gateway without TLS, on the loopback of that gateway\'s host by default; drop tls/ca', values.has('tls') ? 'tls' : 'ca');
    }
    if (this.installvia !== undefined && this.secretFile !== undefined) {
      throw new GatewaySpecError(text, 'unsupported', 'installvia= makes a one-time secret of its own; drop secret_file=', 'secret_file');
    }
  }

  /** The value of any key (unknown keys included): the text, `true` for a bare key, `undefined` when absent. */
  get(key: string): string | true | undefined {
    if (key.startsWith('env:')) return this.env[key.slice(4)];
    return this.values.get(key);
  }

  /** True when `other` has the same text. */
  equals(other: XSpec | string): boolean {
    return String(other) === this.raw;
  }

  toString(): string {
    return this.raw;
  }
}

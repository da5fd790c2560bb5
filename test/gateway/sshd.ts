/**
 * A real OpenSSH server on 127.0.0.1 for ssh-gateway tests: generated ed25519 host and user keys,
 * a private config (no PAM, keys only, loopback only), and a client `ssh_config` that trusts
 * exactly the generated host key. Stop it with `stop()` (by its PID).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from '../helpers/index.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

/** The sshd binary the tests use. */
export const SSHD = '/usr/sbin/sshd';

/** Why ssh tests cannot run here, or undefined when they can. */
export function sshSkipReason(): string | undefined {
  if (!existsSync(SSHD)) return `${SSHD} is missing: install openssh-server (apt-get install -y openssh-server) to run the ssh-gateway tests`;
  if (spawnSync('ssh', ['-V']).error) return 'the ssh client is missing: install openssh-client';
  if (spawnSync('ssh-keygen', ['-?']).error) return 'ssh-keygen is missing: install openssh-client';
  return undefined;
}


function keygen(file: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'switchyard-test', '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
}

/** A running test sshd. */
export interface TestSshd {
  port: number;
  /** Host alias defined in {@link sshConfig}. */
  host: string;
  /** Client config: `ssh -F <sshConfig> <host>` logs in with the generated key. */
  sshConfig: string;
  /** A second client config whose key the server does not accept. */
  badKeyConfig: string;
  user: string;
  stop(): Promise<void>;
}

function waitForPort(port: number, child: ChildProcess, ms: number, log: () => string): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null) return reject(new Error(`sshd exited with code ${child.exitCode}: ${log()}`));
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > end) reject(new Error(`sshd did not listen on ${port} within ${ms} ms: ${log()}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** Starts sshd in `dir` on a free port. Rejects when it does not come up within 10 s. */
export async function startSshd(dir: string): Promise<TestSshd> {
  mkdirSync('/run/sshd', { recursive: true });
  const hostKey = join(dir, 'host_ed25519');
  const userKey = join(dir, 'user_ed25519');
  const otherKey = join(dir, 'other_ed25519');
  keygen(hostKey);
  keygen(userKey);
  keygen(otherKey);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${userKey}.pub`));
  const port = await freePort();
  const user = userInfo().username;
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${user}`,
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  const clientConfig = (key: string): string =>
    [
      'Host sshtest',
      '  HostName 127.0.0.1',
      `  Port ${port}`,
      `  User ${user}`,
      `  IdentityFile ${key}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '  LogLevel ERROR',
      '  ConnectTimeout 10',
      '',
    ].join('\n');
  const sshConfig = join(dir, 'ssh_config');
  writeFileSync(sshConfig, clientConfig(userKey));
  const badKeyConfig = join(dir, 'ssh_config_bad_key');
  writeFileSync(badKeyConfig, clientConfig(otherKey));
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4096)));
  await waitForPort(port, child, 10_000, () => log);
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  return {
    port,
    host: 'sshtest',
    sshConfig,
    badKeyConfig,
    user,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

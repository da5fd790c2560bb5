import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewaySpecError } from '../../src/errors.ts';
import { shellSplit, XSpec } from '../../src/gateway/spec.ts';

function specError(text: string, reason: GatewaySpecError['reason']): (e: unknown) => boolean {
  return (e: unknown) => e instanceof GatewaySpecError && e.reason === reason && e.spec === text;
}

test('spec - popen with id, node, chdir, nice and env', () => {
  const s = new XSpec('popen//id=w1//node=/opt/node/bin/node --max-old-space-size=64//chdir=/tmp/x//nice=5//env:A=1//env:B=x=y');
  assert.equal(s.type, 'popen');
  assert.equal(s.id, 'w1');
  assert.deepEqual(s.node, ['/opt/node/bin/node', '--max-old-space-size=64']);
  assert.equal(s.chdir, '/tmp/x');
  assert.equal(s.nice, 5);
  assert.deepEqual(s.env, { A: '1', B: 'x=y' });
  assert.equal(String(s), 'popen//id=w1//node=/opt/node/bin/node --max-old-space-size=64//chdir=/tmp/x//nice=5//env:A=1//env:B=x=y');
});

test('spec - ssh forms: user@host:port becomes -p port user@host; other ssh arguments pass through', () => {
  assert.deepEqual(new XSpec('ssh=alice@build1:2222').ssh, ['-p', '2222', 'alice@build1']);
  assert.deepEqual(new XSpec('ssh=build1').ssh, ['build1']);
  assert.deepEqual(new XSpec('ssh=-p 5000 -i "/keys/my key" host').ssh, ['-p', '5000', '-i', '/keys/my key', 'host']);
  assert.equal(new XSpec('ssh=h//ssh_config=/etc/cfg').sshConfig, '/etc/cfg');
});

test('spec - socket host:port is parsed and a bad one is refused', () => {
  assert.deepEqual(new XSpec('socket=127.0.0.1:8888').socket, { host: '127.0.0.1', port: 8888 });
  assert.throws(() => new XSpec('socket=nohost'), specError('socket=nohost', 'bad-value'));
});

test('spec - a bare key is true, unknown keys are kept, missing keys read as undefined', () => {
  const s = new XSpec('popen//weird=1//flag');
  assert.equal(s.get('weird'), '1');
  assert.equal(s.get('flag'), true);
  assert.equal(s.get('nothing'), undefined);
  assert.equal(s.id, undefined);
});

test('spec - the last env:NAME wins; any other repeated key is refused', () => {
  assert.deepEqual(new XSpec('popen//env:A=1//env:A=2').env, { A: '2' });
  assert.throws(() => new XSpec('popen//id=a//id=b'), (e: unknown) => specError('popen//id=a//id=b', 'duplicate-key')(e) && (e as GatewaySpecError).key === 'id');
});

test('spec - empty segments, _keys, no type, two types, python= and bad nice are refused with their reason', () => {
  assert.throws(() => new XSpec('popen//'), specError('popen//', 'empty-segment'));
  assert.throws(() => new XSpec('//popen'), specError('//popen', 'empty-segment'));
  assert.throws(() => new XSpec('popen//_x=1'), specError('popen//_x=1', 'private-key'));
  assert.throws(() => new XSpec('hello'), (e: unknown) => specError('hello', 'no-type')(e) && /No gateway type found in "hello"/.test((e as Error).message));
  assert.throws(() => new XSpec('popen//ssh=h'), specError('popen//ssh=h', 'bad-value'));
  assert.throws(() => new XSpec('popen//python=python3'), (e: unknown) => specError('popen//python=python3', 'unsupported')(e) && /node=/.test((e as Error).message));
  assert.throws(() => new XSpec('popen//nice=high'), specError('popen//nice=high', 'bad-value'));
  assert.throws(() => new XSpec('popen//id'), specError('popen//id', 'bad-value'));
  assert.throws(() => new XSpec('socket=h:1//via=gw0'), specError('socket=h:1//via=gw0', 'unsupported'));
});

test('spec - installvia: a bare socket is allowed, the address (when given) is the bind address; misuse is refused', () => {
  const bare = new XSpec('socket//installvia=gw0');
  assert.equal(bare.type, 'socket');
  assert.equal(bare.installvia, 'gw0');
  assert.equal(bare.socket, undefined);
  assert.deepEqual(new XSpec('socket=127.0.0.1:0//installvia=gw0').socket, { host: '127.0.0.1', port: 0 });
  assert.throws(() => new XSpec('socket'), specError('socket', 'bad-value'));
  assert.throws(() => new XSpec('popen//installvia=gw0'), (e: unknown) => specError('popen//installvia=gw0', 'unsupported')(e) && /socket\/\/installvia=<id>/.test((e as Error).message));
  assert.throws(() => new XSpec('socket//installvia'), specError('socket//installvia', 'bad-value'));
  assert.throws(() => new XSpec('socket//installvia=gw0//tls'), specError('socket//installvia=gw0//tls', 'unsupported'));
  assert.throws(() => new XSpec('socket//installvia=gw0//secret_file=s'), specError('socket//installvia=gw0//secret_file=s', 'unsupported'));
  assert.throws(() => new XSpec('popen//vagrant_ssh=default'), specError('popen//vagrant_ssh=default', 'unsupported'));
});

test('spec - equals compares the raw text', () => {
  assert.ok(new XSpec('popen//id=a').equals('popen//id=a'));
  assert.ok(!new XSpec('popen//id=a').equals(new XSpec('popen//id=b')));
});

test('shellSplit - quotes and backslashes as a POSIX shell', () => {
  assert.deepEqual(shellSplit(`sudo -u "a b" 'c d' e\\ f ""`), ['sudo', '-u', 'a b', 'c d', 'e f', '']);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AttrStringError, InvalidArgumentError } from '../../src/errors.ts';
import {
  attrsFromString,
  attrsToRecord,
  attrsToString,
  copyAttrs,
  formatOptionString,
  getAttr,
  getAttrs,
  makeAttr,
  parseOptionFile,
  parseOptionString,
  removeAttrs,
  setAttr,
} from '../../src/hooks/attrs.ts';
import type { Attr } from '../../src/hooks/types.ts';

function throwsAttrString(fn: () => unknown, reason: AttrStringError['reason'], text: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AttrStringError, `expected AttrStringError, got ${String(err)}`);
    assert.equal(err.code, 'SWITCHYARD_ERR_ATTR_STRING');
    assert.equal(err.reason, reason);
    assert.match(err.message, text);
    return true;
  });
}

// T1
test('attrs - T1 fromString keeps order and repeated names', () => {
  assert.deepEqual(attrsFromString('scope', 'manager=foo;arg=bar;arg=baz'), [
    ['scope', 'manager', 'foo'],
    ['scope', 'arg', 'bar'],
    ['scope', 'arg', 'baz'],
  ]);
});

// T2
test('attrs - T2 a segment without "=" is an Invalid attr_string', () => {
  for (const s of ['manager', 'manager=foo;manager']) throwsAttrString(() => attrsFromString('scope', s), 'no-equals', /^Invalid attr_string/);
});

test('attrs - T2 an empty value is an error', () => {
  for (const s of ['manager=', 'manager=foo;manager=']) throwsAttrString(() => attrsFromString('scope', s), 'empty-value', /^Empty value in attr_string/);
});

test('attrs - T2 a null scope or string is a Bad parameter', () => {
  for (const [scope, text] of [[null, 'a=b'], ['s', null], [undefined, undefined]] as const) {
    assert.throws(
      () => attrsFromString(scope as unknown as string, text as unknown as string),
      (e: unknown) => e instanceof InvalidArgumentError && /^Bad parameter, NULL scope or attr_string/.test(e.message),
    );
  }
});

test('attrs - CR or LF anywhere is refused', () => {
  for (const s of ['a=b\n', 'a=b\r;c=d', '\na=b']) throwsAttrString(() => attrsFromString('s', s), 'crlf', /^CR and LF are not allowed in attr_string/);
  throwsAttrString(() => parseOptionString('manager=logging;\nfile=x'), 'crlf', /^CR and LF are not allowed/);
});

// T3
test('attrs - T3 a value keeps every "=" after the first', () => {
  const attrs = attrsFromString('python', 'pymod=test_module;test_func=pre_listen;expected_result=res = [("tcp", "port", "4545")];');
  assert.deepEqual(attrs, [
    ['python', 'pymod', 'test_module'],
    ['python', 'test_func', 'pre_listen'],
    ['python', 'expected_result', 'res = [("tcp", "port", "4545")]'],
  ]);
});

test('attrs - empty input gives no attrs; a trailing ";" gives no segment', () => {
  assert.deepEqual(attrsFromString('s', ''), []);
  assert.deepEqual(attrsFromString('s', 'a=1;'), [['s', 'a', '1']]);
});

test('attrs - empty segments are skipped cleanly (GCT corrupts the array on them)', () => {
  assert.deepEqual(attrsFromString('s', ';a=1'), [['s', 'a', '1']]);
  assert.deepEqual(attrsFromString('s', 'a=1;;b=2'), [['s', 'a', '1'], ['s', 'b', '2']]);
  assert.deepEqual(attrsFromString('s', ';;;'), []);
});

test('attrs - an empty name is refused', () => {
  throwsAttrString(() => attrsFromString('s', '=x'), 'empty-name', /^Empty name in attr_string/);
});

test('attrs - errors carry the segment and where it is', () => {
  try {
    attrsFromString('s', 'a=1;b;c=3');
    assert.fail('no error');
  } catch (err) {
    assert.ok(err instanceof AttrStringError);
    assert.equal(err.segment, 'b');
    assert.equal(err.where, 'segment 2');
  }
});

// T4
test('attrs - T4 makeAttr with any null part is a Bad parameter', () => {
  for (const parts of [[null, 'n', 'v'], ['s', null, 'v'], ['s', 'n', null]] as const) {
    assert.throws(
      () => makeAttr(...(parts as unknown as [string, string, string])),
      (e: unknown) => e instanceof InvalidArgumentError && e.message === 'Bad parameter, No parameter may be NULL.',
    );
  }
});

test('attrs - T4 copyAttrs is an equal deep copy', () => {
  const src: Attr[] = [makeAttr('scope', 'name', 'value'), makeAttr('scope2', 'name2', 'value2')];
  const copy = copyAttrs(src);
  assert.deepEqual(copy, src);
  assert.notEqual(copy, src);
  assert.notEqual(copy[0], src[0]);
  assert.throws(() => copyAttrs(null as unknown as Attr[]), InvalidArgumentError);
});

// T10 (driver options)
test('attrs - T10 an option string reads back identically', () => {
  const text = 'task-id=42;service=test;manager=null;arg=nothing;';
  const parsed = parseOptionString(text);
  assert.equal(parsed.taskId, '42');
  assert.deepEqual(parsed.attrs, [
    ['global', 'service', 'test'],
    ['net_manager', 'manager', 'null'],
    ['null', 'arg', 'nothing'],
  ]);
  assert.equal(formatOptionString(parsed), text);
});

test('attrs - option string: task-id emits no attr; the last one wins', () => {
  assert.deepEqual(parseOptionString('task-id=1;a=b;task-id=2;'), { attrs: [['global', 'a', 'b']], taskId: '2' });
  assert.deepEqual(parseOptionString(''), { attrs: [], taskId: undefined });
});

test('attrs - option string: attrs after manager=X take scope X, a second manager starts a new scope', () => {
  assert.deepEqual(parseOptionString('manager=logging;file=/tmp/a=b.log;manager=portrange;range=1-2'), {
    attrs: [
      ['net_manager', 'manager', 'logging'],
      ['logging', 'file', '/tmp/a=b.log'],
      ['net_manager', 'manager', 'portrange'],
      ['portrange', 'range', '1-2'],
    ],
    taskId: undefined,
  });
});

test('attrs - option string errors are the attr-string errors', () => {
  throwsAttrString(() => parseOptionString('manager'), 'no-equals', /^Invalid attr_string/);
  throwsAttrString(() => parseOptionString('manager='), 'empty-value', /^Empty value/);
  throwsAttrString(() => parseOptionString('task-id='), 'empty-value', /^Empty value/);
});

test('attrs - option file: newlines separate, # lines are comments, blanks around names and values ignored', () => {
  const text = [
    '# site policy',
    '  service = switchyard ',
    '',
    'manager=logging',
    '   # the log',
    'file=/var/log/switchyard/net.log',
    'manager=portrange; range=50000-51000 ;',
    'task-id=site\r',
  ].join('\n');
  assert.deepEqual(parseOptionFile(text, 'site.conf'), {
    attrs: [
      ['global', 'service', 'switchyard'],
      ['net_manager', 'manager', 'logging'],
      ['logging', 'file', '/var/log/switchyard/net.log'],
      ['net_manager', 'manager', 'portrange'],
      ['portrange', 'range', '50000-51000'],
    ],
    taskId: 'site',
  });
});

test('attrs - option file errors name the file and line', () => {
  try {
    parseOptionFile('manager=logging\n\nfile\n', '/etc/x.conf');
    assert.fail('no error');
  } catch (err) {
    assert.ok(err instanceof AttrStringError);
    assert.equal(err.where, '/etc/x.conf:3');
    assert.match(err.message, /Invalid attr_string: "file" \(\/etc\/x\.conf:3\)/);
  }
});

test('attrs - attrsToString refuses what cannot be written back', () => {
  for (const a of [
    ['s', 'a;b', 'v'],
    ['s', 'a=b', 'v'],
    ['s', 'a', 'v;w'],
    ['s', '', 'v'],
    ['s', 'a', ''],
    ['s', 'a', 'x\ny'],
  ] as Attr[]) {
    throwsAttrString(() => attrsToString([a]), 'unformattable', /cannot be written as name=value;/);
  }
  assert.equal(attrsToString([['s', 'a', 'x=y']]), 'a=x=y;');
});

test('attrs - lookups: last wins, setAttr replaces in place, removeAttrs filters', () => {
  const attrs: Attr[] = [
    ['tcp', 'port', '1'],
    ['global', 'service', 'x'],
    ['tcp', 'port', '2'],
    ['logging', 'file', 'f'],
  ];
  assert.equal(getAttr(attrs, 'tcp', 'port'), '2');
  assert.equal(getAttr(attrs, 'tcp', 'iface'), undefined);
  assert.deepEqual(getAttrs(attrs, 'tcp', 'port'), ['1', '2']);
  assert.deepEqual(setAttr(attrs, 'tcp', 'port', '9'), [
    ['tcp', 'port', '9'],
    ['global', 'service', 'x'],
    ['logging', 'file', 'f'],
  ]);
  assert.deepEqual(setAttr([], 'tcp', 'nodelay', 'true'), [['tcp', 'nodelay', 'true']]);
  assert.deepEqual(removeAttrs(attrs, 'tcp'), [
    ['global', 'service', 'x'],
    ['logging', 'file', 'f'],
  ]);
  assert.deepEqual(attrs.length, 4, 'inputs are not changed');
  assert.deepEqual({ ...attrsToRecord([...attrs, ['global', 'file', 'g']], ['global', 'logging']) }, { service: 'x', file: 'g' });
});

const nameArb = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !/[=;\r\n]/.test(s));
const valueArb = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[;\r\n]/.test(s));

test('attrs - property: attrsFromString(attrsToString(x)) is x for one scope', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(nameArb, valueArb), { maxLength: 10 }), (pairs) => {
      const attrs: Attr[] = pairs.map(([n, v]) => ['s', n, v]);
      assert.deepEqual(attrsFromString('s', attrsToString(attrs)), attrs);
    }),
  );
});

const optionNameArb = fc.oneof(nameArb, fc.constant('manager'), fc.constant('task-id'));

test('attrs - property: an option string survives parse, format, parse', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(optionNameArb, valueArb), { maxLength: 12 }), (pairs) => {
      const text = pairs.map(([n, v]) => `${n}=${v};`).join('');
      const once = parseOptionString(text);
      const twice = parseOptionString(formatOptionString(once));
      assert.deepEqual(twice, once);
    }),
  );
});

test('attrs - property: extra empty segments never change the result', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(optionNameArb, valueArb), { maxLength: 8 }),
      fc.array(fc.nat({ max: 3 }), { minLength: 9, maxLength: 9 }),
      (pairs, extra) => {
        const plain = pairs.map(([n, v]) => `${n}=${v}`).join(';');
        const padded = pairs.map(([n, v], i) => `${';'.repeat(extra[i] ?? 0)}${n}=${v}`).join(';') + ';'.repeat(extra[8] ?? 0);
        assert.deepEqual(parseOptionString(padded), parseOptionString(plain));
      },
    ),
  );
});

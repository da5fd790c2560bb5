// Terminal (non-JSON) input. The first group translates every case of msl-network's
// tests/test_utils.py::test_terminal_parser; every other expected value was checked against
// msl-network's own parse_terminal_input, except the cases marked "deviation".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_TERMINAL_LINE_LENGTH, parseTerminalInput, type TerminalInput } from '../../src/wire/terminal.ts';
import { ProtocolError, SwitchyardError } from '../../src/errors.ts';

function request(service: string, attribute: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}): TerminalInput {
  return { kind: 'request', service, attribute, args, kwargs };
}

/** The single positional value parsed from `S m <text>`. */
function value(text: string): unknown {
  const r = parseTerminalInput(`S m ${text}`);
  assert.ok(r?.kind === 'request', `not a request: ${text}`);
  assert.equal(r.args.length, 1, `expected one argument from ${JSON.stringify(text)}, got ${r.args.length}`);
  assert.deepEqual(r.kwargs, {});
  return r.args[0];
}

// ------------------------------------------------------------------------------------------------
// msl-network's test_terminal_parser, case by case

test('terminal - blank text, a lone word and a lone quoted name are not terminal syntax', () => {
  for (const line of ['', '    ', 'hello', '"hello"', '"hello goodbye', '"hello world today"']) {
    assert.equal(parseTerminalInput(line), undefined, JSON.stringify(line));
  }
});

test('terminal - service and attribute may be double- or single-quoted', () => {
  for (const line of ['hello goodbye', '"hello" goodbye', 'hello "goodbye"', "'hello' goodbye", "hello 'goodbye'"]) {
    assert.deepEqual(parseTerminalInput(line), request('hello', 'goodbye'), line);
  }
});

test('terminal - keyword arguments allow blanks around "=" and the attribute keeps its case', () => {
  for (const line of ['hello GooDbye x=-1 y=4', 'hello GooDbye x =  -1   y =    4']) {
    assert.deepEqual(parseTerminalInput(line), request('hello', 'GooDbye', [], { x: -1, y: 4 }), line);
  }
});

test('terminal - quoted keyword values keep their blanks; extra blanks between parts are ignored', () => {
  for (const line of ['hello goodbye x="1 2" y=3', '   "hello"  "goodbye"   x = "1 2"   y   =3   ']) {
    assert.deepEqual(parseTerminalInput(line), request('hello', 'goodbye', [], { x: '1 2', y: 3 }), line);
  }
});

test('terminal - a quoted service name with a blank, and float, int and string keyword values', () => {
  assert.deepEqual(
    parseTerminalInput('"hello world" goodbye w = .62 x=1 y=-4.2 z="test" '),
    request('hello world', 'goodbye', [], { w: 0.62, x: 1, y: -4.2, z: 'test' }),
  );
});

test('terminal - a quoted service name with two blanks and no arguments', () => {
  assert.deepEqual(parseTerminalInput('"hello world today" goodbye'), request('hello world today', 'goodbye'));
});

test('terminal - None, true and false are recognised; a bare word stays a string', () => {
  assert.deepEqual(
    parseTerminalInput('"hello world today" good_bye x=None y=true z=test w=false'),
    request('hello world today', 'good_bye', [], { x: null, y: true, z: 'test', w: false }),
  );
});

test('terminal - "String Editor" concat with quoted keyword strings', () => {
  assert.deepEqual(
    parseTerminalInput('"String Editor" concat s1="first string" x=1  s2=" the second string" '),
    request('String Editor', 'concat', [], { s1: 'first string', x: 1, s2: ' the second string' }),
  );
});

test('terminal - "String Editor" concat with quoted positional strings', () => {
  assert.deepEqual(
    parseTerminalInput('"String Editor" concat "first string" 1  " the second string" '),
    request('String Editor', 'concat', ['first string', 1, ' the second string']),
  );
});

test('terminal - positional arguments followed by a keyword argument', () => {
  assert.deepEqual(
    parseTerminalInput('"String Editor" concat "first string" 1  s1=" the second string" '),
    request('String Editor', 'concat', ['first string', 1], { s1: ' the second string' }),
  );
});

test('terminal - list values', () => {
  assert.deepEqual(
    parseTerminalInput('Vector cross_product x=[1,2,3] y=[4,5,6]'),
    request('Vector', 'cross_product', [], { x: [1, 2, 3], y: [4, 5, 6] }),
  );
});

test('terminal - none, None, NULL and null are all null', () => {
  assert.deepEqual(
    parseTerminalInput('Math is_null w=none x=None y=NULL z=null'),
    request('Math', 'is_null', [], { w: null, x: null, y: null, z: null }),
  );
});

test('terminal - link takes the rest of the line as the service name, without double quotes', () => {
  for (const line of ['link Basic Math', 'linkBasic Math', 'link "Basic Math"', 'link  Basic Math ']) {
    assert.deepEqual(parseTerminalInput(line), { kind: 'link', service: 'Basic Math' }, line);
  }
});

test('terminal - disconnect, __disconnect__, exit and EXIT disconnect', () => {
  for (const line of ['disconnect', '__disconnect__', 'exit', 'EXIT']) {
    assert.deepEqual(parseTerminalInput(line), { kind: 'disconnect' }, line);
  }
});

test('terminal - client identifies a client named "Client" unless a name follows', () => {
  assert.deepEqual(parseTerminalInput('client'), { kind: 'client', name: 'Client' });
  assert.deepEqual(parseTerminalInput('CliEnt'), { kind: 'client', name: 'Client' });
  assert.deepEqual(parseTerminalInput('Client The Client today'), { kind: 'client', name: 'The Client today' });
  assert.deepEqual(parseTerminalInput('client "The Client"'), { kind: 'client', name: 'The Client' });
});

test('terminal - floats, a quoted string and keywords with blanks in one request', () => {
  assert.deepEqual(
    parseTerminalInput('ServiceName method 1.1 2.2 "another arg" x  = 3   y="4"'),
    request('ServiceName', 'method', [1.1, 2.2, 'another arg'], { x: 3, y: '4' }),
  );
});

test('terminal - identity asks for the Manager identity', () => {
  assert.deepEqual(parseTerminalInput('identity'), { kind: 'identity' });
});

// ------------------------------------------------------------------------------------------------
// Commands, case rules and whitespace

test('terminal - commands ignore case and surrounding blanks, including the line ending', () => {
  assert.deepEqual(parseTerminalInput('IDENTITY'), { kind: 'identity' });
  assert.deepEqual(parseTerminalInput(' identity \r\n'), { kind: 'identity' });
  assert.deepEqual(parseTerminalInput('Exit\r\n'), { kind: 'disconnect' });
  assert.deepEqual(parseTerminalInput('LINK X'), { kind: 'link', service: 'X' });
  assert.deepEqual(parseTerminalInput('\tclient\r'), { kind: 'client', name: 'Client' });
});

test('terminal - a command word followed by more text is a request, except client and link', () => {
  assert.deepEqual(parseTerminalInput('identity x'), request('identity', 'x'));
  assert.deepEqual(parseTerminalInput('exit now'), request('exit', 'now'));
  assert.deepEqual(parseTerminalInput('disconnect me'), request('disconnect', 'me'));
});

test('terminal - Manager <attribute> is a request to the Manager', () => {
  assert.deepEqual(parseTerminalInput('Manager identity'), request('Manager', 'identity'));
  assert.deepEqual(
    parseTerminalInput('Manager users_table.is_user_registered n.bohr'),
    request('Manager', 'users_table.is_user_registered', ['n.bohr']),
  );
});

test('terminal - client and link are prefix matches, as in msl-network', () => {
  assert.deepEqual(parseTerminalInput('clientele'), { kind: 'client', name: 'Client' });
  assert.deepEqual(parseTerminalInput('linked x'), { kind: 'link', service: 'ed x' });
  assert.deepEqual(parseTerminalInput('link'), { kind: 'link', service: '' });
  // U+212A KELVIN SIGN lowers to "k" in Python and JavaScript alike.
  assert.deepEqual(parseTerminalInput('lin\u212a Adder'), { kind: 'link', service: 'Adder' });
});

test('terminal - client names collapse blanks and lose double quotes but keep single quotes', () => {
  assert.deepEqual(parseTerminalInput('client  Me   Too'), { kind: 'client', name: 'Me Too' });
  assert.deepEqual(parseTerminalInput("client 'Me'"), { kind: 'client', name: "'Me'" });
  assert.deepEqual(parseTerminalInput('client ""'), { kind: 'client', name: '' });
});

test('terminal - link names keep inner blanks and single quotes', () => {
  assert.deepEqual(parseTerminalInput('link " A "'), { kind: 'link', service: ' A ' });
  assert.deepEqual(parseTerminalInput("link 'A B'"), { kind: 'link', service: "'A B'" });
});

test("terminal - every ' in a request line is read as \"", () => {
  assert.deepEqual(parseTerminalInput("O'Brien said hi"), request('OBrien', 'said', ['hi']));
  assert.deepEqual(parseTerminalInput("S m 'single' x='it\"s'"), request('S', 'm', ['single'], { x: 'it' }));
});

test("terminal - blanks are Python's whitespace: NBSP, U+3000 and U+001C separate, U+FEFF and U+200B do not", () => {
  assert.deepEqual(parseTerminalInput('S\u00a0m\u3000x=1\x1cy=2'), request('S', 'm', [], { x: 1, y: 2 }));
  assert.deepEqual(parseTerminalInput('S m  x\t=\t1'), request('S', 'm', [], { x: 1 }));
  assert.deepEqual(parseTerminalInput('\x1cS\x1fm\x1e1\x0b'), request('S', 'm', [1]));
  assert.deepEqual(parseTerminalInput('S\ufeffm x'), request('S\ufeffm', 'x'));
  assert.deepEqual(parseTerminalInput('S\u200bm x'), request('S\u200bm', 'x'));
  assert.equal(parseTerminalInput('\u3000\u00a0\x85\r\n'), undefined);
});

// ------------------------------------------------------------------------------------------------
// Quoting

test('terminal - a quoted service name needs a non-blank name and an attribute', () => {
  assert.equal(parseTerminalInput('"" foo bar'), undefined);
  assert.equal(parseTerminalInput('"  " foo'), undefined);
  assert.deepEqual(parseTerminalInput('"a"b c'), request('a', 'b', ['c']));
  assert.deepEqual(parseTerminalInput('a ""'), request('a', ''));
});

test('terminal - after a quoted service name the attribute ends at the first blank', () => {
  assert.deepEqual(parseTerminalInput('"a" "b c" d'), request('a', 'b', ['c', 'd']));
});

test('terminal - unbalanced quotes: an unclosed quote is skipped', () => {
  assert.deepEqual(parseTerminalInput('S m "abc'), request('S', 'm', ['abc']));
  assert.deepEqual(parseTerminalInput('S m "a" "b'), request('S', 'm', ['a', 'b']));
  assert.deepEqual(parseTerminalInput('S m x="abc'), request('S', 'm', ['x=', 'abc']));
  assert.deepEqual(parseTerminalInput('S m a"b c"'), request('S', 'm', ['a', 'b c']));
  assert.deepEqual(parseTerminalInput('S m "it\\\'s"'), request('S', 'm', ['"it\\"', 's']));
});

// ------------------------------------------------------------------------------------------------
// Keyword arguments

test('terminal - text between keyword arguments that is not key=value is dropped', () => {
  assert.deepEqual(parseTerminalInput('S m 1 2 x=3 junk y=4'), request('S', 'm', [1, 2], { x: 3, y: 4 }));
  assert.deepEqual(parseTerminalInput('S m x=[1, 2]'), request('S', 'm', [], { x: '[1,' }));
});

test('terminal - a keyword value runs to the next blank or quote', () => {
  assert.deepEqual(parseTerminalInput('S m x==1'), request('S', 'm', [], { x: '=1' }));
  assert.deepEqual(parseTerminalInput('S m k=v=w'), request('S', 'm', [], { k: 'v=w' }));
  assert.deepEqual(parseTerminalInput('S m x= "a b"'), request('S', 'm', [], { x: 'a b' }));
  assert.deepEqual(parseTerminalInput('S m =1'), request('S', 'm', ['=1']));
  assert.deepEqual(parseTerminalInput('S m x='), request('S', 'm', ['x=']));
});

test('terminal - keys are Python word characters, digits and non-ASCII letters included', () => {
  assert.deepEqual(parseTerminalInput('S m 1=2'), request('S', 'm', [], { 1: 2 }));
  assert.deepEqual(parseTerminalInput('S m naïve=1'), request('S', 'm', [], { naïve: 1 }));
});

test('terminal - a repeated key keeps the last value', () => {
  assert.deepEqual(parseTerminalInput('S m x=1 x=2 y=3'), request('S', 'm', [], { x: 2, y: 3 }));
});

test('terminal - __proto__ and constructor are ordinary own keys', () => {
  const r = parseTerminalInput('S m __proto__=1 constructor=2');
  assert.ok(r?.kind === 'request');
  assert.deepEqual(Object.keys(r.kwargs), ['__proto__', 'constructor']);
  assert.equal(Object.getOwnPropertyDescriptor(r.kwargs, '__proto__')?.value, 1);
  assert.equal(Object.getPrototypeOf(r.kwargs), Object.prototype);
  assert.equal(JSON.stringify(r.kwargs), '{"__proto__":1,"constructor":2}');
});

test('terminal - a quoted positional containing key=value becomes a keyword, as in msl-network', () => {
  assert.deepEqual(parseTerminalInput('S m "a=b"'), request('S', 'm', [], { a: 'b' }));
});

test('terminal - deviation: positional arguments end where the first key=value starts', () => {
  // msl-network cuts at the first occurrence of the key's text and gives ['bo'] and [].
  assert.deepEqual(parseTerminalInput('Svc m "box" x=1'), request('Svc', 'm', ['box'], { x: 1 }));
  assert.deepEqual(parseTerminalInput('Log write "text message" t=1'), request('Log', 'write', ['text message'], { t: 1 }));
});

// ------------------------------------------------------------------------------------------------
// Values (ast.literal_eval)

test('terminal - integers in every Python spelling', () => {
  const cases: [string, unknown][] = [
    ['0', 0], ['-1', -1], ['+7', 7], ['1_000', 1000], ['0_0', 0], ['00', 0],
    ['0x1F', 31], ['0X_ff', 255], ['0o17', 15], ['0b101', 5], ['-0', 0],
  ];
  for (const [text, expected] of cases) assert.equal(value(text), expected, text);
  assert.ok(Object.is(value('-0'), 0), 'an int is never -0');
});

test('terminal - integers beyond Number.MAX_SAFE_INTEGER become bigint', () => {
  assert.equal(value('9007199254740991'), 9007199254740991);
  assert.equal(value('-9007199254740991'), -9007199254740991);
  assert.equal(value('9007199254740992'), 9007199254740992n);
  assert.equal(value('-9007199254740993'), -9007199254740993n);
  assert.equal(value('123456789012345678901234567890'), 123456789012345678901234567890n);
  assert.equal(value('0x1_0000_0000_0000_0000'), 2n ** 64n);
  assert.deepEqual(value('[1,99999999999999999999]'), [1, 99999999999999999999n]);
});

test('terminal - floats, with -0.0 and out-of-range values as Python gives them', () => {
  const cases: [string, number][] = [
    ['.5', 0.5], ['1.', 1], ['1e5', 100000], ['1E-3', 0.001], ['1.5e+300', 1.5e300], ['0.1', 0.1],
    ['01.5', 1.5], ['1e400', Infinity], ['-1e400', -Infinity], ['1e-400', 0], ['1_0.0_5', 10.05],
  ];
  for (const [text, expected] of cases) assert.equal(value(text), expected, text);
  assert.ok(Object.is(value('-0.0'), -0));
});

test('terminal - malformed numbers stay text', () => {
  for (const text of ['09', '0_1', '1__0', '1_', '1e_5', '1abc', '0x', '0b2', '0o8', '1.5.5', '--1', '+-1', '1+2']) {
    assert.equal(value(text), text, text);
  }
});

test('terminal - signs and parentheses as literal_eval allows them', () => {
  assert.equal(value('-(1)'), -1);
  assert.equal(value('(1)'), 1);
  assert.equal(value('((2))'), 2);
  assert.equal(value('-(-1)'), '-(-1)');
  assert.deepEqual(value('[-1,+2,-3.5]'), [-1, 2, -3.5]);
});

test('terminal - tuples become arrays, with or without parentheses', () => {
  assert.deepEqual(value('(1,2)'), [1, 2]);
  assert.deepEqual(value('(1,)'), [1]);
  assert.deepEqual(value('()'), []);
  assert.deepEqual(value('1,2'), [1, 2]);
  assert.deepEqual(value('1,'), [1]);
});

test('terminal - lists nest and accept a trailing comma; True/False/None only in Python case inside', () => {
  assert.deepEqual(value('[]'), []);
  assert.deepEqual(value('[1,2,]'), [1, 2]);
  assert.deepEqual(value('[1,[2,[3]]]'), [1, [2, [3]]]);
  assert.deepEqual(value('[True,False,None]'), [true, false, null]);
  assert.equal(value('[true]'), '[true]');
  assert.equal(value('[,]'), '[,]');
  assert.equal(value('[1,2'), '[1,2');
});

test('terminal - dicts become objects with keys written as Python json writes them', () => {
  assert.deepEqual(value('{}'), {});
  assert.deepEqual(value('{1:2}'), { 1: 2 });
  assert.deepEqual(value('{1:[1,2],2:{3:4}}'), { 1: [1, 2], 2: { 3: 4 } });
  assert.deepEqual(value('{1e16:1,0.1:2,1e-5:3,-0.0:4,1e999:5,None:6,False:7}'), {
    '1e+16': 1, '0.1': 2, '1e-05': 3, '-0.0': 7, Infinity: 5, null: 6,
  });
  assert.deepEqual(value('{1.0:1,2.5:2,123456789.125:3,1e15:4,0.0001:5}'), {
    '1.0': 1, '2.5': 2, '123456789.125': 3, '1000000000000000.0': 4, '0.0001': 5,
  });
});

test('terminal - equal dict keys merge: first spelling, last value', () => {
  assert.deepEqual(value('{1:1,True:2,1.0:3}'), { 1: 3 });
  assert.deepEqual(value('{True:1,1:2}'), { true: 2 });
  assert.deepEqual(value('{0:1,0j:2}'), { 0: 2 });
});

test('terminal - true/false/null/none in any case; quoted they are strings', () => {
  assert.equal(value('True'), true);
  assert.equal(value('FaLsE'), false);
  assert.equal(value('nUlL'), null);
  assert.equal(value('NONE'), null);
  assert.equal(value('"true"'), 'true');
  assert.equal(value('"None"'), 'None');
});

test('terminal - names and other expressions stay text', () => {
  for (const text of ['abc', 'n.bohr', 'Ｔｒｕｅ', '#', '1;2', '1if1else2', '{}.keys()', '{[1]:2}', 'Ellipsis']) {
    assert.equal(value(text), text, text);
  }
});

test('terminal - a comment after a value is ignored', () => {
  assert.equal(value('1#comment'), 1);
  assert.deepEqual(value('[1,2]#x'), [1, 2]);
  assert.deepEqual(parseTerminalInput('S m # 1'), request('S', 'm', ['#', 1]));
});

test('terminal - deviation: values JSON cannot carry stay text (sets, complex, Ellipsis, tuple keys)', () => {
  // msl-network evaluates these and then fails to forward the request.
  for (const text of ['{1,2}', 'set()', '...', '[...]', '1j', '1+2j', '-1-2j', '{(1,2):3}', '{0j:1}']) {
    assert.equal(value(text), text, text);
  }
});

test('terminal - quoted strings decode Python escapes', () => {
  assert.equal(value('"a b"'), 'a b');
  assert.equal(value('""'), '');
  assert.equal(value('"=="'), '==');
  assert.equal(value('"tab\\there"'), 'tab\there');
  assert.equal(value('"\\x41\\101\\u00e9\\U0001F600"'), 'AAé😀');
  assert.equal(value('"\\a\\b\\f\\n\\r\\t\\v\\\\"'), '\x07\b\f\n\r\t\v\\');
  assert.equal(value('"\\777"'), 'ǿ');
  assert.equal(value('"\\0"'), '\0');
  assert.equal(value('"\\08"'), '\x008');
  assert.equal(value('"\\\\N{BULLET}"'), '\\N{BULLET}');
});

test('terminal - unknown escapes keep their backslash', () => {
  assert.equal(value('"\\q\\d"'), '\\q\\d');
});

test('terminal - a quoted value that is not a valid Python string stays text, quotes included', () => {
  for (const text of ['"\\x4"', '"\\U00110000"', '"\\u12"', '"abc\\"', '"a\rb"']) {
    assert.equal(value(text), text, JSON.stringify(text));
  }
});

test('terminal - a backslash before a line break continues the string', () => {
  assert.equal(value('"a\\\r\nb"'), 'ab');
});

test('terminal - deviation: a \\N{name} escape is not resolved and the value stays text', () => {
  // msl-network gives '•'.
  assert.equal(value('"\\N{BULLET}"'), '"\\N{BULLET}"');
});

// ------------------------------------------------------------------------------------------------
// Bounds

test('terminal - brackets nest 200 deep; one more keeps the text, as in CPython', () => {
  const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);
  let v = value(nested(200));
  let depth = 0;
  while (Array.isArray(v)) {
    depth++;
    v = v[0];
  }
  assert.equal(depth, 200);
  assert.equal(value(nested(201)), nested(201));
  assert.equal(value('('.repeat(201) + '1' + ')'.repeat(201)), '('.repeat(201) + '1' + ')'.repeat(201));
  assert.equal(value('('.repeat(200) + '1' + ')'.repeat(200)), 1);
});

test('terminal - decimal integers of more than 4300 digits keep the text, as in Python 3.11+', () => {
  assert.equal(value('9'.repeat(4300)), 10n ** 4300n - 1n);
  assert.equal(value('1'.repeat(4301)), '1'.repeat(4301));
  assert.equal(value('1_'.repeat(4300) + '1'), '1_'.repeat(4300) + '1');
  assert.equal(value('0'.repeat(5000)), 0);
});

test('terminal - deviation: a 0x integer json could not write keeps the text', () => {
  const limit = 10n ** 4300n;
  assert.equal(value(`0x${(limit - 1n).toString(16)}`), limit - 1n);
  assert.equal(value(`0x${limit.toString(16)}`), `0x${limit.toString(16)}`);
  assert.equal(value(`0x${'f'.repeat(100_000)}`), `0x${'f'.repeat(100_000)}`);
});

test('terminal - a line longer than MAX_TERMINAL_LINE_LENGTH is a ProtocolError', () => {
  const atLimit = 'S m ' + 'x'.repeat(MAX_TERMINAL_LINE_LENGTH - 4);
  assert.deepEqual(parseTerminalInput(atLimit), request('S', 'm', ['x'.repeat(MAX_TERMINAL_LINE_LENGTH - 4)]));
  assert.throws(
    () => parseTerminalInput(atLimit + 'x'),
    (err: unknown) =>
      err instanceof ProtocolError &&
      err instanceof SwitchyardError &&
      err.code === 'SWITCHYARD_ERR_PROTOCOL' &&
      err.message.includes(`${MAX_TERMINAL_LINE_LENGTH + 1} characters`) &&
      err.message.includes(`limit of ${MAX_TERMINAL_LINE_LENGTH}`),
  );
});

test('terminal - long pathological lines parse in linear time', () => {
  const n = MAX_TERMINAL_LINE_LENGTH - 16;
  const lines = [
    'S m a' + ' '.repeat(n) + 'x=1', // a blank run before a keyword
    'S m ' + 'a'.repeat(n), // one long word (a key candidate)
    'S m ' + '" '.repeat(n / 2), // many unclosed quotes
    'S m ' + 'ab=1 '.repeat(n / 5), // many keywords
    'S m [' + '1,'.repeat(n / 2) + ']', // a long list
    'S m ' + '['.repeat(n), // unclosed brackets
    'S m ' + ' '.repeat(n) + '"', // blanks then an unclosed quote
  ];
  const started = performance.now();
  for (const line of lines) assert.equal(parseTerminalInput(line)?.kind, 'request');
  // Quadratic behaviour on these lines would take minutes; linear takes well under a second.
  assert.ok(performance.now() - started < 10_000, `took ${Math.round(performance.now() - started)} ms`);
});

// ------------------------------------------------------------------------------------------------
// Properties

/** Python literal text for a value the terminal grammar can carry inside a container. */
type Lit = number | bigint | boolean | null | Lit[];

function pyText(v: Lit): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (Object.is(v, -0)) return '-0.0';
    // An integral double beyond 2^53 printed as digits would be a Python int, hence a bigint.
    return Number.isInteger(v) && !Number.isSafeInteger(v) ? v.toExponential() : String(v);
  }
  return `[${v.map(pyText).join(',')}]`;
}

/** A Python "..." literal that decodes to `s`, escaping quotes, backslashes and blanks. */
function pyString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (cp > 0x20 && cp < 0x7f && ch !== '"' && ch !== "'" && ch !== '\\') out += ch;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return out + '"';
}

const lit: fc.Arbitrary<Lit> = fc.letrec<{ lit: Lit }>((tie) => ({
  lit: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    fc.bigInt().filter((b) => b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('lit'), { maxLength: 4 }),
  ),
})).lit;

const word = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);

test('terminal - property: any literal printed in Python syntax comes back as the same value', () => {
  fc.assert(
    fc.property(fc.array(lit, { maxLength: 5 }), (values) => {
      const line = `Svc method ${values.map(pyText).join(' ')}`;
      assert.deepEqual(parseTerminalInput(line), request('Svc', 'method', values));
    }),
  );
});

test('terminal - property: any string sent as an escaped "..." literal comes back unchanged', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ maxLength: 20 }), (a, b) => {
      assert.deepEqual(parseTerminalInput(`Svc m ${pyString(a)} k=${pyString(b)}`), request('Svc', 'm', [a], { k: b }));
    }),
  );
});

test('terminal - property: keyword arguments round-trip in order', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(word, lit), { selector: ([k]) => k, maxLength: 5 }), (pairs) => {
      const line = `Svc m ${pairs.map(([k, v]) => `${k}=${pyText(v)}`).join(' ')}`;
      const expected: Record<string, unknown> = {};
      for (const [k, v] of pairs) Object.defineProperty(expected, k, { value: v, enumerable: true, writable: true, configurable: true });
      const r = parseTerminalInput(line);
      assert.deepEqual(r, request('Svc', 'm', [], expected));
      assert.ok(r?.kind === 'request');
      assert.deepEqual(Object.keys(r.kwargs), pairs.map(([k]) => k));
    }),
  );
});

test('terminal - property: any run of Python whitespace between parts means one blank', () => {
  const blank = fc.stringMatching(/^[ \t\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,4}$/);
  const part = fc.oneof(word, lit.map(pyText), fc.tuple(word, lit).map(([k, v]) => `${k}=${pyText(v)}`));
  fc.assert(
    fc.property(fc.array(fc.tuple(blank, part), { maxLength: 6 }), blank, blank, blank, (parts, b0, b1, b2) => {
      const spaced = ['Svc', 'm', ...parts.map(([, p]) => p)].join(' ');
      const blanked = `${b0}Svc${b1}m${b2}` + parts.map(([b, p]) => p + b).join('');
      assert.deepEqual(parseTerminalInput(blanked), parseTerminalInput(spaced));
    }),
  );
});

test('terminal - property: arbitrary text never throws and gives a well-formed result', () => {
  const kinds = new Set(['identity', 'client', 'link', 'disconnect', 'request']);
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (text) => {
      const r = parseTerminalInput(text);
      if (r === undefined) return;
      assert.ok(kinds.has(r.kind));
      if (r.kind === 'request') {
        assert.ok(Array.isArray(r.args));
        assert.equal(Object.getPrototypeOf(r.kwargs), Object.prototype);
      }
    }),
    { numRuns: 2000 },
  );
});

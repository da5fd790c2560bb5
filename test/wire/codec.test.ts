/**
 * The wire layer's pure parts: the value codec, Python-style JSON, and the two splitters.
 * Property tests (fast-check) check round trips and arbitrary re-chunking.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { EncodeError, MessageTooLargeError, ProtocolError } from '../../src/errors.ts';
import { decodeValue, encodeValue, encodeValueChunks, SPLICE_MIN_BYTES } from '../../src/wire/codec.ts';
import { FrameSplitter } from '../../src/wire/frames.ts';
import { parseJson, toPythonJson } from '../../src/wire/json.ts';
import { LineSplitter } from '../../src/wire/line-splitter.ts';

/** Values the codec promises to carry exactly. */
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }),
    fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
    fc.date({ noInvalidDate: true }),
  ),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), tie('node'), { maxKeys: 5, noNullPrototype: true }),
    fc.array(fc.tuple(fc.oneof(fc.string(), fc.integer()), tie('node')), { maxLength: 4 }).map((e) => new Map(e)),
    fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 4 }).map((a) => new Set(a)),
  ),
})).node;

describe('codec', () => {
  test('codec - every supported value round-trips exactly', () => {
    fc.assert(
      fc.property(value, (v) => {
        assert.deepEqual(decodeValue(encodeValue(v)), v);
      }),
      { numRuns: 300 },
    );
  });

  test('codec - chunked encoding splices large Buffers by reference and decodes the same', () => {
    const big = Buffer.alloc(SPLICE_MIN_BYTES + 10, 9);
    const other = Buffer.alloc(SPLICE_MIN_BYTES * 2, 4);
    const v = { a: [1, big, 'x'], b: other, c: Buffer.from('small') };
    const chunks = encodeValueChunks(v);
    assert.ok(chunks.includes(big) && chunks.includes(other), 'the large Buffers themselves are among the chunks');
    assert.deepEqual(Buffer.concat(chunks), encodeValue(v), 'the bytes are the standard encoding');
    assert.deepEqual(decodeValue(Buffer.concat(chunks)), v);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 6 }), (sizes) => {
        const parts = sizes.map((s, i) => Buffer.alloc(s === 0 ? 10 : SPLICE_MIN_BYTES + s, i));
        assert.deepEqual(decodeValue(Buffer.concat(encodeValueChunks({ parts }))), { parts });
      }),
      { numRuns: 30 },
    );
  });

  test('codec - unsupported values are refused with the path to them', () => {
    class Widget {}
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    const cases: Array<[unknown, string, RegExp]> = [
      [{ a: [1, () => 2] }, '$.a[1]', /Cannot send a function/],
      [[new Widget()], '$[0]', /instance of class Widget/],
      [{ s: Symbol('x') }, '$.s', /symbol/],
      [new Map([['k', { f: () => 1 }]]), '$.get("k").f', /function/],
      [circular, '', /nested deeper than 512 levels.*circular/],
    ];
    for (const [v, path, message] of cases) {
      assert.throws(
        () => encodeValue(v),
        (e: unknown) => e instanceof EncodeError && (path === '' || e.path === path) && message.test(e.message),
      );
    }
  });

  test('codec - malformed bytes are a ProtocolError', () => {
    assert.throws(() => decodeValue(Buffer.from([0x92, 0x01])), ProtocolError); // an array of two with one item
  });
});

describe('python json', () => {
  test('json - writes Python json.dumps layout, NaN/Infinity literals and exact big integers', () => {
    assert.equal(
      toPythonJson({ error: false, result: [1, 2.5, Number.NaN, -Infinity, 2n ** 64n, 'é"\n', null, undefined], x: {} }),
      '{"error": false, "result": [1, 2.5, NaN, -Infinity, 18446744073709551616, "é\\"\\n", null, null], "x": {}}',
    );
    assert.equal(toPythonJson([-0, 0]), '[-0.0, 0]');
    assert.ok(Object.is(parseJson('-0.0'), -0));
    assert.equal(toPythonJson({ b: Buffer.from('hi'), m: new Map([[1, 'a']]), s: new Set([2]), d: new Date(0) }), '{"b": "aGk=", "m": {"1": "a"}, "s": [2], "d": "1970-01-01T00:00:00.000Z"}');
  });

  test('json - parses what Python writes, keeping big integers exact', () => {
    assert.deepEqual(parseJson('{"a": NaN, "b": [Infinity, -Infinity, 123456789012345678901, -9007199254740993, 1.5e3]}'), {
      a: Number.NaN,
      b: [Infinity, -Infinity, 123456789012345678901n, -9007199254740993n, 1500],
    });
    assert.equal(parseJson('{"__proto__": 1}') !== null, true);
  });

  test('json - parse errors read like Python json', () => {
    assert.throws(() => parseJson('garbage'), { message: 'Expecting value: line 1 column 1 (char 0)' });
    assert.throws(() => parseJson('{"a": 1,\n "b" 2}'), { message: "Expecting ':' delimiter: line 2 column 6 (char 14)" });
    assert.throws(() => parseJson('[1, 2] x'), /Extra data/);
    // (Standard JSON goes through JSON.parse, which has no recursion limit to hit.)
    assert.throws(() => parseJson('['.repeat(600) + 'NaN' + ']'.repeat(600)), /Nesting deeper than 512/);
  });

  test('json - toPythonJson then parseJson round-trips JSON values', () => {
    const jsonValue = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);
    fc.assert(
      fc.property(jsonValue, (v) => {
        assert.deepEqual(parseJson(toPythonJson(v)), v);
      }),
      { numRuns: 300 },
    );
  });
});

describe('splitters', () => {
  const frame = (body: Buffer): Buffer => {
    const b = Buffer.alloc(4 + body.length);
    b.writeUInt32BE(body.length, 0);
    body.copy(b, 4);
    return b;
  };
  const rechunk = (all: Buffer, cuts: number[]): Buffer[] => {
    const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
    const out: Buffer[] = [];
    let prev = 0;
    for (const p of [...points, all.length]) {
      if (p > prev) out.push(Buffer.from(all.subarray(prev, p)));
      prev = p;
    }
    return out;
  };

  test('frames - any re-chunking of a stream gives the same frames', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 20 }), (bodies, cuts) => {
        const all = Buffer.concat(bodies.map((b) => frame(Buffer.from(b))));
        const got: Buffer[] = [];
        const s = new FrameSplitter(1024);
        for (const c of rechunk(all, cuts)) s.push(c, (body) => got.push(Buffer.from(body)));
        assert.deepEqual(got, bodies.map((b) => Buffer.from(b)));
        assert.equal(s.buffered, 0);
      }),
      { numRuns: 300 },
    );
  });

  test('frames - an oversize frame is refused from its length, before its bytes arrive', () => {
    const s = new FrameSplitter(100);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(101, 0);
    assert.throws(
      () => s.push(head, () => {}),
      (e: unknown) => e instanceof MessageTooLargeError && e.size === 101 && e.limit === 100,
    );
  });

  test('lines - any re-chunking gives the same lines, without \\r\\n', () => {
    const line = fc.string({ maxLength: 40 }).map((t) => t.replace(/[\r\n]/g, ''));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 20 }), fc.boolean(), (lines, cuts, crlf) => {
        const all = Buffer.from(lines.map((l) => l + (crlf ? '\r\n' : '\n')).join(''));
        const got: string[] = [];
        const s = new LineSplitter(1000);
        for (const c of rechunk(all, cuts)) s.push(c, (l) => void got.push(l.toString()));
        assert.deepEqual(got, lines);
      }),
      { numRuns: 300 },
    );
  });

  test('lines - a line over the limit is refused; returning false stops and keeps the rest', () => {
    assert.throws(() => new LineSplitter(5).push(Buffer.from('123456\n'), () => {}), MessageTooLargeError);
    assert.throws(() => new LineSplitter(5).push(Buffer.from('1234567'), () => {}), MessageTooLargeError);
    const s = new LineSplitter(100);
    const got: string[] = [];
    s.push(Buffer.from('a\nb\nrest'), (l) => {
      got.push(l.toString());
      return false;
    });
    assert.deepEqual(got, ['a']);
    assert.equal(s.takeRest().toString(), 'b\nrest');
  });
});

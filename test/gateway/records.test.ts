/**
 * The socket-gateway record splitter: records come out whole and in order however the bytes are
 * cut, and an oversized record is refused from its header alone.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../src/errors.ts';
import { MAX_RECORD, recordHeader, RecordSplitter, type RecordKindValue } from '../../src/worker/socket-protocol.ts';

test('records - any cutting of a stream of records gives back the same records in order', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 3000 })), { maxLength: 12 }),
      fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1, maxLength: 20 }),
      (records, cuts) => {
        const sent = records.map(([kind, n]) => [kind, randomBytes(n)] as const);
        const stream = Buffer.concat(sent.flatMap(([kind, p]) => [recordHeader(kind as RecordKindValue, p.length), p]));
        const got: Array<[number, Buffer]> = [];
        const splitter = new RecordSplitter();
        let off = 0;
        for (let i = 0; off < stream.length; i++) {
          const n = cuts[i % cuts.length] as number;
          splitter.push(stream.subarray(off, off + n), (kind, payload) => got.push([kind, Buffer.from(payload)]));
          off += n;
        }
        assert.deepEqual(
          got.map(([k, p]) => [k, p.toString('hex')]),
          sent.map(([k, p]) => [k, p.toString('hex')]),
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('records - a header announcing more than MAX_RECORD is a ProtocolError, even split across chunks', () => {
  const header = recordHeader(0, MAX_RECORD + 1);
  assert.throws(() => new RecordSplitter().push(header, () => {}), ProtocolError);
  const s = new RecordSplitter();
  s.push(header.subarray(0, 2), () => {});
  assert.throws(() => s.push(header.subarray(2), () => {}), ProtocolError);
});

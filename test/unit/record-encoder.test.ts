import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NOT_FLAT, NO_ROOM, writeEvent } from '../../host/engine/record-encoder.ts';
import { decodeEvents, encodeEvent, EventTime, type Record } from '../../sdk/src/codec/events.ts';

/** Any UTF-16 unit: lone surrogates too, which the short and long string paths must write as msgpackr does. */
const utf16 = fc.nat(0xffff).map((c) => String.fromCharCode(c));
/** Strings around the str header sizes, in every UTF-16 shape. */
const str = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: utf16, maxLength: 70 }),
  fc.string({ unit: utf16, minLength: 60, maxLength: 300 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 20, maxLength: 300 }),
  fc.string({ unit: 'binary', minLength: 20, maxLength: 300 }),
  fc.constantFrom('', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(16), 'é'.repeat(127), 'é'.repeat(128), '€'.repeat(85), '€'.repeat(86), 'x'.repeat(65535), '€'.repeat(21846), 'x'.repeat(65536)),
);
const num = fc.oneof(
  fc.integer({ min: -0x81, max: 0x101 }),
  fc.integer({ min: -0x80000001, max: 0xffffffff }),
  fc.constantFrom(0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, -0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, 2 ** 31, 2 ** 32, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53, -0, NaN, Infinity, -Infinity, 0.5),
  fc.double(),
);
const flat = fc.oneof(str, num, fc.boolean(), fc.constant(null));
const nested = fc.oneof(fc.array(flat, { maxLength: 3 }), fc.dictionary(str, flat, { maxKeys: 3 }));
/** Records with up to 20 keys (past a fixmap's 15), "__proto__" included, as setField makes it. */
const record = (value: fc.Arbitrary<unknown>) =>
  fc.tuple(fc.dictionary(str, value, { maxKeys: 20 }), fc.option(value)).map(([body, proto]) => {
    if (proto !== null) Object.defineProperty(body, '__proto__', { value: proto, enumerable: true, writable: true, configurable: true });
    return body as Record;
  });
const time = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 999_999_999 }));

describe('writeEvent', () => {
  test('writes the bytes encodeEvent makes for a flat record, which decode to the same event', () => {
    fc.assert(
      fc.property(record(flat), time, fc.nat(7), (body, [sec, nsec], at) => {
        const expected = encodeEvent(body, new EventTime(sec, nsec));
        const buf = Buffer.alloc(at + expected.length * 3 + 64, 0xee);
        const end = writeEvent(buf, at, buf.length, sec, nsec, body);
        assert.ok(end > 0, `written (got ${end})`);
        assert.deepEqual(buf.subarray(at, end), expected);
        assert.deepEqual(decodeEvents(buf.subarray(at, end)), decodeEvents(expected));
      }),
      { numRuns: 500 },
    );
  });

  test('leaves a record with a nested map or list to the generic encoder', () => {
    fc.assert(
      fc.property(record(fc.oneof(flat, nested)), (body) => {
        const end = writeEvent(Buffer.alloc(1 << 20), 0, 1 << 20, 1, 2, body);
        const hasNested = Object.values(body).some((v) => typeof v === 'object' && v !== null);
        assert.equal(end === NOT_FLAT, hasNested);
      }),
      { numRuns: 300 },
    );
  });

  test('never writes at or past limit: a record that may not fit is refused, one that is written is whole', () => {
    fc.assert(
      fc.property(record(flat), fc.nat(1000), (body, limit) => {
        const buf = Buffer.alloc(limit + 64, 0xee);
        const end = writeEvent(buf, 0, limit, 1_700_000_000, 5, body);
        assert.ok(buf.subarray(limit).every((b) => b === 0xee), 'nothing written at or past limit');
        const expected = encodeEvent(body, new EventTime(1_700_000_000, 5));
        // The worst case is 9 bytes for each byte written (an empty key, a small int).
        if (end === NO_ROOM) assert.ok(limit < expected.length * 9, `refused with room for it (limit ${limit}, ${expected.length} bytes)`);
        else assert.deepEqual(buf.subarray(0, end), expected);
      }),
      { numRuns: 500 },
    );
  });
});

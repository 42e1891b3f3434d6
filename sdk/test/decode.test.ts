// The SDK's event decoder (its own reader, msgpackr for the rest) against
// msgpackr alone, the decoder before issue 12, on random MessagePack: the
// same events, or the same error at the same byte offset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Unpackr } from 'msgpackr';
import { EventDecodeError, EventTime, decodeEvents, decodeEventsFrom, encodeEvents, forEachEvent, type Event } from '../src/codec/events.ts';

// ---------------------------------------------------------------- the oracle

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

function oracleTime(raw: unknown, offset: number): EventTime {
  if (raw instanceof EventTime) return raw;
  if (typeof raw === 'number' && Number.isFinite(raw)) {
    const sec = Math.floor(raw);
    return new EventTime(sec, Math.round((raw - sec) * 1e9));
  }
  throw new EventDecodeError(`event time must be an EventTime, integer or float, got ${typeof raw}`, offset);
}

function oracleEvent(item: unknown, offset: number): Event {
  if (!Array.isArray(item) || item.length !== 2) throw new EventDecodeError('event must be a 2-element array [header, body]', offset);
  const [head, body] = item;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new EventDecodeError('event body must be a map', offset);
  if (Array.isArray(head)) {
    const metadata = head[1];
    return { time: oracleTime(head[0], offset), metadata: metadata && typeof metadata === 'object' && !Array.isArray(metadata) ? metadata : {}, body };
  }
  return { time: oracleTime(head, offset), metadata: {}, body };
}

function oracle(data: Uint8Array): Event[] {
  const events: Event[] = [];
  if (data.length === 0) return events;
  let offset = 0;
  try {
    unpackr.unpackMultiple(data, (value: unknown, start?: number, end?: number) => {
      events.push(oracleEvent(value, start ?? offset));
      offset = end ?? offset;
    });
  } catch (err) {
    if (err instanceof EventDecodeError) throw err;
    throw new EventDecodeError(`malformed MessagePack (${(err as Error).message})`, offset);
  }
  return events;
}

const outcome = (decode: () => Event[]): { events: Event[] } | { error: string } => {
  try {
    return { events: decode() };
  } catch (err) {
    return { error: err instanceof EventDecodeError ? `${err.offset}: ${err.message}` : `not an EventDecodeError: ${err}` };
  }
};

// ---------------------------------------------------------------- random MessagePack

const be = (n: number, bytes: number): number[] => Array.from({ length: bytes }, (_, i) => Math.floor(n / 256 ** (bytes - 1 - i)) % 256);
const bytesOf = (x: Uint8Array): number[] => Array.from(x);

/** A length header in each encoding that can hold n (fix* only when it fits). */
function header(n: number, fix: [number, number] | undefined, b8: number | undefined, b16: number, b32: number, pick: number): number[] {
  const forms: number[][] = [];
  if (fix && n < fix[1]) forms.push([fix[0] | n]);
  if (b8 !== undefined && n < 256) forms.push([b8, n]);
  if (n < 65536) forms.push([b16, ...be(n, 2)]);
  forms.push([b32, ...be(n, 4)]);
  return forms[pick % forms.length]!;
}

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('__proto__', 'constructor', 'log', 'time', '0', '12', 'a'.repeat(300)),
);
// Any bytes, so invalid UTF-8 too.
const strBytes = fc.oneof(text.map((s) => bytesOf(Buffer.from(s))), fc.uint8Array({ maxLength: 24 }).map(bytesOf));
const str: fc.Arbitrary<readonly number[]> = fc.tuple(strBytes, fc.nat()).map(([b, pick]) => [...header(b.length, [0xa0, 32], 0xd9, 0xda, 0xdb, pick), ...b]);

const scalar: fc.Arbitrary<readonly number[]> = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 0, max: 127 }).map((n) => [n]) },
  { weight: 10, arbitrary: fc.integer({ min: -32, max: -1 }).map((n) => [n & 0xff]) },
  { weight: 10, arbitrary: fc.constantFrom([0xc0], [0xc2], [0xc3], [0xc1]) },
  // Sized numbers with random payloads: every uint, int and float width.
  {
    weight: 30,
    arbitrary: fc
      .tuple(fc.constantFrom([0xcc, 1], [0xcd, 2], [0xce, 4], [0xcf, 8], [0xd0, 1], [0xd1, 2], [0xd2, 4], [0xd3, 8], [0xca, 4], [0xcb, 8]), fc.uint8Array({ minLength: 8, maxLength: 8 }))
      .map(([[t, n], b]) => [t!, ...bytesOf(b.subarray(0, n))]),
  },
  { weight: 10, arbitrary: fc.tuple(fc.uint8Array({ maxLength: 20 }), fc.nat()).map(([b, pick]) => [...header(b.length, undefined, 0xc4, 0xc5, 0xc6, pick), ...bytesOf(b)]) },
  { weight: 10, arbitrary: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => [0xd7, 0, ...bytesOf(b)]) },
  // An EventTime of the wrong size, in ext 8, extensions msgpackr does not know (its own ones are left out).
  { weight: 1, arbitrary: fc.constantFrom([0xd6, 0, 1, 2, 3, 4], [0xc7, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8], [0xd4, 0x05, 1], [0xd7, 0x21, 1, 2, 3, 4, 5, 6, 7, 8]) },
);

const { value } = fc.letrec<{ value: readonly number[]; array: readonly number[]; map: readonly number[] }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, { weight: 3, arbitrary: scalar }, { weight: 3, arbitrary: str }, { weight: 1, arbitrary: tie('array') }, { weight: 1, arbitrary: tie('map') }),
  array: fc.tuple(fc.array(tie('value'), { maxLength: 5 }), fc.nat()).map(([items, pick]) => [...header(items.length, [0x90, 16], undefined, 0xdc, 0xdd, pick), ...items.flat()]),
  map: fc
    .tuple(fc.array(fc.tuple(fc.oneof({ weight: 50, arbitrary: str }, { weight: 1, arbitrary: scalar }), tie('value')), { maxLength: 5 }), fc.nat())
    .map(([entries, pick]) => [...header(entries.length, [0x80, 16], undefined, 0xde, 0xdf, pick), ...entries.flat(2)]),
}));
const map = value.filter((v) => v[0]! >= 0x80 && v[0]! < 0x90);

const event = fc.oneof(
  { weight: 60, arbitrary: fc.tuple(fc.uint8Array({ minLength: 8, maxLength: 8 }), map, map).map(([t, meta, body]) => [0x92, 0x92, 0xd7, 0, ...bytesOf(t), ...meta, ...body]) },
  { weight: 6, arbitrary: fc.tuple(fc.oneof(scalar, value), map).map(([head, body]) => [0x92, ...head, ...body]) },
  { weight: 1, arbitrary: fc.tuple(value, value).map(([head, body]) => [0x92, ...head, ...body]) },
  { weight: 1, arbitrary: value },
);

const sometimes = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

/** Events, sometimes cut short or with a byte changed. */
const chunk = fc.tuple(fc.array(event, { minLength: 1, maxLength: 6 }), sometimes(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))), sometimes(fc.nat())).map(([events, change, cut]) => {
  const bytes = events.flat();
  if (change) bytes[change[0] % bytes.length] = change[1];
  return Uint8Array.from(cut === null ? bytes : bytes.slice(0, cut % (bytes.length + 1)));
});

// ---------------------------------------------------------------- tests

test('on random MessagePack, decodeEvents gives what msgpackr alone gives: the same events, or the same error at the same offset', () => {
  fc.assert(
    fc.property(chunk, fc.boolean(), (bytes, asBuffer) => {
      const data = asBuffer ? Buffer.from(bytes) : bytes;
      assert.deepStrictEqual(outcome(() => decodeEvents(data)), outcome(() => oracle(data)));
    }),
    { numRuns: 3000 },
  );
});

test('decodeEventsFrom, a piece at a time, gives the events decodeEvents gives, and next is where each piece ends', () => {
  fc.assert(
    fc.property(fc.array(event, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 4 }), (events, max) => {
      const data = Buffer.from(events.flat());
      const whole = outcome(() => decodeEvents(data));
      const pieces = outcome(() => {
        const got: Event[] = [];
        for (let at = 0; at < data.length; ) {
          const { events: piece, next } = decodeEventsFrom(data, at, max);
          assert.ok(piece.length >= 1 && piece.length <= max && next > at);
          got.push(...piece);
          at = next;
        }
        return got;
      });
      assert.deepStrictEqual(pieces, whole);
    }),
    { numRuns: 1000 },
  );
});

test('values as msgpackr gives them: bin as a subarray of the input of its type, 64-bit integers as numbers, __proto__ renamed, EventTime in a body', () => {
  const time = new EventTime(1_700_000_000, 5);
  const data = encodeEvents([{ body: { bin: Buffer.from([1, 2, 3]), big: 2 ** 60, neg: -(2 ** 60), t: time, f: 0.1, nested: { a: [null, true, 'ü'] } }, time }]);
  const [e] = decodeEvents(data);
  assert.ok(Buffer.isBuffer(e!.body.bin));
  assert.equal((e!.body.bin as Buffer).buffer, data.buffer, 'bin is a view of the input, as msgpackr gives it');
  const [u] = decodeEvents(new Uint8Array(data));
  assert.ok(!Buffer.isBuffer(u!.body.bin) && u!.body.bin instanceof Uint8Array);
  assert.deepStrictEqual(e!.body, { bin: Buffer.from([1, 2, 3]), big: 2 ** 60, neg: -(2 ** 60), t: time, f: 0.1, nested: { a: [null, true, 'ü'] } });
  // {"__proto__": 1}
  const proto = Buffer.from([0x92, 0x01, 0x81, 0xa9, ...Buffer.from('__proto__'), 0x01]);
  assert.deepStrictEqual(decodeEvents(proto)[0]!.body, { __proto_: 1 });
  assert.deepStrictEqual(decodeEvents(proto), oracle(proto));
});

test('forEachEvent stops when fn returns false and says where the rest starts; fn may decode another chunk meanwhile', () => {
  const a = encodeEvents([1, 2, 3].map((i) => ({ body: { i }, time: new EventTime(i, 0) })));
  const b = encodeEvents([{ body: { other: true } }]);
  const seen: unknown[] = [];
  const next = forEachEvent(a, 0, (e) => {
    seen.push(e.body.i, decodeEvents(b)[0]!.body.other);
    return e.body.i !== 2;
  });
  assert.deepEqual(seen, [1, true, 2, true]);
  assert.deepEqual(decodeEventsFrom(a, next, 10).events.map((e) => e.body.i), [3]);
  assert.equal(forEachEvent(a, next, () => {}), a.length);
});

test('an error thrown by fn reaches the caller as it is, also on msgpackr\'s path', () => {
  const oops = new Error('oops');
  const plain = encodeEvents([{ body: { a: 1 } }]);
  // A body with an integer map key: msgpackr's to read.
  const odd = Buffer.from([0x92, 0x01, 0x81, 0x05, 0x01]);
  for (const data of [plain, odd, Buffer.concat([odd, plain.subarray(0, 3)])]) {
    assert.throws(() => forEachEvent(data, 0, () => {
      throw oops;
    }), (err) => err === oops);
  }
  assert.deepStrictEqual(decodeEvents(odd)[0]!.body, { 5: 1 });
});

test('a key is read from the bytes there now, also when a buffer it was read from before was overwritten in place', () => {
  const data = encodeEvents([{ body: { abc: 1 }, time: new EventTime(1, 0) }]);
  assert.deepStrictEqual(decodeEvents(data)[0]!.body, { abc: 1 });
  data.write('abd', data.indexOf('abc'));
  assert.deepStrictEqual(decodeEvents(data)[0]!.body, { abd: 1 });
});

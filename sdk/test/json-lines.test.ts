// toJsonLine and toJsonLines against the JSON writer before issue 12 (a
// replacer on every line), which stays the definition of a line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventDecodeError, EventTime, decodeEvents, encodeEvents, type Event, type Record } from '../src/codec/events.ts';
import { toJson, toJsonLine, toJsonLines } from '../src/codec/json-lines.ts';

function oldJson(body: Record, key: string, value: unknown): string {
  const obj = key ? { [key]: value, ...body } : body;
  return JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v));
}

const oldLine = (e: Event, dateKey: string): string => oldJson(e.body, dateKey, e.time.toNumber()) + '\n';

const key = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 8 }) },
  { weight: 2, arbitrary: fc.constantFrom('date', 'log', 'time', '0', '7', '12', '01', '-1', '__proto__', 'toJSON', 'a"b', 'ü') },
);
const leaf = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('{}', '{"0":1}', 'text with {} in it', '\u2028', '\ud800'),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), // what MessagePack can hold
  fc.uint8Array({ maxLength: 6 }),
  fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b)),
  fc.tuple(fc.nat(), fc.nat()).map(([s, ns]) => new EventTime(s, ns)),
  fc.constant(new Date(0)),
);
const { body } = fc.letrec<{ value: unknown; body: Record }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 3 }, { weight: 5, arbitrary: leaf }, { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 4 }) }, { weight: 1, arbitrary: tie('body') }),
  body: fc.dictionary(key, tie('value'), { maxKeys: 6 }) as fc.Arbitrary<Record>,
}));
const time = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 999_999_999 })).map(([s, ns]) => new EventTime(s, ns)),
  // Whole milliseconds, which are written out from their parts: near 1 s the double is often not the one nearest to the text.
  fc.tuple(fc.oneof(fc.integer({ min: 1_500_000_000, max: 2_000_000_000 }), fc.integer({ min: 1, max: 9 })), fc.integer({ min: 0, max: 999 })).map(([s, ms]) => new EventTime(s, ms * 1_000_000)),
  fc.integer({ min: 0, max: 2 ** 42 }).map((ms) => EventTime.fromMillis(ms)),
  fc.constantFrom(new EventTime(0, 0), new EventTime(0, 1), new EventTime(2 ** 32 - 1, 999_999_999), new EventTime(NaN, 0), new EventTime(-5, 250_000_000), new EventTime(1.5, 7)),
);
const dateKey = fc.oneof(fc.constantFrom('date', '', 'ts', '0', 'log'), key);

test('toJsonLine writes what the replacer did, for any body, time and dateKey', () => {
  fc.assert(
    fc.property(body, time, dateKey, (b, t, k) => {
      const e = { time: t, metadata: {}, body: b };
      assert.equal(toJsonLine(e, k), oldLine(e, k));
    }),
    { numRuns: 5000 },
  );
});

test('toJson writes what the replacer did with any key and value in front (the kafka plugin\'s JSON value)', () => {
  fc.assert(
    fc.property(body, dateKey, fc.oneof(fc.string(), fc.double()), (b, k, v) => {
      assert.equal(toJson(b, k, v), oldJson(b, k, v));
    }),
    { numRuns: 2000 },
  );
});

test('toJsonLines on a chunk writes the lines the replacer wrote for its decoded events, in order', () => {
  // Only what survives MessagePack: undefined becomes nil, bigints numbers.
  fc.assert(
    fc.property(fc.array(fc.tuple(body, time), { minLength: 0, maxLength: 8 }), dateKey, (events, k) => {
      let data: Buffer;
      try {
        data = encodeEvents(events.map(([b, t]) => ({ body: b, time: new EventTime(t.sec >>> 0, t.nsec >>> 0) })));
      } catch {
        // msgpackr packs no object without a prototype that has a key toJSON.
        return fc.pre(false);
      }
      const expected = decodeEvents(data).map((e) => oldLine(e, k)).join('');
      assert.equal(toJsonLines(data, k).toString(), expected);
    }),
    { numRuns: 1000 },
  );
});

test('the values a replacer was for, and bodies the time cannot just go in front of', () => {
  const time = new EventTime(1_764_648_000, 250_000_000);
  const cases: [Record, string][] = [
    [{ big: 12345678901234567890n, nested: { n: -1n } }, '{"date":1764648000.25,"big":"12345678901234567890","nested":{"n":"-1"}}'],
    [{ raw: new Uint8Array([1, 2, 3]), empty: new Uint8Array(0) }, '{"date":1764648000.25,"raw":"AQID","empty":""}'],
    [{ buf: Buffer.from('hi') }, '{"date":1764648000.25,"buf":{"type":"Buffer","data":[104,105]}}'],
    [{ t: new EventTime(1, 2), u: undefined }, '{"date":1764648000.25,"t":{"sec":1,"nsec":2}}'],
    [{ log: 'x', 1: 'one' }, '{"1":"one","date":1764648000.25,"log":"x"}'],
    [{ log: 'x', date: 'the body wins' }, '{"date":"the body wins","log":"x"}'],
    [{ date: undefined, log: 'x' }, '{"log":"x"}'],
    [{}, '{"date":1764648000.25}'],
    [{ map: {}, s: 'a {} b' }, '{"date":1764648000.25,"map":{},"s":"a {} b"}'],
  ];
  for (const [b, line] of cases) {
    const e = { time, metadata: {}, body: b };
    assert.equal(toJsonLine(e, 'date'), line + '\n');
    assert.equal(oldLine(e, 'date'), line + '\n');
  }
});

test('toJsonLines grows its buffer for a chunk larger than the last, and for one huge line; a bad chunk throws EventDecodeError', () => {
  const small = encodeEvents([{ body: { n: 1 }, time: new EventTime(1, 0) }]);
  assert.equal(toJsonLines(small, '').toString(), '{"n":1}\n');
  const events = Array.from({ length: 3000 }, (_, i) => ({ body: { i, s: 'é'.repeat(i % 50), log: 'x'.repeat(100) }, time: EventTime.fromMillis(1_700_000_000_000 + i) }));
  events.push({ body: { i: -1, s: '✓'.repeat(300_000), log: '' }, time: new EventTime(0, 0) });
  const big = encodeEvents(events);
  assert.equal(toJsonLines(big, 'date').toString(), decodeEvents(big).map((e) => oldLine(e, 'date')).join(''));
  assert.equal(toJsonLines(small, 'date').toString(), '{"date":1,"n":1}\n');
  assert.throws(() => toJsonLines(Buffer.concat([small, Buffer.from([0x92, 0x01])]), 'date'), (err) => err instanceof EventDecodeError && err.offset === small.length);
});

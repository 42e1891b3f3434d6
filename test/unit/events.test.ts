import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { EventDecodeError, EventTime, decodeEvents, decodeEventsFrom, encodeEvent, encodeEvents } from '../../sdk/src/codec/events.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** msgpack fixstr for ASCII s (< 32 bytes). */
const fixstr = (s: string) => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s, 'ascii')]);
/** {"a": 1} */
const BODY_A1 = Buffer.concat([Buffer.from([0x81]), fixstr('a'), Buffer.from([0x01])]);

describe('EventTime on the wire', () => {
  test('is fixext 8 of type 0: d7 00, then BE seconds, then BE nanoseconds', () => {
    const bytes = encodeEvent({ a: 1 }, new EventTime(0x01020304, 0x05060708), {});
    // [[EventTime, {}], {"a": 1}]
    assert.equal(hex(bytes), '92' + '92' + 'd700' + '01020304' + '05060708' + '80' + '81a16101');
  });

  test('seconds above 2^31 and the largest nanosecond stay unsigned 32-bit', () => {
    const bytes = encodeEvent({}, new EventTime(0xfffffffe, 999_999_999), {});
    assert.equal(hex(bytes.subarray(2, 12)), 'd700' + 'fffffffe' + '3b9ac9ff');
    const [e] = decodeEvents(bytes);
    assert.equal(e!.time.sec, 0xfffffffe);
    assert.equal(e!.time.nsec, 999_999_999);
  });

  test('a real timestamp', () => {
    const t = EventTime.fromMillis(1_700_000_000_123);
    assert.equal(t.sec, 1_700_000_000);
    assert.equal(t.nsec, 123_000_000);
    const bytes = encodeEvent({}, t, {});
    assert.equal(hex(bytes.subarray(2, 12)), 'd700' + (1_700_000_000).toString(16).padStart(8, '0') + (123_000_000).toString(16).padStart(8, '0'));
    assert.equal(t.toISOString(), '2023-11-14T22:13:20.123000000Z');
    assert.equal(t.toNumber(), 1_700_000_000.123);
  });
});

describe('round trip', () => {
  test('time, metadata and body of several events come back equal', () => {
    const events = [
      { time: new EventTime(1, 2), metadata: {}, body: { log: 'hello' } },
      { time: new EventTime(1_700_000_000, 999_999_999), metadata: { stream: 'stderr', n: 3 }, body: { msg: 'x'.repeat(300), level: 'warn', nested: { a: [1, 2, { b: null }] }, ok: true, f: 1.5, neg: -7 } },
      { time: new EventTime(0, 0), metadata: { k: 'v' }, body: {} },
      { time: new EventTime(4_000_000_000, 1), metadata: {}, body: { big: 2 ** 40, utf8: 'héllo wörld ✓' } },
    ];
    const decoded = decodeEvents(encodeEvents(events));
    assert.equal(decoded.length, events.length);
    decoded.forEach((d, i) => {
      const e = events[i]!;
      assert.ok(d.time instanceof EventTime);
      assert.deepEqual([d.time.sec, d.time.nsec], [e.time.sec, e.time.nsec]);
      assert.deepEqual(d.metadata, e.metadata);
      assert.deepEqual(d.body, e.body);
    });
  });

  // msgpackr's unpackMultiple throws "Unexpected end" on zero bytes.
  test('an empty buffer is no events', () => {
    assert.deepEqual(decodeEvents(new Uint8Array(0)), []);
  });

  test('decodes from a subarray at a non-zero byte offset', () => {
    const one = encodeEvent({ a: 1 }, new EventTime(10, 20), { m: 1 });
    const padded = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), one]);
    const [e] = decodeEvents(padded.subarray(3));
    assert.deepEqual([e!.time.sec, e!.time.nsec, e!.metadata, e!.body], [10, 20, { m: 1 }, { a: 1 }]);
  });
});

describe('Fluent Bit v1 events', () => {
  test('[int time, body]', () => {
    // [1700000000 (uint32), {"a": 1}]
    const bytes = Buffer.concat([Buffer.from('92ce6553f100', 'hex'), BODY_A1]);
    const [e, ...rest] = decodeEvents(bytes);
    assert.equal(rest.length, 0);
    assert.deepEqual([e!.time.sec, e!.time.nsec], [1_700_000_000, 0]);
    assert.deepEqual(e!.metadata, {});
    assert.deepEqual(e!.body, { a: 1 });
  });

  test('[float time, body]', () => {
    const f64 = Buffer.alloc(9);
    f64[0] = 0xcb;
    f64.writeDoubleBE(1_700_000_000.25, 1);
    const bytes = Buffer.concat([Buffer.from([0x92]), f64, BODY_A1]);
    const [e] = decodeEvents(bytes);
    assert.deepEqual([e!.time.sec, e!.time.nsec], [1_700_000_000, 250_000_000]);
    assert.deepEqual(e!.metadata, {});
    assert.deepEqual(e!.body, { a: 1 });
  });

  test('[EventTime, body]', () => {
    const bytes = Buffer.concat([Buffer.from('92d700' + '00000005' + '00000006', 'hex'), BODY_A1]);
    const [e] = decodeEvents(bytes);
    assert.deepEqual([e!.time.sec, e!.time.nsec, e!.body], [5, 6, { a: 1 }]);
  });

  test('v1 and v2 events mixed in one buffer', () => {
    const v1 = Buffer.concat([Buffer.from('92ce6553f100', 'hex'), BODY_A1]);
    const v2 = encodeEvent({ b: 2 }, new EventTime(7, 8), { m: 'x' });
    const out = decodeEvents(Buffer.concat([v1, v2, v1]));
    assert.deepEqual(out.map((e) => [e.time.sec, e.time.nsec, e.metadata, e.body]), [
      [1_700_000_000, 0, {}, { a: 1 }],
      [7, 8, { m: 'x' }, { b: 2 }],
      [1_700_000_000, 0, {}, { a: 1 }],
    ]);
  });
});

describe('malformed input', () => {
  const good = encodeEvent({ a: 1 }, new EventTime(1, 2), {});

  function decodeError(data: Uint8Array): EventDecodeError {
    try {
      decodeEvents(data);
    } catch (err) {
      assert.ok(err instanceof EventDecodeError, `expected EventDecodeError, got ${err}`);
      return err;
    }
    assert.fail('decodeEvents accepted malformed input');
  }

  test('the first event is not an array', () => {
    const err = decodeError(Buffer.from([0x01]));
    assert.equal(err.offset, 0);
    assert.match(err.message, /2-element array.* at byte offset 0$/);
  });

  test('the second event has a body that is not a map: offset of that event', () => {
    // [1, 2]
    const err = decodeError(Buffer.concat([good, Buffer.from([0x92, 0x01, 0x02])]));
    assert.equal(err.offset, good.length);
    assert.equal(err.message, `event body must be a map at byte offset ${good.length}`);
  });

  test('the third event is a 3-element array', () => {
    const err = decodeError(Buffer.concat([good, good, Buffer.from([0x93, 0x01, 0x80, 0x80])]));
    assert.equal(err.offset, 2 * good.length);
  });

  test('an event time that is a string', () => {
    const err = decodeError(Buffer.concat([Buffer.from([0x92]), fixstr('now'), BODY_A1]));
    assert.equal(err.offset, 0);
    assert.match(err.message, /event time must be an EventTime, integer or float, got string/);
  });

  test('an EventTime extension of 4 bytes instead of 8', () => {
    // [[fixext4 type 0, {}], {}]
    const err = decodeError(Buffer.from('9292d600000000018080', 'hex'));
    assert.equal(err.offset, 0);
    assert.match(err.message, /malformed MessagePack/);
  });

  test('a lone truncated event', () => {
    const err = decodeError(good.subarray(0, 7));
    assert.equal(err.offset, 0);
    assert.match(err.message, /malformed MessagePack/);
  });

  // decodeEvents keeps the *start* of the last good value as the offset, so a
  // msgpack error in a later event is reported at the previous event.
  test('a truncated second event is reported at its own offset', () => {
    const err = decodeError(Buffer.concat([good, good.subarray(0, 5)]));
    assert.equal(err.offset, good.length);
  });
});

test('decodeEventsFrom: a chunk a piece at a time gives the same events as decodeEvents, and names the byte offset of a bad one', () => {
  const events = Array.from({ length: 10 }, (_, i) => ({ time: new EventTime(1_700_000_000 + i, i), metadata: {}, body: { i, pad: 'x'.repeat(i * 30) } }));
  const data = encodeEvents(events);
  const pieces: number[][] = [];
  for (let at = 0; at < data.length; ) {
    const { events: got, next } = decodeEventsFrom(data, at, 3);
    assert.ok(next > at);
    pieces.push(got.map((e) => e.body.i as number));
    at = next;
  }
  assert.deepEqual(pieces, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
  assert.deepEqual(decodeEventsFrom(data, data.length, 3), { events: [], next: data.length });
  const second = encodeEvents(events.slice(0, 1)).length;
  const bad = Buffer.concat([data.subarray(0, second), Buffer.from([0x93, 1, 2, 3])]);
  assert.deepEqual(decodeEventsFrom(bad, 0, 1).events.length, 1);
  assert.throws(() => decodeEventsFrom(bad, second, 5), (err: Error) => err instanceof EventDecodeError && err.offset === second);
});

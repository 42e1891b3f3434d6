// Frames and entries, decoded back with msgpackr: what a Fluentd receiver
// reads out of the bytes the plugin writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { unpack, unpackMultiple } from 'msgpackr';
import { EventDecodeError, EventTime, encodeEvents } from '../../sdk/src/index.ts';
import { binHeader, buildFrame, encodeEntries, frameOf, newChunkId } from './frame.ts';
import { MessageReader } from './reader.ts';

const t1 = new EventTime(1_700_000_000, 123_456_789);
const t2 = new EventTime(1_700_000_001, 1);
const chunk = encodeEvents([
  { time: t1, metadata: { source: 'a' }, body: { log: 'one', n: 1, nested: { x: [1, 2] } } },
  { time: t2, body: { log: 'two', bytes: Buffer.from([0, 255]) } },
]);
const plain = { timeAsInteger: false, retainMetadata: false };

test('entries are [EventTime, record], nanoseconds kept, one after the other', () => {
  const { entries, count } = encodeEntries(chunk, plain);
  assert.equal(count, 2);
  const got = unpackMultiple(entries) as [EventTime, { [k: string]: unknown }][];
  assert.deepEqual(got.map(([t]) => [t.sec, t.nsec]), [[1_700_000_000, 123_456_789], [1_700_000_001, 1]]);
  assert.ok(got[0]![0] instanceof EventTime);
  assert.deepEqual(got[0]![1], { log: 'one', n: 1, nested: { x: [1, 2] } });
  assert.deepEqual(Buffer.from(got[1]![1].bytes as Uint8Array), Buffer.from([0, 255]));
  // The EventTime is ext type 0, 8 bytes: uint32 BE seconds, uint32 BE nanoseconds (fixext 8).
  assert.deepEqual([...entries.subarray(0, 12)], [0x92, 0xd7, 0x00, 0x65, 0x53, 0xf1, 0x00, 0x07, 0x5b, 0xcd, 0x15, 0x83]);
});

test('time_as_integer: integer seconds; retain_metadata_in_forward_mode: [[time, metadata], record]', () => {
  const ints = unpackMultiple(encodeEntries(chunk, { timeAsInteger: true, retainMetadata: false }).entries) as unknown[][];
  assert.deepEqual(ints.map((e) => e[0]), [1_700_000_000, 1_700_000_001]);
  const meta = unpackMultiple(encodeEntries(chunk, { timeAsInteger: false, retainMetadata: true }).entries) as [[EventTime, unknown], unknown][];
  assert.deepEqual(meta.map(([[t, m]]) => [t.nsec, m]), [[123_456_789, { source: 'a' }], [1, {}]]);
});

test('v1 events ([float time, record]) become EventTime with nanoseconds; bytes that do not decode throw EventDecodeError', () => {
  const v1 = Buffer.concat([Buffer.from([0x92, 0xcb]), Buffer.from(new Float64Array([1.5]).buffer).reverse(), Buffer.from([0x81, 0xa1, 0x6b, 0x01])]);
  const [t, body] = (unpackMultiple(encodeEntries(v1, plain).entries) as [EventTime, unknown][])[0]!;
  assert.deepEqual([t.sec, t.nsec, body], [1, 500_000_000, { k: 1 }]);
  assert.throws(() => encodeEntries(Buffer.from([0x92, 0xc1]), plain), EventDecodeError);
  assert.throws(() => encodeEntries(Buffer.from([0x93, 1, 2, 3]), plain), EventDecodeError);
});

test('PackedForward: [tag, bin entries, {chunk, size}] with acks; 2 elements without options; one ack id per send', () => {
  const { entries, count } = encodeEntries(chunk, plain);
  const acked = frameOf('app.log', entries, count, { sendOptions: true, requireAck: true, gzip: false });
  const [tag, bin, option] = unpack(Buffer.concat(acked.parts)) as [string, Uint8Array, { [k: string]: unknown }];
  assert.equal(tag, 'app.log');
  assert.deepEqual(Buffer.from(bin), entries);
  assert.deepEqual(option, { chunk: acked.id, size: 2 });
  assert.deepEqual(Object.keys(option), ['chunk', 'size'], 'chunk first, as Fluent Bit');
  assert.equal(acked.bytes, Buffer.concat(acked.parts).length);
  assert.equal(acked.records, 2);

  const sized = unpack(Buffer.concat(frameOf('t', entries, count, { sendOptions: true, requireAck: false, gzip: false }).parts)) as unknown[];
  assert.deepEqual(sized[2], { size: 2 });
  const bare = unpack(Buffer.concat(frameOf('t', entries, count, { sendOptions: false, requireAck: false, gzip: false }).parts)) as unknown[];
  assert.equal(bare.length, 2);

  const ids = new Set(Array.from({ length: 1000 }, newChunkId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.equal(Buffer.from(id, 'base64').length, 16);
});

test('CompressedPackedForward: the entries gzipped, option compressed gzip', async () => {
  const f = await buildFrame('gz', chunk, { ...plain, sendOptions: true, requireAck: true, gzip: true });
  const [tag, bin, option] = unpack(Buffer.concat(f.parts)) as [string, Uint8Array, { [k: string]: unknown }];
  assert.equal(tag, 'gz');
  assert.deepEqual(option, { chunk: f.id, size: 2, compressed: 'gzip' });
  assert.deepEqual(gunzipSync(bin), encodeEntries(chunk, plain).entries);
});

test('bin headers at every size boundary decode back to the same bytes', () => {
  for (const n of [0, 1, 255, 256, 65_535, 65_536, 1 << 20]) {
    const body = Buffer.alloc(n, 7);
    const decodedBack = unpack(Buffer.concat([binHeader(n), body])) as Uint8Array;
    assert.equal(decodedBack.length, n);
    assert.ok(Buffer.from(decodedBack).equals(body));
  }
});

test('the reader takes server messages split at any byte, and refuses a stream with no end to its message', () => {
  const bytes = Buffer.concat([Buffer.from([0x81, 0xa3, ...Buffer.from('ack'), 0xa4, ...Buffer.from('id-1')]), Buffer.from([0x81, 0xa3, ...Buffer.from('ack'), 0xa4, ...Buffer.from('id-2')])]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const r = new MessageReader();
    const got = [...r.push(bytes.subarray(0, cut)), ...r.push(bytes.subarray(cut))];
    assert.deepEqual(got, [{ ack: 'id-1' }, { ack: 'id-2' }], `cut at ${cut}`);
  }
  // One byte at a time.
  const r = new MessageReader();
  const got: unknown[] = [];
  for (const b of bytes) got.push(...r.push(Buffer.from([b])));
  assert.deepEqual(got, [{ ack: 'id-1' }, { ack: 'id-2' }]);
  assert.throws(() => new MessageReader().push(Buffer.concat([Buffer.from([0xc6, 0, 2, 0, 0]), Buffer.alloc(70_000)])), /without a whole message/);
});

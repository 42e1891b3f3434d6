import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { LineEncoder, OpenChunk, chunkCrc, encodeStr, newChunkId, strHeaderSize } from '../../host/engine/chunk.ts';
import { decodeEvents, encodeEvent, EventTime } from '../../sdk/src/codec/events.ts';

const LENGTHS = [0, 1, 31, 32, 255, 256, 65535, 65536, 70000];

/** A line of exactly n bytes whose content shows where it was cut. */
function lineOf(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = 0x61 + (i % 26);
  return b;
}

describe('strHeaderSize and encodeStr at the msgpack str boundaries', () => {
  test('fixstr, str8, str16, str32', () => {
    assert.deepEqual(LENGTHS.map(strHeaderSize), [1, 1, 1, 2, 2, 3, 3, 5, 5]);
    assert.equal(encodeStr('')[0], 0xa0);
    assert.equal(encodeStr('x'.repeat(31))[0], 0xbf);
    assert.deepEqual([...encodeStr('x'.repeat(32)).subarray(0, 2)], [0xd9, 32]);
    assert.deepEqual([...encodeStr('x'.repeat(256)).subarray(0, 3)], [0xda, 0x01, 0x00]);
    assert.deepEqual([...encodeStr('x'.repeat(65536)).subarray(0, 5)], [0xdb, 0x00, 0x01, 0x00, 0x00]);
    // bytes, not characters: 2 bytes each
    assert.deepEqual([...encodeStr('é'.repeat(16)).subarray(0, 2)], [0xd9, 32]);
  });
});

describe('LineEncoder', () => {
  for (const n of LENGTHS) {
    test(`a line of ${n} bytes decodes to the same line and extra keys`, () => {
      const enc = new LineEncoder('log', { path: '/var/log/app.log', host: 'h1' });
      const line = lineOf(n);
      // The line sits inside a larger read buffer, as in the tail input.
      const src = Buffer.concat([Buffer.from('before\n'), line, Buffer.from('\nafter')]);
      const chunk = new OpenChunk('app', enc.size(n) + 16);
      enc.write(chunk, 1_700_000_000, 123_456_789, src, 7, 7 + n);
      assert.equal(chunk.size, enc.size(n), 'size() is exactly the bytes written');
      assert.equal(chunk.count, 1);
      const events = decodeEvents(chunk.buf.subarray(0, chunk.size));
      assert.equal(events.length, 1);
      const e = events[0]!;
      assert.deepEqual([e.time.sec, e.time.nsec], [1_700_000_000, 123_456_789]);
      assert.deepEqual(e.metadata, {});
      assert.deepEqual(Object.keys(e.body), ['log', 'path', 'host']);
      assert.equal(typeof e.body.log, 'string');
      assert.equal((e.body.log as string).length, n);
      assert.ok(Buffer.from(e.body.log as string, 'latin1').equals(line), 'line bytes differ');
      assert.equal(e.body.path, '/var/log/app.log');
      assert.equal(e.body.host, 'h1');
    });
  }

  test('writes the same bytes as the generic encoder', () => {
    const enc = new LineEncoder('message', { stream: 'stdout' });
    const line = Buffer.from('GET /index.html 200');
    const chunk = new OpenChunk('t', 1024);
    enc.write(chunk, 5, 6, line, 0, line.length);
    const generic = encodeEvent({ message: 'GET /index.html 200', stream: 'stdout' }, new EventTime(5, 6), {});
    assert.equal(chunk.buf.subarray(0, chunk.size).toString('hex'), generic.toString('hex'));
  });

  test('UTF-8 lines: the header counts bytes', () => {
    const enc = new LineEncoder('log');
    const text = 'héllo ✓ '.repeat(40);
    const line = Buffer.from(text);
    const chunk = new OpenChunk('t', enc.size(line.length));
    enc.write(chunk, 1, 0, line, 0, line.length);
    assert.equal(chunk.size, chunk.buf.length);
    assert.deepEqual(decodeEvents(chunk.buf.subarray(0, chunk.size))[0]!.body, { log: text });
  });

  test('many events of mixed sizes, appended back to back, decode in order', () => {
    const enc = new LineEncoder('log', { f: 'x' });
    const lines = LENGTHS.map(lineOf);
    const chunk = new OpenChunk('t', lines.reduce((s, l) => s + enc.size(l.length), 0));
    lines.forEach((l, i) => enc.write(chunk, i, i * 10, l, 0, l.length));
    assert.equal(chunk.room(), 0);
    assert.equal(chunk.count, lines.length);
    const sealed = chunk.seal('tail.0');
    assert.equal(sealed.crc32, undefined, 'not worked out at seal: nothing may read it');
    assert.equal(chunkCrc(sealed), crc32(sealed.data!));
    assert.equal(sealed.count, lines.length);
    assert.equal(sealed.tag, 't');
    assert.equal(sealed.input, 'tail.0');
    const events = decodeEvents(sealed.data!);
    assert.deepEqual(events.map((e) => [e.time.sec, e.time.nsec, (e.body.log as string).length, e.body.f]), LENGTHS.map((n, i) => [i, i * 10, n, 'x']));
  });

  test('no extra keys, and at most 14', () => {
    const enc = new LineEncoder('log');
    const chunk = new OpenChunk('t', 64);
    enc.write(chunk, 0, 0, Buffer.from('hi'), 0, 2);
    assert.deepEqual(decodeEvents(chunk.buf.subarray(0, chunk.size))[0]!.body, { log: 'hi' });
    const fourteen = Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`k${i}`, `v${i}`]));
    const big = new LineEncoder('log', fourteen);
    const c2 = new OpenChunk('t', 512);
    big.write(c2, 0, 0, Buffer.from('hi'), 0, 2);
    assert.deepEqual(decodeEvents(c2.buf.subarray(0, c2.size))[0]!.body, { log: 'hi', ...fourteen });
    assert.throws(() => new LineEncoder('log', { ...fourteen, k14: 'v' }), /at most 14/);
  });
});

test('chunk ids are unique', () => {
  const ids = new Set(Array.from({ length: 1000 }, newChunkId));
  assert.equal(ids.size, 1000);
  assert.notEqual(new OpenChunk('a', 1).id, new OpenChunk('a', 1).id);
});

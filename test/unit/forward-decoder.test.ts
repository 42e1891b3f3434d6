// The forward input's decoder (stream → frames → events → chunk bytes) with
// fast-check: random bytes and mutated valid frames (bit flips, truncation,
// inserted bytes) never make it throw, and whatever it accepts is stored as
// events the SDK's decoder reads back; valid frames split at every position
// (or anywhere, in many pieces) decode to exactly the events of the whole;
// and the cases that matter one by one: offsets of errors, oversized frames
// refused by their header, gzip bombs, records that are not maps or cannot
// be decoded, keys that are not strings, the handshake's digests.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { EventTime, decodeEvents } from '../../sdk/src/codec/events.ts';
import { ForwardDecoder } from '../../host/inputs/forward/decoder.ts';
import { writeEvents } from '../../host/inputs/forward/encode.ts';
import { ServerHandshake } from '../../host/inputs/forward/handshake.ts';
import type { ChunkWriter } from '../../host/storage/store.ts';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const pack = (v: unknown) => packr.pack(v);

/** Stands in for a ChunkWriter: one growing buffer. */
class Sink {
  buf = Buffer.alloc(1024);
  size = 0;
  count = 0;
  reserve(n: number) {
    if (this.size + n > this.buf.length) {
      const b = Buffer.alloc(Math.max(this.buf.length * 2, this.size + n));
      this.buf.copy(b, 0, 0, this.size);
      this.buf = b;
    }
    return this;
  }
  commit() {}
}

interface Outcome {
  frames: { tag: string; mode: string; chunk: unknown; events: { sec: number; nsec: number; metadata: unknown; body: unknown }[]; rejected: string[] }[];
  error?: { reason: string; offset: number };
  afterError: number;
}

const MAX = 64 * 1024;

/** Feeds the pieces to a decoder; each frame's events are written as the input writes them and read back with the SDK's decoder. */
function run(pieces: Buffer[], max = MAX): Outcome {
  const out: Outcome = { frames: [], afterError: 0 };
  const dec = new ForwardDecoder(max, {
    events(f) {
      if (out.error) out.afterError++;
      const sink = new Sink();
      writeEvents(sink as unknown as ChunkWriter, f.src, f.events);
      const events = decodeEvents(sink.buf.subarray(0, sink.size)).map((e) => ({ sec: e.time.sec, nsec: e.time.nsec, metadata: e.metadata, body: e.body }));
      assert.equal(events.length, f.events.length);
      out.frames.push({ tag: f.tag, mode: f.mode, chunk: f.chunk, events, rejected: f.rejected.map((r) => r.reason) });
      return true;
    },
    error(reason, offset) {
      if (out.error) out.afterError++;
      out.error = { reason, offset };
    },
  });
  for (const p of pieces) dec.push(p);
  return out;
}

/** The bytes cut at the given positions. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    pieces.push(bytes.subarray(from, c));
    from = c;
  }
  pieces.push(bytes.subarray(from));
  // Each piece is its own buffer, as reads are.
  return pieces.map((p) => Buffer.from(p));
}

// ---------------------------------------------------------------- generators

const time = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 999_999_999 })).map(([s, n]) => new EventTime(s, n)),
  fc.double({ min: 0, max: 2 ** 31, noNaN: true }),
);
const record = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 });
const entry = fc.tuple(time, record);
const entries = fc.array(entry, { minLength: 0, maxLength: 6 });
const tag = fc.string({ maxLength: 10 });
const option = fc.option(fc.record({ chunk: fc.string({ minLength: 1, maxLength: 12 }) }), { nil: undefined });

function packedBytes(es: [unknown, unknown][]): Buffer {
  return Buffer.concat(es.map((e) => pack(e)));
}

function strFrame(t: string, data: Buffer, opt: unknown): Buffer {
  const head = Buffer.alloc(5);
  head[0] = 0xdb;
  head.writeUInt32BE(data.length, 1);
  return Buffer.concat([Buffer.from([opt === undefined ? 0x92 : 0x93]), pack(t), head, data, ...(opt === undefined ? [] : [pack(opt)])]);
}

const frame: fc.Arbitrary<Buffer> = fc.oneof(
  // Message
  fc.tuple(tag, time, record, option).map(([t, ti, r, o]) => pack(o ? [t, ti, r, o] : [t, ti, r])),
  // Forward
  fc.tuple(tag, entries, option).map(([t, es, o]) => pack(o ? [t, es, o] : [t, es])),
  // PackedForward, bin or str
  fc.tuple(tag, entries, option, fc.boolean()).map(([t, es, o, str]) => (str ? strFrame(t, packedBytes(es), o) : pack(o ? [t, packedBytes(es), o] : [t, packedBytes(es)]))),
  // CompressedPackedForward, 1 to 3 gzip members
  fc.tuple(tag, fc.array(entries, { minLength: 1, maxLength: 3 }), fc.string({ minLength: 1, maxLength: 12 })).map(([t, parts, chunk]) =>
    pack([t, Buffer.concat(parts.map((p) => gzipSync(packedBytes(p)))), { chunk, compressed: 'gzip' }])),
  // v2 entries [[time, metadata], record]
  fc.tuple(tag, fc.array(fc.tuple(time, record, record), { maxLength: 4 })).map(([t, es]) => pack([t, es.map(([ti, m, r]) => [[ti, m], r])])),
  // heartbeat
  fc.constant(pack(null)),
);
const stream = fc.array(frame, { minLength: 1, maxLength: 4 }).map((fs) => Buffer.concat(fs));

// ---------------------------------------------------------------- properties

describe('forward decoder: properties', () => {
  test('random bytes, in random pieces, never throw; an error is reported once and nothing is decoded after it', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
      const out = run(split(Buffer.from(bytes), cuts));
      assert.equal(out.afterError, 0);
      if (out.error) assert.ok(out.error.offset >= 0 && out.error.offset <= bytes.length, JSON.stringify(out.error));
    }), { numRuns: 2000 });
  });

  test('random bytes after a valid MessagePack array header never throw', () => {
    fc.assert(fc.property(fc.constantFrom(0x92, 0x93, 0x94), fc.uint8Array({ maxLength: 400 }), (head, bytes) => {
      run([Buffer.concat([Buffer.from([head, 0xa3, 0x61, 0x2e, 0x62]), Buffer.from(bytes)])]);
    }), { numRuns: 3000 });
  });

  test('mutated valid frames (bit flips, truncation, inserted bytes), in random pieces, never throw; what is accepted reads back', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(fc.property(stream, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 6 }), (valid, ms, cuts) => {
      let b = Buffer.from(valid);
      for (const m of ms) {
        if (b.length === 0) break;
        const at = m.at % b.length;
        if (m.kind === 'flip') b[at]! ^= 1 << m.bit;
        else if (m.kind === 'set') b[at] = m.byte;
        else if (m.kind === 'truncate') b = b.subarray(0, at);
        else b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
      }
      const out = run(split(b, cuts));
      assert.equal(out.afterError, 0);
    }), { numRuns: 1500 });
  });

  test('valid frames split at every position decode to the same events as whole', () => {
    fc.assert(fc.property(stream, (bytes) => {
      const whole = run([bytes]);
      assert.equal(whole.error, undefined, JSON.stringify(whole.error));
      for (let i = 0; i <= bytes.length; i++) assert.deepEqual(run(split(bytes, [i])), whole, `split at ${i} of ${bytes.length}`);
    }), { numRuns: 60 });
  });

  test('valid frames in many random pieces (down to single bytes) decode to the same events as whole', () => {
    fc.assert(fc.property(stream, fc.array(fc.nat(), { maxLength: 40 }), fc.boolean(), (bytes, cuts, bytewise) => {
      const whole = run([bytes]);
      const pieces = bytewise ? [...bytes].map((b) => Buffer.from([b])) : split(bytes, cuts);
      assert.deepEqual(run(pieces), whole);
    }), { numRuns: 300 });
  });

  test('what is decoded is what was sent: tags, times to the nanosecond, records, chunk ids', () => {
    const simple = fc.dictionary(fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__'), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 5 });
    fc.assert(fc.property(tag, fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 999_999_999 }), simple), { maxLength: 6 }), fc.constantFrom('Forward', 'PackedForward', 'CompressedPackedForward'), (t, es, mode) => {
      const wire = es.map(([s, n, r]) => [new EventTime(s, n), r]);
      const f = mode === 'Forward' ? pack([t, wire, { chunk: 'c' }])
        : mode === 'PackedForward' ? pack([t, packedBytes(wire as [unknown, unknown][]), { chunk: 'c' }])
          : pack([t, gzipSync(packedBytes(wire as [unknown, unknown][])), { chunk: 'c', compressed: 'gzip' }]);
      const out = run([f]);
      assert.equal(out.frames.length, 1);
      assert.equal(out.frames[0]!.tag, t);
      assert.equal(out.frames[0]!.chunk, 'c');
      assert.deepEqual(out.frames[0]!.events, es.map(([sec, nsec, body]) => ({ sec, nsec, metadata: {}, body: { ...body } })));
    }), { numRuns: 300 });
  });
});

// ---------------------------------------------------------------- cases

describe('forward decoder: cases', () => {
  const now = 1_700_000_000;

  test('every mode; a heartbeat is skipped; several frames in one read', () => {
    const out = run([Buffer.concat([
      pack(['a', now, { m: 1 }]),
      pack(['a', now, { m: 2 }, { chunk: 'x' }]),
      pack(null),
      pack(['b', [[now, { f: 1 }], [now, { f: 2 }]]]),
      pack(['c', packedBytes([[now, { p: 1 }]]), { chunk: 'y', size: 1 }]),
      pack(['d', gzipSync(packedBytes([[now, { z: 1 }]]))]), // gzip seen by its magic, without option.compressed
    ])]);
    assert.deepEqual(out.frames.map((f) => [f.mode, f.tag, f.chunk, f.events.map((e) => e.body)]), [
      ['Message', 'a', undefined, [{ m: 1 }]],
      ['Message', 'a', 'x', [{ m: 2 }]],
      ['Forward', 'b', undefined, [{ f: 1 }, { f: 2 }]],
      ['PackedForward', 'c', 'y', [{ p: 1 }]],
      ['CompressedPackedForward', 'd', undefined, [{ z: 1 }]],
    ]);
  });

  test('Message mode\'s option.metadata and v2 entries\' metadata are kept', () => {
    const out = run([Buffer.concat([
      pack(['a', now, { m: 1 }, { metadata: { k: 'v' } }]),
      pack(['b', [[[new EventTime(now, 1), { src: 'x' }], { f: 1 }]]]),
    ])]);
    assert.deepEqual(out.frames.map((f) => f.events[0]!.metadata), [{ k: 'v' }, { src: 'x' }]);
    assert.deepEqual(out.frames[1]!.events[0], { sec: now, nsec: 1, metadata: { src: 'x' }, body: { f: 1 } });
  });

  test('garbage after valid frames: an error at the byte offset of the garbage, the frames before it decoded', () => {
    const good = pack(['a', now, { m: 1 }]);
    for (const garbage of [Buffer.from([0xc1]), Buffer.from('GET / HTTP/1.1\r\n'), pack({ not: 'an array' }), pack(['tag', true, {}])]) {
      const out = run([Buffer.concat([good, good, garbage])]);
      assert.equal(out.frames.length, 2);
      assert.equal(out.error?.reason, 'malformed');
      assert.equal(out.error?.offset, garbage[0] === 0x93 ? 2 * good.length + 1 + 4 : 2 * good.length, garbage.toString('latin1'));
    }
  });

  test('a frame over the limit is refused by its header, before its bytes come', () => {
    const head = Buffer.from([0x92, 0xa1, 0x61, 0xc6, 0x40, 0, 0, 0]); // [ "a", bin32 of 1 GiB ...
    const out = run([head]);
    assert.deepEqual(out.error, { reason: 'too_large', offset: 0 });
    // Many small items past the limit are refused too, once the bytes held pass it.
    const many = run([Buffer.concat([Buffer.from([0xdd, 0, 1, 0, 0]), Buffer.alloc(MAX + 10, 0xc0)])]);
    assert.equal(many.error?.reason, 'too_large');
    // A frame of exactly the limit is taken.
    const short = 'x'.repeat(MAX - 100);
    const pad = short + 'y'.repeat(MAX - pack(['a', now, { pad: short }]).length);
    const exact = pack(['a', now, { pad }]);
    assert.equal(exact.length, MAX);
    assert.equal(run([exact]).frames.length, 1);
    assert.equal(run([pack(['a', now, { pad: pad + 'z' }])]).error?.reason, 'too_large');
  });

  test('gzip: a bomb inflating past the limit is too_large; bytes that are not gzip are bad_gzip; an unknown compression is unsupported', () => {
    assert.equal(run([pack(['a', gzipSync(Buffer.alloc(10 * MAX)), { compressed: 'gzip' }])]).error?.reason, 'too_large');
    assert.equal(run([pack(['a', Buffer.from('not gzip at all'), { compressed: 'gzip' }])]).error?.reason, 'bad_gzip');
    assert.equal(run([pack(['a', gzipSync(packedBytes([[now, {}]])).subarray(0, 20), { compressed: 'gzip' }])]).error?.reason, 'bad_gzip');
    assert.equal(run([pack(['a', packedBytes([[now, {}]]), { compressed: 'zstd' }])]).error?.reason, 'unsupported');
    assert.equal(run([pack(['a', packedBytes([[now, {}]]), { fluent_signal: 2 }])]).error?.reason, 'unsupported');
  });

  test('records that are not maps, or that no decoder takes, are rejected one by one; the rest of the frame is kept', () => {
    const deep = Buffer.concat([Buffer.from([0x81, 0xa1, 0x6b]), Buffer.alloc(100_000, 0x91), Buffer.from([0xc0])]);
    const unknownExt = Buffer.from([0x81, 0xa1, 0x6b, 0xd4, 0x05, 0x01]);
    const data = Buffer.concat([
      pack([now, { ok: 1 }]),
      pack([now, 'a string']),
      pack([now, [1, 2]]),
      Buffer.concat([Buffer.from([0x92]), pack(now), deep]),
      Buffer.concat([Buffer.from([0x92]), pack(now), unknownExt]),
      pack([now, { ok: 2 }]),
    ]);
    const out = run([pack(['a', data, { chunk: 'c' }])], 1024 * 1024);
    assert.equal(out.error, undefined);
    assert.deepEqual(out.frames[0]!.events.map((e) => e.body), [{ ok: 1 }, { ok: 2 }]);
    assert.deepEqual(out.frames[0]!.rejected, ['not_a_map', 'not_a_map', 'undecodable', 'undecodable']);
  });

  test('keys that are not strings become strings; an EventTime inside a record is kept', () => {
    // {1: "one", "t": EventTime}
    const rec = Buffer.concat([Buffer.from([0x82, 0x01]), pack('one'), pack('t'), pack(new EventTime(5, 6))]);
    const out = run([Buffer.concat([Buffer.from([0x93]), pack('a'), pack(now), rec])]);
    assert.deepEqual(out.frames[0]!.events[0]!.body, { 1: 'one', t: new EventTime(5, 6) });
  });

  test('times: integers of every width, floats (fraction to nanoseconds), EventTime as fixext 8 and ext 8; others refused', () => {
    const t = (time: Buffer) => run([Buffer.concat([Buffer.from([0x93]), pack('a'), time, pack({})])]);
    const one = (time: Buffer) => t(time).frames[0]?.events[0] && { sec: t(time).frames[0]!.events[0]!.sec, nsec: t(time).frames[0]!.events[0]!.nsec };
    assert.deepEqual(one(Buffer.from([0x05])), { sec: 5, nsec: 0 });
    assert.deepEqual(one(Buffer.from([0xce, 0x65, 0x53, 0xf1, 0x00])), { sec: 0x6553f100, nsec: 0 });
    assert.deepEqual(one(Buffer.from([0xcf, 0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00])), { sec: 0x6553f100, nsec: 0 });
    assert.deepEqual(one(pack(1.5)), { sec: 1, nsec: 500_000_000 });
    assert.deepEqual(one(Buffer.from([0xc7, 8, 0, 0, 0, 0, 9, 0, 0, 0, 7])), { sec: 9, nsec: 7 });
    for (const bad of [Buffer.from([0xcf, 0, 0, 0, 1, 0, 0, 0, 0]), Buffer.from([0xff]), Buffer.from([0xd6, 0xff, 0, 0, 0, 1]), pack(-1.5)]) {
      assert.equal(t(bad).error?.reason, 'malformed', bad.toString('hex'));
    }
  });
});

describe('forward handshake', () => {
  const sha = (...p: (string | Buffer)[]) => p.reduce((h, x) => h.update(x), createHash('sha512')).digest('hex');
  const ping = (hs: ServerHandshake, key: string, user = '', password = '') => {
    const salt = 'client-salt';
    const frame = pack(['PING', 'client', salt, sha(salt, 'client', hs.nonce, key), user, user ? sha(hs.authSalt, user, password) : '']);
    return hs.ping(frame, 0, frame.length);
  };

  test('HELO carries a 16-byte nonce; a PING with the right key gets a PONG proving the server knows it too', () => {
    const hs = new ServerHandshake({ sharedKey: 'k', selfHostname: 'server', users: new Map() });
    const helo = packr.unpack(hs.helo());
    assert.equal(helo[0], 'HELO');
    assert.equal(helo[1].nonce.length, 16);
    assert.equal(helo[1].auth, '');
    const r = ping(hs, 'k');
    assert.ok(r.ok);
    assert.deepEqual(packr.unpack(r.pong!), ['PONG', true, '', 'server', sha('client-salt', 'server', hs.nonce, 'k')]);
  });

  test('a wrong key, a wrong password or an unknown user is refused with a PONG saying why; a PING of the wrong shape is a handshake error', () => {
    const users = new Map([['ann', 'pw']]);
    const hs = new ServerHandshake({ sharedKey: 'k', selfHostname: 'server', users });
    assert.ok(ping(hs, 'k', 'ann', 'pw').ok);
    for (const [r, why] of [[ping(hs, 'nope', 'ann', 'pw'), 'shared_key mismatch'], [ping(hs, 'k', 'ann', 'wrong'), 'username/password mismatch'], [ping(hs, 'k', 'bob', 'pw'), 'username/password mismatch']] as const) {
      assert.ok(!r.ok);
      assert.equal(r.reason, 'auth_failed');
      assert.deepEqual(packr.unpack(r.pong!), ['PONG', false, why, '', '']);
    }
    const notPing = pack(['a', 1, {}]);
    const r = hs.ping(notPing, 0, notPing.length);
    assert.ok(!r.ok && r.reason === 'handshake' && r.pong === undefined);
  });
});

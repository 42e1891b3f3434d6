// The json parser's fast path (tail) against its slow one: for any line,
// writeEvent either bails (the caller then parses the text) or writes the
// very bytes that parse() and the record encoder make, and says unmatched
// exactly when parse() does.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileParser } from '../../../host/parsers/registry.ts';
import { JsonParser } from '../../../host/parsers/json.ts';
import { BAIL, UNMATCHED } from '../../../host/parsers/json-event.ts';
import { NO_ROOM } from '../../../host/engine/record-encoder.ts';
import { encodeEvent, EventTime } from '../../../sdk/src/codec/events.ts';
import type { ParserDef } from '../../../host/parsers/parser.ts';

const json = (extra: Partial<ParserDef> = {}) => compileParser({ name: 't', format: 'json', ...extra }) as JsonParser;
const PARSERS = [
  json({ time_format: '%Y-%m-%dT%H:%M:%S.%LZ' }),
  json({ time_format: '%Y-%m-%dT%H:%M:%S.%LZ', time_keep: 'on' }),
  json(),
  json({ time_key: 'ts', time_format: '%s' }),
];
const READ = new EventTime(1_700_000_000, 123_000_000);

/** What the slow path makes of a line: the event's bytes, or "unmatched"; and whether it was a time error. */
function slow(p: JsonParser, line: string): { bytes: Buffer | 'unmatched'; timeError: boolean } {
  const r = p.parse(line);
  if (!r) return { bytes: 'unmatched', timeError: false };
  return { bytes: encodeEvent(r.body, r.time ?? READ), timeError: r.timeError !== undefined };
}

/** The line inside a buffer between bytes a reader past its ends would take for JSON. */
function framed(line: string, after = '"}:,1]e0'): { src: Buffer; start: number; end: number } {
  const before = Buffer.from('{"x":"');
  const body = Buffer.from(line, 'utf8');
  return { src: Buffer.concat([before, body, Buffer.from(after)]), start: before.length, end: before.length + body.length };
}
const AFTER = ['"}:,1]e0', '}', ',"b":1}', ':1}', '"', '0}', 'e5}', 'rue}', 'u0041"}'];

// Raw JSON text, with what JSON.stringify never writes: every escape, number forms, spaces, and invalid pieces.
const ESCAPES = ['\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t', '\\u00e9', '\\u00E9', '\\u0000', '\\u20ac', '\\ud83d\\ude00', '\\uD83D\\uDE00', '\\ud800', '\\udc00', '\\ud800x', '\\u12G4', '\\x', '\\'];
const plain = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }).map((s) => s.replace(/["\\\u0000-\u001f]/g, '')) },
  { weight: 1, arbitrary: fc.constantFrom('\u0001', '\t', '\u007f', '\u2028', '€', '😀') },
);
const rawString = fc.array(fc.oneof({ weight: 6, arbitrary: plain }, { weight: 1, arbitrary: fc.constantFrom(...ESCAPES) }), { maxLength: 12 }).map((p) => `"${p.join('')}"`);
const longString = fc.string({ unit: 'grapheme-ascii', minLength: 20, maxLength: 300 }).map((s) => JSON.stringify(s));
const digits = (min: number, max: number) => fc.array(fc.constantFrom(...'0123456789'), { minLength: min, maxLength: max }).map((d) => d.join(''));
const rawNumber = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.tuple(fc.constantFrom('', '-'), fc.oneof(fc.constant('0'), fc.tuple(fc.constantFrom(...'123456789'), digits(0, 22)).map(([a, b]) => a + b)), fc.option(digits(1, 20)), fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(1, 4))))
    .map(([s, i, f, e]) => `${s}${i}${f === null ? '' : `.${f}`}${e === null ? '' : e.join('')}`),
  fc.constantFrom('-0', '0', '9007199254740993', '999999999999999', '1000000000000000', '-2147483649', '4294967296', '1e400', '-1e-400', '01', '1.', '.5', '+1', '-', '1e', '0x1', '1.5e+', '--1', 'NaN', 'Infinity'),
);
const TIMES = ['"2025-01-01T00:00:09.123Z"', '"2025-01-01T00:00:09.124Z"', '"2025-01-01T00:00:10.5Z"', '"1700000000"', '"yesterday"', '""', '12', 'null', '"2025-01-01T00:00:09.123Z\\u0000"', '"\\u0032025-01-01T00:00:09.123Z"'];
const value = fc.oneof(
  { weight: 4, arbitrary: rawString },
  { weight: 1, arbitrary: longString },
  { weight: 3, arbitrary: rawNumber },
  { weight: 1, arbitrary: fc.constantFrom('true', 'false', 'null', 'tru', 'nul', 'falsey', '{}', '{"a":1}', '[1,"x"]', '[]') },
);
const key = fc.oneof(
  { weight: 4, arbitrary: rawString },
  { weight: 2, arbitrary: fc.constantFrom('"time"', '"ts"', '"__proto__"', '"0"', '"12"', '"1a"', '"-1"', '""', '"log"', '"tim\\u0065"') },
);
const ws = fc.constantFrom('', '', '', ' ', '\t', '\r', ' \n ');
const pair = fc.tuple(key, ws, ws, fc.oneof({ weight: 5, arbitrary: value }, { weight: 2, arbitrary: fc.constantFrom(...TIMES) }), ws).map(([k, a, b, v, c]) => `${k}${a}:${b}${v}${c}`);
const whole = fc.tuple(ws, fc.array(pair, { maxLength: 20 }), ws, fc.constantFrom('', '', '', '', ',', '}', ' x', '{}', 'garbage'), fc.constantFrom('{', '{', '{', '{', '[', 'x', '')).map(
  ([a, pairs, b, tail, open]) => `${a}${open}${pairs.join(',')}${open === '{' ? '}' : ''}${b}${tail}`,
);
/** Some lines cut short anywhere (a line longer than the buffer, a line still being written). */
const line = fc.tuple(whole, fc.option(fc.nat(), { freq: 4 })).map(([l, cut]) => (cut === null ? l : l.slice(0, cut % (l.length + 1))));
/** Lines as a JSON logger writes them: what the fast path must take. */
const typical = fc.tuple(fc.dictionary(fc.stringMatching(/^[a-zA-Z_@][\w.@-]{0,15}$/), fc.oneof(fc.string({ unit: 'grapheme' }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null)), { maxKeys: 20 }), fc.integer({ min: 0, max: 999 }))
  .map(([o, ms]) => JSON.stringify({ time: `2025-01-01T00:00:09.${String(ms).padStart(3, '0')}Z`, ...o, ...(ms % 2 ? {} : { time: `2025-01-01T00:00:09.${String(ms).padStart(3, '0')}Z` }) }));

describe('json parser fast path (writeEvent)', () => {
  test('bails, or writes the bytes the slow path makes; unmatched exactly when parse() is; time errors bail', () => {
    let written = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.oneof(line, typical), fc.nat(PARSERS.length - 1), fc.constantFrom(...AFTER), (text, k, after) => {
        const p = PARSERS[k]!;
        const { src, start, end } = framed(text, after);
        const out = Buffer.alloc(3 + 6 * (end - start) + 64, 0xee);
        const r = p.writeEvent(src, start, end, out, 3, out.length, READ.sec, READ.nsec);
        const s = slow(p, text);
        runs++;
        if (r === BAIL) return;
        if (r === UNMATCHED) return assert.equal(s.bytes, 'unmatched', `unmatched, but parse() takes ${JSON.stringify(text)}`);
        assert.ok(r >= 0, `answer ${r}`);
        assert.notEqual(s.bytes, 'unmatched', `written, but parse() refuses ${JSON.stringify(text)}`);
        assert.equal(s.timeError, false, `written, but parse() has a time error for ${JSON.stringify(text)}`);
        assert.deepEqual(out.subarray(3, r), s.bytes, JSON.stringify(text));
        written++;
      }),
      { numRuns: 5000 },
    );
    // The property would hold for a fast path that always bails.
    assert.ok(written > runs / 5, `only ${written} of ${runs} lines took the fast path`);
  });

  test('typical JSON log lines all take the fast path', () => {
    fc.assert(
      fc.property(typical, (text) => {
        const { src, start, end } = framed(text);
        const out = Buffer.alloc(6 * (end - start) + 64);
        assert.ok(PARSERS[0]!.writeEvent(src, start, end, out, 0, out.length, 1, 2) >= 0, text);
      }),
      { numRuns: 500 },
    );
  });

  test('never writes at or past limit; what it writes with room to spare is whole', () => {
    fc.assert(
      fc.property(fc.oneof(line, typical), fc.nat(600), (text, limit) => {
        const p = PARSERS[0]!;
        const { src, start, end } = framed(text);
        const out = Buffer.alloc(limit + 2000, 0xee);
        const r = p.writeEvent(src, start, end, out, 0, limit, READ.sec, READ.nsec);
        assert.ok(out.subarray(limit).every((b) => b === 0xee), 'nothing written at or past limit');
        if (r === NO_ROOM) {
          const roomy = Buffer.alloc(4000);
          const full = p.writeEvent(src, start, end, roomy, 0, roomy.length, READ.sec, READ.nsec);
          assert.ok(full === BAIL || full > limit - 2 * (end - start) - 32, 'refused though it fits easily');
        } else if (r >= 0) assert.deepEqual(out.subarray(0, r), slow(p, text).bytes);
      }),
      { numRuns: 2000 },
    );
  });

  test('examples: escapes, numbers, the time key, map sizes', () => {
    const p = PARSERS[0]!;
    const fast = (text: string) => {
      const { src, start, end } = framed(text);
      const out = Buffer.alloc(4096);
      const r = p.writeEvent(src, start, end, out, 0, out.length, READ.sec, READ.nsec);
      return r < 0 ? r : out.subarray(0, r);
    };
    for (const text of [
      '{}',
      ' { "a" : 1 , "b" : "x" } ',
      '{"time":"2025-01-01T00:00:09.123Z","level":"INFO","pid":4986,"log":"request_id=79c2251bc14d50e1 msg=\\"items\\" \\u00e9\\ud83d\\ude00"}',
      '{"n":[-0,0,127,128,255,256,65535,65536,4294967295,4294967296,-32,-33,-128,-129,-32768,-32769,-2147483648,-2147483649,1.5,1e3,1E-3,9007199254740993]}'.replace(/"n":\[(.*)\]/, (_, xs: string) => xs.split(',').map((x, i) => `"k${i}":${x}`).join(',')),
      `{"s":"${'x'.repeat(31)}","t":"${'x'.repeat(32)}","u":"${'é'.repeat(200)}","v":"${'\\u00e9'.repeat(20)}","w":"${'\\n'.repeat(300)}"}`,
      `{${Array.from({ length: 16 }, (_, i) => `"k${i}":${i}`).join(',')}}`,
      '{"a":true,"b":false,"c":null,"time":""}',
    ]) {
      const r = fast(text);
      assert.ok(r instanceof Buffer, `${text}: ${r}`);
      assert.deepEqual(r, slow(p, text).bytes, text);
    }
    for (const text of ['{"a":{"b":1}}', '{"a":[1]}', '{"a":1,"a":2}', '{"1":1}', '{"a\\u0062":1}', '{"a":"\\ud800"}', '{"time":"yesterday"}', '{"time":12}', '{"a":01}', '{"a":1,}', '{"a":1} x']) {
      assert.equal(fast(text), BAIL, text);
    }
    for (const text of ['', '   ', 'plain text', '[1]', '"s"', '\ufeff{}']) assert.equal(fast(text), UNMATCHED, JSON.stringify(text));
  });
});

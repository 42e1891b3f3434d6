// The pieces of the network inputs that need no socket: the JSON byte
// scanner agrees with JSON.parse and points at the right byte, the HTTP body
// decoder, and the TCP framer's cuts, offsets and long-record skipping.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pack } from 'msgpackr';
import { scanValue } from '../../host/inputs/net/json-scan.ts';
import { parseJsonValues } from '../../host/inputs/net/json-records.ts';
import { decode, formatOf } from '../../host/inputs/http/decode.ts';
import { Framer } from '../../host/inputs/tcp/framer.ts';
import { parseKb, unescapeSeparator } from '../../host/inputs/tcp/tcp.ts';

describe('JSON scanner', () => {
  const valid = [
    '{}', '[]', '0', '-0.5e+10', '"a\\u00e9\\n\\"b"', 'true', 'null', ' {"a": [1, {"b": [[]]}, "}"], "c": {}} ',
    '"ünï"', '[1,2,3]', '{"a":-1E-2}', '"\\/"',
  ];
  for (const text of valid) {
    test(`accepts ${text}`, () => {
      const r = scanValue(Buffer.from(text), 0);
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(Buffer.from(text).subarray(r.end).toString().trim(), '');
    });
  }

  // [text, byte offset of the first error]
  const invalid: [string, number][] = [
    ['{"a": tru}', 9], ['{"a" 1}', 5], ['{a:1}', 1], ['[1,]', 3], ['{"a":1,}', 7], ['1.', 2], ['-', 1],
    ['"abc', 4], ['"a\nb"', 2], ['"\\x"', 2], ['"\\u12g4"', 5], ['{"é": x}', 7], ['[1 2]', 3], ['', 0], ['{', 1], ['nul', 3],
  ];
  for (const [text, at] of invalid) {
    test(`refuses ${JSON.stringify(text)} at byte ${at}`, () => {
      assert.throws(() => JSON.parse(text));
      const r = scanValue(Buffer.from(text), 0);
      assert.ok(!r.ok, `accepted ${text}`);
      assert.equal(r.ok ? -1 : r.at, at, JSON.stringify(r));
    });
  }

  test('finds the end of each value in a run', () => {
    const buf = Buffer.from('{"a":1}{"b":"}{"} [{"c":2}] x');
    const { values, problem } = parseJsonValues(buf, 0, buf.length);
    assert.deepEqual(values, [{ a: 1 }, { b: '}{' }, [{ c: 2 }]]);
    assert.equal(problem?.at, buf.indexOf('x'));
  });

  test('deep nesting costs no stack', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    assert.ok(scanValue(Buffer.from(deep), 0).ok);
  });
});

// '01' is special: JSON.parse refuses it, the scanner reads the value 0 and the rest is extra.
test('scanner: "01" is the value 0 and then more', () => {
  const r = scanValue(Buffer.from('01'), 0);
  assert.deepEqual(r, { ok: true, end: 1 });
});

describe('HTTP body decoding', () => {
  const body = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s) : s);

  test('content types', () => {
    assert.equal(formatOf(undefined), 'json');
    assert.equal(formatOf('application/json; charset=utf-8'), 'json');
    assert.equal(formatOf('Application/X-NDJSON'), 'ndjson');
    assert.equal(formatOf('application/msgpack'), 'msgpack');
    assert.equal(formatOf('text/plain'), undefined);
  });

  test('JSON object, array, and NDJSON detected after a newline', () => {
    assert.deepEqual(decode('json', body('{"a":1}')), { ok: true, records: [{ a: 1 }] });
    assert.deepEqual(decode('json', body('[{"a":1},{"b":2}]')), { ok: true, records: [{ a: 1 }, { b: 2 }] });
    assert.deepEqual(decode('json', body('{"a":1}\n{"b":2}\n')), { ok: true, records: [{ a: 1 }, { b: 2 }] });
  });

  test('JSON errors: byte offset and line', () => {
    const r = decode('json', body('{\n  "a": 1,\n  "b": nope\n}'));
    assert.ok(!r.ok);
    assert.equal(r.offset, 20);
    assert.equal(r.line, 3);
    // Two values on one line are not NDJSON.
    const two = decode('json', body('{"a":1} {"b":2}'));
    assert.ok(!two.ok && two.offset === 8, JSON.stringify(two));
    const scalar = decode('json', body('[{"a":1}, 2]'));
    assert.ok(!scalar.ok && /element 1 of the array is a number/.test(scalar.error), JSON.stringify(scalar));
    assert.ok(!decode('json', body('  ')).ok);
  });

  test('NDJSON: blank lines skipped; errors name the line', () => {
    assert.deepEqual(decode('ndjson', body('\n{"a":1}\r\n\n{"b":2}')), { ok: true, records: [{ a: 1 }, { b: 2 }] });
    const r = decode('ndjson', body('{"a":1}\n{"b":}\n'));
    assert.ok(!r.ok);
    assert.equal(r.line, 2);
    assert.equal(r.offset, 13);
  });

  test('MessagePack: maps, arrays of maps, several values; errors give the offset of the bad value', () => {
    assert.deepEqual(decode('msgpack', pack({ a: 1 })), { ok: true, records: [{ a: 1 }] });
    assert.deepEqual(decode('msgpack', Buffer.concat([pack([{ a: 1 }]), pack({ b: 2 })])), { ok: true, records: [{ a: 1 }, { b: 2 }] });
    const first = pack({ a: 1 });
    const r = decode('msgpack', Buffer.concat([first, pack('str')]));
    assert.ok(!r.ok && r.offset === first.length, JSON.stringify(r));
    const truncated = decode('msgpack', pack({ a: 'long string' }).subarray(0, 6));
    assert.ok(!truncated.ok, JSON.stringify(truncated));
    const bin = decode('msgpack', pack(Buffer.from('bytes')));
    assert.ok(!bin.ok, 'binary data is not a map');
  });

  test('forms, and JSON sent with the form type (curl -d)', () => {
    assert.deepEqual(decode('form', body('a=1&b=x%20y')), { ok: true, records: [{ a: '1', b: 'x y' }] });
    assert.deepEqual(decode('form', body(' {"a":1}')), { ok: true, records: [{ a: 1 }] });
  });
});

describe('TCP framer', () => {
  function frame(sep: string, max: number, pieces: string[], end = true) {
    const records: [string, number, number][] = [];
    const long: [number, number][] = [];
    const f = new Framer(Buffer.from(sep), max, {
      record: (buf, s, e, offset, index) => records.push([buf.toString('utf8', s, e), offset, index]),
      tooLong: (offset, index) => long.push([offset, index]),
    });
    for (const p of pieces) f.push(Buffer.from(p));
    if (end) f.end();
    return { records, long };
  }

  test('cuts at the separator, across pushes, with offsets and record numbers', () => {
    const { records } = frame('\n', 100, ['ab\ncd', 'e\n', '\nf']);
    assert.deepEqual(records, [['ab', 0, 1], ['cde', 3, 2], ['', 7, 3], ['f', 8, 4]]);
  });

  test('a separator of several bytes split between pushes', () => {
    const { records } = frame('<>', 100, ['a<', '>b<', '', '>c']);
    assert.deepEqual(records.map((r) => r[0]), ['a', 'b', 'c']);
  });

  test('a record over the limit is reported once, skipped to the next separator, also when it comes in pieces', () => {
    const { records, long } = frame('\n', 4, ['ok\n12345', '6789', '0\nfine\n12345\nend']);
    assert.deepEqual(records.map((r) => r[0]), ['ok', 'fine', 'end']);
    assert.deepEqual(long, [[3, 2], [19, 4]]);
    assert.deepEqual(records.map((r) => [r[1], r[2]]), [[0, 1], [14, 3], [25, 5]]);
  });

  test('a record over the limit that ends the stream is not emitted', () => {
    const { records, long } = frame('\n', 3, ['a\nlonger'], true);
    assert.deepEqual(records.map((r) => r[0]), ['a']);
    assert.equal(long.length, 1);
  });
});

test('tcp sizes: a bare number is KB, as in Fluent Bit', () => {
  assert.equal(parseKb(32), 32 * 1024);
  assert.equal(parseKb('64'), 64 * 1024);
  assert.equal(parseKb('1M'), 1024 * 1024);
  assert.equal(parseKb('512k'), 512 * 1024);
  assert.equal(parseKb('lots'), undefined);
});

test('tcp separator escapes', () => {
  assert.equal(unescapeSeparator('\\n'), '\n');
  assert.equal(unescapeSeparator('\\r\\n'), '\r\n');
  assert.equal(unescapeSeparator('|'), '|');
  assert.equal(unescapeSeparator('\\\\'), '\\');
});

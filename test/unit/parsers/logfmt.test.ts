import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileParser } from '../../../host/parsers/registry.ts';
import { unescape } from '../../../host/parsers/logfmt.ts';
import type { ParserDef } from '../../../host/parsers/parser.ts';

const logfmt = (extra: Partial<ParserDef> = {}) => compileParser({ name: 't', format: 'logfmt', ...extra });

describe('format logfmt', () => {
  test('key=value, quoted values, bare keys', () => {
    assert.deepEqual(logfmt().parse('level=info msg="hello world" took=3ms cached'), {
      body: { level: 'info', msg: 'hello world', took: '3ms', cached: true },
    });
  });

  test('key= with nothing is true (as Fluent Bit); key="" is the empty text', () => {
    assert.deepEqual(logfmt().parse('a= b="" c'), { body: { a: true, b: '', c: true } });
  });

  test('escapes in quoted values', () => {
    assert.deepEqual(logfmt().parse('m="say \\"hi\\"\\n\\ttab \\\\ \\u00e9 \\q"')!.body, { m: 'say "hi"\n\ttab \\ é q' });
    assert.equal(unescape('end\\'), 'end\\');
    assert.equal(unescape('\\u12'), 'u12');
  });

  test('an unterminated quote runs to the end of the line', () => {
    assert.deepEqual(logfmt().parse('a=1 b="open ended'), { body: { a: '1', b: 'open ended' } });
  });

  test('text that is not a key is skipped', () => {
    assert.deepEqual(logfmt().parse('  ="x" a=1 = b=2  '), { body: { x: true, a: '1', b: '2' } });
  });

  test('no keys at all: undefined', () => {
    for (const line of ['', '   ', '= = =', '"""']) assert.equal(logfmt().parse(line), undefined, JSON.stringify(line));
  });

  test('the record ends at a newline', () => {
    assert.deepEqual(logfmt().parse('a=1\nb=2'), { body: { a: '1' } });
  });

  test('logfmt_no_bare_keys: a bare key makes the line not logfmt', () => {
    assert.equal(logfmt({ logfmt_no_bare_keys: true }).parse('a=1 flag'), undefined);
    assert.deepEqual(logfmt({ logfmt_no_bare_keys: true }).parse('a=1 b=2'), { body: { a: '1', b: '2' } });
  });

  test('time and types', () => {
    const r = logfmt({ time_format: '%Y-%m-%dT%H:%M:%S.%L%z', types: 'n:integer ok:bool' }).parse('time=2024-01-15T10:20:30.5Z n=12 ok=false')!;
    assert.deepEqual(r.body, { n: 12, ok: false });
    assert.equal(r.time!.toISOString(), '2024-01-15T10:20:30.500000000Z');
    const bad = logfmt({ time_format: '%s' }).parse('time=soon n=1')!;
    assert.deepEqual(bad.body, { time: 'soon', n: '1' });
    assert.match(bad.timeError!, /does not match/);
  });

  test('a "__proto__" key is an ordinary field', () => {
    const r = logfmt().parse('__proto__=x constructor=y')!;
    assert.equal(Object.getPrototypeOf(r.body), Object.prototype);
    assert.deepEqual(Object.entries(r.body), [['__proto__', 'x'], ['constructor', 'y']]);
  });

  // Keys: characters above space but = and "; values: anything, quoted and escaped.
  const keyChar = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => c.charCodeAt(0) > 32 && c !== '=' && c !== '"');
  const key = fc.oneof(fc.string({ unit: keyChar, minLength: 1, maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'time'));
  const quote = (v: string) => `"${v.replace(/[\\"\n\r\t]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!)}"`;

  test('property: key/values written as logfmt parse back to them', () => {
    const p = logfmt();
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, fc.string({ unit: 'binary' })), { selector: ([k]) => k, minLength: 1, maxLength: 8 }), fc.constantFrom(' ', '  ', '\t'), (pairs, sep) => {
        const line = pairs.map(([k, v]) => `${k}=${quote(v)}`).join(sep);
        const r = p.parse(line);
        assert.ok(r, line);
        // Maps: objects list integer-like keys first, whatever the line's order.
        assert.deepEqual(new Map(Object.entries(r.body)), new Map(pairs));
      }),
      { numRuns: 500 },
    );
  });

  test('property: random and mutated lines never throw', () => {
    const p = logfmt({ time_format: '%Y-%m-%dT%H:%M:%S.%L%z', types: 'a:integer b:float c:bool d:hex' });
    const valid = fc.constantFrom('time=2024-01-15T10:20:30.5Z a=1 b=2.5 c=true d=ff msg="x \\"y\\""');
    const mutated = fc.tuple(valid, fc.nat(), fc.string({ unit: 'binary', maxLength: 3 })).map(([s, at, ins]) => s.slice(0, at % s.length) + ins + s.slice((at % s.length) + 1));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), mutated), (line) => {
        const r = p.parse(line);
        assert.ok(r === undefined || typeof r.body === 'object');
      }),
      { numRuns: 2000 },
    );
  });
});

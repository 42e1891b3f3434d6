import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileParser } from '../../../host/parsers/registry.ts';
import { compileRubyRegex, translateRubyRegex, unnamedGroups } from '../../../host/parsers/regex.ts';
import type { ParserDef } from '../../../host/parsers/parser.ts';

const rx = (regex: string, extra: Partial<ParserDef> = {}) => compileParser({ name: 't', format: 'regex', regex, ...extra });

describe('format regex', () => {
  test('named groups become the body, in pattern order', () => {
    assert.deepEqual(rx('^(?<level>\\w+) (?<msg>.*)$').parse('INFO all good'), { body: { level: 'INFO', msg: 'all good' } });
  });

  test('no match: undefined', () => {
    assert.equal(rx('^(?<level>[A-Z]+) ').parse('no match here'), undefined);
  });

  test('the pattern is searched for, not anchored (as Onigmo\'s search)', () => {
    assert.deepEqual(rx('id=(?<id>\\d+)').parse('request id=42 done'), { body: { id: '42' } });
  });

  test('unmatched optional groups are left out; empty ones too unless skip_empty_values is off', () => {
    const re = '^(?<a>\\w*)(?: \\[(?<b>\\d+)\\])? (?<c>.*)$';
    assert.deepEqual(rx(re).parse(' text'), { body: { c: 'text' } });
    assert.deepEqual(rx(re, { skip_empty_values: 'off' }).parse(' text'), { body: { a: '', c: 'text' } });
    assert.deepEqual(rx(re).parse('x [7] text'), { body: { a: 'x', b: '7', c: 'text' } });
  });

  test('unnamed groups are not fields', () => {
    assert.deepEqual(rx('^(\\w+)-(?<n>\\d+)$').parse('abc-12'), { body: { n: '12' } });
  });

  test('time_key/time_format/time_keep', () => {
    const re = '^(?<time>[^ ]+) (?<msg>.*)$';
    const dropped = rx(re, { time_format: '%Y-%m-%dT%H:%M:%S%z' }).parse('2024-01-15T10:20:30+02:00 hello')!;
    assert.deepEqual(dropped.body, { msg: 'hello' });
    assert.equal(dropped.time!.toISOString(), '2024-01-15T08:20:30.000000000Z');
    const kept = rx(re, { time_format: '%Y-%m-%dT%H:%M:%S%z', time_keep: true }).parse('2024-01-15T10:20:30+02:00 hello')!;
    assert.deepEqual(kept.body, { time: '2024-01-15T10:20:30+02:00', msg: 'hello' });
    const other = rx('^(?<ts>\\d+) (?<msg>.*)$', { time_key: 'ts', time_format: '%s' }).parse('1700000000 hi')!;
    assert.deepEqual(other.body, { msg: 'hi' });
    assert.equal(other.time!.sec, 1700000000);
  });

  test('a bad time keeps the record and the field, with timeError', () => {
    const r = rx('^(?<time>\\S+) (?<msg>.*)$', { time_format: '%Y-%m-%d' }).parse('soon hello')!;
    assert.deepEqual(r.body, { time: 'soon', msg: 'hello' });
    assert.equal(r.time, undefined);
    assert.match(r.timeError!, /does not match time_format/);
  });

  test('types cast the captured text', () => {
    const p = rx('^(?<n>\\S+) (?<ok>\\S+) (?<f>\\S+) (?<h>\\S+) (?<s>\\S+)$', { types: 'n:integer ok:bool f:float h:hex s:string' });
    assert.deepEqual(p.parse('42 true 1.5 ff 007')!.body, { n: 42, ok: true, f: 1.5, h: 255, s: '007' });
  });

  test('Ruby /.../ delimiters and i, m, x options', () => {
    assert.deepEqual(rx('/^(?<w>hello)$/').parse('hello'), { body: { w: 'hello' } });
    assert.deepEqual(rx('/^(?<w>hello)$/i').parse('HeLLo'), { body: { w: 'HeLLo' } });
    assert.deepEqual(rx('/^(?<all>.+)$/m').parse('a\nb'), { body: { all: 'a\nb' } });
    const extended = rx('/^ (?<a> \\d+ )  # the number\n  \\s (?<b> [a-z ]+ ) $/x');
    assert.deepEqual(extended.parse('12 ab c'), { body: { a: '12', b: 'ab c' } });
  });

  test('a leading slash that is not a delimiter is part of the pattern (paths)', () => {
    assert.deepEqual(rx('/var/log/(?<file>[^/]+)$').parse('/var/log/syslog'), { body: { file: 'syslog' } });
  });

  test('^ and $ match at line ends, as in Ruby', () => {
    assert.deepEqual(rx('^(?<first>.*)$').parse('one\ntwo'), { body: { first: 'one' } });
  });

  test('Ruby-only syntax: \\h, \\A, \\z, (?\'name\'...), (?#...)', () => {
    assert.deepEqual(rx("\\A(?'id'\\h+)(?# a comment)-(?<rest>[\\h-]+)\\z").parse('dead-beef-01'), { body: { id: 'dead', rest: 'beef-01' } });
    assert.equal(rx('\\A(?<x>a)\\z').parse('a\n'), undefined);
    assert.deepEqual(rx('(?<x>a)\\Z').parse('a\n'), { body: { x: 'a' } });
    assert.equal(translateRubyRegex('[]a]').source, '[\\]a]');
    assert.equal(translateRubyRegex('[^]a]').source, '[^\\]a]');
  });

  test('a "__proto__" group is an ordinary field', () => {
    const r = rx('^(?<__proto__>.*)$').parse('x')!;
    assert.equal(Object.getPrototypeOf(r.body), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(r.body, '__proto__')!.value, 'x');
  });

  test('property: random and mutated lines never throw', () => {
    const p = rx('^(?<host>\\S+) (?<user>\\S+) \\[(?<time>[^\\]]+)\\] "(?<req>[^"]*)" (?<code>\\d+)$', { time_format: '%d/%b/%Y:%H:%M:%S %z', types: 'code:integer' });
    const valid = fc.constantFrom('1.2.3.4 bob [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200');
    const mutated = fc.tuple(valid, fc.nat(), fc.string({ unit: 'binary', maxLength: 3 })).map(([s, at, ins]) => s.slice(0, at % s.length) + ins + s.slice((at % s.length) + 1));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), mutated), (line) => {
        const r = p.parse(line);
        assert.ok(r === undefined || typeof r.body === 'object');
      }),
      { numRuns: 2000 },
    );
  });

  test('property: the pattern with its groups unnamed captures what each named group does', () => {
    // Random patterns of the pieces the scan must tell apart: classes holding parens, escaped parens, lookarounds, groups of every kind.
    let names = 0;
    const atom: fc.Arbitrary<string> = fc.letrec((tie) => ({
      atom: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constantFrom('a', 'b', '(?:)', '[a(]', '[^)b]', '\\(', '\\)', '\\[', '.', '[\\]a]', '\\d'),
        fc.tuple(tie('seq') as fc.Arbitrary<string>, fc.constantFrom('(?<N>', '(', '(?:', '(?=', '(?!', '(?<=', '(?<!')).map(([inner, open]) => `${open}${inner})`),
      ),
      seq: fc.array(fc.tuple(tie('atom') as fc.Arbitrary<string>, fc.constantFrom('', '', '?', '*', '+', '|')).map(([a, q]) => a + q), { minLength: 1, maxLength: 4 }).map((xs) => xs.join('')),
    })).seq;
    fc.assert(
      fc.property(atom, fc.array(fc.string({ unit: fc.constantFrom('a', 'b', '(', ')', '[', ']', '1', 'x'), maxLength: 12 }), { minLength: 1, maxLength: 8 }), (shape, texts) => {
        names = 0;
        const pattern = shape.replace(/\(\?<N>/g, () => `(?<g${names++}>`);
        let compiled;
        try {
          compiled = compileRubyRegex(pattern);
        } catch {
          return; // no named group, or not a valid pattern
        }
        const { regex, names: groupNames } = compiled;
        const u = unnamedGroups(regex.source, regex.flags, groupNames);
        assert.ok(u, `${pattern}: no unnamed form`);
        for (const t of texts) {
          const m = regex.exec(t);
          const n = u.regex.exec(t);
          assert.equal(n === null, m === null, `${pattern} on ${t}`);
          if (m && n) for (let k = 0; k < groupNames.length; k++) assert.equal(n[u.index[k]!], m.groups![groupNames[k]!], `${pattern} on ${t}: ${groupNames[k]}`);
        }
      }),
      { numRuns: 2000 },
    );
    assert.equal(unnamedGroups('(?<a>x)\\k<a>', 'm', ['a']), undefined, 'a named backreference keeps the names');
  });
});

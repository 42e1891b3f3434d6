import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileParser } from '../../../host/parsers/registry.ts';
import type { ParserDef } from '../../../host/parsers/parser.ts';

const ltsv = (extra: Partial<ParserDef> = {}) => compileParser({ name: 't', format: 'ltsv', ...extra });

describe('format ltsv', () => {
  test('tab-separated label:value', () => {
    assert.deepEqual(ltsv().parse('host:127.0.0.1\tident:-\treq:GET /x HTTP/1.1\tstatus:200\tsize:'), {
      body: { host: '127.0.0.1', ident: '-', req: 'GET /x HTTP/1.1', status: '200', size: '' },
    });
  });

  test('values may hold colons and spaces', () => {
    assert.deepEqual(ltsv().parse('time:10:20:30\tmsg:a: b'), { body: { time: '10:20:30', msg: 'a: b' } });
  });

  test('a field that is not label:value ends the record; the fields before it stay', () => {
    assert.deepEqual(ltsv().parse('a:1\tnot a field\tb:2'), { body: { a: '1' } });
    assert.deepEqual(ltsv().parse('a:1\tb:2\r\nc:3'), { body: { a: '1', b: '2' } });
  });

  test('a field with an empty label is skipped', () => {
    assert.deepEqual(ltsv().parse(':x\ta:1'), { body: { a: '1' } });
  });

  test('nothing label:value: undefined', () => {
    for (const line of ['', 'plain text', 'a b:c', '\ta:1']) assert.equal(ltsv().parse(line), undefined, JSON.stringify(line));
  });

  test('time and types', () => {
    const r = ltsv({ time_key: 'at', time_format: '%d/%b/%Y:%H:%M:%S %z', types: 'status:integer' }).parse('at:10/Oct/2000:13:55:36 -0700\tstatus:404')!;
    assert.deepEqual(r.body, { status: 404 });
    assert.equal(r.time!.toISOString(), '2000-10-10T20:55:36.000000000Z');
  });

  const label = fc.oneof(fc.stringMatching(/^[0-9A-Za-z_.-]{1,12}$/), fc.constantFrom('__proto__', 'constructor'));
  const value = fc.string({ unit: 'binary' }).map((s) => s.replace(/[\t\r\n\0]/g, ''));

  test('property: label/values written as ltsv parse back to them', () => {
    const p = ltsv();
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(label, value), { selector: ([k]) => k, minLength: 1, maxLength: 8 }), (pairs) => {
        const r = p.parse(pairs.map(([k, v]) => `${k}:${v}`).join('\t'));
        assert.ok(r);
        // Maps: objects list integer-like keys first, whatever the line's order.
        assert.deepEqual(new Map(Object.entries(r.body)), new Map(pairs));
      }),
      { numRuns: 500 },
    );
  });

  test('property: random and mutated lines never throw', () => {
    const p = ltsv({ time_format: '%Y-%m-%d', types: 'n:integer' });
    const valid = fc.constantFrom('time:2024-01-15\tn:12\tmsg:hello');
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

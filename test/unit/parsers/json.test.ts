import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileParser } from '../../../host/parsers/registry.ts';
import type { ParserDef } from '../../../host/parsers/parser.ts';

const json = (extra: Partial<ParserDef> = {}) => compileParser({ name: 't', format: 'json', ...extra });

describe('format json', () => {
  test('a JSON object line is the body, values keep their types', () => {
    assert.deepEqual(json().parse('{"a":1,"b":"x","c":[true,null],"d":{"e":1.5}}'), { body: { a: 1, b: 'x', c: [true, null], d: { e: 1.5 } } });
    assert.deepEqual(json().parse('  {"a":1}  '), { body: { a: 1 } });
  });

  test('not an object, or not JSON: undefined', () => {
    for (const line of ['', 'hello', '[1,2]', '"s"', '42', 'null', '{"a":', '{"a":1} trailing', '{"a":1}{"b":2}', '{a:1}']) {
      assert.equal(json().parse(line), undefined, line);
    }
  });

  test('without time_format the time field is left alone', () => {
    assert.deepEqual(json({ time_key: 'time' }).parse('{"time":"2024-01-15T10:20:30Z"}'), { body: { time: '2024-01-15T10:20:30Z' } });
  });

  test('time_key and time_format: the time is read and the field removed (time_keep off)', () => {
    const r = json({ time_format: '%Y-%m-%dT%H:%M:%S.%L%z' }).parse('{"time":"2024-01-15T10:20:30.25+01:00","msg":"hi"}')!;
    assert.deepEqual(r.body, { msg: 'hi' });
    assert.equal(r.time!.toISOString(), '2024-01-15T09:20:30.250000000Z');
    assert.equal(r.timeError, undefined);
  });

  test('time_keep on keeps the field; time_key names another field', () => {
    const r = json({ time_key: 'ts', time_format: '%s', time_keep: 'on' }).parse('{"ts":"1700000000","time":"x"}')!;
    assert.deepEqual(r.body, { ts: '1700000000', time: 'x' });
    assert.equal(r.time!.sec, 1700000000);
  });

  test('time_offset applies to times without a zone', () => {
    const r = json({ time_format: '%Y-%m-%d %H:%M:%S', time_offset: '+0900' }).parse('{"time":"2024-01-15 10:00:00"}')!;
    assert.equal(r.time!.toISOString(), '2024-01-15T01:00:00.000000000Z');
  });

  test('a time that does not parse: record kept with its field, no time, timeError says why', () => {
    const r = json({ time_format: '%Y-%m-%d' }).parse('{"time":"yesterday","a":1}')!;
    assert.deepEqual(r.body, { time: 'yesterday', a: 1 });
    assert.equal(r.time, undefined);
    assert.match(r.timeError!, /time "yesterday" does not match time_format "%Y-%m-%d": expected %Y/);
  });

  test('a time field that is not a string is a time error; an absent or empty one is none', () => {
    const p = json({ time_format: '%s' });
    assert.match(p.parse('{"time":1700000000}')!.timeError!, /is a number/);
    assert.match(p.parse('{"time":null}')!.timeError!, /is null/);
    assert.deepEqual(p.parse('{"a":1}'), { body: { a: 1 } });
    assert.deepEqual(p.parse('{"time":""}'), { body: { time: '' } });
  });

  test('types are ignored (JSON values have types), as in Fluent Bit', () => {
    assert.deepEqual(json({ types: 'a:integer' }).parse('{"a":"12"}'), { body: { a: '12' } });
  });

  test('a "__proto__" key stays an ordinary field', () => {
    const r = json().parse('{"__proto__":{"polluted":1}}')!;
    assert.equal(Object.getPrototypeOf(r.body), Object.prototype);
    assert.deepEqual(Object.keys(r.body), ['__proto__']);
    assert.equal(({} as { polluted?: number }).polluted, undefined);
  });

  test('property: random and mutated lines never throw', () => {
    const p = json({ time_format: '%Y-%m-%dT%H:%M:%S.%L%z' });
    const valid = fc.dictionary(fc.string(), fc.jsonValue()).map((o) => JSON.stringify({ ...o, time: '2024-01-15T10:20:30.5Z' }));
    const mutated = fc.tuple(valid, fc.nat(), fc.string({ unit: 'binary', maxLength: 4 })).map(([s, at, ins]) => s.slice(0, at % (s.length + 1)) + ins + s.slice((at % (s.length + 1)) + 1));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), valid, mutated), (line) => {
        const r = p.parse(line);
        assert.ok(r === undefined || (typeof r.body === 'object' && r.body !== null));
      }),
      { numRuns: 2000 },
    );
  });

  test('property: any JSON object parses back to itself', () => {
    const p = json();
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (o) => {
        assert.deepEqual(p.parse(JSON.stringify(o))!.body, JSON.parse(JSON.stringify(o)));
      }),
    );
  });
});

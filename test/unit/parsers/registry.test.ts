import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { applySpec } from '../../../sdk/src/config-spec.ts';
import { PARSER_SPEC, ParserDefError, ParserEntryError, Parsers, compileParser } from '../../../host/parsers/registry.ts';
import { STOCK_PARSERS } from '../../../host/parsers/stock.ts';
import type { Parser, ParserDef } from '../../../host/parsers/parser.ts';

function defError(def: ParserDef, key: string, message: RegExp): void {
  assert.throws(
    () => compileParser(def),
    (e: unknown) => {
      assert.ok(e instanceof ParserDefError, String(e));
      assert.equal(e.key, key);
      assert.match(e.message, message);
      return true;
    },
  );
}

describe('PARSER_SPEC', () => {
  test('fills Fluent Bit\'s defaults', () => {
    const { values, errors } = applySpec(PARSER_SPEC, { name: 'p', format: 'json' });
    assert.deepEqual(errors, []);
    assert.deepEqual(values, { name: 'p', format: 'json', time_key: 'time', time_keep: false, time_strict: true, time_system_timezone: false, skip_empty_values: true, logfmt_no_bare_keys: false });
  });

  test('gives per-key errors a config loader can report', () => {
    const { errors } = applySpec(PARSER_SPEC, { format: 'xml', time_keep: 'maybe', time_fromat: '%s' });
    assert.deepEqual(errors.map((e) => e.key).sort(), ['format', 'name', 'time_fromat', 'time_keep']);
    assert.match(errors.find((e) => e.key === 'time_fromat')!.message, /did you mean "time_format"/);
    assert.match(errors.find((e) => e.key === 'format')!.message, /json, regex, ltsv, logfmt/);
  });
});

describe('compileParser', () => {
  test('keys are read case-insensitively, as Fluent Bit; format too', () => {
    const p = compileParser({ name: 'p', format: 'Regex', Regex: '^(?<a>\\d+)$', Types: 'a:integer' } as ParserDef);
    assert.deepEqual(p.parse('12'), { body: { a: 12 } });
    assert.equal(p.name, 'p');
  });

  test('what the spec checks becomes a ParserDefError naming the key', () => {
    defError({ name: 'p', format: 'xml' }, 'format', /must be one of/);
    defError({ name: 'p', format: 'json', time_keep: 'perhaps' }, 'time_keep', /boolean/);
    defError({ name: 'p', format: 'json', decode_fields: 'json log' }, 'decode_fields', /unknown key/);
  });

  test('regex: required with format regex', () => {
    defError({ name: 'p', format: 'regex' }, 'regex', /required with format regex/);
  });

  test('regex: one that does not compile names JavaScript\'s error', () => {
    defError({ name: 'p', format: 'regex', regex: '^(?<a>[a-z+$' }, 'regex', /^does not compile: Invalid regular expression: .*Unterminated/);
    defError({ name: 'p', format: 'regex', regex: '(?<a>x)(?<a>y)' }, 'regex', /does not compile: .*[Dd]uplicate capture group name/);
    defError({ name: 'p', format: 'regex', regex: 'abc\\' }, 'regex', /lone backslash/);
  });

  test('regex: one without named groups', () => {
    defError({ name: 'p', format: 'regex', regex: '^(\\w+) (.*)$' }, 'regex', /no named groups/);
  });

  test('types: a bad entry', () => {
    defError({ name: 'p', format: 'logfmt', types: 'a:integer b:number' }, 'types', /"b:number" has an unknown type "number"/);
    defError({ name: 'p', format: 'logfmt', types: 'a' }, 'types', /not key:type/);
  });

  test('time_format: a bad directive', () => {
    defError({ name: 'p', format: 'json', time_format: '%Y-%m-%d %Q' }, 'time_format', /unsupported directive "%Q" at character 10/);
  });

  test('time_offset, time_zone: bad values and conflicts', () => {
    defError({ name: 'p', format: 'json', time_format: '%s', time_offset: '9 hours' }, 'time_offset', /must be like \+0900/);
    defError({ name: 'p', format: 'json', time_format: '%s', time_zone: 'Mars/Olympus' }, 'time_zone', /unknown time zone "Mars\/Olympus"/);
    defError({ name: 'p', format: 'json', time_format: '%s', time_zone: 'UTC', time_offset: '+01:00' }, 'time_zone', /time_offset/);
    defError({ name: 'p', format: 'json', time_format: '%s', time_zone: 'UTC', time_system_timezone: true }, 'time_zone', /time_system_timezone/);
    defError({ name: 'p', format: 'json', time_zone: 'UTC' }, 'time_zone', /needs time_format/);
  });

  test('time_zone: naive times are read in that zone, across DST', () => {
    const p = compileParser({ name: 'p', format: 'json', time_format: '%Y-%m-%d %H:%M:%S', time_zone: 'Europe/Berlin' });
    assert.equal(p.parse('{"time":"2024-01-15 12:00:00"}')!.time!.toISOString(), '2024-01-15T11:00:00.000000000Z');
    assert.equal(p.parse('{"time":"2024-07-15 12:00:00"}')!.time!.toISOString(), '2024-07-15T10:00:00.000000000Z');
    assert.equal(p.parse('{"time":"2024-03-31 01:59:59"}')!.time!.toISOString(), '2024-03-31T00:59:59.000000000Z');
    assert.equal(p.parse('{"time":"2024-03-31 03:00:00"}')!.time!.toISOString(), '2024-03-31T01:00:00.000000000Z');
  });

  test('time_strict off reads what it can', () => {
    const p = compileParser({ name: 'p', format: 'json', time_format: '%Y-%m-%d %H:%M:%S', time_strict: false });
    assert.equal(p.parse('{"time":"2024-01-15 10"}')!.time!.toISOString(), '2024-01-15T10:00:00.000000000Z');
  });
});

describe('Parsers', () => {
  test('has the stock parsers', () => {
    const names = new Parsers().names();
    for (const n of ['docker', 'cri', 'syslog-rfc5424', 'syslog-rfc3164', 'syslog-rfc3164-local', 'apache', 'apache2', 'apache_error', 'nginx', 'json', 'logfmt']) assert.ok(names.includes(n), n);
    assert.deepEqual(names, [...names].sort());
    assert.equal(new Parsers().get('nope'), undefined);
  });

  test('every stock definition passes the spec a config loader would apply', () => {
    for (const def of STOCK_PARSERS) assert.deepEqual(applySpec(PARSER_SPEC, def).errors, [], def.name);
  });

  test('user definitions are added; one with a stock name replaces it', () => {
    const parsers = new Parsers([
      { name: 'kv', format: 'ltsv' },
      { name: 'json', format: 'json' },
    ]);
    assert.deepEqual(parsers.get('kv')!.parse('a:1'), { body: { a: '1' } });
    // The stock json reads time as an access-log time; this one has no time_format.
    assert.deepEqual(parsers.get('json')!.parse('{"time":"2024"}'), { body: { time: '2024' } });
    assert.ok(parsers.has('docker'));
  });

  test('compiled parsers can be given too', () => {
    const mine: Parser = { name: 'upper', parse: (t) => ({ body: { up: t.toUpperCase() } }) };
    assert.deepEqual(new Parsers([mine]).get('upper')!.parse('a'), { body: { up: 'A' } });
  });

  test('a bad definition throws ParserEntryError naming the parser and the key', () => {
    assert.throws(
      () => new Parsers([{ name: 'ok', format: 'json' }, { name: 'broken', format: 'regex', regex: '(' }]),
      (e: unknown) => e instanceof ParserEntryError && e.key === 'regex' && e.parser === 'broken' && e.index === 1 && /^parser "broken": regex: does not compile/.test(e.message),
    );
  });

  test('a name used twice is an error', () => {
    assert.throws(
      () => new Parsers([{ name: 'a', format: 'json' }, { name: 'a', format: 'logfmt' }]),
      (e: unknown) => e instanceof ParserEntryError && e.key === 'name' && e.index === 1,
    );
  });
});

test('decode_field_as and decode_field: escaped and json fields, as Fluent Bit\'s decoders', () => {
  const p = compileParser({ name: 'd', format: 'json', decode_field_as: ['escaped log', 'json inner'], decode_field: 'json merge' });
  const r = p.parse(JSON.stringify({ log: 'a\\tb\\n\\u00e9', inner: '{"x":1}', merge: '{"y":2}', other: '{"z":3}' }));
  assert.deepEqual(r?.body, { log: 'a\tb\né', inner: { x: 1 }, merge: '{"y":2}', y: 2, other: '{"z":3}' });
  assert.deepEqual(p.parse(JSON.stringify({ inner: 'not json' }))?.body, { inner: 'not json' });
  assert.throws(() => compileParser({ name: 'd', format: 'json', decode_field_as: 'base64 log' }), /DECODER FIELD/);
});

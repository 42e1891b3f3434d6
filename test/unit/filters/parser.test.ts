// The parser filter: Fluent Bit's key_name, parser (tried in order),
// reserve_data, preserve_key, unescape_key; and on random input, through the
// chain, it never throws and never loses an event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventTime, decodeEvents, encodeEvents, type Event } from '../../../sdk/src/codec/events.ts';
import { crc32 } from 'node:zlib';
import { FilterConfigError } from '../../../host/filters/filter.ts';
import { parser, unescape } from '../../../host/filters/parser.ts';
import { transformChunk } from '../../../host/filters/chain.ts';
import type { Chunk } from '../../../host/engine/chunk.ts';
import type { ParserDef } from '../../../host/parsers/parser.ts';
import { applySpec } from '../../../sdk/src/config-spec.ts';
import { checked, context, counter, ev, makeFilter } from '../../helpers/filters.ts';

const DEFS: ParserDef[] = [
  { name: 'kv', format: 'regex', regex: '^(?<level>[a-z]+) (?<msg>.*)$' },
  { name: 'timed', format: 'regex', regex: '^(?<time>\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d) (?<msg>.*)$', time_key: 'time', time_format: '%Y-%m-%dT%H:%M:%S' },
];

function run(raw: { [k: string]: unknown }, body: { [k: string]: unknown }) {
  const { f, ctx } = makeFilter(parser, raw, context({}, DEFS));
  const r = f.filter(ev(structuredClone(body)), 't') as Event;
  return { r, ctx };
}

test('the parsed fields replace the record; the parsed time becomes its time', () => {
  const { r } = run({ key_name: 'log', parser: 'timed' }, { log: '2026-01-02T03:04:05 hello', other: 1 });
  assert.deepEqual(r.body, { msg: 'hello' });
  assert.deepEqual(r.time, new EventTime(Date.UTC(2026, 0, 2, 3, 4, 5) / 1000, 0));
});

test('reserve_data keeps the other fields after the parsed ones, preserve_key the parsed field; a parsed field wins', () => {
  const body = { a: 1, log: 'info hi', level: 'old' };
  assert.deepEqual(Object.entries(run({ key_name: 'log', parser: 'kv', reserve_data: true }, body).r.body), [['level', 'info'], ['msg', 'hi'], ['a', 1]]);
  assert.deepEqual(run({ key_name: 'log', parser: 'kv', preserve_key: true }, body).r.body, { level: 'info', msg: 'hi', log: 'info hi' });
  assert.deepEqual(Object.keys(run({ key_name: 'log', parser: 'kv', preserve_key: 'on', reserve_data: 'on' }, body).r.body), ['level', 'msg', 'a', 'log']);
});

test('parsers are tried in order, the first that matches wins; none matching leaves the record and is counted', async () => {
  const both = { key_name: 'log', parser: ['timed', 'kv'] };
  assert.deepEqual(run(both, { log: 'warn disk' }).r.body, { level: 'warn', msg: 'disk' });
  assert.deepEqual(run(both, { log: '2026-01-02T03:04:05 x' }).r.body, { msg: 'x' });
  const { r, ctx } = run(both, { log: 'NOT MATCHING', a: 1 });
  assert.deepEqual(r.body, { log: 'NOT MATCHING', a: 1 });
  assert.equal(await counter(ctx.metrics, 'sluice_parser_unmatched_records_total', 'f.0'), 1);
});

test('a missing or non-text field leaves the record as it is, without counting a miss', async () => {
  for (const body of [{ other: 'info x' }, { log: 12 }, { log: { a: 1 } }, { log: null }]) {
    const { r, ctx } = run({ key_name: 'log', parser: 'kv' }, body);
    assert.deepEqual(r.body, body);
    assert.equal(await counter(ctx.metrics, 'sluice_parser_unmatched_records_total', 'f.0'), 0);
  }
  // Binary values are parsed as text, as in Fluent Bit.
  assert.deepEqual(run({ key_name: 'log', parser: 'kv' }, { log: Buffer.from('info bin') }).r.body, { level: 'info', msg: 'bin' });
});

test('key_name may be a record accessor; reserve_data then keeps the record as it was, parent included', () => {
  const body = { kubernetes: { log: 'error boom', pod: 'p' }, x: 1 };
  assert.deepEqual(run({ key_name: "$kubernetes['log']", parser: 'kv' }, body).r.body, { level: 'error', msg: 'boom' });
  assert.deepEqual(run({ key_name: '$kubernetes.log', parser: 'kv', reserve_data: true }, body).r.body, { level: 'error', msg: 'boom', kubernetes: { log: 'error boom', pod: 'p' }, x: 1 });
});

test('unescape_key reads JSON-style escapes before parsing; json parser on an escaped document', () => {
  assert.equal(unescape('a\\nb\\t\\"c\\" \\\\ \\u00e9 \\q'), 'a\nb\t"c" \\ é \\q');
  const { r } = run({ key_name: 'log', parser: 'json', unescape_key: true }, { log: '{\\"a\\":1,\\"b\\":\\"x\\"}' });
  assert.deepEqual(r.body, { a: 1, b: 'x' });
  assert.deepEqual(run({ key_name: 'log', parser: 'json' }, { log: '{\\"a\\":1}' }).r.body, { log: '{\\"a\\":1}' });
});

test('a time that does not match time_format keeps the field and the event\'s time, and is counted', async () => {
  const defs: ParserDef[] = [{ name: 'j', format: 'json', time_key: 'ts', time_format: '%Y-%m-%d' }];
  const { f, ctx } = makeFilter(parser, { key_name: 'log', parser: 'j' }, context({}, defs));
  const r = f.filter(ev({ log: '{"ts":"yesterday","a":1}' }, 7), 't') as Event;
  assert.deepEqual(r.body, { ts: 'yesterday', a: 1 });
  assert.equal(r.time.sec, 7);
  assert.equal(await counter(ctx.metrics, 'sluice_parser_time_errors_total', 'f.0'), 1);
});

test('config errors name their key: no parser, an unknown parser, a malformed accessor', () => {
  const make = (raw: { [k: string]: unknown }) => () => parser.create(checked(parser, raw), context({}, DEFS));
  const key = (k: string, re: RegExp) => (e: unknown) => e instanceof FilterConfigError && e.key === k && re.test(e.message);
  assert.throws(make({ key_name: 'log' }), key('parser', /at least one/));
  assert.throws(make({ key_name: 'log', parser: ['kv', 'nope'] }), key('parser', /unknown parser "nope"/));
  assert.throws(make({ key_name: "$a['b", parser: 'kv' }), key('key_name', /not a record accessor/));
  assert.deepEqual(applySpec(parser.spec, { parser: 'kv' }).errors.map((e) => e.key), ['key_name']);
});

// Through the chain, as the pipeline runs it.
function chunkOf(events: Event[]): Chunk {
  const data = encodeEvents(events);
  return { id: 'c', tag: 't', input: 'in', count: events.length, size: data.length, createdAt: 0, crc32: crc32(data), data, file: undefined, pending: 0, busy: 0 };
}

const anyValue = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null),
  fc.uint8Array({ maxLength: 40 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), fc.array(fc.integer(), { maxLength: 3 }));
const junkLine = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('{', '{"a":', '{"__proto__":{"x":1}}', '{"a":1}', 'info x', '2026-01-02T03:04:05 m', '\u0000\uffff', '{"time":"x"}', 'a=b c="d', '<13>1 2026'),
  fc.json(),
);

test('property: on random records and junk text, every parser (stock and user) never throws, keeps every event, and leaves unparsed records as they were', async () => {
  const stock = ['json', 'logfmt', 'docker', 'cri', 'syslog-rfc5424', 'syslog-rfc3164', 'apache', 'apache2', 'apache_error', 'nginx'];
  await fc.assert(fc.property(
    fc.array(fc.record({ log: junkLine, extra: anyValue }, { requiredKeys: [] }), { minLength: 1, maxLength: 20 }),
    fc.subarray([...stock, 'kv', 'timed'], { minLength: 1, maxLength: 4 }),
    fc.boolean(), fc.boolean(), fc.boolean(),
    (bodies, parsers, reserve, preserve, unesc) => {
      const { f } = makeFilter(parser, { key_name: 'log', parser: parsers, reserve_data: reserve, preserve_key: preserve, unescape_key: unesc }, context({}, DEFS));
      const events = bodies.map((b, i) => ev(b as { [k: string]: unknown }, i));
      const failures: unknown[] = [];
      const r = transformChunk(chunkOf(events), [(e, t) => f.filter(e, t)], (_i, err) => failures.push(err));
      assert.deepEqual(failures, []);
      assert.equal(r.chunk.count, events.length);
      const out = decodeEvents(r.chunk.data!);
      const before = decodeEvents(chunkOf(events).data!);
      for (let i = 0; i < out.length; i++) {
        const changed = JSON.stringify(out[i]!.body) !== JSON.stringify(before[i]!.body);
        if (!changed) continue;
        // A parsed record: with reserve_data, every other field is still there.
        if (reserve) for (const k of Object.keys(before[i]!.body)) if (k !== 'log' || preserve) assert.ok(Object.hasOwn(out[i]!.body, k), `lost ${k}`);
      }
    },
  ), { numRuns: 300 });
});

test('property: a throwing step or an unencodable result never loses an event', () => {
  fc.assert(fc.property(fc.array(fc.record({ log: fc.string() }), { minLength: 1, maxLength: 30 }), fc.nat(), (bodies, seed) => {
    const events = bodies.map((b, i) => ev(b, i));
    const steps = [
      (e: Event) => {
        if ((seed + e.time.sec) % 3 === 0) throw new Error('boom');
        return e;
      },
      (e: Event) => {
        if ((seed + e.time.sec) % 5 === 0) e.body.self = e.body; // circular: cannot be encoded
        return e;
      },
    ];
    let failures = 0;
    const r = transformChunk(chunkOf(events), steps, () => failures++);
    assert.equal(r.chunk.count, events.length);
    assert.deepEqual(decodeEvents(r.chunk.data!).map((e) => e.body.log), bodies.map((b) => b.log));
  }), { numRuns: 200 });
});

test('a chunk that cannot be decoded is stored untouched', () => {
  const bad = chunkOf([ev({ a: 1 })]);
  const data = Buffer.concat([bad.data!, Buffer.from([0xc1, 0xff])]);
  const c = { ...bad, data, size: data.length };
  let failed = 0;
  const r = transformChunk(c, [(e) => e], () => failed++);
  assert.equal(r.chunk, c);
  assert.equal(failed, 1);
});

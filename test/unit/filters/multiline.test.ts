// The multiline filter and its rule engine (host/parsers/multiline-rules.ts):
// Fluent Bit's start_state/next_state rules, the built-in java, python, go and
// ruby parsers, records held across chunks, flush_ms, several tags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { decodeEvents, encodeEvents, type Event } from '../../../sdk/src/codec/events.ts';
import { transformChunk } from '../../../host/filters/chain.ts';
import type { Chunk } from '../../../host/engine/chunk.ts';
import { FilterConfigError, type Filter } from '../../../host/filters/filter.ts';
import { multiline } from '../../../host/filters/multiline.ts';
import { checkRuleParserDef, joinLines, RuleParsers } from '../../../host/parsers/multiline-rules.ts';
import { checked, context, ev, makeFilter } from '../../helpers/filters.ts';

const USER = [{
  name: 'app', type: 'regex', rules: [
    { state: 'start_state', regex: '/^\\d{4}-\\d\\d-\\d\\d /', next_state: 'cont' },
    { state: 'cont', regex: '/^\\s+/', next_state: 'cont' },
  ],
}];

function make(raw: { [k: string]: unknown }) {
  let t = 0;
  const ctx = context({ now: () => t, multilineParsers: new RuleParsers(USER) });
  const { f } = makeFilter(multiline, raw, ctx);
  return { f, at: (ms: number) => (t = ms) };
}

function chunkOf(events: Event[], tag = 't'): Chunk {
  const data = encodeEvents(events);
  return { id: 'c', tag, input: 'in', count: events.length, size: data.length, createdAt: 0, crc32: crc32(data), data, file: undefined, pending: 0, busy: 0 };
}

/** Runs chunks of lines through the filter (as the pipeline does) and returns each chunk's output bodies. */
function through(f: Filter, chunks: { [k: string]: unknown }[][], tag = 't'): { [k: string]: unknown }[][] {
  return chunks.map((bodies, c) => {
    const r = transformChunk(chunkOf(bodies.map((b, i) => ev(b, c * 100 + i)), tag), [(e, t) => f.filter(e, t)], (_i, err) => assert.fail(String(err)));
    return decodeEvents(r.chunk.data!).map((e) => e.body);
  });
}

const JAVA = [
  'Exception in thread "main" java.lang.IllegalStateException: boom',
  '\tat com.example.App.run(App.java:10)',
  '\tat com.example.App.main(App.java:3)',
  'Caused by: java.lang.NullPointerException: x',
  '\tat com.example.Dep.call(Dep.java:7)',
  '\t... 2 more',
];

test('java: a stack trace becomes one record (the first line\'s record, lines joined with \\n); the next line completes it', () => {
  const { f } = make({ 'multiline.parser': 'java' });
  const [out] = through(f, [[{ log: 'plain line', n: 0 }, ...JAVA.map((log, i) => ({ log, n: i + 1 })), { log: 'after', n: 9 }]]);
  // "after" is no rule's: it completes the trace and goes on alone.
  assert.deepEqual(out, [{ log: 'plain line', n: 0 }, { log: JAVA.join('\n'), n: 1 }, { log: 'after', n: 9 }]);
  assert.deepEqual(f.flush!(true), []);
  // A trace at the end of what was read is held until a line completes it, or flush.
  const [held] = through(f, [JAVA.map((log) => ({ log }))]);
  assert.deepEqual(held, []);
  assert.deepEqual(f.flush!(true).map((r) => r.event.body), [{ log: JAVA.join('\n') }]);
});

test('python: a traceback ends with its exception line (next_state start_state) at once', () => {
  const { f } = make({ 'multiline.parser': 'python' });
  const tb = ['Traceback (most recent call last):', '  File "a.py", line 1, in <module>', '    x()', 'ValueError: bad'];
  const [out] = through(f, [[...tb.map((log) => ({ log })), { log: 'next' }]]);
  assert.deepEqual(out, [{ log: tb.join('\n') }, { log: 'next' }]);
  assert.deepEqual(f.flush!(true), []);
});

test('go: a panic with its goroutine frames', () => {
  const { f } = make({ 'multiline.parser': 'go' });
  const p = ['panic: runtime error: index out of range', '', 'goroutine 1 [running]:', 'main.main()', '\t/app/main.go:5 +0x1d', 'exit status 2'];
  const [out] = through(f, [p.map((log) => ({ log }))]);
  assert.deepEqual(out, [{ log: joinLines(p.slice(0, 5)) }, { log: 'exit status 2' }]);
  assert.equal(joinLines(['a', '', 'b']), 'a\n\nb');
});

test('a user parser from multiline_parsers; several parsers (comma-separated) tried in order', () => {
  const { f } = make({ 'multiline.parser': 'app, python', 'multiline.key_content': 'msg' });
  const [out] = through(f, [[
    { msg: '2026-01-01 first', k: 1 }, { msg: '  more', k: 2 }, { msg: '2026-01-01 second', k: 3 },
    { msg: 'Traceback (most recent call last):' }, { msg: '  File "x"' }, { msg: '    y' }, { msg: 'E: z' },
  ]]);
  // Each parser builds its own record, as in Fluent Bit: "second" waits in app's while python takes the traceback.
  assert.deepEqual(out, [{ msg: '2026-01-01 first\n  more', k: 1 }, { msg: 'Traceback (most recent call last):\n  File "x"\n    y\nE: z' }]);
  assert.deepEqual(f.flush!(true).map((r) => r.event.body), [{ msg: '2026-01-01 second', k: 3 }]);
});

test('a record continued across chunks is joined: its lines are held, and it comes out in the chunk that completes it', () => {
  const { f } = make({ 'multiline.parser': 'app' });
  const out = through(f, [
    [{ log: 'x' }, { log: '2026-01-01 a' }, { log: '  a1' }],
    [{ log: '  a2' }],
    [{ log: '  a3' }, { log: '2026-01-02 b' }, { log: 'y' }],
  ]);
  assert.deepEqual(out, [[{ log: 'x' }], [], [{ log: '2026-01-01 a\n  a1\n  a2\n  a3' }, { log: '2026-01-02 b' }, { log: 'y' }]]);
});

test('flush_ms: a record no line joined for flush_ms is given up by flush(); final gives up everything', () => {
  const { f, at } = make({ 'multiline.parser': 'app', flush_ms: 500 });
  through(f, [[{ log: '2026-01-01 a' }, { log: '  a1' }]], 'one');
  at(300);
  through(f, [[{ log: '2026-01-01 b' }]], 'two');
  at(499);
  assert.deepEqual(f.flush!(false), []);
  at(500);
  assert.deepEqual(f.flush!(false).map((r) => [r.tag, r.event.body.log]), [['one', '2026-01-01 a\n  a1']]);
  assert.deepEqual(f.flush!(false), []);
  assert.deepEqual(f.flush!(true).map((r) => [r.tag, r.event.body.log]), [['two', '2026-01-01 b']]);
});

test('tags are joined apart', () => {
  const { f } = make({ 'multiline.parser': 'app' });
  through(f, [[{ log: '2026-01-01 a' }]], 'x');
  through(f, [[{ log: '2026-01-01 b' }]], 'y');
  const [x] = through(f, [[{ log: '  x1' }, { log: 'end' }]], 'x');
  assert.deepEqual(x, [{ log: '2026-01-01 a\n  x1' }, { log: 'end' }]);
  assert.deepEqual(f.flush!(true).map((r) => [r.tag, r.event.body.log]), [['y', '2026-01-01 b']]);
});

test('a record without text under the key completes what is pending and goes on after it', () => {
  const { f } = make({ 'multiline.parser': 'app' });
  const [out] = through(f, [[{ log: '2026-01-01 a' }, { log: 5 }, { other: 1 }]]);
  assert.deepEqual(out, [{ log: '2026-01-01 a' }, { log: 5 }, { other: 1 }]);
});

test('property-like: every line comes out exactly once, in order, whatever the chunking', () => {
  const lines = ['2026-01-01 a', '  1', '  2', 'z', '2026-01-01 b', '2026-01-01 c', '  3', 'y', '  4'];
  for (let cut = 0; cut <= lines.length; cut++) {
    for (let cut2 = cut; cut2 <= lines.length; cut2++) {
      const { f } = make({ 'multiline.parser': 'app' });
      const parts = [lines.slice(0, cut), lines.slice(cut, cut2), lines.slice(cut2)].map((p) => p.map((log) => ({ log })));
      const out = through(f, parts).flat().concat(f.flush!(true).map((r) => r.event.body));
      assert.deepEqual(out.map((b) => b.log), ['2026-01-01 a\n  1\n  2', 'z', '2026-01-01 b', '2026-01-01 c\n  3', 'y', '  4'], `cut at ${cut}, ${cut2}`);
    }
  }
});

test('config: a parser is required; partial_message and buffer off are refused; unknown names at create', () => {
  const err = (k: string) => (e: unknown) => e instanceof FilterConfigError && e.key === k;
  const ctx = context({ multilineParsers: new RuleParsers(USER) });
  assert.throws(() => multiline.create(checked(multiline, {}), ctx), err('multiline.parser'));
  assert.throws(() => multiline.create(checked(multiline, { 'multiline.parser': 'java', mode: 'partial_message' }), ctx), err('mode'));
  assert.throws(() => multiline.create(checked(multiline, { 'multiline.parser': 'java', buffer: false }), ctx), err('buffer'));
  assert.throws(() => multiline.create(checked(multiline, { 'multiline.parser': 'java, nope' }), ctx), err('multiline.parser'));
});

test('multiline_parsers definitions are checked: type regex, rules that compile, a start_state', () => {
  assert.deepEqual(checkRuleParserDef(USER[0]!), []);
  assert.deepEqual(checkRuleParserDef({ name: 'x', type: 'endswith', rules: [] }).map((e) => e.key), ['type']);
  assert.deepEqual(checkRuleParserDef({ name: 'x', type: 'regex', rules: [] }).map((e) => e.key), ['rules']);
  assert.match(checkRuleParserDef({ name: 'x', type: 'regex', rules: [{ state: 'cont', regex: 'a', next_state: 'cont' }] })[0]!.message, /no rule has state start_state/);
  assert.match(checkRuleParserDef({ name: 'x', type: 'regex', rules: [{ state: 'start_state', regex: '/(/', next_state: 'c' }] })[0]!.message, /rule 1: regex: "\/\(\/" is not a valid regular expression/);
  assert.deepEqual(checkRuleParserDef({ name: 'x', type: 'regex', key_group: 'g', rules: USER[0]!.rules }).map((e) => e.key), ['key_group']);
});

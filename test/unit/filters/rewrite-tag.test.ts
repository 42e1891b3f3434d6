// rewrite_tag: rules KEY REGEX NEW_TAG KEEP, the new tag's placeholders, and
// what the filter hands the chain (the pipeline stores it: test/e2e/filters).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Event } from '../../../sdk/src/codec/events.ts';
import { FilterConfigError, isFilterOutput, type FilterOutput } from '../../../host/filters/filter.ts';
import { compileTemplate, rewriteTag, splitTokens, EMITTER_MEM_BUF_LIMIT_DEFAULT } from '../../../host/filters/rewrite-tag.ts';
import { checked, context, ev, makeFilter } from '../../helpers/filters.ts';

function run(rule: string | string[], body: { [k: string]: unknown }, tag = 'app.api.v1') {
  const { f } = makeFilter(rewriteTag, { rule });
  const e = ev(structuredClone(body));
  const r = f.filter(e, tag);
  if (!r || !isFilterOutput(r)) return { kept: r, tag: undefined as string | undefined };
  const out = r as FilterOutput;
  assert.equal(out.emit!.length, 1);
  assert.equal(out.emit![0]!.event, e);
  return { kept: out.event, tag: out.emit![0]!.tag };
}

test('a matching record is re-emitted under the new tag; KEEP says whether it stays under its old one', () => {
  const gone = run('$level ^error$ alerts false', { level: 'error' });
  assert.equal(gone.tag, 'alerts');
  assert.equal(gone.kept, null);
  const kept = run('$level ^error$ alerts true', { level: 'error' });
  assert.equal(kept.tag, 'alerts');
  assert.deepEqual((kept.kept as Event).body, { level: 'error' });
  const none = run('$level ^error$ alerts false', { level: 'info' });
  assert.equal(none.tag, undefined);
  assert.deepEqual((none.kept as Event).body, { level: 'info' });
});

test('rules are tried in order; the first that matches wins', () => {
  const rules = ['$a ^x$ first false', '$b . second true', '$a . third false'];
  assert.equal(run(rules, { a: 'x', b: 'y' }).tag, 'first');
  assert.equal(run(rules, { a: 'z', b: 'y' }).tag, 'second');
  assert.equal(run(rules, { a: 'z' }).tag, 'third');
});

test('only text values match, as in Fluent Bit: numbers, maps, binary and missing keys do not', () => {
  for (const v of [500, true, { a: 'x' }, ['x'], null, new Uint8Array([120])]) assert.equal(run('$v . t false', { v }).tag, undefined, JSON.stringify(v));
  assert.equal(run("$k8s['ns'] ^prod new true", { k8s: { ns: 'prod' } }).tag, 'new');
  assert.equal(run('$list[1] ^b$ new true', { list: ['a', 'b'] }).tag, 'new');
});

test('the new tag: $0..$9 captures, $TAG, $TAG[n], record fields, text', () => {
  assert.equal(run('$log ^(\\w+)-(\\d+) $1.$2.$0 false', { log: 'api-42 rest' }).tag, 'api.42.api-42');
  assert.equal(run('$log . $TAG.copy false', { log: 'x' }).tag, 'app.api.v1.copy');
  assert.equal(run('$log . new.$TAG[1].$TAG[0].$TAG[9] false', { log: 'x' }).tag, 'new.api.app.');
  assert.equal(run("$log . k8s.$kube['ns'].$kube['labels']['app'] false", { log: 'x', kube: { ns: 'prod', labels: { app: 'web' } } }).tag, 'k8s.prod.web');
  assert.equal(run('$log . n.$num.$flt.$ok.$nil.$missing.end false', { log: 'x', num: 12, flt: 1.5, ok: true, nil: null }).tag, 'n.12.1.500000.true.null..end');
  // A group that did not take part adds nothing.
  assert.equal(run('$log ^(a)?(b) x$1y$2 false', { log: 'b' }).tag, 'xyb');
});

test('a rule that makes an empty tag leaves the record where it is', () => {
  assert.deepEqual(run('$log ^(x?) $1 false', { log: '' }).kept, ev({ log: '' }));
});

test('the regex is Ruby syntax as in Fluent Bit: /pattern/i, \\h, (?<name>)', () => {
  assert.equal(run('$log /^ERR/i e false', { log: 'err: x' }).tag, 'e');
  assert.equal(run('$log ^\\h+$ hex false', { log: 'c0ffee' }).tag, 'hex');
});

test('rules split on spaces; a double-quoted part may hold spaces and \\"', () => {
  assert.deepEqual(splitTokens('  $a   ^x$  t  true '), ['$a', '^x$', 't', 'true']);
  assert.deepEqual(splitTokens('$a "^a b \\"c\\"$" t false'), ['$a', '^a b "c"$', 't', 'false']);
  assert.equal(run('$msg "^disk full$" alerts false', { msg: 'disk full' }).tag, 'alerts');
});

test('config errors name the rule key: parts, regex, accessor, KEEP, none at all', () => {
  const make = (rule?: string) => () => rewriteTag.create(checked(rewriteTag, rule === undefined ? {} : { rule }), context());
  const err = (re: RegExp) => (e: unknown) => e instanceof FilterConfigError && e.key === 'rule' && re.test(e.message);
  assert.throws(make(), err(/at least one rule/));
  assert.throws(make('$a ^x$ t'), err(/3 parts/));
  assert.throws(make('$a ^x$ t false extra'), err(/5 parts/));
  assert.throws(make('$a (x t false'), err(/not a valid regular expression/));
  assert.throws(make("$a['b x t false"), err(/not a record accessor/));
  assert.throws(make('$a x t maybe'), err(/KEEP must be true or false/));
  assert.throws(make('$a "x t false'), err(/unterminated quote/));
});

test('the emitter: emitter_for_<instance> by default, memory, 10M; a record re-emitted skips only this filter', () => {
  const v = checked(rewriteTag, { rule: '$a b c true' });
  assert.deepEqual(rewriteTag.emitter!(v, 'rewrite_tag.0'), { name: 'emitter_for_rewrite_tag.0', storage: 'memory', memBufLimit: EMITTER_MEM_BUF_LIMIT_DEFAULT, reentry: 'others' });
  const w = checked(rewriteTag, { rule: '$a b c true', emitter_name: 're', 'emitter_storage.type': 'filesystem', emitter_mem_buf_limit: '1M' });
  assert.deepEqual(rewriteTag.emitter!(w, 'x'), { name: 're', storage: 'filesystem', memBufLimit: 1024 * 1024, reentry: 'others' });
});

test('compileTemplate on its own', () => {
  const t = compileTemplate('a.$TAG[2]-$1');
  assert.equal(t('x.y.z', {}, /(q)/.exec('q')!), 'a.z-q');
});

test('property: any rule regex on random text and binary values never throws', () => {
  const { f } = makeFilter(rewriteTag, { rule: ['$log ^(\\w+)\\s(\\S*)$ r.$1.$2 false', '$log [\\x00-\\x1f] ctl.$TAG[0] true', "$nested['k'] . n.$nested['k'] false"] });
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.anything(), (log, nested) => {
    const r = f.filter(ev({ log, nested: { k: nested } }), 'a.b');
    if (r && isFilterOutput(r)) for (const x of r.emit!) assert.equal(typeof x.tag, 'string');
  }), { numRuns: 500 });
});

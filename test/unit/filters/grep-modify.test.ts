// grep and modify on events, as Fluent Bit's filters of the same names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventTime, type Event } from '../../../sdk/src/codec/events.ts';
import { applySpec } from '../../../sdk/src/config-spec.ts';
import { FilterConfigError, type FilterKind } from '../../../host/filters/filter.ts';
import { grep } from '../../../host/filters/grep.ts';
import { modify } from '../../../host/filters/modify.ts';

const ev = (body: { [k: string]: unknown }): Event => ({ time: new EventTime(1, 0), metadata: {}, body });

function make(kind: FilterKind, raw: { [k: string]: unknown }) {
  const { values, errors } = applySpec(kind.spec, raw);
  assert.deepEqual(errors, []);
  const f = kind.create(values, {} as never);
  return (body: { [k: string]: unknown }) => {
    const r = f.filter(ev(structuredClone(body)), 't');
    return r ? (r as Event).body : r;
  };
}

test('grep legacy: every regex must match and no exclude may; a missing key matches nothing', () => {
  const f = make(grep, { regex: ['log ERROR', '$k8s[\'ns\'] ^prod'], exclude: 'log healthz' });
  assert.deepEqual(f({ log: 'ERROR x', k8s: { ns: 'prod-a' } }), { log: 'ERROR x', k8s: { ns: 'prod-a' } });
  assert.equal(f({ log: 'ERROR healthz', k8s: { ns: 'prod' } }), null);
  assert.equal(f({ log: 'ERROR x', k8s: { ns: 'dev' } }), null);
  assert.equal(f({ log: 'ERROR x' }), null);
  const ex = make(grep, { exclude: 'level debug' });
  assert.deepEqual(ex({ msg: 'no level' }), { msg: 'no level' });
  assert.equal(ex({ level: 'debug' }), null);
});

test('grep and/or combine rules of one kind; mixing kinds with them is refused', () => {
  const or = make(grep, { regex: ['a x', 'b y'], logical_op: 'or' });
  assert.ok(or({ a: 'x' }));
  assert.equal(or({ a: 'z', b: 'z' }), null);
  const and = make(grep, { exclude: ['a x', 'b y'], logical_op: 'AND' });
  assert.equal(and({ a: 'x', b: 'y' }), null);
  assert.ok(and({ a: 'x', b: 'n' }));
  const { values } = applySpec(grep.spec, { regex: 'a x', exclude: 'b y', logical_op: 'or' });
  assert.throws(() => grep.create(values, {} as never), (e: Error) => e instanceof FilterConfigError && e.key === 'logical_op');
  const bad = applySpec(grep.spec, { regex: 'log (unclosed' }).values;
  assert.throws(() => grep.create(bad, {} as never), (e: Error) => e instanceof FilterConfigError && e.key === 'regex' && /not a valid regular expression/.test(e.message));
});

test('modify: set, add, remove, wildcard and regex removal, rename and copy (soft and hard), moves', () => {
  const f = make(modify, {
    set: 'env prod',
    add: ['env staging', 'team core values'],
    rename: ['msg message', 'lvl level'],
    hard_copy: 'message copy',
    remove_wildcard: 'tmp_',
    remove_regex: '^x[0-9]$',
    move_to_start: 'level',
  });
  assert.deepEqual(f({ msg: 'hi', lvl: 'info', level: 'keep', tmp_a: 1, tmp_b: 2, x1: 0, xa: 0 }), {
    level: 'keep', message: 'hi', lvl: 'info', xa: 0, env: 'prod', team: 'core values', copy: 'hi',
  });
  const hard = make(modify, { hard_rename: 'a b' });
  assert.deepEqual(Object.entries(hard({ a: 1, b: 2, c: 3 }) ?? {}), [['b', 1], ['c', 3]]);
});

test('modify conditions: all must hold; each kind', () => {
  const f = (condition: string | string[]) => make(modify, { set: 'hit yes', condition });
  const body = { level: 'error', service: 'api', k8s: { ns: 'prod' }, code_a: '500', code_b: '503' };
  const hit = (c: string | string[]) => (f(c)(body) as { hit?: string }).hit === 'yes';
  assert.ok(hit('Key_exists service'));
  assert.ok(hit("key_exists $k8s['ns']"));
  assert.ok(!hit('key_does_not_exist service'));
  assert.ok(hit('a_key_matches ^lev'));
  assert.ok(!hit('no_key_matches ^lev'));
  assert.ok(hit('key_value_equals level error'));
  assert.ok(hit('key_value_does_not_equal level info'));
  assert.ok(hit('key_value_matches service ^a'));
  assert.ok(hit('key_value_does_not_match service ^b'));
  assert.ok(hit('matching_keys_have_matching_values ^code_ ^5'));
  assert.ok(!hit('matching_keys_do_not_have_matching_values ^code_ ^5'));
  assert.ok(!hit(['key_exists service', 'key_exists nope']));
  const { values } = applySpec(modify.spec, { set: 'a b', condition: 'key_is_great a' });
  assert.throws(() => modify.create(values, {} as never), /unknown condition "key_is_great"/);
});

// nest: Fluent Bit's operation nest|lift, wildcard, nest_under, nested_under,
// add_prefix, remove_prefix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Event } from '../../../sdk/src/codec/events.ts';
import { FilterConfigError } from '../../../host/filters/filter.ts';
import { nest } from '../../../host/filters/nest.ts';
import { checked, context, ev, makeFilter } from '../../helpers/filters.ts';

function run(raw: { [k: string]: unknown }, body: { [k: string]: unknown }) {
  const { f } = makeFilter(nest, raw);
  return Object.entries((f.filter(ev(structuredClone(body)), 't') as Event).body);
}

test('nest moves the keys matching a wildcard (prefix*, exact, *) under nest_under, at the end', () => {
  const body = { 'kubernetes.pod': 'p', log: 'x', 'kubernetes.ns': 'n', level: 'i' };
  assert.deepEqual(run({ operation: 'nest', wildcard: 'kubernetes.*', nest_under: 'k8s' }, body), [['log', 'x'], ['level', 'i'], ['k8s', { 'kubernetes.pod': 'p', 'kubernetes.ns': 'n' }]]);
  assert.deepEqual(run({ operation: 'nest', wildcard: ['log', 'lev*'], nest_under: 'inner' }, body), [['kubernetes.pod', 'p'], ['kubernetes.ns', 'n'], ['inner', { log: 'x', level: 'i' }]]);
  assert.deepEqual(run({ operation: 'nest', wildcard: '*', nest_under: 'all' }, { a: 1, b: 2 }), [['all', { a: 1, b: 2 }]]);
  // "log" is exact: "logger" stays.
  assert.deepEqual(run({ operation: 'nest', wildcard: 'log', nest_under: 'n' }, { logger: 1 }), [['logger', 1]]);
});

test('nest with add_prefix / remove_prefix renames the nested keys', () => {
  assert.deepEqual(run({ operation: 'nest', wildcard: 'k_*', nest_under: 'k', remove_prefix: 'k_' }, { k_a: 1, k_b: 2, c: 3 }), [['c', 3], ['k', { a: 1, b: 2 }]]);
  assert.deepEqual(run({ operation: 'nest', wildcard: 'a*', nest_under: 'k', add_prefix: 'x_' }, { a1: 1, b: 2 }), [['b', 2], ['k', { x_a1: 1 }]]);
});

test('nest: no key matching leaves the record as it is; an existing key named nest_under is replaced by the new map', () => {
  assert.deepEqual(run({ operation: 'nest', wildcard: 'z*', nest_under: 'k' }, { a: 1 }), [['a', 1]]);
  assert.deepEqual(run({ operation: 'nest', wildcard: 'a', nest_under: 'k' }, { k: 'old', a: 1, b: 2 }), [['b', 2], ['k', { a: 1 }]]);
});

test('lift moves the keys of the map nested_under to the top level, with prefixes; a lifted key replaces one of the same name', () => {
  const body = { log: 'x', k8s: { pod: 'p', ns: 'n' }, pod: 'old' };
  assert.deepEqual(run({ operation: 'lift', nested_under: 'k8s' }, body), [['log', 'x'], ['pod', 'p'], ['ns', 'n']]);
  assert.deepEqual(run({ operation: 'lift', nested_under: 'k8s', add_prefix: 'k8s_' }, body), [['log', 'x'], ['pod', 'old'], ['k8s_pod', 'p'], ['k8s_ns', 'n']]);
  assert.deepEqual(run({ operation: 'lift', nested_under: 'k', remove_prefix: 'k_' }, { k: { k_a: 1, b: 2 } }), [['a', 1], ['b', 2]]);
});

test('lift leaves records whose key is missing or not a map as they are', () => {
  for (const body of [{ a: 1 }, { k8s: 'text' }, { k8s: [1, 2] }, { k8s: null }, { k8s: new Uint8Array([1]) }]) {
    assert.deepEqual(run({ operation: 'lift', nested_under: 'k8s' }, body), Object.entries(body));
  }
});

test('nest then lift gives the record back (keys in a new order)', () => {
  const { f: n } = makeFilter(nest, { operation: 'nest', wildcard: 'a_*', nest_under: 'inner', remove_prefix: 'a_' });
  const { f: l } = makeFilter(nest, { operation: 'lift', nested_under: 'inner', add_prefix: 'a_' });
  const body = { a_x: 1, b: 2, a_y: { z: 3 } };
  const out = l.filter(n.filter(ev(structuredClone(body)), 't') as Event, 't') as Event;
  assert.deepEqual(out.body, body);
});

test('a key named __proto__ is moved as a key, not as a prototype', () => {
  const body = JSON.parse('{"__proto__": {"polluted": 1}, "a": 2}');
  const out = run({ operation: 'nest', wildcard: '*', nest_under: 'n' }, body);
  assert.equal(JSON.stringify(Object.fromEntries(out)), '{"n":{"__proto__":{"polluted":1},"a":2}}');
  assert.equal(({} as { polluted?: number }).polluted, undefined);
  const lifted = run({ operation: 'lift', nested_under: 'n' }, { n: JSON.parse('{"__proto__": 1, "b": 2}') });
  assert.deepEqual(lifted.map(([k]) => k), ['__proto__', 'b']);
});

test('config errors name their key', () => {
  const key = (k: string, re: RegExp) => (e: unknown) => e instanceof FilterConfigError && e.key === k && re.test(e.message);
  const make = (raw: { [k: string]: unknown }) => () => nest.create(checked(nest, raw), context());
  assert.throws(make({ operation: 'nest', wildcard: 'a' }), key('nest_under', /required/));
  assert.throws(make({ operation: 'nest', nest_under: 'k' }), key('wildcard', /required/));
  assert.throws(make({ operation: 'lift' }), key('nested_under', /required/));
  assert.throws(make({ operation: 'lift', nested_under: 'k', add_prefix: 'a', remove_prefix: 'b' }), key('remove_prefix', /exclude each other/));
  // Fluent Bit reads either key for either operation.
  assert.deepEqual(run({ operation: 'lift', nest_under: 'k' }, { k: { a: 1 } }), [['a', 1]]);
});

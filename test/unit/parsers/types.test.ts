import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { castValue, parseTypes } from '../../../host/parsers/types.ts';

describe('types', () => {
  test('parseTypes reads Fluent Bit\'s key:type list', () => {
    assert.deepEqual([...parseTypes('a:integer  b:bool c:float d:hex e:string')], [['a', 'integer'], ['b', 'bool'], ['c', 'float'], ['d', 'hex'], ['e', 'string']]);
    assert.deepEqual([...parseTypes('A:Integer')], [['A', 'integer']]);
    assert.deepEqual([...parseTypes('k8s:label:string')], [['k8s:label', 'string']]);
    assert.equal(parseTypes('').size, 0);
  });

  test('parseTypes refuses an entry without a type, or an unknown type', () => {
    assert.throws(() => parseTypes('a:integer b'), /entry "b" is not key:type/);
    assert.throws(() => parseTypes(':integer'), /is not key:type/);
    assert.throws(() => parseTypes('a:int'), /entry "a:int" has an unknown type "int"; types are integer, bool, float, hex, string/);
  });

  test('integer: the leading integer, as atoll; no number stays text', () => {
    assert.equal(castValue('integer', '42'), 42);
    assert.equal(castValue('integer', '-7'), -7);
    assert.equal(castValue('integer', ' 12ms'), 12);
    assert.equal(castValue('integer', '3.9'), 3);
    assert.equal(castValue('integer', 'abc'), 'abc');
    assert.equal(castValue('integer', ''), '');
    assert.equal(castValue('integer', '99999999999999999999'), '99999999999999999999');
  });

  test('float: the leading number, as atof', () => {
    assert.equal(castValue('float', '1.5'), 1.5);
    assert.equal(castValue('float', '-2e3x'), -2000);
    assert.equal(castValue('float', '.5'), 0.5);
    assert.equal(castValue('float', '7'), 7);
    assert.equal(castValue('float', 'x1'), 'x1');
    assert.equal(castValue('float', '1e999'), '1e999');
  });

  test('hex: base 16, with or without 0x', () => {
    assert.equal(castValue('hex', 'ff'), 255);
    assert.equal(castValue('hex', '0x1F'), 31);
    assert.equal(castValue('hex', 'zz'), 'zz');
  });

  test('bool: true/false by prefix, any case; else text', () => {
    assert.equal(castValue('bool', 'true'), true);
    assert.equal(castValue('bool', 'TRUE'), true);
    assert.equal(castValue('bool', 'trueish'), true);
    assert.equal(castValue('bool', 'False'), false);
    assert.equal(castValue('bool', 'yes'), 'yes');
    assert.equal(castValue('bool', 'fals'), 'fals');
  });

  test('property: casts never throw and give a finite number, a boolean or the text', () => {
    fc.assert(
      fc.property(fc.constantFrom('integer', 'bool', 'float', 'hex', 'string') as fc.Arbitrary<'integer'>, fc.string({ unit: 'binary' }), (type, v) => {
        const r = castValue(type, v);
        assert.ok(r === v || typeof r === 'boolean' || (typeof r === 'number' && Number.isFinite(r)), `${type} ${JSON.stringify(v)} → ${String(r)}`);
      }),
      { numRuns: 2000 },
    );
  });
});

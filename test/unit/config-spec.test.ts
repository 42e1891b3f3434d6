import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { applySpec, didYouMean, parseBool, parseDuration, parseSize, unknownKeyMessage, type ConfigSpec } from '../../sdk/src/config-spec.ts';

describe('parseBool', () => {
  test('accepts Fluent Bit spellings in any case, with spaces', () => {
    for (const v of [true, 'true', 'TRUE', 'on', 'On', 'yes', 'YES', '1', 1, ' on ']) assert.equal(parseBool(v), true, JSON.stringify(v));
    for (const v of [false, 'false', 'False', 'off', 'OFF', 'no', 'No', '0', 0, ' off ']) assert.equal(parseBool(v), false, JSON.stringify(v));
  });
  test('anything else is undefined', () => {
    for (const v of ['maybe', '', 'y', 'n', '2', 2, -1, null, undefined, {}, [], 'truee']) assert.equal(parseBool(v), undefined, JSON.stringify(v));
  });
});

describe('parseDuration', () => {
  test('numbers are seconds', () => {
    assert.equal(parseDuration(5), 5);
    assert.equal(parseDuration(0.25), 0.25);
    assert.equal(parseDuration(0), 0);
    assert.equal(parseDuration('7'), 7);
    assert.equal(parseDuration('1.5'), 1.5);
  });
  test('units ms, s, m, h, case-insensitive, spaces allowed', () => {
    assert.equal(parseDuration('250ms'), 0.25);
    assert.equal(parseDuration('5s'), 5);
    assert.equal(parseDuration('2m'), 120);
    assert.equal(parseDuration('1h'), 3600);
    assert.equal(parseDuration('1.5m'), 90);
    assert.equal(parseDuration('10 S'), 10);
    assert.equal(parseDuration(' 3h '), 10800);
    assert.equal(parseDuration('500MS'), 0.5);
  });
  test('rejects what is not a duration', () => {
    for (const v of ['', 'abc', '5w', '5 sec', '-1s', '1e3', 's', '1.s', Infinity, NaN, null, true]) assert.equal(parseDuration(v), undefined, String(v));
  });
});

describe('parseSize', () => {
  test('plain bytes', () => {
    assert.equal(parseSize(0), 0);
    assert.equal(parseSize(1000), 1000);
    assert.equal(parseSize(10.9), 10);
    assert.equal(parseSize('4096'), 4096);
    assert.equal(parseSize('12b'), 12);
  });
  test('K, M, G are powers of 1024, with optional B or iB, any case', () => {
    assert.equal(parseSize('512K'), 512 * 1024);
    assert.equal(parseSize('512k'), 512 * 1024);
    assert.equal(parseSize('2M'), 2 * 1024 * 1024);
    assert.equal(parseSize('2MB'), 2 * 1024 * 1024);
    assert.equal(parseSize('2MiB'), 2 * 1024 * 1024);
    assert.equal(parseSize('2mib'), 2 * 1024 * 1024);
    assert.equal(parseSize('1G'), 1024 ** 3);
    assert.equal(parseSize('1.5K'), 1536);
    assert.equal(parseSize(' 32 MB '), 32 * 1024 * 1024);
  });
  test('rejects what is not a size', () => {
    for (const v of ['', 'big', '2T', '2MBs', '-1', -1, 'K', Infinity, NaN, null, '1,5K']) assert.equal(parseSize(v), undefined, String(v));
  });
});

describe('didYouMean', () => {
  const keys = ['retry_limit', 'match', 'match_regex', 'workers', 'flush_timeout'];
  test('finds the closest key for a typo', () => {
    assert.equal(didYouMean('retry_limt', keys), 'retry_limit');
    assert.equal(didYouMean('retry_limits', keys), 'retry_limit');
    assert.equal(didYouMean('mtach', keys), 'match');
    assert.equal(didYouMean('match_regx', keys), 'match_regex');
    assert.equal(didYouMean('worker', keys), 'workers');
    assert.equal(didYouMean('flush_timout', keys), 'flush_timeout');
  });
  test('is case-insensitive but returns the known spelling', () => {
    assert.equal(didYouMean('WORKERS', keys), 'workers');
    assert.equal(didYouMean('Log_Level', ['log_level', 'flush']), 'log_level');
  });
  test('says nothing when no key is close', () => {
    assert.equal(didYouMean('elasticsearch', keys), undefined);
    assert.equal(didYouMean('xyz', keys), undefined);
    assert.equal(didYouMean('anything', []), undefined);
  });
  test('short names allow 2 edits, long ones a third of their length', () => {
    assert.equal(didYouMean('ab', ['abcd']), 'abcd');
    assert.equal(didYouMean('ab', ['abcde']), undefined);
    // 12 letters: up to 4 edits
    assert.equal(didYouMean('aaaaaaaaaaaa', ['aaaaaaaabbbb']), 'aaaaaaaabbbb');
    assert.equal(didYouMean('aaaaaaaaaaaa', ['aaaaaaabbbbb']), undefined);
  });
  test('unknownKeyMessage suggests, or lists the known keys sorted', () => {
    assert.equal(unknownKeyMessage('pathh', ['path', 'sync']), 'unknown key; did you mean "path"?');
    assert.equal(unknownKeyMessage('elasticsearch', ['sync', 'path', 'mkdir']), 'unknown key; known keys: mkdir, path, sync');
  });
});

describe('applySpec', () => {
  const spec: ConfigSpec = {
    name: { type: 'string', required: true, description: '' },
    level: { type: 'string', default: 'info', oneOf: ['info', 'debug'], description: '' },
    workers: { type: 'int', default: 2, min: 1, description: '' },
    ratio: { type: 'float', description: '' },
    enabled: { type: 'bool', default: false, description: '' },
    flush: { type: 'duration', default: 1, min: 0.01, description: '' },
    limit: { type: 'size', default: 1024, description: '' },
    paths: { type: 'list', default: [], description: '' },
    env: { type: 'map', default: {}, description: '' },
    anything: { type: 'any', description: '' },
  };

  test('coerces every type and fills defaults', () => {
    const r = applySpec(spec, {
      name: 42, workers: '8', ratio: '0.5', enabled: 'on', flush: '250ms', limit: '2M', paths: 'a.log, b.log c.log', env: { A: '1' }, anything: [1, 'x'],
    });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.values, {
      name: '42', level: 'info', workers: 8, ratio: 0.5, enabled: true, flush: 0.25, limit: 2 * 1024 * 1024,
      paths: ['a.log', 'b.log', 'c.log'], env: { A: '1' }, anything: [1, 'x'],
    });
  });

  test('a list value stays a list of strings', () => {
    assert.deepEqual(applySpec(spec, { name: 'x', paths: ['/a', 2] }).values.paths, ['/a', '2']);
  });

  test('only defaults when nothing but the required key is given', () => {
    const r = applySpec(spec, { name: 'n' });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.values, { name: 'n', level: 'info', workers: 2, enabled: false, flush: 1, limit: 1024, paths: [], env: {} });
  });

  test('a null value counts as not given: default, or required error', () => {
    const r = applySpec(spec, { name: null, workers: null });
    assert.equal(r.values.workers, 2);
    assert.deepEqual(r.errors, [{ key: 'name', message: 'required key is missing' }]);
  });

  test('reports each problem by key, unknown keys with a suggestion', () => {
    const r = applySpec(spec, {
      workrs: 3, level: 'loud', workers: 0, ratio: 'half', enabled: 'maybe', flush: '5w', limit: 'big', paths: { a: 1 }, env: 'A=1', zzzzzz: 1,
    });
    assert.deepEqual(r.errors, [
      { key: 'workrs', message: 'unknown key; did you mean "workers"?' },
      { key: 'level', message: 'must be one of info, debug, got "loud"' },
      { key: 'workers', message: 'must be at least 1, got 0' },
      { key: 'ratio', message: 'must be a number, got "half"' },
      { key: 'enabled', message: 'must be a boolean (true/false/on/off), got "maybe"' },
      { key: 'flush', message: 'must be a duration in seconds or like "500ms", "5s", "2m", got "5w"' },
      { key: 'limit', message: 'must be a size in bytes or like "512K", "2M", "1G", got "big"' },
      { key: 'paths', message: 'must be a list, got a map' },
      { key: 'env', message: 'must be a map, got string "A=1"' },
      { key: 'zzzzzz', message: 'unknown key; known keys: anything, enabled, env, flush, level, limit, name, paths, ratio, workers' },
      { key: 'name', message: 'required key is missing' },
    ]);
    // A key with a bad value gets no default behind the error's back.
    assert.equal('workers' in r.values, false);
    assert.equal('level' in r.values, false);
  });

  test('int rejects fractions, empty strings and non-numbers', () => {
    for (const v of [1.5, '1.5', '', ' ', 'abc', true, [], {}]) {
      const r = applySpec(spec, { name: 'n', workers: v });
      assert.deepEqual(r.errors.map((e) => e.key), ['workers'], JSON.stringify(v));
    }
  });

  test('string rejects maps and lists', () => {
    assert.deepEqual(applySpec(spec, { name: { a: 1 } }).errors, [{ key: 'name', message: 'must be a string, got a map' }]);
    assert.deepEqual(applySpec(spec, { name: ['a'] }).errors, [{ key: 'name', message: 'must be a string, got a list' }]);
  });
});

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { backoffSeconds, parseRetryLimit } from '../../host/engine/retry.ts';
import { seeded as prng } from '../helpers/random.ts';

describe('backoffSeconds', () => {
  test('property: every wait lies in [min(base, cap), min(cap, base * 2^n)]', () => {
    const seed = 0x5eed;
    const rnd = prng(seed);
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
    // Jitter sources: the seeded generator, and the extremes of [0, 1).
    const jitters = [() => 0, () => 1 - Number.EPSILON / 2, () => 0.5, rnd];
    let checked = 0;
    for (let i = 0; i < 20_000; i++) {
      const n = pick([1, 2, 3, Math.floor(rnd() * 64), Math.floor(rnd() * 2000)]);
      const base = pick([0, 0.001, 0.1, 1, 5, rnd() * 10, rnd() * 1000]);
      const cap = pick([0, 0.5, 1, 60, 2000, rnd() * 100, rnd() * 1e6, base, base / 3]);
      const jitter = pick(jitters);
      const lo = Math.min(base, cap);
      // base * 2^n is exactly 0 for base 0 (in floats, 0 * Infinity is NaN for n > 1023).
      const hi = base === 0 ? 0 : Math.min(cap, base * 2 ** n);
      const w = backoffSeconds(n, base, cap, jitter);
      assert.ok(Number.isFinite(w) && w >= lo && w <= hi, `seed ${seed}, case ${i}: backoffSeconds(${n}, ${base}, ${cap}) = ${w}, outside [${lo}, ${hi}]`);
      checked++;
    }
    assert.equal(checked, 20_000);
  });

  test('the jitter spans the whole range', () => {
    // retry 3, base 1, cap 100: [1, 8]
    assert.equal(backoffSeconds(3, 1, 100, () => 0), 1);
    assert.equal(backoffSeconds(3, 1, 100, () => 0.5), 4.5);
    assert.ok(Math.abs(backoffSeconds(3, 1, 100, () => 0.999999) - 8) < 1e-4);
    // capped: retry 10, base 5, cap 60: [5, 60]
    assert.equal(backoffSeconds(10, 5, 60, () => 0.5), 32.5);
    // cap below base: always the cap
    assert.equal(backoffSeconds(4, 10, 3, () => 0), 3);
    assert.equal(backoffSeconds(4, 10, 3, () => 0.9), 3);
  });

  test('grows with n until the cap', () => {
    const top = (n: number) => backoffSeconds(n, 1, 1000, () => 1 - Number.EPSILON / 2);
    const tops = [1, 2, 3, 4, 5, 9, 10, 11, 2000].map((n) => Math.round(top(n)));
    assert.deepEqual(tops, [2, 4, 8, 16, 32, 512, 1000, 1000, 1000]);
  });

  test('uses Math.random by default and stays in range', () => {
    for (let i = 0; i < 1000; i++) {
      const w = backoffSeconds(2, 1, 100);
      assert.ok(w >= 1 && w <= 4, String(w));
    }
  });
});

describe('parseRetryLimit', () => {
  test('numbers and numeric strings are counts', () => {
    assert.equal(parseRetryLimit(3), 3);
    assert.equal(parseRetryLimit(0), 0);
    assert.equal(parseRetryLimit('3'), 3);
    assert.equal(parseRetryLimit(' 12 '), 12);
  });
  test('no_limits and false are no limit; no_retries is 0', () => {
    assert.equal(parseRetryLimit('no_limits'), Infinity);
    assert.equal(parseRetryLimit(false), Infinity);
    assert.equal(parseRetryLimit('false'), Infinity);
    assert.equal(parseRetryLimit('no_retries'), 0);
  });
  test('anything else is undefined', () => {
    for (const v of ['x', '', '-1', -1, 1.5, '1.5', true, 'true', null, undefined, NaN, Infinity, [3], { n: 3 }]) {
      assert.equal(parseRetryLimit(v), undefined, String(v));
    }
  });
});

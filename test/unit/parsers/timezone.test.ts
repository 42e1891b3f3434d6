import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ianaZone, systemZone } from '../../../host/parsers/timezone.ts';

const wall = (iso: string) => Date.parse(`${iso}Z`) / 1000;
const H = 3600;

describe('time zones for times without one', () => {
  test('IANA zone: standard and summer time', () => {
    const berlin = ianaZone('Europe/Berlin');
    assert.equal(berlin.offsetForWall(wall('2024-01-15T12:00:00')), 1 * H);
    assert.equal(berlin.offsetForWall(wall('2024-07-15T12:00:00')), 2 * H);
    assert.equal(berlin.offsetAt(wall('2024-07-15T12:00:00')), 2 * H);
    assert.equal(ianaZone('Asia/Kolkata').offsetForWall(wall('2024-07-15T12:00:00')), 5.5 * H);
    assert.equal(ianaZone('America/New_York').offsetForWall(wall('2024-01-15T12:00:00')), -5 * H);
  });

  test('around a change: the hour before and after it', () => {
    const berlin = ianaZone('Europe/Berlin');
    assert.equal(berlin.offsetForWall(wall('2024-03-31T01:59:59')), 1 * H);
    assert.equal(berlin.offsetForWall(wall('2024-03-31T03:00:00')), 2 * H);
    assert.equal(berlin.offsetForWall(wall('2024-10-27T01:59:59')), 2 * H);
    assert.equal(berlin.offsetForWall(wall('2024-10-27T03:00:00')), 1 * H);
  });

  test('a time in the spring-forward gap is read with the offset before it; one in the overlap is the earlier instant', () => {
    const berlin = ianaZone('Europe/Berlin');
    assert.equal(berlin.offsetForWall(wall('2024-03-31T02:30:00')), 1 * H);
    assert.equal(berlin.offsetForWall(wall('2024-10-27T02:30:00')), 2 * H);
    // The same hour asked again comes from the cache only when it has no change in it.
    assert.equal(berlin.offsetForWall(wall('2024-03-31T02:45:00')), 1 * H);
    assert.equal(berlin.offsetForWall(wall('2024-10-27T02:10:00')), 2 * H);
  });

  test('an unknown zone is refused', () => {
    assert.throws(() => ianaZone('Nowhere/Special'), /unknown time zone "Nowhere\/Special"/);
  });

  test('the system zone agrees with Date', () => {
    const z = systemZone();
    const w = wall('2024-07-15T12:00:00');
    const local = new Date(2024, 6, 15, 12, 0, 0).getTime() / 1000;
    assert.equal(w - z.offsetForWall(w), local);
  });
});

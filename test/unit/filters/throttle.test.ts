// throttle: Fluent Bit's sliding window (rate, window, interval,
// print_status) on a clock the test moves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FilterConfigError } from '../../../host/filters/filter.ts';
import { SlidingWindow, throttle } from '../../../host/filters/throttle.ts';
import { checked, context, ev, makeFilter } from '../../helpers/filters.ts';

function clocked(raw: { [k: string]: unknown }) {
  let t = 1_000_000;
  const lines: { msg: string; o: unknown }[] = [];
  const log = { info: (o: unknown, msg: string) => lines.push({ o, msg }) } as never;
  const { f } = makeFilter(throttle, raw, context({ now: () => t, log }));
  return {
    f,
    lines,
    at: (ms: number) => (t = 1_000_000 + ms),
    /** How many of n records at the current time go through. */
    send: (n: number) => Array.from({ length: n }, () => f.filter(ev({ a: 1 }), 't')).filter(Boolean).length,
  };
}

test('a burst: the window starts empty, so rate × window records pass at once, then none until panes slide out', () => {
  const c = clocked({ rate: 10, window: 5, interval: '1s' });
  assert.equal(c.send(100), 50);
  c.at(999);
  assert.equal(c.send(10), 0);
  // Each new pane: the oldest (empty) ones go first, then the full one.
  for (let s = 1; s <= 4; s++) {
    c.at(s * 1000);
    assert.equal(c.send(10), 0, `second ${s}`);
  }
  c.at(5000);
  assert.equal(c.send(100), 50, 'the burst\'s pane left the window');
});

test('a steady flow at the rate goes through whole; above it, the average is held at the rate', () => {
  const c = clocked({ rate: 5, window: 3, interval: 1 });
  let passed = 0;
  for (let s = 0; s < 30; s++) {
    c.at(s * 1000);
    passed += c.send(5);
  }
  assert.equal(passed, 150);
  const d = clocked({ rate: 5, window: 3, interval: 1 });
  let kept = 0;
  for (let s = 0; s < 60; s++) {
    d.at(s * 1000);
    kept += d.send(20);
  }
  // At most rate × (seconds + window - 1) over the run: the average never passes the rate.
  assert.ok(kept <= 5 * (60 + 2) && kept >= 5 * 58, `${kept}`);
});

test('interval: panes of 1 minute; a quiet spell longer than the window empties it', () => {
  const c = clocked({ rate: 2, window: 2, interval: '1m' });
  assert.equal(c.send(10), 4);
  c.at(59_000);
  assert.equal(c.send(10), 0);
  c.at(60_000);
  assert.equal(c.send(10), 0, 'one full pane still in the window: average 2');
  c.at(120_000);
  assert.equal(c.send(10), 4, 'the full pane left');
  c.at(150_000);
  assert.equal(c.send(10), 0);
  c.at(10 * 60_000);
  assert.equal(c.send(10), 4);
});

test('SlidingWindow: total is the sum of the panes in the window', () => {
  const w = new SlidingWindow(3, 4, 100, 0);
  let t = 0;
  for (let i = 0; i < 1000; i++) {
    t += (i * 7919) % 130;
    w.take(t);
    assert.equal(w.total, w.panes.reduce((a, b) => a + b, 0));
    assert.ok(w.average <= 3);
  }
});

test('print_status logs the limit and the current rate every interval, once records flow; close stops it', (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const c = clocked({ rate: 2, window: 2, interval: 1, print_status: true });
  t.mock.timers.tick(3000);
  assert.equal(c.lines.length, 0, 'nothing before the first record (a filter the loader only checks never logs)');
  c.send(3);
  t.mock.timers.tick(1000);
  assert.equal(c.lines.length, 1);
  assert.match(c.lines[0]!.msg, /limit is 2 per 1 s with a window of 2; current rate 1.5 per interval/);
  c.f.close!();
  t.mock.timers.tick(5000);
  assert.equal(c.lines.length, 1);
});

test('rate under 1 and window under 2 are refused (Fluent Bit silently takes 1 and 5)', () => {
  const make = (raw: { [k: string]: unknown }) => () => throttle.create(checked(throttle, raw), context());
  assert.throws(make({ rate: 0.5 }), (e: unknown) => e instanceof FilterConfigError && e.key === 'rate');
  assert.throws(make({ window: 1 }), (e: unknown) => e instanceof FilterConfigError && e.key === 'window');
  assert.doesNotThrow(make({}));
});

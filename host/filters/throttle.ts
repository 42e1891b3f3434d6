// throttle: drops records over an average rate, as Fluent Bit's throttle
// filter. Time is cut into panes of `interval`; the last `window` panes
// count the records let through. A record goes through while their average
// per pane is under `rate`, and counts in the current pane; a record over it
// is dropped (counted in sluice_filter_drop_records_total).
import type { Event } from '../../sdk/src/codec/events.ts';
import { FilterConfigError, type Filter, type FilterKind } from './filter.ts';

export class SlidingWindow {
  readonly panes: number[];
  private readonly rate: number;
  private readonly intervalMs: number;
  private readonly start: number;
  private cur = 0;
  private tick = 0;
  total = 0;

  constructor(rate: number, window: number, intervalMs: number, now: number) {
    this.rate = rate;
    this.panes = new Array(window).fill(0);
    this.intervalMs = intervalMs;
    this.start = now;
  }

  /** Opens the panes of the intervals that passed, forgetting the oldest. */
  advance(now: number): void {
    const t = Math.floor((now - this.start) / this.intervalMs);
    if (t <= this.tick) return;
    const n = this.panes.length;
    if (t - this.tick >= n) {
      this.panes.fill(0);
      this.total = 0;
      this.cur = (this.cur + (t - this.tick)) % n;
    } else {
      for (; this.tick < t; this.tick++) {
        this.cur = (this.cur + 1) % n;
        this.total -= this.panes[this.cur]!;
        this.panes[this.cur] = 0;
      }
    }
    this.tick = t;
  }

  /** The average per pane over the window. */
  get average(): number {
    return this.total / this.panes.length;
  }

  /** True (and counted) when a record may go through now. */
  take(now: number): boolean {
    this.advance(now);
    if (this.average >= this.rate) return false;
    this.panes[this.cur]!++;
    this.total++;
    return true;
  }
}

export const throttle: FilterKind = {
  description: 'Drops records over an average rate (sliding window)',
  spec: {
    rate: { type: 'float', default: 1, description: 'Records per interval, on average over the window, let through' },
    window: { type: 'int', default: 5, description: 'Intervals the average is taken over' },
    interval: { type: 'duration', default: 1, min: 0.001, description: 'Length of one interval (seconds, or 500ms, 1s, 1m, 1h, 1d)' },
    print_status: { type: 'bool', default: false, description: 'Log the limit and the current rate every interval' },
  },
  create(config, ctx): Filter {
    const rate = Number(config.rate ?? 1);
    const window = Number(config.window ?? 5);
    const intervalS = Number(config.interval ?? 1);
    if (!(rate >= 1)) throw new FilterConfigError('rate', `must be at least 1 (Fluent Bit takes 1 for less), got ${config.rate}`);
    if (!(window >= 2)) throw new FilterConfigError('window', `must be at least 2 (Fluent Bit takes 5 for less), got ${config.window}`);
    const now = ctx.now ?? Date.now;
    const w = new SlidingWindow(rate, window, intervalS * 1000, now());
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    // Started with the first record, not at create(): the loader makes filters only to check them.
    const status = () => {
      if (timer || closed || config.print_status !== true) return;
      timer = setInterval(() => {
        w.advance(now());
        ctx.log.info({ rate, window, interval: intervalS, current: w.average }, `throttle: limit is ${rate} per ${intervalS} s with a window of ${window}; current rate ${w.average} per interval`);
      }, intervalS * 1000);
      timer.unref();
    };
    return {
      filter(e: Event) {
        status();
        return w.take(now()) ? e : null;
      },
      close() {
        closed = true;
        clearInterval(timer);
      },
    };
  },
};

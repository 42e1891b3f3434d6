// A warning that a flood of bad input could repeat thousands of times a
// second: logged at most once per interval, with how many were not logged.
import type { Logger } from '../../log.ts';

export class RateLimitedWarning {
  private readonly log: Logger;
  private readonly intervalMs: number;
  private last = -Infinity;
  private suppressed = 0;

  constructor(log: Logger, intervalMs = 5000) {
    this.log = log;
    this.intervalMs = intervalMs;
  }

  warn(fields: object, msg: string): void {
    const now = Date.now();
    if (now - this.last < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.last = now;
    const extra = this.suppressed ? { not_logged_since_last: this.suppressed } : {};
    this.suppressed = 0;
    this.log.warn({ ...fields, ...extra }, msg);
  }
}

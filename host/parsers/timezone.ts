// Zones for time texts that carry none: time_system_timezone (the host's
// zone) and time_zone (an IANA name). Looking an offset up costs a Date or
// an Intl call, so offsets are cached per wall-clock hour: lines of a file
// come in time order, and a cached hour is only trusted when the offset is
// the same at both of its ends (a DST change inside it is computed exactly).
import type { ZoneResolver } from './strptime.ts';

const CACHE_LIMIT = 4096;

class CachedZone implements ZoneResolver {
  private readonly cache = new Map<number, number>();
  readonly offsetAt: (utcSec: number) => number;
  constructor(offsetAt: (utcSec: number) => number) {
    this.offsetAt = offsetAt;
  }

  offsetForWall(wallSec: number): number {
    const hour = Math.floor(wallSec / 3600);
    const hit = this.cache.get(hour);
    if (hit !== undefined) return hit;
    const start = this.exact(hour * 3600);
    const end = this.exact(hour * 3600 + 3599);
    if (start !== end) return this.exact(wallSec);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(hour, start);
    return start;
  }

  /**
   * The offset whose UTC instant shows wallSec on the zone's clock. Around a
   * change (at most one within a day, in real zones) it is the offset of a
   * day before or of a day after; in an overlap the earlier instant is
   * taken, and a time in a gap is read with the offset before it (02:30 in a
   * spring-forward gap is 03:30), as JavaScript's Date and Java do.
   */
  private exact(wallSec: number): number {
    const before = this.offsetAt(wallSec - 86400);
    const after = this.offsetAt(wallSec + 86400);
    if (before === after) return before;
    const beforeFits = this.offsetAt(wallSec - before) === before;
    const afterFits = this.offsetAt(wallSec - after) === after;
    if (beforeFits && afterFits) return Math.max(before, after);
    if (afterFits) return after;
    return before;
  }
}

/** The host's zone (TZ), as Fluent Bit's time_system_timezone. */
export function systemZone(): ZoneResolver {
  return new CachedZone((utcSec) => -new Date(utcSec * 1000).getTimezoneOffset() * 60);
}

/** An IANA zone such as "Europe/Berlin"; throws RangeError naming it when the runtime does not know it. */
export function ianaZone(name: string): ZoneResolver {
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    throw new RangeError(`unknown time zone ${JSON.stringify(name)}`);
  }
  return new CachedZone((utcSec) => {
    const p: { [k: string]: number } = {};
    for (const part of fmt.formatToParts(new Date(utcSec * 1000))) {
      if (part.type !== 'literal') p[part.type] = Number(part.value);
    }
    const wall = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) / 1000;
    return wall - Math.floor(utcSec);
  });
}

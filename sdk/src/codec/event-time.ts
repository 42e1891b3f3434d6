/** Fluent Bit's event time: whole seconds and nanoseconds, both unsigned 32-bit. */
export class EventTime {
  readonly sec: number;
  readonly nsec: number;
  constructor(sec: number, nsec: number) {
    this.sec = sec;
    this.nsec = nsec;
  }
  static fromMillis(ms: number): EventTime {
    const sec = Math.floor(ms / 1000);
    return new EventTime(sec, Math.round((ms - sec * 1000) * 1e6));
  }
  static now(): EventTime {
    return EventTime.fromMillis(Date.now());
  }
  /** Seconds as a double, as Fluent Bit's json_date_format "double". */
  toNumber(): number {
    return this.sec + this.nsec / 1e9;
  }
  toISOString(): string {
    const iso = new Date(this.sec * 1000).toISOString();
    return `${iso.slice(0, 19)}.${String(this.nsec).padStart(9, '0')}Z`;
  }
}

/** The EventTime in 8 bytes at `at` (BE seconds, BE nanoseconds). */
export function eventTimeAt(b: Uint8Array, at: number): EventTime {
  return new EventTime(((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0, ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0);
}

// strptime for parsers' time_format, compiled once into steps so that each
// line costs one pass over its time text and no allocation but the result.
// It follows Fluent Bit's strptime (a BSD strptime plus %L): C-locale names,
// whitespace in the format matches any run of whitespace, text left after the
// format is ignored, and a missing year is the current one.
import { EventTime } from '../../sdk/src/codec/events.ts';

/** A time text that does not fit the format; a plain object, not an Error: it is made per bad line, a stack trace would be waste. */
export class TimeParseError {
  /** 0-based offset in the text where it failed. */
  readonly at: number;
  readonly message: string;
  constructor(at: number, message: string) {
    this.at = at;
    this.message = message;
  }
  toString(): string {
    return this.message;
  }
}

/** A time_format that cannot be compiled: an unknown or unsupported directive. */
export class StrptimeFormatError extends Error {
  /** 0-based offset of the bad directive in the format. */
  readonly at: number;
  constructor(at: number, message: string) {
    super(message);
    this.at = at;
  }
}

/** Turns wall-clock times of a zone into UTC (time_system_timezone, time_zone). */
export interface ZoneResolver {
  /** Seconds east of UTC in force at the UTC instant utcSec. */
  offsetAt(utcSec: number): number;
  /** Seconds east of UTC for a wall-clock time given as if it were UTC. */
  offsetForWall(wallSec: number): number;
}

export interface StrptimeOptions {
  /** Seconds east of UTC for texts whose format has no zone (time_offset). Default 0: UTC. */
  offset?: number;
  /** Zone of texts whose format has no zone; wins over offset. */
  zone?: ZoneResolver;
  /** time_strict (default true). When false, a text that stops matching part way yields the time from the fields read before the mismatch, as Fluent Bit does. */
  strict?: boolean;
  /** Clock (ms) for formats without a year; tests set it. */
  now?: () => number;
}

export interface TimeFormat {
  readonly source: string;
  /** The format gives the year (%Y, %y, %s); otherwise the current year is used. */
  readonly hasYear: boolean;
  /** The format gives the zone (%z, %Z, a literal Z after the seconds, or %s); otherwise offset/zone apply. */
  readonly hasZone: boolean;
  parse(text: string): EventTime | TimeParseError;
}

// Step opcodes.
const LIT = 0;
const WS = 1;
const NUM = 2;
const EDAY = 3;
const MONTH_NAME = 4;
const DAY_NAME = 5;
const AMPM = 6;
const FRAC = 7;
const DOT_FRAC = 8;
const ZONE_NUM = 9;
const ZONE_NAME = 10;
const EPOCH = 11;

// Fields a NUM step stores into.
const F_YEAR = 0;
const F_MON = 1;
const F_MDAY = 2;
const F_HOUR = 3;
const F_MIN = 4;
const F_SEC = 5;
const F_YDAY = 6;
const F_CENTURY = 7;
const F_YEAR2 = 8;
const F_IGNORE = 9;

interface Step {
  op: number;
  /** LIT: char code; NUM: field. */
  a: number;
  /** NUM: lowest value. */
  lo: number;
  /** NUM: highest value; its digit count bounds how many digits are read. */
  hi: number;
  /** Directive as written, for messages. */
  what: string;
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

// Zone abbreviations %Z knows (seconds east of UTC). Abbreviations are
// ambiguous (IST, CST), so each has the meaning most logs use.
const H = 3600;
const ZONE_ABBREVIATIONS: ReadonlyMap<string, number> = new Map([
  ['Z', 0], ['UT', 0], ['UTC', 0], ['GMT', 0], ['WET', 0],
  ['EST', -5 * H], ['EDT', -4 * H], ['CST', -6 * H], ['CDT', -5 * H], ['MST', -7 * H], ['MDT', -6 * H],
  ['PST', -8 * H], ['PDT', -7 * H], ['AKST', -9 * H], ['AKDT', -8 * H], ['HST', -10 * H],
  ['AST', -4 * H], ['ADT', -3 * H], ['NST', -3.5 * H], ['NDT', -2.5 * H],
  ['WEST', 1 * H], ['BST', 1 * H], ['CET', 1 * H], ['CEST', 2 * H], ['EET', 2 * H], ['EEST', 3 * H], ['MSK', 3 * H],
  ['ART', -3 * H], ['BRT', -3 * H], ['CLT', -4 * H],
  ['JST', 9 * H], ['KST', 9 * H], ['SGT', 8 * H], ['HKT', 8 * H], ['IST', 5.5 * H], ['GST', 4 * H], ['ICT', 7 * H],
  ['WIB', 7 * H], ['AWST', 8 * H], ['ACST', 9.5 * H], ['ACDT', 10.5 * H], ['AEST', 10 * H], ['AEDT', 11 * H],
  ['NZST', 12 * H], ['NZDT', 13 * H], ['WAT', 1 * H], ['CAT', 2 * H], ['EAT', 3 * H], ['SAST', 2 * H],
]);

// EventTime packs seconds as uint32: 1970-01-01 .. 2106-02-07.
const MAX_SEC = 0xffffffff;

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function digitCount(n: number): number {
  return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : 19;
}

/** Days since 1970-01-01 of a proleptic Gregorian date; month 1-12, a day past the month's end rolls into the next. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** time_offset and %z's numeric forms: Z, +hh, +hhmm, +hh:mm (also UTC, GMT). Seconds east of UTC, or undefined. */
export function parseUtcOffset(text: string): number | undefined {
  const s = text.trim();
  if (/^(?:Z|UTC?|GMT)$/i.test(s)) return 0;
  const m = /^([+-])(\d{2})(?::?(\d{2}))?$/.exec(s);
  if (!m) return undefined;
  const hours = Number(m[2]);
  const minutes = m[3] === undefined ? 0 : Number(m[3]);
  if (hours > 23 || minutes > 59) return undefined;
  const off = hours * 3600 + minutes * 60;
  return m[1] === '-' ? -off : off;
}

function compileSteps(format: string, steps: Step[], base: number, flags: { year: boolean; zone: boolean }): void {
  const step = (op: number, what: string, a = 0, lo = 0, hi = 0): void => {
    steps.push({ op, a, lo, hi, what });
  };
  const num = (field: number, lo: number, hi: number, what: string): void => step(NUM, what, field, lo, hi);
  let i = 0;
  while (i < format.length) {
    const c = format.charCodeAt(i);
    if (isSpace(c)) {
      while (i < format.length && isSpace(format.charCodeAt(i))) i++;
      step(WS, 'whitespace');
      continue;
    }
    if (c !== 37 /* % */) {
      // ".%L": the fraction may be absent (RFC 3339 and syslog times often drop it).
      if (c === 46 && (format.startsWith('%L', i + 1) || format.startsWith('%f', i + 1))) {
        step(DOT_FRAC, `.%${format[i + 2]}`);
        i += 3;
      } else {
        // A Z right after the seconds is UTC, as Fluent Bit treats "%SZ" and "%S.%LZ".
        if (c === 90 /* Z */ && steps.length && (steps[steps.length - 1]!.what === '%S' || steps[steps.length - 1]!.op === FRAC || steps[steps.length - 1]!.op === DOT_FRAC)) flags.zone = true;
        step(LIT, JSON.stringify(format[i]), c);
        i++;
      }
      continue;
    }
    const at = base + i;
    i++;
    // %E and %O (alternative representations) read the same in the C locale.
    if (format[i] === 'E' || format[i] === 'O') i++;
    const d = format[i];
    i++;
    switch (d) {
      case 'Y': num(F_YEAR, 0, 9999, '%Y'); flags.year = true; break;
      case 'y': num(F_YEAR2, 0, 99, '%y'); flags.year = true; break;
      case 'C': num(F_CENTURY, 0, 99, '%C'); break;
      case 'm': num(F_MON, 1, 12, '%m'); break;
      case 'd': num(F_MDAY, 1, 31, '%d'); break;
      case 'e': step(EDAY, '%e', F_MDAY, 1, 31); break;
      case 'H': case 'k': num(F_HOUR, 0, 23, `%${d}`); break;
      case 'I': case 'l': num(F_HOUR, 1, 12, `%${d}`); break;
      case 'M': num(F_MIN, 0, 59, '%M'); break;
      case 'S': num(F_SEC, 0, 60, '%S'); break;
      case 'j': num(F_YDAY, 1, 366, '%j'); break;
      case 'U': case 'W': case 'V': num(F_IGNORE, 0, 53, `%${d}`); break;
      case 'w': num(F_IGNORE, 0, 6, '%w'); break;
      case 'u': num(F_IGNORE, 1, 7, '%u'); break;
      case 'b': case 'B': case 'h': step(MONTH_NAME, `%${d}`); break;
      case 'a': case 'A': step(DAY_NAME, `%${d}`); break;
      case 'p': step(AMPM, '%p'); break;
      case 'L': case 'f': step(FRAC, `%${d}`); break;
      case 'z': step(ZONE_NUM, '%z'); flags.zone = true; break;
      case 'Z': step(ZONE_NAME, '%Z'); flags.zone = true; break;
      case 's': step(EPOCH, '%s'); flags.year = true; flags.zone = true; break;
      case 'n': case 't': step(WS, `%${d}`); break;
      case '%': step(LIT, '"%"', 37); break;
      // Composites, as the C locale spells them.
      case 'T': compileSteps('%H:%M:%S', steps, at, flags); break;
      case 'R': compileSteps('%H:%M', steps, at, flags); break;
      case 'r': compileSteps('%I:%M:%S %p', steps, at, flags); break;
      case 'D': case 'x': compileSteps('%m/%d/%y', steps, at, flags); break;
      case 'F': compileSteps('%Y-%m-%d', steps, at, flags); break;
      case 'X': compileSteps('%H:%M:%S', steps, at, flags); break;
      case 'c': compileSteps('%a %b %e %H:%M:%S %Y', steps, at, flags); break;
      case undefined:
        throw new StrptimeFormatError(at, `time_format ends with a lone "%" at character ${at + 1}`);
      default:
        throw new StrptimeFormatError(at, `time_format has an unsupported directive "%${d}" at character ${at + 1}`);
    }
  }
}

class CompiledTimeFormat implements TimeFormat {
  readonly source: string;
  readonly hasYear: boolean;
  readonly hasZone: boolean;
  private readonly steps: Step[];
  private readonly offset: number;
  private readonly zone: ZoneResolver | undefined;
  private readonly strict: boolean;
  private readonly now: () => number;

  // Parse state, reset per call: parse is synchronous, so one set per format is enough.
  private year = 0;
  private year2 = -1;
  private century = -1;
  private mon = 0;
  private mday = 1;
  private hour = 0;
  private min = 0;
  private sec = 0;
  private nsec = 0;
  private yday = -1;
  private pm = -1;
  private gmtoff = 0;
  private zoned = false;
  private epoch = -1;
  private monSet = false;
  private mdaySet = false;
  /** The fraction's digits in the text being parsed: [fracAt, fracEnd), fracAt -1 when none was read. */
  private fracAt = -1;
  private fracEnd = -1;
  /**
   * The last text's seconds, for the next text that differs only in its
   * fraction (lines of one second): its text before and after the
   * fraction's digits. Only for formats with one fraction and a year: the
   * rest of the text then always gives the same seconds.
   */
  private readonly cacheable: boolean;
  private cachedLength = -1;
  private cachedHead = '';
  private cachedTail = '';
  private cachedSec = 0;
  // today(): the date for formats without a year, and when it was worked out.
  private todayAt = 0;
  private todayUntil = 0;
  private todayYear = 1970;
  private todayMon = 0;
  private todayMday = 1;

  constructor(format: string, opts: StrptimeOptions) {
    const steps: Step[] = [];
    const flags = { year: false, zone: false };
    compileSteps(format, steps, 0, flags);
    this.source = format;
    this.steps = steps;
    this.hasYear = flags.year;
    this.hasZone = flags.zone;
    this.offset = opts.offset ?? 0;
    this.zone = opts.zone;
    this.strict = opts.strict ?? true;
    this.now = opts.now ?? Date.now;
    this.cacheable = flags.year && steps.filter((s) => s.op === FRAC || s.op === DOT_FRAC).length === 1;
  }

  parse(text: string): EventTime | TimeParseError {
    if (text.length === this.cachedLength && text.startsWith(this.cachedHead) && text.endsWith(this.cachedTail)) {
      const nsec = fraction(text, this.cachedHead.length, text.length - this.cachedTail.length);
      if (nsec >= 0) return new EventTime(this.cachedSec, nsec);
    }
    const t = this.parseAll(text);
    // Same head, digits in place of the fraction, same tail: every step reads the same up to the fraction, and after it.
    if (this.cacheable && t instanceof EventTime && this.fracAt >= 0) {
      this.cachedLength = text.length;
      this.cachedHead = text.slice(0, this.fracAt);
      this.cachedTail = text.slice(this.fracEnd);
      this.cachedSec = t.sec;
    }
    return t;
  }

  private parseAll(text: string): EventTime | TimeParseError {
    this.reset();
    const steps = this.steps;
    const len = text.length;
    let pos = 0;
    for (let k = 0; k < steps.length; k++) {
      const s = steps[k]!;
      if (s.op === WS) {
        while (pos < len && isSpace(text.charCodeAt(pos))) pos++;
        continue;
      }
      const r = this.step(s, text, pos);
      if (r < 0) {
        if (!this.strict && k > 0) return this.result(text, -r - 1);
        return this.fail(text, -r - 1, s);
      }
      pos = r;
    }
    return this.result(text, pos);
  }

  private reset(): void {
    this.year2 = -1;
    this.century = -1;
    this.hour = 0;
    this.min = 0;
    this.sec = 0;
    this.nsec = 0;
    this.yday = -1;
    this.pm = -1;
    this.gmtoff = 0;
    this.zoned = false;
    this.epoch = -1;
    this.monSet = false;
    this.mdaySet = false;
    this.fracAt = -1;
    this.year = 1970;
    this.mon = 0;
    this.mday = 1;
  }

  /** Runs one step at pos: the new position, or -(failure position + 1). */
  private step(s: Step, text: string, pos: number): number {
    const len = text.length;
    // As Fluent Bit: the text may run out only where the format does.
    if (pos >= len) return s.op === DOT_FRAC ? pos : -(pos + 1);
    switch (s.op) {
      case LIT:
        return text.charCodeAt(pos) === s.a ? pos + 1 : -(pos + 1);
      case EDAY:
        if (text.charCodeAt(pos) === 32) pos++;
      // falls through
      case NUM: {
        const maxDigits = digitCount(s.hi);
        let v = 0;
        let n = 0;
        let c = text.charCodeAt(pos);
        if (!isDigit(c)) return -(pos + 1);
        const start = pos;
        do {
          v = v * 10 + (c - 48);
          pos++;
          n++;
          c = text.charCodeAt(pos);
        } while (n < maxDigits && v * 10 <= s.hi && isDigit(c));
        if (v < s.lo || v > s.hi) return -(start + 1);
        this.store(s.a, v);
        return pos;
      }
      case MONTH_NAME: {
        const r = matchName(text, pos, MONTHS);
        if (r < 0) return -(pos + 1);
        this.mon = r >> 8;
        this.monSet = true;
        return pos + (r & 0xff);
      }
      case DAY_NAME: {
        const r = matchName(text, pos, DAYS);
        return r < 0 ? -(pos + 1) : pos + (r & 0xff);
      }
      case AMPM: {
        const c0 = text.charCodeAt(pos) | 0x20;
        const c1 = text.charCodeAt(pos + 1) | 0x20;
        if (c1 !== 109 /* m */ || (c0 !== 97 /* a */ && c0 !== 112 /* p */)) return -(pos + 1);
        this.pm = c0 === 112 ? 1 : 0;
        return pos + 2;
      }
      case DOT_FRAC:
        if (text.charCodeAt(pos) !== 46) return pos;
        pos++;
      // falls through
      case FRAC: {
        let c = text.charCodeAt(pos);
        if (!isDigit(c)) return -(pos + 1);
        this.fracAt = pos;
        // Nanoseconds keep 9 digits; further digits are read and dropped.
        let v = 0;
        let n = 0;
        do {
          if (n < 9) v = v * 10 + (c - 48);
          n++;
          pos++;
          c = text.charCodeAt(pos);
        } while (isDigit(c));
        for (; n < 9; n++) v *= 10;
        this.nsec = v;
        this.fracEnd = pos;
        return pos;
      }
      case ZONE_NUM:
        return this.zoneNum(text, pos);
      case ZONE_NAME: {
        let end = pos;
        while (end < len && isLetter(text.charCodeAt(end))) end++;
        const off = end > pos ? ZONE_ABBREVIATIONS.get(text.slice(pos, end).toUpperCase()) : undefined;
        if (off === undefined) return -(pos + 1);
        this.gmtoff = off;
        this.zoned = true;
        return end;
      }
      case EPOCH: {
        let c = text.charCodeAt(pos);
        if (!isDigit(c)) return -(pos + 1);
        let v = 0;
        do {
          v = v * 10 + (c - 48);
          pos++;
          c = text.charCodeAt(pos);
        } while (isDigit(c) && v <= MAX_SEC);
        this.epoch = v;
        return pos;
      }
    }
    return -(pos + 1);
  }

  private zoneNum(text: string, pos: number): number {
    const len = text.length;
    while (pos < len && isSpace(text.charCodeAt(pos))) pos++;
    const c = text.charCodeAt(pos);
    if (c === 90 /* Z */) {
      this.zoned = true;
      this.gmtoff = 0;
      return pos + 1;
    }
    if (c === 43 || c === 45) {
      const d0 = text.charCodeAt(pos + 1);
      const d1 = text.charCodeAt(pos + 2);
      if (!isDigit(d0) || !isDigit(d1)) return -(pos + 1);
      let off = ((d0 - 48) * 10 + (d1 - 48)) * 3600;
      let p = pos + 3;
      if (text.charCodeAt(p) === 58 /* : */ && isDigit(text.charCodeAt(p + 1))) p++;
      if (isDigit(text.charCodeAt(p))) {
        const m0 = text.charCodeAt(p);
        const m1 = text.charCodeAt(p + 1);
        if (!isDigit(m1)) return -(p + 1);
        off += ((m0 - 48) * 10 + (m1 - 48)) * 60;
        p += 2;
      }
      this.gmtoff = c === 45 ? -off : off;
      this.zoned = true;
      return p;
    }
    // RFC 822 names: UT, UTC, GMT, and the North American zones.
    let end = pos;
    while (end < len && isLetter(text.charCodeAt(end))) end++;
    const name = text.slice(pos, end).toUpperCase();
    if (name === 'UT' || name === 'UTC' || name === 'GMT' || /^[ECMP][SD]T$/.test(name)) {
      this.gmtoff = ZONE_ABBREVIATIONS.get(name)!;
      this.zoned = true;
      return end;
    }
    return -(pos + 1);
  }

  private store(field: number, v: number): void {
    switch (field) {
      case F_YEAR: this.year = v; this.year2 = -1; break;
      case F_YEAR2: this.year2 = v; break;
      case F_CENTURY: this.century = v; break;
      case F_MON: this.mon = v - 1; this.monSet = true; break;
      case F_MDAY: this.mday = v; this.mdaySet = true; break;
      case F_HOUR: this.hour = v; break;
      case F_MIN: this.min = v; break;
      case F_SEC: this.sec = v; break;
      case F_YDAY: this.yday = v - 1; break;
    }
  }

  private fail(text: string, at: number, s: Step): TimeParseError {
    const where = at >= text.length ? 'at the end of the text' : `at character ${at + 1}`;
    return new TimeParseError(at, `time ${JSON.stringify(text)} does not match time_format ${JSON.stringify(this.source)}: expected ${describeStep(s)} ${where}`);
  }

  /** Sets today's date in the zone of the texts, worked out again at midnight (or after an hour, for a DST change) rather than per line. */
  private today(): void {
    const nowSec = Math.floor(this.now() / 1000);
    if (nowSec >= this.todayAt && nowSec < this.todayUntil) return;
    const wall = nowSec + (this.zone ? this.zone.offsetAt(nowSec) : this.offset);
    const d = new Date(wall * 1000);
    this.todayAt = nowSec;
    this.todayUntil = nowSec + Math.min(3600, 86400 - (((wall % 86400) + 86400) % 86400));
    this.todayYear = d.getUTCFullYear();
    this.todayMon = d.getUTCMonth();
    this.todayMday = d.getUTCDate();
  }

  /** The time from the fields read so far; pos only matters for an error. */
  private result(text: string, pos: number): EventTime | TimeParseError {
    let sec: number;
    if (this.epoch >= 0) {
      sec = this.epoch;
    } else {
      let year = this.year;
      if (!this.hasYear) {
        // Fluent Bit puts today's year (and month and day, when the format lacks them) under the text.
        this.today();
        year = this.todayYear;
        if (!this.monSet && this.yday < 0) this.mon = this.todayMon;
        if (!this.mdaySet && this.yday < 0) this.mday = this.todayMday;
        // A December line read in January is from last year (rfc3164 has no year).
        if (this.monSet && this.mon === 11 && this.todayMon === 0) year--;
      } else if (this.year2 >= 0) {
        year = this.century >= 0 ? this.century * 100 + this.year2 : this.year2 <= 68 ? 2000 + this.year2 : 1900 + this.year2;
      }
      let hour = this.hour;
      if (this.pm === 1 && hour < 12) hour += 12;
      else if (this.pm === 0 && hour === 12) hour = 0;
      const days = this.yday >= 0 && !this.monSet ? daysFromCivil(year, 1, 1) + this.yday : daysFromCivil(year, this.mon + 1, this.mday);
      const wall = days * 86400 + hour * 3600 + this.min * 60 + this.sec;
      const off = this.zoned || this.hasZone ? this.gmtoff : this.zone ? this.zone.offsetForWall(wall) : this.offset;
      sec = wall - off;
    }
    if (!(sec >= 0 && sec <= MAX_SEC)) {
      return new TimeParseError(pos, `time ${JSON.stringify(text)} is outside the range an event time holds (1970 to 2106)`);
    }
    return new EventTime(sec, this.nsec);
  }
}

/** text[from, to) as a fraction of a second in nanoseconds (9 digits kept, as the FRAC step); -1 if it is not all digits. */
function fraction(text: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return -1;
    if (i - from < 9) v = v * 10 + (c - 48);
  }
  for (let n = to - from; n < 9; n++) v *= 10;
  return v;
}

function isLetter(c: number): boolean {
  const l = c | 0x20;
  return l >= 97 && l <= 122;
}

/** Matches a full or 3-letter name, case-insensitively: (index << 8) | length, or -1. */
function matchName(text: string, pos: number, names: readonly string[]): number {
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    let n = 0;
    while (n < name.length && (text.charCodeAt(pos + n) | 0x20) === name.charCodeAt(n)) n++;
    if (n === name.length) return (i << 8) | n;
    if (n >= 3) return (i << 8) | 3;
  }
  return -1;
}

function describeStep(s: Step): string {
  switch (s.op) {
    case LIT: return s.what;
    case NUM: case EDAY: return `${s.what} (${String(s.lo).padStart(digitCount(s.hi), '0')}-${s.hi})`;
    case MONTH_NAME: return `${s.what} (a month name)`;
    case DAY_NAME: return `${s.what} (a weekday name)`;
    case AMPM: return '%p (AM or PM)';
    case FRAC: case DOT_FRAC: return `${s.what} (fractional seconds)`;
    case ZONE_NUM: return '%z (Z, +hhmm or +hh:mm)';
    case ZONE_NAME: return '%Z (a zone abbreviation such as UTC or JST)';
    case EPOCH: return '%s (seconds since 1970)';
  }
  return s.what;
}

/** Compiles a strptime format; throws StrptimeFormatError for an unsupported directive. */
export function compileStrptime(format: string, opts: StrptimeOptions = {}): TimeFormat {
  return new CompiledTimeFormat(format, opts);
}

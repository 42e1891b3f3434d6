import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventTime } from '../../../sdk/src/codec/events.ts';
import { StrptimeFormatError, TimeParseError, compileStrptime, daysFromCivil, parseUtcOffset, type StrptimeOptions } from '../../../host/parsers/strptime.ts';

/** The time as an ISO string with 9 fraction digits, or the error's message. */
function read(format: string, text: string, opts: StrptimeOptions = {}): string {
  const r = compileStrptime(format, opts).parse(text);
  return r instanceof EventTime ? r.toISOString() : `error: ${r.message}`;
}

function fails(format: string, text: string, opts: StrptimeOptions = {}): TimeParseError {
  const r = compileStrptime(format, opts).parse(text);
  assert.ok(r instanceof TimeParseError, `${JSON.stringify(text)} should not match ${format}, got ${r instanceof EventTime ? r.toISOString() : r}`);
  return r;
}

const JUNE_2025 = () => Date.UTC(2025, 5, 15, 12, 0, 0);

describe('strptime directives', () => {
  test('%Y %m %d %H %M %S, literal text', () => {
    assert.equal(read('%Y-%m-%d %H:%M:%S', '2024-02-29 23:59:58'), '2024-02-29T23:59:58.000000000Z');
    assert.equal(read('%Y%m%d%H%M%S', '20240102030405'), '2024-01-02T03:04:05.000000000Z');
    assert.equal(read('at %H.%M on %d|%m|%Y', 'at 07.08 on 09|10|2011'), '2011-10-09T07:08:00.000000000Z');
  });

  test('numbers may have fewer digits than their width', () => {
    assert.equal(read('%Y-%m-%d %H:%M:%S', '2024-1-2 3:4:5'), '2024-01-02T03:04:05.000000000Z');
  });

  test('%L and %f: fractional seconds, nanoseconds kept, further digits dropped', () => {
    assert.equal(read('%Y-%m-%dT%H:%M:%S.%L', '2024-01-15T10:20:30.123456789'), '2024-01-15T10:20:30.123456789Z');
    assert.equal(read('%Y-%m-%dT%H:%M:%S.%L', '2024-01-15T10:20:30.5'), '2024-01-15T10:20:30.500000000Z');
    assert.equal(read('%Y-%m-%dT%H:%M:%S.%L', '2024-01-15T10:20:30.1234567891234'), '2024-01-15T10:20:30.123456789Z');
    assert.equal(read('%H:%M:%S,%f %Y-%m-%d', '10:20:30,042 2024-01-15'), '2024-01-15T10:20:30.042000000Z');
    const t = compileStrptime('%s.%L').parse('1700000000.000000001') as EventTime;
    assert.equal(t.sec, 1700000000);
    assert.equal(t.nsec, 1);
  });

  test('".%L" also reads a time without a fraction (RFC 3339 and Go drop it)', () => {
    assert.equal(read('%Y-%m-%dT%H:%M:%S.%L%z', '2024-01-15T10:20:30Z'), '2024-01-15T10:20:30.000000000Z');
    assert.equal(read('%Y-%m-%dT%H:%M:%S.%L', '2024-01-15T10:20:30'), '2024-01-15T10:20:30.000000000Z');
    assert.match(read('%Y-%m-%dT%H:%M:%S.%L', '2024-01-15T10:20:30.x'), /expected \.%L \(fractional seconds\) at character 21/);
    // Without the dot, %L needs a digit.
    assert.match(read('%H:%M:%S,%L', '10:20:30,'), /expected %L/);
  });

  test('%z: Z, +hhmm, +hh:mm, +hh, and RFC 822 names', () => {
    const f = '%Y-%m-%dT%H:%M:%S%z';
    assert.equal(read(f, '2024-01-15T10:20:30Z'), '2024-01-15T10:20:30.000000000Z');
    assert.equal(read(f, '2024-01-15T10:20:30+0900'), '2024-01-15T01:20:30.000000000Z');
    assert.equal(read(f, '2024-01-15T10:20:30+09:00'), '2024-01-15T01:20:30.000000000Z');
    assert.equal(read(f, '2024-01-15T10:20:30-0530'), '2024-01-15T15:50:30.000000000Z');
    assert.equal(read(f, '2024-01-15T10:20:30+09'), '2024-01-15T01:20:30.000000000Z');
    assert.equal(read('%d/%b/%Y:%H:%M:%S %z', '10/Oct/2000:13:55:36 -0700'), '2000-10-10T20:55:36.000000000Z');
    assert.equal(read('%H:%M %z %Y-%m-%d', '10:00 EST 2024-01-15'), '2024-01-15T15:00:00.000000000Z');
    assert.equal(read('%H:%M %z %Y-%m-%d', '10:00 UTC 2024-01-15'), '2024-01-15T10:00:00.000000000Z');
    assert.match(read(f, '2024-01-15T10:20:30+9'), /expected %z/);
    assert.match(read(f, '2024-01-15T10:20:30 nowhere'), /expected %z/);
  });

  test('%Z: zone abbreviations', () => {
    const f = '%a, %d %b %Y %H:%M:%S %Z';
    assert.equal(read(f, 'Tue, 15 Nov 1994 08:12:31 GMT'), '1994-11-15T08:12:31.000000000Z');
    assert.equal(read(f, 'Tue, 15 Nov 1994 08:12:31 JST'), '1994-11-14T23:12:31.000000000Z');
    assert.equal(read(f, 'Tue, 15 Nov 1994 08:12:31 pdt'), '1994-11-15T15:12:31.000000000Z');
    assert.match(read(f, 'Tue, 15 Nov 1994 08:12:31 XYZ'), /expected %Z/);
  });

  test('a literal Z after the seconds means UTC, whatever time_offset says', () => {
    assert.equal(read('%Y-%m-%dT%H:%M:%SZ', '2024-01-15T10:20:30Z', { offset: 3600 }), '2024-01-15T10:20:30.000000000Z');
    assert.equal(read('%Y-%m-%dT%H:%M:%S.%LZ', '2024-01-15T10:20:30.5Z', { offset: 3600 }), '2024-01-15T10:20:30.500000000Z');
    assert.equal(compileStrptime('%Y-%m-%dT%H:%M:%SZ').hasZone, true);
    assert.equal(compileStrptime('%Y-%m-%dT%H:%M:%S').hasZone, false);
  });

  test('%b %B %h %a %A: English names, full or abbreviated, any case', () => {
    assert.equal(read('%d %b %Y', '05 sep 2024'), '2024-09-05T00:00:00.000000000Z');
    assert.equal(read('%d %B %Y', '05 September 2024'), '2024-09-05T00:00:00.000000000Z');
    assert.equal(read('%d %h %Y', '05 MAY 2024'), '2024-05-05T00:00:00.000000000Z');
    assert.equal(read('%A %d %m %Y', 'Thursday 05 09 2024'), '2024-09-05T00:00:00.000000000Z');
    assert.equal(read('%a %d %m %Y', 'thu 05 09 2024'), '2024-09-05T00:00:00.000000000Z');
    assert.match(read('%d %b %Y', '05 Sup 2024'), /expected %b \(a month name\) at character 4/);
  });

  test('%e: a day padded with a space', () => {
    assert.equal(read('%b %e %Y', 'Feb  5 2024'), '2024-02-05T00:00:00.000000000Z');
    assert.equal(read('%b %e %Y', 'Feb 15 2024'), '2024-02-15T00:00:00.000000000Z');
  });

  test('%y: 69-99 are 19xx, 00-68 20xx; %C sets the century', () => {
    assert.equal(read('%y-%m-%d', '99-12-31'), '1999-12-31T00:00:00.000000000Z');
    assert.equal(read('%y-%m-%d', '24-01-15'), '2024-01-15T00:00:00.000000000Z');
    assert.equal(read('%C%y-%m-%d', '1970-01-01'), '1970-01-01T00:00:00.000000000Z');
    assert.equal(read('%C%y-%m-%d', '2001-02-03'), '2001-02-03T00:00:00.000000000Z');
  });

  test('%j: day of the year', () => {
    assert.equal(read('%Y %j', '2024 060'), '2024-02-29T00:00:00.000000000Z');
    assert.equal(read('%Y %j', '2023 365'), '2023-12-31T00:00:00.000000000Z');
  });

  test('%p %I: 12-hour clock, in either order', () => {
    assert.equal(read('%Y-%m-%d %I:%M %p', '2024-01-15 12:05 AM'), '2024-01-15T00:05:00.000000000Z');
    assert.equal(read('%Y-%m-%d %I:%M %p', '2024-01-15 12:05 PM'), '2024-01-15T12:05:00.000000000Z');
    assert.equal(read('%Y-%m-%d %I:%M %p', '2024-01-15 01:05 pm'), '2024-01-15T13:05:00.000000000Z');
    assert.equal(read('%Y-%m-%d %p %I:%M', '2024-01-15 PM 11:05'), '2024-01-15T23:05:00.000000000Z');
    assert.match(read('%Y-%m-%d %I:%M', '2024-01-15 13:05'), /expected %I \(01-12\)/);
  });

  test('%s: seconds since the epoch, zone ignored', () => {
    assert.equal(read('%s', '1700000000', { offset: 3600 }), '2023-11-14T22:13:20.000000000Z');
    assert.equal(compileStrptime('%s').hasYear, true);
  });

  test('%T %D %F %R %r %c composites, %n %t whitespace, %% a percent sign', () => {
    assert.equal(read('%F %T', '2024-01-15 10:20:30'), '2024-01-15T10:20:30.000000000Z');
    assert.equal(read('%D %R', '01/15/24 10:20'), '2024-01-15T10:20:00.000000000Z');
    assert.equal(read('%F %r', '2024-01-15 10:20:30 PM'), '2024-01-15T22:20:30.000000000Z');
    assert.equal(read('%c', 'Mon Jan 15 10:20:30 2024'), '2024-01-15T10:20:30.000000000Z');
    assert.equal(read('%F%n%T', '2024-01-15 \t 10:20:30'), '2024-01-15T10:20:30.000000000Z');
    assert.equal(read('%F %H%%', '2024-01-15 10%'), '2024-01-15T10:00:00.000000000Z');
  });

  test('whitespace in the format matches any run of whitespace, including none', () => {
    assert.equal(read('%b %d %H:%M:%S %Y', 'Oct  1 22:14:15 2024'), '2024-10-01T22:14:15.000000000Z');
    assert.equal(read('%Y %m', '202401'), '2024-01-01T00:00:00.000000000Z');
  });

  test('text after the format is ignored, as in Fluent Bit (docker times end with Z)', () => {
    assert.equal(read('%Y-%m-%dT%H:%M:%S', '2024-01-15T10:20:30 and more'), '2024-01-15T10:20:30.000000000Z');
  });

  test('a day past the end of the month rolls over, as timegm does', () => {
    assert.equal(read('%Y-%m-%d', '2023-02-30'), '2023-03-02T00:00:00.000000000Z');
  });

  test('%E and %O modifiers read as the plain directive; week directives are read and ignored', () => {
    assert.equal(read('%EY-%Om-%d', '2024-01-15'), '2024-01-15T00:00:00.000000000Z');
    assert.equal(read('%F week %U %W %V day %w %u', '2024-01-15 week 02 03 03 day 1 1'), '2024-01-15T00:00:00.000000000Z');
  });
});

describe('strptime without a year or zone', () => {
  test('no year: the current year (rfc3164 syslog)', () => {
    assert.equal(read('%b %d %H:%M:%S', 'Oct 11 22:14:15', { now: JUNE_2025 }), '2025-10-11T22:14:15.000000000Z');
  });

  test('no year: a December time read in January is last year\'s', () => {
    assert.equal(read('%b %d %H:%M:%S', 'Dec 31 23:59:59', { now: () => Date.UTC(2026, 0, 1, 0, 0, 5) }), '2025-12-31T23:59:59.000000000Z');
    assert.equal(read('%b %d %H:%M:%S', 'Jan  1 00:00:01', { now: () => Date.UTC(2026, 0, 1, 0, 0, 5) }), '2026-01-01T00:00:01.000000000Z');
  });

  test('no year: one compiled format follows the clock across midnight', () => {
    let now = Date.UTC(2025, 11, 31, 23, 59, 50);
    const f = compileStrptime('%b %d %H:%M:%S', { now: () => now });
    const iso = (t: string) => (f.parse(t) as EventTime).toISOString();
    assert.equal(iso('Dec 31 23:59:49'), '2025-12-31T23:59:49.000000000Z');
    now = Date.UTC(2026, 0, 1, 0, 0, 10);
    assert.equal(iso('Jan  1 00:00:09'), '2026-01-01T00:00:09.000000000Z');
    assert.equal(iso('Dec 31 23:59:59'), '2025-12-31T23:59:59.000000000Z');
  });

  test('no date at all: today, as Fluent Bit', () => {
    assert.equal(read('%H:%M:%S', '08:09:10', { now: JUNE_2025 }), '2025-06-15T08:09:10.000000000Z');
  });

  test('no zone: UTC, or the offset given (time_offset)', () => {
    assert.equal(read('%F %T', '2024-01-15 10:20:30'), '2024-01-15T10:20:30.000000000Z');
    assert.equal(read('%F %T', '2024-01-15 10:20:30', { offset: 9 * 3600 }), '2024-01-15T01:20:30.000000000Z');
    assert.equal(read('%F %T', '2024-01-15 10:20:30', { offset: -6 * 3600 }), '2024-01-15T16:20:30.000000000Z');
  });

  test('a zone in the text wins over the offset', () => {
    assert.equal(read('%F %T %z', '2024-01-15 10:20:30 +0100', { offset: 9 * 3600 }), '2024-01-15T09:20:30.000000000Z');
  });

  test('a zone resolver (time_zone, time_system_timezone) wins over the offset', () => {
    const zone = { offsetAt: () => 7200, offsetForWall: () => 7200 };
    assert.equal(read('%F %T', '2024-01-15 10:20:30', { offset: 9 * 3600, zone }), '2024-01-15T08:20:30.000000000Z');
  });
});

describe('strptime errors', () => {
  test('an error names the expected directive and where the text stopped matching', () => {
    const e = fails('%Y-%m-%d', '2024-13-01');
    assert.equal(e.at, 5);
    assert.equal(e.message, 'time "2024-13-01" does not match time_format "%Y-%m-%d": expected %m (01-12) at character 6');
    assert.match(fails('%Y-%m-%d', '2024-01').message, /expected "-" at the end of the text/);
    assert.match(fails('%Y-%m-%d', '').message, /expected %Y \(0000-9999\) at the end of the text/);
    assert.match(fails('%H:%M', '25:00').message, /expected %H \(00-23\) at character 1/);
    // As BSD strptime, a number stops before a digit that would take it out of range: "6" is the minute, then "1" is not ":".
    assert.match(fails('%H:%M:%S', '10:61:00').message, /expected ":" at character 5/);
  });

  test('times an event time cannot hold (before 1970, after 2106) are errors', () => {
    assert.match(fails('%Y-%m-%d', '1969-12-31').message, /outside the range/);
    assert.match(fails('%Y-%m-%d', '2107-01-01').message, /outside the range/);
    assert.match(fails('%s', '99999999999').message, /outside the range/);
    assert.equal(read('%Y-%m-%d', '1970-01-01'), '1970-01-01T00:00:00.000000000Z');
  });

  test('time_strict off: the fields read before a mismatch make the time', () => {
    assert.equal(read('%Y-%m-%d %H:%M:%S', '2024-01-15 10:xx', { strict: false }), '2024-01-15T10:00:00.000000000Z');
    assert.match(read('%Y-%m-%d %H:%M:%S', 'garbage', { strict: false }), /^error/);
    assert.match(read('%Y-%m-%d %H:%M:%S', '2024-01-15 10:xx'), /^error/);
  });

  test('unsupported directives are refused when compiling, naming the place', () => {
    assert.throws(() => compileStrptime('%Y-%m-%d %Q'), (e: unknown) => e instanceof StrptimeFormatError && e.at === 9 && /unsupported directive "%Q" at character 10/.test(e.message));
    assert.throws(() => compileStrptime('%Y %'), (e: unknown) => e instanceof StrptimeFormatError && /lone "%"/.test(e.message));
    assert.throws(() => compileStrptime('%F %G'), StrptimeFormatError);
  });
});

describe('helpers', () => {
  test('parseUtcOffset reads time_offset values', () => {
    assert.equal(parseUtcOffset('+0900'), 32400);
    assert.equal(parseUtcOffset('+09:00'), 32400);
    assert.equal(parseUtcOffset('-06'), -21600);
    assert.equal(parseUtcOffset('-0530'), -19800);
    assert.equal(parseUtcOffset('Z'), 0);
    assert.equal(parseUtcOffset('UTC'), 0);
    for (const bad of ['0900', '+9', '+2500', '+09:60', 'JST', '', '+09:0']) assert.equal(parseUtcOffset(bad), undefined, bad);
  });

  test('daysFromCivil agrees with Date.UTC', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }), (y, m, d) => {
        const viaDate = new Date(0);
        viaDate.setUTCFullYear(y, m - 1, d);
        assert.equal(daysFromCivil(y, m, d), Math.floor(viaDate.getTime() / 86400000));
      }),
    );
  });
});

describe('strptime properties', () => {
  test('random texts never throw, for every directive', () => {
    const formats = ['%Y-%m-%dT%H:%M:%S.%L%z', '%d/%b/%Y:%H:%M:%S %z', '%b %e %H:%M:%S', '%s.%L', '%c %Z', '%y %j %p %I', '%D %r %F %T'];
    const compiled = formats.map((f) => compileStrptime(f, { now: JUNE_2025 }));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
        for (const f of compiled) {
          const r = f.parse(s);
          assert.ok(r instanceof EventTime || r instanceof TimeParseError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('any time formatted as ISO 8601 reads back to the same instant', () => {
    const f = compileStrptime('%Y-%m-%dT%H:%M:%S.%L%z');
    fc.assert(
      fc.property(
        fc.integer({ min: 86400, max: 0xffffffff - 86400 }),
        fc.integer({ min: 0, max: 999_999_999 }),
        fc.integer({ min: -14 * 60, max: 14 * 60 }),
        (sec, nsec, offMin) => {
          const wall = new Date((sec + offMin * 60) * 1000);
          const sign = offMin < 0 ? '-' : '+';
          const a = Math.abs(offMin);
          const text = `${wall.toISOString().slice(0, 19)}.${String(nsec).padStart(9, '0')}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
          const t = f.parse(text);
          assert.ok(t instanceof EventTime, `${text}: ${t}`);
          assert.equal(t.sec, sec);
          assert.equal(t.nsec, nsec);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('a format reads each text as a fresh one would, though it reuses the last seconds it read for texts that differ in the fraction', () => {
    const samples: [string, string, StrptimeOptions][] = [
      ['%Y-%m-%dT%H:%M:%S.%LZ', '2025-01-01T00:00:09.123Z', {}],
      ['%Y-%m-%dT%H:%M:%S.%L%z', '2025-06-30T23:59:59.5+09:30', {}],
      ['%Y-%m-%d %H:%M:%S.%L', '2025-03-30 02:30:00.25', { offset: 3600 }],
      ['%s.%L', '1700000000.123456789', {}],
      ['%Y%m%d%H%M%S%L', '20250101000009123', {}],
      ['%d/%b/%Y:%H:%M:%S.%L %z', '10/Oct/2000:13:55:36.001 -0700', { strict: false }],
      // No year: the clock, which moves on between texts, gives it.
      ['%b %e %H:%M:%S.%L', 'Dec 31 23:59:59.999', { now: () => clock }],
    ];
    let clock = 0;
    const edit = fc.tuple(fc.nat(40), fc.constantFrom(...'0123456789.:+-Z x'.split('')), fc.boolean());
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(samples.length - 1), fc.array(edit, { maxLength: 3 }), fc.nat(400)), { minLength: 1, maxLength: 30 }), (seq) => {
        clock = JUNE_2025();
        const shared = samples.map(([f, , o]) => compileStrptime(f, o));
        for (const [k, edits, days] of seq) {
          clock += days * 86400_000;
          const [format, sample, opts] = samples[k]!;
          let text = sample;
          // Mostly digit changes in place (the same second or the next), sometimes an insertion.
          for (const [at, c, insert] of edits) {
            const i = at % (text.length + 1);
            text = text.slice(0, i) + c + text.slice(insert ? i : i + 1);
          }
          assert.deepEqual(shared[k]!.parse(text), compileStrptime(format, opts).parse(text), `${format} ${JSON.stringify(text)}`);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('compiling random formats either works or throws StrptimeFormatError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (f) => {
        try {
          compileStrptime(f).parse('2024-01-15 10:20:30');
        } catch (e) {
          assert.ok(e instanceof StrptimeFormatError, String(e));
        }
      }),
    );
  });
});

// What the four formats share: the time key (time_key, time_format,
// time_keep) and types, applied to each field as the format finds it.
import { EventTime, type Record } from '../../sdk/src/codec/events.ts';
import type { Parsed, Parser } from './parser.ts';
import type { TimeFormat } from './strptime.ts';
import { castValue, type FieldType } from './types.ts';

export interface TimeKey {
  key: string;
  keep: boolean;
  format: TimeFormat;
}

/** A parser's compiled settings, common to all formats. */
export interface FormatOptions {
  name: string;
  /** Absent without time_format: Fluent Bit then leaves the time field alone. */
  time?: TimeKey;
  types?: ReadonlyMap<string, FieldType>;
}

/**
 * Sets body[key] as an own property even for "__proto__", which plain
 * assignment would take as the object's prototype.
 */
export function setField(body: Record, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(body, key, { value, enumerable: true, writable: true, configurable: true });
  else body[key] = value;
}

/** Base of the formats whose fields are strings (regex, logfmt, ltsv). */
export abstract class FieldParser implements Parser {
  readonly name: string;
  protected readonly timeKey: TimeKey | undefined;
  protected readonly types: ReadonlyMap<string, FieldType> | undefined;
  // Per-line results, reset by begin(): parse is synchronous.
  private time: EventTime | undefined;
  private timeError: string | undefined;

  constructor(opts: FormatOptions) {
    this.name = opts.name;
    this.timeKey = opts.time;
    this.types = opts.types?.size ? opts.types : undefined;
  }

  abstract parse(text: string): Parsed | undefined;

  protected begin(): void {
    this.time = undefined;
    this.timeError = undefined;
  }

  /** Adds one field; the time field is read, and dropped unless time_keep. An empty value is no time (Fluent Bit skips it too). */
  protected field(body: Record, key: string, value: string): void {
    const tk = this.timeKey;
    if (tk !== undefined && key === tk.key && value !== '') {
      const t = tk.format.parse(value);
      if (t instanceof EventTime) {
        this.time = t;
        this.timeError = undefined;
        if (!tk.keep) return;
      } else {
        // Kept in the body so the text is not lost.
        this.timeError = t.message;
      }
    }
    if (this.types !== undefined) {
      const type = this.types.get(key);
      setField(body, key, type === undefined ? value : castValue(type, value));
    } else {
      setField(body, key, value);
    }
  }

  /** Adds a field whose value is not text (logfmt's bare key); it is never the time. */
  protected flag(body: Record, key: string, value: unknown): void {
    setField(body, key, value);
  }

  protected finish(body: Record): Parsed {
    const out: Parsed = { body };
    if (this.time !== undefined) out.time = this.time;
    else if (this.timeError !== undefined) out.timeError = this.timeError;
    return out;
  }
}

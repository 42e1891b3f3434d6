// The parser contract: a line of text → an event body (and maybe its time).
// Used by tail's parser key, the parser filter, and multiline.
import type { EventTime, Record } from '../../sdk/src/codec/events.ts';

export interface Parsed {
  body: Record;
  /** From time_key and time_format; undefined: the event keeps the time it was read. */
  time?: EventTime;
  /**
   * Set when the time field did not match time_format: the record is kept
   * (with its time field) and time is undefined, so the event keeps the time
   * it was read, as Fluent Bit does; the caller counts it.
   */
  timeError?: string;
}

export interface Parser {
  readonly name: string;
  /** undefined when the text does not match the format (the caller counts and keeps the raw line). */
  parse(text: string): Parsed | undefined;
}

/** A parser definition as configured: Fluent Bit's [PARSER] keys (name, format, regex, time_key, ...). */
export interface ParserDef {
  name: string;
  format: string;
  [key: string]: unknown;
}

export interface ParserRegistry {
  get(name: string): Parser | undefined;
  names(): string[];
}

/** A parser definition that cannot be compiled; key names the offending key (regex, types, time_format, ...). */
export class ParserDefError extends Error {
  readonly key: string;
  constructor(key: string, message: string) {
    super(message);
    this.key = key;
  }
}

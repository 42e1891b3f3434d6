// format json: a line holding one JSON object becomes the body.
import { EventTime, type Record } from '../../sdk/src/codec/events.ts';
import { setField, type FormatOptions, type TimeKey } from './format.ts';
import type { Parsed, Parser } from './parser.ts';
import { writeJsonEvent } from './json-event.ts';

export class JsonParser implements Parser {
  readonly name: string;
  private readonly timeKey: TimeKey | undefined;
  private readonly timeKeyBytes: Buffer | undefined;

  constructor(opts: FormatOptions) {
    this.name = opts.name;
    this.timeKey = opts.time;
    this.timeKeyBytes = opts.time && Buffer.from(opts.time.key, 'utf8');
    // types is ignored, as in Fluent Bit: JSON values already have types.
  }

  /**
   * tail's fast path: the line src[start, end) (valid UTF-8) as an event
   * written at out[at], sec/nsec its time unless the line gives one; see
   * writeJsonEvent for what it answers instead (then parse() decides).
   */
  writeEvent(src: Buffer, start: number, end: number, out: Buffer, at: number, limit: number, sec: number, nsec: number): number {
    return writeJsonEvent(src, start, end, out, at, limit, sec, nsec, this.timeKey, this.timeKeyBytes);
  }

  parse(text: string): Parsed | undefined {
    // Anything but an object is not a record; checking the first character
    // spares JSON.parse's exception, which is slow, on plain text lines.
    let i = 0;
    while (i < text.length && isJsonSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== 123 /* { */) return undefined;
    let body: Record;
    try {
      body = JSON.parse(text) as Record;
    } catch {
      return undefined;
    }
    const tk = this.timeKey;
    if (tk === undefined || !Object.hasOwn(body, tk.key)) return { body };
    const raw = body[tk.key];
    if (typeof raw !== 'string') {
      return { body, timeError: `time field ${JSON.stringify(tk.key)} is ${raw === null ? 'null' : `a ${typeof raw}`}, not a text for time_format` };
    }
    if (raw === '') return { body };
    const t = tk.format.parse(raw);
    if (!(t instanceof EventTime)) return { body, timeError: t.message };
    return { body: tk.keep ? body : without(body, tk.key), time: t };
  }
}

/**
 * body without `key`, as a copy: delete would turn it into a slow
 * dictionary object (V8) for everything that reads it next, a cost per
 * line several times the copy's. for...in is Object.keys here (faster):
 * JSON.parse makes own properties on a plain object.
 */
function without(body: Record, key: string): Record {
  const out: Record = {};
  for (const k in body) if (k !== key) setField(out, k, body[k]);
  return out;
}

function isJsonSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

// The event codec shared by the host and plugins: Fluent Bit's v2 shape
// [[EventTime, metadata], body], EventTime = msgpack ext type 0 with 8 bytes
// (uint32 BE seconds, uint32 BE nanoseconds). Decoding also accepts v1
// [time, body] with an integer, float or EventTime time.
import { Packr, Unpackr, addExtension } from 'msgpackr';
import { EventTime, eventTimeAt } from './event-time.ts';
import { UNSUPPORTED, position, readAt, release, skipAt } from './reader.ts';

export { EventTime };

// msgpackr knows no EventTime until told; without this, timestamps would
// come back as opaque extension objects (or vanish on re-encode). msgpackr
// rejects a falsy extension type, so type 0 is spelled '0' (it indexes the
// same decoder slot) and pack writes the fixext 8 bytes itself.
addExtension({
  Class: EventTime,
  type: '0' as unknown as number,
  pack(t: EventTime, allocate: (size: number) => { target: Uint8Array; position: number }) {
    const { target, position } = allocate(10);
    const v = new DataView(target.buffer, target.byteOffset);
    target[position] = 0xd7;
    target[position + 1] = 0;
    v.setUint32(position + 2, t.sec >>> 0);
    v.setUint32(position + 6, t.nsec >>> 0);
  },
  unpack(b: Buffer | Uint8Array) {
    if (b.length !== 8) throw new Error(`EventTime extension must be 8 bytes, got ${b.length}`);
    return eventTimeAt(b, 0);
  },
} as any);

export type Record = { [key: string]: unknown };

export interface Event {
  time: EventTime;
  metadata: Record;
  body: Record;
}

// useRecords: false, or msgpackr writes its own non-standard record extension.
const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Encodes one event in the v2 shape. For hot paths see ChunkWriter. */
export function encodeEvent(body: Record, time: EventTime = EventTime.now(), metadata: Record = {}): Buffer {
  return packr.pack([[time, metadata], body]);
}

export function encodeEvents(events: Iterable<Partial<Event> & { body: Record }>): Buffer {
  const parts: Buffer[] = [];
  for (const e of events) parts.push(encodeEvent(e.body, e.time ?? EventTime.now(), e.metadata ?? {}));
  return Buffer.concat(parts);
}

export class EventDecodeError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} at byte offset ${offset}`);
    this.offset = offset;
  }
}

function toTime(raw: unknown, offset: number): EventTime {
  if (raw instanceof EventTime) return raw;
  if (typeof raw === 'number' && Number.isFinite(raw)) {
    const sec = Math.floor(raw);
    return new EventTime(sec, Math.round((raw - sec) * 1e9));
  }
  throw new EventDecodeError(`event time must be an EventTime, integer or float, got ${typeof raw}`, offset);
}

function normalize(item: unknown, offset: number): Event {
  if (!Array.isArray(item) || item.length !== 2) {
    throw new EventDecodeError('event must be a 2-element array [header, body]', offset);
  }
  return fromHeader(item[0], item[1], offset);
}

/** head: [time, metadata] (v2) or the time (v1). */
function fromHeader(head: unknown, body: unknown, offset: number): Event {
  return Array.isArray(head) ? shape(head[0], head[1], body, offset) : shape(head, undefined, body, offset);
}

function shape(time: unknown, metadata: unknown, body: unknown, offset: number): Event {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new EventDecodeError('event body must be a map', offset);
  }
  return {
    time: toTime(time, offset),
    metadata: metadata && typeof metadata === 'object' && !Array.isArray(metadata) ? (metadata as Record) : {},
    body: body as Record,
  };
}

/** Decodes every event of a chunk; throws EventDecodeError naming the byte offset. */
export function decodeEvents(data: Uint8Array): Event[] {
  return decodeEventsFrom(data, 0, Infinity).events;
}

/**
 * Decodes at most `max` events from byte `from`, for plugins that work
 * through a large chunk a piece at a time instead of holding all of it
 * decoded. `next` is where the rest starts (data.length at the end).
 */
export function decodeEventsFrom(data: Uint8Array, from: number, max: number): { events: Event[]; next: number } {
  const events: Event[] = [];
  if (from >= data.length || max <= 0) return { events, next: from >= data.length ? data.length : from };
  const next = forEachEvent(data, from, (e) => events.push(e) < max);
  return { events, next };
}

/**
 * Calls fn with each event from byte `from` on, one at a time, until fn
 * returns false; returns where the rest starts (data.length at the end).
 * Holds no event once fn returned: a plugin that writes each event out
 * leaves the garbage collector little to do.
 */
export function forEachEvent(data: Uint8Array, from: number, fn: (e: Event) => boolean | void): number {
  let at = from;
  try {
    while (at < data.length) {
      let e: Event;
      let next: number;
      try {
        if (data[at] !== 0x92) throw UNSUPPORTED;
        if (data[at + 1] === 0x92 && data[at + 2] === 0xd7 && data[at + 3] === 0 && at + 12 < data.length) {
          // [[EventTime, metadata], body], nearly every event: no array made for the header.
          const metadata = readAt(data, at + 12);
          const body = readAt(data, position());
          next = position();
          e = shape(eventTimeAt(data, at + 4), metadata, body, at);
        } else {
          const head = readAt(data, at + 1);
          const body = readAt(data, position());
          next = position();
          e = fromHeader(head, body, at);
        }
      } catch (err) {
        if (err instanceof EventDecodeError) throw err;
        // Not a value the reader knows (or not an event at all): msgpackr
        // reads it, bounded to its own bytes.
        next = skipAt(data, at);
        const value = next < 0 ? UNSUPPORTED : unpackOne(data, at, next);
        if (value === UNSUPPORTED) return msgpackrEach(data, at, fn);
        e = normalize(value, at);
      }
      at = next;
      if (fn(e) === false) break;
    }
  } finally {
    release();
  }
  return at;
}

function unpackOne(data: Uint8Array, start: number, end: number): unknown {
  try {
    return unpackr.unpack(data.subarray(start, end));
  } catch {
    return UNSUPPORTED;
  }
}

/** The rest as msgpackr reads it, one call for all: for input the reader cannot even measure, which is malformed (or uses msgpackr's own extensions). */
function msgpackrEach(data: Uint8Array, from: number, fn: (e: Event) => boolean | void): number {
  // Where the event being decoded starts: the end of the last good one.
  let offset = from;
  let fnFailed: unknown;
  try {
    unpackr.unpackMultiple(from ? data.subarray(from) : data, (value: unknown, start?: number, end?: number) => {
      const e = normalize(value, from + (start ?? offset - from));
      offset = from + (end ?? offset - from);
      try {
        return fn(e) !== false;
      } catch (err) {
        fnFailed = err;
        throw err;
      }
    });
  } catch (err) {
    if (err instanceof EventDecodeError || err === fnFailed) throw err;
    throw new EventDecodeError(`malformed MessagePack (${(err as Error).message})`, offset);
  }
  return offset;
}

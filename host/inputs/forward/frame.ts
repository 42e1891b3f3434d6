// One Forward protocol frame (a complete MessagePack value) to events, in
// each of the protocol's modes:
//
//   Message                  [tag, time, record]  or  [tag, time, record, option]
//   Forward                  [tag, [[time, record], ...]]  (+ option)
//   PackedForward            [tag, <bin or str: entries [time, record] one after the other>]  (+ option)
//   CompressedPackedForward  the same, the entries gzipped (option.compressed "gzip"; one or more gzip members)
//
// A time is an integer (seconds), a float, or an EventTime (ext type 0,
// uint32 BE seconds + uint32 BE nanoseconds), nanoseconds kept. An entry
// may also be Fluent Bit's v2 shape [[time, metadata], record]. A nil value
// is a heartbeat. Records are not decoded: each is walked (well formed, a
// map, nothing a MessagePack decoder could refuse) and its bytes are then
// copied as they are into the chunk. A frame that is not one of these
// shapes is an error for the whole frame: nothing of it is stored.
import { gunzipSync } from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';
import '../../../sdk/src/codec/events.ts';
import { KIND_ARRAY, KIND_BIN, KIND_EXT, KIND_MAP, KIND_STR, inspect, peek, skip, walked } from './msgpack.ts';

/** One event: its time and where its metadata (optional) and record are. */
export interface EventRef {
  sec: number;
  nsec: number;
  /** Metadata map bytes in `src`, or none (an empty map is written). */
  metaStart: number;
  metaEnd: number;
  /** Record bytes in `src`, unless `record` holds them re-encoded (keys that were not strings). */
  recStart: number;
  recEnd: number;
  record?: Buffer;
  /** Metadata re-encoded (keys that were not strings), instead of the range. */
  meta?: Buffer;
}

export type RejectReason = 'not_a_map' | 'undecodable';

export interface Rejected {
  reason: RejectReason;
  /** Offset in `src` (for compressed entries, in the inflated bytes) of the record's entry. */
  at: number;
  error: string;
}

export type FrameError = 'malformed' | 'too_large' | 'bad_gzip' | 'unsupported';

export type DecodedFrame =
  | { kind: 'heartbeat' }
  | {
    kind: 'events';
    mode: 'Message' | 'Forward' | 'PackedForward' | 'CompressedPackedForward';
    tag: string;
    /** option.chunk, if the client asks for an ack: sent back as it came. */
    chunk: unknown;
    /** The bytes the events point into: the frame's buffer, or the inflated entries. */
    src: Buffer;
    /** True when src is the inflated entries, not the frame's buffer. */
    inflated: boolean;
    events: EventRef[];
    rejected: Rejected[];
  }
  | {
    kind: 'error';
    reason: FrameError;
    /** Offset in the frame's buffer (the frame's start for problems in inflated entries). */
    at: number;
    error: string;
  };

// Options and metadata are small; they are decoded as the SDK decodes chunks.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true, encodeUndefinedAsNil: true });

/** Nesting past which a record is decoded once to make sure a recursive decoder takes it. */
const DEEP = 64;

class Bad extends Error {
  readonly at: number;
  readonly reason: FrameError;
  constructor(at: number, error: string, reason: FrameError = 'malformed') {
    super(error);
    this.at = at;
    this.reason = reason;
  }
}

/**
 * Decodes the frame buf[start, end), a complete, well-formed MessagePack
 * value (FrameScanner found its end). maxInflated bounds gunzipped entries.
 */
export function decodeFrame(buf: Buffer, start: number, end: number, maxInflated: number): DecodedFrame {
  try {
    return decode(buf, start, end, maxInflated);
  } catch (err) {
    if (err instanceof Bad) return { kind: 'error', reason: err.reason, at: err.at, error: err.message };
    // Not expected (every check above throws Bad); still only this frame's problem.
    return { kind: 'error', reason: 'malformed', at: start, error: `cannot decode the frame: ${(err as Error).message}` };
  }
}

function decode(buf: Buffer, start: number, end: number, maxInflated: number): DecodedFrame {
  if (buf[start] === 0xc0) return { kind: 'heartbeat' };
  const root = peek(buf, start, end);
  if (!root || root.kind !== KIND_ARRAY) throw new Bad(start, `expected a frame [tag, ...] (an array), got ${describe(buf, start, end)}`);
  const n = root.items;
  if (n < 2 || n > 4) throw new Bad(start, `expected a frame [tag, entries, option?] or [tag, time, record, option?], got an array of ${n}`);
  // The elements' positions.
  const at: number[] = [root.body];
  for (let i = 1; i < n; i++) at.push(skip(buf, at[i - 1]!, end));

  const tagHead = peek(buf, at[0]!, end)!;
  if (tagHead.kind !== KIND_STR) throw new Bad(at[0]!, `the tag must be a string, got ${describe(buf, at[0]!, end)}`);
  const tag = buf.toString('utf8', tagHead.body, tagHead.body + tagHead.payload);

  const second = peek(buf, at[1]!, end)!;
  const b = buf[at[1]!]!;
  const isTime = b <= 0x7f || b === 0xcc || b === 0xcd || b === 0xce || b === 0xcf || b === 0xca || b === 0xcb || second.kind === KIND_EXT;
  if (isTime) {
    // Message: [tag, time, record, option?]
    if (n < 3) throw new Bad(start, 'a Message frame [tag, time, record] needs a record');
    const option = readOption(buf, n === 4 ? at[3] : undefined, end);
    const event: EventRef = { sec: 0, nsec: 0, metaStart: 0, metaEnd: 0, recStart: 0, recEnd: 0 };
    readTime(buf, at[1]!, end, event);
    if (option.metadata !== undefined) {
      // Message mode may carry the event's metadata in its option (as Fluent Bit's out_forward does).
      event.metaStart = option.metadata[0];
      event.metaEnd = option.metadata[1];
    }
    const events: EventRef[] = [];
    const rejected: Rejected[] = [];
    takeRecord(buf, at[2]!, n === 4 ? at[3]! : end, at[1]!, event, events, rejected, false);
    return { kind: 'events', mode: 'Message', tag, chunk: option.chunk, src: buf, inflated: false, events, rejected };
  }
  if (n > 3) throw new Bad(start, `a Forward or PackedForward frame is [tag, entries, option?], got an array of ${n}`);
  const option = readOption(buf, n === 3 ? at[2] : undefined, end);
  const entriesEnd = n === 3 ? at[2]! : end;
  if (second.kind === KIND_ARRAY) {
    const events: EventRef[] = [];
    const rejected: Rejected[] = [];
    let p = second.body;
    for (let i = 0; i < second.items; i++) p = readEntry(buf, p, entriesEnd, events, rejected);
    return { kind: 'events', mode: 'Forward', tag, chunk: option.chunk, src: buf, inflated: false, events, rejected };
  }
  if (second.kind === KIND_BIN || second.kind === KIND_STR) {
    let src = buf;
    let from = second.body;
    let to = second.body + second.payload;
    const gzip = option.compressed === 'gzip' || (to - from >= 2 && buf[from] === 0x1f && buf[from + 1] === 0x8b);
    if (option.compressed !== undefined && option.compressed !== 'gzip' && option.compressed !== 'text') {
      throw new Bad(at[2]!, `option compressed ${JSON.stringify(option.compressed)} is not supported (only "gzip", or "text" for none)`, 'unsupported');
    }
    if (gzip) {
      src = inflate(buf.subarray(from, to), maxInflated, at[1]!);
      from = 0;
      to = src.length;
    }
    const events: EventRef[] = [];
    const rejected: Rejected[] = [];
    try {
      for (let p = from; p < to; ) p = readEntry(src, p, to, events, rejected);
    } catch (err) {
      // Offsets in inflated bytes are not offsets in the stream: the frame's entries are named instead.
      if (err instanceof Bad && gzip) throw new Bad(at[1]!, `${err.message}, at byte ${err.at} of the inflated entries`);
      throw err;
    }
    return { kind: 'events', mode: gzip ? 'CompressedPackedForward' : 'PackedForward', tag, chunk: option.chunk, src, inflated: gzip, events, rejected };
  }
  throw new Bad(at[1]!, `expected a time (Message), an array of entries (Forward) or bin/str of entries (PackedForward) after the tag, got ${describe(buf, at[1]!, end)}`);
}

interface Option {
  chunk: unknown;
  compressed: unknown;
  /** Message mode: the metadata map's bytes. */
  metadata: [number, number] | undefined;
}

function readOption(buf: Buffer, pos: number | undefined, end: number): Option {
  const none: Option = { chunk: undefined, compressed: undefined, metadata: undefined };
  if (pos === undefined || buf[pos] === 0xc0) return none;
  const head = peek(buf, pos, end)!;
  if (head.kind !== KIND_MAP) throw new Bad(pos, `the option must be a map, got ${describe(buf, pos, end)}`);
  const out = none;
  let p = head.body;
  for (let i = 0; i < head.items; i++) {
    const k = peek(buf, p, end)!;
    const vAt = skip(buf, p, end);
    const vEnd = skip(buf, vAt, end);
    const key = k.kind === KIND_STR ? buf.toString('utf8', k.body, k.body + k.payload) : undefined;
    if (key === 'chunk' || key === 'compressed') {
      let v: unknown;
      try {
        v = unpackr.unpack(buf.subarray(vAt, vEnd));
      } catch (err) {
        throw new Bad(vAt, `option ${key} cannot be decoded: ${(err as Error).message}`);
      }
      if (key === 'chunk') out.chunk = v;
      else out.compressed = v;
    } else if (key === 'metadata') {
      if (peek(buf, vAt, end)!.kind !== KIND_MAP) throw new Bad(vAt, `option metadata must be a map, got ${describe(buf, vAt, end)}`);
      out.metadata = [vAt, vEnd];
    } else if (key === 'fluent_signal') {
      // Fluent Bit's out_forward marks metrics (1) and traces (2) this way; 0 is logs.
      if (!(buf[vAt]! === 0 || buf[vAt] === 0xc0)) throw new Bad(vAt, 'metrics and traces (option fluent_signal) are not supported: sluice takes logs only', 'unsupported');
    }
    p = vEnd;
  }
  return out;
}

/** Reads the time at pos into event (integer seconds, float, or EventTime). */
function readTime(buf: Buffer, pos: number, end: number, event: EventRef): void {
  const b = buf[pos]!;
  let sec: number;
  let nsec = 0;
  if (b <= 0x7f) sec = b;
  else if (b === 0xcc) sec = buf[pos + 1]!;
  else if (b === 0xcd) sec = buf.readUInt16BE(pos + 1);
  else if (b === 0xce) sec = buf.readUInt32BE(pos + 1);
  else if (b === 0xcf) {
    if (buf.readUInt32BE(pos + 1) !== 0) throw new Bad(pos, 'the time is past what 32 bits of seconds hold');
    sec = buf.readUInt32BE(pos + 5);
  } else if (b === 0xca || b === 0xcb) {
    const t = b === 0xca ? buf.readFloatBE(pos + 1) : buf.readDoubleBE(pos + 1);
    if (!(t >= 0 && t < 2 ** 32)) throw new Bad(pos, `the time ${t} is not a number of seconds since 1970 that 32 bits hold`);
    sec = Math.floor(t);
    nsec = Math.min(999_999_999, Math.round((t - sec) * 1e9));
  } else if ((b === 0xd7 && buf[pos + 1] === 0) || (b === 0xc7 && buf[pos + 1] === 8 && buf[pos + 2] === 0)) {
    const d = b === 0xd7 ? pos + 2 : pos + 3;
    if (d + 8 > end) throw new Bad(pos, 'a cut-off EventTime');
    sec = buf.readUInt32BE(d);
    nsec = buf.readUInt32BE(d + 4);
  } else {
    throw new Bad(pos, `expected a time (integer seconds, float or EventTime: ext type 0 of 8 bytes), got ${describe(buf, pos, end)}`);
  }
  event.sec = sec;
  event.nsec = nsec;
}

/** One entry [time, record] or [[time, metadata], record] at pos; returns where the next one starts. */
function readEntry(buf: Buffer, pos: number, end: number, events: EventRef[], rejected: Rejected[]): number {
  // One walk of the whole entry says whether its record and metadata are safe to copy as they are.
  const entryEnd = inspect(buf, pos, end);
  if (entryEnd < 0) throw new Bad(pos, 'an entry is cut off or is not MessagePack');
  const safeEntry = isSafe();
  const head = peek(buf, pos, entryEnd)!;
  if (head.kind !== KIND_ARRAY || head.items !== 2) throw new Bad(pos, `expected an entry [time, record], got ${describe(buf, pos, entryEnd)}`);
  const event: EventRef = { sec: 0, nsec: 0, metaStart: 0, metaEnd: 0, recStart: 0, recEnd: 0 };
  const t = head.body;
  const recAt = skip(buf, t, entryEnd);
  const th = peek(buf, t, entryEnd)!;
  if (th.kind === KIND_ARRAY) {
    // Fluent Bit's v2 entry header [time, metadata].
    if (th.items !== 2) throw new Bad(t, `expected an entry header [time, metadata], got an array of ${th.items}`);
    readTime(buf, th.body, recAt, event);
    const m = skip(buf, th.body, recAt);
    if (buf[m] !== 0xc0) {
      if (peek(buf, m, recAt)!.kind !== KIND_MAP) throw new Bad(m, `the metadata of an entry must be a map, got ${describe(buf, m, recAt)}`);
      event.metaStart = m;
      event.metaEnd = recAt;
    }
  } else {
    readTime(buf, t, recAt, event);
  }
  takeRecord(buf, recAt, entryEnd, pos, event, events, rejected, safeEntry);
  return entryEnd;
}

/**
 * Checks the record buf[pos, recEnd): kept in `events`, or refused into
 * `rejected`. knownSafe: a walk of the whole entry found nothing that needs
 * a closer look.
 */
function takeRecord(buf: Buffer, pos: number, recEnd: number, entryAt: number, event: EventRef, events: EventRef[], rejected: Rejected[], knownSafe: boolean): void {
  const end = recEnd;
  if (peek(buf, pos, end)!.kind !== KIND_MAP) {
    rejected.push({ reason: 'not_a_map', at: entryAt, error: `the record is ${describe(buf, pos, end)}, not a map` });
    return;
  }
  event.recStart = pos;
  event.recEnd = recEnd;
  if (knownSafe) {
    events.push(event);
    return;
  }
  if (event.metaEnd > event.metaStart && !safe(buf, event.metaStart, event.metaEnd)) {
    const meta = decodeMap(buf, event.metaStart, event.metaEnd);
    if (meta === undefined) {
      rejected.push({ reason: 'undecodable', at: entryAt, error: 'the metadata cannot be decoded' });
      return;
    }
    // Stored re-encoded: the metadata's range is dropped and its bytes travel with the record.
    event.metaStart = event.metaEnd = 0;
    event.meta = meta;
  }
  if (!safe(buf, pos, recEnd)) {
    const record = decodeMap(buf, pos, recEnd);
    if (record === undefined) {
      rejected.push({ reason: 'undecodable', at: entryAt, error: `the record cannot be decoded: ${lastDecodeError}` });
      return;
    }
    event.record = record;
  }
  events.push(event);
}

/**
 * A map whose bytes any MessagePack decoder takes as a map with string
 * keys: no extension values (msgpackr refuses unknown ones), only string
 * keys, and not so deep that a recursive decoder could overflow its stack.
 */
function safe(buf: Buffer, start: number, end: number): boolean {
  inspect(buf, start, end);
  return isSafe();
}

/** What the last walk saw is safe to copy as it is (an entry is one level deeper than its record). */
function isSafe(): boolean {
  return !walked.ext && !walked.nonStrKey && walked.depth <= DEEP;
}

let lastDecodeError = '';

/** Decodes a map the way plugins will and encodes it again (keys become strings); undefined if it cannot be decoded. */
function decodeMap(buf: Buffer, start: number, end: number): Buffer | undefined {
  try {
    const v = unpackr.unpack(buf.subarray(start, end));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      lastDecodeError = 'not a map';
      return undefined;
    }
    const out = packr.pack(v);
    // What the plugins' decoder will do with it: it must come back.
    unpackr.unpack(out);
    return out;
  } catch (err) {
    lastDecodeError = (err as Error).message;
    return undefined;
  }
}

function inflate(data: Buffer, max: number, at: number): Buffer {
  try {
    // Several gzip members one after the other inflate to their concatenation.
    return gunzipSync(data, { maxOutputLength: max });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new Bad(at, `the entries inflate to more than buffer_max_size (${max} bytes)`, 'too_large');
    }
    throw new Bad(at, `the entries are not valid gzip: ${(err as Error).message}`, 'bad_gzip');
  }
}

/** What the value at pos is, for messages. */
export function describe(buf: Uint8Array, pos: number, end: number): string {
  const h = peek(buf, pos, end);
  if (!h) return 'a byte that is not MessagePack';
  const b = buf[pos]!;
  switch (h.kind) {
    case KIND_ARRAY: return `an array of ${h.items}`;
    case KIND_MAP: return `a map of ${h.items}`;
    case KIND_STR: return 'a string';
    case KIND_BIN: return 'binary data';
    case KIND_EXT: return `an extension value (type ${(buf[h.body - 1]! << 24) >> 24})`;
    default:
      if (b === 0xc0) return 'nil';
      if (b === 0xc2 || b === 0xc3) return 'a boolean';
      if (b === 0xca || b === 0xcb) return 'a float';
      if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) return 'a negative integer';
      return 'an integer';
  }
}

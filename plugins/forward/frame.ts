// A chunk as one Forward protocol frame (spec v1):
//
//   PackedForward            [tag, bin(entries), option?]
//   CompressedPackedForward  [tag, bin(gzip(entries)), {..., compressed: 'gzip'}]
//
// entries are the chunk's events one after the other, each Fluentd's
// [time, record] (or, with retain_metadata_in_forward_mode, Fluent Bit's
// [[time, metadata], record]); time is an EventTime (ext type 0: uint32 BE
// seconds, uint32 BE nanoseconds) or, with time_as_integer, integer seconds.
// The option map carries chunk (the ack id) first, then size (the event
// count) and compressed. The frame is kept as its parts so that the entries
// are never copied into a second buffer.
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { Packr } from 'msgpackr';
import { decodeEventsFrom, type Event } from '../../sdk/src/index.ts';

const gzip = promisify(gzipCb);

// The SDK's own settings (sdk/src/codec/events.ts): standard MessagePack, no
// msgpackr records; EventTime packs as ext type 0 through the SDK's extension.
const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true, encodeUndefinedAsNil: true });

/** Events decoded and encoded per step, so a large chunk is never held decoded all at once. */
const EVENTS_PER_STEP = 4096;

export interface EntryOptions {
  timeAsInteger: boolean;
  retainMetadata: boolean;
}

export interface FrameOptions extends EntryOptions {
  sendOptions: boolean;
  requireAck: boolean;
  gzip: boolean;
}

export interface Frame {
  /** The ack id (option.chunk) with require_ack_response; else an id used only inside the plugin. */
  id: string;
  /** In order: header (array, tag, bin length), entries, option map. */
  parts: Buffer[];
  bytes: number;
  records: number;
}

/** A fresh ack id: 128 random bits in base64, unique per send (a retry of a chunk gets a new one). */
export function newChunkId(): string {
  return randomBytes(16).toString('base64');
}

function entry(e: Event, o: EntryOptions): Buffer {
  const time = o.timeAsInteger ? e.time.sec : e.time;
  return packr.pack(o.retainMetadata ? [[time, e.metadata], e.body] : [time, e.body]);
}

/** The chunk's events as PackedForward entries, and how many there are. Throws the SDK's EventDecodeError on bytes that do not decode. */
export function encodeEntries(data: Uint8Array, o: EntryOptions): { entries: Buffer; count: number } {
  const parts: Buffer[] = [];
  let count = 0;
  for (let at = 0; at < data.length;) {
    const { events, next } = decodeEventsFrom(data, at, EVENTS_PER_STEP);
    for (const e of events) parts.push(entry(e, o));
    count += events.length;
    at = next;
  }
  return { entries: Buffer.concat(parts), count };
}

/** The MessagePack header of a bin of n bytes. */
export function binHeader(n: number): Buffer {
  if (n < 0x100) return Buffer.from([0xc4, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = 0xc5;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = 0xc6;
  b.writeUInt32BE(n, 1);
  return b;
}

/** The frame for already encoded entries: [tag, bin, option?]. */
export function frameOf(tag: string, entries: Buffer, count: number, o: Omit<FrameOptions, 'timeAsInteger' | 'retainMetadata'>, id = newChunkId()): Frame {
  const options: { [k: string]: unknown } = {};
  if (o.requireAck) options.chunk = id;
  options.size = count;
  if (o.gzip) options.compressed = 'gzip';
  const head = Buffer.concat([Buffer.from([o.sendOptions ? 0x93 : 0x92]), packr.pack(tag), binHeader(entries.length)]);
  const parts = o.sendOptions ? [head, entries, packr.pack(options)] : [head, entries];
  return { id, parts, bytes: parts.reduce((n, p) => n + p.length, 0), records: count };
}

/** One chunk's frame: events re-encoded as entries, gzipped with compress gzip. */
export async function buildFrame(tag: string, data: Uint8Array, o: FrameOptions): Promise<Frame> {
  const { entries, count } = encodeEntries(data, o);
  return frameOf(tag, o.gzip ? await gzip(entries) : entries, count, o);
}

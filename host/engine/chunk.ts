// Chunks and the hot path that writes events into them. Events are written
// as MessagePack straight into the chunk's buffer: a generic encoder per
// record costs twice as much (bench/RESULTS.md).
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { BufferPool } from '../storage/buffer-pool.ts';

/** Chunks seal at about this size (Fluent Bit's 2 MiB). */
export const CHUNK_TARGET_BYTES = 2 * 1024 * 1024;

const BOOT = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
let seq = 0;
/** Unique across restarts: boot time and randomness, then a counter. */
export function newChunkId(): string {
  return `${BOOT}-${(++seq).toString(36)}`;
}

export interface Chunk {
  readonly id: string;
  readonly tag: string;
  readonly input: string;
  readonly count: number;
  /** Bytes of events. */
  readonly size: number;
  readonly createdAt: number;
  /** CRC32 of the events: worked out only where something reads it (chunkCrc). */
  crc32?: number;
  /** The events; undefined while the chunk is "down" (on disk only). */
  data: Buffer | undefined;
  /** The chunk file, with filesystem storage. */
  file: string | undefined;
  /** Deliveries not yet terminal; the chunk is released at zero. */
  pending: number;
  /** Sends in flight; a busy chunk stays in memory. */
  busy: number;
  /**
   * Called once when every output is done with the chunk (tail offsets with
   * memory storage), and with every chunk made from its events (children).
   */
  onRelease?: () => void;
  /** The chunk whose events this one's were re-emitted from (rewrite_tag): its onRelease waits for this one. */
  parent?: Chunk;
  /** Chunks made from this one's events and not yet released. */
  children?: number;
  /** Released by the store; onRelease may still wait for children. */
  released?: boolean;
}

/** A chunk still being written. */
export class OpenChunk {
  readonly id = newChunkId();
  readonly tag: string;
  readonly createdAt = Date.now();
  buf: Buffer;
  size = 0;
  count = 0;
  private readonly pool: BufferPool | undefined;
  constructor(tag: string, capacity: number, pool?: BufferPool) {
    this.tag = tag;
    this.pool = pool;
    this.buf = pool ? pool.take(capacity) : Buffer.allocUnsafeSlow(capacity);
  }
  room(): number {
    return this.buf.length - this.size;
  }
  /** Moves the events to a buffer of this capacity (at least size). */
  resize(capacity: number): void {
    const buf = this.pool ? this.pool.take(capacity) : Buffer.allocUnsafeSlow(capacity);
    this.buf.copy(buf, 0, 0, this.size);
    this.pool?.give(this.buf);
    this.buf = buf;
  }
  appendBytes(bytes: Uint8Array, events: number): void {
    this.buf.set(bytes, this.size);
    this.size += bytes.length;
    this.count += events;
  }
  seal(input: string): Chunk {
    // A sealed chunk lives until every output is done with it: it must not pin
    // more than its events. A chunk that filled its buffer keeps it (no copy on
    // the hot path); a small one (flush timer, quiet tag) is copied to its size.
    if (this.buf.length - this.size > this.buf.length >>> 3) this.resize(this.size);
    const data = this.buf.subarray(0, this.size);
    return { id: this.id, tag: this.tag, input, data, size: data.length, count: this.count, createdAt: this.createdAt, file: undefined, pending: 0, busy: 0 };
  }
}

/** The chunk's CRC32, worked out on first use (a chunk file's header); the chunk must be up. */
export function chunkCrc(c: Chunk): number {
  return (c.crc32 ??= crc32(c.data!));
}

/** Bytes of a msgpack str header for a string of n bytes. */
export function strHeaderSize(n: number): number {
  return n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

export function writeStrHeader(buf: Buffer, at: number, n: number): number {
  if (n < 32) {
    buf[at] = 0xa0 | n;
    return at + 1;
  }
  if (n < 0x100) {
    buf[at] = 0xd9;
    buf[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    buf[at] = 0xda;
    buf.writeUInt16BE(n, at + 1);
    return at + 3;
  }
  buf[at] = 0xdb;
  buf.writeUInt32BE(n, at + 1);
  return at + 5;
}

/** Encodes a string (key or value) as msgpack str, once, for reuse. */
export function encodeStr(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(strHeaderSize(bytes.length) + bytes.length);
  bytes.copy(out, writeStrHeader(out, 0, bytes.length));
  return out;
}

/**
 * The fixed parts of a text line event {key: line, ...extra}: everything but
 * the time and the line itself. extra is pre-encoded key/value pairs.
 */
export class LineEncoder {
  private readonly key: Buffer;
  private readonly extra: Buffer;
  /** offsetKey's encoded name, if the line's file offset is written (tail's offset_key). */
  private readonly offsetKey: Buffer | undefined;
  private readonly mapHeader: number;
  /** Bytes around the line: headers, time, metadata, key, extra, offset. */
  readonly overhead: number;
  constructor(key: string, extra: { [k: string]: string } = {}, offsetKey = '') {
    this.key = encodeStr(key);
    const pairs = Object.entries(extra);
    // A fixmap holds 15 pairs: the line, and 14 more.
    if (pairs.length + (offsetKey ? 1 : 0) > 14) throw new Error('at most 14 extra keys (an offset key counts as one)');
    this.extra = Buffer.concat(pairs.flatMap(([k, v]) => [encodeStr(k), encodeStr(v)]));
    this.offsetKey = offsetKey ? encodeStr(offsetKey) : undefined;
    this.mapHeader = 0x80 | (1 + pairs.length + (this.offsetKey ? 1 : 0));
    // [ [ EventTime(10), {} ], { key: line, extra..., offset: uint64(9) } ]
    this.overhead = 1 + 1 + 10 + 1 + 1 + this.key.length + this.extra.length + (this.offsetKey ? this.offsetKey.length + 9 : 0);
  }
  size(lineBytes: number): number {
    return this.overhead + strHeaderSize(lineBytes) + lineBytes;
  }
  /** Writes one event; the caller made sure size(end - start) bytes fit. */
  write(c: OpenChunk, sec: number, nsec: number, src: Buffer, start: number, end: number, offset = 0): void {
    const buf = c.buf;
    let at = c.size;
    buf[at++] = 0x92;
    buf[at++] = 0x92;
    buf[at++] = 0xd7;
    buf[at++] = 0x00;
    buf.writeUInt32BE(sec, at);
    buf.writeUInt32BE(nsec, at + 4);
    at += 8;
    buf[at++] = 0x80;
    buf[at++] = this.mapHeader;
    at += this.key.copy(buf, at);
    at = writeStrHeader(buf, at, end - start);
    at += src.copy(buf, at, start, end);
    at += this.extra.copy(buf, at);
    if (this.offsetKey) {
      at += this.offsetKey.copy(buf, at);
      buf[at] = 0xcf;
      buf.writeBigUInt64BE(BigInt(offset), at + 1);
      at += 9;
    }
    c.size = at;
    c.count++;
  }
}

// Writes a parsed record as an event, [[EventTime, {}], body], straight into
// a chunk's buffer: tail with a parser writes one per line, and msgpackr's
// generic encoder (its buffer management, then a copy into the chunk) cost
// more than the parser. The bytes are msgpackr's for the same event (same
// header and number choices), so a chunk reads the same either way.
import type { Record } from '../../sdk/src/codec/events.ts';

/** writeEvent's answer when the event may not fit before `limit`. */
export const NO_ROOM = -1;
/** writeEvent's answer when a value is not a string, number, boolean or null (a nested map or list): the generic encoder's job. */
export const NOT_FLAT = -2;

/**
 * Writes the event at buf[at] and returns where it ends, or NO_ROOM /
 * NOT_FLAT (the bytes from `at` on are then garbage). Room is checked for
 * the worst case (3 bytes per UTF-16 unit), so an event that would just fit
 * may be refused.
 */
export function writeEvent(buf: Buffer, at: number, limit: number, sec: number, nsec: number, body: Record): number {
  const keys = Object.keys(body);
  const n = keys.length;
  // Array headers, EventTime (10), metadata {} (1), map header (at most 5).
  if (at + 18 > limit) return NO_ROOM;
  buf[at++] = 0x92;
  buf[at++] = 0x92;
  buf[at++] = 0xd7;
  buf[at++] = 0x00;
  buf.writeUInt32BE(sec >>> 0, at);
  buf.writeUInt32BE(nsec >>> 0, at + 4);
  at += 8;
  buf[at++] = 0x80;
  if (n < 0x10) buf[at++] = 0x80 | n;
  else if (n < 0x10000) {
    buf[at++] = 0xde;
    buf[at++] = n >> 8;
    buf[at++] = n & 0xff;
  } else {
    buf[at++] = 0xdf;
    buf.writeUInt32BE(n, at);
    at += 4;
  }
  for (let i = 0; i < n; i++) {
    const key = keys[i]!;
    if (at + 5 + key.length * 3 > limit) return NO_ROOM;
    at = writeStr(buf, at, key);
    const v = body[key];
    switch (typeof v) {
      case 'string':
        if (at + 5 + v.length * 3 > limit) return NO_ROOM;
        at = writeStr(buf, at, v);
        break;
      case 'number':
        if (at + 9 > limit) return NO_ROOM;
        at = writeNumber(buf, at, v);
        break;
      case 'boolean':
        if (at + 1 > limit) return NO_ROOM;
        buf[at++] = v ? 0xc3 : 0xc2;
        break;
      case 'undefined':
        if (at + 1 > limit) return NO_ROOM;
        buf[at++] = 0xc0;
        break;
      case 'object':
        if (v !== null) return NOT_FLAT;
        if (at + 1 > limit) return NO_ROOM;
        buf[at++] = 0xc0;
        break;
      default:
        return NOT_FLAT;
    }
  }
  return at;
}

/** A str, as msgpackr writes it: header sized for the UTF-16 length, moved if the UTF-8 bytes need a bigger one. */
function writeStr(buf: Buffer, at: number, s: string): number {
  const chars = s.length;
  const head = chars < 0x20 ? 1 : chars < 0x100 ? 2 : chars < 0x10000 ? 3 : 5;
  let len: number;
  if (chars < 0x40) {
    // Short strings: a loop beats the call into C++.
    let p = at + head;
    for (let i = 0; i < chars; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) buf[p++] = c;
      else if (c < 0x800) {
        buf[p++] = (c >> 6) | 0xc0;
        buf[p++] = (c & 0x3f) | 0x80;
      } else {
        const c2 = s.charCodeAt(i + 1);
        if ((c & 0xfc00) === 0xd800 && (c2 & 0xfc00) === 0xdc00) {
          c = 0x10000 + ((c & 0x03ff) << 10) + (c2 & 0x03ff);
          i++;
          buf[p++] = (c >> 18) | 0xf0;
          buf[p++] = ((c >> 12) & 0x3f) | 0x80;
          buf[p++] = ((c >> 6) & 0x3f) | 0x80;
          buf[p++] = (c & 0x3f) | 0x80;
        } else {
          // A lone surrogate is written as it is (3 bytes), as msgpackr does.
          buf[p++] = (c >> 12) | 0xe0;
          buf[p++] = ((c >> 6) & 0x3f) | 0x80;
          buf[p++] = (c & 0x3f) | 0x80;
        }
      }
    }
    len = p - at - head;
  } else {
    len = buf.write(s, at + head);
  }
  if (len < 0x20) {
    buf[at] = 0xa0 | len;
    return at + 1 + len;
  }
  if (len < 0x100) {
    if (head < 2) buf.copyWithin(at + 2, at + 1, at + 1 + len);
    buf[at] = 0xd9;
    buf[at + 1] = len;
    return at + 2 + len;
  }
  if (len < 0x10000) {
    if (head < 3) buf.copyWithin(at + 3, at + head, at + head + len);
    buf[at] = 0xda;
    buf[at + 1] = len >> 8;
    buf[at + 2] = len & 0xff;
    return at + 3 + len;
  }
  if (head < 5) buf.copyWithin(at + 5, at + head, at + head + len);
  buf[at] = 0xdb;
  buf.writeUInt32BE(len, at + 1);
  return at + 5 + len;
}

/** A number, as msgpackr writes it (useRecords false, no float32): the smallest int that holds a 32-bit integer, else a float64. */
export function writeNumber(buf: Buffer, at: number, v: number): number {
  if (v >>> 0 === v) {
    if (v < 0x80) buf[at++] = v;
    else if (v < 0x100) {
      buf[at++] = 0xcc;
      buf[at++] = v;
    } else if (v < 0x10000) {
      buf[at++] = 0xcd;
      buf[at++] = v >> 8;
      buf[at++] = v & 0xff;
    } else {
      buf[at++] = 0xce;
      buf.writeUInt32BE(v, at);
      at += 4;
    }
  } else if (v >> 0 === v) {
    if (v >= -0x20) buf[at++] = 0x100 + v;
    else if (v >= -0x80) {
      buf[at++] = 0xd0;
      buf[at++] = v + 0x100;
    } else if (v >= -0x8000) {
      buf[at++] = 0xd1;
      buf.writeInt16BE(v, at);
      at += 2;
    } else {
      buf[at++] = 0xd2;
      buf.writeInt32BE(v, at);
      at += 4;
    }
  } else {
    buf[at++] = 0xcb;
    buf.writeDoubleBE(v, at);
    at += 8;
  }
  return at;
}

// format json's fast path for tail: a line's bytes, a flat JSON object,
// become the event's MessagePack straight in the chunk, with no string, no
// object and no JSON.parse (which, with its garbage, cost most of the json
// parser's time). It takes only what it can do exactly as the slow path
// (JsonParser.parse, then the record encoder) would; anything else (a
// nested value, a key V8 would reorder or one given twice, a lone surrogate
// escape, a time error, invalid JSON) gives BAIL, and the caller parses the
// line the slow way, which decides.
import type { TimeKey } from './format.ts';
import { EventTime } from '../../sdk/src/codec/events.ts';
import { writeStrHeader } from '../engine/chunk.ts';
import { NO_ROOM, writeNumber } from '../engine/record-encoder.ts';

/** Not a JSON object (the first character after spaces is not "{"): the line stays as it is, as JsonParser.parse says. */
export const UNMATCHED = -3;
/** Not for the fast path: parse the line's text. */
export const BAIL = -4;

/** Most keys a record may have here: the duplicate check compares every pair. */
const MAX_KEYS = 64;
/** Key ranges in the line, for the duplicate check. */
const keyAt = new Int32Array(MAX_KEYS * 2);

/** Where in the line the value just read ends (a second return value). */
let after = 0;

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * Writes [[time, {}], record] at out[at] for the JSON object in
 * src[start, end) (valid UTF-8), time being the parsed time_key or
 * sec/nsec; returns where it ends, or UNMATCHED, NO_ROOM or BAIL.
 */
export function writeJsonEvent(src: Buffer, start: number, end: number, out: Buffer, at: number, limit: number, sec: number, nsec: number, tk: TimeKey | undefined, tkBytes: Buffer | undefined): number {
  let i = start;
  while (i < end && isSpace(src[i]!)) i++;
  if (i >= end || src[i] !== 0x7b /* { */) return UNMATCHED;
  // Array headers, EventTime (10), metadata {} (1), a map header (1, or 3 made room for at the end).
  if (at + 16 > limit) return NO_ROOM;
  const base = at;
  out[at] = 0x92;
  out[at + 1] = 0x92;
  out[at + 2] = 0xd7;
  out[at + 3] = 0x00;
  out[at + 12] = 0x80;
  const mapAt = at + 13;
  at += 14;
  let n = 0;
  let keys = 0;
  i++;
  while (i < end && isSpace(src[i]!)) i++;
  // Bytes past end are the next line's: every read checks end first.
  if (i < end && src[i] === 0x7d /* } */) i++;
  else {
    for (;;) {
      // The key: plain text only.
      if (i >= end || src[i] !== 0x22) return BAIL;
      const ks = i + 1;
      let j = ks;
      for (;;) {
        if (j >= end) return BAIL;
        const c = src[j]!;
        if (c === 0x22) break;
        if (c === 0x5c || c < 0x20) return BAIL;
        j++;
      }
      const ke = j;
      const klen = ke - ks;
      // A key that may be an array index: V8 puts those first, ordered by value.
      if (klen > 0 && src[ks]! <= 0x39 && src[ks]! >= 0x30) return BAIL;
      if (keys === MAX_KEYS) return BAIL;
      for (let k = 0; k < keys; k++) {
        const s = keyAt[2 * k]!;
        if (keyAt[2 * k + 1]! - s === klen && same(src, s, src, ks, klen)) return BAIL;
      }
      keyAt[2 * keys] = ks;
      keyAt[2 * keys + 1] = ke;
      keys++;
      i = ke + 1;
      while (i < end && isSpace(src[i]!)) i++;
      if (i >= end || src[i] !== 0x3a /* : */) return BAIL;
      i++;
      while (i < end && isSpace(src[i]!)) i++;
      let write = true;
      if (tk !== undefined && klen === tkBytes!.length && same(tkBytes!, 0, src, ks, klen)) {
        // JsonParser's time rules; what it would call a time error is its to say.
        if (i >= end || src[i] !== 0x22) return BAIL;
        let e = i + 1;
        let ascii = true;
        for (;;) {
          if (e >= end) return BAIL;
          const c = src[e]!;
          if (c === 0x22) break;
          if (c === 0x5c || c < 0x20) return BAIL;
          if (c >= 0x80) ascii = false;
          e++;
        }
        if (e > i + 1) {
          const t = tk.format.parse(src.toString(ascii ? 'latin1' : 'utf8', i + 1, e));
          if (!(t instanceof EventTime)) return BAIL;
          sec = t.sec;
          nsec = t.nsec;
          write = tk.keep;
        }
      }
      if (write) {
        if (at + 5 + klen > limit) return NO_ROOM;
        at = writeStrHeader(out, at, klen);
        at = copy(src, ks, ke, out, at);
        at = writeValue(src, i, end, out, at, limit);
        if (at < 0) return at;
        i = after;
        n++;
      } else {
        // The time field is left out: skip its value.
        i = skipString(src, i + 1);
      }
      while (i < end && isSpace(src[i]!)) i++;
      const c = i < end ? src[i] : -1;
      i++;
      if (c === 0x2c /* , */) {
        while (i < end && isSpace(src[i]!)) i++;
        continue;
      }
      if (c === 0x7d) break;
      return BAIL;
    }
  }
  while (i < end && isSpace(src[i]!)) i++;
  if (i !== end) return BAIL;
  if (n < 0x10) out[mapAt] = 0x80 | n;
  else {
    // keys <= MAX_KEYS: map16.
    if (at + 2 > limit) return NO_ROOM;
    out.copyWithin(mapAt + 3, mapAt + 1, at);
    out[mapAt] = 0xde;
    out[mapAt + 1] = n >> 8;
    out[mapAt + 2] = n & 0xff;
    at += 2;
  }
  out.writeUInt32BE(sec >>> 0, base + 4);
  out.writeUInt32BE(nsec >>> 0, base + 8);
  return at;
}

/** After the opening quote of a string with no escapes (checked): past its closing quote. */
function skipString(src: Buffer, i: number): number {
  while (src[i] !== 0x22) i++;
  return i + 1;
}

/** A value at src[i] (after spaces); sets `after`. Numbers, strings, true, false, null; a map or list bails. */
function writeValue(src: Buffer, i: number, end: number, out: Buffer, at: number, limit: number): number {
  if (i >= end) return BAIL;
  const c = src[i]!;
  if (c === 0x22) return writeString(src, i + 1, end, out, at, limit);
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return writeJsonNumber(src, i, end, out, at, limit);
  if (at + 1 > limit) return NO_ROOM;
  if (c === 0x74 && src[i + 1] === 0x72 && src[i + 2] === 0x75 && src[i + 3] === 0x65 && i + 4 <= end) {
    out[at] = 0xc3;
    after = i + 4;
    return at + 1;
  }
  if (c === 0x66 && src[i + 1] === 0x61 && src[i + 2] === 0x6c && src[i + 3] === 0x73 && src[i + 4] === 0x65 && i + 5 <= end) {
    out[at] = 0xc2;
    after = i + 5;
    return at + 1;
  }
  if (c === 0x6e && src[i + 1] === 0x75 && src[i + 2] === 0x6c && src[i + 3] === 0x6c && i + 4 <= end) {
    out[at] = 0xc0;
    after = i + 4;
    return at + 1;
  }
  return BAIL;
}

/** A JSON number, to the double JSON.parse makes of it, written as msgpackr writes that double. */
function writeJsonNumber(src: Buffer, i: number, end: number, out: Buffer, at: number, limit: number): number {
  if (at + 9 > limit) return NO_ROOM;
  const s = i;
  const neg = src[i] === 0x2d;
  if (neg) i++;
  let v = 0;
  let c = i < end ? src[i]! : -1;
  if (c === 0x30) i++;
  else if (c >= 0x31 && c <= 0x39) {
    do {
      v = v * 10 + (c - 0x30);
      c = src[++i]!;
    } while (i < end && c >= 0x30 && c <= 0x39);
  } else return BAIL;
  let exact = i - s - (neg ? 1 : 0) <= 15;
  if (i < end && src[i] === 0x2e /* . */) {
    exact = false;
    i++;
    const d = i;
    while (i < end && src[i]! >= 0x30 && src[i]! <= 0x39) i++;
    if (i === d) return BAIL;
  }
  if (i < end && (src[i] === 0x65 || src[i] === 0x45)) {
    exact = false;
    i++;
    if (src[i] === 0x2b || src[i] === 0x2d) i++;
    const d = i;
    while (i < end && src[i]! >= 0x30 && src[i]! <= 0x39) i++;
    if (i === d) return BAIL;
  }
  after = i;
  // Up to 15 digits an integer is exact as it was summed; anything else is parsed as JSON.parse does (round to nearest).
  return writeNumber(out, at, exact ? (neg ? -v : v) : Number(src.toString('latin1', s, i)));
}

/** A string from src[i] (after its opening quote); its escapes decoded. Sets `after`. */
function writeString(src: Buffer, i: number, end: number, out: Buffer, at: number, limit: number): number {
  // One pass in JavaScript over the bytes (control characters are not JSON); copies are memcpy.
  let e = i;
  let escape = -1;
  for (;;) {
    if (e >= end) return BAIL;
    const c = src[e]!;
    if (c === 0x22) break;
    if (c < 0x20) return BAIL;
    if (c === 0x5c) {
      if (escape < 0) escape = e;
      e += 2;
    } else e++;
  }
  const raw = e - i;
  if (at + 5 + raw > limit) return NO_ROOM;
  after = e + 1;
  if (escape < 0) return copy(src, i, e, out, writeStrHeader(out, at, raw));
  // Decoded text is never longer than its escaped form: written after a header sized for raw, moved back if a smaller one fits.
  const head = raw < 0x20 ? 1 : raw < 0x100 ? 2 : raw < 0x10000 ? 3 : 5;
  let p = copy(src, i, escape, out, at + head);
  for (let j = escape; j < e; ) {
    // src[j] is a backslash; what follows it is before e (the scan skipped it).
    const x = src[j + 1];
    j += 2;
    switch (x) {
      case 0x22: out[p++] = 0x22; break;
      case 0x5c: out[p++] = 0x5c; break;
      case 0x2f: out[p++] = 0x2f; break;
      case 0x62: out[p++] = 0x08; break;
      case 0x66: out[p++] = 0x0c; break;
      case 0x6e: out[p++] = 0x0a; break;
      case 0x72: out[p++] = 0x0d; break;
      case 0x74: out[p++] = 0x09; break;
      case 0x75: {
        let u = hex4(src, j, e);
        if (u < 0) return BAIL;
        j += 4;
        if (u >= 0xd800 && u <= 0xdfff) {
          // Only a whole pair: msgpackr writes a lone surrogate differently in short and long strings.
          const lo = u <= 0xdbff && src[j] === 0x5c && src[j + 1] === 0x75 ? hex4(src, j + 2, e) : -1;
          if (lo < 0xdc00 || lo > 0xdfff) return BAIL;
          j += 6;
          u = 0x10000 + ((u & 0x3ff) << 10) + (lo & 0x3ff);
          out[p++] = (u >> 18) | 0xf0;
          out[p++] = ((u >> 12) & 0x3f) | 0x80;
          out[p++] = ((u >> 6) & 0x3f) | 0x80;
          out[p++] = (u & 0x3f) | 0x80;
        } else if (u < 0x80) out[p++] = u;
        else if (u < 0x800) {
          out[p++] = (u >> 6) | 0xc0;
          out[p++] = (u & 0x3f) | 0x80;
        } else {
          out[p++] = (u >> 12) | 0xe0;
          out[p++] = ((u >> 6) & 0x3f) | 0x80;
          out[p++] = (u & 0x3f) | 0x80;
        }
        break;
      }
      default:
        return BAIL;
    }
    // The run up to the next escape, or to the end.
    let k = j < e ? src.indexOf(0x5c, j) : e;
    if (k < 0 || k > e) k = e;
    p = copy(src, j, k, out, p);
    j = k;
  }
  const len = p - at - head;
  const fit = len < 0x20 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
  if (fit < head) out.copyWithin(at + fit, at + head, p);
  writeStrHeader(out, at, len);
  return at + fit + len;
}

/** Four hex digits at src[j] (before end) as a number, or -1. */
function hex4(src: Buffer, j: number, end: number): number {
  if (j + 4 > end) return -1;
  let v = 0;
  for (let k = j; k < j + 4; k++) {
    const c = src[k]!;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1;
    if (d < 0) return -1;
    v = (v << 4) | d;
  }
  return v;
}

/** a[i, i + n) and b[j, j + n) hold the same bytes (keys are short: a loop beats a call into C++). */
function same(a: Buffer, i: number, b: Buffer, j: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}

/** src[s, e) to out[at]: a loop for short runs, memcpy for long ones. */
function copy(src: Buffer, s: number, e: number, out: Buffer, at: number): number {
  if (e - s < 24) {
    while (s < e) out[at++] = src[s++]!;
    return at;
  }
  return at + src.copy(out, at, s, e);
}

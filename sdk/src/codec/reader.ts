// A MessagePack reader for the values events are made of, giving what
// msgpackr gives (maps as plain objects with string keys, '__proto__' as
// '__proto_', 64-bit integers as numbers, bin as a subarray of the input,
// fixext 8 of type 0 as EventTime). It decodes events two to four times
// faster than msgpackr (bench/json-lines.ts), allocates less, and costs
// nothing per call, where msgpackr's native string extractor scans up to
// 1.5 MB of the input on every call (so decoding a chunk a few events at a
// time was quadratic).
//
// Anything else (another extension, a non-string map key, 0xc1, a value that
// runs past the end, arrays longer than the input could hold) throws
// UNSUPPORTED, and the caller asks msgpackr: both read every value alike.
import { eventTimeAt } from './event-time.ts';

export const UNSUPPORTED = Symbol('left to msgpackr');

const EMPTY = Buffer.alloc(0);
let src: Uint8Array = EMPTY;
/**
 * src as a Buffer, for its UTF-8 decoder. utf8Slice is what toString('utf8')
 * calls after checking its arguments, which cost a quarter of the time here;
 * every Node Buffer has it (msgpackr uses latin1Slice the same way).
 */
let text = EMPTY as Buffer & { utf8Slice(start: number, end: number): string };
const EMPTY_VIEW = new DataView(EMPTY.buffer);
let view: DataView<ArrayBufferLike> = EMPTY_VIEW;
let end = 0;
let pos = 0;
/** Array elements left to allocate, so nested array headers cannot claim far more memory than the input holds. */
let budget = 0;

/** Reads the value at byte `at` of data; `position()` is where it ends. Throws UNSUPPORTED (see above). */
export function readAt(data: Uint8Array, at: number): unknown {
  if (data !== src) {
    src = data;
    text = (Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)) as typeof text;
    view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    end = data.length;
  }
  pos = at;
  budget = end - at;
  return read();
}

export function position(): number {
  return pos;
}

/** Drops the reference to the last input, so that it can be collected. */
export function release(): void {
  src = text = EMPTY as typeof text;
  view = EMPTY_VIEW;
  end = 0;
}

function need(n: number): void {
  if (end - pos < n) throw UNSUPPORTED;
}

function u16(): number {
  need(2);
  const v = view.getUint16(pos);
  pos += 2;
  return v;
}

function u32(): number {
  need(4);
  const v = view.getUint32(pos);
  pos += 4;
  return v;
}

function read(): unknown {
  if (pos >= end) throw UNSUPPORTED;
  const t = src[pos++]!;
  if (t < 0x80) return t;
  if (t < 0x90) return map(t & 0x0f);
  if (t < 0xa0) return array(t & 0x0f);
  if (t < 0xc0) return str(t & 0x1f);
  if (t >= 0xe0) return t - 0x100;
  let v: number;
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      need(1);
      return bin(src[pos++]!);
    case 0xc5:
      return bin(u16());
    case 0xc6:
      return bin(u32());
    case 0xca:
      need(4);
      v = view.getFloat32(pos);
      pos += 4;
      return v;
    case 0xcb:
      need(8);
      v = view.getFloat64(pos);
      pos += 8;
      return v;
    case 0xcc:
      need(1);
      return src[pos++];
    case 0xcd:
      return u16();
    case 0xce:
      return u32();
    case 0xcf:
      // As msgpackr's int64AsType 'number', precision lost above 2^53 included.
      need(8);
      v = view.getUint32(pos) * 0x100000000 + view.getUint32(pos + 4);
      pos += 8;
      return v;
    case 0xd0:
      need(1);
      return view.getInt8(pos++);
    case 0xd1:
      need(2);
      v = view.getInt16(pos);
      pos += 2;
      return v;
    case 0xd2:
      need(4);
      v = view.getInt32(pos);
      pos += 4;
      return v;
    case 0xd3:
      need(8);
      v = view.getInt32(pos) * 0x100000000 + view.getUint32(pos + 4);
      pos += 8;
      return v;
    case 0xd7:
      need(9);
      if (src[pos] !== 0) throw UNSUPPORTED;
      pos += 9;
      return eventTimeAt(src, pos - 8);
    case 0xd9:
      need(1);
      return str(src[pos++]!);
    case 0xda:
      return str(u16());
    case 0xdb:
      return str(u32());
    case 0xdc:
      return array(u16());
    case 0xdd:
      return array(u32());
    case 0xde:
      return map(u16());
    case 0xdf:
      return map(u32());
  }
  throw UNSUPPORTED;
}

function bin(n: number): Uint8Array {
  need(n);
  return src.subarray(pos, (pos += n));
}

const fromCharCode = String.fromCharCode;

function str(n: number): string {
  need(n);
  const at = pos;
  pos += n;
  // Short ASCII in JS: a call into the UTF-8 decoder costs more.
  if (n < 6) {
    let s = '';
    for (let i = at; i < pos; i++) {
      const c = src[i]!;
      if (c >= 0x80) return text.utf8Slice(at, pos);
      s += fromCharCode(c);
    }
    return s;
  }
  return text.utf8Slice(at, pos);
}

// Keys repeat from event to event: the same bytes give the same string
// without decoding it again.
const keyBytes: (Uint8Array | undefined)[] = new Array(4096);
const keyStrings: string[] = new Array(4096);

function key(): string {
  const t = src[pos]!;
  let k: string;
  if (t > 0xa0 && t < 0xb0) {
    const n = t & 0x1f;
    pos++;
    need(n);
    const slot = ((n << 5) ^ (n > 1 ? (src[pos]! << 8) | src[pos + 1]! : src[pos]!)) & 0xfff;
    const cached = keyBytes[slot];
    if (cached !== undefined && cached.length === n) {
      let i = 0;
      while (i < n && cached[i] === src[pos + i]) i++;
      if (i === n) {
        pos += n;
        return keyStrings[slot]!;
      }
    }
    // A copy: a Buffer's slice is a view, whose bytes the next chunk may overwrite.
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = src[pos + i]!;
    keyBytes[slot] = bytes;
    k = str(n);
    keyStrings[slot] = k = k === '__proto__' ? '__proto_' : k;
    return k;
  }
  if ((t >= 0xa0 && t < 0xc0) || (t >= 0xd9 && t <= 0xdb)) {
    k = read() as string;
    return k === '__proto__' ? '__proto_' : k;
  }
  // msgpackr makes keys of numbers, booleans and nil; rare enough to leave to it.
  throw UNSUPPORTED;
}

function map(n: number): { [key: string]: unknown } {
  // Each entry takes at least two bytes.
  if (n > (end - pos) / 2) throw UNSUPPORTED;
  const o: { [key: string]: unknown } = {};
  for (let i = 0; i < n; i++) {
    const k = key();
    o[k] = read();
  }
  return o;
}

function array(n: number): unknown[] {
  if (n > end - pos || (budget -= n) < 0) throw UNSUPPORTED;
  const a = new Array(n);
  for (let i = 0; i < n; i++) a[i] = read();
  return a;
}

/**
 * Where the value at byte `at` ends, by its headers alone (any type, any
 * extension), or -1 when it runs past the end of data.
 */
export function skipAt(data: Uint8Array, at: number): number {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const len = data.length;
  let p = at;
  // Values still to skip: a map adds two per entry, an array one per element.
  for (let left = 1; left > 0; left--) {
    if (p >= len) return -1;
    const t = data[p++]!;
    if (t < 0x80 || t >= 0xe0 || (t >= 0xc0 && t <= 0xc3)) continue;
    if (t < 0x90) left += 2 * (t & 0x0f);
    else if (t < 0xa0) left += t & 0x0f;
    else if (t < 0xc0) p += t & 0x1f;
    else {
      // [header bytes, length bytes, extra bytes]; fixed sizes have no length.
      const size = SIZES[t - 0xc4]!;
      const [header, lengthBytes, extra] = size;
      if (len - p < header) return -1;
      const n = lengthBytes === 1 ? data[p]! : lengthBytes === 2 ? v.getUint16(p) : lengthBytes === 4 ? v.getUint32(p) : 0;
      p += header;
      if (t >= 0xdc && t <= 0xdf) left += t >= 0xde ? 2 * n : n;
      else p += n + extra;
    }
  }
  return p <= len ? p : -1;
}

// By token, from 0xc4: [bytes after the token that hold a length or a fixed payload, of which length bytes, bytes after the length].
const SIZES: readonly (readonly [number, number, number])[] = [
  [1, 1, 0], [2, 2, 0], [4, 4, 0], // bin 8, 16, 32
  [1, 1, 1], [2, 2, 1], [4, 4, 1], // ext 8, 16, 32 (and the type byte)
  [4, 0, 0], [8, 0, 0], // float 32, 64
  [1, 0, 0], [2, 0, 0], [4, 0, 0], [8, 0, 0], // uint 8..64
  [1, 0, 0], [2, 0, 0], [4, 0, 0], [8, 0, 0], // int 8..64
  [2, 0, 0], [3, 0, 0], [5, 0, 0], [9, 0, 0], [17, 0, 0], // fixext 1..16 (type byte and payload)
  [1, 1, 0], [2, 2, 0], [4, 4, 0], // str 8, 16, 32
  [2, 2, 0], [4, 4, 0], // array 16, 32
  [2, 2, 0], [4, 4, 0], // map 16, 32
];

import { forEachEvent, type Event, type EventTime, type Record } from './events.ts';

// A replacer puts every JSON.stringify call on V8's slow path, for values
// that almost never occur: a bigint and a Uint8Array that is not a Buffer.
// So each body is stringified plainly, and only the rare one that holds such
// a value goes through the replacer:
// - a bigint makes the plain call throw;
// - a Uint8Array without toJSON comes out as {} or {"0":…}, which bodyJson
//   looks for (false alarms, such as an empty map, only cost time).
// A Buffer has toJSON, which runs before a replacer sees the value, so
// Buffers come out as {"type":"Buffer","data":[…]} either way.
function replacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v;
}

/** The definition: what every writer here must give. */
function slowJson(body: Record, key: string, value: unknown): string {
  const obj = key ? { [key]: value, ...body } : body;
  return `${JSON.stringify(obj, replacer)}`;
}

let cachedKey = '';
let keyPrefix = '';
let keyIsIndexLike = false;
let keyIsAscii = true;

/**
 * The body's JSON, if slowJson's is that JSON with `"<key>":<value>` put in
 * front of its first key; undefined when it is not (or may not be).
 */
function bodyJson(body: Record, key: string): string | undefined {
  let json: string;
  try {
    json = JSON.stringify(body);
    // An empty body, integer keys (which an object lists first, before the
    // key), a toJSON (the replacer would see what it returns, a spread does
    // not copy it), and raw bytes; most bodies hold no nested map at all, so
    // one scan for a '{'.
    const c = json.charCodeAt(2);
    if (json.length === 2 || (c >= 48 && c <= 57) || body.toJSON !== undefined) return undefined;
    if (json.indexOf('{', 1) > 0 && (json.includes('{}') || json.includes('{"0":'))) return undefined;
  } catch {
    return undefined;
  }
  if (!key) return json;
  if (key !== cachedKey) {
    cachedKey = key;
    keyPrefix = `{${JSON.stringify(key)}:`;
    keyIsIndexLike = /^[0-9]/.test(key);
    keyIsAscii = /^[\x00-\x7f]*$/.test(keyPrefix);
    lastSec = NaN;
  }
  // A body key equal to key wins, and an integer-like key goes among the
  // integer keys.
  if (keyIsIndexLike || Object.hasOwn(body, key)) return undefined;
  return json;
}

/**
 * The JSON of { [key]: value, ...body } (key '': the body alone), as
 * toJsonLine writes a line: a bigint as its digits, a Uint8Array that is not
 * a Buffer in base64. value: a string or a number.
 */
export function toJson(body: Record, key: string, value: string | number): string {
  const json = bodyJson(body, key);
  if (json === undefined) return slowJson(body, key, value);
  return key ? `${keyPrefix}${JSON.stringify(value)},${json.slice(1)}` : json;
}

// Events of one read share their time, and V8's double to text is slow.
let lastSec = NaN;
let lastNsec = NaN;
let lastHead = '';

/** `{"<dateKey>":<time>`, for the current dateKey */
function head(time: EventTime): string {
  if (time.sec !== lastSec || time.nsec !== lastNsec) {
    lastSec = time.sec;
    lastNsec = time.nsec;
    lastHead = keyPrefix + seconds(time);
  }
  return lastHead;
}

// '', '.001', … '.5', … '.999': a millisecond as the fraction JavaScript writes.
const MILLIS = Array.from({ length: 1000 }, (_, ms) => (ms ? String(ms / 1000).slice(1) : ''));

/**
 * JSON.stringify(time.toNumber()), without V8's slow double to text for a
 * time in whole milliseconds (from Date.now()) from 512 s on: then
 * toNumber() is the double nearest to sec.mmm (below, two roundings can
 * make it a neighbour), and no shorter text than sec.mmm is nearer to it
 * (doubles there are 2^-20 apart at most, texts 0.001).
 */
function seconds(time: EventTime): string {
  const { sec, nsec } = time;
  if (Number.isInteger(sec) && sec >= 512 && sec < 2 ** 32 && Number.isInteger(nsec) && nsec >= 0 && nsec < 1e9 && nsec % 1e6 === 0) {
    return sec + MILLIS[nsec / 1e6]!;
  }
  const t = time.toNumber();
  return Number.isFinite(t) ? String(t) : 'null';
}

/**
 * One event as a JSON line: the body's keys, with the time under dateKey as
 * seconds with a fraction (Fluent Bit's json_date_format "double"); dateKey
 * '' leaves the time out.
 */
export function toJsonLine(e: Event, dateKey: string): string {
  const json = bodyJson(e.body, dateKey);
  if (json === undefined) return slowJson(e.body, dateKey, e.time.toNumber()) + '\n';
  return dateKey ? `${head(e.time)},${json.slice(1)}\n` : json + '\n';
}

// The last result's size with some to spare: the next chunk is usually about
// as large, so the buffer seldom grows (a copy) or goes mostly unused.
let estimate = 64 * 1024;

/**
 * A chunk's events as JSON lines (as toJsonLine), in one new Buffer, for an
 * output that writes a chunk with one call. Decodes one event at a time and
 * keeps none, and writes each piece straight into the Buffer: a third less
 * CPU than decodeEvents, toJsonLine per event, joined and encoded (bench/
 * json-lines.ts). Throws EventDecodeError as decodeEvents does.
 */
export function toJsonLines(data: Uint8Array, dateKey: string): Buffer {
  let out = Buffer.allocUnsafeSlow(estimate);
  let at = 0;
  // At most 3 bytes of UTF-8 per UTF-16 unit, and the newline.
  const room = (chars: number) => {
    if (out.length - at > 3 * chars) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(2 * out.length, at + 3 * chars + 1));
    out.copy(bigger, 0, 0, at);
    out = bigger;
  };
  forEachEvent(data, 0, (e) => {
    const json = bodyJson(e.body, dateKey);
    if (json === undefined) {
      const s = slowJson(e.body, dateKey, e.time.toNumber());
      room(s.length);
      at += out.write(s, at);
    } else if (!dateKey) {
      room(json.length);
      at += out.write(json, at);
    } else {
      // The body's JSON after the time, its '{' overwritten with ','.
      const h = head(e.time);
      room(h.length + json.length);
      // A few ASCII bytes: cheaper here than a call into Buffer.write.
      if (keyIsAscii) for (let i = 0; i < h.length; i++) out[at++] = h.charCodeAt(i);
      else at += out.write(h, at);
      const n = out.write(json, at);
      out[at] = 0x2c;
      at += n;
    }
    out[at++] = 10;
  });
  estimate = Math.max(64 * 1024, Math.ceil(at * 1.25));
  return out.subarray(0, at);
}

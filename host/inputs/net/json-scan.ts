// A JSON syntax scanner over bytes. JSON.parse does the parsing; this only
// says where a value ends and, for input that JSON.parse refused, at which
// byte the first error is: V8's messages give no position for some errors
// ("Unexpected token ... is not valid JSON"), and a position in UTF-16 code
// units is not the byte offset a sender can look up. It also finds the end
// of each value in a run of concatenated values ({"a":1}{"b":2}), so both
// network inputs can accept a stream of JSON maps as Fluent Bit does.

export type ScanResult = { ok: true; end: number } | { ok: false; at: number; error: string };

const SPACE = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) SPACE[c] = 1;

/** The first byte at or after `pos` (before `end`) that is not JSON whitespace. */
export function skipSpace(buf: Uint8Array, pos: number, end: number): number {
  while (pos < end && SPACE[buf[pos]!]) pos++;
  return pos;
}

const fail = (at: number, error: string): ScanResult => ({ ok: false, at, error });

function describeByte(buf: Uint8Array, at: number, end: number): string {
  if (at >= end) return 'end of input';
  const c = buf[at]!;
  return c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;
const isHex = (c: number | undefined) => c !== undefined && ((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66));

function scanString(buf: Uint8Array, pos: number, end: number): ScanResult {
  // buf[pos] is the opening quote.
  for (let i = pos + 1; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x22) return { ok: true, end: i + 1 };
    if (c < 0x20) return fail(i, c === 0x0a ? 'unterminated string (a raw newline inside a string)' : 'control character inside a string');
    if (c === 0x5c) {
      const e = buf[++i];
      if (e === 0x75) {
        for (let k = 1; k <= 4; k++) if (i + k >= end || !isHex(buf[i + k])) return fail(Math.min(i + k, end), 'bad \\u escape in a string');
        i += 4;
      } else if (e === undefined || i >= end || !'"\\/bfnrt'.includes(String.fromCharCode(e))) {
        return fail(Math.min(i, end), 'bad escape in a string');
      }
    }
  }
  return fail(end, 'unterminated string');
}

function scanNumber(buf: Uint8Array, pos: number, end: number): ScanResult {
  let i = pos;
  if (buf[i] === 0x2d) i++;
  if (i >= end || !isDigit(buf[i])) return fail(i, `expected a digit, got ${describeByte(buf, i, end)}`);
  if (buf[i] === 0x30) i++;
  else while (i < end && isDigit(buf[i])) i++;
  if (i < end && buf[i] === 0x2e) {
    i++;
    if (i >= end || !isDigit(buf[i])) return fail(i, `expected a digit after the decimal point, got ${describeByte(buf, i, end)}`);
    while (i < end && isDigit(buf[i])) i++;
  }
  if (i < end && (buf[i] === 0x65 || buf[i] === 0x45)) {
    i++;
    if (buf[i] === 0x2b || buf[i] === 0x2d) i++;
    if (i >= end || !isDigit(buf[i])) return fail(i, `expected a digit in the exponent, got ${describeByte(buf, i, end)}`);
    while (i < end && isDigit(buf[i])) i++;
  }
  return { ok: true, end: i };
}

function scanWord(buf: Uint8Array, pos: number, end: number, word: string): ScanResult {
  for (let k = 0; k < word.length; k++) {
    if (pos + k >= end || buf[pos + k] !== word.charCodeAt(k)) return fail(pos + k, `expected ${word}, got ${describeByte(buf, pos + k, end)}`);
  }
  return { ok: true, end: pos + word.length };
}

/** A scalar or the opening of a container at pos (after whitespace). */
function scanScalar(buf: Uint8Array, pos: number, end: number): ScanResult {
  const c = buf[pos];
  if (pos >= end) return fail(end, 'unexpected end of input, expected a value');
  if (c === 0x22) return scanString(buf, pos, end);
  if (c === 0x2d || isDigit(c)) return scanNumber(buf, pos, end);
  if (c === 0x74) return scanWord(buf, pos, end, 'true');
  if (c === 0x66) return scanWord(buf, pos, end, 'false');
  if (c === 0x6e) return scanWord(buf, pos, end, 'null');
  return fail(pos, `unexpected ${describeByte(buf, pos, end)}, expected a value`);
}

/**
 * Scans one JSON value starting at `pos` (leading whitespace allowed) and
 * returns where it ends, or the byte offset and nature of the first error.
 * Iterative: nesting depth costs an array entry, not a stack frame.
 */
export function scanValue(buf: Uint8Array, pos: number, end = buf.length): ScanResult {
  // Open containers: 0x7b '{' or 0x5b '['.
  const stack: number[] = [];
  let i = skipSpace(buf, pos, end);
  for (;;) {
    // Expecting a value at i.
    const c = buf[i];
    if (i < end && (c === 0x7b || c === 0x5b)) {
      i = skipSpace(buf, i + 1, end);
      const close = c === 0x7b ? 0x7d : 0x5d;
      if (i < end && buf[i] === close) {
        i++;
      } else {
        stack.push(c);
        if (c === 0x7b) {
          const k = expectKey(buf, i, end);
          if (!k.ok) return k;
          i = k.end;
        }
        continue;
      }
    } else {
      const r = scanScalar(buf, i, end);
      if (!r.ok) return r;
      i = r.end;
    }
    // After a value: close containers or go on to the next element.
    for (;;) {
      if (stack.length === 0) return { ok: true, end: i };
      const top = stack[stack.length - 1]!;
      i = skipSpace(buf, i, end);
      if (i < end && buf[i] === 0x2c) {
        i = skipSpace(buf, i + 1, end);
        if (top === 0x7b) {
          const k = expectKey(buf, i, end);
          if (!k.ok) return k;
          i = k.end;
        }
        break;
      }
      if (i < end && buf[i] === (top === 0x7b ? 0x7d : 0x5d)) {
        stack.pop();
        i++;
        continue;
      }
      return fail(i, `expected ',' or '${top === 0x7b ? '}' : ']'}', got ${describeByte(buf, i, end)}`);
    }
  }
}

/** A member's key and colon at i; returns where its value starts. */
function expectKey(buf: Uint8Array, i: number, end: number): ScanResult {
  if (i >= end || buf[i] !== 0x22) return fail(i, `expected a string key, got ${describeByte(buf, i, end)}`);
  const k = scanString(buf, i, end);
  if (!k.ok) return k;
  const colon = skipSpace(buf, k.end, end);
  if (colon >= end || buf[colon] !== 0x3a) return fail(colon, `expected ':' after a key, got ${describeByte(buf, colon, end)}`);
  return { ok: true, end: skipSpace(buf, colon + 1, end) };
}

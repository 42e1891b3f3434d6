// MessagePack structure without decoding: where a value ends, whether it is
// well formed, and a few facts about what it holds. Iterative (nesting costs
// an array entry, not a stack frame), allocation-free on the hot path, and
// never reads past the end it is given. The forward input frames a TCP
// stream with it (FrameScanner resumes where the last read stopped), and
// checks each record with it before copying the record's bytes, as they
// are, into a chunk.

/** A header: bytes before the payload, payload bytes, and child items (2 per map entry). */
let hLen = 0;
let hPayload = 0;
let hItems = 0;
/** 0: scalar, 1: array, 2: map, 3: str, 4: bin, 5: ext. */
let hKind = 0;

export const KIND_SCALAR = 0;
export const KIND_ARRAY = 1;
export const KIND_MAP = 2;
export const KIND_STR = 3;
export const KIND_BIN = 4;
export const KIND_EXT = 5;

/** Header bytes each type byte needs (0: look at the byte). Filled below. */
const INVALID = -1;
const NEED_MORE = -2;

/**
 * Reads the header at pos into hLen/hPayload/hItems/hKind. Returns 0, or
 * NEED_MORE when the header itself is cut off at end, or INVALID for the one
 * byte MessagePack never uses (0xc1).
 */
function header(buf: Uint8Array, pos: number, end: number): number {
  const b = buf[pos]!;
  hPayload = 0;
  hItems = 0;
  hKind = KIND_SCALAR;
  if (b <= 0x7f || b >= 0xe0) {
    hLen = 1;
    return 0;
  }
  if (b <= 0x8f) {
    hLen = 1;
    hItems = (b & 0x0f) * 2;
    hKind = KIND_MAP;
    return 0;
  }
  if (b <= 0x9f) {
    hLen = 1;
    hItems = b & 0x0f;
    hKind = KIND_ARRAY;
    return 0;
  }
  if (b <= 0xbf) {
    hLen = 1;
    hPayload = b & 0x1f;
    hKind = KIND_STR;
    return 0;
  }
  switch (b) {
    case 0xc0: case 0xc2: case 0xc3:
      hLen = 1;
      return 0;
    case 0xc1:
      return INVALID;
    case 0xc4: case 0xd9:
      hLen = 2;
      if (pos + 2 > end) return NEED_MORE;
      hPayload = buf[pos + 1]!;
      hKind = b === 0xc4 ? KIND_BIN : KIND_STR;
      return 0;
    case 0xc5: case 0xda:
      hLen = 3;
      if (pos + 3 > end) return NEED_MORE;
      hPayload = (buf[pos + 1]! << 8) | buf[pos + 2]!;
      hKind = b === 0xc5 ? KIND_BIN : KIND_STR;
      return 0;
    case 0xc6: case 0xdb:
      hLen = 5;
      if (pos + 5 > end) return NEED_MORE;
      hPayload = u32(buf, pos + 1);
      hKind = b === 0xc6 ? KIND_BIN : KIND_STR;
      return 0;
    case 0xc7:
      hLen = 3;
      if (pos + 3 > end) return NEED_MORE;
      hPayload = buf[pos + 1]!;
      hKind = KIND_EXT;
      return 0;
    case 0xc8:
      hLen = 4;
      if (pos + 4 > end) return NEED_MORE;
      hPayload = (buf[pos + 1]! << 8) | buf[pos + 2]!;
      hKind = KIND_EXT;
      return 0;
    case 0xc9:
      hLen = 6;
      if (pos + 6 > end) return NEED_MORE;
      hPayload = u32(buf, pos + 1);
      hKind = KIND_EXT;
      return 0;
    case 0xca: hLen = 5; return 0;
    case 0xcb: hLen = 9; return 0;
    case 0xcc: case 0xd0: hLen = 2; return 0;
    case 0xcd: case 0xd1: hLen = 3; return 0;
    case 0xce: case 0xd2: hLen = 5; return 0;
    case 0xcf: case 0xd3: hLen = 9; return 0;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
      // fixext 1, 2, 4, 8, 16: type byte, then the data.
      hLen = 2;
      hPayload = 1 << (b - 0xd4);
      hKind = KIND_EXT;
      return 0;
    case 0xdc: case 0xde:
      hLen = 3;
      if (pos + 3 > end) return NEED_MORE;
      hItems = ((buf[pos + 1]! << 8) | buf[pos + 2]!) * (b === 0xde ? 2 : 1);
      hKind = b === 0xde ? KIND_MAP : KIND_ARRAY;
      return 0;
    default: // 0xdd, 0xdf
      hLen = 5;
      if (pos + 5 > end) return NEED_MORE;
      hItems = u32(buf, pos + 1) * (b === 0xdf ? 2 : 1);
      hKind = b === 0xdf ? KIND_MAP : KIND_ARRAY;
      return 0;
  }
}

const u32 = (buf: Uint8Array, at: number) => ((buf[at]! << 24) >>> 0) + ((buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!);

/** What `inspect` saw in the last value it walked. */
export const walked = {
  /** An extension value other than EventTime (type 0, 8 bytes): a decoder may not know it. */
  ext: false,
  /** A map key that is not a string (a number, nil, ...). */
  nonStrKey: false,
  /** A map key that is an array or a map. */
  containerKey: false,
  /** Deepest nesting of containers. */
  depth: 0,
};

/** Open containers of `inspect`: items left, and whether it is a map. Reused. */
const leftStack: number[] = [];
const mapStack: boolean[] = [];

/**
 * The end of the complete, well-formed value at pos, or -1 if it is cut off
 * at end or malformed. Fills `walked`.
 */
export function inspect(buf: Uint8Array, pos: number, end: number): number {
  walked.ext = false;
  walked.nonStrKey = false;
  walked.containerKey = false;
  walked.depth = 0;
  let sp = 0;
  for (;;) {
    if (pos >= end) return -1;
    if (header(buf, pos, end) !== 0) return -1;
    if (sp > 0 && mapStack[sp - 1] && (leftStack[sp - 1]! & 1) === 0) {
      // A key: the parent map has an even number of items left.
      if (hKind !== KIND_STR) {
        walked.nonStrKey = true;
        if (hKind === KIND_ARRAY || hKind === KIND_MAP) walked.containerKey = true;
      }
    }
    if (hKind === KIND_EXT && !(hPayload === 8 && buf[pos + hLen - 1] === 0)) walked.ext = true;
    const next = pos + hLen + hPayload;
    if (next > end) return -1;
    pos = next;
    if (hItems > 0) {
      // Each item takes at least a byte: a count larger than what is left cannot complete.
      if (hItems > end - pos) return -1;
      leftStack[sp] = hItems;
      mapStack[sp] = hKind === KIND_MAP;
      sp++;
      if (sp > walked.depth) walked.depth = sp;
      continue;
    }
    // A value is complete: close the containers it completes.
    for (;;) {
      if (sp === 0) return pos;
      const left = leftStack[sp - 1]! - 1;
      if (left > 0) {
        leftStack[sp - 1] = left;
        break;
      }
      sp--;
    }
  }
}

/** The end of the complete value at pos, or -1 (cut off or malformed). */
export function skip(buf: Uint8Array, pos: number, end: number): number {
  return inspect(buf, pos, end);
}

/** The header of the value at pos (which must be complete): its kind, and where its payload or first item starts. */
export function peek(buf: Uint8Array, pos: number, end: number): { kind: number; body: number; payload: number; items: number } | undefined {
  if (pos >= end || header(buf, pos, end) !== 0) return undefined;
  return { kind: hKind, body: pos + hLen, payload: hPayload, items: hKind === KIND_MAP ? hItems / 2 : hItems };
}

export type ScanResult =
  | { status: 'done'; end: number }
  | { status: 'more' }
  | { status: 'error'; at: number; error: string; tooLarge: boolean };

/**
 * Finds the end of one value in a stream that arrives in pieces. Resumable:
 * what it has seen of the value is kept (positions relative to the value's
 * start), so each byte is looked at once however the value is split.
 */
export class FrameScanner {
  /** Bytes of the value already walked, from its start. */
  private rel = 0;
  /** Bytes the value is known to take at least, from what its headers declare (after a 'more'). */
  need = 0;
  private readonly left: number[] = [];
  private readonly maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  reset(): void {
    this.rel = 0;
    this.need = 0;
    this.left.length = 0;
  }

  /** Bytes of the current value walked so far. */
  get scanned(): number {
    return this.rel;
  }

  /**
   * Goes on walking the value that starts at `start` of buf, whose bytes up
   * to `end` are available. A value that would be longer than maxBytes is an
   * error as soon as a header says so.
   */
  scan(buf: Uint8Array, start: number, end: number): ScanResult {
    const limit = start + this.maxBytes;
    const left = this.left;
    let pos = start + this.rel;
    let need: number;
    for (;;) {
      if (pos >= end) {
        need = pos + 1;
        break;
      }
      const h = header(buf, pos, end);
      if (h === NEED_MORE) {
        need = pos + hLen;
        break;
      }
      if (h === INVALID) return { status: 'error', at: pos, error: 'byte 0xc1 is not MessagePack', tooLarge: false };
      const next = pos + hLen + hPayload;
      if (next > limit) return this.tooLarge(pos, start);
      if (next > end) {
        need = next;
        break;
      }
      pos = next;
      if (hItems > 0) {
        if (hItems > limit - pos) return this.tooLarge(pos, start);
        left.push(hItems);
        continue;
      }
      for (;;) {
        if (left.length === 0) {
          this.reset();
          return { status: 'done', end: pos };
        }
        const l = left[left.length - 1]! - 1;
        if (l > 0) {
          left[left.length - 1] = l;
          break;
        }
        left.pop();
      }
    }
    this.rel = pos - start;
    this.need = need - start;
    if (end - start > this.maxBytes) return this.tooLarge(pos, start);
    return { status: 'more' };
  }

  private tooLarge(at: number, start: number): ScanResult {
    return { status: 'error', at: start, error: `a frame larger than buffer_max_size (${this.maxBytes} bytes)${at > start ? `, by the header at frame byte ${at - start}` : ''}`, tooLarge: true };
  }
}

// Cuts one connection's byte stream into records at a separator, keeping at
// most maxBytes of an unfinished record: a longer one is reported once and
// its bytes are skipped up to the next separator, so a sender that never
// sends one cannot make sluice hold its whole stream.

export interface FrameSink {
  /** A record: buf[start, end), which starts at byte `offset` of the stream and is record number `index` (from 1). */
  record(buf: Buffer, start: number, end: number, offset: number, index: number): void;
  /** A record longer than maxBytes, starting at byte `offset`: skipped. */
  tooLong(offset: number, index: number): void;
}

export class Framer {
  private readonly sep: Buffer;
  private readonly maxBytes: number;
  private readonly sink: FrameSink;
  /** The unfinished record so far. */
  private pending: Buffer = Buffer.alloc(0);
  /** Stream offset of pending[0] (or, while skipping, of the skipped record). */
  private offset = 0;
  private index = 1;
  /** Inside a record that was too long: its bytes are dropped until the next separator. */
  private skipping = false;

  constructor(separator: Buffer, maxBytes: number, sink: FrameSink) {
    if (separator.length === 0) throw new Error('the separator must not be empty');
    this.sep = separator;
    this.maxBytes = maxBytes;
    this.sink = sink;
  }

  push(data: Buffer): void {
    const buf = this.pending.length ? Buffer.concat([this.pending, data]) : data;
    const base = this.offset;
    // A separator may straddle the previous push and this one: look back just enough.
    let from = Math.max(0, this.pending.length - this.sep.length + 1);
    let start = 0;
    for (let at = buf.indexOf(this.sep, from); at !== -1; at = buf.indexOf(this.sep, from)) {
      if (this.skipping) this.skipping = false;
      else if (at - start > this.maxBytes) this.sink.tooLong(base + start, this.index);
      else this.sink.record(buf, start, at, base + start, this.index);
      this.index++;
      start = from = at + this.sep.length;
    }
    const rest = buf.length - start;
    if (!this.skipping && rest > this.maxBytes) {
      this.sink.tooLong(base + start, this.index);
      this.skipping = true;
    }
    if (this.skipping) {
      // Keep only what could be the start of a separator.
      const keep = Math.min(rest, this.sep.length - 1);
      this.pending = Buffer.from(buf.subarray(buf.length - keep));
      this.offset = base + buf.length - keep;
    } else {
      // A copy: a slice would keep the whole of a large read alive.
      this.pending = Buffer.from(buf.subarray(start));
      this.offset = base + start;
    }
  }

  /** The stream ended: what is left is its last record (without a separator). */
  end(): void {
    if (!this.skipping && this.pending.length) this.sink.record(this.pending, 0, this.pending.length, this.offset, this.index++);
    this.discard();
  }

  /** Bytes of an unfinished record, dropped (at a stop). */
  discard(): number {
    const n = this.skipping ? 0 : this.pending.length;
    this.pending = Buffer.alloc(0);
    this.skipping = false;
    return n;
  }
}

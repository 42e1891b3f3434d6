// One connection's byte stream cut into MessagePack values (frames), however
// TCP splits or joins them: several frames in one read, a frame over many
// reads, a split at any byte. A frame is handed over as soon as its last
// byte is in, from the read's own buffer when it lies wholly in it (no
// copy). At most buffer_max_size bytes of an unfinished frame are held; a
// larger frame, or bytes that are not MessagePack, are an error, after
// which nothing more is read.
import { FrameScanner } from './msgpack.ts';

export interface FrameSink {
  /**
   * A complete frame: buf[start, end), starting at byte `offset` of the
   * stream. buf is reused afterwards: keep nothing of it beyond the call.
   * Return false to stop reading (the rest of the data is not looked at).
   */
  frame(buf: Buffer, start: number, end: number, offset: number): boolean;
  /** The stream is not a run of MessagePack values: the problem at byte `offset` of the stream. */
  error(offset: number, error: string, tooLarge: boolean): void;
}

export class FrameReader {
  private readonly scanner: FrameScanner;
  private readonly sink: FrameSink;
  /** Bytes of the unfinished frame: acc[0, accLen). */
  private acc: Buffer = Buffer.alloc(0);
  private accLen = 0;
  /** Stream offset of acc[0] (or of the next byte, when acc is empty). */
  private offset = 0;
  private stopped = false;

  constructor(maxFrameBytes: number, sink: FrameSink) {
    this.scanner = new FrameScanner(maxFrameBytes);
    this.sink = sink;
  }

  /** Bytes read of a frame that is not complete yet. */
  get pending(): number {
    return this.accLen;
  }

  get closed(): boolean {
    return this.stopped;
  }

  /** Stops: later data is ignored. */
  close(): void {
    this.stopped = true;
    this.acc = Buffer.alloc(0);
    this.accLen = 0;
  }

  push(data: Buffer): void {
    if (this.stopped || data.length === 0) return;
    let buf: Buffer;
    let len: number;
    if (this.accLen === 0) {
      buf = data;
      len = data.length;
    } else {
      this.append(data);
      buf = this.acc;
      len = this.accLen;
    }
    let start = 0;
    while (start < len && !this.stopped) {
      const r = this.scanner.scan(buf, start, len);
      if (r.status === 'more') break;
      if (r.status === 'error') {
        this.stopped = true;
        this.sink.error(this.offset + r.at, r.error, r.tooLarge);
        break;
      }
      const go = this.sink.frame(buf, start, r.end, this.offset + start);
      start = r.end;
      if (!go) this.close();
    }
    if (this.stopped) return this.close();
    // Keep what is left of an unfinished frame, at the start of acc.
    const rest = len - start;
    if (buf === this.acc) {
      if (start > 0) this.acc.copyWithin(0, start, len);
    } else if (rest > 0) {
      // Room for what the frame's headers say it takes, so its next reads need no regrowth.
      const want = Math.max(rest, this.scanner.need);
      if (this.acc.length < want) this.acc = Buffer.allocUnsafe(Math.max(want, 64 * 1024));
      data.copy(this.acc, 0, start, len);
    }
    this.accLen = rest;
    this.offset += start;
    // A large frame's buffer is not kept once it is done.
    if (rest === 0 && this.acc.length > 1024 * 1024) this.acc = Buffer.alloc(0);
  }

  private append(data: Buffer): void {
    const need = this.accLen + data.length;
    if (this.acc.length < need) {
      // Doubling (or what the frame's headers say it takes): a frame that comes in many reads is copied about twice in all.
      const grown = Buffer.allocUnsafe(Math.max(need, this.acc.length * 2, this.scanner.need));
      this.acc.copy(grown, 0, 0, this.accLen);
      this.acc = grown;
    }
    data.copy(this.acc, this.accLen);
    this.accLen = need;
  }
}

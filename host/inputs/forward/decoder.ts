// A connection's bytes to Forward protocol frames: FrameReader cuts the
// stream (however TCP splits it), decodeFrame reads each frame. Nothing it
// is given can make it throw: a problem is reported once, with the byte
// offset in the stream where it is, and the decoder then reads no more.
import { decodeFrame, type DecodedFrame, type FrameError } from './frame.ts';
import { FrameReader } from './reader.ts';

export type EventsFrame = Extract<DecodedFrame, { kind: 'events' }>;

export interface DecoderSink {
  /**
   * A frame's events. frame.src (and the frame's buffer) are only valid
   * during the call. `offset` is the frame's byte offset in the stream,
   * `start` where it begins in its buffer (rejected records' `at` and error
   * positions are in that buffer). Return false to read no more.
   */
  events(frame: EventsFrame, offset: number, start: number): boolean;
  /** The stream cannot be read on: the reason, and the byte offset in the stream. Called at most once. */
  error(reason: FrameError, offset: number, error: string): void;
}

export class ForwardDecoder {
  private readonly reader: FrameReader;
  private readonly sink: DecoderSink;
  private readonly maxFrameBytes: number;
  /**
   * While set, takes frames raw instead of decoding them (the handshake's
   * PING); returns false to read no more.
   */
  intercept: ((buf: Buffer, start: number, end: number, offset: number) => boolean) | undefined;

  constructor(maxFrameBytes: number, sink: DecoderSink) {
    this.maxFrameBytes = maxFrameBytes;
    this.sink = sink;
    this.reader = new FrameReader(maxFrameBytes, {
      frame: (buf, start, end, offset) => this.frame(buf, start, end, offset),
      error: (offset, error, tooLarge) => sink.error(tooLarge ? 'too_large' : 'malformed', offset, error),
    });
  }

  push(data: Buffer): void {
    this.reader.push(data);
  }

  /** Reads no more. */
  close(): void {
    this.reader.close();
  }

  get closed(): boolean {
    return this.reader.closed;
  }

  /** Bytes of an unfinished frame held. */
  get pending(): number {
    return this.reader.pending;
  }

  private frame(buf: Buffer, start: number, end: number, offset: number): boolean {
    if (this.intercept) return this.intercept(buf, start, end, offset);
    const f = decodeFrame(buf, start, end, this.maxFrameBytes);
    if (f.kind === 'heartbeat') return true;
    if (f.kind === 'error') {
      this.sink.error(f.reason, offset + (f.at - start), f.error);
      return false;
    }
    return this.sink.events(f, offset, start);
  }
}

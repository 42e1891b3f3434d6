// Fluent Bit's built-in multiline.parser modes docker and cri, for tail:
// container runtimes cut long lines into pieces (16 KiB by default) and
// mark all but the last; this joins them back into one record.
//  - docker: json-file lines {"log":"...","stream":"stdout","time":"..."};
//    a log without a trailing "\n" is a piece, the next one of the same
//    stream continues it, up to one that ends with "\n".
//  - cri: "<time> <stream> <tag> <text>"; tag P is a piece, F the last one.
// As in Fluent Bit, pieces are joined per stream (stdout and stderr
// interleave), and the joined record is the first piece's (its time, its
// other fields) with the joined text as log.
import { Buffer } from 'node:buffer';
import { EventTime, type Record } from '../../sdk/src/codec/events.ts';
import { compileStrptime, type TimeFormat } from './strptime.ts';

export type MultilineMode = 'docker' | 'cri';

export const MULTILINE_MODES: readonly MultilineMode[] = ['docker', 'cri'];

/**
 * Default bound of one stream's pending pieces: 512 KiB, 32 of the
 * runtimes' 16 KiB pieces, more than the stack traces and JSON documents
 * that logs really hold, yet small enough that a node tailing hundreds of
 * containers (two streams each) cannot pin gigabytes on pieces whose last
 * part never comes, and a quarter of a 2 MiB chunk, so that a joined record
 * still fits one. (Fluent Bit's multiline_buffer_limit is 2 MiB.)
 */
export const MULTILINE_MAX_BYTES_DEFAULT = 512 * 1024;

/** Why a record was emitted. */
export type JoinReason =
  /** The last piece came (or the line was whole). */
  | 'final'
  /** flush() was called (the input's timeout with no new line): the pieces so far. */
  | 'flush'
  /** The pieces reached max_bytes: what was pending, and the next pieces start a new record. */
  | 'max_bytes'
  /** The line is not in the mode's format: body { log: line }, no stream, no time. */
  | 'unparsed';

export interface JoinedRecord {
  /** docker: the first piece's object, log joined; cri: { time, stream, _p, log }, as Fluent Bit's cri mode. */
  body: Record;
  /** Where the record's first line starts (the offset given to push). */
  offset: number;
  /** The first piece's time; undefined when unparsed or not readable (then see timeError). */
  time?: EventTime;
  timeError?: string;
  /** The stream the pieces came on ("" when the line had none). */
  stream: string;
  /** Pieces joined (1 for a whole line). */
  parts: number;
  reason: JoinReason;
}

export interface MultilineOptions {
  /** Bytes (UTF-8) of joined text one stream may hold pending. */
  maxBytes?: number;
}

export interface MultilineStats {
  /** Records emitted, whatever the reason. */
  records: number;
  /** Records made of more than one piece. */
  joined: number;
  /** Records emitted because the pending pieces reached max_bytes. */
  maxBytes: number;
  /** Records emitted by flush() before their last piece came. */
  flushed: number;
  /** Lines not in the mode's format. */
  unparsed: number;
  /** Records whose time did not parse. */
  timeErrors: number;
}

interface Pending {
  /** Where the first piece's line starts. */
  start: number;
  /** When the last piece came (the clock given to push). */
  last: number;
  first: Record;
  time: EventTime | undefined;
  timeError: string | undefined;
  text: string;
  bytes: number;
  parts: number;
}

// One line's reading, reused: push is synchronous.
interface Piece {
  fields: Record;
  stream: string;
  text: string;
  partial: boolean;
  timeText: string | undefined;
}

export class MultilineJoiner {
  readonly mode: MultilineMode;
  readonly maxBytes: number;
  readonly stats: MultilineStats = { records: 0, joined: 0, maxBytes: 0, flushed: 0, unparsed: 0, timeErrors: 0 };
  private readonly emit: (record: JoinedRecord) => void;
  private readonly timeFormat: TimeFormat;
  private readonly pending = new Map<string, Pending>();
  private readonly piece: Piece = { fields: {}, stream: '', text: '', partial: false, timeText: undefined };

  constructor(mode: MultilineMode, emit: (record: JoinedRecord) => void, opts: MultilineOptions = {}) {
    if (!MULTILINE_MODES.includes(mode)) throw new Error(`unknown multiline mode ${JSON.stringify(mode)}; known: ${MULTILINE_MODES.join(', ')}`);
    this.mode = mode;
    this.emit = emit;
    this.maxBytes = Math.max(1, opts.maxBytes ?? MULTILINE_MAX_BYTES_DEFAULT);
    // Fluent Bit's time formats for these modes; ".%L" also reads times without a fraction.
    this.timeFormat = compileStrptime(mode === 'docker' ? '%Y-%m-%dT%H:%M:%S.%L' : '%Y-%m-%dT%H:%M:%S.%L%z');
  }

  /** Bytes pending over all streams. */
  get pendingBytes(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.bytes;
    return n;
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /**
   * Feeds one line (without its newline); emits the records it completes.
   * offset: where the line starts (a file offset), carried to the record and
   * to pendingStarts(); nowMs: the clock, for flushIdle().
   */
  push(line: string, offset = 0, nowMs = 0): void {
    if (this.tryPush(line, offset, nowMs)) return;
    this.stats.unparsed++;
    this.out({ body: { log: line }, offset, stream: '', parts: 1, reason: 'unparsed' });
  }

  /** As push, but a line not in the mode's format is left alone: false, nothing emitted or counted. */
  tryPush(line: string, offset = 0, nowMs = 0): boolean {
    const piece = this.piece;
    if (!this.read(line, piece)) return false;
    let group = this.pending.get(piece.stream);
    // A whole line with nothing pending: the common case, no byte counting.
    if (group === undefined && !piece.partial) {
      const [time, timeError] = this.readTime(piece.timeText);
      this.out(this.record(this.firstFields(piece), piece.text, offset, time, timeError, piece.stream, 1, 'final'));
      return true;
    }
    const bytes = Buffer.byteLength(piece.text);
    if (group !== undefined && group.bytes + bytes > this.maxBytes) {
      this.pending.delete(piece.stream);
      this.emitGroup(group, piece.stream, 'max_bytes');
      group = undefined;
    }
    if (group === undefined) {
      const [time, timeError] = this.readTime(piece.timeText);
      const first = this.firstFields(piece);
      if (!piece.partial || bytes > this.maxBytes) {
        this.out(this.record(first, piece.text, offset, time, timeError, piece.stream, 1, piece.partial ? 'max_bytes' : 'final'));
        return true;
      }
      this.pending.set(piece.stream, { start: offset, last: nowMs, first, time, timeError, text: piece.text, bytes, parts: 1 });
      return true;
    }
    group.text += piece.text;
    group.bytes += bytes;
    group.parts++;
    group.last = nowMs;
    if (!piece.partial) {
      this.pending.delete(piece.stream);
      this.emitGroup(group, piece.stream, 'final');
    }
    return true;
  }

  /**
   * The stream a line is on if it is in the mode's format, else undefined.
   * Reads the line only: no state changes.
   */
  streamOf(line: string): string | undefined {
    const piece: Piece = { fields: {}, stream: '', text: '', partial: false, timeText: undefined };
    return this.read(line, piece) ? piece.stream : undefined;
  }

  /** Each stream with pieces pending, and where its first pending piece's line starts. */
  pendingStarts(): IterableIterator<[stream: string, start: number]> {
    return (function* (pending: Map<string, Pending>) {
      for (const [stream, p] of pending) yield [stream, p.start] as [string, number];
    })(this.pending);
  }

  /** Emits the pieces of each stream that got no piece for idleMs (by the clock given to push); true if any. */
  flushIdle(nowMs: number, idleMs: number): boolean {
    let any = false;
    for (const [stream, group] of this.pending) {
      if (nowMs - group.last < idleMs) continue;
      this.pending.delete(stream);
      this.emitGroup(group, stream, 'flush');
      any = true;
    }
    return any;
  }

  /** When flushIdle(·, idleMs) will next have something to emit; undefined when nothing is pending. */
  nextIdleAt(idleMs: number): number | undefined {
    let at: number | undefined;
    for (const g of this.pending.values()) if (at === undefined || g.last + idleMs < at) at = g.last + idleMs;
    return at;
  }

  /** Emits what is pending, each stream's pieces as one record. */
  flush(): void {
    for (const [stream, group] of this.pending) this.emitGroup(group, stream, 'flush');
    this.pending.clear();
  }

  private emitGroup(g: Pending, stream: string, reason: JoinReason): void {
    this.out(this.record(g.first, g.text, g.start, g.time, g.timeError, stream, g.parts, reason));
  }

  private read(line: string, piece: Piece): boolean {
    return this.mode === 'docker' ? readDocker(line, piece) : readCri(line, piece);
  }

  private readTime(text: string | undefined): [EventTime | undefined, string | undefined] {
    if (text === undefined) return [undefined, undefined];
    const t = this.timeFormat.parse(text);
    return t instanceof EventTime ? [t, undefined] : [undefined, t.message];
  }

  /** The first piece's fields, log aside: docker's own object; cri's as Fluent Bit's cri mode names them. */
  private firstFields(piece: Piece): Record {
    if (this.mode === 'docker') return piece.fields;
    return { time: piece.timeText, stream: piece.stream, _p: piece.partial ? 'P' : 'F' };
  }

  private record(first: Record, text: string, offset: number, time: EventTime | undefined, timeError: string | undefined, stream: string, parts: number, reason: JoinReason): JoinedRecord {
    first.log = text;
    const r: JoinedRecord = { body: first, offset, stream, parts, reason };
    if (time !== undefined) r.time = time;
    if (timeError !== undefined) r.timeError = timeError;
    return r;
  }

  private out(r: JoinedRecord): void {
    const s = this.stats;
    s.records++;
    if (r.parts > 1) s.joined++;
    if (r.reason === 'max_bytes') s.maxBytes++;
    else if (r.reason === 'flush') s.flushed++;
    if (r.timeError !== undefined) s.timeErrors++;
    this.emit(r);
  }
}

function readDocker(line: string, piece: Piece): boolean {
  if (line.charCodeAt(0) !== 123 /* { */) return false;
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return false;
  }
  const fields = obj as Record;
  const log = fields.log;
  if (typeof log !== 'string') return false;
  piece.fields = fields;
  piece.stream = typeof fields.stream === 'string' ? fields.stream : '';
  piece.text = log;
  piece.partial = log.charCodeAt(log.length - 1) !== 10;
  piece.timeText = typeof fields.time === 'string' ? fields.time : undefined;
  return true;
}

function readCri(line: string, piece: Piece): boolean {
  const s1 = line.indexOf(' ');
  if (s1 <= 0) return false;
  const s2 = line.indexOf(' ', s1 + 1);
  if (s2 < 0) return false;
  const stream = line.slice(s1 + 1, s2);
  if (stream !== 'stdout' && stream !== 'stderr') return false;
  let s3 = line.indexOf(' ', s2 + 1);
  if (s3 < 0) s3 = line.length;
  const tag = line.slice(s2 + 1, s3);
  // The tag is P or F, later maybe followed by ":"-separated tags.
  const c0 = tag.charCodeAt(0);
  if ((c0 !== 80 && c0 !== 70) || (tag.length > 1 && tag.charCodeAt(1) !== 58)) return false;
  piece.fields = {};
  piece.stream = stream;
  piece.text = s3 < line.length ? line.slice(s3 + 1) : '';
  piece.partial = c0 === 80;
  piece.timeText = line.slice(0, s1);
  return true;
}

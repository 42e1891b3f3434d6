// One followed file (one inode): reads it with one reused buffer, splits
// lines with indexOf and writes each as MessagePack straight into the open
// chunk. At EOF it looks for truncation, rotation and deletion; a rotated
// file is read to its end, whatever its new name, before it is let go.
import { readlink, stat, type FileHandle } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { LineEncoder } from '../../engine/chunk.ts';
import type { Chunk } from '../../engine/chunk.ts';
import { writeEvent } from '../../engine/record-encoder.ts';
import type { Parsed } from '../../parsers/parser.ts';
import { JsonParser } from '../../parsers/json.ts';
import { UNMATCHED } from '../../parsers/json-event.ts';
import type { ChunkWriter } from '../../storage/store.ts';
import { EventTime, encodeEvent, type Record } from '../../../sdk/src/codec/events.ts';
import type { FilePosition } from './file-position.ts';
import { FileJoiner, replays, resumeAt, type Replay, type Resume, type TailRecord } from './multiline.ts';
import type { TailInput, TailMultiline } from './tail.ts';

/** How often a file at EOF is checked for new data, truncation or rotation. */
const EOF_POLL_MS = 250;

/** Where an open file is now: Linux names it in /proc even after a rename. */
async function currentName(fh: FileHandle): Promise<string | undefined> {
  return readlink(`/proc/self/fd/${fh.fd}`).catch(() => undefined);
}

export class TailFile {
  /** The path the file was found at: its tag and path_key, even after a rename. */
  readonly path: string;
  readonly position: FilePosition;
  private fh: FileHandle | undefined;
  private pos: number;
  private readonly buf: Buffer;
  private carry = 0;
  /** File offset of buf[0] during lines(). */
  private base = 0;
  /** Inside a line longer than the buffer: discard until its newline. */
  private skipping = false;
  /** File offset just past the last line written into a chunk. */
  private lineEnd: number;
  /** When the file was found renamed to a name that path does not match: it is closed rotate_wait later, once read to its end. */
  private rotatedAt: number | undefined;
  private deleted = false;
  private readonly writer: ChunkWriter;
  private readonly encoder: LineEncoder;
  private readonly input: TailInput;
  /** Lines become parser's records as they are read (input.parses). */
  private readonly parses: boolean;
  /** multiline.parser or docker_mode: the pieces of long lines are joined. */
  private readonly multiline: TailMultiline | undefined;
  private readonly joiner: FileJoiner | undefined;
  /** Resumed with a replay note (db or reload): which lines before its `until` were emitted already. */
  private replaying: Replay | undefined;
  /**
   * Where a restart must read again from, while pieces are pending or a
   * replay note is worked through; undefined: lineEnd. Updated once a
   * line's records are all written, so a chunk sealed meanwhile gets the
   * state before the line (at worst that line comes again, never lost).
   */
  private resume: Resume | undefined;
  /** Records the joiner wrote since last counted. */
  private joinedOut = 0;
  private warnedUnparsed = false;
  reachedEof = false;
  stopped = false;

  constructor(input: TailInput, path: string, fh: FileHandle, position: FilePosition, offset: number, rotated: boolean, replay?: Replay) {
    this.input = input;
    this.path = path;
    this.fh = fh;
    this.position = position;
    this.pos = this.lineEnd = offset;
    if (rotated) this.rotatedAt = Date.now();
    const { cfg, ctx } = input;
    this.writer = ctx.store.writer(ctx.account, input.tagOf(path));
    this.buf = Buffer.allocUnsafe(cfg.buffer_max_size);
    this.encoder = new LineEncoder(cfg.key, cfg.path_key ? { [cfg.path_key]: path } : {}, cfg.offset_key);
    this.parses = input.parses;
    this.multiline = input.multiline;
    if (this.multiline) this.joiner = new FileJoiner(this.multiline.modes, (r) => this.writeRecord(r));
    if (replay && replay.until > offset) this.replaying = replay;
    this.updateResume();
    this.writer.onStored = (chunk: Chunk) => this.position.stored(chunk, this.resume?.offset ?? this.lineEnd, this.resume?.replay);
  }

  /** Lines go one by one through the joiner or the replay note, not the fast path. */
  private get slow(): boolean {
    return this.joiner !== undefined || this.replaying !== undefined;
  }

  private get name(): string {
    return this.position.name;
  }

  /** Where this file is to be read again from (for a reload hand-off): the next line, or the first piece still pending. */
  get offset(): number {
    return this.resume?.offset ?? this.lineEnd;
  }

  /** With offset: which lines after it were emitted already. */
  get replay(): Replay | undefined {
    return this.resume?.replay;
  }

  /** Reads until stopped, or until the file is done for good (then resolves true). */
  async run(): Promise<boolean> {
    const { account } = this.input.ctx;
    let done = false;
    try {
      while (!this.stopped) {
        const wait = account.whenWritable();
        if (wait) await Promise.race([wait, this.input.stopping]);
        if (this.stopped) break;
        const { bytesRead } = await this.fh!.read(this.buf, this.carry, this.buf.length - this.carry, this.pos);
        if (bytesRead === 0) {
          if (await this.atEof()) {
            done = true;
            break;
          }
          continue;
        }
        this.pos += bytesRead;
        this.lines(this.carry + bytesRead);
        this.flushIdle();
      }
    } finally {
      // Pieces still waiting at a stop: with a db, the position stays at the
      // first of them and they are read again at the next start (and joined
      // with what follows), and a reload's new instance reads them again
      // from the hand-off; otherwise nothing would read them again, so they
      // are emitted as they are.
      if (!this.input.db && !this.input.handingOff) this.flushAll();
      this.input.ctx.store.dropWriter(this.writer);
      await this.fh?.close();
      this.fh = undefined;
    }
    // After the last chunk was stored: its mark holds the entry until it is safe.
    if (done && !this.input.cfg.exit_on_eof) this.position.close(this.deleted);
    return done;
  }

  /** No writer will finish the last line: it becomes a line of its own. */
  private finishLastLine(): void {
    this.base = this.pos - this.carry;
    if (this.carry > 0 && !this.skipping) {
      if (this.slow) this.slowLine(this.buf, 0, this.carry, Date.now(), this.pos, isUtf8(this.buf.subarray(0, this.carry)));
      else this.emit(this.buf, 0, this.carry, Date.now(), this.pos);
    } else this.lineEnd = this.pos;
    this.carry = 0;
    this.skipping = false;
    // Nothing more will come to finish pending pieces.
    this.flushAll();
    this.updateResume();
    this.writer.seal();
  }

  /** Handles EOF; true when this file is done for good. */
  private async atEof(): Promise<boolean> {
    this.reachedEof = true;
    if (this.input.cfg.exit_on_eof) {
      this.finishLastLine();
      this.input.fileDone();
      return true;
    }
    if (this.deleted) {
      this.finishLastLine();
      this.input.ctx.log.info({ path: this.name }, 'deleted file read to its end; closed it');
      return true;
    }
    if (this.rotatedAt !== undefined && Date.now() - this.rotatedAt >= this.input.rotateWaitMs) {
      this.finishLastLine();
      this.input.ctx.log.info({ path: this.name, was: this.path }, 'rotated file read to its end and rotate_wait is over; closed it');
      return true;
    }
    await Promise.race([new Promise((r) => setTimeout(r, EOF_POLL_MS)), this.input.stopping]);
    if (this.stopped) return false;
    this.flushIdle();
    await this.look();
    // Whatever changed, one more read from this handle catches what was written last.
    return false;
  }

  /** Is the file still at its name, and not shorter than what was read? */
  private async look(): Promise<void> {
    const st = await stat(this.name).catch(() => undefined);
    if (st && st.dev === this.position.dev && st.ino === this.position.ino) {
      if (st.size < this.pos) this.truncated(st.size);
      return;
    }
    if (this.deleted) return;
    if ((await this.fh!.stat()).nlink === 0) {
      this.deleted = true;
      this.input.ctx.log.debug({ path: this.name }, 'file deleted; reading what is left, then closing it');
    }
    // A new file may already be at the old name: look for it now, not at the next refresh_interval.
    // (A rotated file renamed again, app.log.1 → app.log.2, leaves nothing new behind.)
    if (this.rotatedAt === undefined) this.input.requestScan();
    if (this.deleted) return;
    const now = await currentName(this.fh!);
    if (now) this.renamed(now);
    else if (this.rotatedAt === undefined) this.rotated();
  }

  /** The file is at `name` now (seen there by this file's EOF poll or by a scan). */
  renamed(name: string): void {
    if (name === this.name) return;
    const was = this.name;
    this.position.renamed(name);
    if (this.input.matches(name)) {
      this.rotatedAt = undefined;
      this.input.ctx.log.debug({ path: name, was }, 'file renamed; path still matches it, so it is followed as before');
    } else if (this.rotatedAt === undefined) this.rotated(was);
  }

  private rotated(was = this.name): void {
    this.rotatedAt = Date.now();
    this.input.ctx.log.info({ path: this.name, was, rotate_wait: this.input.rotateWaitMs / 1000 }, 'file rotated; reading it to its end, and following it for rotate_wait seconds');
  }

  private truncated(size: number): void {
    this.input.ctx.log.warn({ path: this.name, offset: this.pos, size }, 'file truncated; reading again from its start');
    // Pieces read before cannot be read again: emitted as they are.
    this.flushAll();
    this.writer.seal();
    this.position.restart();
    this.pos = 0;
    this.lineEnd = 0;
    this.carry = 0;
    this.skipping = false;
    this.replaying = undefined;
    this.updateResume();
  }

  /** Splits buf[0, end) into lines and keeps the incomplete last line for the next read. */
  private lines(end: number): void {
    const buf = this.buf;
    const view = buf.subarray(0, end);
    const now = Date.now();
    this.base = this.pos - end;
    let start = 0;
    let nl: number;
    let count = 0;
    const lastNl = view.lastIndexOf(10);
    // One validation per read; per-line checks only when the batch is not clean UTF-8.
    const clean = lastNl < 0 || isUtf8(view.subarray(0, lastNl));
    while ((nl = view.indexOf(10, start)) !== -1) {
      if (this.skipping) {
        this.skipping = false;
        this.lineEnd = this.base + nl + 1;
        if (this.slow) this.updateResume();
      } else {
        const lineEnd = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
        if (lineEnd === start && this.input.cfg.skip_empty_lines) {
          this.lineEnd = this.base + nl + 1;
          if (this.slow) this.updateResume();
          start = nl + 1;
          continue;
        }
        if (this.slow) this.slowLine(buf, start, lineEnd, now, this.base + nl + 1, clean);
        else {
          if (clean) this.writeLine(buf, start, lineEnd, now, this.base + nl + 1);
          else this.emit(buf, start, lineEnd, now, this.base + nl + 1);
          count++;
        }
      }
      start = nl + 1;
    }
    this.carry = end - start;
    if (this.carry === buf.length) {
      // A line longer than buffer_max_size.
      const { metrics, name } = this.input.ctx;
      const offset = this.base;
      if (this.input.cfg.skip_long_lines) {
        metrics.inputSkipped.inc({ name });
        this.input.ctx.log.warn({ path: this.name, offset, buffer_max_size: buf.length }, 'line longer than buffer_max_size skipped (skip_long_lines)');
      } else if (!this.skipping) {
        metrics.inputTruncated.inc({ name });
        this.input.ctx.log.warn({ path: this.name, offset, buffer_max_size: buf.length }, 'line longer than buffer_max_size truncated; raise buffer_max_size to keep such lines whole');
        if (this.slow) this.slowLine(buf, 0, buf.length, now, this.base + buf.length, false);
        else {
          this.emit(buf, 0, buf.length, now, this.base + buf.length);
          count++;
        }
      }
      this.skipping = true;
      this.carry = 0;
    } else if (this.carry > 0 && start > 0) {
      buf.copy(buf, 0, start, end);
    }
    count += this.takeJoined();
    if (count) {
      const { metrics, name } = this.input.ctx;
      metrics.inputRecords.inc({ name }, count);
      metrics.inputBytes.inc({ name }, start);
    } else if (start && this.slow) {
      // Lines read into pending pieces: read, though no record came of them yet.
      this.input.ctx.metrics.inputBytes.inc({ name: this.input.ctx.name }, start);
    }
  }

  /** Records the joiner (or a replay) wrote since last asked. */
  private takeJoined(): number {
    const n = this.joinedOut;
    this.joinedOut = 0;
    return n;
  }

  /**
   * One line through the replay note (a line emitted before the restart or
   * reload is skipped) and the joiner; `next` is where the following line
   * starts. The resume point moves once the line's records are written.
   */
  private slowLine(buf: Buffer, start: number, end: number, nowMs: number, next: number, clean: boolean): void {
    const offset = this.base + start;
    let text: string | undefined;
    const replay = this.replaying;
    if (replay && offset < replay.until) {
      text = buf.toString('utf8', start, end);
      if (!replays(replay, text, offset)) {
        this.lineEnd = next;
        this.updateResume();
        return;
      }
    }
    if (!this.joiner) {
      // Read again after a reload that turned multiline off: a plain line.
      this.emit(buf, start, end, nowMs, next);
      this.joinedOut++;
      this.updateResume();
      return;
    }
    if (!clean && !isUtf8(buf.subarray(start, end))) {
      this.input.ctx.metrics.inputInvalidUtf8.inc({ name: this.input.ctx.name });
      this.input.ctx.log.warn({ path: this.name, offset }, 'line is not valid UTF-8; invalid bytes replaced with U+FFFD');
    }
    text ??= buf.toString('utf8', start, end);
    this.joiner.push(text, offset, nowMs);
    this.lineEnd = next;
    this.updateResume();
    this.writer.commit();
  }

  /** Writes one record of the joiner (not committed: the caller moves the resume point first, then commits). */
  private writeRecord(r: TailRecord): void {
    const { cfg, ctx } = this.input;
    let body: Record;
    let time: EventTime;
    let parsed: Parsed | undefined;
    if (this.multiline!.output === 'fields') {
      // Fluent Bit's multiline.parser: the runtime's fields, the time from the line.
      body = r.body;
      time = r.time ?? EventTime.now();
    } else {
      // docker_mode: the joined docker line goes on to parser; a line that is not one, as it is.
      const line = r.reason === 'unparsed' ? (r.body.log as string) : JSON.stringify(r.body);
      parsed = this.parses ? this.input.parse(line) : undefined;
      body = parsed ? parsed.body : { [cfg.key]: line };
      time = parsed?.time ?? EventTime.now();
    }
    // A parsed record is parser's fields alone (see writeParsed).
    if (cfg.path_key && !parsed) body[cfg.path_key] = this.path;
    if (cfg.offset_key && !parsed) body[cfg.offset_key] = r.offset;
    const bytes = encodeEvent(body, time);
    this.writer.reserve(bytes.length).appendBytes(bytes, 1);
    this.joinedOut++;
    const kind = r.reason === 'unparsed' ? 'unparsed' : r.reason === 'flush' ? 'flushed' : r.reason === 'max_bytes' ? 'split' : r.parts > 1 ? 'joined' : undefined;
    if (kind) ctx.metrics.inputMultiline.inc({ name: ctx.name, kind });
    if (r.timeError !== undefined) ctx.metrics.inputMultiline.inc({ name: ctx.name, kind: 'bad_time' });
    if (r.reason === 'unparsed' && !this.warnedUnparsed) {
      this.warnedUnparsed = true;
      ctx.log.warn({ path: this.name, offset: r.offset, modes: this.multiline!.modes }, `line in no format of ${this.multiline!.output === 'fields' ? 'multiline.parser' : 'docker_mode'}; passed on as it is (counted in sluice_input_multiline_records_total{kind="unparsed"}; logged once per file)`);
    }
  }

  /** Emits the pieces that waited multiline.flush (docker_mode_flush) for their next one. */
  private flushIdle(): void {
    const j = this.joiner;
    if (!j?.hasPending || !j.flushIdle(Date.now(), this.multiline!.flushMs)) return;
    this.afterFlush();
  }

  /** Emits every pending piece. */
  private flushAll(): void {
    const j = this.joiner;
    if (!j?.hasPending) return;
    j.flush();
    this.afterFlush();
  }

  private afterFlush(): void {
    this.updateResume();
    this.writer.commit();
    const n = this.takeJoined();
    if (n) this.input.ctx.metrics.inputRecords.inc({ name: this.input.ctx.name }, n);
  }

  /** Works out where a restart must read again from (see multiline.ts); call after lineEnd moved or pieces were emitted. */
  private updateResume(): void {
    if (this.replaying && this.lineEnd >= this.replaying.until) this.replaying = undefined;
    if (!this.replaying && !this.joiner?.hasPending) {
      this.resume = undefined;
      return;
    }
    this.resume = resumeAt(this.lineEnd, this.joiner?.starts(), this.multiline?.modes ?? [], this.replaying);
  }

  /** Writes one line; `next` is the file offset where the following line starts. */
  private writeLine(buf: Buffer, start: number, end: number, nowMs: number, next: number, offset = this.base + start): void {
    if (this.parses && this.writeParsed(buf, start, end, nowMs, next)) return;
    // reserve() may seal the previous chunk: it covers the lines before this one only.
    const c = this.writer.reserve(this.encoder.size(end - start));
    this.lineEnd = next;
    this.encoder.write(c, Math.floor(nowMs / 1000), (nowMs % 1000) * 1e6, buf, start, end, offset);
    this.writer.commit();
  }

  /**
   * With parser: writes the line's record, its time the parsed one or the
   * line's, and returns true; false when parser did not take the line (the
   * caller writes it as it is). path_key and offset_key go only on lines
   * kept as they are, as sluice always did (Fluent Bit adds them to parsed
   * records too).
   */
  private writeParsed(buf: Buffer, start: number, end: number, nowMs: number, next: number): boolean {
    const parser = this.input.parser;
    if (parser instanceof JsonParser) {
      // Straight from the line's bytes; what the fast path does not take goes the way below.
      const c = this.writer.reserve(0);
      const at = parser.writeEvent(buf, start, end, c.buf, c.size, c.buf.length, Math.floor(nowMs / 1000), (nowMs % 1000) * 1e6);
      if (at >= 0) {
        c.size = at;
        c.count++;
        this.lineEnd = next;
        this.writer.commit();
        return true;
      }
      if (at === UNMATCHED) {
        this.input.unmatched();
        return false;
      }
    }
    const r = this.input.parse(buf.toString('utf8', start, end));
    if (!r) return false;
    const t = r.time;
    const sec = t ? t.sec : Math.floor(nowMs / 1000);
    const nsec = t ? t.nsec : (nowMs % 1000) * 1e6;
    // As in writeLine: whatever reserve() seals holds the lines before this one only.
    const c = this.writer.reserve(0);
    const at = writeEvent(c.buf, c.size, c.buf.length, sec, nsec, r.body);
    if (at >= 0) {
      c.size = at;
      c.count++;
    } else {
      // A nested map or list, or the chunk's buffer may be too short: the generic encoder, which gives the exact size.
      const bytes = encodeEvent(r.body, t ?? new EventTime(sec, nsec));
      this.writer.reserve(bytes.length).appendBytes(bytes, 1);
    }
    this.lineEnd = next;
    this.writer.commit();
    return true;
  }

  /** A line that may not be valid UTF-8: invalid bytes become U+FFFD, counted. */
  private emit(buf: Buffer, start: number, end: number, nowMs: number, next: number): void {
    const line = buf.subarray(start, end);
    if (isUtf8(line)) return this.writeLine(buf, start, end, nowMs, next);
    const fixed = Buffer.from(line.toString('utf8'), 'utf8');
    this.input.ctx.metrics.inputInvalidUtf8.inc({ name: this.input.ctx.name });
    this.input.ctx.log.warn({ path: this.name, offset: this.base + start }, 'line is not valid UTF-8; invalid bytes replaced with U+FFFD');
    this.writeLine(fixed, 0, fixed.length, nowMs, next, this.base + start);
  }
}


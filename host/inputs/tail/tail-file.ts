// One followed file (one inode): reads it with one reused buffer, splits
// lines with indexOf and writes each as MessagePack straight into the open
// chunk. At EOF it looks for truncation, rotation and deletion; a rotated
// file is read to its end, whatever its new name, before it is let go.
import { readlink, stat, type FileHandle } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { LineEncoder } from '../../engine/chunk.ts';
import type { Chunk } from '../../engine/chunk.ts';
import type { ChunkWriter } from '../../storage/store.ts';
import type { FilePosition } from './file-position.ts';
import type { TailInput } from './tail.ts';

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
  reachedEof = false;
  stopped = false;

  constructor(input: TailInput, path: string, fh: FileHandle, position: FilePosition, offset: number, rotated: boolean) {
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
    this.writer.onStored = (chunk: Chunk) => this.position.stored(chunk, this.lineEnd);
  }

  private get name(): string {
    return this.position.name;
  }

  /** Where this file's next line starts (for a reload hand-off). */
  get offset(): number {
    return this.lineEnd;
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
      }
    } finally {
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
    if (this.carry > 0 && !this.skipping) this.emit(this.buf, 0, this.carry, Date.now(), this.pos);
    else this.lineEnd = this.pos;
    this.carry = 0;
    this.skipping = false;
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
    if (!this.stopped) await this.look();
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
    this.writer.seal();
    this.position.restart();
    this.pos = 0;
    this.lineEnd = 0;
    this.carry = 0;
    this.skipping = false;
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
      } else {
        const lineEnd = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
        if (lineEnd === start && this.input.cfg.skip_empty_lines) {
          this.lineEnd = this.base + nl + 1;
          start = nl + 1;
          continue;
        }
        if (clean) this.writeLine(buf, start, lineEnd, now, this.base + nl + 1);
        else this.emit(buf, start, lineEnd, now, this.base + nl + 1);
        count++;
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
        this.emit(buf, 0, buf.length, now, this.base + buf.length);
        count++;
      }
      this.skipping = true;
      this.carry = 0;
    } else if (this.carry > 0 && start > 0) {
      buf.copy(buf, 0, start, end);
    }
    if (count) {
      const { metrics, name } = this.input.ctx;
      metrics.inputRecords.inc({ name }, count);
      metrics.inputBytes.inc({ name }, start);
    }
  }

  /** Writes one line; `next` is the file offset where the following line starts. */
  private writeLine(buf: Buffer, start: number, end: number, nowMs: number, next: number, offset = this.base + start): void {
    // reserve() may seal the previous chunk: it covers the lines before this one only.
    const c = this.writer.reserve(this.encoder.size(end - start));
    this.lineEnd = next;
    this.encoder.write(c, Math.floor(nowMs / 1000), (nowMs % 1000) * 1e6, buf, start, end, offset);
    this.writer.commit();
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


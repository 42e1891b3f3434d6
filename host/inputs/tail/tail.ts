// tail: follows files matched by globs, one event per line. The read loop
// reuses one buffer per file and splits with indexOf; each line is written
// as MessagePack straight into the open chunk.
import { glob, open, stat, type FileHandle } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { resolve } from 'node:path';
import { LineEncoder } from '../../engine/chunk.ts';
import type { ChunkWriter } from '../../storage/store.ts';
import type { Chunk } from '../../engine/chunk.ts';
import { TailDb } from './tail-db.ts';
import type { Input, InputContext, InputKind } from '../input.ts';

interface TailConfig {
  db: string;
  'db.sync_interval': number;
  path: string[];
  exclude_path: string[];
  read_from_head: boolean;
  exit_on_eof: boolean;
  refresh_interval: number;
  key: string;
  path_key: string;
  buffer_max_size: number;
  skip_long_lines: boolean;
}

/** How often a file at EOF is checked for new data, truncation or rotation. */
const EOF_POLL_MS = 250;

/** Fluent Bit's tag expansion: `*` becomes the path with / turned into dots. */
export function expandTag(tag: string, path: string): string {
  if (!tag.includes('*')) return tag;
  return tag.replace('*', path.replace(/^\/+/, '').replace(/\//g, '.'));
}

interface Mark {
  offset: number;
  safe: boolean;
}

/** What a tail hands to its successor on a reload: the db (with its pending marks) and each file's place. */
export interface TailHandOff {
  db: TailDb | undefined;
  files: Map<string, { ino: number; offset: number; marks: Mark[] }>;
}

class TailFile {
  readonly path: string;
  private fh: FileHandle | undefined;
  private ino = 0;
  private pos = 0;
  private readonly buf: Buffer;
  private carry = 0;
  /** File offset of buf[0] during lines(). */
  private base = 0;
  /** Inside a line longer than the buffer: discard until its newline. */
  private skipping = false;
  /** File offset just past the last line written into a chunk. */
  private lineEnd = 0;
  /** Offsets covered by stored chunks, oldest first, until they are safe to commit. Shared with the successor on a reload. */
  marks: Mark[] = [];
  /** The file was renamed away (rotation) or deleted: read it to its end, then let go. */
  private gone: 'rotated' | 'deleted' | undefined;
  private readonly writer: ChunkWriter;
  private readonly encoder: LineEncoder;
  private readonly input: TailInput;
  reachedEof = false;
  stopped = false;

  constructor(input: TailInput, path: string, writer: ChunkWriter) {
    this.input = input;
    this.path = path;
    this.writer = writer;
    const cfg = input.cfg;
    this.buf = Buffer.allocUnsafe(cfg.buffer_max_size);
    this.encoder = new LineEncoder(cfg.key, cfg.path_key ? { [cfg.path_key]: path } : {});
    writer.onStored = (chunk) => this.stored(chunk);
  }

  writerOf(): ChunkWriter {
    return this.writer;
  }

  /** Closes a file that was opened but never run (stop raced the scan). */
  async close(): Promise<void> {
    this.input.ctx.store.dropWriter(this.writer);
    await this.fh?.close();
    this.fh = undefined;
  }

  /** Where this file's next line starts (for a reload hand-off). */
  position(): { ino: number; offset: number; marks: Mark[] } {
    return { ino: this.ino, offset: this.lineEnd, marks: this.marks };
  }

  async open(fromHead: boolean): Promise<void> {
    this.fh = await open(this.path, 'r');
    const st = await this.fh.stat();
    this.ino = st.ino;
    const handed = this.input.handedOff?.files.get(this.path);
    if (handed && handed.ino === st.ino && handed.offset <= st.size) {
      // A reload: go on where the old instance stopped; the db still waits for its chunks (shared marks).
      this.pos = handed.offset;
      this.marks = handed.marks;
      this.lineEnd = this.pos;
      return;
    }
    const saved = this.input.db?.get(this.path);
    if (saved && saved.ino === st.ino && saved.offset <= st.size) {
      this.pos = saved.offset;
      this.input.ctx.log.debug({ path: this.path, offset: saved.offset }, 'resuming from the tail db');
    } else this.pos = fromHead ? 0 : st.size;
    this.lineEnd = this.pos;
    this.input.db?.set(this.path, this.ino, this.pos);
  }

  /**
   * A chunk with this file's lines was stored. Its lines are safe once the
   * chunk file exists (filesystem storage) or every output is done with it
   * (memory storage); the db offset only ever covers safe lines.
   */
  private stored(chunk: Chunk): void {
    if (!this.input.db) return;
    const mark = { offset: this.lineEnd, safe: false };
    const marks = this.marks;
    marks.push(mark);
    const ino = this.ino;
    const db = this.input.db;
    const safe = () => {
      mark.safe = true;
      let last: number | undefined;
      while (marks.length && marks[0]!.safe) last = marks.shift()!.offset;
      // marks is replaced when the file is rotated or truncated: old marks then no longer count.
      if (last !== undefined && marks === this.marks) db.set(this.path, ino, last);
    };
    if (chunk.file) safe();
    else chunk.onRelease = safe;
  }

  async run(): Promise<void> {
    const { account } = this.input.ctx;
    while (!this.stopped) {
      const wait = account.whenWritable();
      if (wait) await Promise.race([wait, this.input.stopping]);
      if (this.stopped) break;
      const { bytesRead } = await this.fh!.read(this.buf, this.carry, this.buf.length - this.carry, this.pos);
      if (bytesRead === 0) {
        if (await this.atEof()) break;
        continue;
      }
      this.pos += bytesRead;
      this.lines(this.carry + bytesRead);
    }
    this.writer.seal();
    this.input.ctx.store.dropWriter(this.writer);
    await this.fh?.close();
    this.fh = undefined;
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
    if (this.input.cfg.exit_on_eof) {
      this.finishLastLine();
      this.reachedEof = true;
      this.input.fileDone();
      return true;
    }
    this.reachedEof = true;
    if (this.gone) {
      // Everything written to the old file before it went away has been read now.
      this.finishLastLine();
      if (this.gone === 'deleted') {
        this.input.ctx.log.info({ path: this.path }, 'file deleted; stopped following it');
        this.input.forget(this);
        return true;
      }
      this.input.ctx.log.info({ path: this.path }, 'file rotated; following the new file from its start');
      this.gone = undefined;
      await this.fh!.close();
      this.fh = await open(this.path, 'r');
      this.ino = (await this.fh.stat()).ino;
      this.marks = [];
      this.pos = 0;
      this.lineEnd = 0;
      this.input.db?.set(this.path, this.ino, 0);
      return false;
    }
    await new Promise((r) => setTimeout(r, EOF_POLL_MS));
    const st = await stat(this.path).catch(() => undefined);
    if (!st) this.gone = 'deleted';
    else if (st.ino !== this.ino) this.gone = 'rotated';
    else if (st.size < this.pos) {
      this.input.ctx.log.warn({ path: this.path, offset: this.pos, size: st.size }, 'file truncated; reading again from its start');
      this.writer.seal();
      this.marks = [];
      this.pos = 0;
      this.lineEnd = 0;
      this.carry = 0;
      this.input.db?.set(this.path, this.ino, 0);
    }
    // Rotated or deleted: one more read from the old handle catches what was written last.
    return false;
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
        this.input.ctx.log.warn({ path: this.path, offset, buffer_max_size: buf.length }, 'line longer than buffer_max_size skipped (skip_long_lines)');
      } else if (!this.skipping) {
        metrics.inputTruncated.inc({ name });
        this.input.ctx.log.warn({ path: this.path, offset, buffer_max_size: buf.length }, 'line longer than buffer_max_size truncated; raise buffer_max_size to keep such lines whole');
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
  private writeLine(buf: Buffer, start: number, end: number, nowMs: number, next: number): void {
    // reserve() may seal the previous chunk: it covers the lines before this one only.
    const c = this.writer.reserve(this.encoder.size(end - start));
    this.lineEnd = next;
    this.encoder.write(c, Math.floor(nowMs / 1000), (nowMs % 1000) * 1e6, buf, start, end);
    this.writer.commit();
  }

  /** A line that may not be valid UTF-8: invalid bytes become U+FFFD, counted. */
  private emit(buf: Buffer, start: number, end: number, nowMs: number, next: number): void {
    const line = buf.subarray(start, end);
    if (isUtf8(line)) return this.writeLine(buf, start, end, nowMs, next);
    const fixed = Buffer.from(line.toString('utf8'), 'utf8');
    this.input.ctx.metrics.inputInvalidUtf8.inc({ name: this.input.ctx.name });
    this.input.ctx.log.warn({ path: this.path, offset: this.base + start }, 'line is not valid UTF-8; invalid bytes replaced with U+FFFD');
    this.writeLine(fixed, 0, fixed.length, nowMs, next);
  }
}

export class TailInput implements Input {
  readonly cfg: TailConfig;
  readonly ctx: InputContext;
  private readonly files = new Map<string, TailFile>();
  private readonly opening = new Set<string>();
  /** Every file with a read loop, also those forgotten after deletion: stop() ends them all. */
  private readonly allFiles = new Set<TailFile>();
  private readonly runs: Promise<void>[] = [];
  private scanTimer: NodeJS.Timeout | undefined;
  private dbTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private markStopped!: () => void;
  /** Resolves when stop() is called: wakes files waiting on backpressure. */
  readonly stopping = new Promise<void>((r) => (this.markStopped = r));
  db: TailDb | undefined;
  /** Positions handed over by the instance this one replaced on a reload. */
  handedOff: TailHandOff | undefined;
  /** With exit_on_eof: the first scan is complete, so the set of files is known. */
  private scanned = false;
  private resolveFinished!: () => void;
  readonly finished: Promise<void> | undefined;

  constructor(cfg: TailConfig, ctx: InputContext) {
    this.cfg = cfg;
    this.ctx = ctx;
    this.finished = cfg.exit_on_eof ? new Promise((r) => (this.resolveFinished = r)) : undefined;
    if (cfg.db) {
      this.db = new TailDb(resolve(cfg.db));
      this.db.load();
    }
  }

  start(handedOff?: unknown): void {
    this.handedOff = handedOff as TailHandOff | undefined;
    // Same db file: keep the old instance's db object, whose pending chunks still advance it.
    if (this.handedOff?.db && this.db && this.handedOff.db.file === this.db.file) this.db = this.handedOff.db;
    if (this.db) this.dbTimer = setInterval(() => this.checkpoint(), this.cfg['db.sync_interval'] * 1000);
    void this.scan(true).then(() => {
      if (this.stopped) return;
      this.scanned = true;
      if (this.cfg.exit_on_eof) this.fileDone();
      else this.scanTimer = setInterval(() => void this.scan(false), this.cfg.refresh_interval * 1000);
    });
  }

  private async scan(initial: boolean): Promise<void> {
    const excluded = new Set<string>();
    for (const pattern of this.cfg.exclude_path) for await (const f of glob(resolve(pattern))) excluded.add(f);
    for (const pattern of this.cfg.path) {
      for await (const f of glob(resolve(pattern))) {
        if (this.stopped || excluded.has(f) || this.files.has(f) || this.opening.has(f)) continue;
        // Claimed before any await, so that overlapping scans never open a file twice.
        this.opening.add(f);
        try {
          const st = await stat(f).catch(() => undefined);
          if (!st?.isFile()) continue;
          const file = new TailFile(this, f, this.ctx.store.writer(this.ctx.account, expandTag(this.ctx.tag, f)));
          try {
            // Files found at start begin at their end unless read_from_head; later ones from their start.
            await file.open(this.cfg.read_from_head || !initial);
          } catch (err) {
            this.ctx.log.warn({ path: f, err: (err as Error).message }, 'cannot open file; will try again at the next scan');
            this.ctx.store.dropWriter(file.writerOf());
            continue;
          }
          if (this.stopped) {
            await file.close();
            continue;
          }
          this.startFile(f, file);
        } finally {
          this.opening.delete(f);
        }
      }
    }
    if (initial && this.files.size === 0) this.ctx.log.warn({ path: this.cfg.path }, 'no file matches path yet');
  }

  private startFile(f: string, file: TailFile): void {
    this.files.set(f, file);
    this.allFiles.add(file);
    this.ctx.log.debug({ path: f }, 'following file');
    this.runs.push(file.run().catch((err) => this.ctx.log.error({ path: f, err: err.message }, 'stopped reading file after an error')));
  }

  /** A deleted file: a new file at the same path is picked up by the next scan. */
  forget(file: TailFile): void {
    if (this.files.get(file.path) === file) this.files.delete(file.path);
  }

  /** With exit_on_eof: finished once every file found by the first scan reached EOF. */
  fileDone(): void {
    if (!this.scanned || ![...this.files.values()].every((f) => f.reachedEof)) return;
    this.resolveFinished?.();
  }

  /** Writes the db: every db.sync_interval, and at shutdown after outputs are done. */
  checkpoint(): void {
    try {
      this.db?.sync();
    } catch (err) {
      this.ctx.log.error({ db: this.db?.file, err: (err as Error).message }, 'cannot write the tail db; positions will be older after a restart (duplicates, not loss)');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.markStopped();
    clearInterval(this.scanTimer);
    clearInterval(this.dbTimer);
    for (const f of this.allFiles) f.stopped = true;
    await Promise.all(this.runs);
    this.checkpoint();
  }

  handOff(): TailHandOff {
    return { db: this.db, files: new Map([...this.files].map(([path, f]) => [path, f.position()])) };
  }
}

export const tail: InputKind = {
  description: 'Follows files, one event per line',
  spec: {
    path: { type: 'list', required: true, description: 'Files to follow: globs, as a list or comma-separated' },
    exclude_path: { type: 'list', default: [], description: 'Globs of files to leave out' },
    read_from_head: { type: 'bool', default: false, description: 'Read files found at start from their beginning, not their end' },
    exit_on_eof: { type: 'bool', default: false, description: 'Exit sluice (status 0) once every file reached its end and everything was delivered' },
    refresh_interval: { type: 'duration', default: 10, min: 0.1, description: 'How often to look for new files matching path (seconds)' },
    key: { type: 'string', default: 'log', description: 'Body key that holds the line' },
    path_key: { type: 'string', default: '', description: 'If set, a body key that holds the file path' },
    buffer_max_size: { type: 'size', default: 1024 * 1024, min: 1024, description: 'Read buffer per file and longest line kept whole; longer lines are truncated (or skipped)' },
    skip_long_lines: { type: 'bool', default: false, description: 'Drop lines longer than buffer_max_size instead of truncating them' },
    db: { type: 'string', default: '', description: 'File that keeps each file\'s position across restarts; positions never run ahead of stored (filesystem) or delivered (memory) data' },
    'db.sync_interval': { type: 'duration', default: 2, min: 0.01, description: 'How often the db is written (seconds); also written at shutdown' },
  },
  create: (cfg, ctx) => new TailInput(cfg as TailConfig, ctx),
};

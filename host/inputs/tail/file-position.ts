// One file's committed position in the tail db. A chunk's lines are safe
// once the chunk file exists (filesystem storage) or every output is done
// with it (memory storage); the committed offset only ever moves over a
// prefix of safe chunks, so it never passes a line that a crash would lose.
// The object outlives the file's reader: a reload hands it to the next
// instance, and a file closed after rotation keeps its entry until its last
// chunk is safe.
import type { Chunk } from '../../engine/chunk.ts';
import { fileKey, type TailDb } from './tail-db.ts';
import type { Replay } from './multiline.ts';

interface Mark {
  offset: number;
  replay: Replay | undefined;
  safe: boolean;
}

export class FilePosition {
  readonly db: TailDb | undefined;
  readonly dev: number;
  readonly ino: number;
  readonly key: string;
  name: string;
  private committed: number;
  /** With multiline: the lines after committed that were emitted already (see multiline.ts). */
  private committedReplay: Replay | undefined;
  /** Offsets covered by stored chunks, oldest first, until they are safe. Replaced on truncation: older marks no longer count. */
  private marks: Mark[] = [];
  /** No reader will store more of this file: the entry goes once the last marks are safe. */
  private closed = false;

  constructor(db: TailDb | undefined, dev: number, ino: number, name: string, offset: number, replay?: Replay) {
    this.db = db;
    this.dev = dev;
    this.ino = ino;
    this.key = fileKey(dev, ino);
    this.name = name;
    this.committed = offset;
    this.committedReplay = replay;
    this.write();
  }

  /**
   * A chunk holding this file's lines up to `offset` was stored; with
   * multiline, `replay` tells which lines after offset the chunk (or an
   * earlier one) holds already.
   */
  stored(chunk: Chunk, offset: number, replay?: Replay): void {
    if (!this.db) return;
    const mark: Mark = { offset, replay, safe: false };
    const marks = this.marks;
    marks.push(mark);
    const safe = () => {
      mark.safe = true;
      if (marks !== this.marks) return;
      let last: Mark | undefined;
      while (marks.length && marks[0]!.safe) last = marks.shift()!;
      if (last !== undefined) {
        this.committed = last.offset;
        this.committedReplay = last.replay;
      }
      this.write();
    };
    if (chunk.file) safe();
    else chunk.onRelease = safe;
  }

  /** The file was truncated: what was read before can no longer be read again, so pending chunks no longer hold the offset back. */
  restart(): void {
    this.marks = [];
    this.committed = 0;
    this.committedReplay = undefined;
    this.write();
  }

  renamed(name: string): void {
    this.name = name;
    this.write();
  }

  /** The file was closed for good; `deleted`: it cannot be read again, so its entry goes now. */
  close(deleted: boolean): void {
    this.closed = true;
    if (deleted) this.marks = [];
    this.write();
  }

  private write(): void {
    if (this.closed && this.marks.length === 0) this.db?.delete(this.key);
    else this.db?.set({ dev: this.dev, ino: this.ino, name: this.name, offset: this.committed, replay: this.committedReplay });
  }
}

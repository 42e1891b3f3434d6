// The tail position database: per file, the offset up to which lines are
// safe (stored in a chunk file, or delivered by every output with memory
// storage). Written atomically (temp file, fsync, rename), so a crash leaves
// the previous or the next version, never a torn one.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

export interface Position {
  ino: number;
  offset: number;
}

export class TailDb {
  readonly file: string;
  private readonly positions = new Map<string, Position>();
  private dirty = false;

  constructor(file: string) {
    this.file = file;
  }

  /** Reads the database; a missing file is empty, an unreadable one is an error naming it. */
  load(): void {
    if (!existsSync(this.file)) return;
    let parsed: any;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      throw new Error(`db: ${this.file} is not readable JSON (${(err as Error).message}); move it aside to start over`);
    }
    for (const [path, p] of Object.entries(parsed?.files ?? {})) {
      const pos = p as Position;
      if (Number.isInteger(pos?.ino) && Number.isInteger(pos?.offset)) this.positions.set(path, { ino: pos.ino, offset: pos.offset });
    }
  }

  get(path: string): Position | undefined {
    return this.positions.get(path);
  }

  set(path: string, ino: number, offset: number): void {
    const p = this.positions.get(path);
    if (p && p.ino === ino && p.offset === offset) return;
    this.positions.set(path, { ino, offset });
    this.dirty = true;
  }

  /** Writes the database if anything changed. */
  sync(): void {
    if (!this.dirty) return;
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify({ version: 1, files: Object.fromEntries(this.positions) }) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    this.dirty = false;
  }
}

// The tail position database: per file (device + inode, so that a rotated
// file keeps its position under its new name), the offset up to which lines
// are safe (stored in a chunk file, or delivered by every output with memory
// storage), and the file's last known name, to find it again after a restart.
// Written atomically (temp file, fsync, rename), so a crash leaves the
// previous or the next version, never a torn one.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { readReplay, type Replay } from './multiline.ts';

export interface Position {
  dev: number;
  ino: number;
  /** Where the file was last seen. */
  name: string;
  offset: number;
  /** With multiline: which lines after offset were emitted already and are skipped when read again. */
  replay?: Replay;
}

/** A file's identity: it survives renames, unlike its path. */
export function fileKey(dev: number, ino: number): string {
  return `${dev}:${ino}`;
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
    if (parsed?.version === 2) {
      for (const p of Object.values(parsed.inodes ?? {}) as Position[]) {
        if (!(Number.isInteger(p?.dev) && Number.isInteger(p?.ino) && Number.isInteger(p?.offset) && typeof p.name === 'string')) continue;
        const pos: Position = { dev: p.dev, ino: p.ino, name: p.name, offset: p.offset };
        // A note that does not read back is left out: the lines after offset come again (duplicates, not loss).
        const replay = readReplay(p.replay);
        if (replay) pos.replay = replay;
        this.positions.set(fileKey(p.dev, p.ino), pos);
      }
      return;
    }
    // Version 1 was keyed by path and had no device. A rename never leaves its
    // file system, so the device of the path's directory is the file's.
    for (const [name, p] of Object.entries(parsed?.files ?? {}) as [string, { ino: number; offset: number }][]) {
      if (!Number.isInteger(p?.ino) || !Number.isInteger(p?.offset)) continue;
      const at = statSync(name, { throwIfNoEntry: false });
      const dev = at?.ino === p.ino ? at.dev : statSync(dirname(name), { throwIfNoEntry: false })?.dev;
      if (dev === undefined) continue;
      this.positions.set(fileKey(dev, p.ino), { dev, ino: p.ino, name, offset: p.offset });
      this.dirty = true;
    }
  }

  get(key: string): Position | undefined {
    return this.positions.get(key);
  }

  all(): Position[] {
    return [...this.positions.values()];
  }

  set(p: Position): void {
    const key = fileKey(p.dev, p.ino);
    const old = this.positions.get(key);
    if (old && old.name === p.name && old.offset === p.offset && old.replay === p.replay) return;
    const pos: Position = { dev: p.dev, ino: p.ino, name: p.name, offset: p.offset };
    if (p.replay) pos.replay = p.replay;
    this.positions.set(key, pos);
    this.dirty = true;
  }

  delete(key: string): void {
    if (this.positions.delete(key)) this.dirty = true;
  }

  /** Writes the database if anything changed. */
  sync(): void {
    if (!this.dirty) return;
    const inodes: Record<string, Position> = {};
    // `files` is what version 1 wrote (by path), so an older sluice rolled back to
    // can still read it; when two files share a name, the newest one is at that path.
    const files: Record<string, { ino: number; offset: number }> = {};
    for (const [key, p] of this.positions) {
      inodes[key] = p;
      files[p.name] = { ino: p.ino, offset: p.offset };
    }
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify({ version: 2, inodes, files }) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    this.dirty = false;
  }
}

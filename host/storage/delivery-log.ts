// Which outputs already acknowledged which filesystem chunk, so a restart
// re-sends a chunk only to the outputs that did not. An append-only file of
// "<chunk id>\t<output>\n" lines, rewritten at start without released chunks.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class DeliveryLog {
  readonly file: string;
  private readonly fsync: boolean;
  private fd: number | undefined;

  constructor(dir: string, fsync: boolean) {
    this.file = join(dir, 'deliveries.log');
    this.fsync = fsync;
  }

  /** chunk id -> outputs that acknowledged it. A torn last line (a crash mid-write) is ignored. */
  load(): Map<string, Set<string>> {
    const acked = new Map<string, Set<string>>();
    if (!existsSync(this.file)) return acked;
    const lines = readFileSync(this.file, 'utf8').split('\n');
    lines.pop(); // '' after the last newline, or a line a crash tore
    for (const line of lines) {
      const tab = line.indexOf('\t');
      if (tab <= 0) continue;
      const id = line.slice(0, tab);
      let set = acked.get(id);
      if (!set) acked.set(id, (set = new Set()));
      set.add(line.slice(tab + 1));
    }
    return acked;
  }

  /** Rewrites the log with only these entries, atomically, and opens it for appending. Throws on a write error (the old log stays). */
  compact(live: Map<string, Set<string>>): void {
    this.close();
    let text = '';
    for (const [id, outs] of live) for (const o of outs) text += `${id}\t${o}\n`;
    try {
      writeFileSync(`${this.file}.tmp`, text);
      renameSync(`${this.file}.tmp`, this.file);
    } catch (err) {
      rmSync(`${this.file}.tmp`, { force: true });
      throw err;
    }
    this.fd = openSync(this.file, 'a');
  }

  /** Appends one entry; throws on a write error, after which only compact() may write again (the tail may be torn). */
  record(chunkId: string, output: string): void {
    if (this.fd === undefined) this.fd = openSync(this.file, 'a');
    const line = Buffer.from(`${chunkId}\t${output}\n`);
    const n = writeSync(this.fd, line);
    if (n < line.length) throw new Error(`short write (${n} of ${line.length} bytes): no space left on the device?`);
    if (this.fsync) fsyncSync(this.fd);
  }

  close(): void {
    const fd = this.fd;
    this.fd = undefined;
    try {
      if (fd !== undefined) closeSync(fd);
    } catch {
      // Nothing more to lose: every entry is also in memory and the next compact() rewrites the file.
    }
  }
}

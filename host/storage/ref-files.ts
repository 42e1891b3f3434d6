// Files for handing chunks that have no chunk file (memory storage, or a
// chunk file that could not be written) to local plugins by reference: one
// file per chunk in a private directory, on tmpfs when there is one
// (/dev/shm/sluice-<pid>-<random>, mode 0700), else in os.tmpdir(). A file
// is written on the chunk's first send by reference and shared by every
// output; the store removes it when it releases the chunk. The directory
// goes at exit, and a start removes those that dead sluice processes left.
import { accessSync, constants, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SHM = '/dev/shm';
const NAME = /^sluice-(\d+)-[A-Za-z0-9]{6}$/;

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, as another user's process.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class RefFiles {
  private dir: string | undefined;
  private readonly files = new Map<string, string>();
  private readonly onExit = () => this.close();

  /** Removes the directories of sluice processes that are gone (killed before they could). Returns what it removed. */
  static removeStale(bases = [SHM, tmpdir()]): string[] {
    const removed: string[] = [];
    for (const base of new Set(bases)) {
      let names: string[];
      try {
        names = readdirSync(base);
      } catch {
        continue;
      }
      for (const name of names) {
        const pid = Number(NAME.exec(name)?.[1]);
        if (!pid || pid === process.pid || alive(pid)) continue;
        try {
          rmSync(join(base, name), { recursive: true, force: true });
          removed.push(join(base, name));
        } catch {
          // another user's, or being removed by another sluice: not ours to insist on
        }
      }
    }
    return removed;
  }

  /** The chunk's file, written on the first call. Throws if it cannot be written (tmpfs full); nothing is left behind then. */
  path(id: string, data: Buffer): string {
    let file = this.files.get(id);
    if (file) return file;
    file = join(this.directory(), id);
    try {
      writeFileSync(file, data, { mode: 0o600 });
    } catch (err) {
      rmSync(file, { force: true });
      throw err;
    }
    this.files.set(id, file);
    return file;
  }

  /** The chunk is released: its file goes. */
  remove(id: string): void {
    const file = this.files.get(id);
    if (!file) return;
    this.files.delete(id);
    rmSync(file, { force: true });
  }

  private directory(): string {
    if (!this.dir) {
      const base = writable(SHM) ? SHM : tmpdir();
      this.dir = mkdtempSync(join(base, `sluice-${process.pid}-`));
      process.once('exit', this.onExit);
    }
    return this.dir;
  }

  /** Removes the directory and every file in it. */
  close(): void {
    if (!this.dir) return;
    process.off('exit', this.onExit);
    rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.files.clear();
  }
}

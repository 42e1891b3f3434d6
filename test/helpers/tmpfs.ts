// A really size-limited directory for disk-full tests: a tmpfs mount (needs
// root). fill() takes the free space, so the next write gets ENOSPC.
import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class Tmpfs {
  readonly dir: string;
  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Mounts a tmpfs of this size (e.g. '4m') at dir; a string says why it could not. */
  static mount(dir: string, size: string): Tmpfs | string {
    mkdirSync(dir, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
      return new Tmpfs(dir);
    } catch (err) {
      return `cannot mount a tmpfs (needs root and mount rights): ${(err as Error).message.split('\n')[0]}`;
    }
  }

  /** Writes a filler file until the disk is full, then gives back leaveBytes (whole pages). */
  fill(leaveBytes = 0): void {
    const fd = openSync(join(this.dir, '.filler'), 'w');
    const block = Buffer.alloc(64 * 1024, 0x66);
    try {
      for (;;) writeSync(fd, block);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    }
    if (leaveBytes > 0) ftruncateSync(fd, Math.max(0, fstatSync(fd).size - Math.ceil(leaveBytes / 4096) * 4096));
    closeSync(fd);
  }

  free(): void {
    rmSync(join(this.dir, '.filler'), { force: true });
  }

  /** Lazy, so a process still holding a file there cannot make the test fail to clean up. */
  unmount(): void {
    execFileSync('umount', ['-l', this.dir], { stdio: 'pipe' });
  }
}

// A chunk the host sent by reference (docs/protocol.md, "Chunks by
// reference"): its events are bytes of a file on this machine. The file is
// opened as the send arrives, so a missing or forbidden file is known before
// flush() runs and the file cannot vanish under a later read; the bytes are
// read on first use, so a plugin that never looks at them never reads them.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import type { ChunkRef } from './protocol.ts';

export class OpenRef {
  private readonly ref: ChunkRef;
  private fd: number | undefined;
  private data: Buffer | undefined;
  /** Why the reference cannot be read (names the path and the errno); the answer then carries ref_unreadable. */
  error: string | undefined;

  constructor(ref: ChunkRef) {
    this.ref = ref;
    const end = Number(ref.offset) + Number(ref.length);
    try {
      this.fd = openSync(ref.path, 'r');
      const size = fstatSync(this.fd).size;
      if (size < end) this.fail(`the file has ${size} bytes, the reference ends at byte ${end}`);
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(why: unknown): Error {
    const e = why as NodeJS.ErrnoException;
    const text = typeof why === 'string' ? why : `${e.code ?? 'error'}: ${e.message}`;
    this.error ??= `cannot read the chunk reference ${this.ref.path} (${text})`;
    this.close();
    return new Error(this.error);
  }

  /** The events: one positioned read on first call, checked against the reference's CRC-32. Throws what `error` says. */
  read(): Buffer {
    if (this.data) return this.data;
    if (this.error) throw new Error(this.error);
    if (this.fd === undefined) throw new Error(`chunk.data of ${this.ref.path} was first read after the chunk was answered; read it before answering`);
    const length = Number(this.ref.length);
    const offset = Number(this.ref.offset);
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    try {
      // One read for a regular file; the loop only covers a short one.
      for (let n; got < length && (n = readSync(this.fd, buf, got, length - got, offset + got)) > 0;) got += n;
    } catch (err) {
      throw this.fail(err);
    }
    if (got < length) throw this.fail(`short read: ${got} of ${length} bytes at offset ${offset}`);
    // 0: not given (a file the host just wrote into its private directory).
    const sum = this.ref.crc32 ? crc32(buf) : 0;
    if (sum !== this.ref.crc32 >>> 0) throw this.fail(`CRC-32 mismatch: the reference says ${(this.ref.crc32 >>> 0).toString(16)}, the bytes have ${sum.toString(16)}`);
    this.close();
    return (this.data = buf);
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = undefined;
  }
}

// The on-disk form of a chunk: one file per chunk, written once when the
// chunk is sealed (to a temp name, then renamed, so a file is whole or absent).
//
//   offset size
//   0      4    magic "SLCK"
//   4      1    format version (1)
//   5      1    flags (reserved, 0)
//   6      2    tag length T (uint16 BE)
//   8      4    event count (uint32 BE)
//   12     4    data length D (uint32 BE)
//   16     4    CRC32 of the data (uint32 BE)
//   20     8    creation time, ms since the epoch (float64 BE)
//   28     T    tag, UTF-8
//   28+T   D    events, MessagePack
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import type { BufferPool } from './buffer-pool.ts';

export const MAGIC = Buffer.from('SLCK');
export const FORMAT_VERSION = 1;
const FIXED = 28;

export interface ChunkHeader {
  tag: string;
  count: number;
  crc32: number;
  createdAt: number;
}

export function encodeHeader(h: ChunkHeader, dataLength: number): Buffer {
  const tag = Buffer.from(h.tag, 'utf8');
  const b = Buffer.alloc(FIXED + tag.length);
  MAGIC.copy(b, 0);
  b[4] = FORMAT_VERSION;
  b[5] = 0;
  b.writeUInt16BE(tag.length, 6);
  b.writeUInt32BE(h.count, 8);
  b.writeUInt32BE(dataLength, 12);
  b.writeUInt32BE(h.crc32 >>> 0, 16);
  b.writeDoubleBE(h.createdAt, 20);
  tag.copy(b, FIXED);
  return b;
}

export class CorruptChunkError extends Error {
  readonly offset: number;
  constructor(file: string, offset: number, message: string) {
    super(`${file}: ${message} at byte offset ${offset}`);
    this.offset = offset;
  }
}

/** Parses and verifies a whole chunk file. */
export function decodeChunkFile(file: string, b: Buffer, verifyCrc: boolean): ChunkHeader & { data: Buffer } {
  if (b.length < FIXED) throw new CorruptChunkError(file, b.length, `truncated header (${b.length} of ${FIXED} bytes)`);
  if (!b.subarray(0, 4).equals(MAGIC)) throw new CorruptChunkError(file, 0, `wrong magic ${JSON.stringify(b.subarray(0, 4).toString('latin1'))}, expected "SLCK"`);
  if (b[4] !== FORMAT_VERSION) throw new CorruptChunkError(file, 4, `unknown format version ${b[4]}`);
  const tagLen = b.readUInt16BE(6);
  const dataLen = b.readUInt32BE(12);
  const want = FIXED + tagLen + dataLen;
  if (b.length !== want) throw new CorruptChunkError(file, Math.min(b.length, want), `${b.length < want ? 'truncated' : 'trailing bytes'}: file is ${b.length} bytes, header says ${want}`);
  const data = b.subarray(FIXED + tagLen);
  const sum = b.readUInt32BE(16);
  if (verifyCrc && crc32(data) !== sum) throw new CorruptChunkError(file, FIXED + tagLen, `CRC32 mismatch (stored ${sum.toString(16)}, computed ${crc32(data).toString(16)})`);
  return { tag: b.toString('utf8', FIXED, FIXED + tagLen), count: b.readUInt32BE(8), crc32: sum, createdAt: b.readDoubleBE(20), data };
}

/**
 * Writes header and data to a temp file, optionally fsyncs, renames into
 * place. On any error nothing is left behind: a half-written file on a full
 * disk would take the space the next write needs, and a file the caller
 * believes unwritten would come back as backlog after a restart.
 */
export function writeChunkFile(path: string, h: ChunkHeader, data: Buffer, fsync: boolean): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    try {
      writeSync(fd, encodeHeader(h, data.length));
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      if (fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    // The rename itself survives a power loss only once the directory is synced.
    if (fsync) {
      const dir = openSync(dirname(path), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    }
  } catch (err) {
    rmSync(tmp, { force: true });
    rmSync(path, { force: true });
    throw err;
  }
}

/** Where the events start in the file of a chunk with this tag. */
export function dataOffset(tag: string): number {
  return FIXED + Buffer.byteLength(tag, 'utf8');
}

/**
 * Reads the `size` bytes of events of a chunk file whose header was
 * verified (at start, or written by this process), into a pooled buffer.
 */
export function readChunkData(path: string, size: number, pool: BufferPool): Buffer {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.allocUnsafe(FIXED);
    if (readSync(fd, head, 0, FIXED, 0) !== FIXED) throw new Error(`${path}: truncated chunk file`);
    const buf = pool.take(Math.max(size, pool.size));
    const at = FIXED + head.readUInt16BE(6);
    for (let off = 0; off < size; ) {
      const n = readSync(fd, buf, off, size - off, at + off);
      if (n === 0) throw new Error(`${path}: truncated chunk file (${off} of ${size} bytes of events)`);
      off += n;
    }
    return buf.subarray(0, size);
  } finally {
    closeSync(fd);
  }
}

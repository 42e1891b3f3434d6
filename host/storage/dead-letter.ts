// Chunks an output gave up on (ERROR, or retries exhausted), kept for a
// human: the chunk in the usual chunk file format, and beside it a small
// JSON record of why, which output, when.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Chunk } from '../engine/chunk.ts';
import { writeChunkFile } from './chunk-file.ts';

export interface DeadLetterRecord {
  chunk_id: string;
  tag: string;
  input: string;
  output: string;
  records: number;
  attempts: number;
  reason: string;
  time: string;
}

export class DeadLetters {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }
  /** Returns the path of the kept chunk. */
  put(chunk: Chunk, data: Buffer, output: string, reason: string, attempts: number): string {
    const base = join(this.dir, `${chunk.id}.${output}`);
    writeChunkFile(`${base}.chunk`, { ...chunk, crc32: chunk.crc32 ?? crc32(data) }, data, false);
    const record: DeadLetterRecord = {
      chunk_id: chunk.id, tag: chunk.tag, input: chunk.input, output, records: chunk.count, attempts, reason, time: new Date().toISOString(),
    };
    writeFileSync(`${base}.json`, JSON.stringify(record, null, 2) + '\n');
    return `${base}.chunk`;
  }
}

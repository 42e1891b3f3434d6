#!/usr/bin/env node
// Appends every event as a JSON line to one file. A chunk is answered OK only
// after all its lines were written (and fdatasync'ed with sync: on), so a crash
// of this plugin can duplicate a chunk but never lose one. A failed write
// (disk full) is cut off again and answered RETRY.
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { mkdirSync, statSync } from 'node:fs';
import { ConfigureError, serve, toJsonLines } from '../../sdk/src/index.ts';

interface Config {
  path: string;
  json_date_key: string;
  sync: boolean;
  mkdir: boolean;
}

let file: FileHandle | undefined;

/**
 * A process killed in the middle of a write can leave half a line. That
 * line's chunk was never answered OK, so sluice sends it again: cut the
 * half line off rather than leave a corrupt line before the full copy.
 */
async function dropPartialLine(fh: FileHandle, log: { warn(o: object, m: string): void }): Promise<void> {
  const { size } = await fh.stat();
  const block = Buffer.alloc(64 * 1024);
  let keep = 0;
  // Scan back from the end for the last newline.
  for (let end = size; end > 0; end -= block.length) {
    const from = Math.max(0, end - block.length);
    await fh.read(block, 0, end - from, from);
    if (end === size && block[end - from - 1] === 10) return;
    const nl = block.subarray(0, end - from).lastIndexOf(10);
    if (nl >= 0) {
      keep = from + nl + 1;
      break;
    }
  }
  if (keep === size) return;
  await fh.truncate(keep);
  log.warn({ bytes: size - keep, offset: keep }, 'removed a partial last line left by an interrupted write; its chunk is delivered again');
}
// Writes are chained so that chunks land in the order they arrived.
let tail: Promise<unknown> = Promise.resolve();
let records = 0;

serve<Config>({
  name: 'file',
  version: '0.1.0',
  description: 'Appends events as JSON lines to a file',
  config: {
    path: { type: 'string', required: true, description: 'File to append to' },
    json_date_key: { type: 'string', default: 'date', description: 'Key that holds the event time (seconds as a float); empty to leave it out' },
    sync: { type: 'bool', default: false, description: 'fdatasync after every chunk before answering OK' },
    mkdir: { type: 'bool', default: true, description: 'Create the parent directory if it is missing' },
  },
  validate(config) {
    const st = statSync(config.path, { throwIfNoEntry: false });
    if (st?.isDirectory()) throw new ConfigureError([{ key: 'path', message: `${config.path} is a directory; path names the file to append to` }]);
  },
  // Runs once the instance this one replaces has exited (a reload), so the partial line it cuts is never another process's write in progress.
  async configure(config, ctx) {
    if (config.mkdir) mkdirSync(dirname(config.path), { recursive: true });
    file = await open(config.path, 'a+');
    await dropPartialLine(file, ctx.log);
  },
  flush(chunk, ctx) {
    // The chunk's lines in one buffer, made before answering so that a bad chunk fails here; one write call for all of them.
    const bytes = toJsonLines(chunk.data, ctx.config.json_date_key);
    const write = tail.then(async () => {
      const fh = file!;
      const start = (await fh.stat()).size;
      try {
        // A full disk gives short writes before it gives an error.
        for (let off = 0; off < bytes.length; ) {
          const { bytesWritten } = await fh.write(bytes, off, bytes.length - off);
          if (bytesWritten === 0) throw new Error('the write made no progress');
          off += bytesWritten;
        }
        if (ctx.config.sync) await fh.datasync();
      } catch (err) {
        // All or nothing: the retry writes the whole chunk again, so what got through must go.
        await fh.truncate(start).catch(() => {});
        throw new Error(`cannot write ${ctx.config.path}: ${(err as Error).message}; the chunk is retried (free space on that disk)`);
      }
      records += chunk.count;
    });
    tail = write.catch(() => {});
    return write;
  },
  async exit() {
    await tail;
    await file?.close();
  },
  metrics: () => [{ name: 'file_records_total', help: 'Events written', value: records }],
});

// store.ref(): where a local plugin reads a chunk's events. A filesystem
// chunk is its own file (a chunk that is down stays down); a chunk without a
// file is written once into a private tmpfs directory, whose file goes when
// the chunk is released and whose directory goes at close; directories that
// dead sluice processes left are removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import pino from 'pino';
import { ChunkStore, type StoreEvents } from '../../host/storage/store.ts';
import { RefFiles } from '../../host/storage/ref-files.ts';
import type { Chunk } from '../../host/engine/chunk.ts';
import type { ChunkRef } from '../../sdk/src/protocol.ts';

function store(path: string | undefined, maxChunksUp = 1e6) {
  const sealed: Chunk[] = [];
  const warnings: string[] = [];
  const events: StoreEvents = { sealed: (c) => sealed.push(c), paused() {}, resumed() {}, quarantined() {}, writeFailed() {}, writeResumed() {} };
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
  const s = new ChunkStore({ path, sync: 'normal', checksum: true, maxChunksUp, maxMemory: Infinity }, events, log);
  return { s, sealed, warnings };
}

function read(ref: ChunkRef): Buffer {
  const fd = openSync(ref.path, 'r');
  try {
    const b = Buffer.alloc(ref.length);
    assert.equal(readSync(fd, b, 0, ref.length, ref.offset), ref.length);
    return b;
  } finally {
    closeSync(fd);
  }
}

function temp(t: import('node:test').TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a filesystem chunk is referenced in its chunk file, and one that is down is not loaded for it', (t) => {
  const { s, sealed } = store(temp(t), 1);
  const a = s.account('in', 'filesystem', 0, false);
  const w = s.writer(a, 'app.ünïcode');
  w.appendEncoded(Buffer.from('first chunk events'), 1);
  w.seal();
  w.appendEncoded(Buffer.from('second chunk'), 1);
  w.seal();
  const [c] = sealed as [Chunk];
  assert.equal(c.data, undefined, 'over max_chunks_up, the first chunk went down');
  const up = s.held.up;
  const ref = s.ref(c)!;
  assert.equal(ref.path, c.file);
  assert.deepEqual([ref.length, ref.crc32], [c.size, c.crc32]);
  assert.equal(read(ref).toString(), 'first chunk events');
  assert.equal(crc32(read(ref)), ref.crc32);
  assert.equal(c.data, undefined, 'still down');
  assert.equal(s.held.up, up);
});

test('a chunk without a file is written once into a private directory, its file removed at release, the directory at close', (t) => {
  const { s, sealed } = store(undefined);
  const a = s.account('in', 'memory', 0, false);
  s.writer(a, 't').appendEncoded(Buffer.from('events of a memory chunk'), 1);
  s.sealAll();
  const [c] = sealed as [Chunk];
  c.pending = 1;
  const ref = s.ref(c)!;
  t.after(() => rmSync(dirname(ref.path), { recursive: true, force: true }));
  const dir = dirname(ref.path);
  assert.match(dir, new RegExp(`/sluice-${process.pid}-[A-Za-z0-9]{6}$`));
  if (existsSync('/dev/shm')) assert.ok(dir.startsWith('/dev/shm/'), `${dir} is not on /dev/shm`);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(ref.path).mode & 0o777, 0o600);
  assert.deepEqual([ref.offset, ref.length, ref.crc32], [0, c.size, 0], 'no CRC for a file the host has just written');
  assert.equal(readFileSync(ref.path).toString(), 'events of a memory chunk');
  const ino = statSync(ref.path).ino;
  assert.deepEqual(s.ref(c), ref, 'a second output gets the same file');
  assert.equal(statSync(ref.path).ino, ino, 'not written again');
  s.release(c);
  assert.equal(existsSync(ref.path), false, 'released: its file is gone');
  assert.ok(existsSync(dir));
  s.close();
  assert.equal(existsSync(dir), false, 'closed: the directory is gone');
});

test('when the reference file cannot be written, ref() says send bytes, with one warning until it works again', (t) => {
  const { s, sealed, warnings } = store(undefined);
  const a = s.account('in', 'memory', 0, false);
  for (const tag of ['a', 'b', 'c', 'd']) s.writer(a, tag).appendEncoded(Buffer.from(`events ${tag}`), 1);
  s.sealAll();
  const [ca, cb, cc, cd] = sealed as [Chunk, Chunk, Chunk, Chunk];
  const dir = dirname(s.ref(ca)!.path);
  t.after(() => s.close());
  // As if /dev/shm were full: the directory cannot take a file.
  rmSync(dir, { recursive: true });
  assert.equal(s.ref(cb), undefined);
  assert.equal(s.ref(cc), undefined);
  assert.deepEqual(warnings, ['cannot write a chunk reference file (is /dev/shm full?); chunks go to plugins as bytes meanwhile']);
  mkdirSync(dir, { mode: 0o700 });
  assert.equal(read(s.ref(cd)!).toString(), 'events d');
});

test('removeStale removes the directories of sluice processes that are gone, and only those', (t) => {
  const base = temp(t);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const names = [`sluice-${dead}-AbC123`, `sluice-${process.pid}-xyz789`, `sluice-${process.ppid}-Qq0000`, 'sluice-AbC123', `sluice-test-${dead}`, `other-${dead}-AbC123`];
  for (const n of names) mkdirSync(join(base, n));
  assert.deepEqual(RefFiles.removeStale([base]), [join(base, `sluice-${dead}-AbC123`)]);
  assert.deepEqual(readdirSync(base).sort(), names.slice(1).sort());
});

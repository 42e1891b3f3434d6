// With filesystem storage a chunk's bytes are in memory only while a send of
// them is in flight: its file holds them the rest of the time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ChunkStore, type StoreEvents } from '../../host/storage/store.ts';
import type { Chunk } from '../../host/engine/chunk.ts';

function store(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-store-fs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sealed: Chunk[] = [];
  const events: StoreEvents = {
    sealed: (c) => sealed.push(c), paused() {}, resumed() {}, quarantined() {}, writeFailed() {}, writeResumed() {},
  };
  const s = new ChunkStore({ path: dir, sync: 'normal', checksum: true, maxChunksUp: 128, maxMemory: Infinity }, events, pino({ level: 'silent' }));
  return { s, sealed };
}

test('a written filesystem chunk goes down at once; loaded for a send, it goes down again when the send is answered', (t) => {
  const { s, sealed } = store(t);
  const a = s.account('in', 'filesystem', 0, false);
  const w = s.writer(a, 't');
  const bytes = Buffer.from('some event bytes');
  w.appendEncoded(bytes);
  w.seal();
  const c = sealed[0]!;
  assert.ok(c.file);
  assert.equal(c.data, undefined, 'its file holds it');
  assert.equal(a.bytes, 0);
  assert.equal(s.held.up, 0);

  const loaded = s.load(c);
  assert.deepEqual(loaded, bytes);
  c.busy++;
  assert.equal(s.held.up, 1);
  s.settled(c);
  assert.ok(c.data, 'in flight: it stays up');
  c.busy--;
  s.settled(c);
  assert.equal(c.data, undefined);
  assert.equal(s.held.up, 0);
  assert.equal(a.bytes, 0);
});

test('with storage.pause_on_chunks_overlimit chunks stay up to max_chunks_up, so that the input pauses there', (t) => {
  const { s, sealed } = store(t);
  const a = s.account('in', 'filesystem', 0, true);
  const w = s.writer(a, 't');
  w.appendEncoded(Buffer.from('x'));
  w.seal();
  assert.ok(sealed[0]!.data);
  assert.equal(s.held.up, 1);
});

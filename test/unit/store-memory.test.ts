// The store counts the bytes chunks really hold: open chunks' buffers, and
// sealed chunks that do not pin a bigger buffer than their events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ChunkStore, type StoreEvents } from '../../host/storage/store.ts';
import { CHUNK_TARGET_BYTES, type Chunk } from '../../host/engine/chunk.ts';

function store(maxMemory = Infinity) {
  const sealed: Chunk[] = [];
  const paused: string[] = [];
  const events: StoreEvents = {
    sealed: (c) => sealed.push(c), paused: (_name, why) => paused.push(why), resumed() {}, quarantined() {}, writeFailed() {}, writeResumed() {},
  };
  const s = new ChunkStore({ path: undefined, sync: 'normal', checksum: true, maxChunksUp: 1e6, maxMemory }, events, pino({ level: 'silent' }));
  return { s, sealed, paused };
}

const event = Buffer.alloc(30, 1);

test('1,000 quiet tags hold 4 KiB each while open, and their sealed chunks hold only their events', () => {
  const { s, sealed } = store();
  const a = s.account('in', 'memory', 0, false);
  const writers = Array.from({ length: 1000 }, (_, i) => s.writer(a, `app.${i}`));
  for (const w of writers) w.appendEncoded(event);
  assert.equal(a.bytes, 1000 * 4096);
  s.sealAll();
  assert.equal(sealed.length, 1000);
  for (const c of sealed) assert.equal(c.data!.buffer.byteLength, 30, 'a sealed chunk pins a bigger buffer');
  assert.equal(a.bytes, 1000 * 30);
  assert.equal(s.held.memBytes, 1000 * 30);
});

test('an open chunk grows geometrically to the target; a busy tag starts its next chunk at full size', () => {
  const { s, sealed } = store();
  const a = s.account('in', 'memory', 0, false);
  const w = s.writer(a, 't');
  const big = Buffer.alloc(1000, 2);
  let grows = 0;
  let cap = 0;
  while (sealed.length === 0) {
    const c = w.reserve(big.length);
    if (c.buf.length !== cap) [grows, cap] = [grows + 1, c.buf.length];
    c.appendBytes(big, 1);
    w.commit();
  }
  assert.ok(grows <= 11, `${grows} allocations for one chunk`);
  assert.ok(sealed[0]!.size >= CHUNK_TARGET_BYTES);
  assert.ok(sealed[0]!.data!.buffer.byteLength - sealed[0]!.size < 128 * 1024, 'a full chunk keeps its buffer, with little slack');
  const next = w.reserve(big.length);
  assert.ok(next.buf.length >= CHUNK_TARGET_BYTES, 'the next chunk of a busy tag starts small');
});

test('mem_buf_limit counts open chunks: an input is paused before anything is sealed', () => {
  const { s, paused } = store();
  const a = s.account('in', 'memory', 64 * 1024, false);
  for (let i = 0; i < 16 && !a.paused; i++) s.writer(a, `t${i}`).appendEncoded(event);
  assert.ok(a.paused);
  assert.deepEqual(paused, ['mem_buf_limit']);
  // Sealing frees the open buffers: the input may write again.
  s.sealAll();
  assert.ok(!a.paused);
});

test('storage.max_memory bounds all inputs together', () => {
  const { s, paused } = store(3 * 4096);
  const a = s.account('a', 'memory', 0, false);
  const b = s.account('b', 'memory', 0, false);
  s.writer(a, 'x').appendEncoded(event);
  s.writer(a, 'y').appendEncoded(event);
  assert.ok(!a.paused && !b.paused);
  s.writer(b, 'z').appendEncoded(event);
  assert.ok(a.paused && b.paused, 'both inputs hold memory over the ceiling');
  assert.deepEqual(paused, ['storage.max_memory', 'storage.max_memory']);
});

test('a busy tag under a mem_buf_limit smaller than a full chunk seals below the limit instead of pausing on its own open chunk', () => {
  const sealed: Chunk[] = [];
  const paused: string[] = [];
  const s: ChunkStore = new ChunkStore({ path: undefined, sync: 'normal', checksum: true, maxChunksUp: 128, maxMemory: Infinity }, {
    sealed: (c) => {
      sealed.push(c);
      s.release(c); // an output that delivers at once
    },
    paused: (_name, why) => paused.push(why), resumed() {}, quarantined() {}, writeFailed() {}, writeResumed() {},
  }, pino({ level: 'silent' }));
  const a = s.account('in', 'memory', 2 * 1024 * 1024, false);
  const w = s.writer(a, 't');
  const rec = Buffer.alloc(200, 3);
  for (let i = 0; i < 50_000; i++) w.appendEncoded(rec);
  assert.deepEqual(paused, []);
  assert.ok(sealed.length >= 4, `${sealed.length} chunks`);
  assert.ok(a.bytes <= 2 * 1024 * 1024);
});

test('a released full chunk\'s buffer is reused by the next full chunk, and never handed out twice', () => {
  const { s, sealed } = store();
  const a = s.account('in', 'memory', 0, false);
  const w = s.writer(a, 't');
  const fill = (n: number, byte: number) => {
    const bytes = Buffer.alloc(1000, byte);
    while (sealed.length < n) w.appendEncoded(bytes);
  };
  fill(2, 3);
  const first = sealed[0]!;
  const firstBuffer = first.data!.buffer;
  s.release(first);
  assert.equal(first.data, undefined);
  fill(4, 4);
  // The chunk open when the first was released, or the one after it, took its buffer.
  const reused = sealed.slice(2).filter((c) => c.data!.buffer === firstBuffer);
  assert.equal(reused.length, 1, 'the released buffer went to exactly one later chunk');
  assert.deepEqual([...new Set(sealed.slice(1).map((c) => c.data!.buffer))].length, 3, 'live chunks share no buffer');
  assert.ok(reused[0]!.data!.every((b) => b === 4), 'the reused buffer holds only the new chunk\'s bytes');
});

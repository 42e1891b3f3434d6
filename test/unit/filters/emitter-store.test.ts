// What the store does for re-emitted events (rewrite_tag's emitter): a
// chunk's onRelease (tail's offsets with memory storage) waits for the
// chunks made from its events, and an emitter over its limit pauses the
// inputs that feed it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ChunkStore, type StoreEvents } from '../../../host/storage/store.ts';
import type { Chunk } from '../../../host/engine/chunk.ts';

function store() {
  const sealed: Chunk[] = [];
  const paused: [string, string][] = [];
  const resumed: string[] = [];
  const events: StoreEvents = {
    sealed: (c) => sealed.push(c), paused: (name, why) => paused.push([name, why]), resumed: (name) => resumed.push(name), quarantined() {}, writeFailed() {}, writeResumed() {},
  };
  const s = new ChunkStore({ path: undefined, sync: 'normal', checksum: true, maxChunksUp: 1e6, maxMemory: Infinity }, events, pino({ level: 'silent' }));
  return { s, sealed, paused, resumed };
}

const event = Buffer.alloc(30, 1);

test('a chunk\'s onRelease waits until the chunks re-emitted from it are released, in any order', () => {
  for (const order of [['parent', 'a', 'b'], ['a', 'parent', 'b'], ['a', 'b', 'parent']]) {
    const { s, sealed } = store();
    const src = s.account('in', 'memory', 0, false);
    const em = s.account('emitter', 'memory', 0, false);
    const w = s.writer(src, 'app');
    let parent: Chunk | undefined;
    let released = 0;
    // As the pipeline does: the re-emitted chunks are stored while the source chunk is sealed.
    w.transform = (c) => {
      for (const tag of ['a', 'b']) {
        const e = s.writer(em, tag);
        e.onStored = (child) => {
          child.parent = c;
          c.children = (c.children ?? 0) + 1;
        };
        e.appendEncoded(event);
        s.dropWriter(e);
      }
      return c;
    };
    w.onStored = (c) => {
      parent = c;
      c.onRelease = () => released++;
    };
    w.appendEncoded(event);
    w.seal();
    assert.equal(sealed.length, 3);
    const byName: { [k: string]: Chunk } = { parent: parent!, a: sealed.find((c) => c.tag === 'a')!, b: sealed.find((c) => c.tag === 'b')! };
    for (const [i, name] of order.entries()) {
      assert.equal(released, 0, `${order}: released after ${i}`);
      s.release(byName[name!]!);
    }
    assert.equal(released, 1, `${order}`);
  }
});

test('an emitter over its mem_buf_limit pauses the inputs that feed it, and they resume with it', () => {
  const { s, sealed, paused, resumed } = store();
  const src = s.account('in', 'memory', 0, false);
  const other = s.account('other', 'memory', 0, false);
  const em = s.account('emitter', 'memory', 1000, false);
  src.feeds.add(em);
  const e = s.writer(em, 'x');
  for (let i = 0; i < 40; i++) e.appendEncoded(event);
  s.dropWriter(e);
  assert.ok(src.paused, 'the feeding input is paused');
  assert.ok(!other.paused, 'another input is not');
  assert.deepEqual(paused.find(([n]) => n === 'in'), ['in', 'emitter emitter']);
  for (const c of sealed) s.release(c);
  assert.ok(!src.paused);
  assert.ok(resumed.includes('in'));
});

test('emitters feeding each other (a loop) do not hang the check', () => {
  const { s } = store();
  const a = s.account('a', 'memory', 0, false);
  const b = s.account('b', 'memory', 0, false);
  a.feeds.add(b);
  b.feeds.add(a);
  const w = s.writer(a, 't');
  w.appendEncoded(event);
  s.dropWriter(w);
  assert.ok(!a.paused && !b.paused);
});

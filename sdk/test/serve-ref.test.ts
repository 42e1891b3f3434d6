// Chunks sent by reference (docs/protocol.md, "Chunks by reference"): every
// SDK plugin declares chunk_ref; chunk.data holds exactly the referenced
// bytes, read only when the plugin looks; a reference that cannot be read is
// answered RETRY with ref_unreadable, naming the path and the errno, whatever
// flush() did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { EventTime, encodeEvents } from '../src/codec/events.ts';
import type { PluginHarness } from '../src/harness.ts';
import { start } from './helpers.ts';

const events = (n: number) => encodeEvents(Array.from({ length: n }, (_, i) => ({ time: new EventTime(1700000000 + i, i), body: { log: `line ${i} ${'x'.repeat(i % 50)}` } })));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A file with junk around `data`, and a reference to `data` in it. */
function refFile(dir: string, name: string, data: Buffer) {
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([Buffer.from('header'), data, Buffer.from('trailer')]));
  return { path, offset: 6, length: data.length, crc32: crc32(data) };
}

async function ready(t: import('node:test').TestContext): Promise<{ plugin: PluginHarness; dir: string }> {
  const plugin = await start(t, 'ref-reader.ts');
  assert.deepEqual(await plugin.configure({}), []);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-sdk-ref-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { plugin, dir };
}

test('every SDK plugin declares chunk_ref beside its own capabilities', async (t) => {
  const { plugin } = await ready(t);
  assert.deepEqual((await plugin.describe()).capabilities, ['drain', 'chunk_ref']);
});

test('by reference, chunk.data and chunk.events() are exactly the referenced bytes', async (t) => {
  const { plugin, dir } = await ready(t);
  const data = events(500);
  const viaHarness = await plugin.flush('digest', data, { chunkId: 'harness-file', count: 500, ref: true });
  const viaOwn = await plugin.flush('digest', data, { chunkId: 'own-file', count: 500, ref: refFile(dir, 'own.chunk', data) });
  for (const [out, id] of [[viaHarness, 'harness-file'], [viaOwn, 'own-file']] as const) {
    assert.equal(out.status, 'OK', out.message);
    assert.equal(out.refUnreadable, undefined);
    const line = await plugin.waitForLog((l) => l.msg === 'digest' && l.record?.chunk === id);
    assert.deepEqual([line.record!.sha256, line.record!.length, line.record!.events], [sha256(data), data.length, 500]);
  }
});

test('a reference with crc32 0 (a file the host just wrote) is read without a CRC check', async (t) => {
  const { plugin, dir } = await ready(t);
  const data = events(20);
  const out = await plugin.flush('digest', Buffer.alloc(0), { chunkId: 'no-crc', count: 20, ref: { ...refFile(dir, 'n.chunk', data), crc32: 0 } });
  assert.equal(out.status, 'OK', out.message);
  assert.equal(out.refUnreadable, undefined);
  const line = await plugin.waitForLog((l) => l.msg === 'digest' && l.record?.chunk === 'no-crc');
  assert.equal(line.record!.sha256, sha256(data));
});

test('a plugin that never looks at chunk.data never reads it: a reference with a wrong CRC is answered OK', async (t) => {
  const { plugin, dir } = await ready(t);
  const ref = { ...refFile(dir, 'c.chunk', events(3)), crc32: 12345 };
  const ignored = await plugin.flush('ignore', Buffer.alloc(0), { ref, count: 3 });
  assert.equal(ignored.status, 'OK');
  assert.equal(ignored.refUnreadable, undefined);
  // Read, the same reference fails its CRC check.
  const read = await plugin.flush('digest', Buffer.alloc(0), { ref, count: 3 });
  assert.equal(read.status, 'RETRY');
  assert.equal(read.refUnreadable, true);
  assert.match(read.message, /CRC-32 mismatch/);
  assert.ok(read.message.includes(ref.path), read.message);
});

test('a missing file: RETRY with ref_unreadable naming the path and ENOENT, before flush() runs', async (t) => {
  const { plugin, dir } = await ready(t);
  const path = join(dir, 'gone.chunk');
  const out = await plugin.flush('ignore', Buffer.alloc(0), { chunkId: 'missing', ref: { path, offset: 0, length: 10, crc32: 0 } });
  assert.deepEqual([out.status, out.refUnreadable, out.retryAfterMs], ['RETRY', true, 0]);
  assert.ok(out.message.includes(path) && out.message.includes('ENOENT'), out.message);
  // A later flush's log comes after; the missing one never reached flush().
  await plugin.flush('ignore', [{ n: 1 }], { chunkId: 'after' });
  await plugin.waitForLog((l) => l.msg === 'flush' && l.record?.chunk === 'after');
  assert.equal(plugin.logs.some((l) => l.msg === 'flush' && l.record?.chunk === 'missing'), false);
});

test('a file shorter than the reference, and a CRC mismatch that flush() swallows: RETRY with ref_unreadable all the same', async (t) => {
  const { plugin, dir } = await ready(t);
  const data = events(20);
  const short = { ...refFile(dir, 'short.chunk', data), length: data.length + 100 };
  const a = await plugin.flush('ignore', Buffer.alloc(0), { ref: short });
  assert.deepEqual([a.status, a.refUnreadable], ['RETRY', true]);
  assert.match(a.message, /short\.chunk .*the file has \d+ bytes, the reference ends at byte \d+/);

  const wrong = { ...refFile(dir, 'wrong.chunk', data), crc32: 1 };
  const b = await plugin.flush('swallow', Buffer.alloc(0), { chunkId: 'swallowed', ref: wrong });
  await plugin.waitForLog((l) => l.msg === 'swallowed' && l.record?.chunk === 'swallowed');
  assert.deepEqual([b.status, b.refUnreadable], ['RETRY', true], 'flush() answered OK, the reference still counts as unreadable');
  assert.match(b.message, /CRC-32 mismatch/);
});

test('a file the plugin may not open (mode 000): RETRY with ref_unreadable and EACCES', { skip: process.getuid?.() === 0 && 'root reads a file of mode 000' }, async (t) => {
  const { plugin, dir } = await ready(t);
  const ref = refFile(dir, 'locked.chunk', events(2));
  chmodSync(ref.path, 0);
  const out = await plugin.flush('digest', Buffer.alloc(0), { ref });
  assert.deepEqual([out.status, out.refUnreadable], ['RETRY', true]);
  assert.match(out.message, /EACCES/);
});

// The bundled file plugin on its own, through the SDK's harness: what it
// writes, what it refuses, and how it repairs a line a killed process left
// half written. (That sluice routes events to it is test/e2e's business.)
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPlugin, type HarnessOptions, type PluginHarness } from '../../sdk/src/harness.ts';
import { EventTime, encodeEvents } from '../../sdk/src/index.ts';
import { Tmpfs } from '../../test/helpers/tmpfs.ts';

const PLUGIN = fileURLToPath(new URL('./main.ts', import.meta.url));

async function start(t: TestContext, o?: HarnessOptions): Promise<PluginHarness> {
  const plugin = await startPlugin([process.execPath, PLUGIN], o);
  t.after(() => plugin.stop());
  return plugin;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-file-plugin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l));

test('Describe: path is required; json_date_key, sync and mkdir have defaults', async (t) => {
  const plugin = await start(t);
  const d = await plugin.describe();
  assert.equal(d.name, 'file');
  assert.deepEqual(d.config.map((k) => [k.name, k.type, k.default, k.required]), [
    ['path', 'string', '', true],
    ['json_date_key', 'string', 'date', false],
    ['sync', 'bool', 'false', false],
    ['mkdir', 'bool', 'true', false],
  ]);
});

test('appends each event as a JSON line (time under json_date_key), creating the directory; a chunk is on disk when answered OK; chunks land in the order sent', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'new/sub/out.jsonl');
  const plugin = await start(t);
  assert.deepEqual(await plugin.configure({ path: out, sync: true }), []);
  const time = new EventTime(1764648000, 250_000_000);
  const first = encodeEvents([
    { body: { log: 'plain' }, time, metadata: { ignored: true } },
    { body: { user: 'ada', n: 3, nested: { ok: [1, 2] }, text: 'ünïcødé ✓' }, time },
  ]);
  assert.equal((await plugin.flush('app', first, { count: 2 })).status, 'OK');
  assert.deepEqual(lines(out), [
    { date: 1764648000.25, log: 'plain' },
    { date: 1764648000.25, user: 'ada', n: 3, nested: { ok: [1, 2] }, text: 'ünïcødé ✓' },
  ]);

  // Twenty chunks at once: written one after another, in the order they came.
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => plugin.flush('app', [{ i, pad: 'x'.repeat(i * 1000) }])));
  assert.deepEqual(new Set(answers.map((a) => a.status)), new Set(['OK']));
  assert.deepEqual(lines(out).slice(2).map((l) => l.i), Array.from({ length: 20 }, (_, i) => i));
  const records = (await plugin.metrics()).find((m) => m.name === 'file_records_total');
  assert.equal(records?.value, 22);
});

test('appends to what the file holds; json_date_key names the time key, or leaves it out when empty', async (t) => {
  const dir = tempDir(t);
  for (const [key, expected] of [['', { log: 'x' }], ['ts', { ts: 1.5, log: 'x' }]] as const) {
    const out = join(dir, `out-${key || 'none'}.jsonl`);
    writeFileSync(out, '{"was":"here"}\n');
    const plugin = await start(t);
    assert.deepEqual(await plugin.configure({ path: out, json_date_key: key }), []);
    assert.equal((await plugin.flush('t', encodeEvents([{ body: { log: 'x' }, time: new EventTime(1, 500_000_000) }]))).status, 'OK');
    assert.deepEqual(lines(out), [{ was: 'here' }, expected]);
    assert.equal((await plugin.stop()).code, 0);
  }
});

test('Configure errors name the key: missing path, unknown key, bad boolean; a path it cannot open is refused', async (t) => {
  const dir = tempDir(t);
  const plugin = await start(t);
  assert.deepEqual(await plugin.configure({}), [{ key: 'path', message: 'required key is missing' }]);
  assert.deepEqual(await plugin.configure({ path: join(dir, 'o'), pathh: 'x', sync: 'maybe' }), [
    { key: 'pathh', message: 'unknown key; did you mean "path"?' },
    { key: 'sync', message: 'must be a boolean (true/false/on/off), got "maybe"' },
  ]);
  // mkdir: off and no such directory: the open fails, and nothing is created.
  const errors = await plugin.configure({ path: join(dir, 'missing/o.jsonl'), mkdir: false });
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.key, '');
  assert.match(errors[0]!.message, /ENOENT/);
  assert.equal(existsSync(join(dir, 'missing')), false);
});

test('a validate-only Configure refuses a directory as path, and creates nothing for a good one', async (t) => {
  const dir = tempDir(t);
  const plugin = await start(t);
  assert.deepEqual(await plugin.configure({ path: dir }, { validateOnly: true }), [
    { key: 'path', message: `${dir} is a directory; path names the file to append to` },
  ]);
  const out = join(dir, 'later/out.jsonl');
  assert.deepEqual(await plugin.configure({ path: out }, { validateOnly: true }), []);
  assert.equal(existsSync(join(dir, 'later')), false, 'a validate-only Configure created the directory');
  // Still unconfigured: the real Configure follows and opens the file.
  assert.equal((await plugin.flush('t', [{ n: 1 }])).status, 'RETRY');
  assert.deepEqual(await plugin.configure({ path: out, json_date_key: '' }), []);
  assert.equal((await plugin.flush('t', [{ n: 1 }])).status, 'OK');
  assert.deepEqual(lines(out), [{ n: 1 }]);
});

test('a half-written last line left by a killed file plugin is cut off before appending, so the resent chunk is whole and alone', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'out.jsonl');
  const first = await start(t);
  assert.deepEqual(await first.configure({ path: out, json_date_key: '' }), []);
  assert.equal((await first.flush('t', [{ log: 'complete' }])).status, 'OK');
  assert.equal((await first.flush('t', [{ log: 'half of a line that was cut' }])).status, 'OK');
  first.kill('SIGKILL');
  await first.waitForExit();
  // What a SIGKILL in the middle of the second chunk's write leaves (the
  // moment cannot be hit on purpose, so the cut is made here): half its
  // line, and that chunk never answered OK, so sluice sends it again.
  const whole = readFileSync(out, 'utf8');
  writeFileSync(out, whole.slice(0, '{"log":"complete"}\n{"log":"half of a li'.length));

  const second = await start(t);
  assert.deepEqual(await second.configure({ path: out, json_date_key: '' }), []);
  const warned = await second.waitForLog(/partial last line/);
  assert.equal(warned.level, 'warn');
  assert.deepEqual([warned.record?.bytes, warned.record?.offset], [20, 19]);
  assert.equal(readFileSync(out, 'utf8'), '{"log":"complete"}\n');
  assert.equal((await second.flush('t', [{ log: 'half of a line that was cut' }], { attempt: 2 })).status, 'OK');
  assert.equal((await second.flush('t', [{ log: 'new' }])).status, 'OK');
  assert.equal(readFileSync(out, 'utf8'), '{"log":"complete"}\n{"log":"half of a line that was cut"}\n{"log":"new"}\n');
});

test('the partial-line repair: a partial line longer than its 64 KiB scan block, a file that is one partial line, and a whole file left alone', async (t) => {
  const dir = tempDir(t);
  const cases = [
    { name: 'long', content: '{"a":1}\n' + 'x'.repeat(200_000), keep: '{"a":1}\n' },
    { name: 'only-partial', content: '{"a":', keep: '' },
    { name: 'whole', content: '{"a":1}\n{"b":2}\n', keep: '{"a":1}\n{"b":2}\n' },
  ];
  for (const c of cases) {
    const out = join(dir, `${c.name}.jsonl`);
    writeFileSync(out, c.content);
    const plugin = await start(t);
    assert.deepEqual(await plugin.configure({ path: out }), []);
    assert.equal(readFileSync(out, 'utf8'), c.keep, c.name);
    // The warning travels on stderr, which can come in after Configure's answer.
    if (c.keep !== c.content) await plugin.waitForLog(/partial last line/);
    const warned = plugin.logs.filter((l) => /partial last line/.test(l.msg)).map((l) => [l.record?.bytes, l.record?.offset]);
    assert.deepEqual(warned, c.keep === c.content ? [] : [[c.content.length - c.keep.length, c.keep.length]], c.name);
    await plugin.stop();
  }
});

test('a write that fails answers RETRY saying why, and leaves nothing behind: /dev/full', async (t) => {
  const plugin = await start(t);
  assert.deepEqual(await plugin.configure({ path: '/dev/full' }), []);
  const r = await plugin.flush('t', [{ n: 1 }]);
  assert.equal(r.status, 'RETRY');
  assert.equal(r.message, 'cannot write /dev/full: ENOSPC: no space left on device, write; the chunk is retried (free space on that disk)');
  assert.equal((await plugin.metrics()).find((m) => m.name === 'file_records_total')?.value, 0);
});

test('a disk that fills mid-chunk: what got through is cut off again, RETRY; once there is space the resent chunk is written whole, once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-file-plugin-'));
  const disk = Tmpfs.mount(join(dir, 'disk'), '1m');
  if (typeof disk === 'string') {
    rmSync(dir, { recursive: true, force: true });
    return t.skip(disk);
  }
  const out = join(disk.dir, 'out.jsonl');
  const plugin = await startPlugin([process.execPath, PLUGIN]);
  try {
    assert.deepEqual(await plugin.configure({ path: out, json_date_key: '' }), []);
    assert.equal((await plugin.flush('t', [{ first: true }])).status, 'OK');
    const before = statSync(out).size;
    disk.fill(16 * 1024);
    // About 100 KiB of lines into 16 KiB of free space: a short write, then ENOSPC.
    const chunk = Array.from({ length: 100 }, (_, i) => ({ i, pad: 'y'.repeat(1000) }));
    const r = await plugin.flush('t', chunk, { chunkId: 'big' });
    assert.equal(r.status, 'RETRY');
    assert.match(r.message, /^cannot write .*: ENOSPC/);
    assert.equal(statSync(out).size, before, 'a partly written chunk was left in the file');
    disk.free();
    assert.equal((await plugin.flush('t', chunk, { chunkId: 'big', attempt: 2 })).status, 'OK');
    assert.deepEqual(lines(out).map((l) => l.i ?? 'first'), ['first', ...chunk.map((c) => c.i)]);
  } finally {
    await plugin.stop();
    disk.unmount();
    rmSync(dir, { recursive: true, force: true });
  }
});

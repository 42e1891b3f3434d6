// What serve() guarantees on the Flush stream, driven through the harness
// as sluice would drive it: version negotiation, answers per send,
// drains, and how a plugin's flush answer or error reaches sluice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Order, start } from './helpers.ts';

test('offered version 1 only: speaks 1, answers by chunk_id with no send_seq, drains through the Drain call after earlier chunks', async (t) => {
  const plugin = await start(t, 'probe.ts', { versions: [1] });
  assert.equal(plugin.version, 1);
  assert.equal(plugin.handshake.appVersion, 1);
  assert.deepEqual(await plugin.configure({}), []);

  const order = new Order();
  const a = order.track('a', plugin.flush('hold', [{ n: 1 }], { chunkId: 'chunk-a' }));
  const b = order.track('b', plugin.flush('x', [{ n: 2 }], { chunkId: 'chunk-b' }));
  assert.deepEqual(await b, { status: 'OK', message: '', retryAfterMs: 0, chunkId: 'chunk-b', sendSeq: 0 });
  await plugin.waitForLog(/"holding"/);
  const drained = order.track('drain', plugin.drain(10_000));
  await plugin.waitForLog(/"drain hook"/);
  // A round trip on the same connection: a Drain that did not wait for chunk-a would be answered by now.
  assert.equal(await plugin.health(), 'SERVING');
  assert.deepEqual(order.settled, ['b'], 'Drain answered while chunk-a was outstanding');
  plugin.kill('SIGUSR2');
  assert.deepEqual(await a, { status: 'OK', message: '', retryAfterMs: 0, chunkId: 'chunk-a', sendSeq: 0 });
  await drained;
  assert.deepEqual(plugin.unmatchedAnswers, []);
});

test('offered version 2 (alone, or with 1 as sluice offers): speaks 2 and every answer echoes its send_seq', async (t) => {
  for (const versions of [[2], [1, 2]]) {
    const plugin = await start(t, 'probe.ts', { versions });
    assert.equal(plugin.version, 2, `offered ${versions}`);
    assert.deepEqual(await plugin.configure({}), []);
    const answers = await Promise.all([1, 2, 3].map((n) => plugin.flush('x', [{ n }], { chunkId: `c${n}` })));
    assert.deepEqual(answers.map((a) => [a.chunkId, a.sendSeq]), [['c1', 1], ['c2', 2], ['c3', 3]]);
    assert.deepEqual(plugin.unmatchedAnswers, []);
    await plugin.stop();
  }
});

test('concurrent flushes are answered per send, out of order, and two sends of one chunk get one answer each', async (t) => {
  const plugin = await start(t, 'probe.ts');
  assert.deepEqual(await plugin.configure({}), []);
  const order = new Order();
  const first = order.track('first', plugin.flush('hold', [{ n: 1 }], { chunkId: 'same' }));
  const again = order.track('again', plugin.flush('hold', [{ n: 1 }], { chunkId: 'same', attempt: 2 }));
  const other = order.track('other', plugin.flush('hold', [{ n: 2 }], { chunkId: 'other' }));
  const quick = order.track('quick', plugin.flush('x', [{ n: 3 }], { chunkId: 'quick' }));
  assert.equal((await quick).status, 'OK');
  assert.deepEqual(order.settled, ['quick'], 'the quick chunk waited for the held ones');
  assert.equal(plugin.outstanding, 3);
  assert.equal((await plugin.flush('release', [])).status, 'OK');
  const answers = await Promise.all([first, again, other]);
  assert.deepEqual(answers.map((a) => [a.status, a.chunkId, a.sendSeq]), [['OK', 'same', 1], ['OK', 'same', 2], ['OK', 'other', 3]]);
  assert.equal(plugin.outstanding, 0);
  assert.deepEqual(plugin.unmatchedAnswers, []);
});

test('version 2: the drain marker runs the drain hook and is answered only after every send before it', async (t) => {
  const plugin = await start(t, 'probe.ts');
  assert.deepEqual(await plugin.configure({}), []);
  const order = new Order();
  const a = order.track('a', plugin.flush('hold', [{ n: 1 }]));
  const b = order.track('b', plugin.flush('hold', [{ n: 2 }]));
  const drained = order.track('drain', plugin.drain(10_000));
  const hook = await plugin.waitForLog(/"drain hook"/);
  assert.equal(hook.record?.held, 2);
  assert.equal(await plugin.health(), 'SERVING');
  assert.deepEqual(order.settled, [], 'the marker was answered while sends before it were outstanding');
  // Sent after the marker: it releases the two held chunks and is not waited for by the marker.
  await order.track('release', plugin.flush('release', []));
  assert.deepEqual(await drained, { outstanding: 0 });
  await Promise.all([a, b]);
  assert.deepEqual(order.settled.filter((n) => n !== 'release'), ['a', 'b', 'drain']);
});

test('version 2: a drain marker is answered at its deadline even when a send never is; a failing drain hook is logged, the marker still answered', async (t) => {
  const plugin = await start(t, 'probe.ts');
  assert.deepEqual(await plugin.configure({ fail_drain: true }), []);
  const held = plugin.flush('hold', [{ n: 1 }]);
  const started = Date.now();
  assert.deepEqual(await plugin.drain(300), { outstanding: 1 });
  assert.ok(Date.now() - started >= 250, `the marker was answered after ${Date.now() - started} ms, before its 300 ms deadline`);
  const failed = await plugin.waitForLog((l) => l.msg === 'drain hook failed; outstanding chunks are answered anyway');
  assert.equal(failed.level, 'error');
  plugin.kill('SIGUSR2');
  assert.equal((await held).status, 'OK');
});

test('flush answers: a thrown error is RETRY with its message; retry(), error() and an unknown answer reach sluice as such; Metrics counts them', async (t) => {
  const plugin = await start(t, 'probe.ts');
  const before = await plugin.flush('x', [{ n: 0 }], { chunkId: 'early' });
  assert.deepEqual([before.status, before.message], ['RETRY', 'plugin is not configured yet']);
  assert.deepEqual(await plugin.configure({}), []);
  const got = async (tag: string) => {
    const r = await plugin.flush(tag, [{ n: 1 }], { chunkId: `chunk-${tag}` });
    return [r.status, r.message, r.retryAfterMs];
  };
  assert.deepEqual(await got('throw'), ['RETRY', 'boom in chunk-throw', 0]);
  assert.deepEqual(await got('throw-string'), ['RETRY', 'a bare string', 0]);
  assert.deepEqual(await got('retry'), ['RETRY', 'busy', 1500]);
  assert.deepEqual(await got('error'), ['ERROR', 'refused', 0]);
  assert.deepEqual(await got('odd'), ['RETRY', 'plugin returned an unknown answer {"status":"maybe"}', 0]);
  assert.deepEqual(await got('ok'), ['OK', '', 0]);

  const metrics = await plugin.metrics();
  const answers = Object.fromEntries(metrics.filter((m) => m.name === 'sdk_flush_answers_total').map((m) => [m.labels.status, m.value]));
  assert.deepEqual(answers, { ok: 1, retry: 5, error: 1 });
  assert.deepEqual(metrics.find((m) => m.name === 'probe_held'), { name: 'probe_held', help: 'Chunks held', type: 'gauge', value: 0, labels: { kind: 'hold' } });
});

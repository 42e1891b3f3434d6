// The kafka plugin on its own, through the SDK's harness, against a real
// Kafka-protocol broker (librdkafka's mock cluster, test/helpers/kafka.ts),
// read back with kcat.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startPlugin, type PluginHarness } from '../../sdk/src/harness.ts';
import { consumeAll, startMockCluster, type MockCluster } from '../../test/helpers/kafka.ts';
import { waitFor } from '../../test/helpers/wait.ts';

const PLUGIN = fileURLToPath(new URL('./main.ts', import.meta.url));
let kafka: MockCluster;
let topics = 0;

before(async () => {
  kafka = await startMockCluster({ brokers: 3 });
});

/** A fresh topic with 8 partitions (the mock keeps ~5 MiB per partition). */
async function topic(prefix = 't'): Promise<string> {
  const name = `${prefix}-${++topics}`;
  await kafka.command(`topic ${name} 8`);
  return name;
}

async function plugin(t: { after(fn: () => unknown): void }, config: { [k: string]: unknown }): Promise<PluginHarness> {
  const p = await startPlugin([process.execPath, PLUGIN]);
  t.after(() => p.stop());
  assert.deepEqual(await p.configure({ brokers: kafka.bootstrap, ...config }), []);
  return p;
}

const events = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ id: from + i, msg: `event ${from + i}` }));

async function metric(p: PluginHarness, name: string, labels: { [k: string]: string } = {}): Promise<number> {
  const m = (await p.metrics()).find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return m?.value ?? 0;
}

test('events with linger pending are sent by a drain at once, and every chunk is answered OK after it', async (t) => {
  const name = await topic();
  const p = await plugin(t, { topic: name, linger: '10m', batch_size: '900K', message_key: 'id' });
  const answers = [p.flush('app', events(100, 0)), p.flush('app', events(100, 100)), p.flush('app', events(100, 200))];
  // Nothing is answered before the drain: the batch waits for its linger.
  let early = false;
  void Promise.race(answers).then(() => (early = true));
  await p.metrics();
  assert.equal(early, false, 'a chunk was answered before its events were sent');
  assert.ok((await metric(p, 'kafka_buffered_bytes')) > 0);
  await p.drain();
  assert.deepEqual((await Promise.all(answers)).map((a) => a.status), ['OK', 'OK', 'OK']);
  const got = await consumeAll(kafka.bootstrap, name);
  assert.equal(got.length, 300);
  assert.deepEqual(new Set(got.map((m) => JSON.parse(m.payload!).id)).size, 300);
  assert.ok(got.every((m) => m.key === String(JSON.parse(m.payload!).id)));
  assert.equal(await metric(p, 'kafka_messages_total'), 300);
  assert.equal(await metric(p, 'kafka_batch_messages_count'), 1, 'the three chunks went in one produce request');
});

test('an oversized event goes to the dead-letter topic with why, the rest of the chunk is delivered; without one the chunk is ERROR and nothing is sent', async (t) => {
  const [name, dead] = [await topic(), await topic('dead')];
  const p = await plugin(t, { topic: name, max_message_bytes: '2K', batch_size: '2K', dead_letter_topic: dead });
  const batch = [...events(5), { id: 'big', msg: 'x'.repeat(4000) }, ...events(5, 5)];
  assert.equal((await p.flush('app', batch)).status, 'OK');
  const ok = await consumeAll(kafka.bootstrap, name);
  assert.deepEqual(ok.map((m) => JSON.parse(m.payload!).id).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const dl = await consumeAll(kafka.bootstrap, dead);
  assert.equal(dl.length, 1);
  assert.equal(JSON.parse(dl[0]!.payload!).id, 'big');
  assert.match(dl[0]!.headers['sluice.error']!, /more than max_message_bytes 2048/);
  assert.deepEqual([dl[0]!.headers['sluice.tag'], dl[0]!.headers['sluice.topic']], ['app', name]);
  assert.equal(await metric(p, 'kafka_dead_letter_messages_total'), 1);

  const strict = await topic();
  const q = await plugin(t, { topic: strict, max_message_bytes: '2K', batch_size: '2K' });
  const a = await q.flush('app', batch);
  assert.equal(a.status, 'ERROR');
  assert.match(a.message, /^event 5: is \d+ bytes as a message, more than max_message_bytes 2048; set dead_letter_topic/);
  assert.equal((await consumeAll(kafka.bootstrap, strict)).length, 0);
});

test('topic templates: per-event topics from fields, default_topic for events without the field, headers copied from fields', async (t) => {
  const base = `tpl${++topics}`;
  for (const s of ['api', 'web', 'other']) await kafka.command(`topic ${base}-${s} 8`);
  const p = await plugin(t, { topic: `${base}-\${record.svc}`, default_topic: `${base}-other`, headers: { svc: '${record.svc}', env: 'test', tag: '${tag}' } });
  const a = await p.flush('app.x', [{ svc: 'api', n: 1 }, { svc: 'web', n: 2 }, { n: 3 }, { svc: 'api', n: 4 }]);
  assert.equal(a.status, 'OK', a.message);
  const api = await consumeAll(kafka.bootstrap, `${base}-api`);
  assert.deepEqual(api.map((m) => JSON.parse(m.payload!).n).sort(), [1, 4]);
  assert.deepEqual(api[0]!.headers, { svc: 'api', env: 'test', tag: 'app.x' });
  const other = await consumeAll(kafka.bootstrap, `${base}-other`);
  assert.deepEqual(other.map((m) => [JSON.parse(m.payload!).n, m.headers.svc]), [[3, undefined]]);
  assert.equal((await consumeAll(kafka.bootstrap, `${base}-web`)).length, 1);
});

test('a fatal broker error answers ERROR saying what to do; a storm of leader and timeout errors is retried inside one flush', async (t) => {
  const name = await topic();
  const p = await plugin(t, { topic: name, retries: 5, retry_backoff: '10ms' });
  await kafka.command('errors Produce 4 NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT');
  assert.equal((await p.flush('app', events(50))).status, 'OK');
  assert.equal((await consumeAll(kafka.bootstrap, name)).length, 50);

  const denied = await topic('denied');
  await kafka.command(`topic-error ${denied} TOPIC_AUTHORIZATION_FAILED`);
  const q = await plugin(t, { topic: denied });
  const a = await q.flush('app', events(3));
  assert.equal(a.status, 'ERROR');
  assert.match(a.message, /TOPIC_AUTHORIZATION_FAILED.*grant WRITE/);
  assert.equal(await metric(q, 'kafka_errors_total', { code: 'TOPIC_AUTHORIZATION_FAILED' }), 1);
});

test('max_buffered_bytes: a chunk waits for room while a slow broker holds another, and is answered RETRY with retry_after if none comes within 5 s', async (t) => {
  const name = await topic();
  await kafka.command(`leader ${name} all 1`);
  const p = await plugin(t, { topic: name, max_buffered_bytes: '64K', linger: 0 });
  try {
    await kafka.rtt(1, 1500);
    // The second chunk does not fit beside the first: it waits until the first is acknowledged, then goes.
    const [a, b] = await Promise.all([p.flush('app', events(40)), p.flush('app', events(40, 40))]);
    assert.deepEqual([a.status, b.status], ['OK', 'OK']);
    assert.equal(await metric(p, 'kafka_backpressure_total'), 0);
    await kafka.rtt(1, 7000);
    const first = p.flush('app', events(40, 80));
    const refused = await p.flush('app', events(40, 120));
    assert.equal(refused.status, 'RETRY');
    assert.equal(refused.retryAfterMs, 1000);
    assert.match(refused.message, /max_buffered_bytes 65536/);
    assert.equal((await first).status, 'OK');
    assert.equal(await metric(p, 'kafka_backpressure_total'), 1);
  } finally {
    await kafka.rtt(1, 0);
  }
  assert.equal((await p.flush('app', events(40, 120))).status, 'OK');
  assert.equal((await consumeAll(kafka.bootstrap, name)).length, 160);
});

test('unreachable brokers: startup_check fail refuses Configure naming brokers; retry starts and answers RETRY', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
  const p = await startPlugin([process.execPath, PLUGIN]);
  t.after(() => p.stop());
  const errors = await p.configure({ brokers: `127.0.0.1:${port}`, topic: 'x', startup_check: 'fail', connect_timeout: '2s' });
  assert.deepEqual(errors.map((e) => e.key), ['brokers']);
  assert.match(errors[0]!.message, new RegExp(`cannot fetch metadata for topic x from 127.0.0.1:${port}: .*startup_check: retry`));

  const q = await startPlugin([process.execPath, PLUGIN]);
  t.after(() => q.stop());
  assert.deepEqual(await q.configure({ brokers: `127.0.0.1:${port}`, topic: 'x', connect_timeout: '2s', retries: 2, retry_backoff: '10ms' }), []);
  await q.waitForLog(/not reachable yet/);
  const a = await q.flush('app', events(1));
  assert.equal(a.status, 'RETRY');
  assert.match(a.message, /produce failed/);
});

test('idempotent producer with every codec: events arrive once, in order per key', async (t) => {
  for (const compression of ['gzip', 'snappy', 'lz4', 'zstd']) {
    const name = await topic(compression);
    const p = await plugin(t, { topic: name, idempotent: true, compression, message_key: 'k' });
    const batch = Array.from({ length: 400 }, (_, i) => ({ k: `key${i % 7}`, seq: i }));
    assert.equal((await p.flush('app', batch)).status, 'OK');
    const got = await consumeAll(kafka.bootstrap, name);
    assert.equal(got.length, 400, compression);
    const byKey = new Map<string, number[]>();
    for (const m of got.sort((a, b) => a.offset - b.offset)) {
      const list = byKey.get(m.key!) ?? [];
      list.push(JSON.parse(m.payload!).seq);
      byKey.set(m.key!, list);
    }
    for (const [k, seqs] of byKey) assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `${compression}: key ${k} out of order`);
    assert.equal(new Set(got.map((m) => m.partition)).size > 1, true, 'keys spread over partitions');
  }
});

test('a chunk retried after a partial failure sends only what Kafka did not acknowledge: no duplicates', async (t) => {
  const name = await topic();
  const p = await plugin(t, { topic: name, retries: 2, retry_backoff: '10ms', message_key: 'id' });
  await p.flush('app', events(1, 1000)); // the client knows the cluster before broker 2 goes
  // Broker 2 is down for the first attempt; brokers 1 and 3 take their partitions.
  await kafka.down(2);
  let first;
  try {
    first = await p.flush('app', events(200), { chunkId: 'c1' });
  } finally {
    await kafka.up(2);
  }
  assert.equal(first.status, 'RETRY', first.message);
  const partial = (await consumeAll(kafka.bootstrap, name)).length - 1;
  assert.ok(partial > 0 && partial < 200, `${partial} of 200 arrived on the first attempt`);
  assert.equal((await p.flush('app', events(200), { chunkId: 'c1', attempt: 2 })).status, 'OK');
  const got = (await consumeAll(kafka.bootstrap, name)).filter((m) => m.key !== '1000');
  assert.equal(got.length, 200, `${got.length - 200} duplicates`);
  assert.equal(new Set(got.map((m) => m.key)).size, 200);
  assert.equal(await metric(p, 'kafka_retry_skipped_messages_total'), partial);
});

test('acks 1 and acks 0 deliver too (with 0, OK means written to the socket)', async (t) => {
  for (const acks of ['1', '0']) {
    const name = await topic(`acks${acks}`);
    const p = await plugin(t, { topic: name, acks });
    for (let i = 0; i < 3; i++) assert.equal((await p.flush('app', events(100, i * 100))).status, 'OK');
    // With acks 0 nothing says when the broker has appended them: wait until it has.
    let n = 0;
    await waitFor(async () => (n = (await consumeAll(kafka.bootstrap, name)).length) >= 300, `300 messages with acks ${acks}`, { progress: () => n });
    assert.equal(n, 300, `acks ${acks}`);
  }
});

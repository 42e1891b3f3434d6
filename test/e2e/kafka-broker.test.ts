// The Kafka test broker of test/helpers/kafka.ts (librdkafka's mock cluster,
// driven by test/kafka/mock-cluster.c) against a real client, kcat: every
// compression codec round-trips keys, headers and payloads exactly, and each
// fault command has the effect it claims, seen from the client's side.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/sluice.ts';
import { consume, consumeAll, kafkaMetadata, produceWithKcat, startMockCluster, type KafkaMetadata, type MockCluster } from '../helpers/kafka.ts';

const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
const N = 2000;
/** Compressible: every codec makes these far smaller than they are. */
const PAYLOAD_PAD = 'x'.repeat(200);

let cluster: MockCluster;
let dir: string;

/** Writes lines to a file for kcat -P -l. */
function file(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
  return path;
}

function brokerAddress(meta: KafkaMetadata, id: number): string {
  const b = meta.brokers.find((x) => x.id === id);
  assert.ok(b, `broker ${id} in the metadata: ${JSON.stringify(meta.brokers)}`);
  return b.name;
}

/** How a TCP connect to HOST:PORT ends: 'connected' or the error code. */
function tcpConnect(address: string): Promise<string> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const s = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Lines of a producer's `-d msg` log that report a failed MessageSet with this error. */
/** kcat may send lines in several requests; with more than one in flight, a retried first request lands after the second, so order is kept only with one. */
const ONE_IN_FLIGHT = ['-X', 'max.in.flight.requests.per.connection=1'];

function produceErrors(stderr: string, error: string): string[] {
  return stderr.split('\n').filter((l) => l.includes('encountered error') && l.includes(error));
}

describe('Kafka test broker (librdkafka mock cluster)', () => {
  before(async () => {
    dir = tempDir('sluice-kafka-');
    cluster = await startMockCluster({ brokers: 3, topics: CODECS.map((c) => ({ name: `codec-${c}`, partitions: 4 })) });
  });
  after(async () => {
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('3 brokers, and the topics asked for', async () => {
    assert.equal(cluster.bootstrap.split(',').length, 3);
    const meta = await kafkaMetadata(cluster.bootstrap);
    assert.deepEqual(meta.brokers.map((b) => b.id).sort(), [1, 2, 3]);
    assert.deepEqual(meta.brokers.map((b) => b.name).sort(), cluster.bootstrap.split(',').sort());
    for (const c of CODECS) {
      const t = meta.topics.find((x) => x.topic === `codec-${c}`);
      assert.ok(t, `topic codec-${c}`);
      assert.equal(t.partitions.length, 4);
      assert.equal(t.partitions[0]!.replicas.length, 3);
    }
  });

  test('the startup caps: ListOffsets v3, InitProducerId v2, JoinGroup v5', async () => {
    const { stderr } = await consume(cluster.bootstrap, 'codec-none', { extraArgs: ['-d', 'feature'], partition: 0 });
    for (const [api, key, max] of [['ListOffsets', 2, 3], ['InitProducerId', 22, 2], ['JoinGroup', 11, 5], ['SyncGroup', 14, 3]] as const) {
      assert.match(stderr, new RegExp(`ApiKey ${api} \\(${key}\\) Versions 0\\.\\.${max}\\n`), `${api} capped at v${max}`);
    }
  });

  for (const codec of CODECS) {
    test(`${codec}: ${N} messages with keys and headers, produced and consumed back exactly`, async () => {
      const topic = `codec-${codec}`;
      const lines = Array.from({ length: N }, (_, i) => `key-${i}:message ${i} ${codec} ${PAYLOAD_PAD}`);
      const produced = await produceWithKcat(cluster.bootstrap, topic, file(`${codec}.txt`, lines), ['-K:', '-z', codec, '-H', `codec=${codec}`, '-H', 'eq=a=b', '-d', 'msg']);
      // The producer did compress, with this codec...
      const sets = produced.stderr.split('\n').filter((l) => l.includes('Produce MessageSet with'));
      assert.ok(sets.length > 0, produced.stderr.slice(-2000));
      for (const l of sets) assert.match(l, new RegExp(`, ${codec === 'none' ? 'uncompressed' : codec}\\)$`), l);

      const { messages, stderr } = await consume(cluster.bootstrap, topic, { extraArgs: ['-d', 'protocol'] });
      assert.equal(messages.length, N);
      const byKey = new Map(messages.map((m) => [m.key, m]));
      assert.equal(byKey.size, N, 'no key twice');
      for (let i = 0; i < N; i++) {
        const m = byKey.get(`key-${i}`);
        assert.ok(m, `key-${i}`);
        assert.equal(m.payload, `message ${i} ${codec} ${PAYLOAD_PAD}`);
        assert.deepEqual(m.headerList, [['codec', codec], ['eq', 'a=b']]);
        assert.deepEqual(m.headers, { codec, eq: 'a=b' });
        assert.equal(m.topic, topic);
      }
      // Offsets are dense from 0 in each partition; the same key always lands in the same partition.
      for (let p = 0; p < 4; p++) {
        const offsets = messages.filter((m) => m.partition === p).map((m) => m.offset);
        assert.deepEqual(offsets, offsets.map((_, i) => i), `partition ${p} offsets`);
      }

      // ...and the broker stored and served the batches compressed: what it sent is far smaller than the payloads.
      const fetched = [...stderr.matchAll(/Received FetchResponse \(v\d+, (\d+) bytes/g)].reduce((s, m) => s + Number(m[1]), 0);
      const payloadBytes = lines.reduce((s, l) => s + l.length, 0);
      if (codec === 'none') assert.ok(fetched > payloadBytes, `uncompressed: fetched ${fetched} bytes for ${payloadBytes} bytes of messages`);
      else assert.ok(fetched < payloadBytes / 4, `${codec}: fetched ${fetched} bytes for ${payloadBytes} bytes of messages`);
    });
  }

  test('100k messages in one topic: consumeAll streams them all', async () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => `m${i}`);
    await produceWithKcat(cluster.bootstrap, 'big', file('big.txt', lines), ['-z', 'lz4']);
    const messages = await consumeAll(cluster.bootstrap, 'big');
    assert.equal(messages.length, 100_000);
    const seen = new Set(messages.map((m) => m.payload));
    assert.equal(seen.size, 100_000);
    assert.ok(seen.has('m0') && seen.has('m99999'));
    assert.equal(messages[0]!.key, null);
    assert.deepEqual(messages[0]!.headers, {});
  });

  test('raw: binary keys and payloads byte for byte; empty and null keys and payloads', async () => {
    const bytes = Buffer.from([0x61, 0xff, 0x00, 0xfe, 0x01, 0x80]);
    const path = join(dir, 'raw.bin');
    // Messages split on \n, keys on ':': "<bytes>:<bytes>", ":x" (empty key), "k:" (empty payload), "nokey" (no key)...
    writeFileSync(path, Buffer.concat([bytes, Buffer.from(':'), bytes, Buffer.from('\n:x\nk:\nnokey\n')]));
    await produceWithKcat(cluster.bootstrap, 'raw', path, ['-K:', '-p', '0']);
    // ...and, with -Z, "k:" has a null payload.
    await produceWithKcat(cluster.bootstrap, 'raw', file('raw-null.txt', ['k:']), ['-K:', '-Z', '-p', '0']);
    const messages = await consumeAll(cluster.bootstrap, 'raw', { raw: true });
    assert.deepEqual(
      messages.map((m) => [m.offset, m.key?.toString('hex') ?? null, m.payload?.toString('hex') ?? null]),
      [
        [0, bytes.toString('hex'), bytes.toString('hex')],
        [1, '', Buffer.from('x').toString('hex')],
        [2, Buffer.from('k').toString('hex'), ''],
        [3, null, Buffer.from('nokey').toString('hex')],
        [4, Buffer.from('k').toString('hex'), null],
      ],
    );
    // kcat -J cannot carry those bytes: they come back altered as strings.
    const [first] = await consumeAll(cluster.bootstrap, 'raw', { partition: 0 });
    assert.notEqual(Buffer.from(first!.payload!, 'utf8').toString('hex'), bytes.toString('hex'));
  });

  test('down: the broker refuses connections; up: it answers metadata again', async () => {
    const meta = await kafkaMetadata(cluster.bootstrap);
    const addr2 = brokerAddress(meta, 2);
    assert.equal(await tcpConnect(addr2), 'connected');
    await cluster.down(2);
    try {
      assert.equal(await tcpConnect(addr2), 'ECONNREFUSED');
      // The others still answer; the mock keeps listing a down broker in its metadata.
      const during = await kafkaMetadata(brokerAddress(meta, 1));
      assert.equal(during.originating_broker.id, 1);
      assert.deepEqual(during.brokers.map((b) => b.id).sort(), [1, 2, 3]);
    } finally {
      await cluster.up(2);
    }
    assert.equal(await tcpConnect(addr2), 'connected');
    const back = await kafkaMetadata(addr2);
    assert.equal(back.originating_broker.id, 2);
    assert.deepEqual(back.brokers.map((b) => b.id).sort(), [1, 2, 3]);
  });

  test('errors Produce 2 NOT_LEADER_FOR_PARTITION: exactly two produce requests fail, kcat retries, every message lands once', async () => {
    await cluster.command('topic retry 1');
    const lines = Array.from({ length: 500 }, (_, i) => `r${i}`);
    const input = file('retry.txt', lines);
    await cluster.command('errors Produce 2 NOT_LEADER_FOR_PARTITION');
    const first = await produceWithKcat(cluster.bootstrap, 'retry', input, ['-d', 'msg', ...ONE_IN_FLIGHT]);
    assert.equal(produceErrors(first.stderr, 'Not leader for partition').length, 2, first.stderr.slice(-3000));
    // The stack is used up: the next produce meets no error.
    const second = await produceWithKcat(cluster.bootstrap, 'retry', input, ['-d', 'msg']);
    assert.deepEqual(produceErrors(second.stderr, ''), []);
    const got = await consumeAll(cluster.bootstrap, 'retry');
    assert.deepEqual(
      got.map((m) => m.payload),
      [...lines, ...lines],
    );
  });

  test('clear-errors drops pushed errors; broker-errors hit one broker and count down', async () => {
    await cluster.command('topic berr 1');
    await cluster.command('leader berr 0 3');
    const input = file('berr.txt', ['a', 'b', 'c']);

    for (const clear of ['clear-errors Produce', 'errors Produce 0']) {
      await cluster.command('errors Produce 3 NOT_LEADER_FOR_PARTITION');
      await cluster.command(clear);
      const cleared = await produceWithKcat(cluster.bootstrap, 'berr', input, ['-d', 'msg']);
      assert.deepEqual(produceErrors(cleared.stderr, ''), [], clear);
    }

    await cluster.command('broker-errors 3 Produce 2 REQUEST_TIMED_OUT');
    assert.equal(await cluster.command('broker-error-count 3 Produce'), '2');
    assert.equal(await cluster.command('broker-error-count 1 Produce'), '0');
    const hit = await produceWithKcat(cluster.bootstrap, 'berr', input, ['-d', 'msg', ...ONE_IN_FLIGHT]);
    assert.equal(produceErrors(hit.stderr, 'Request timed out').length, 2, hit.stderr.slice(-3000));
    assert.equal(await cluster.command('broker-error-count 3 Produce'), '0');
    assert.deepEqual((await consumeAll(cluster.bootstrap, 'berr')).map((m) => m.payload), ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  });

  test('topic-error: metadata reports it for that topic until cleared', async () => {
    await cluster.command('topic terr 2');
    await cluster.command('topic-error terr TOPIC_AUTHORIZATION_FAILED');
    const failing = await kafkaMetadata(cluster.bootstrap, { topic: 'terr' });
    assert.equal(failing.topics.find((t) => t.topic === 'terr')?.error, 'Broker: Topic authorization failed');
    await cluster.command('topic-error terr NO_ERROR');
    const fine = await kafkaMetadata(cluster.bootstrap, { topic: 'terr' });
    const t = fine.topics.find((x) => x.topic === 'terr');
    assert.equal(t?.error, undefined);
    assert.equal(t?.partitions.length, 2);
  });

  test('leader: moves partitions, or leaves one leaderless; messages are then served by the new leader', async () => {
    await cluster.command('topic lead 4');
    assert.equal(await cluster.command('leader lead all 3'), '4');
    let meta = await kafkaMetadata(cluster.bootstrap, { topic: 'lead' });
    assert.deepEqual(meta.topics[0]!.partitions.map((p) => p.leader), [3, 3, 3, 3]);

    await cluster.command('leader lead 1 none');
    await cluster.command('leader lead 2 2');
    meta = await kafkaMetadata(cluster.bootstrap, { topic: 'lead' });
    assert.deepEqual(
      meta.topics[0]!.partitions.map((p) => [p.partition, p.leader]).sort(([a], [b]) => a! - b!),
      [[0, 3], [1, -1], [2, 2], [3, 3]],
    );
    await assert.rejects(cluster.command('leader lead 0 7'), /no broker 7/);
    await assert.rejects(cluster.command('leader lead 9 1'), /UNKNOWN_TOPIC_OR_PART/);

    await produceWithKcat(cluster.bootstrap, 'lead', file('lead.txt', ['p2']), ['-p', '2']);
    const [m] = await consumeAll(cluster.bootstrap, 'lead', { partition: 2 });
    assert.equal(m?.payload, 'p2');
    assert.equal(m?.broker, 2, 'fetched from the new leader');
  });

  test('rtt: a broker answers that much later', async () => {
    const addr1 = brokerAddress(await kafkaMetadata(cluster.bootstrap), 1);
    await cluster.rtt(1, 500);
    try {
      const start = performance.now();
      const meta = await kafkaMetadata(addr1);
      const took = performance.now() - start;
      assert.equal(meta.originating_broker.id, 1);
      // At least the metadata request itself waited 500 ms (ApiVersions did too).
      assert.ok(took >= 500, `metadata took ${took.toFixed(0)} ms`);
    } finally {
      await cluster.rtt(1, 0);
    }
  });

  test('apiversion: the client sees the narrowed range', async () => {
    await cluster.command('apiversion Fetch 0 4');
    try {
      const { stderr } = await consume(cluster.bootstrap, 'codec-none', { partition: 0, extraArgs: ['-d', 'feature,protocol'] });
      assert.match(stderr, /ApiKey Fetch \(1\) Versions 0\.\.4\n/);
      assert.match(stderr, /Sent FetchRequest \(v4,/);
      assert.doesNotMatch(stderr, /Sent FetchRequest \(v(?:[5-9]|1\d),/);
    } finally {
      await cluster.command('apiversion Fetch 0 11');
    }
    await assert.rejects(cluster.command('apiversion Fetch 0 12'), /up to v11/);
  });

  test('ping, bootstrap; unknown commands and bad arguments answer error', async () => {
    assert.equal(await cluster.command('ping'), '');
    assert.equal(await cluster.command('bootstrap'), cluster.bootstrap);
    await assert.rejects(cluster.command('bogus'), /unknown command bogus/);
    await assert.rejects(cluster.command('down 9'), /usage: down BROKER/);
    await assert.rejects(cluster.command('errors Produce 1 NOT_A_CODE'), /unknown error code NOT_A_CODE/);
    await assert.rejects(cluster.command('errors NoSuchApi 1 7'), /usage: errors/);
    await assert.rejects(cluster.command('topic codec-none'), /TOPIC_ALREADY_EXISTS/);
    await assert.rejects(cluster.command('two\nlines'), /one line/);
    // Still answering, in order, after the errors.
    const answers = await Promise.all(['ping', 'bogus', 'bootstrap'].map((c) => cluster.command(c).catch((e: Error) => e.message)));
    assert.deepEqual(answers, ['', 'mock cluster: "bogus": unknown command bogus', cluster.bootstrap]);
  });
});

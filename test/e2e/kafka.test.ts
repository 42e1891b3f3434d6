// Acceptance for the kafka output, end to end: sluice tails files into the
// bundled kafka plugin, which produces to a real Kafka-protocol broker
// (librdkafka's mock cluster, test/helpers/kafka.ts); kcat reads back what
// arrived. Faults are injected into the broker while sluice runs.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { ROOT, Sluice, runCommand, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { appendNumbered } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';
import { consumeAll, runKcat, startMockCluster, type KafkaMessage, type MockCluster } from '../helpers/kafka.ts';

let kafka: MockCluster;
let topics = 0;

before(async () => {
  kafka = await startMockCluster({ brokers: 3 });
});

async function topic(prefix: string, partitions = 8): Promise<string> {
  const name = `${prefix}-${++topics}`;
  await kafka.command(`topic ${name} ${partitions}`);
  return name;
}

function config(dir: string, outputs: string, extra = ''): string {
  return writeConfig(dir, `
service:
  flush: 0.2
  grace: 20
  log_level: info
  http_server: on
  http_port: 0
  scheduler.base: 0.2
  scheduler.cap: 1
${extra}
pipeline:
  inputs:
    - name: tail
      path: ${dir}/in.log
      tag: app
      read_from_head: true
      refresh_interval: 0.2
  outputs:
${outputs}
`);
}

/** Ids of numbered lines ("l-0000042 xxx"), as Kafka holds them. */
function ids(messages: KafkaMessage[]): { unique: Set<number>; total: number } {
  const unique = new Set<number>();
  for (const m of messages) unique.add(Number(/"l-(\d{7}) /.exec(m.payload!)![1]));
  return { unique, total: messages.length };
}

async function prom(s: Sluice): Promise<string> {
  return s.api('/api/v1/metrics/prometheus');
}

/** Waits until the output has delivered n events, moving as its count moves. */
async function delivered(s: Sluice, output: string, n: number): Promise<void> {
  let last = 0;
  await waitFor(async () => (last = metric(await prom(s), 'sluice_output_proc_records_total', { name: output })) >= n, `${output} to deliver ${n} events`, { progress: () => last });
}

function missing(unique: Set<number>, n: number): string {
  const gone: number[] = [];
  for (let i = 0; i < n && gone.length < 20; i++) if (!unique.has(i)) gone.push(i);
  return `${n - unique.size} missing, first: ${gone.join(', ')}`;
}

test('tail → kafka → kcat: every event arrives with its topic, key, headers and body, for each codec; kcat counts what the plugin reports produced', async () => {
  const dir = tempDir();
  const n = 20_000;
  appendNumbered(join(dir, 'in.log'), 'l', 0, n, 20);
  const codecs = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
  const base = `codec${++topics}`;
  for (const c of codecs) await kafka.command(`topic ${base}-${c}-app 8`);
  const outputs = codecs.map((c) => `
    - name: kafka
      alias: k-${c}
      match: app
      brokers: ${kafka.bootstrap}
      topic: ${base}-${c}-\${tag}
      message_key: log
      compression: ${c}
      headers: { codec: ${c}, tag: '\${tag}' }`).join('');
  const s = Sluice.run(config(dir, outputs));
  try {
    for (const c of codecs) await delivered(s, `k-${c}`, n);
    const text = await prom(s);
    for (const c of codecs) {
      const got = await consumeAll(kafka.bootstrap, `${base}-${c}-app`);
      const { unique, total } = ids(got);
      assert.equal(unique.size, n, `${c}: ${missing(unique, n)}`);
      assert.equal(total, n, `${c}: ${total - n} duplicates`);
      const produced = metric(text, 'sluice_plugin_kafka_messages_total', { output: `k-${c}` });
      assert.equal(produced, total, `${c}: the plugin reports ${produced} produced, kcat reads ${total}`);
      for (const m of got.slice(0, 200)) {
        const body = JSON.parse(m.payload!);
        assert.equal(m.key, body.log, `${c}: the key is the log field`);
        assert.deepEqual(m.headers, { codec: c, tag: 'app' });
        assert.equal(typeof body['@timestamp'], 'number');
        assert.deepEqual(Object.keys(body), ['@timestamp', 'log']);
      }
    }
  } finally {
    s.kill('SIGTERM');
    assert.equal((await s.exit()).code, 0);
  }
});

test('a broker goes down mid-run and comes back: nothing is lost, and kcat counts the duplicates the plugin reports', async (t) => {
  const dir = tempDir();
  const name = await topic('down');
  const file = join(dir, 'in.log');
  appendNumbered(file, 'l', 0, 10_000, 20);
  const s = Sluice.run(config(dir, `
    - name: kafka
      match: app
      brokers: ${kafka.bootstrap}
      topic: ${name}
      retry_limit: no_limits
      request_timeout: 3s
      delivery_timeout: 10s
      retry_backoff: 100ms`));
  try {
    await delivered(s, 'kafka.0', 10_000);
    await kafka.down(2);
    appendNumbered(file, 'l', 10_000, 30_000, 20);
    // Broker 2 leads some of the 8 partitions: their chunks are retried while it is down.
    let retries = 0;
    await waitFor(async () => (retries = metric(await prom(s), 'sluice_output_retries_total', { name: 'kafka.0' })) > 0, 'a chunk answered RETRY while broker 2 is down', { progress: () => retries });
    await kafka.up(2);
    await delivered(s, 'kafka.0', 30_000);
    const got = await consumeAll(kafka.bootstrap, name);
    const { unique, total } = ids(got);
    assert.equal(unique.size, 30_000, missing(unique, 30_000));
    const produced = metric(await prom(s), 'sluice_plugin_kafka_messages_total', { output: 'kafka.0' });
    t.diagnostic(`${total - unique.size} duplicates; sluice retried ${metric(await prom(s), 'sluice_output_retries_total', { name: 'kafka.0' })} times`);
    assert.equal(produced, total, `the plugin reports ${produced} produced, kcat reads ${total} (${total - unique.size} duplicates)`);
    assert.equal(metric(await prom(s), 'sluice_output_dropped_records_total', { name: 'kafka.0', reason: 'error' }), 0);
  } finally {
    await kafka.up(2).catch(() => {});
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('a storm of NOT_LEADER and REQUEST_TIMED_OUT errors is retried, then everything is delivered', async () => {
  const dir = tempDir();
  const name = await topic('storm');
  await kafka.command(`errors Produce 40 ${Array.from({ length: 40 }, (_, i) => (i % 2 ? 'REQUEST_TIMED_OUT' : 'NOT_LEADER_FOR_PARTITION')).join(' ')}`);
  appendNumbered(join(dir, 'in.log'), 'l', 0, 5_000, 20);
  const s = Sluice.run(config(dir, `
    - name: kafka
      match: app
      brokers: ${kafka.bootstrap}
      topic: ${name}
      retry_limit: no_limits
      retries: 2
      retry_backoff: 10ms`));
  try {
    await delivered(s, 'kafka.0', 5_000);
    const text = await prom(s);
    assert.ok(metric(text, 'sluice_output_retries_total', { name: 'kafka.0' }) > 0, 'the storm outlasted the plugin\'s own retries, so sluice retried');
    assert.ok(metric(text, 'sluice_plugin_kafka_errors_total', { output: 'kafka.0', code: 'NOT_LEADER_OR_FOLLOWER' }) > 0);
    const { unique } = ids(await consumeAll(kafka.bootstrap, name));
    assert.equal(unique.size, 5_000, missing(unique, 5_000));
  } finally {
    await kafka.command('errors Produce 0').catch(() => {});
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('a fatal error answers ERROR with a clear message and is not retried; an oversized event goes to the dead-letter topic and the rest is delivered', async () => {
  const dir = tempDir();
  const [denied, ok, dead] = [await topic('denied'), await topic('big'), await topic('dead')];
  await kafka.command(`topic-error ${denied} TOPIC_AUTHORIZATION_FAILED`);
  const file = join(dir, 'in.log');
  appendNumbered(file, 'l', 0, 100, 20);
  writeFileSync(file, `${readFileSync(file, 'utf8')}l-0000100 ${'y'.repeat(5000)}\n`);
  appendNumbered(file, 'l', 101, 200, 20);
  const s = Sluice.run(config(dir, `
    - name: kafka
      alias: denied
      match: app
      brokers: ${kafka.bootstrap}
      topic: ${denied}
      retry_limit: 5
    - name: kafka
      alias: big
      match: app
      brokers: ${kafka.bootstrap}
      topic: ${ok}
      max_message_bytes: 4K
      batch_size: 4K
      dead_letter_topic: ${dead}`, `  storage.path: ${dir}/storage\n  storage.keep.rejected: on`));
  try {
    await delivered(s, 'big', 200);
    const given = await s.waitForLog((l) => l.msg === 'chunk given up and kept in the dead-letter store' && l.output === 'denied', 'the denied output to give up its chunk');
    assert.match(given.reason, /TOPIC_AUTHORIZATION_FAILED.*grant WRITE on it/);
    const text = await prom(s);
    assert.equal(metric(text, 'sluice_output_retries_total', { name: 'denied' }), 0, 'a fatal error is not retried');
    assert.ok(metric(text, 'sluice_output_errors_total', { name: 'denied' }) >= 1);
    const { unique, total } = ids(await consumeAll(kafka.bootstrap, ok));
    assert.equal(total, 199);
    assert.ok(!unique.has(100));
    const dl = await consumeAll(kafka.bootstrap, dead);
    assert.equal(dl.length, 1);
    assert.match(JSON.parse(dl[0]!.payload!).log, /^l-0000100 y{5000}$/);
    assert.match(dl[0]!.headers['sluice.error']!, /more than max_message_bytes 4096/);
    assert.equal(metric(text, 'sluice_plugin_kafka_dead_letter_messages_total', { output: 'big' }), 1);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('a hot reload while batches linger in the producer: the drain delivers them, nothing is lost or sent twice', async () => {
  const dir = tempDir();
  const name = await topic('reload');
  const output = (linger: string) => `
    - name: kafka
      match: app
      brokers: ${kafka.bootstrap}
      topic: ${name}
      linger: ${linger}
      batch_size: 900K`;
  const file = config(dir, output('1h'));
  appendNumbered(join(dir, 'in.log'), 'l', 0, 3_000, 20);
  const s = Sluice.run(file);
  try {
    // The plugin holds chunks it will not send for an hour.
    let buffered = 0;
    await waitFor(async () => (buffered = metric(await prom(s), 'sluice_plugin_kafka_buffered_bytes', { output: 'kafka.0' })) > 0, 'the plugin to hold a lingering batch', { progress: () => buffered });
    assert.equal((await consumeAll(kafka.bootstrap, name)).length, 0, 'nothing was sent before the reload');
    config(dir, output('0'));
    const res = await fetch(`http://127.0.0.1:${await s.apiPort()}/api/v2/reload?wait=true`, { method: 'POST' });
    const body = await res.json();
    assert.equal(body.result ?? body.last?.result ?? 'ok', 'ok', JSON.stringify(body));
    await delivered(s, 'kafka.0', 3_000);
    const { unique, total } = ids(await consumeAll(kafka.bootstrap, name));
    assert.equal(unique.size, 3_000, missing(unique, 3_000));
    assert.equal(total, 3_000, `${total - 3_000} duplicates`);
    const text = await prom(s);
    assert.equal(metric(text, 'sluice_output_retries_total', { name: 'kafka.0' }), 0, 'a reload spends no retry');
    assert.ok(metric(text, 'sluice_reload_drained_chunks_total', { name: 'kafka.0' }) >= 1, 'the old instance answered its chunks while draining');
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

/** Resident memory of a process, in MiB. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

test('round trip raised to 2 s for a minute under 20,000 events/s: the plugin stays under its memory bound, nothing is lost', async (t) => {
  const dir = tempDir();
  const name = await topic('slow', 16);
  const file = join(dir, 'in.log');
  writeFileSync(file, '');
  const [maxBuffered, workers] = [8, 16];
  // docs/kafka.md: the plugin's resident memory stays under 350 MiB + 3 × max_buffered_bytes; while
  // Kafka is slow, under 200 MiB + 3 × max_buffered_bytes + workers × 2 MiB (the chunks waiting for room).
  const bound = 350 + 3 * maxBuffered;
  const slowBound = 200 + 3 * maxBuffered + workers * 2;
  const s = Sluice.run(config(dir, `
    - name: kafka
      match: app
      brokers: ${kafka.bootstrap}
      topic: ${name}
      format: raw
      compression: zstd
      workers: ${workers}
      max_buffered_bytes: ${maxBuffered}M
      retry_limit: no_limits`));
  let written = 0;
  let peak = 0;
  try {
    const pid = await waitFor(async () => { const p = (await s.api('/api/v1/plugins')).plugins[0]; return p.state === 'ready' && p.pid; }, 'the plugin to be ready');
    for (let b = 1; b <= 3; b++) await kafka.rtt(b, 2000);
    // The load: 2,000 lines every 100 ms for 60 s, paced by the clock (it is the load, not a wait).
    const started = Date.now();
    while (Date.now() - started < 60_000) {
      const due = Math.floor((Date.now() - started) / 100) * 2_000 + 2_000;
      let lines = '';
      for (; written < due; written++) lines += `l-${String(written).padStart(7, '0')} x\n`;
      appendFileSync(file, lines);
      peak = Math.max(peak, rssMiB(pid));
      await new Promise((r) => setTimeout(r, 100));
    }
    const peakSlow = peak;
    for (let b = 1; b <= 3; b++) await kafka.rtt(b, 0);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
    try {
      await delivered(s, 'kafka.0', written);
    } finally {
      clearInterval(sampler);
    }
    t.diagnostic(`plugin peak RSS while Kafka was slow ${peakSlow.toFixed(0)} MiB (bound ${slowBound}), while it caught up ${peak.toFixed(0)} MiB (bound ${bound})`);
    const text = await prom(s);
    t.diagnostic(`${written} events; backpressure RETRY answers ${metric(text, 'sluice_plugin_kafka_backpressure_total', { output: 'kafka.0' })}`);
    assert.ok(written >= 600_000, `only ${written} lines written`);
    assert.ok(peakSlow < slowBound, `while Kafka was slow the plugin's RSS reached ${peakSlow.toFixed(0)} MiB, over its bound of ${slowBound} MiB`);
    assert.ok(peak < bound, `the plugin's RSS reached ${peak.toFixed(0)} MiB, over its bound of ${bound} MiB`);
    const seen = new Uint8Array(written);
    let rest = '';
    await runKcat(['-C', '-b', kafka.bootstrap, '-t', name, '-e', '-q', '-f', '%s\n'], {
      onStdout: (b) => {
        const lines = (rest + b.toString('latin1')).split('\n');
        rest = lines.pop()!;
        for (const l of lines) seen[Number(l.slice(2, 9))] = 1;
      },
    });
    const lost = seen.length - seen.reduce((a, x) => a + x, 0);
    assert.equal(lost, 0, `${lost} of ${written} events lost`);
  } finally {
    for (let b = 1; b <= 3; b++) await kafka.rtt(b, 0).catch(() => {});
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('sluice plugin check passes the kafka plugin, with a broker from the test helper', async () => {
  const name = await topic('check');
  const r = await runCommand(process.execPath, [join(ROOT, 'host/cli/main.ts'), 'plugin', 'check', '--json', '--config', `brokers=${kafka.bootstrap}`, '--config', `topic=${name}`,
    // The checker's 10 MiB chunk holds 1 MiB events: more than Kafka's default largest message.
    '--config', 'max_message_bytes=2M', '--config', 'batch_size=2M', '--', process.execPath, join(ROOT, 'plugins/kafka/main.ts')]);
  const report = JSON.parse(r.stdout);
  const failed = report.results.filter((x: { status: string }) => x.status === 'fail');
  assert.deepEqual(failed, []);
  assert.equal(r.code, 0, r.stderr);
});

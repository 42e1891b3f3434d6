// The forward input through the real binary and real clients: Fluentd's own
// Node client (fluent-logger) with acks, frames of every mode written from
// the spec (PackedForward, CompressedPackedForward with several gzip
// members, Forward, Message), EventTime nanoseconds kept, acks only once
// the events are in a chunk file, the shared-key handshake (a wrong key
// refused, a right one accepted), TLS, a client sending garbage or an
// oversized frame closed (logged with its peer and byte offset, counted)
// while another connection delivers everything, and backpressure: clients
// stall unacknowledged instead of being acked for what sluice cannot hold.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { metric } from '../helpers/metrics.ts';
import { countLines } from '../helpers/lines.ts';
import { EventTime, ForwardClient, chunkId, pack, packedFrame, type Entry } from '../helpers/forward.ts';
import { decodeChunkFile } from '../../host/storage/chunk-file.ts';
import { decodeEvents } from '../../sdk/src/codec/events.ts';

const require = createRequire(import.meta.url);
const fluentLogger = require('fluent-logger');

function readJsonLines(file: string): any[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

async function inputPort(s: Sluice, input: string): Promise<number> {
  return (await s.waitForLog((l) => l.msg === 'forward input listening' && l.input === input, `${input} to listen`)).port;
}

async function counter(s: Sluice, name: string, labels: { [k: string]: string }): Promise<number> {
  return metric(await s.api('/api/v1/metrics/prometheus'), name, labels);
}

/** A quiet fluent-logger sender (its internal logger would print to the test's output). */
function sender(tagPrefix: string, opts: { [k: string]: unknown }): any {
  const log: string[] = [];
  const internalLogger = { info: (...a: unknown[]) => log.push(a.join(' ')), error: (...a: unknown[]) => log.push(a.join(' ')) };
  return Object.assign(fluentLogger.createFluentSender(tagPrefix, { host: '127.0.0.1', enableReconnect: false, internalLogger, ...opts }), { log });
}

/** Emits through a fluent-logger sender; resolves when the server acked it (requireAckResponse). */
const emit = (s: any, label: string, record: object): Promise<void> =>
  new Promise((resolve, reject) => s.emit(label, record, (err: unknown) => (err ? reject(err) : resolve())));

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl (scripts/test-deps.sh). */
function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { cert, key };
}

const HANG = JSON.stringify(join(FIXTURES, 'plugins/hang.ts'));

describe('forward input', () => {
  const dir = tempDir();
  const out = (name: string) => join(dir, `${name}.jsonl`);
  const ports: { [input: string]: number } = {};
  let s: Sluice;
  let tls: { cert: string; key: string };

  before(async () => {
    tls = selfSigned(dir);
    s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
  grace: 2
  http_server: on
  http_port: 0
  storage.path: ${dir}/storage
plugins:
  hang: { command: [${HANG}] }
pipeline:
  inputs:
    - { name: forward, alias: plain, listen: 127.0.0.1, port: 0, storage.type: filesystem }
    - { name: forward, alias: prefixed, listen: 127.0.0.1, port: 0, tag_prefix: 'pre.' }
    - { name: forward, alias: retagged, listen: 127.0.0.1, port: 0, tag: fixed.tag }
    - { name: forward, alias: secured, listen: 127.0.0.1, port: 0, shared_key: right-key, self_hostname: sluice-test }
    - name: forward
      alias: users
      listen: 127.0.0.1
      port: 0
      shared_key: k
      security.users: [ 'ann s3cret', 'bob other' ]
    - { name: forward, alias: tls, listen: 127.0.0.1, port: 0, tls: on, tls.crt_file: ${tls.cert}, tls.key_file: ${tls.key}, shared_key: over-tls }
    - { name: forward, alias: small, listen: 127.0.0.1, port: 0, buffer_chunk_size: 16K, buffer_max_size: 64K }
  outputs:
    - { name: hang, match: held, marker: ${dir}/hang-marker, path: ${dir}/held.jsonl }
    - { name: file, match: 'logger.*', path: ${out('logger')}, json_date_key: '' }
    - { name: file, match: 'modes.*', path: ${out('modes')}, json_date_key: '' }
    - { name: file, match: 'pre.*', path: ${out('prefixed')}, json_date_key: '' }
    - { name: file, match: fixed.tag, path: ${out('retagged')}, json_date_key: '' }
    - { name: file, match: 'auth.*', path: ${out('auth')}, json_date_key: '' }
    - { name: file, match: 'tls.*', path: ${out('tls')}, json_date_key: '' }
    - { name: file, match: 'good.*', path: ${out('good')}, json_date_key: '' }
    - { name: file, match: 'bad.*', path: ${out('bad')}, json_date_key: '' }
`));
    await s.started();
    for (const input of ['plain', 'prefixed', 'retagged', 'secured', 'users', 'tls', 'small']) ports[input] = await inputPort(s, input);
  });
  after(() => s.kill());

  test('fluent-logger (Message mode, requireAckResponse) sends 10,000 events: each acked, all stored', async () => {
    const logger = sender('logger', { port: ports.plain, requireAckResponse: true });
    const n = 10_000;
    for (let i = 0; i < n; i++) await emit(logger, 'message', { i, msg: `event ${i}` });
    logger.end();
    await waitFor(() => countLines(out('logger')) >= n, `${n} events in ${out('logger')}`, { progress: () => countLines(out('logger')) });
    const got = readJsonLines(out('logger')).filter((r) => r.msg?.startsWith('event '));
    assert.equal(got.length, n, 'events lost or repeated');
    const seen = new Set(got.map((r) => r.i));
    assert.equal(seen.size, n);
  });

  test('every mode written from the spec: PackedForward (bin and str), CompressedPackedForward (3 gzip members), Forward, Message; v2 entries; a record that is not a map is dropped and counted', async () => {
    const c = await ForwardClient.connect(ports.plain!);
    const now = Math.floor(Date.now() / 1000);
    const entries = (prefix: string, n: number): Entry[] => Array.from({ length: n }, (_, i) => [now, { id: `${prefix}-${i}`, n: i }]);
    await c.packed('modes.packed', entries('packed', 100));
    await c.packed('modes.packed', entries('packed-str', 10), { str: true });
    await c.packed('modes.gzip', entries('gzip', 300), { compress: true, members: 3 });
    // Forward: [tag, [[time, record], ...], option]
    let chunk = chunkId();
    let acked = c.ack(chunk);
    await c.write(pack(['modes.forward', entries('forward', 5), { chunk }]));
    await acked;
    // Message, without and then with an option; a heartbeat (nil) between them.
    chunk = chunkId();
    acked = c.ack(chunk);
    await c.write(Buffer.concat([
      pack(['modes.message', now, { id: 'message-0' }]),
      pack(null),
      pack(['modes.message', new EventTime(now, 5), { id: 'message-1' }, { chunk }]),
    ]));
    await acked;
    // v2 entries [[time, metadata], record], and a frame split over two writes.
    chunk = chunkId();
    acked = c.ack(chunk);
    const v2 = packedFrame('modes.v2', [[[new EventTime(now, 7), { source: 'x' }] as any, { id: 'v2-0' }], [[now, null] as any, { id: 'v2-1' }]], { chunk });
    await c.write(v2.subarray(0, 9));
    await c.write(v2.subarray(9));
    await acked;
    // A record that is a string: dropped and counted; the rest of its frame is stored and acked.
    await c.packed('modes.mixed', [[now, { id: 'mixed-0' }], [now, 'just a string'], [now, { id: 'mixed-2' }]]);
    // The client closes its side right after its last frames: their acks still come, then the connection ends.
    const last = ['last-0', 'last-1'];
    const lastAcks = last.map((id) => c.ack(id));
    c.socket.end(Buffer.concat(last.map((id) => packedFrame('modes.last', [[now, { id }]], { chunk: id }))));
    await Promise.all(lastAcks);
    await c.closed;

    const want = [
      ...entries('packed', 100), ...entries('packed-str', 10), ...entries('gzip', 300), ...entries('forward', 5),
      [0, { id: 'message-0' }], [0, { id: 'message-1' }], [0, { id: 'v2-0' }], [0, { id: 'v2-1' }], [0, { id: 'mixed-0' }], [0, { id: 'mixed-2' }],
      [0, { id: 'last-0' }], [0, { id: 'last-1' }],
    ].map((e) => (e[1] as { id: string }).id);
    await waitFor(() => countLines(out('modes')) >= want.length, `${want.length} events in ${out('modes')}`, { progress: () => countLines(out('modes')) });
    const got = readJsonLines(out('modes')).map((r) => r.id);
    assert.deepEqual([...got].sort(), [...want].sort());
    assert.equal(await counter(s, 'sluice_input_rejected_records_total', { name: 'plain', reason: 'not_a_map' }), 1);
    const warned = await s.waitForLog((l) => l.msg === 'forward input dropped a record' && l.input === 'plain', 'the dropped record\'s warning');
    assert.equal(warned.reason, 'not_a_map');
    assert.match(warned.peer, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await counter(s, 'sluice_input_connection_errors_total', { name: 'plain' }), 0, 'no connection was refused');
  });

  test('EventTime nanoseconds survive, and an ack comes only once its events are in a chunk file', async () => {
    const c = await ForwardClient.connect(ports.plain!);
    // The hang output holds the chunk unanswered, so its file stays for us to read.
    const chunk = chunkId();
    const acked = c.ack(chunk);
    await c.write(packedFrame('held', [[new EventTime(1_700_000_000, 123_456_789), { id: 'nanos-a' }], [new EventTime(4_000_000_000, 999_999_999), { id: 'nanos-b' }], [1_700_000_001, { id: 'whole-seconds' }]], { chunk }));
    await acked;
    const chunks = join(dir, 'storage', 'plain');
    const files = readdirSync(chunks).filter((f) => f.endsWith('.chunk'));
    const events = files.flatMap((f) => decodeEvents(decodeChunkFile(f, readFileSync(join(chunks, f)), true).data));
    const byId = new Map(events.map((e) => [e.body.id, e.time]));
    assert.deepEqual({ ...byId.get('nanos-a') }, { sec: 1_700_000_000, nsec: 123_456_789 }, `no chunk file under ${chunks} holds the events when the ack arrives`);
    assert.deepEqual({ ...byId.get('nanos-b') }, { sec: 4_000_000_000, nsec: 999_999_999 });
    assert.deepEqual({ ...byId.get('whole-seconds') }, { sec: 1_700_000_001, nsec: 0 });
    await c.end();
  });

  test('tag_prefix is put before the client\'s tag; a configured tag replaces it', async () => {
    for (const [input, tag] of [['prefixed', 'from.client'], ['retagged', 'from.client']] as const) {
      const c = await ForwardClient.connect(ports[input]!);
      await c.packed(tag, [[Math.floor(Date.now() / 1000), { id: `${input}-1` }]]);
      await c.end();
    }
    await waitFor(() => readJsonLines(out('prefixed')).some((r) => r.id === 'prefixed-1'), 'the event under pre.from.client');
    await waitFor(() => readJsonLines(out('retagged')).some((r) => r.id === 'retagged-1'), 'the event under fixed.tag');
  });

  test('shared_key: a wrong key is refused (PONG false, logged with the peer, counted); the right one is accepted (fluent-logger)', async () => {
    const wrong = await ForwardClient.connect(ports.secured!);
    const pong = await wrong.handshake('wrong-key', 'client-a');
    assert.deepEqual(pong.slice(0, 3), ['PONG', false, 'shared_key mismatch']);
    await wrong.closed;
    const log = await s.waitForLog((l) => l.msg === 'forward input refused a client' && l.input === 'secured', 'the refusal');
    assert.equal(log.peer, `tcp://127.0.0.1:${wrong.localPort}`);
    assert.equal(log.reason, 'auth_failed');
    assert.equal(log.hostname, 'client-a');
    assert.equal(await counter(s, 'sluice_input_connection_errors_total', { name: 'secured', reason: 'auth_failed' }), 1);

    // fluent-logger with a wrong key: its handshake fails and it says so.
    const refused = sender('auth', { port: ports.secured, security: { clientHostname: 'client-b', sharedKey: 'nope' } });
    const failed = new Promise<Error>((r) => refused.on('error', r));
    refused.emit('x', { id: 'never' });
    assert.match((await failed).message, /shared_key mismatch/);
    refused.end();

    const right = sender('auth', { port: ports.secured, requireAckResponse: true, security: { clientHostname: 'client-c', sharedKey: 'right-key' } });
    for (let i = 0; i < 20; i++) await emit(right, 'ok', { id: `auth-${i}` });
    right.end();
    await waitFor(() => countLines(out('auth')) >= 20, '20 events in auth.jsonl');
    assert.deepEqual(readJsonLines(out('auth')).map((r) => r.id), Array.from({ length: 20 }, (_, i) => `auth-${i}`));
    assert.equal(await counter(s, 'sluice_input_connection_errors_total', { name: 'secured', reason: 'auth_failed' }), 2);
  });

  test('security.users: a known user with the right password is accepted, a wrong password refused', async () => {
    const bad = await ForwardClient.connect(ports.users!);
    assert.deepEqual((await bad.handshake('k', 'client-a', { name: 'ann', password: 'wrong' })).slice(0, 3), ['PONG', false, 'username/password mismatch']);
    await bad.closed;
    const good = await ForwardClient.connect(ports.users!);
    assert.equal((await good.handshake('k', 'client-a', { name: 'ann', password: 's3cret' }))[1], true);
    await good.packed('auth.users', [[Math.floor(Date.now() / 1000), { id: 'from-ann' }]]);
    await good.end();
    await waitFor(() => readJsonLines(out('auth')).some((r) => r.id === 'from-ann'), 'ann\'s event');
  });

  test('TLS: fluent-logger over TLS with the shared-key handshake, acked and stored; a plain TCP client gets nothing', async () => {
    const logger = sender('tls', { port: ports.tls, tls: true, tlsOptions: { ca: readFileSync(tls.cert), servername: 'localhost' }, requireAckResponse: true, security: { clientHostname: 'client-tls', sharedKey: 'over-tls' } });
    for (let i = 0; i < 20; i++) await emit(logger, 'x', { id: `tls-${i}` });
    logger.end();
    await waitFor(() => countLines(out('tls')) >= 20, '20 events in tls.jsonl');
    const plain = await ForwardClient.connect(ports.tls!);
    plain.write(packedFrame('tls.plain', [[1, { id: 'plain-over-tls' }]], { chunk: 'c1' })).catch(() => {});
    await plain.closed;
    assert.equal(plain.received.length, 0);
    assert.ok(!readJsonLines(out('tls')).some((r) => r.id === 'plain-over-tls'));
  });

  test('garbage closes only its own connection, logged with peer and byte offset and counted; what it sent before is acked; a concurrent connection delivers everything', async () => {
    const good = await ForwardClient.connect(ports.plain!);
    const bad = await ForwardClient.connect(ports.plain!);
    const now = Math.floor(Date.now() / 1000);
    const frames = 200;
    const perFrame = 50;
    const acks: Promise<string>[] = [];
    const sendGood = (from: number, to: number) => {
      for (let f = from; f < to; f++) acks.push(good.packed('good.x', Array.from({ length: perFrame }, (_, i): Entry => [now, { id: `g-${f}-${i}` }])));
    };
    sendGood(0, frames / 2);
    const first = packedFrame('bad.x', [[now, { id: 'before-garbage' }]], { chunk: 'bad-1' });
    const firstAcked = bad.ack('bad-1');
    await bad.write(Buffer.concat([first, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]));
    sendGood(frames / 2, frames);
    await firstAcked;
    await bad.closed;
    await Promise.all(acks);
    await good.end();

    const log = await s.waitForLog((l) => l.msg === 'forward input closed a connection' && l.reason === 'malformed' && l.input === 'plain', 'the malformed frame\'s log line');
    assert.equal(log.peer, `tcp://127.0.0.1:${bad.localPort}`);
    assert.equal(log.offset, first.length, JSON.stringify(log));
    assert.equal(await counter(s, 'sluice_input_connection_errors_total', { name: 'plain', reason: 'malformed' }), 1);
    await waitFor(() => countLines(out('good')) >= frames * perFrame, `${frames * perFrame} events in good.jsonl`, { progress: () => countLines(out('good')) });
    const ids = readJsonLines(out('good')).map((r) => r.id);
    assert.equal(ids.length, frames * perFrame);
    assert.equal(new Set(ids).size, frames * perFrame);
    await waitFor(() => readJsonLines(out('bad')).some((r) => r.id === 'before-garbage'), 'the event sent before the garbage');
  });

  test('a frame over buffer_max_size is refused (its connection closed, logged, counted), also when only its inflated entries are too large', async () => {
    const c = await ForwardClient.connect(ports.small!);
    const now = Math.floor(Date.now() / 1000);
    const ok = packedFrame('good.small', [[now, { id: 'small-ok' }]], { chunk: 'ok' });
    const okAcked = c.ack('ok');
    const big = packedFrame('good.small', [[now, { id: 'too-big', pad: 'x'.repeat(100 * 1024) }]], { chunk: 'big' });
    // Only the header of the big frame: it is refused by what it declares, before its bytes come.
    await c.write(Buffer.concat([ok, big.subarray(0, 40)]));
    await okAcked;
    await c.closed;
    assert.ok(!c.received.some((v) => v?.ack === 'big'));
    const log = await s.waitForLog((l) => l.msg === 'forward input closed a connection' && l.input === 'small', 'the oversized frame\'s log line');
    assert.equal(log.reason, 'too_large');
    assert.equal(log.peer, `tcp://127.0.0.1:${c.localPort}`);
    assert.equal(log.offset, ok.length);

    // 1 MiB of zeros gzips to about 1 KiB: the frame is small, what it inflates to is not.
    const bomb = await ForwardClient.connect(ports.small!);
    const inflated = packedFrame('good.small', [[now, { id: 'bomb', pad: Buffer.alloc(1024 * 1024) }]], { compress: true, chunk: 'bomb' });
    assert.ok(inflated.length < 16 * 1024);
    await bomb.write(inflated);
    await bomb.closed;
    assert.equal(bomb.received.length, 0);
    await waitFor(async () => (await counter(s, 'sluice_input_connection_errors_total', { name: 'small', reason: 'too_large' })) === 2, 'both refusals to be counted');
    assert.ok(!readJsonLines(out('good')).some((r) => r.id === 'too-big' || r.id === 'bomb'));
  });
});

test('backpressure: while paused sluice reads no socket, so clients stall unacknowledged; afterwards every event arrives once, every frame is acked', async () => {
  const dir = tempDir();
  const outage = join(dir, 'outage');
  const outFile = join(dir, 'out.jsonl');
  writeFileSync(outage, '');
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
  grace: 5
  http_server: on
  http_port: 0
  scheduler.base: 0.2
  scheduler.cap: 1
plugins:
  flaky: { command: [${JSON.stringify(join(FIXTURES, 'plugins/flaky.ts'))}] }
pipeline:
  inputs:
    - { name: forward, listen: 127.0.0.1, port: 0, mem_buf_limit: 256K }
  outputs:
    - { name: flaky, match: '*', fail_while_exists: ${outage}, retry_limit: no_limits }
    - { name: file, match: '*', path: ${outFile}, json_date_key: '' }
`));
  try {
    await s.started();
    const c = await ForwardClient.connect(await inputPort(s, 'forward.0'));
    const pad = 'x'.repeat(1000);
    const perFrame = 50;
    const window = 8;
    let sent = 0;
    let acked = 0;
    let limit = Infinity;
    const inFlight = new Set<Promise<string>>();
    // Keeps `window` frames unacknowledged, as out_forward with require_ack_response does.
    const pump = () => {
      while (inFlight.size < window && sent < limit) {
        const f = sent++;
        const p = c.packed('bp', Array.from({ length: perFrame }, (_, i): Entry => [0, { n: f * perFrame + i, pad }]));
        inFlight.add(p);
        void p.then(() => {
          inFlight.delete(p);
          acked++;
          pump();
        });
      }
    };
    pump();

    const records = () => counter(s, 'sluice_input_records_total', { name: 'forward.0' });
    await waitFor(async () => (await counter(s, 'sluice_input_paused', { name: 'forward.0' })) === 1, 'the input to be paused', { progress: records });
    // The client stalls: its window is full of frames sluice does not read.
    await waitFor(async () => {
      const before = acked;
      await s.settle(500);
      return acked === before && inFlight.size === window;
    }, 'the client to stall', { progress: () => acked });
    const read = await records();
    const ackedAt = acked;
    await s.settle(1000);
    assert.equal(await records(), read, 'sluice read frames while paused');
    assert.equal(acked, ackedAt, 'frames were acked while paused');
    assert.ok(acked * perFrame <= read, `${acked} frames acked but only ${read} events read`);

    limit = sent;
    rmSync(outage);
    const total = () => sent * perFrame;
    await waitFor(() => acked === sent && countLines(outFile) >= total(), 'every frame acked and every event delivered', { progress: () => [acked, countLines(outFile)] });
    await c.end();
    const got = readJsonLines(outFile).map((r) => r.n).sort((a, b) => a - b);
    assert.equal(got.length, total(), 'events arrived more than once');
    for (let i = 0; i < total(); i++) if (got[i] !== i) assert.fail(`event ${i} is ${got[i]}: lost or repeated`);
  } finally {
    s.kill();
  }
});

test('unix_path: a socket file left by a killed process is replaced; unix_perm applies; acked events arrive; the socket is removed at stop', async () => {
  const dir = tempDir();
  const sock = join(dir, 'forward.sock');
  const outFile = join(dir, 'out.jsonl');
  // A process that listens on the path and is killed leaves the socket file behind.
  const squatter = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => squatter.stdout!.once('data', () => r()));
  squatter.kill('SIGKILL');
  await new Promise((r) => squatter.once('exit', r));
  assert.ok(existsSync(sock), 'the killed process left its socket file');
  const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.2, grace: 5 }
pipeline:
  inputs:
    - { name: forward, unix_path: ${sock}, unix_perm: '0600' }
  outputs:
    - { name: file, match: '*', path: ${outFile}, json_date_key: '' }
`));
  try {
    await s.started();
    await s.waitForLog((l) => l.msg === 'forward input listening' && l.unix_path === sock, 'the input to listen on the socket');
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    const c = await ForwardClient.connect(0, { path: sock });
    await c.packed('unix.test', [[1_700_000_000, { id: 'over-unix' }]]);
    await c.end();
    await waitFor(() => readJsonLines(outFile).some((r) => r.id === 'over-unix'), 'the event');
    s.kill('SIGTERM');
    assert.equal((await s.exit()).code, 0);
    assert.ok(!existsSync(sock), 'the socket file is still there after the stop');
  } finally {
    s.kill();
  }
});

test('SIGTERM: sluice exits 0 with clients connected; acked frames are delivered, a frame cut short is dropped (not acked) with a warning', async () => {
  const dir = tempDir();
  const outFile = join(dir, 'out.jsonl');
  const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.2, grace: 5 }
pipeline:
  inputs:
    - { name: forward, listen: 127.0.0.1, port: 0 }
  outputs:
    - { name: file, match: '*', path: ${outFile}, json_date_key: '' }
`));
  try {
    await s.started();
    const c = await ForwardClient.connect(await inputPort(s, 'forward.0'));
    await c.packed('stop.test', [[1_700_000_000, { id: 'complete' }]]);
    const cut = packedFrame('stop.test', [[1_700_000_000, { id: 'cut-short' }]], { chunk: 'cut' });
    await c.write(cut.subarray(0, 10));
    await waitFor(() => readJsonLines(outFile).some((r) => r.id === 'complete'), 'the complete frame');
    s.kill('SIGTERM');
    const { code } = await s.exit();
    assert.equal(code, 0, s.stderrText.join('\n'));
    await c.closed;
    assert.ok(!c.received.some((v) => v?.ack === 'cut'));
    assert.deepEqual(readJsonLines(outFile).map((r) => r.id), ['complete']);
    assert.equal(s.findLog((l) => l.msg?.startsWith('forward input stopped with clients in the middle of frames'))?.bytes, 10);
  } finally {
    s.kill();
  }
});

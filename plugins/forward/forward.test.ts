// The forward output on its own, through the SDK's harness, against the real
// sluice forward input (a sluice binary with forward inputs of every kind:
// plain, shared key, users, TLS with a self-signed certificate made here by
// openssl, a unix socket, one that stalls under backpressure). What the
// receiver stored is read back from its file output, or, for chunks its
// `hang` output holds, from its chunk files.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPlugin, type PluginHarness } from '../../sdk/src/harness.ts';
import { EventTime, decodeEvents, encodeEvents } from '../../sdk/src/index.ts';
import { decodeChunkFile } from '../../host/storage/chunk-file.ts';
import { countLines } from '../../test/helpers/lines.ts';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../../test/helpers/sluice.ts';

const PLUGIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const HANG = JSON.stringify(join(FIXTURES, 'plugins/hang.ts'));

type T = { after(fn: () => unknown): void };

async function plugin(t: T, config: { [k: string]: unknown }): Promise<PluginHarness> {
  const p = await startPlugin([process.execPath, PLUGIN], { timeoutMs: 30_000 });
  t.after(() => p.stop());
  assert.deepEqual(await p.configure(config), []);
  return p;
}

/**
 * n events of one test case, with times whose nanoseconds all differ: small
 * second counts, so the file output's double (seconds with a fraction) still
 * holds every nanosecond.
 */
function events(kase: string, n: number, from = 0): Buffer {
  return encodeEvents(Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return { time: new EventTime(1000 + i, (i * 7_919_993 + 1) % 1e9), body: { case: kase, i, msg: `event ${i} of ${kase}` } };
  }));
}

const nsecOf = (i: number) => (i * 7_919_993 + 1) % 1e9;

async function metric(p: PluginHarness, name: string, labels: { [k: string]: string } = {}): Promise<number> {
  const m = (await p.metrics()).find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return m?.value ?? 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('forward output against the sluice forward input', () => {
  const dir = tempDir('sluice-forward-out-');
  const out = join(dir, 'out.jsonl');
  const ports: { [input: string]: number } = {};
  let receiver: Sluice;
  const certs = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };

  /** The file output's lines of one case. */
  function received(kase: string): { case: string; i: number; date: number; msg: string }[] {
    if (!existsSync(out)) return [];
    return readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.case === kase);
  }

  /** Waits until the file output has n lines of a case, then checks they are events 0..n-1, each once, with its nanoseconds. */
  async function arrived(kase: string, n: number): Promise<void> {
    await waitFor(() => received(kase).length >= n, `${n} events of ${kase} in ${out}`, { progress: () => countLines(out) });
    const got = received(kase);
    assert.equal(got.length, n, `${kase}: ${got.length - n} events more than sent`);
    assert.deepEqual(got.map((r) => r.i).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
    for (const r of got) assert.equal(Math.round((r.date - (1000 + r.i)) * 1e9), nsecOf(r.i), `${kase}: event ${r.i}'s nanoseconds`);
  }

  before(async () => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', certs.key, '-out', certs.cert,
      '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ], { stdio: 'ignore' });
    receiver = Sluice.run(writeConfig(dir, `
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
    - { name: forward, alias: plain, listen: 127.0.0.1, port: 0, storage.type: filesystem, buffer_max_size: 16M }
    - { name: forward, alias: keyed, listen: 127.0.0.1, port: 0, shared_key: right-key, self_hostname: receiver.example }
    - { name: forward, alias: users, listen: 127.0.0.1, port: 0, shared_key: k, security.users: [ 'ann s3cret' ] }
    - { name: forward, alias: tls, listen: 127.0.0.1, port: 0, tls: on, tls.crt_file: ${certs.cert}, tls.key_file: ${certs.key} }
    - { name: forward, alias: unix, unix_path: ${dir}/forward.sock }
    - { name: forward, alias: stalled, listen: 127.0.0.1, port: 0, mem_buf_limit: 64K }
    - { name: forward, alias: small, listen: 127.0.0.1, port: 0, buffer_chunk_size: 16K, buffer_max_size: 64K }
  outputs:
    - { name: hang, match: 'held.*', marker: ${dir}/hang-held, path: ${dir}/held.jsonl }
    - { name: hang, match: 'stall.*', marker: ${dir}/hang-stall, path: ${dir}/stall.jsonl }
    - { name: file, match: 'f.*', path: ${out} }
`));
    await receiver.started();
    for (const input of ['plain', 'keyed', 'users', 'tls', 'stalled', 'small']) {
      ports[input] = (await receiver.waitForLog((l) => l.msg === 'forward input listening' && l.input === input, `input ${input} to listen`)).port;
    }
  });
  after(() => receiver.kill());

  test('require_ack_response: chunks in flight together on one connection, each OK only once the receiver stored it, every nanosecond kept', async (t) => {
    const p = await plugin(t, { port: ports.plain, require_ack_response: true });
    const answers = await Promise.all([0, 1, 2].map((k) => p.flush('held.app', events('held', 1000, k * 1000))));
    assert.deepEqual(answers.map((a) => a.status), ['OK', 'OK', 'OK'], answers.map((a) => a.message).join('; '));
    // Acknowledged means stored: the receiver's hang output holds the chunks, so their files are on disk right now.
    const files = readdirSync(join(dir, 'storage', 'plain')).filter((f) => f.endsWith('.chunk'));
    const stored = files.flatMap((f) => {
      const file = join(dir, 'storage', 'plain', f);
      return decodeEvents(decodeChunkFile(file, readFileSync(file), true).data);
    });
    assert.equal(stored.length, 3000);
    stored.sort((a, b) => (a.body.i as number) - (b.body.i as number));
    stored.forEach((e, i) => {
      assert.deepEqual([e.time.sec, e.time.nsec, e.body.i, e.body.msg], [1000 + i, nsecOf(i), i, `event ${i} of held`]);
    });
    assert.equal(await metric(p, 'forward_acks_total'), 3);
    assert.equal(await metric(p, 'forward_records_total'), 3000);
    assert.equal(await metric(p, 'forward_connects_total'), 1, 'the three chunks shared one connection');
    assert.equal(await metric(p, 'forward_ack_latency_seconds_count'), 3);
  });

  test('without require_ack_response: OK once written, and everything arrives; send_options and time_as_integer too', async (t) => {
    const p = await plugin(t, { port: ports.plain });
    for (let k = 0; k < 5; k++) assert.equal((await p.flush('f.noack', events('noack', 500, k * 500))).status, 'OK');
    await arrived('noack', 2500);
    assert.equal(await metric(p, 'forward_acks_total'), 0);
    assert.equal(await metric(p, 'forward_chunks_total'), 5);

    const q = await plugin(t, { port: ports.plain, send_options: true, time_as_integer: true });
    assert.equal((await q.flush('f.int', events('int', 10))).status, 'OK');
    await waitFor(() => received('int').length >= 10, 'integer-time events', { progress: () => countLines(out) });
    assert.deepEqual(received('int').map((r) => r.date).sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => 1000 + i));
  });

  test('compress gzip: CompressedPackedForward, acked, every event arrives; fewer bytes on the wire', async (t) => {
    const p = await plugin(t, { port: ports.plain, compress: 'gzip', require_ack_response: true });
    const chunks = [0, 1, 2, 3].map((k) => events('gzip', 2000, k * 2000));
    const answers = await Promise.all(chunks.map((c) => p.flush('f.gzip', c)));
    assert.deepEqual(answers.map((a) => a.status), ['OK', 'OK', 'OK', 'OK']);
    await arrived('gzip', 8000);
    const raw = chunks.reduce((n, c) => n + c.length, 0);
    const sent = await metric(p, 'forward_bytes_total');
    assert.ok(sent < raw / 3, `${sent} bytes sent for ${raw} bytes of events`);
  });

  test('tag overrides the chunk\'s tag; a unix socket works as TCP does', async (t) => {
    const p = await plugin(t, { port: ports.plain, tag: 'f.renamed', require_ack_response: true });
    // "nowhere" matches no output of the receiver: the events arrive only if they went under the tag.
    assert.equal((await p.flush('nowhere', events('renamed', 50))).status, 'OK');
    await arrived('renamed', 50);
    const u = await plugin(t, { unix_path: join(dir, 'forward.sock'), require_ack_response: true });
    assert.equal((await u.flush('f.unix', events('unix', 50))).status, 'OK');
    await arrived('unix', 50);
  });

  test('shared_key: the right key delivers; a wrong one is ERROR with the receiver\'s reason; none at all is ERROR asking for one', async (t) => {
    const right = await plugin(t, { port: ports.keyed, shared_key: 'right-key', self_hostname: 'sender.example', require_ack_response: true });
    assert.equal((await right.flush('f.keyed', events('keyed', 100))).status, 'OK');
    await arrived('keyed', 100);

    const wrong = await plugin(t, { port: ports.keyed, shared_key: 'wrong-key', require_ack_response: true });
    const a = await wrong.flush('f.keyed', events('keyed-wrong', 10));
    assert.equal(a.status, 'ERROR');
    assert.match(a.message, new RegExp(`127\\.0\\.0\\.1:${ports.keyed}: the receiver refused the handshake: shared_key mismatch; set shared_key to what the receiver expects`));
    assert.equal(await metric(wrong, 'forward_errors_total', { kind: 'auth' }), 1);

    const none = await plugin(t, { port: ports.keyed, require_ack_response: true });
    const b = await none.flush('f.keyed', events('keyed-none', 10));
    assert.equal(b.status, 'ERROR');
    assert.match(b.message, /asks for the shared-key handshake \(it sent a HELO\): set shared_key/);
    // Without acks the chunk is OK once written, and lost when the receiver refuses the connection: said loudly in the log.
    const blind = await plugin(t, { port: ports.keyed });
    assert.equal((await blind.flush('f.keyed', events('keyed-none', 10))).status, 'OK');
    await blind.waitForLog((l) => l.level === 'error' && /the receiver refused the connection; without require_ack_response, chunks written on it before were answered OK and may be lost/.test(l.msg) && /sent a HELO/.test(String(l.record?.err)));
    assert.deepEqual([...received('keyed-wrong'), ...received('keyed-none')], []);

    // A key here and none there: the receiver never starts the handshake. That may be a receiver still starting: RETRY, with the hint.
    const extra = await plugin(t, { port: ports.plain, shared_key: 'k', connect_timeout: '500ms' });
    const c = await extra.flush('f.keyed', events('keyed-extra', 1));
    assert.equal(c.status, 'RETRY');
    assert.match(c.message, /sent no HELO within connect_timeout \(0\.5s\): with shared_key set, the receiver must start the shared-key handshake/);
  });

  test('username and password: right ones deliver, a wrong password is ERROR naming the receiver\'s reason', async (t) => {
    const ann = await plugin(t, { port: ports.users, shared_key: 'k', username: 'ann', password: 's3cret', require_ack_response: true });
    assert.equal((await ann.flush('f.users', events('users', 20))).status, 'OK');
    await arrived('users', 20);
    const bad = await plugin(t, { port: ports.users, shared_key: 'k', username: 'ann', password: 'guess', require_ack_response: true });
    const a = await bad.flush('f.users', events('users-bad', 5));
    assert.equal(a.status, 'ERROR');
    assert.match(a.message, /refused the handshake: username\/password mismatch; set shared_key, username and password/);
  });

  test('TLS with a self-signed certificate: trusted through tls.ca_file, or with tls.verify off; unverified, or the wrong name, is ERROR saying what to set', async (t) => {
    const trusted = await plugin(t, { port: ports.tls, tls: true, 'tls.ca_file': certs.cert, require_ack_response: true, compress: 'gzip' });
    assert.equal((await trusted.flush('f.tls', events('tls', 300))).status, 'OK');
    const unverified = await plugin(t, { port: ports.tls, tls: true, 'tls.verify': false });
    assert.equal((await unverified.flush('f.tls', events('tls', 300, 300))).status, 'OK');
    await arrived('tls', 600);

    const untrusted = await plugin(t, { port: ports.tls, tls: true });
    const a = await untrusted.flush('f.tls', events('tls-bad', 1));
    assert.equal(a.status, 'ERROR');
    assert.match(a.message, /TLS certificate of 127\.0\.0\.1:\d+ does not verify \(DEPTH_ZERO_SELF_SIGNED_CERT.*tls\.ca_file/);
    const misnamed = await plugin(t, { port: ports.tls, tls: true, 'tls.ca_file': certs.cert, 'tls.vhost': 'other.example' });
    const b = await misnamed.flush('f.tls', events('tls-bad', 1));
    assert.equal(b.status, 'ERROR');
    assert.match(b.message, /ERR_TLS_CERT_ALTNAME_INVALID.*tls\.vhost/);
    // TLS to a plain listener: it does not speak TLS.
    const plainPort = await plugin(t, { port: ports.plain, tls: true, 'tls.verify': false, connect_timeout: '5s' });
    const c = await plainPort.flush('f.tls', events('tls-bad', 1));
    assert.equal(c.status, 'RETRY');
    assert.match(c.message, /closed the connection during the TLS handshake: does it speak TLS \(else set tls: off\)\?/);
    assert.deepEqual(received('tls-bad'), []);
  });

  test('a receiver that stops reading (backpressure): no ack within ack_timeout is RETRY, and the connection is closed', async (t) => {
    const p = await plugin(t, { port: ports.stalled, require_ack_response: true, ack_timeout: '1s' });
    // The receiver's hang output holds whatever it takes: past 64K in memory its input stops reading.
    let answer = await p.flush('stall.x', events('stall', 2000));
    for (let k = 1; answer.status === 'OK' && k < 10; k++) answer = await p.flush('stall.x', events('stall', 2000, k * 2000));
    assert.equal(answer.status, 'RETRY');
    assert.match(answer.message, /within ack_timeout \(1s\); the connection is closed/);
    assert.equal(await metric(p, 'forward_errors_total', { kind: 'ack_timeout' }), 1);
    assert.equal(await metric(p, 'forward_connections'), 0);
  });

  test('a chunk larger than the receiver takes in one frame is RETRY saying so; smaller ones on the next connection are OK', async (t) => {
    const p = await plugin(t, { port: ports.small, require_ack_response: true });
    const big = await p.flush('f.small', events('small-big', 2000));
    assert.equal(big.status, 'RETRY');
    assert.match(big.message, /closed the connection before acknowledging a chunk without sending anything: .*or is the chunk larger than it takes \(buffer_max_size\)\?/);
    assert.equal((await p.flush('f.small', events('small', 100))).status, 'OK');
    await arrived('small', 100);
    assert.equal(await metric(p, 'forward_connects_total'), 2);
  });

  test('drain answers every chunk in flight before it is answered itself', async (t) => {
    const p = await plugin(t, { port: ports.plain, require_ack_response: true });
    const answers = [0, 1, 2, 3, 4].map((k) => p.flush('f.drain', events('drain', 400, k * 400)));
    const { outstanding } = await p.drain();
    assert.equal(outstanding, 0);
    assert.deepEqual((await Promise.all(answers)).map((a) => a.status), ['OK', 'OK', 'OK', 'OK', 'OK']);
    await arrived('drain', 2000);
  });
});

test('mutual TLS: through a TLS terminator (socat) that requires a client certificate from its CA, in front of the forward input', async (t) => {
  const dir = tempDir('sluice-forward-mtls-');
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const name of ['server', 'client']) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', `${name}.pem`);
  }
  // The client key, encrypted: tls.key_passwd opens it.
  openssl('pkey', '-in', 'client.key', '-aes256', '-passout', 'pass:open sesame', '-out', 'client-enc.key');
  const out = f('out.jsonl');
  const receiver = Sluice.run(writeConfig(dir, `
pipeline:
  inputs:
    - { name: forward, listen: 127.0.0.1, port: 0 }
  outputs:
    - { name: file, match: '*', path: ${out} }
`));
  t.after(() => receiver.kill());
  const { port: inner } = await receiver.waitForLog((l) => l.msg === 'forward input listening', 'the receiver to listen');
  const port = await freePort();
  const socat = spawn('socat', [`OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,cert=${f('server.pem')},key=${f('server.key')},cafile=${f('ca.pem')},verify=1`, `TCP:127.0.0.1:${inner}`], { stdio: 'ignore' });
  t.after(() => socat.kill('SIGKILL'));
  await waitFor(() => new Promise<boolean>((resolve) => {
    const c = connect(port, '127.0.0.1', () => (c.destroy(), resolve(true))).on('error', () => resolve(false));
  }), 'socat to listen', { pids: () => [socat.pid!] });

  const base = { port, tls: true, 'tls.ca_file': f('ca.pem'), require_ack_response: true };
  const p = await plugin(t, { ...base, 'tls.crt_file': f('client.pem'), 'tls.key_file': f('client-enc.key'), 'tls.key_passwd': 'open sesame' });
  assert.equal((await p.flush('app', events('mtls', 100))).status, 'OK');
  await waitFor(() => countLines(out) >= 100, '100 events through mutual TLS', { progress: () => countLines(out) });

  const anonymous = await plugin(t, base);
  const a = await anonymous.flush('app', events('mtls-anon', 1));
  assert.equal(a.status, 'ERROR', a.message);
  assert.match(a.message, /refused the TLS handshake \(ERR_SSL_\w*ALERT_CERTIFICATE_REQUIRED\): it may require a client certificate \(tls\.crt_file, tls\.key_file\)/);

  const startPluginOnly = await startPlugin([process.execPath, PLUGIN]);
  t.after(() => startPluginOnly.stop());
  const errors = await startPluginOnly.configure({ ...base, 'tls.crt_file': f('client.pem'), 'tls.key_file': f('client-enc.key'), 'tls.key_passwd': 'wrong' });
  assert.deepEqual(errors.map((e) => e.key), ['tls.key_file']);
  assert.match(errors[0]!.message, /not usable together/);
});

test('a receiver that is down is RETRY (connection refused); once it is up the next chunk is OK; killed and restarted, the plugin reconnects', async (t) => {
  const dir = tempDir('sluice-forward-down-');
  const out = join(dir, 'out.jsonl');
  const port = await freePort();
  const config = writeConfig(dir, `
service:
  flush: 0.2
  grace: 1
  storage.path: ${dir}/storage
pipeline:
  inputs:
    - { name: forward, listen: 127.0.0.1, port: ${port}, storage.type: filesystem }
  outputs:
    - { name: file, match: '*', path: ${out} }
`);
  const p = await plugin(t, { port, require_ack_response: true, connect_timeout: '5s' });
  const down = await p.flush('app', events('down', 10));
  assert.equal(down.status, 'RETRY');
  assert.equal(down.message, `cannot connect to 127.0.0.1:${port}: connection refused (is the receiver running and listening there?)`);
  assert.equal(await metric(p, 'forward_errors_total', { kind: 'connect_refused' }), 1);

  let receiver = Sluice.run(config);
  t.after(() => receiver.kill());
  await receiver.waitForLog((l) => l.msg === 'forward input listening', 'the receiver to listen');
  assert.equal((await p.flush('app', events('down', 10))).status, 'OK');
  await p.waitForLog(/delivering to the receiver again/);

  receiver.kill('SIGKILL');
  await receiver.exit();
  const gone = await p.flush('app', events('down', 10, 10));
  assert.equal(gone.status, 'RETRY', gone.message);
  receiver = Sluice.run(config);
  await receiver.waitForLog((l) => l.msg === 'forward input listening', 'the receiver to listen again');
  assert.equal((await p.flush('app', events('down', 10, 10))).status, 'OK');
  const lines = (): number[] => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).i) : []);
  await waitFor(() => new Set(lines()).size >= 20, '20 events delivered', { progress: () => countLines(out) });
  const got = lines();
  assert.deepEqual([...new Set(got)].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  // The receiver itself may write its first chunk twice: killed with it stored, maybe before its file output's OK was recorded.
  const twice = got.filter((i, k) => got.indexOf(i) !== k);
  assert.ok(twice.every((i) => i < 10), `only events stored before the kill may be written twice; twice: ${twice.join(',')}`);
  assert.equal(await metric(p, 'forward_connects_total'), 2);
});

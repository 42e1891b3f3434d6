// Pure logic of the kafka output, without a broker: key resolution, templates,
// and what each event becomes as a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpack } from 'msgpackr';
import { applySpec } from '../../sdk/src/config-spec.ts';
import { EventTime, type Event } from '../../sdk/src/index.ts';
import { Encoder } from './encode.ts';
import { classify } from './errors.ts';
import { parseBrokers, resolve, spec, type Config } from './options.ts';
import { compileTemplate } from './template.ts';

function configure(raw: { [k: string]: unknown }) {
  const { values, errors } = applySpec(spec, { brokers: 'k1:9092', ...raw });
  assert.deepEqual(errors, []);
  return resolve(values as Config);
}

const event = (body: { [k: string]: unknown }): Event => ({ time: new EventTime(1_700_000_000, 123_456_789), metadata: {}, body });

test('brokers: lists and comma strings, default port 9092; what does not parse names the item', () => {
  assert.deepEqual(parseBrokers(['a:1,b', ' c.internal:9093 ']).brokers, ['a:1', 'b:9092', 'c.internal:9093']);
  assert.deepEqual(parseBrokers(['[::1]:9092']).brokers, ['[::1]:9092']);
  assert.match(parseBrokers(['a:99999']).error!, /"a:99999" is not host:port/);
  assert.match(parseBrokers(['a b:1']).error ?? parseBrokers(['a$b']).error!, /not host:port/);
  assert.match(parseBrokers([',']).error!, /names no broker/);
  assert.deepEqual(configure({ brokers: 'x:1:2' }).errors.map((e) => e.key), ['brokers']);
});

test('templates: tag, tag parts, nested fields; a missing field gives undefined; a bad template names its offset', () => {
  const t = compileTemplate('logs-${tag[1]}-${record.k8s.ns}');
  assert.equal(t(event({ k8s: { ns: 'prod' } }), 'kube.app.x'), 'logs-app-prod');
  assert.equal(t(event({ k8s: {} }), 'kube.app'), undefined);
  assert.equal(compileTemplate('${record.n}')(event({ n: 5 }), 't'), '5');
  assert.equal(compileTemplate('fixed')(event({}), 't'), 'fixed');
  assert.throws(() => compileTemplate('a-${tag'), /offset 2 is never closed/);
  assert.throws(() => compileTemplate('${host}'), /unknown reference \$\{host\}/);
  const bad = configure({ topic: '${recod.x}', headers: { h: '${record.}' }, message_key: '${nope}' });
  assert.deepEqual(bad.errors.map((e) => e.key).sort(), ['headers.h', 'message_key', 'topic']);
});

test('keys that contradict each other are refused at Configure, each naming its key', () => {
  const keys = (raw: { [k: string]: unknown }) => configure(raw).errors.map((e) => e.key);
  assert.deepEqual(keys({ idempotent: true, acks: 1 }), ['idempotent']);
  assert.deepEqual(keys({ partitioner: 'hash_keys' }), ['hash_keys']);
  assert.deepEqual(keys({ hash_keys: ['a'] }), ['hash_keys']);
  assert.deepEqual(keys({ batch_size: '2M', max_message_bytes: '1M' }), ['batch_size']);
  assert.deepEqual(keys({ default_topic: 'x-${tag}' }), ['default_topic']);
  assert.deepEqual(keys({ 'sasl.mechanism': 'PLAIN', 'sasl.username': 'u' }), ['sasl.password']);
  assert.deepEqual(keys({ 'sasl.password': 'p' }), ['sasl.mechanism']);
  assert.deepEqual(keys({ 'tls.ca_file': '/x' }), ['tls.ca_file']);
});

test('TLS files: a missing file and a key that does not match its certificate are refused, naming the key', () => {
  const missing = configure({ tls: true, 'tls.ca_file': '/nonexistent/ca.pem' }).errors;
  assert.deepEqual(missing.map((e) => e.key), ['tls.ca_file']);
  assert.match(missing[0]!.message, /cannot read \/nonexistent\/ca.pem: ENOENT/);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-kafka-tls-'));
  writeFileSync(join(dir, 'junk.pem'), 'not a certificate');
  const junk = configure({ tls: true, 'tls.ca_file': join(dir, 'junk.pem') }).errors;
  assert.deepEqual(junk.map((e) => e.key), ['tls.ca_file']);
  assert.deepEqual(configure({ tls: true, 'tls.crt_file': join(dir, 'junk.pem') }).errors.map((e) => e.key), ['tls.key_file']);
});

test('json values carry the time under timestamp_key; msgpack and raw values; keys and headers from templates', () => {
  const { settings } = configure({ message_key: 'user.id', headers: { env: 'prod', svc: '${record.svc}' } });
  const enc = new Encoder(settings!).encode(event({ msg: 'hi', user: { id: 42 }, svc: 'api' }), 'app', 'logs');
  assert.ok(enc.ok);
  assert.deepEqual(JSON.parse(enc.message.value.toString()), { '@timestamp': 1_700_000_000.123456789, msg: 'hi', user: { id: 42 }, svc: 'api' });
  assert.equal(enc.message.key?.toString(), '42');
  assert.deepEqual([...enc.message.headers!].map(([k, v]) => [k, v.toString()]), [['env', 'prod'], ['svc', 'api']]);
  assert.equal(enc.message.timestamp, 1_700_000_000_123n);
  const noSvc = new Encoder(settings!).encode(event({ msg: 'x' }), 'app', 'logs');
  assert.ok(noSvc.ok);
  assert.equal(noSvc.message.key, undefined);
  assert.deepEqual([...noSvc.message.headers!.keys()], ['env']);

  const mp = new Encoder(configure({ format: 'msgpack', timestamp_format: 'iso8601' }).settings!).encode(event({ a: 1 }), 't', 'x');
  assert.ok(mp.ok);
  assert.deepEqual(unpack(mp.message.value), { '@timestamp': '2023-11-14T22:13:20.123456789Z', a: 1 });

  const raw = new Encoder(configure({ format: 'raw' }).settings!);
  const r = raw.encode(event({ log: 'plain line' }), 't', 'x');
  assert.ok(r.ok);
  assert.equal(r.message.value.toString(), 'plain line');
  const none = raw.encode(event({ msg: 'no log field' }), 't', 'x');
  assert.ok(!none.ok);
  assert.match(none.reason, /has no field "log" to send raw \(raw_log_key\)/);
});

test('an event larger than max_message_bytes is refused with its size', () => {
  const enc = new Encoder(configure({ max_message_bytes: 1024, batch_size: 1024 }).settings!);
  const big = enc.encode(event({ msg: 'x'.repeat(2000) }), 't', 'x');
  assert.ok(!big.ok);
  assert.match(big.reason, /is \d+ bytes as a message, more than max_message_bytes 1024/);
  assert.ok(enc.encode(event({ msg: 'x'.repeat(500) }), 't', 'x').ok);
});

test('partitioners: hash is Java-compatible murmur2 of the key; hash_keys hashes fields; round_robin cycles', () => {
  // kafka-clients' UtilsTest: murmur2("foobar") == -790332482; the partition is toPositive() of it, modulo the count.
  const hash = new Encoder(configure({ message_key: 'k' }).settings!);
  const p = (e: Encoder, body: { [k: string]: unknown }) => {
    const r = e.encode(event(body), 't', 'x');
    assert.ok(r.ok);
    return r.message.partition;
  };
  assert.equal(p(hash, { k: 'foobar' }), -790332482 & 0x7fffffff);
  assert.equal(p(hash, { k: 'key' }), p(hash, { k: 'key' }));
  const keys = new Encoder(configure({ partitioner: 'hash_keys', hash_keys: ['ns', 'pod'] }).settings!);
  assert.equal(p(keys, { ns: 'a', pod: 'b', x: 1 }), p(keys, { ns: 'a', pod: 'b', x: 2 }));
  assert.notEqual(p(keys, { ns: 'a', pod: 'b' }), p(keys, { ns: 'ab', pod: '' }));
  const rr = new Encoder(configure({ partitioner: 'round_robin' }).settings!);
  assert.deepEqual([p(rr, {}), p(rr, {}), p(rr, {})], [0, 1, 2]);
});

test('errors: authorization is fatal with advice, too-large is about the record, timeouts and leader moves retry', () => {
  const protocol = (apiId: string) => ({ code: 'PLT_KFK_PROTOCOL', apiId, message: apiId.toLowerCase() });
  const multi = (...errors: object[]) => ({ code: 'PLT_KFK_MULTIPLE', message: 'failed', errors });
  const fatal = classify(multi(protocol('NOT_LEADER_OR_FOLLOWER'), multi(protocol('TOPIC_AUTHORIZATION_FAILED'))));
  assert.equal(fatal.kind, 'fatal');
  assert.match(fatal.message, /grant WRITE/);
  assert.deepEqual(fatal.codes, ['NOT_LEADER_OR_FOLLOWER', 'TOPIC_AUTHORIZATION_FAILED']);
  assert.equal(classify(multi(protocol('MESSAGE_TOO_LARGE'))).kind, 'record');
  assert.equal(classify(multi(protocol('NOT_LEADER_OR_FOLLOWER'), protocol('REQUEST_TIMED_OUT'))).kind, 'retry');
  const timeout = classify({ code: 'PLT_KFK_TIMEOUT', message: 'Request timed out', canRetry: false });
  assert.deepEqual([timeout.kind, timeout.codes], ['retry', ['TIMEOUT']]);
  assert.deepEqual(classify(new Error('socket hang up')).kind, 'retry');
});

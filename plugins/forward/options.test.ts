// The forward output's keys: Fluent Bit's defaults, what implies what, and
// every combination that cannot work refused naming its key. And how socket
// errors become answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applySpec } from '../../sdk/src/config-spec.ts';
import { socketError } from './errors.ts';
import { resolve, spec, type Config } from './options.ts';

function configure(raw: { [k: string]: unknown }) {
  const { values, errors } = applySpec(spec, raw);
  if (errors.length) return { errors };
  return resolve(values as Config);
}

const keys = (raw: { [k: string]: unknown }) => configure(raw).errors.map((e) => e.key);

test('defaults are Fluent Bit\'s: 127.0.0.1:24224, no options, no acks, no compression, no handshake, EventTime', () => {
  const { settings } = configure({});
  assert.ok(settings);
  assert.equal(settings.target, '127.0.0.1:24224');
  assert.deepEqual(
    [settings.sendOptions, settings.requireAck, settings.gzip, settings.sharedKey, settings.timeAsInteger, settings.selfHostname, settings.tag],
    [false, false, false, undefined, false, 'localhost', undefined],
  );
  assert.equal(settings.connectTimeoutMs, 10_000);
  assert.equal(settings.ackTimeoutMs, 30_000);
  assert.equal(settings.tls, undefined);
});

test('require_ack_response and compress gzip imply send_options; empty_shared_key turns the handshake on', () => {
  assert.equal(configure({ require_ack_response: true }).settings!.sendOptions, true);
  assert.equal(configure({ compress: 'gzip' }).settings!.sendOptions, true);
  assert.equal(configure({ send_options: true }).settings!.sendOptions, true);
  assert.equal(configure({ empty_shared_key: true }).settings!.sharedKey, '');
  assert.equal(configure({ shared_key: 's' }).settings!.sharedKey, 's');
  assert.equal(configure({ unix_path: '/run/fwd.sock' }).settings!.target, 'unix:///run/fwd.sock');
  assert.equal(configure({ host: '::1' }).settings!.target, '[::1]:24224');
});

test('what cannot work is refused, naming the key', () => {
  assert.deepEqual(keys({ port: 70000 }), ['port']);
  assert.deepEqual(keys({ port: 0 }), ['port']);
  assert.deepEqual(keys({ host: ' ' }), ['host']);
  assert.deepEqual(keys({ compress: 'zstd' }), ['compress']);
  assert.deepEqual(keys({ username: 'u', password: 'p' }), ['username']);
  assert.match(configure({ username: 'u', password: 'p' }).errors[0]!.message, /shared_key is empty/);
  assert.deepEqual(keys({ shared_key: 'k', username: 'u' }), ['password']);
  assert.deepEqual(keys({ shared_key: 'k', empty_shared_key: true }), ['empty_shared_key']);
  assert.deepEqual(keys({ 'tls.ca_file': '/x.pem' }), ['tls.ca_file']);
  assert.deepEqual(keys({ tls: true, 'tls.ca_file': '/no/such/ca.pem' }), ['tls.ca_file']);
  assert.match(configure({ tls: true, 'tls.ca_file': '/no/such/ca.pem' }).errors[0]!.message, /cannot read \/no\/such\/ca\.pem: ENOENT/);
  assert.deepEqual(keys({ tls: true, 'tls.crt_file': '/dev/null' }), ['tls.key_file']);
  assert.deepEqual(keys({ tls: true, 'tls.ca_file': '/dev/null' }), ['tls.ca_file']);
  assert.deepEqual(keys({ tls: true, unix_path: '/x.sock' }), ['tls']);
  assert.deepEqual(keys({ hots: 'x' }), ['hots']);
});

test('socket errors: refused, reset and timeouts are RETRY; certificate problems are ERROR with what to do', () => {
  const e = (code: string, connected = false) => socketError(Object.assign(new Error(`boom ${code}`), { code }), 'h:1', connected);
  assert.deepEqual([e('ECONNREFUSED').kind, e('ECONNREFUSED').fatal], ['connect_refused', false]);
  assert.match(e('ECONNREFUSED').message, /cannot connect to h:1: connection refused/);
  assert.deepEqual([e('ECONNRESET', true).kind, e('ECONNRESET', true).fatal], ['reset', false]);
  assert.deepEqual([e('ENOTFOUND').kind, e('ENOTFOUND').fatal], ['dns', false]);
  const cert = e('DEPTH_ZERO_SELF_SIGNED_CERT');
  assert.deepEqual([cert.kind, cert.fatal], ['tls', true]);
  assert.match(cert.message, /tls\.ca_file/);
  assert.deepEqual([e('ERR_TLS_CERT_ALTNAME_INVALID').fatal, e('ERR_SSL_WRONG_VERSION_NUMBER').fatal], [true, true]);
  assert.match(e('ERR_SSL_WRONG_VERSION_NUMBER').message, /does not speak TLS/);
  assert.equal(e('EWHATEVER').fatal, false);
});

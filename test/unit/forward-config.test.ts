// The forward input's keys: defaults (Fluent Bit's), the checks its create()
// makes, and security.users repeated in a classic config or listed in YAML.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applySpec } from '../../sdk/src/config-spec.ts';
import { loadConfig } from '../../host/config/load.ts';
import { forward } from '../../host/inputs/forward/forward.ts';
import type { InputContext } from '../../host/inputs/input.ts';
import { tempDir } from '../helpers/sluice.ts';

const ctx = { name: 'forward.0', tag: 'forward.0', log: { info() {}, debug() {}, warn() {}, error() {} } } as unknown as InputContext;

function create(raw: { [k: string]: unknown }): string | undefined {
  const { values, errors } = applySpec(forward.spec, raw);
  assert.deepEqual(errors, []);
  try {
    forward.create(values, ctx);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

test('defaults are Fluent Bit\'s', () => {
  const { values } = applySpec(forward.spec, {});
  assert.equal(values.listen, '0.0.0.0');
  assert.equal(values.port, 24224);
  assert.equal(values.buffer_chunk_size, 1024000);
  assert.equal(values.buffer_max_size, 6144000);
  assert.equal(values.self_hostname, 'localhost');
  assert.equal(values.shared_key, '');
  assert.equal(values.tls, false);
  assert.equal(create({}), undefined);
});

test('create() refuses what cannot work, naming the key', () => {
  assert.match(create({ tls: 'on' })!, /^tls\.crt_file: required/);
  assert.match(create({ tls: 'on', 'tls.crt_file': '/nonexistent.pem', 'tls.key_file': '/nonexistent.key' })!, /^tls\.crt_file: cannot read \/nonexistent\.pem/);
  assert.match(create({ 'security.users': 'ann pw' })!, /^security\.users: needs shared_key/);
  assert.equal(create({ 'security.users': 'ann pw', shared_key: 'k' }), undefined);
  assert.match(create({ 'security.users': 'ann', shared_key: 'k' })!, /^security\.users: each must be "USER PASSWORD"/);
  assert.match(create({ unix_perm: '999' })!, /^unix_perm: must be octal/);
  assert.match(create({ buffer_chunk_size: '8M' })!, /^buffer_chunk_size: must not be larger than buffer_max_size/);
  assert.match(create({ port: 70000 })!, /^port: must be at most 65535/);
});

test('security.users: repeated in a classic config, or a YAML list, comes as a list; tag set or not is known', (t) => {
  const dir = tempDir('sluice-forward-config-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a.conf'), '[INPUT]\n    Name forward\n    Shared_Key k\n    Security.Users ann pw1\n    Security.Users bob pw2\n[INPUT]\n    Name forward\n    Tag fixed\n[OUTPUT]\n    Name null\n    Match *\n');
  writeFileSync(join(dir, 'a.yaml'), 'pipeline:\n  inputs:\n    - { name: forward, shared_key: k, security.users: [ "ann pw1", "bob pw2" ] }\n    - { name: forward, security.users: "carl pw3", empty_shared_key: true }\n  outputs:\n    - { name: "null", match: "*" }\n');
  const classic = loadConfig(join(dir, 'a.conf'), {});
  assert.deepEqual(classic.issues.map(String), []);
  assert.deepEqual(classic.config!.inputs[0]!.values['security.users'], ['ann pw1', 'bob pw2']);
  assert.equal(classic.config!.inputs[0]!.tagConfigured, false);
  assert.equal(classic.config!.inputs[1]!.tagConfigured, true);
  const yaml = loadConfig(join(dir, 'a.yaml'), {});
  assert.deepEqual(yaml.issues.map(String), []);
  assert.deepEqual(yaml.config!.inputs[0]!.values['security.users'], ['ann pw1', 'bob pw2']);
  assert.deepEqual(yaml.config!.inputs[1]!.values['security.users'], ['carl pw3']);
});

// The shared-key handshake's pure logic: digests as the spec defines them
// (checked against values computed elsewhere, with Python's hashlib), the
// PING built for a HELO, and every way a PONG can say no.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr, unpack } from 'msgpackr';
import { buildPing, checkPong, HandshakeError, parseHelo, passwordDigest, sharedKeyDigest, type Helo } from './handshake.ts';

const packr = new Packr({ useRecords: false });
const NONCE = Buffer.from(Array.from({ length: 16 }, (_, i) => i));
const SALT = '0123456789abcdef';
// hashlib.sha512(b'0123456789abcdef' + b'client.example' + bytes(range(16)) + b'secret key').hexdigest()
const PING_DIGEST = 'ffe9a347885fb9557c8ed8e651648fb283ce49eda89c90dad4451228934101579967cacfea90fa6bbc79db1ef0c28dd59533951417285db54a1b84e18d999dcb';
// hashlib.sha512(bytes([0xaa] * 16) + b'ada' + b'p4ss').hexdigest()
const PASSWORD_DIGEST = 'b5ec242e7063af8beb44e70b76e389dccce19c0f414c2d83b5cd75fb31ef39a6d30273da7d6f339c3e90f7efe5d40ecee7c85b0305de6f086049adcb4f24743f';

const decoded = (b: Buffer) => unpack(b);

test('digests: sha512 hex of salt + hostname + nonce + shared_key, and of auth_salt + username + password', () => {
  assert.equal(sharedKeyDigest(SALT, 'client.example', NONCE, 'secret key'), PING_DIGEST);
  assert.equal(sharedKeyDigest(Buffer.from(SALT), Buffer.from('client.example'), NONCE, Buffer.from('secret key')), PING_DIGEST, 'strings hash as their bytes');
  assert.equal(passwordDigest(Buffer.alloc(16, 0xaa), 'ada', 'p4ss'), PASSWORD_DIGEST);
});

test('HELO: the nonce as bin or str, auth salt, keepalive (true unless false); anything else is a HandshakeError', () => {
  const h = parseHelo(decoded(packr.pack(['HELO', { nonce: NONCE, auth: '', keepalive: true }])));
  assert.deepEqual(h, { nonce: NONCE, auth: Buffer.alloc(0), keepalive: true });
  const s = parseHelo(decoded(packr.pack(['HELO', { nonce: 'abc', auth: Buffer.alloc(16, 1), keepalive: false }])));
  assert.deepEqual(s, { nonce: Buffer.from('abc'), auth: Buffer.alloc(16, 1), keepalive: false });
  assert.equal(parseHelo(['HELO', { nonce: 'n' }]).keepalive, true);
  for (const bad of [['PONG', {}], ['HELO'], ['HELO', 'x'], ['HELO', {}], ['HELO', { nonce: 'n', auth: 5 }], { ack: 'x' }, null]) {
    assert.throws(() => parseHelo(bad), (e: unknown) => e instanceof HandshakeError && !e.refused, JSON.stringify(bad));
  }
});

test('PING: hostname, salt, digest; username and password digest only when the HELO asks for users', () => {
  const input = { selfHostname: 'client.example', sharedKey: 'secret key', salt: SALT, username: 'ada', password: 'p4ss' };
  const noUsers: Helo = { nonce: NONCE, auth: Buffer.alloc(0), keepalive: true };
  assert.deepEqual(decoded(buildPing(noUsers, input)), ['PING', 'client.example', SALT, PING_DIGEST, '', '']);
  const users: Helo = { nonce: NONCE, auth: Buffer.alloc(16, 0xaa), keepalive: true };
  assert.deepEqual(decoded(buildPing(users, input)), ['PING', 'client.example', SALT, PING_DIGEST, 'ada', PASSWORD_DIGEST]);
});

test('PONG: accepted only with auth true and the digest of the same key under the server\'s hostname', () => {
  const helo: Helo = { nonce: NONCE, auth: Buffer.alloc(0), keepalive: true };
  const p = { salt: SALT, sharedKey: 'secret key' };
  const good = ['PONG', true, '', 'server.example', sharedKeyDigest(SALT, 'server.example', NONCE, 'secret key')];
  assert.equal(checkPong(decoded(packr.pack(good)), helo, p), 'server.example');

  const refused = (msg: unknown, match: RegExp) => assert.throws(() => checkPong(msg, helo, p), (e: unknown) => e instanceof HandshakeError && e.refused && match.test(e.message));
  refused(['PONG', false, 'shared_key mismatch', '', ''], /refused the handshake: shared_key mismatch/);
  refused(['PONG', false, '', '', ''], /refused the handshake: no reason given/);
  // A server that holds another key cannot make the digest.
  refused(['PONG', true, '', 'server.example', sharedKeyDigest(SALT, 'server.example', NONCE, 'other key')], /does not match shared_key/);
  refused(['PONG', true, '', 'other.example', good[4]], /does not match shared_key/);

  for (const bad of [['PING'], ['PONG', true], { ack: 'x' }, ['PONG', true, '', 5, 'x']]) {
    assert.throws(() => checkPong(bad, helo, p), (e: unknown) => e instanceof HandshakeError && !e.refused, JSON.stringify(bad));
  }
});

test('a whole exchange against a server written from the spec', () => {
  // The server side, straight from the spec's words.
  const serverNonce = Buffer.from('a nonce of bytes');
  const helo = parseHelo(decoded(packr.pack(['HELO', { nonce: serverNonce, auth: '', keepalive: true }])));
  const ping = decoded(buildPing(helo, { selfHostname: 'me', sharedKey: 'k', salt: 'fresh-salt', username: '', password: '' })) as string[];
  const [, host, salt, digest] = ping as [string, string, string, string];
  assert.equal(digest, sharedKeyDigest(salt, host, serverNonce, 'k'));
  const pong = ['PONG', true, '', 'srv', sharedKeyDigest(salt, 'srv', serverNonce, 'k')];
  assert.equal(checkPong(decoded(packr.pack(pong)), helo, { salt, sharedKey: 'k' }), 'srv');
});

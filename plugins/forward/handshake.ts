// The Forward protocol's handshake (spec v1), client side:
//
//   server  ['HELO', {nonce, auth: auth_salt or '', keepalive}]
//   client  ['PING', self_hostname, shared_key_salt,
//            sha512_hex(shared_key_salt + self_hostname + nonce + shared_key),
//            username, sha512_hex(auth_salt + username + password)]   ('' and '' when auth is empty)
//   server  ['PONG', auth_result, reason, server_hostname,
//            sha512_hex(shared_key_salt + server_hostname + nonce + shared_key)]
//
// The client checks the PONG's digest too: a server that does not hold the
// shared key cannot make it. Strings are hashed as their UTF-8 bytes, bin
// values as they are.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: false });

export type Bytes = string | Uint8Array;

const raw = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function sha512hex(...parts: Bytes[]): string {
  const h = createHash('sha512');
  for (const p of parts) h.update(raw(p));
  return h.digest('hex');
}

/** sha512_hex(shared_key_salt + hostname + nonce + shared_key): the PING's digest (the client's hostname) and the PONG's (the server's). */
export function sharedKeyDigest(salt: Bytes, hostname: Bytes, nonce: Bytes, sharedKey: Bytes): string {
  return sha512hex(salt, hostname, nonce, sharedKey);
}

/** sha512_hex(auth_salt + username + password): the PING's password digest. */
export function passwordDigest(authSalt: Bytes, username: Bytes, password: Bytes): string {
  return sha512hex(authSalt, username, password);
}

/** A handshake that went wrong. `refused`: the server said no (PONG false) or proved it has another key; no retry can fix either. */
export class HandshakeError extends Error {
  readonly refused: boolean;
  constructor(message: string, refused = false) {
    super(message);
    this.refused = refused;
  }
}

export interface Helo {
  nonce: Buffer;
  /** The salt for user authentication; empty when the server asks for none. */
  auth: Buffer;
  keepalive: boolean;
}

const bytesOf = (v: unknown): Buffer | undefined =>
  typeof v === 'string' ? Buffer.from(v, 'utf8') : v instanceof Uint8Array ? Buffer.from(v) : undefined;

export function isHelo(msg: unknown): boolean {
  return Array.isArray(msg) && msg[0] === 'HELO';
}

/** The server's HELO; throws HandshakeError if it is not one. */
export function parseHelo(msg: unknown): Helo {
  if (!Array.isArray(msg) || msg[0] !== 'HELO' || msg.length < 2) throw new HandshakeError(`expected a HELO ['HELO', {nonce, auth, keepalive}], got ${describe(msg)}`);
  const o = msg[1] as { [k: string]: unknown } | undefined;
  if (!o || typeof o !== 'object' || Array.isArray(o) || o instanceof Uint8Array) throw new HandshakeError('the HELO has no option map');
  const nonce = bytesOf(o.nonce);
  if (!nonce || nonce.length === 0) throw new HandshakeError('the HELO has no nonce');
  const auth = o.auth === undefined || o.auth === null ? Buffer.alloc(0) : bytesOf(o.auth);
  if (!auth) throw new HandshakeError('the HELO\'s auth is neither a string nor bytes');
  return { nonce, auth, keepalive: o.keepalive !== false };
}

export interface PingInput {
  selfHostname: string;
  sharedKey: string;
  /** shared_key_salt: fresh per connection. */
  salt: string;
  username: string;
  password: string;
}

/** A fresh shared_key_salt (hex, so it is a plain string on the wire). */
export function newSalt(): string {
  return randomBytes(16).toString('hex');
}

/** The PING answering this HELO. Without a user name, or when the server asks for no user authentication, username and its digest are ''. */
export function buildPing(helo: Helo, p: PingInput): Buffer {
  const digest = sharedKeyDigest(p.salt, p.selfHostname, helo.nonce, p.sharedKey);
  const withUser = helo.auth.length > 0;
  const user = withUser ? p.username : '';
  const password = withUser ? passwordDigest(helo.auth, p.username, p.password) : '';
  return packr.pack(['PING', p.selfHostname, p.salt, digest, user, password]);
}

/**
 * Checks the server's PONG: its auth result, then its digest (mutual
 * authentication). Returns the server's hostname; throws HandshakeError,
 * `refused` when the server said no or does not hold the same key.
 */
export function checkPong(msg: unknown, helo: Helo, p: { salt: string; sharedKey: string }): string {
  if (!Array.isArray(msg) || msg[0] !== 'PONG' || msg.length < 5) throw new HandshakeError(`expected a PONG ['PONG', auth_result, reason, hostname, digest], got ${describe(msg)}`);
  const [, result, reason, hostname, digest] = msg as [string, unknown, unknown, unknown, unknown];
  if (result !== true) {
    const why = bytesOf(reason)?.toString('utf8') || 'no reason given';
    throw new HandshakeError(`the receiver refused the handshake: ${why}`, true);
  }
  const host = bytesOf(hostname);
  const got = bytesOf(digest);
  if (!host || !got) throw new HandshakeError('the PONG lacks the server hostname or digest');
  const expected = Buffer.from(sharedKeyDigest(p.salt, host, helo.nonce, p.sharedKey), 'latin1');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw new HandshakeError(`the receiver (${host.toString('utf8')}) answered with a digest that does not match shared_key: it holds another key`, true);
  }
  return host.toString('utf8');
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array starting ${JSON.stringify(typeof v[0] === 'string' ? v[0] : typeof v[0])}`;
  if (v instanceof Uint8Array) return 'bytes';
  if (v === null) return 'nil';
  return typeof v === 'object' ? 'a map' : typeof v;
}

// The Forward protocol's handshake (spec v1, "secure forward"), server side:
//
//   server  ['HELO', {nonce: bin(16), auth: bin(16) or '' , keepalive: true}]
//   client  ['PING', client_hostname, shared_key_salt, sha512_hex(shared_key_salt + client_hostname + nonce + shared_key),
//            username, sha512_hex(auth_salt + username + password)]          (username and digest '' without users)
//   server  ['PONG', true, '', server_hostname, sha512_hex(shared_key_salt + server_hostname + nonce + shared_key)]
//       or  ['PONG', false, reason, '', '']  and the connection is closed
//
// Strings are hashed as the bytes they came as. Digests are compared in
// constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Packr } from 'msgpackr';
import { KIND_ARRAY, KIND_BIN, KIND_STR, peek, skip } from './msgpack.ts';

export interface Security {
  sharedKey: string;
  selfHostname: string;
  /** security.users: name → password. Empty: no user authentication. */
  users: Map<string, string>;
}

export type PingResult =
  | { ok: true; hostname: string; username: string; pong: Buffer }
  /** pong: the refusal to send before closing, when the client is owed one (it sent a PING). */
  | { ok: false; reason: 'auth_failed' | 'handshake'; error: string; hostname?: string; username?: string; pong?: Buffer };

const packr = new Packr({ useRecords: false });

const sha512hex = (...parts: (Buffer | string)[]) => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

function sameDigest(a: Buffer, expected: string): boolean {
  const b = Buffer.from(expected, 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}

export class ServerHandshake {
  private readonly security: Security;
  readonly nonce = randomBytes(16);
  /** The salt for user passwords; empty without security.users. */
  readonly authSalt: Buffer;

  constructor(security: Security) {
    this.security = security;
    this.authSalt = security.users.size ? randomBytes(16) : Buffer.alloc(0);
  }

  helo(): Buffer {
    return packr.pack(['HELO', { nonce: this.nonce, auth: this.authSalt.length ? this.authSalt : '', keepalive: true }]);
  }

  /** Checks the client's PING, the frame buf[start, end) (complete and well formed). */
  ping(buf: Buffer, start: number, end: number): PingResult {
    const root = peek(buf, start, end);
    if (!root || root.kind !== KIND_ARRAY || root.items !== 6) return { ok: false, reason: 'handshake', error: 'expected a PING [\'PING\', hostname, shared_key_salt, shared_key_hexdigest, username, password_digest] after the HELO' };
    const parts: Buffer[] = [];
    for (let i = 0, p = root.body; i < 6; i++, p = skip(buf, p, end)) {
      const h = peek(buf, p, end)!;
      if (h.kind !== KIND_STR && h.kind !== KIND_BIN) return { ok: false, reason: 'handshake', error: `PING element ${i} must be a string` };
      parts.push(buf.subarray(h.body, h.body + h.payload));
    }
    const [type, hostname, salt, digest, username, passwordDigest] = parts as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
    if (type.toString('latin1') !== 'PING') return { ok: false, reason: 'handshake', error: 'expected a PING after the HELO' };
    const { sharedKey, selfHostname, users } = this.security;
    const who = { hostname: hostname.toString('utf8'), username: username.toString('utf8') };
    const refuse = (error: string): PingResult => ({ ok: false, reason: 'auth_failed', error, ...who, pong: packr.pack(['PONG', false, error, '', '']) });
    if (!sameDigest(digest, sha512hex(salt, hostname, this.nonce, sharedKey))) return refuse('shared_key mismatch');
    if (users.size) {
      const password = users.get(who.username);
      // An unknown user costs the same as a wrong password.
      const expected = sha512hex(this.authSalt, username, password ?? randomBytes(16).toString('hex'));
      if (!sameDigest(passwordDigest, expected) || password === undefined) return refuse('username/password mismatch');
    }
    const pong = packr.pack(['PONG', true, '', selfHostname, sha512hex(salt, selfHostname, this.nonce, sharedKey)]);
    return { ok: true, ...who, pong };
  }
}

// A Forward protocol client written from the spec, for tests and the bench:
// frames of every mode packed with msgpackr (and gzip), acks matched by
// chunk id, and the shared-key handshake.
import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { Packr, unpackMultiple } from 'msgpackr';
import { EventTime } from '../../sdk/src/codec/events.ts';

export { EventTime };

const packr = new Packr({ useRecords: false, variableMapSize: true });

export const pack = (v: unknown): Buffer => packr.pack(v);

export type Entry = [time: number | EventTime, record: unknown];

/** PackedForward's entries: [time, record] values one after the other. */
export function packEntries(entries: Entry[]): Buffer {
  return Buffer.concat(entries.map((e) => pack(e)));
}

/** Gzip, in `members` gzip members one after the other (CompressedPackedForward allows several). */
export function gzipMembers(data: Buffer, members = 1): Buffer {
  if (members <= 1) return gzipSync(data);
  const step = Math.ceil(data.length / members);
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += step) parts.push(gzipSync(data.subarray(i, i + step)));
  return Buffer.concat(parts);
}

export const chunkId = () => randomBytes(12).toString('base64');

/**
 * A PackedForward frame [tag, entries, option]: the entries as bin, or as
 * str (older Fluentd clients) with the same bytes; gzipped in `members`
 * members with compress.
 */
export function packedFrame(tag: string, entries: Entry[], opts: { compress?: boolean; members?: number; str?: boolean; chunk?: string } = {}): Buffer {
  const raw = packEntries(entries);
  const data = opts.compress ? gzipMembers(raw, opts.members) : raw;
  const option: { [k: string]: unknown } = { size: entries.length };
  if (opts.chunk) option.chunk = opts.chunk;
  if (opts.compress) option.compressed = 'gzip';
  if (!opts.str) return pack([tag, data, option]);
  // msgpackr would write a string's characters as UTF-8: the header is written by hand instead.
  const head = Buffer.alloc(5);
  head[0] = 0xdb;
  head.writeUInt32BE(data.length, 1);
  return Buffer.concat([Buffer.from([0x93]), pack(tag), head, data, pack(option)]);
}

export class ForwardClient {
  readonly socket: Socket;
  /** Every value the server sent, in order (acks, HELO, PONG). */
  readonly received: any[] = [];
  private pending: Buffer = Buffer.alloc(0);
  private readonly ackWaiters = new Map<string, () => void>();
  private readonly valueWaiters: ((v: any) => void)[] = [];
  readonly closed: Promise<void>;
  /** Set once the socket had an error (reset). */
  error: Error | undefined;
  /** The client's port, which the server logs as the peer's (kept: a closed socket forgets it). */
  localPort = 0;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((r) => socket.once('close', () => r()));
    socket.on('error', (err) => (this.error = err));
    socket.on('data', (data: Buffer) => this.read(data));
  }

  /** To 127.0.0.1 (or opts.host) at port, or to the unix socket at opts.path. */
  static connect(port: number, opts: { host?: string; path?: string; tls?: { ca: Buffer | string } } = {}): Promise<ForwardClient> {
    const host = opts.host ?? '127.0.0.1';
    return new Promise((resolve, reject) => {
      const socket: Socket = opts.tls
        ? tlsConnect({ host, port, ca: opts.tls.ca, servername: 'localhost' }, () => resolve(client))
        : opts.path
          ? netConnect(opts.path, () => resolve(client))
          : netConnect(port, host, () => resolve(client));
      socket.once('connect', () => (client.localPort = socket.localPort!));
      const client = new ForwardClient(socket);
      socket.once('error', reject);
    });
  }

  private read(data: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, data]) : data;
    let used = 0;
    try {
      unpackMultiple(this.pending, (v: any, _start?: number, end?: number) => {
        used = end ?? this.pending.length;
        this.received.push(v);
        const w = this.valueWaiters.shift();
        if (w) w(v);
        if (v && typeof v === 'object' && 'ack' in v) {
          this.ackWaiters.get(String(v.ack))?.();
          this.ackWaiters.delete(String(v.ack));
        }
      });
    } catch (err) {
      if (!(err as { incomplete?: boolean }).incomplete) throw err;
    }
    this.pending = Buffer.from(this.pending.subarray(used));
  }

  /** The next value the server sends (one not yet handed to anyone). */
  next(): Promise<any> {
    return new Promise((resolve, reject) => {
      this.valueWaiters.push(resolve);
      void this.closed.then(() => reject(new Error('the connection closed before the server sent a value')));
    });
  }

  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  /** Resolves when the server acks `chunk`; rejects if the connection closes first. */
  ack(chunk: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.received.some((v) => v?.ack === chunk)) return resolve();
      this.ackWaiters.set(chunk, resolve);
      void this.closed.then(() => {
        if (this.ackWaiters.delete(chunk)) reject(new Error(`the connection closed before the ack of ${chunk}`));
      });
    });
  }

  /** Sends a PackedForward frame with a chunk id (gzipped with compress) and waits for its ack. */
  async packed(tag: string, entries: Entry[], opts: { compress?: boolean; members?: number; str?: boolean } = {}): Promise<string> {
    const chunk = chunkId();
    const acked = this.ack(chunk);
    await this.write(packedFrame(tag, entries, { ...opts, chunk }));
    await acked;
    return chunk;
  }

  /** The shared-key handshake: reads the HELO, sends the PING, returns the PONG. */
  async handshake(sharedKey: string, hostname: string, user?: { name: string; password: string }): Promise<any[]> {
    const helo = this.received.find((v) => Array.isArray(v) && v[0] === 'HELO') ?? (await this.next());
    if (!Array.isArray(helo) || helo[0] !== 'HELO') throw new Error(`expected a HELO, got ${JSON.stringify(helo)}`);
    const { nonce, auth } = helo[1];
    const salt = randomBytes(16).toString('hex');
    const sha = (...p: (string | Uint8Array)[]) => p.reduce((h, x) => h.update(x), createHash('sha512')).digest('hex');
    const pong = this.next();
    const authSalt: Uint8Array | string = auth ?? '';
    const withUser = user && authSalt.length > 0;
    await this.write(pack(['PING', hostname, salt, sha(salt, hostname, nonce, sharedKey), withUser ? user.name : '', withUser ? sha(authSalt, user.name, user.password) : '']));
    const p = await pong;
    if (p[1] === true && p[4] !== sha(salt, p[3], nonce, sharedKey)) throw new Error('the PONG\'s digest does not prove the server knows the key');
    return p;
  }

  end(): Promise<void> {
    this.socket.end();
    return this.closed;
  }
}

// One connection to the receiver: TCP (or a unix socket), TLS if asked,
// the shared-key handshake if a key is set, then frames written one after
// the other, several in flight at once. With require_ack_response a frame is
// done when the receiver's {ack: id} names it (acks may come in any order);
// without, when its last byte is handed to the kernel. Anything that breaks
// the connection fails every frame still in flight on it, with one reason;
// a frame that waits past ack_timeout breaks it too (a receiver that does
// not ack one frame in time will not ack those behind it either).
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from 'pino';
import { SendError, socketError } from './errors.ts';
import type { Frame } from './frame.ts';
import { buildPing, checkPong, HandshakeError, isHelo, newSalt, parseHelo, type Helo } from './handshake.ts';
import type { Settings } from './options.ts';
import { MessageReader } from './reader.ts';

/** At close, how long the receiver has to close its side before the socket is cut. */
const CLOSE_WAIT_MS = 1000;

interface Pending {
  frame: Frame;
  resolve(latencyMs: number): void;
  reject(err: SendError): void;
  timer: NodeJS.Timeout;
  started: number;
  written: boolean;
}

export interface ConnectionEvents {
  /** An {ack} that names no frame in flight here. */
  unmatchedAck(id: string): void;
  /** The connection ended for `err`; `inFlight` frames failed with it (none: nobody else hears of it). */
  failed(err: SendError, inFlight: number): void;
}

let ids = 0;

export class Connection {
  readonly id = ++ids;
  private readonly s: Settings;
  private readonly log: Logger;
  private readonly events: ConnectionEvents;
  private readonly socket: Socket;
  private readonly reader = new MessageReader();
  private state: 'connecting' | 'handshake' | 'ready' | 'closed' = 'connecting';
  private helo: Helo | undefined;
  private salt = '';
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Map<string, Pending>();
  /** Frames this connection took (takes()). */
  private taken = 0;
  /** The HELO's keepalive: false, the server wants one frame per connection. */
  private keepalive = true;
  /** Whether the receiver sent anything at all: a silent close is a hint (TLS or shared key expected). */
  private heard = false;
  private retiring = false;
  /** Why the connection ended, once it has. */
  failure: SendError | undefined;
  /** Resolves once the connection is up (handshake done); rejects with why it is not. */
  readonly ready: Promise<void>;
  /** Resolves once the socket is closed. */
  readonly closed: Promise<void>;
  private markReady!: () => void;
  private markFailed!: (err: SendError) => void;

  constructor(s: Settings, log: Logger, events: ConnectionEvents) {
    this.s = s;
    this.log = log;
    this.events = events;
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.markFailed = reject;
    });
    // Nobody may be waiting on it when it fails (an idle connection the receiver closed).
    this.ready.catch(() => undefined);
    this.socket = s.unixPath
      ? netConnect({ path: s.unixPath })
      : s.tls
        ? tlsConnect({ host: s.host, port: s.port, ...s.tls })
        : netConnect({ host: s.host, port: s.port });
    this.closed = new Promise((r) => this.socket.once('close', () => r()));
    this.connectTimer = setTimeout(() => this.fail(this.connectTimeout()), s.connectTimeoutMs);
    this.socket.once(s.tls ? 'secureConnect' : 'connect', () => this.connected());
    this.socket.on('data', (d: Buffer) => this.data(d));
    this.socket.on('error', (err) => this.fail(socketError(err, s.target, this.state === 'ready')));
    this.socket.on('end', () => this.fail(this.closedBy('closed the connection')));
    this.socket.on('close', () => this.fail(this.closedBy('closed the connection')));
  }

  /** Up, or on its way up, and able to take another frame. */
  get open(): boolean {
    return this.state !== 'closed' && !this.retiring && (this.keepalive || this.taken === 0);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Claims the connection for one frame; false if it cannot take one (closed, or single-use and taken). */
  takes(): boolean {
    if (this.state !== 'ready' || !this.open) return false;
    this.taken++;
    return true;
  }

  private connected(): void {
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 30_000);
    if (this.s.sharedKey === undefined) return this.up();
    // The server speaks first: HELO.
    this.state = 'handshake';
  }

  private up(): void {
    if (this.state === 'closed') return;
    this.state = 'ready';
    clearTimeout(this.connectTimer);
    this.log.debug({ connection: this.id, target: this.s.target, keepalive: this.keepalive }, 'forward: connected');
    this.markReady();
  }

  private data(d: Buffer): void {
    this.heard = true;
    let messages: unknown[];
    try {
      messages = this.reader.push(d);
    } catch (err) {
      return this.fail(new SendError('protocol', `${this.s.target}: ${(err as Error).message}`));
    }
    for (const m of messages) {
      if (this.state === 'closed') return;
      this.message(m);
    }
  }

  private message(m: unknown): void {
    if (this.state === 'handshake') return this.handshake(m);
    if (this.state !== 'ready') return;
    if (isHelo(m)) {
      if (this.s.sharedKey === undefined) {
        return this.fail(new SendError('unexpected_helo', `${this.s.target} asks for the shared-key handshake (it sent a HELO): set shared_key (and self_hostname, username, password if it checks users) to what the receiver expects`, true));
      }
      return this.fail(new SendError('protocol', `${this.s.target} sent a second HELO`));
    }
    const ack = m !== null && typeof m === 'object' && !Array.isArray(m) ? (m as { ack?: unknown }).ack : undefined;
    if (ack === undefined) {
      this.log.debug({ connection: this.id, message: typeof m }, 'forward: ignored a message from the receiver that is not an ack');
      return;
    }
    const id = typeof ack === 'string' ? ack : ack instanceof Uint8Array ? Buffer.from(ack).toString('utf8') : String(ack);
    const p = this.pending.get(id);
    if (!p || !this.s.requireAck) return this.events.unmatchedAck(id);
    this.settle(id, p);
  }

  private handshake(m: unknown): void {
    const s = this.s;
    try {
      if (!this.helo) {
        this.helo = parseHelo(m);
        this.keepalive = this.helo.keepalive;
        this.salt = newSalt();
        this.socket.write(buildPing(this.helo, { selfHostname: s.selfHostname, sharedKey: s.sharedKey!, salt: this.salt, username: s.username, password: s.password }));
        return;
      }
      const server = checkPong(m, this.helo, { salt: this.salt, sharedKey: s.sharedKey! });
      this.log.debug({ connection: this.id, server }, 'forward: shared-key handshake done');
      this.up();
    } catch (err) {
      if (!(err instanceof HandshakeError)) throw err;
      if (err.refused) {
        const users = this.helo && this.helo.auth.length > 0 ? ', username and password' : '';
        return this.fail(new SendError('auth', `${s.target}: ${err.message}; set shared_key${users} to what the receiver expects (self_hostname is ${JSON.stringify(s.selfHostname)})`, true));
      }
      this.fail(new SendError('handshake', `handshake with ${s.target} failed: ${err.message}`));
    }
  }

  /** Writes a frame taken with takes(); resolves with the time to its ack (or its write), rejects with why it is not delivered. */
  send(frame: Frame): Promise<number> {
    if (this.state !== 'ready') return Promise.reject(this.failure ?? new SendError('closed', `the connection to ${this.s.target} is not open`));
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => this.timedOut(frame.id), this.s.ackTimeoutMs);
      this.pending.set(frame.id, { frame, resolve, reject, timer, started: performance.now(), written: false });
      const last = frame.parts.length - 1;
      this.socket.cork();
      frame.parts.forEach((part, i) => {
        // A failed write also emits 'error', which fails the connection.
        this.socket.write(part, i === last ? (err) => !err && this.written(frame.id) : undefined);
      });
      this.socket.uncork();
    });
  }

  private written(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    p.written = true;
    if (!this.s.requireAck) this.settle(id, p);
  }

  private settle(id: string, p: Pending): void {
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(performance.now() - p.started);
    // Single use (keepalive false in the HELO), or closing: done once nothing is in flight.
    if ((this.retiring || !this.keepalive) && this.pending.size === 0) this.close();
  }

  private timedOut(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    const secs = this.s.ackTimeoutMs / 1000;
    if (this.s.requireAck) {
      const where = p.written ? 'no ack' : 'not even written to the socket (the receiver does not read)';
      this.fail(new SendError('ack_timeout', `${where} from ${this.s.target} for a chunk within ack_timeout (${secs}s); the connection is closed and its chunks in flight are sent again (the receiver may have stored them already: duplicates)`));
    } else {
      this.fail(new SendError('write_timeout', `a chunk could not be written to ${this.s.target} within ack_timeout (${secs}s): the receiver does not read; the connection is closed`));
    }
  }

  private connectTimeout(): SendError {
    const s = this.s;
    const bound = `connect_timeout (${s.connectTimeoutMs / 1000}s)`;
    if (this.state === 'handshake' && !this.helo) {
      return new SendError('connect_timeout', `${s.target} sent no HELO within ${bound}: with shared_key set, the receiver must start the shared-key handshake; does it have a shared key (Fluentd's <security>, Fluent Bit's shared_key)?`);
    }
    if (this.state === 'handshake') return new SendError('connect_timeout', `${s.target} did not answer our PING within ${bound}`);
    if (this.socket.connecting) return new SendError('connect_timeout', `cannot connect to ${s.target} within ${bound}`);
    return new SendError('connect_timeout', `no TLS handshake with ${s.target} within ${bound}: does it speak TLS?`);
  }

  private closedBy(what: string): SendError {
    const n = this.pending.size;
    const lost = n ? ` before acknowledging ${n === 1 ? 'a chunk' : `${n} chunks`}` : '';
    const hint = !this.heard && this.state !== 'connecting'
      ? ` without sending anything: does it expect ${this.s.tls ? 'a shared key (shared_key)' : 'TLS (tls: on) or a shared key (shared_key)'}, or is the chunk larger than it takes (buffer_max_size)? Its log says why`
      : '';
    if (this.state === 'connecting' && this.s.tls) {
      return new SendError('closed', `${this.s.target} ${what} during the TLS handshake: does it speak TLS (else set tls: off)? Its log says why`);
    }
    if (this.state === 'handshake') {
      const step = this.helo ? 'after our PING, without a PONG' : 'before its HELO';
      return new SendError('handshake', `${this.s.target} ${what} during the shared-key handshake (${step}): does it expect a shared key${this.s.tls ? '' : ', or TLS'}? Its log says why`);
    }
    return new SendError('closed', `${this.s.target} ${what}${lost}${hint}`);
  }

  /** Ends the connection, failing what is in flight with `err`. Idempotent: the first reason stays. */
  fail(err: SendError): void {
    if (this.state === 'closed') return;
    const was = this.state;
    this.state = 'closed';
    this.failure = err;
    clearTimeout(this.connectTimer);
    this.markFailed(err);
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.socket.destroy();
    this.events.failed(err, pending.length);
    if (was === 'ready' && pending.length === 0 && err.kind === 'closed') this.log.debug({ connection: this.id, target: this.s.target }, 'forward: the receiver closed an idle connection');
    else this.log.debug({ connection: this.id, target: this.s.target, kind: err.kind, err: err.message, in_flight: pending.length }, 'forward: connection failed');
  }

  /** Takes no more frames; ends the connection once nothing is in flight (at once if nothing is). */
  close(): void {
    this.retiring = true;
    if (this.state === 'closed') return;
    if (this.pending.size > 0) return;
    if (this.state !== 'ready') return this.fail(new SendError('closed', `the connection to ${this.s.target} was closed before it was up`));
    this.state = 'closed';
    this.failure = new SendError('closed', `the connection to ${this.s.target} is closed`);
    clearTimeout(this.connectTimer);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_WAIT_MS).unref();
  }

  /** Cuts the connection now; what is in flight fails with `why`. */
  destroy(why: string): void {
    this.retiring = true;
    this.fail(new SendError('closed', why));
  }
}

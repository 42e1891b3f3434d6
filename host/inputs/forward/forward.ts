// forward: the Fluentd Forward protocol (v1), as Fluent Bit's in_forward and
// Fluentd's in_forward: Message, Forward, PackedForward and
// CompressedPackedForward frames over TCP, TLS or a unix socket, with the
// shared-key handshake and acks. A frame asking for an ack (option.chunk)
// is acknowledged only once its events are stored (with filesystem
// storage: written to their chunk file), so a client that got an ack may
// forget the events, and one that did not sends them again. While the
// input is paused by backpressure no socket is read: clients block instead
// of being acknowledged for events sluice has no room for.
import { chmodSync, existsSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Input, InputContext, InputKind } from '../input.ts';
import { InputStartError } from '../input.ts';
import { listen } from '../net/listen.ts';
import { RateLimitedWarning } from '../net/rate-limited.ts';
import { ReadGate } from '../net/read-gate.ts';
import { StoredBatches } from '../net/stored-batches.ts';
import { ForwardConnection, type CloseReason, type ConnectionOwner, type EventsFrame } from './connection.ts';
import { writeEvents } from './encode.ts';
import { ServerHandshake, type Security } from './handshake.ts';

interface ForwardConfig {
  listen: string;
  port: number;
  tag_prefix: string;
  unix_path: string;
  unix_perm: string;
  buffer_chunk_size: number;
  buffer_max_size: number;
  shared_key: string;
  empty_shared_key: boolean;
  self_hostname: string;
  'security.users': string[];
  tls: boolean;
  'tls.crt_file': string;
  'tls.key_file': string;
  'tls.key_passwd': string;
}

/** At stop, how long clients have to take the acks of what was stored before their connections are cut. */
const STOP_WAIT_MS = 2000;

export class ForwardInput implements Input, ConnectionOwner {
  private readonly cfg: ForwardConfig;
  private readonly ctx: InputContext;
  private readonly server: Server;
  private readonly batches: StoredBatches;
  private readonly security: Security | undefined;
  private readonly connections = new Set<ForwardConnection>();
  private readonly rejectWarning: RateLimitedWarning;
  private readonly refuseWarnings = new Map<string, RateLimitedWarning>();
  readonly maxFrameBytes: number;
  readonly log: InputContext['log'];
  private readonly gate: ReadGate;
  private stopping = false;
  private nextUnixPeer = 1;

  constructor(cfg: ForwardConfig, ctx: InputContext, tlsFiles: { cert: Buffer; key: Buffer } | undefined) {
    this.cfg = cfg;
    this.ctx = ctx;
    this.log = ctx.log;
    this.maxFrameBytes = cfg.buffer_max_size;
    this.batches = new StoredBatches(ctx);
    this.rejectWarning = new RateLimitedWarning(ctx.log);
    this.gate = new ReadGate(ctx.account, this.connections);
    const handshake = cfg.shared_key !== '' || cfg.empty_shared_key || cfg['security.users'].length > 0;
    this.security = handshake
      ? { sharedKey: cfg.shared_key, selfHostname: cfg.self_hostname, users: new Map(cfg['security.users'].map((u) => splitUser(u))) }
      : undefined;
    // Half-open: a client that closes its side right after its last frames still gets their acks (the connection ends once they are written).
    if (tlsFiles) {
      this.server = createTlsServer({ cert: tlsFiles.cert, key: tlsFiles.key, passphrase: cfg['tls.key_passwd'] || undefined, allowHalfOpen: true }, (s) => this.accept(s));
      // A client that fails the TLS handshake never becomes a connection: logged, nothing else.
      this.server.on('tlsClientError', (err: Error, s: TLSSocket) => ctx.log.debug({ peer: peerOf(s, 'tls'), err: err.message }, 'forward input: TLS handshake failed'));
    } else {
      this.server = createServer({ allowHalfOpen: true }, (s) => this.accept(s));
    }
    this.server.on('error', (err) => ctx.log.error({ err: err.message }, 'forward input: server error'));
  }

  async start(): Promise<void> {
    const mode = { tls: this.cfg.tls, shared_key: this.security !== undefined, users: this.security?.users.size ?? 0 };
    if (this.cfg.unix_path) {
      await listenUnix(this.server, this.ctx.name, this.cfg.unix_path);
      if (this.cfg.unix_perm) chmodSync(this.cfg.unix_path, parseInt(this.cfg.unix_perm, 8));
      this.ctx.log.info({ unix_path: this.cfg.unix_path, ...mode }, 'forward input listening');
      return;
    }
    const port = await listen(this.server, this.ctx.name, 'forward', this.cfg.listen, this.cfg.port);
    this.ctx.log.info({ listen: this.cfg.listen, port, ...mode }, 'forward input listening');
  }

  private accept(socket: Socket): void {
    if (this.stopping) return void socket.destroy();
    const peer = this.cfg.unix_path ? `unix://${this.cfg.unix_path}#${this.nextUnixPeer++}` : peerOf(socket, this.cfg.tls ? 'tls' : 'tcp');
    const conn = new ForwardConnection(socket, peer, this, this.security ? new ServerHandshake(this.security) : undefined);
    this.connections.add(conn);
    this.ctx.metrics.inputConnections.inc({ name: this.ctx.name });
    this.ctx.log.debug({ peer }, 'forward connection accepted');
    this.gate.admit(conn);
    void conn.closed.then(() => {
      this.connections.delete(conn);
      this.ctx.metrics.inputConnections.dec({ name: this.ctx.name });
    });
  }

  take(frame: EventsFrame, conn: ForwardConnection, offset: number, start: number): Promise<void> {
    const name = { name: this.ctx.name };
    for (const r of frame.rejected) {
      this.ctx.metrics.inputRejected.inc({ name: this.ctx.name, reason: r.reason });
      const where = frame.inflated ? { offset, inflated_offset: r.at } : { offset: offset + (r.at - start) };
      this.rejectWarning.warn({ peer: conn.peer, ...where, reason: r.reason, err: r.error }, 'forward input dropped a record');
    }
    if (frame.events.length === 0) return Promise.resolve();
    const bytes = writeEvents(this.batches.writer(this.tagOf(frame.tag)), frame.src, frame.events);
    this.ctx.metrics.inputRecords.inc(name, frame.events.length);
    this.ctx.metrics.inputBytes.inc(name, bytes);
    return this.batches.stored();
  }

  /** tag_prefix + the client's tag; else the configured tag; else the client's (the input's tag if it is empty). */
  private tagOf(incoming: string): string {
    if (this.cfg.tag_prefix) return this.cfg.tag_prefix + incoming;
    if (this.ctx.tagConfigured) return this.ctx.tag;
    return incoming || this.ctx.tag;
  }

  refused(conn: ForwardConnection, reason: CloseReason, error: string, fields: object): void {
    this.ctx.metrics.inputConnectionErrors.inc({ name: this.ctx.name, reason });
    let w = this.refuseWarnings.get(reason);
    if (!w) this.refuseWarnings.set(reason, (w = new RateLimitedWarning(this.ctx.log)));
    const msg = reason === 'auth_failed' || reason === 'handshake' ? 'forward input refused a client' : 'forward input closed a connection';
    w.warn({ peer: conn.peer, reason, ...fields, err: error }, msg);
  }

  /** After a connection's data was stored: backpressure may stop reading. */
  afterData(): void {
    this.gate.check();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.gate.stop();
    this.server.close();
    let dropped = 0;
    for (const c of this.connections) dropped += c.drainAndClose();
    if (dropped) this.ctx.log.warn({ bytes: dropped }, 'forward input stopped with clients in the middle of frames; those frames are not stored nor acknowledged (clients that wait for acks send them again)');
    // Frames written so far are stored now, and their acks go out.
    this.batches.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.connections].map((c) => c.closed)),
      new Promise<void>((r) => (timer = setTimeout(r, STOP_WAIT_MS))),
    ]);
    clearTimeout(timer);
    for (const c of this.connections) c.socket.destroy();
  }
}

function peerOf(s: Socket, scheme: string): string {
  return `${scheme}://${s.remoteFamily === 'IPv6' ? `[${s.remoteAddress}]` : s.remoteAddress}:${s.remotePort}`;
}

/** "USER PASSWORD" (Fluent Bit's security.users) as a pair. */
function splitUser(u: string): [string, string] {
  const m = /^\s*(\S+)\s+(.*?)\s*$/.exec(u);
  return [m![1]!, m![2]!];
}

/**
 * Listens on a unix socket. A socket file left by a process that is gone
 * (nothing answers on it) is removed first; one that answers is in use.
 */
async function listenUnix(server: Server, input: string, path: string): Promise<void> {
  const fail = (why: string) => new InputStartError(`input ${input} (forward) cannot listen on ${path}: ${why}`, 'unix_path');
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket()) throw fail('the path exists and is not a socket');
    const alive = await new Promise<boolean>((resolve) => {
      const c = createConnection(path);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (alive) throw fail('another process listens on it');
    unlinkSync(path);
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(fail(`${err.code ?? ''} ${err.message}`.trim()));
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function readPem(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${key}: cannot read ${file}: ${(err as Error).message}`);
  }
}

export const forward: InputKind = {
  description: 'Events over the Fluentd Forward protocol (Fluentd, Fluent Bit, fluent-logger clients), with acks, shared-key handshake and TLS',
  spec: {
    listen: { type: 'string', default: '0.0.0.0', description: 'Address to listen on' },
    port: { type: 'int', default: 24224, min: 0, description: 'TCP port to listen on (0: any free port, logged)' },
    tag_prefix: { type: 'string', default: '', description: 'Prefix put before the tag each client sends' },
    unix_path: { type: 'string', default: '', description: 'Listen on this unix socket instead of TCP' },
    unix_perm: { type: 'string', default: '', description: 'Permissions of the unix socket, in octal (0660); default: as the umask leaves them' },
    buffer_chunk_size: { type: 'size', default: 1024000, min: 1, description: 'Accepted for Fluent Bit configs; sluice reads frames as they come, up to buffer_max_size' },
    buffer_max_size: { type: 'size', default: 6144000, min: 1024, description: 'Largest frame (and largest inflated CompressedPackedForward entries); a larger one closes its connection' },
    shared_key: { type: 'string', default: '', secret: true, description: 'If set, clients must pass the handshake (HELO/PING/PONG) with this key' },
    empty_shared_key: { type: 'bool', default: false, description: 'Require the handshake with an empty shared key' },
    self_hostname: { type: 'string', default: 'localhost', description: 'This server\'s hostname in the handshake' },
    'security.users': { type: 'string', secret: true, description: '"USER PASSWORD": a client must also give one of these (repeat the key, or give a list)' },
    tls: { type: 'bool', default: false, description: 'Accept TLS connections only' },
    'tls.crt_file': { type: 'string', default: '', description: 'Server certificate (PEM), with tls on' },
    'tls.key_file': { type: 'string', default: '', description: 'Server private key (PEM), with tls on' },
    'tls.key_passwd': { type: 'string', default: '', secret: true, description: 'Password of tls.key_file, if it is encrypted' },
  },
  repeatable: ['security.users'],
  create(cfg, ctx) {
    // The loader gives repeatable keys as a list; anything else may give one value or none.
    const users: unknown = cfg['security.users'];
    const c = { ...cfg, 'security.users': users === undefined ? [] : Array.isArray(users) ? users.map(String) : [String(users)] } as ForwardConfig;
    if (c.port > 65535) throw new Error(`port: must be at most 65535, got ${c.port}`);
    for (const u of c['security.users']) if (!/^\s*\S+\s+\S/.test(u)) throw new Error('security.users: each must be "USER PASSWORD"');
    if (c['security.users'].length && !c.shared_key && !c.empty_shared_key) throw new Error('security.users: needs shared_key (or empty_shared_key: true): users are checked in the shared-key handshake');
    if (c.unix_perm && !/^[0-7]{3,4}$/.test(c.unix_perm)) throw new Error(`unix_perm: must be octal permissions such as 0660, got ${JSON.stringify(c.unix_perm)}`);
    if (c.buffer_chunk_size > c.buffer_max_size) throw new Error(`buffer_chunk_size: must not be larger than buffer_max_size (${c.buffer_max_size})`);
    let tlsFiles: { cert: Buffer; key: Buffer } | undefined;
    if (c.tls) {
      if (!c['tls.crt_file']) throw new Error('tls.crt_file: required with tls on');
      if (!c['tls.key_file']) throw new Error('tls.key_file: required with tls on');
      tlsFiles = { cert: readPem('tls.crt_file', c['tls.crt_file']), key: readPem('tls.key_file', c['tls.key_file']) };
    }
    return new ForwardInput(c, ctx, tlsFiles);
  },
};

// tcp: records over plain TCP connections, as Fluent Bit's in_tcp: JSON
// objects (one or more per line) or, with format none, raw text cut at a
// separator. While the input is paused by backpressure, no socket is read:
// the kernel's buffers fill and TCP flow control stalls the senders, so
// nothing is dropped for lack of room.
import { createServer, type Server, type Socket } from 'node:net';
import { EventTime, encodeEvent } from '../../../sdk/src/codec/events.ts';
import type { ChunkWriter } from '../../storage/store.ts';
import type { Input, InputContext, InputKind } from '../input.ts';
import { isRecord, parseJsonValues, type Record } from '../net/json-records.ts';
import { listen } from '../net/listen.ts';
import { RateLimitedWarning } from '../net/rate-limited.ts';
import { ReadGate } from '../net/read-gate.ts';
import { Framer } from './framer.ts';

interface TcpConfig {
  listen: string;
  port: number;
  format: 'json' | 'none';
  separator: string;
  buffer_size: number;
  source_address_key: string;
}

type Rejection = 'invalid_json' | 'not_an_object' | 'too_long';

export class TcpInput implements Input {
  private readonly cfg: TcpConfig;
  private readonly ctx: InputContext;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly framers = new Map<Socket, Framer>();
  private readonly rejectWarning: RateLimitedWarning;
  private readonly separator: Buffer;
  private writer: ChunkWriter | undefined;
  private readonly gate: ReadGate;
  private stopping = false;

  constructor(cfg: TcpConfig, ctx: InputContext) {
    this.cfg = cfg;
    this.ctx = ctx;
    // JSON needs no separator of its own: records end at newlines.
    this.separator = cfg.format === 'json' ? Buffer.from('\n') : Buffer.from(cfg.separator);
    this.rejectWarning = new RateLimitedWarning(ctx.log);
    this.gate = new ReadGate(ctx.account, this.sockets);
    this.server = createServer((socket) => this.accept(socket));
  }

  async start(): Promise<void> {
    this.writer = this.ctx.store.writer(this.ctx.account, this.ctx.tag);
    const port = await listen(this.server, this.ctx.name, 'tcp', this.cfg.listen, this.cfg.port);
    this.ctx.log.info({ listen: this.cfg.listen, port, format: this.cfg.format }, 'tcp input listening');
  }

  private accept(socket: Socket): void {
    if (this.stopping) return void socket.destroy();
    const peer = `tcp://${socket.remoteFamily === 'IPv6' ? `[${socket.remoteAddress}]` : socket.remoteAddress}:${socket.remotePort}`;
    const framer = new Framer(this.separator, this.cfg.buffer_size, {
      record: (buf, start, end, offset, index) => this.record(buf, start, end, offset, index, peer),
      tooLong: (offset, index) => this.reject('too_long', peer, offset, index, `longer than buffer_size (${this.cfg.buffer_size} bytes); skipped to the next ${this.cfg.format === 'json' ? 'newline' : 'separator'}`),
    });
    this.sockets.add(socket);
    this.framers.set(socket, framer);
    this.ctx.metrics.inputConnections.inc({ name: this.ctx.name });
    this.ctx.log.debug({ peer }, 'tcp connection accepted');
    this.gate.admit(socket);
    socket.on('data', (data: Buffer) => {
      framer.push(data);
      this.gate.check();
    });
    socket.on('end', () => {
      framer.end();
      this.gate.check();
    });
    // One connection's failure (reset, timeout) is its own: logged, and the others go on.
    socket.on('error', (err) => this.ctx.log.debug({ peer, err: err.message }, 'tcp connection error'));
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.framers.delete(socket);
      this.ctx.metrics.inputConnections.dec({ name: this.ctx.name });
    });
  }

  private record(buf: Buffer, start: number, end: number, offset: number, index: number, peer: string): void {
    if (this.cfg.format === 'none') {
      // As tail does: a line ending \r\n loses its \r too.
      if (this.cfg.separator === '\n' && end > start && buf[end - 1] === 0x0d) end--;
      if (end > start) this.write({ log: buf.toString('utf8', start, end) }, peer);
      return;
    }
    const { values, problem } = parseJsonValues(buf, start, end);
    for (const v of values) {
      const records = isRecord(v) ? [v] : Array.isArray(v) && v.every(isRecord) ? v : undefined;
      if (records) for (const r of records) this.write(r, peer);
      else this.reject('not_an_object', peer, offset, index, `a JSON ${Array.isArray(v) ? 'array with an element that is not an object' : v === null ? 'null' : typeof v}, not an object`);
    }
    if (problem) this.reject('invalid_json', peer, offset + (problem.at - start), index, `${problem.error}; the rest of the line is dropped`);
  }

  private write(body: Record, peer: string): void {
    if (this.cfg.source_address_key) body[this.cfg.source_address_key] = peer;
    const event = encodeEvent(body, EventTime.now());
    this.writer!.appendEncoded(event);
    this.ctx.metrics.inputRecords.inc({ name: this.ctx.name });
    this.ctx.metrics.inputBytes.inc({ name: this.ctx.name }, event.length);
  }

  private reject(reason: Rejection, peer: string, offset: number, line: number, error: string): void {
    this.ctx.metrics.inputRejected.inc({ name: this.ctx.name, reason });
    this.rejectWarning.warn({ peer, offset, line, reason, err: error }, 'tcp input dropped a record');
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.gate.stop();
    this.server.close();
    let dropped = 0;
    for (const s of this.sockets) {
      // Data already read from the socket but not yet handed over (a paused
      // socket buffers some) is still taken; an unfinished last record is not.
      const framer = this.framers.get(s)!;
      // read() also emits 'data': without this the framer would take each buffer twice.
      s.removeAllListeners('data');
      for (let data: Buffer | null; (data = s.read() as Buffer | null) !== null; ) framer.push(data);
      dropped += framer.discard();
      s.destroy();
    }
    if (dropped) this.ctx.log.warn({ bytes: dropped }, 'tcp input stopped with senders in the middle of records; those partial records are dropped');
    if (this.writer) this.ctx.store.dropWriter(this.writer);
  }
}

/** Fluent Bit's sizes for in_tcp: a bare number is in KB; "64K", "1M" as anywhere else. */
export function parseKb(v: unknown): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$/i.exec(String(v));
  if (!m) return undefined;
  const unit = { '': 1024, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()]!;
  return Math.floor(Number(m[1]) * unit);
}

/** The separator as written in a config: \n, \r, \t, \0 and \\ are the characters they name. */
export function unescapeSeparator(s: string): string {
  return s.replace(/\\([nrt0\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '0': '\0', '\\': '\\' })[c]!);
}

export const tcp: InputKind = {
  description: 'Records over TCP: JSON objects, or raw text cut at a separator',
  spec: {
    listen: { type: 'string', default: '0.0.0.0', description: 'Address to listen on' },
    port: { type: 'int', default: 5170, min: 0, description: 'TCP port to listen on (0: any free port, logged)' },
    format: { type: 'string', default: 'json', oneOf: ['json', 'none'], description: 'json: JSON objects, one or more per line; none: each piece of text between separators is {"log": text}' },
    separator: { type: 'string', default: '\\n', description: 'With format none: the string that ends a record (\\n, \\r, \\t, \\0 and \\\\ are escapes)' },
    chunk_size: { type: 'any', default: 32, description: 'Fluent Bit\'s allocation step; here only the default of buffer_size. A bare number is in KB' },
    buffer_size: { type: 'any', description: 'Longest record; a longer one is skipped and counted. A bare number is in KB (default: chunk_size)' },
    source_address_key: { type: 'string', default: '', description: 'If set, a body key that holds the sender\'s address, tcp://ADDRESS:PORT' },
  },
  create(cfg, ctx) {
    const chunk = parseKb(cfg.chunk_size);
    if (!chunk) throw new Error(`chunk_size: must be a size in KB (32) or like "64K", "1M", got ${JSON.stringify(cfg.chunk_size)}`);
    const buffer = cfg.buffer_size === undefined ? chunk : parseKb(cfg.buffer_size);
    if (!buffer) throw new Error(`buffer_size: must be a size in KB (64) or like "64K", "1M", got ${JSON.stringify(cfg.buffer_size)}`);
    if (cfg.port > 65535) throw new Error(`port: must be at most 65535, got ${cfg.port}`);
    const separator = unescapeSeparator(cfg.separator);
    if (!separator) throw new Error('separator: must not be empty');
    return new TcpInput({ ...(cfg as TcpConfig), separator, buffer_size: buffer }, ctx);
  },
};

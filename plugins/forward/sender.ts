// Delivery of chunks to one receiver, each chunk one frame, with an answer
// per chunk: OK when the receiver acknowledged it (require_ack_response) or
// it was written to the socket (without), RETRY or ERROR with why not.
//
// Connections are opened lazily, by the first chunk that needs one, and
// kept: chunks in flight at once share one connection, their acks matched
// by id. A connection that breaks fails the chunks on it (RETRY); the next
// chunk opens a new one. A receiver that answers its HELO with keepalive
// false gets one connection per chunk (the others open their own meanwhile).
import type { Logger } from 'pino';
import { EventDecodeError, error, Histogram, ok, retry, type Chunk, type FlushAnswer, type MetricSample } from '../../sdk/src/index.ts';
import { Connection } from './connection.ts';
import { SendError, type ErrorKind } from './errors.ts';
import { buildFrame, type Frame } from './frame.ts';
import type { Settings } from './options.ts';

/** How many times one chunk looks for a connection that takes it (a single-use one may be claimed by another chunk first). */
const CLAIM_TRIES = 8;

export class ForwardSender {
  private readonly s: Settings;
  private readonly log: Logger;
  private current: Connection | undefined;
  private readonly connections = new Set<Connection>();
  private readonly sends = new Set<Promise<FlushAnswer>>();
  private stopping = false;
  /** Whether the last outcome was a delivery: failures are logged when they begin, not for every chunk. */
  private delivering: boolean | undefined;
  private lastFatal = '';
  private readonly stats = {
    chunks: 0,
    records: 0,
    bytes: 0,
    acks: 0,
    unmatchedAcks: 0,
    connects: 0,
    errors: new Map<ErrorKind, number>(),
  };
  private readonly latency = new Histogram('forward_ack_latency_seconds', 'From writing a chunk to its ack (without require_ack_response: to its last byte written)', [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

  constructor(settings: Settings, log: Logger) {
    this.s = settings;
    this.log = log;
  }

  flush(chunk: Chunk): Promise<FlushAnswer> {
    const p = this.deliver(chunk);
    this.sends.add(p);
    void p.finally(() => this.sends.delete(p)).catch(() => undefined);
    return p;
  }

  private async deliver(chunk: Chunk): Promise<FlushAnswer> {
    if (this.stopping) return retry('the forward plugin is stopping');
    // Nothing to send: an empty PackedForward only puzzles receivers.
    if (chunk.data.length === 0) return ok();
    let frame: Frame;
    try {
      frame = await buildFrame(this.s.tag ?? chunk.tag, chunk.data, this.s);
    } catch (err) {
      // A chunk that does not decode will not decode next time either.
      if (err instanceof EventDecodeError) return this.failed(new SendError('encode', `cannot read the chunk: ${err.message}`, true), chunk);
      throw err;
    }
    if (frame.records === 0) return ok();
    try {
      const conn = await this.connection();
      const ms = await conn.send(frame);
      this.delivered(frame, ms);
      return ok();
    } catch (err) {
      if (!(err instanceof SendError)) throw err;
      return this.failed(err, chunk);
    }
  }

  /** A connection that takes one more frame: the current one, or a new one. Rejects with why none can be had. */
  private async connection(): Promise<Connection> {
    for (let i = 0; i < CLAIM_TRIES; i++) {
      let c = this.current;
      if (!c || !c.open) c = this.open();
      await c.ready;
      if (c.takes()) return c;
      if (this.current === c) this.current = undefined;
    }
    throw new SendError('io', `no connection to ${this.s.target} took the chunk after ${CLAIM_TRIES} tries (the receiver closes each one at once?)`);
  }

  private open(): Connection {
    const c = new Connection(this.s, this.log, { unmatchedAck: (id) => this.unmatchedAck(id), failed: (err, inFlight) => this.connectionFailed(err, inFlight) });
    this.current = c;
    this.connections.add(c);
    void c.ready.then(() => this.stats.connects++, () => undefined);
    void c.closed.then(() => {
      this.connections.delete(c);
      if (this.current === c) this.current = undefined;
    });
    return c;
  }

  /**
   * A connection failed for a reason only a config change fixes, with no
   * chunk in flight to carry the ERROR: say it here. (Without acks, chunks
   * written before such a receiver refused the connection were answered OK
   * and are lost: docs/forward.md.)
   */
  private connectionFailed(err: SendError, inFlight: number): void {
    if (!err.fatal || inFlight > 0 || err.message === this.lastFatal) return;
    this.lastFatal = err.message;
    const lost = this.s.requireAck ? '' : '; without require_ack_response, chunks written on it before were answered OK and may be lost';
    this.log.error({ target: this.s.target, kind: err.kind, err: err.message }, `forward: the receiver refused the connection${lost}`);
  }

  private unmatchedAck(id: string): void {
    this.stats.unmatchedAcks++;
    this.log.debug({ ack: id }, 'forward: an ack for no chunk in flight (a chunk already answered); ignored');
  }

  private delivered(frame: Frame, ms: number): void {
    this.stats.chunks++;
    this.stats.records += frame.records;
    this.stats.bytes += frame.bytes;
    if (this.s.requireAck) this.stats.acks++;
    this.latency.observe(ms / 1000);
    if (this.delivering === false) this.log.info({ target: this.s.target }, 'forward: delivering to the receiver again');
    this.delivering = true;
    this.lastFatal = '';
  }

  private failed(err: SendError, chunk: Chunk): FlushAnswer {
    this.stats.errors.set(err.kind, (this.stats.errors.get(err.kind) ?? 0) + 1);
    if (err.fatal) {
      if (err.message !== this.lastFatal) this.log.error({ target: this.s.target, kind: err.kind, chunk: chunk.id, err: err.message }, 'forward: the receiver cannot take chunks until the config changes; they are answered ERROR');
      this.lastFatal = err.message;
      this.delivering = false;
      return error(err.message);
    }
    if (this.delivering !== false && !this.stopping) this.log.warn({ target: this.s.target, kind: err.kind, err: err.message }, 'forward: cannot deliver to the receiver; chunks are answered RETRY until it takes them');
    this.delivering = false;
    return retry(err.message);
  }

  /** Resolves once every chunk handed to flush is answered (acked, written, or failed). */
  async drain(): Promise<void> {
    while (this.sends.size) await Promise.allSettled([...this.sends]);
  }

  /** Takes no more chunks and closes the connections: gently once nothing is in flight on them, else at once. */
  async close(): Promise<void> {
    this.stopping = true;
    for (const c of this.connections) {
      if (c.inFlight) c.destroy(`the forward plugin is stopping with chunks in flight to ${this.s.target}`);
      else c.close();
    }
    await Promise.all([...this.connections].map((c) => c.closed));
  }

  metrics(): MetricSample[] {
    const s = this.stats;
    const inFlight = [...this.connections].reduce((n, c) => n + c.inFlight, 0);
    return [
      { name: 'forward_chunks_total', help: 'Chunks delivered: acknowledged (require_ack_response) or written to the socket', value: s.chunks },
      { name: 'forward_records_total', help: 'Events in the chunks delivered', value: s.records },
      { name: 'forward_bytes_total', help: 'Bytes of the frames delivered (compressed, with compress gzip)', value: s.bytes },
      { name: 'forward_acks_total', help: 'Acks received that matched a chunk in flight', value: s.acks },
      { name: 'forward_unmatched_acks_total', help: 'Acks that matched no chunk in flight', value: s.unmatchedAcks },
      { name: 'forward_connects_total', help: 'Connections opened (handshake done)', value: s.connects },
      { name: 'forward_connections', help: 'Connections open or opening', type: 'gauge', value: this.connections.size },
      { name: 'forward_in_flight_chunks', help: 'Chunks written and waiting for their ack (or for their write to end)', type: 'gauge', value: inFlight },
      ...[...s.errors].map(([kind, value]) => ({ name: 'forward_errors_total', help: 'Chunks not delivered, by cause', value, labels: { kind } })),
      ...this.latency.samples(),
    ];
  }
}

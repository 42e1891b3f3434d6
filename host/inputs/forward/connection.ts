// One client connection of the forward input: the handshake when a shared
// key is set, then frames, each stored and, when it carries option.chunk,
// acknowledged ({ack: chunk}) once its events are stored, in the order the
// frames came. A frame that cannot be read ends the connection: the
// frames before it are still stored and acknowledged (their acks are sent
// before the connection is closed), nothing of it or after it is, so the
// client sends those again.
import type { Socket } from 'node:net';
import { Packr } from 'msgpackr';
import { ForwardDecoder, type EventsFrame } from './decoder.ts';
import type { ServerHandshake } from './handshake.ts';

export type { EventsFrame };

export type CloseReason = 'malformed' | 'too_large' | 'bad_gzip' | 'unsupported' | 'auth_failed' | 'handshake';

/** What a connection needs from its input. */
export interface ConnectionOwner {
  readonly maxFrameBytes: number;
  /**
   * Writes the frame's events into chunks now (frame.src is only valid
   * during the call); resolves once they are stored. `offset` is the
   * frame's byte offset in the connection's stream, `start` where it
   * begins in its buffer.
   */
  take(frame: EventsFrame, conn: ForwardConnection, offset: number, start: number): Promise<void>;
  /** The connection is closed for a problem of what the peer sent: count and log it. */
  refused(conn: ForwardConnection, reason: CloseReason, error: string, fields: object): void;
  /** After data was handled: pause every connection if the input must stop reading. */
  afterData(): void;
  log: { debug(o: object, m: string): void; info(o: object, m: string): void; error(o: object, m: string): void };
}

/** How long a client has to answer the HELO with its PING. */
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** After the last ack is written, how long the peer has to take it before the connection is cut. */
const CLOSE_WAIT_MS = 5_000;

const packr = new Packr({ useRecords: false });

export class ForwardConnection {
  readonly socket: Socket;
  readonly peer: string;
  private readonly owner: ConnectionOwner;
  private readonly reader: ForwardDecoder;
  private handshake: ServerHandshake | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** Acks written in frame order: each waits for the one before it. */
  private acks: Promise<void> = Promise.resolve();
  private closing = false;
  readonly closed: Promise<void>;

  constructor(socket: Socket, peer: string, owner: ConnectionOwner, handshake: ServerHandshake | undefined) {
    this.socket = socket;
    this.peer = peer;
    this.owner = owner;
    this.handshake = handshake;
    this.reader = new ForwardDecoder(owner.maxFrameBytes, {
      events: (frame, offset, start) => this.frame(frame, offset, start),
      error: (reason, offset, error) => this.refuse(reason, error, { offset }),
    });
    if (handshake) this.reader.intercept = (buf, start, end, offset) => this.ping(buf, start, end, offset);
    this.closed = new Promise((r) => socket.once('close', () => r()));
    socket.on('data', (data: Buffer) => {
      // Closing: what comes is read and dropped, so the peer is not reset before it has its acks.
      if (this.closing) return;
      this.reader.push(data);
      this.owner.afterData();
    });
    socket.on('end', () => {
      if (!this.closing && this.reader.pending > 0) {
        owner.log.debug({ peer, bytes: this.reader.pending }, 'forward client closed its side in the middle of a frame; that frame is not stored (nor acknowledged)');
      }
      this.close();
    });
    // One connection's failure (reset, TLS error) is its own.
    socket.on('error', (err) => owner.log.debug({ peer, err: err.message }, 'forward connection error'));
    socket.once('close', () => clearTimeout(this.handshakeTimer));
    if (handshake) {
      socket.write(handshake.helo());
      this.handshakeTimer = setTimeout(() => this.refuse('handshake', `no PING within ${HANDSHAKE_TIMEOUT_MS / 1000} s of the HELO`, {}), HANDSHAKE_TIMEOUT_MS);
      this.handshakeTimer.unref();
    }
  }

  /** Stops reading (backpressure): the peer's writes block once the kernel's buffers are full. */
  pause(): void {
    if (!this.closing) this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  private frame(f: EventsFrame, offset: number, start: number): boolean {
    let stored: Promise<void>;
    try {
      stored = this.owner.take(f, this, offset, start);
    } catch (err) {
      // A filter that throws as a chunk is sealed: nothing of the frame is acknowledged.
      this.owner.log.error({ peer: this.peer, offset, err: (err as Error).message }, 'forward input could not store a frame; the connection is closed without acknowledging it');
      this.close();
      return false;
    }
    const chunk = f.chunk instanceof Uint8Array ? Buffer.from(f.chunk) : f.chunk;
    const previous = this.acks;
    this.acks = stored.then(
      async () => {
        await previous;
        if (chunk !== undefined) this.write(packr.pack({ ack: chunk }));
      },
      (err: Error) => {
        this.owner.log.error({ peer: this.peer, offset, err: err.message }, 'forward input could not store a frame; the connection is closed without acknowledging it');
        this.close();
      },
    );
    return true;
  }

  private ping(buf: Buffer, start: number, end: number, offset: number): boolean {
    const r = this.handshake!.ping(buf, start, end);
    clearTimeout(this.handshakeTimer);
    if (r.pong) this.write(r.pong);
    if (!r.ok) {
      this.refuse(r.reason, r.error, { offset, ...(r.hostname !== undefined ? { hostname: r.hostname } : {}), ...(r.username ? { username: r.username } : {}) });
      return false;
    }
    this.handshake = undefined;
    this.reader.intercept = undefined;
    this.owner.log.debug({ peer: this.peer, hostname: r.hostname, ...(r.username ? { username: r.username } : {}) }, 'forward client authenticated');
    return true;
  }

  private write(bytes: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  private refuse(reason: CloseReason, error: string, fields: object): void {
    this.owner.refused(this, reason, error, fields);
    this.close();
  }

  /**
   * Reads no more frames; once the acks of the frames taken are written,
   * ends the connection (and cuts it if the peer does not close its side
   * soon after).
   */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.reader.close();
    clearTimeout(this.handshakeTimer);
    // Paused by backpressure or not: what comes now is read and dropped.
    this.socket.resume();
    void this.acks.then(() => {
      if (this.socket.destroyed) return;
      this.socket.end();
      setTimeout(() => this.socket.destroy(), CLOSE_WAIT_MS).unref();
    });
  }

  /**
   * For a stop: takes the frames of what Node has read from the socket
   * already (a paused socket holds some), then closes. Returns the bytes of
   * an unfinished frame that are dropped.
   */
  drainAndClose(): number {
    if (!this.closing) {
      // read() hands what it returns to the 'data' listener too: that is what takes it.
      while (!this.reader.closed && this.socket.read() !== null);
    }
    const dropped = this.closing ? 0 : this.reader.pending;
    this.close();
    return dropped;
  }
}

// What the receiver sends back, read from its byte stream as whole
// MessagePack values: HELO and PONG in the handshake, then {ack: id} maps.
// A value may arrive in pieces; what is left of one waits for the next bytes.
import { Unpackr } from 'msgpackr';

/** The receiver sends small messages only; more than this buffered without a whole value is not a Forward server. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

// copyBuffers: a bin value (a nonce) must not point into the buffer kept between reads.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true, int64AsType: 'number' });

export class ProtocolError extends Error {}

export class MessageReader {
  private rest: Buffer = Buffer.alloc(0);

  /** Every whole value now readable; throws ProtocolError on bytes that are not MessagePack. */
  push(data: Buffer): unknown[] {
    const buf = this.rest.length ? Buffer.concat([this.rest, data]) : data;
    const out: unknown[] = [];
    let used = 0;
    try {
      unpackr.unpackMultiple(buf, (value: unknown, _start?: number, end?: number) => {
        out.push(value);
        used = end ?? buf.length;
      });
    } catch (err) {
      if (!(err as { incomplete?: boolean }).incomplete) throw new ProtocolError(`the receiver sent bytes that are not MessagePack (${(err as Error).message})`);
    }
    this.rest = used >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(used));
    if (this.rest.length > MAX_MESSAGE_BYTES) throw new ProtocolError(`the receiver sent ${this.rest.length} bytes without a whole message in them: is it a Forward server?`);
    return out;
  }
}

// Decoded frame events into a chunk, in the v2 shape [[EventTime, metadata],
// record]: the time written as EventTime (nanoseconds kept), the metadata
// and record bytes copied as they came (or as re-encoded by the frame
// decoder), with no generic encoder on the way.
import type { ChunkWriter } from '../../storage/store.ts';
import type { EventRef } from './frame.ts';

/** [[ ext 0 (10 bytes), metadata ], record]: two array headers and the time. */
const FIXED = 2 + 10;

/** Writes the events (from src) through the writer; returns the bytes written. */
export function writeEvents(writer: ChunkWriter, src: Buffer, events: readonly EventRef[]): number {
  let total = 0;
  for (const e of events) {
    const metaLen = e.meta ? e.meta.length : e.metaEnd > e.metaStart ? e.metaEnd - e.metaStart : 1;
    const recLen = e.record ? e.record.length : e.recEnd - e.recStart;
    const size = FIXED + metaLen + recLen;
    // reserve() may seal the previous chunk: the events before this one go with it.
    const c = writer.reserve(size);
    const buf = c.buf;
    let at = c.size;
    buf[at++] = 0x92;
    buf[at++] = 0x92;
    buf[at++] = 0xd7;
    buf[at++] = 0x00;
    buf.writeUInt32BE(e.sec >>> 0, at);
    buf.writeUInt32BE(e.nsec >>> 0, at + 4);
    at += 8;
    if (e.meta) at += e.meta.copy(buf, at);
    else if (e.metaEnd > e.metaStart) at += src.copy(buf, at, e.metaStart, e.metaEnd);
    else buf[at++] = 0x80;
    if (e.record) at += e.record.copy(buf, at);
    else at += src.copy(buf, at, e.recStart, e.recEnd);
    c.size = at;
    c.count++;
    writer.commit();
    total += size;
  }
  return total;
}

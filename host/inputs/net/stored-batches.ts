// Writes events of network inputs that answer their senders (http's 2xx,
// forward's ack) into chunks and says when they are stored, so a sender is
// answered only once its events would survive a crash (with filesystem
// storage: written to their chunk file).
//
// Requests (frames) whose events are written in the same turn of the event
// loop share a batch: its chunks are sealed together on the next turn
// (setImmediate), so under load many requests go into one chunk (and one
// file write), and a lone request waits for nothing but its own write,
// never for the flush interval.
import { EventTime, encodeEvent } from '../../../sdk/src/codec/events.ts';
import type { ChunkWriter } from '../../storage/store.ts';
import type { InputContext } from '../input.ts';
import type { Record } from './json-records.ts';

interface Batch {
  writers: Map<string, ChunkWriter>;
  waiters: { resolve: () => void; reject: (err: Error) => void }[];
}

export class StoredBatches {
  private readonly ctx: InputContext;
  private current: Batch | undefined;
  /**
   * The last batch's writers, for the next one: a busy tag's next chunk
   * starts at the size its last one had, where a new writer would start
   * small and grow by copying. Writers a batch does not use are dropped.
   */
  private kept = new Map<string, ChunkWriter>();

  constructor(ctx: InputContext) {
    this.ctx = ctx;
  }

  /** Writes one event per record (tagged by tagOf) now; resolves once every chunk holding them is stored. */
  store(records: Record[], tagOf: (r: Record) => string): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const time = EventTime.now();
    let bytes = 0;
    for (const r of records) {
      const event = encodeEvent(r, time);
      this.writer(tagOf(r)).appendEncoded(event);
      bytes += event.length;
    }
    this.ctx.metrics.inputRecords.inc({ name: this.ctx.name }, records.length);
    this.ctx.metrics.inputBytes.inc({ name: this.ctx.name }, bytes);
    return this.stored();
  }

  /** The current batch's writer for a tag: what is written through it is stored with the batch. Write now, not later. */
  writer(tag: string): ChunkWriter {
    const batch = (this.current ??= this.open());
    let w = batch.writers.get(tag);
    if (!w) {
      w = this.kept.get(tag);
      if (w) this.kept.delete(tag);
      else w = this.ctx.store.writer(this.ctx.account, tag);
      batch.writers.set(tag, w);
    }
    return w;
  }

  /** Resolves once every event written so far is stored: at once when no batch is open (each one is stored as it is sealed). */
  stored(): Promise<void> {
    const batch = this.current;
    if (!batch) return Promise.resolve();
    return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  private open(): Batch {
    setImmediate(() => this.flush());
    return { writers: new Map(), waiters: [] };
  }

  /** Seals the current batch's chunks now (stop() calls it through close(); otherwise the next turn of the event loop). */
  flush(): void {
    const batch = this.current;
    if (!batch) return;
    this.current = undefined;
    for (const w of this.kept.values()) this.ctx.store.dropWriter(w);
    this.kept = batch.writers;
    let left = batch.writers.size;
    const stored = () => {
      if (--left === 0) for (const w of batch.waiters) w.resolve();
    };
    if (left === 0) for (const w of batch.waiters) w.resolve();
    try {
      for (const w of batch.writers.values()) {
        // Earlier chunks of this writer (sealed when full, or by the flush
        // timer) were stored as they were sealed: ChunkStore.accept stores
        // before it returns. So the last chunk's onStored is the writer's.
        if (w.openEvents === 0) {
          stored();
          continue;
        }
        w.onStored = stored;
        try {
          w.seal();
        } finally {
          w.onStored = undefined;
        }
      }
    } catch (err) {
      // A filter that throws: the requests are told, not left waiting.
      for (const w of batch.waiters) w.reject(err as Error);
    }
  }

  /** At a stop: seals the current batch (its requests get their answers) and lets go of every writer. */
  close(): void {
    this.flush();
    for (const w of this.kept.values()) this.ctx.store.dropWriter(w);
    this.kept.clear();
  }
}

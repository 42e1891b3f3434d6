// Chunks held in process memory, bounded per input by mem_buf_limit: over
// the limit the input is paused (backpressure), never dropped.
import { CHUNK_TARGET_BYTES, OpenChunk, type Chunk } from './chunk.ts';

/** Room kept at the end of a chunk buffer so the record that crosses the target still fits. */
const SLACK_BYTES = 64 * 1024;

export class InputAccount {
  readonly name: string;
  readonly limit: number;
  bytes = 0;
  chunks = 0;
  paused = false;
  private waiters: (() => void)[] = [];
  constructor(name: string, limit: number) {
    this.name = name;
    this.limit = limit;
  }
  /** Resolves at once unless the input is over its limit. */
  whenWritable(): Promise<void> | undefined {
    if (!this.paused) return undefined;
    return new Promise((r) => this.waiters.push(r));
  }
  add(bytes: number, onPause: () => void): void {
    this.bytes += bytes;
    this.chunks++;
    if (!this.paused && this.limit > 0 && this.bytes >= this.limit) {
      this.paused = true;
      onPause();
    }
  }
  remove(bytes: number, onResume: () => void): void {
    this.bytes -= bytes;
    this.chunks--;
    if (this.paused && this.bytes < this.limit) {
      this.paused = false;
      onResume();
      const w = this.waiters;
      this.waiters = [];
      for (const r of w) r();
    }
  }
}

export interface StoreEvents {
  sealed(chunk: Chunk): void;
  paused(input: string): void;
  resumed(input: string): void;
}

/** Writes one tag's events of one input into chunks. */
export class ChunkWriter {
  private readonly store: MemoryStore;
  readonly account: InputAccount;
  readonly tag: string;
  private open: OpenChunk | undefined;
  constructor(store: MemoryStore, account: InputAccount, tag: string) {
    this.store = store;
    this.account = account;
    this.tag = tag;
  }
  /** The open chunk, with at least `bytes` of room. */
  reserve(bytes: number): OpenChunk {
    const o = this.open;
    if (o && o.room() >= bytes) return o;
    if (o && o.count > 0) this.seal();
    const c = new OpenChunk(this.tag, Math.max(CHUNK_TARGET_BYTES + SLACK_BYTES, bytes));
    this.open = c;
    return c;
  }
  /** Call after writing: seals the chunk once it reached the target size. */
  commit(): void {
    if (this.open && this.open.size >= CHUNK_TARGET_BYTES) this.seal();
  }
  appendEncoded(bytes: Uint8Array, events = 1): void {
    this.reserve(bytes.length).appendBytes(bytes, events);
    this.commit();
  }
  seal(): void {
    const o = this.open;
    this.open = undefined;
    if (o && o.count > 0) this.store.accept(o.seal(this.account.name), this.account);
  }
  get openEvents(): number {
    return this.open?.count ?? 0;
  }
}

export class MemoryStore {
  private readonly events: StoreEvents;
  private readonly writers = new Set<ChunkWriter>();
  private readonly accounts = new Map<string, InputAccount>();
  private readonly owners = new Map<Chunk, InputAccount>();
  constructor(events: StoreEvents) {
    this.events = events;
  }
  account(input: string, memBufLimit: number): InputAccount {
    let a = this.accounts.get(input);
    if (!a) this.accounts.set(input, (a = new InputAccount(input, memBufLimit)));
    return a;
  }
  writer(account: InputAccount, tag: string): ChunkWriter {
    const w = new ChunkWriter(this, account, tag);
    this.writers.add(w);
    return w;
  }
  dropWriter(w: ChunkWriter): void {
    w.seal();
    this.writers.delete(w);
  }
  /** Seals every open chunk: the flush interval, and before shutdown. */
  sealAll(): void {
    for (const w of this.writers) w.seal();
  }
  accept(chunk: Chunk, account: InputAccount): void {
    this.owners.set(chunk, account);
    account.add(chunk.data.length, () => this.events.paused(account.name));
    this.events.sealed(chunk);
  }
  release(chunk: Chunk): void {
    const a = this.owners.get(chunk);
    if (!a) return;
    this.owners.delete(chunk);
    a.remove(chunk.data.length, () => this.events.resumed(a.name));
  }
  /** Sealed chunks not yet released, and events still in open chunks. */
  get held(): { chunks: number; bytes: number; openEvents: number } {
    let bytes = 0;
    for (const c of this.owners.keys()) bytes += c.data.length;
    let openEvents = 0;
    for (const w of this.writers) openEvents += w.openEvents;
    return { chunks: this.owners.size, bytes, openEvents };
  }
  get inputs(): InputAccount[] {
    return [...this.accounts.values()];
  }
}

// Where sealed chunks live until every output is done with them: in memory,
// or as files under storage.path. Bounds what inputs may hold and pauses
// them (backpressure); it never drops, and never stops an output from
// loading a chunk it must send: loading for delivery is always allowed, so
// retries cannot deadlock behind inputs (fluent-bit#8395).
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CHUNK_TARGET_BYTES, OpenChunk, chunkCrc, type Chunk } from '../engine/chunk.ts';
import { BufferPool } from './buffer-pool.ts';
import type { Logger } from '../log.ts';
import type { ChunkRef } from '../../sdk/src/protocol.ts';
import { CorruptChunkError, dataOffset, decodeChunkFile, readChunkData, writeChunkFile } from './chunk-file.ts';
import { DeliveryLog } from './delivery-log.ts';
import { RefFiles } from './ref-files.ts';

/** How many acknowledged chunks are released between rewrites of deliveries.log. */
const COMPACT_AFTER_RELEASES = 1000;

/** After a failed write of deliveries.log, how long before a whole rewrite is tried again. */
const DELIVERY_LOG_RETRY_MS = 1000;

/** Room kept at the end of a chunk buffer so the record that crosses the target still fits. */
const SLACK_BYTES = 64 * 1024;

export type StorageType = 'memory' | 'filesystem';
export type StorageWrite = 'chunk' | 'delivery_log';

export interface StoreOptions {
  /** storage.path; required when any input uses filesystem storage. */
  path: string | undefined;
  sync: 'normal' | 'full';
  checksum: boolean;
  maxChunksUp: number;
  /** storage.max_memory: bytes of chunks (open and sealed) held in memory by all inputs together. */
  maxMemory: number;
  /** The dead-letter directory: never loaded as backlog, even inside path. */
  rejectedPath?: string;
}

export interface StoreEvents {
  sealed(chunk: Chunk): void;
  paused(input: string, why: string): void;
  resumed(input: string): void;
  quarantined(file: string, reason: string): void;
  /** A write failed (disk full, ...); `first` is true for the first failure since writes last worked. */
  writeFailed(what: StorageWrite, file: string, reason: string, first: boolean): void;
  /** Writes of this kind work again after failures. */
  writeResumed(what: StorageWrite): void;
}

export class InputAccount {
  readonly name: string;
  storage: StorageType;
  memBufLimit: number;
  pauseOnChunksOverlimit: boolean;
  /** Bytes this input's chunks hold in memory: allocated buffers of its open chunks, and its sealed chunks that are up. */
  bytes = 0;
  /** This input's live chunks (memory and disk). */
  chunks = 0;
  paused = false;
  /** Emitters (rewrite_tag) this input's events were re-emitted into: this input pauses while one of them is over its limit. */
  readonly feeds = new Set<InputAccount>();
  private waiters: (() => void)[] = [];
  constructor(name: string, storage: StorageType, memBufLimit: number, pauseOnChunksOverlimit: boolean) {
    this.name = name;
    this.storage = storage;
    this.memBufLimit = memBufLimit;
    this.pauseOnChunksOverlimit = pauseOnChunksOverlimit;
  }
  /** undefined when the input may write now; else resolves when it may. */
  whenWritable(): Promise<void> | undefined {
    if (!this.paused) return undefined;
    return new Promise((r) => this.waiters.push(r));
  }
  resume(): void {
    this.paused = false;
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}

/** Where an open chunk's buffer starts: 1,000 quiet tags hold 4 MiB, not 2 GiB. */
const MIN_OPEN_BYTES = 4 * 1024;

/** The buffer of a full open chunk: the target, and room for the record that crosses it. */
const FULL_OPEN_BYTES = CHUNK_TARGET_BYTES + SLACK_BYTES;

/** Free full-size buffers kept for reuse: chunks are released about as fast as they are sealed. */
const POOLED_BUFFERS = 4;

/** Writes one tag's events of one input into chunks. */
export class ChunkWriter {
  private readonly store: ChunkStore;
  readonly account: InputAccount;
  readonly tag: string;
  private open: OpenChunk | undefined;
  /** Size of this writer's last chunk: a busy tag starts its next chunk at full size, a quiet one small. */
  private lastSize = 0;
  /** Called after a chunk of this writer is stored (written to disk, with filesystem storage). */
  onStored: ((chunk: Chunk) => void) | undefined;
  /** The input's parser and the filters of this tag, run on each chunk as it is sealed; none: the chunk is stored as written. */
  transform: ((chunk: Chunk) => Chunk) | undefined;
  constructor(store: ChunkStore, account: InputAccount, tag: string) {
    this.store = store;
    this.account = account;
    this.tag = tag;
  }
  /** The open chunk, with at least `bytes` of room. */
  reserve(bytes: number): OpenChunk {
    const o = this.open;
    if (o && o.room() >= bytes) return o;
    return this.makeRoom(bytes);
  }
  /**
   * Off the hot path: grows the open chunk geometrically up to the target
   * (copies add up to less than one chunk), or seals it and opens the next.
   * An open chunk never reaches its input's limit on its own: paused by its
   * own buffer, the input would wait for the flush timer, not for outputs.
   */
  private makeRoom(bytes: number): OpenChunk {
    const max = this.store.limit(this.account) - 1;
    let o = this.open;
    if (o && o.size + bytes <= FULL_OPEN_BYTES) {
      const from = o.buf.length;
      const to = Math.min(FULL_OPEN_BYTES, max, Math.max(from * 2, o.size + bytes));
      if (o.size + bytes <= to) {
        o.resize(to);
        this.store.openResized(this.account, to - from);
        return o;
      }
    }
    if (o) this.seal();
    const start = this.lastSize >= CHUNK_TARGET_BYTES / 2 ? FULL_OPEN_BYTES : Math.max(MIN_OPEN_BYTES, 2 ** Math.ceil(Math.log2(this.lastSize + 1)));
    o = this.open = new OpenChunk(this.tag, Math.max(bytes, Math.min(start, FULL_OPEN_BYTES, max)), this.store.buffers);
    this.store.openResized(this.account, o.buf.length);
    return o;
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
    if (!o) return;
    this.open = undefined;
    this.store.openResized(this.account, -o.buf.length);
    if (o.count === 0) return;
    this.lastSize = o.size;
    const sealed = o.seal(this.account.name);
    const chunk = this.transform ? this.transform(sealed) : sealed;
    this.store.accept(chunk, this.account, this.onStored);
  }
  get openEvents(): number {
    return this.open?.count ?? 0;
  }
  /** Bytes allocated for the open chunk. */
  get openBytes(): number {
    return this.open?.buf.length ?? 0;
  }
}

export class ChunkStore {
  private readonly events: StoreEvents;
  private readonly opts: StoreOptions;
  private readonly log: Logger;
  /** Full-size chunk buffers: taken by open chunks, given back when a chunk's data is dropped. */
  readonly buffers = new BufferPool(FULL_OPEN_BYTES, POOLED_BUFFERS);
  private readonly writers = new Set<ChunkWriter>();
  private readonly accounts = new Map<string, InputAccount>();
  /** Live chunks, oldest first. */
  private readonly live = new Map<Chunk, InputAccount>();
  private up = 0;
  /** Bytes held by every account: what storage.max_memory bounds. */
  private memBytes = 0;
  private readonly deliveries: DeliveryLog | undefined;
  /** Outputs that acknowledged a live filesystem chunk: what a compacted deliveries.log holds. */
  private readonly ackedBy = new Map<Chunk, Set<string>>();
  private releasedSinceCompaction = 0;
  /** Kinds of write failing now: logged once per outage, and deliveries.log is only rewritten whole until it works. */
  private readonly failing = new Set<StorageWrite>();
  private deliveryLogRetryAt = 0;
  /** Files of chunks without a chunk file, for plugins that take chunks by reference. */
  private readonly refFiles = new RefFiles();
  private refFilesFailing = false;
  quarantined = 0;

  constructor(opts: StoreOptions, events: StoreEvents, log: Logger) {
    this.opts = opts;
    this.events = events;
    this.log = log;
    for (const dir of RefFiles.removeStale()) log.info({ dir }, 'removed the chunk reference directory of a sluice process that is gone');
    if (opts.path) {
      mkdirSync(opts.path, { recursive: true });
      this.deliveries = new DeliveryLog(opts.path, opts.sync === 'full');
    }
  }

  account(input: string, storage: StorageType, memBufLimit: number, pauseOnChunksOverlimit: boolean): InputAccount {
    let a = this.accounts.get(input);
    if (!a) this.accounts.set(input, (a = new InputAccount(input, storage, memBufLimit, pauseOnChunksOverlimit)));
    // A reload may change an input's limits; its live chunks stay where they are.
    Object.assign(a, { storage, memBufLimit, pauseOnChunksOverlimit });
    if (storage === 'filesystem') mkdirSync(join(this.opts.path!, input), { recursive: true });
    return a;
  }

  /** Set by the pipeline: what runs on a writer's chunks as they are sealed (parsers, filters). */
  transformFor: ((account: InputAccount, tag: string) => ((chunk: Chunk) => Chunk) | undefined) | undefined;

  writer(account: InputAccount, tag: string): ChunkWriter {
    const w = new ChunkWriter(this, account, tag);
    w.transform = this.transformFor?.(account, tag);
    this.writers.add(w);
    return w;
  }

  /** An input that stops writing through w (after sealing it). */
  dropWriter(w: ChunkWriter): void {
    w.seal();
    this.writers.delete(w);
  }

  /** Seals every open chunk: the flush interval, and before shutdown. */
  sealAll(): void {
    for (const w of this.writers) w.seal();
  }

  accept(chunk: Chunk, account: InputAccount, onStored?: (chunk: Chunk) => void): void {
    if (account.storage === 'filesystem') {
      const file = join(this.opts.path!, account.name, `${chunk.id}.chunk`);
      try {
        writeChunkFile(file, { ...chunk, crc32: chunkCrc(chunk) }, chunk.data!, this.opts.sync === 'full');
        chunk.file = file;
        if (this.failing.delete('chunk')) {
          this.events.writeResumed('chunk');
          // Space is back: the delivery log need not wait for the next acknowledgement.
          if (this.failing.has('delivery_log')) this.rewriteDeliveries();
        }
      } catch (err) {
        // Not durable, but not lost: delivered from memory, and tail positions wait for its delivery.
        this.writeFailed('chunk', file, err);
      }
    }
    this.add(chunk, account);
    onStored?.(chunk);
    this.events.sealed(chunk);
    this.putDown(chunk);
    this.balance();
  }

  /**
   * A filesystem chunk's bytes stay in memory only while a send of them is
   * in flight: its file holds them, and reading them back costs less than
   * holding max_chunks_up chunks (256 MiB by default). Inputs with
   * storage.pause_on_chunks_overlimit keep theirs up to the bound, as in
   * Fluent Bit, so that they pause there.
   */
  private putDown(chunk: Chunk): void {
    if (!chunk.file || !chunk.data || chunk.busy > 0) return;
    const a = this.live.get(chunk);
    if (!a || a.pauseOnChunksOverlimit) return;
    this.buffers.give(chunk.data);
    chunk.data = undefined;
    this.hold(a, -chunk.size, -1);
  }

  private add(chunk: Chunk, account: InputAccount): void {
    this.live.set(chunk, account);
    account.chunks++;
    if (chunk.data) this.hold(account, chunk.size, 1);
  }

  private hold(a: InputAccount, bytes: number, chunks: number): void {
    a.bytes += bytes;
    this.memBytes += bytes;
    this.up += chunks;
  }

  /** The smaller of the input's mem_buf_limit and storage.max_memory: the bytes at which it is paused. */
  limit(a: InputAccount): number {
    return Math.min(a.storage === 'memory' && a.memBufLimit > 0 ? a.memBufLimit : Infinity, this.opts.maxMemory);
  }

  /** A writer allocated (or freed) bytes for an open chunk; an input that goes over a limit is paused at once. */
  openResized(a: InputAccount, delta: number): void {
    a.bytes += delta;
    this.memBytes += delta;
    if (delta > 0 && !a.paused && this.overLimit(a)) this.balance();
  }

  /** The chunk's events, read back from disk if the chunk is down. Never refused. */
  load(chunk: Chunk): Buffer {
    if (chunk.data) return chunk.data;
    const data = readChunkData(chunk.file!, chunk.size, this.buffers);
    chunk.data = data;
    const a = this.live.get(chunk);
    if (a) this.hold(a, chunk.size, 1);
    else this.up++;
    return data;
  }

  /**
   * Where a plugin on this machine can read the chunk's events: its chunk
   * file (never loaded for this), else a file written from memory into a
   * private tmpfs directory. Undefined when that cannot be written: send the
   * bytes. The file stays until the chunk is released.
   */
  ref(chunk: Chunk): ChunkRef | undefined {
    // A chunk file's CRC was worked out when it was written (or read from its header).
    if (chunk.file) return { path: resolve(chunk.file), offset: dataOffset(chunk.tag), length: chunk.size, crc32: chunk.crc32! };
    if (!chunk.data) return undefined;
    try {
      const path = this.refFiles.path(chunk.id, chunk.data);
      if (this.refFilesFailing) {
        this.refFilesFailing = false;
        this.log.info('chunk reference files can be written again; local plugins get chunks by reference');
      }
      // No CRC: the host wrote the file into its private directory just now (docs/protocol.md §5).
      return { path, offset: 0, length: chunk.size, crc32: 0 };
    } catch (err) {
      if (!this.refFilesFailing) this.log.warn({ err: (err as Error).message }, 'cannot write a chunk reference file (is /dev/shm full?); chunks go to plugins as bytes meanwhile');
      this.refFilesFailing = true;
      return undefined;
    }
  }

  /** An output is done with a chunk (delivered or gave up): for filesystem chunks, remembered across restarts. */
  finished(chunk: Chunk, output: string): void {
    // The last delivery releases the chunk and deletes its file: nothing to remember.
    if (!chunk.file || chunk.pending <= 1) return;
    let set = this.ackedBy.get(chunk);
    if (!set) this.ackedBy.set(chunk, (set = new Set()));
    set.add(output);
    if (!this.deliveries) return;
    if (this.failing.has('delivery_log')) {
      // A failed append may have torn the last line: only a whole rewrite may write again.
      if (Date.now() >= this.deliveryLogRetryAt) this.rewriteDeliveries();
      return;
    }
    try {
      this.deliveries.record(chunk.id, output);
    } catch (err) {
      this.writeFailed('delivery_log', this.deliveries.file, err);
    }
  }

  /** Rewrites deliveries.log with the live entries (ackedBy holds them all, written or not). */
  private rewriteDeliveries(): void {
    if (!this.deliveries) return;
    this.releasedSinceCompaction = 0;
    try {
      this.deliveries.compact(new Map([...this.ackedBy].map(([c, outs]) => [c.id, outs])));
      if (this.failing.delete('delivery_log')) this.events.writeResumed('delivery_log');
    } catch (err) {
      this.writeFailed('delivery_log', this.deliveries.file, err);
    }
  }

  private writeFailed(what: StorageWrite, file: string, err: unknown): void {
    const first = !this.failing.has(what);
    this.failing.add(what);
    if (what === 'delivery_log') {
      this.deliveries?.close();
      this.deliveryLogRetryAt = Date.now() + DELIVERY_LOG_RETRY_MS;
    }
    this.events.writeFailed(what, file, (err as Error).message, first);
  }

  /** A send finished: the chunk may go down again. */
  settled(chunk?: Chunk): void {
    if (chunk && this.live.has(chunk)) this.putDown(chunk);
    this.balance();
  }

  release(chunk: Chunk): void {
    const a = this.live.get(chunk);
    if (!a) return;
    this.live.delete(chunk);
    a.chunks--;
    if (chunk.data) {
      this.hold(a, -chunk.size, -1);
      this.buffers.give(chunk.data);
      chunk.data = undefined;
    }
    this.done(chunk);
    this.refFiles.remove(chunk.id);
    // deliveries.log only grows while running: rewrite it with the live entries now and then.
    if (this.ackedBy.delete(chunk) && ++this.releasedSinceCompaction >= COMPACT_AFTER_RELEASES) this.rewriteDeliveries();
    if (chunk.file) {
      try {
        unlinkSync(chunk.file);
      } catch (err) {
        this.log.warn({ file: chunk.file, err: (err as Error).message }, 'cannot delete a delivered chunk file; it will be sent again after a restart');
      }
    }
    this.balance();
  }

  /** A released chunk's onRelease runs once its children (chunks of events re-emitted from it) are released too. */
  private done(chunk: Chunk): void {
    chunk.released = true;
    if (chunk.children) return;
    chunk.onRelease?.();
    const p = chunk.parent;
    if (p && p.children !== undefined && --p.children === 0 && p.released) this.done(p);
  }

  /**
   * Keeps chunks in memory within storage.max_chunks_up and storage.max_memory
   * by putting idle filesystem chunks down, oldest first; then pauses or
   * resumes inputs.
   */
  private balance(): void {
    const { maxChunksUp, maxMemory } = this.opts;
    // Down to one under the bound, so inputs paused at the bound can resume.
    if (this.up >= maxChunksUp || this.memBytes >= maxMemory) {
      for (const [c, a] of this.live) {
        if (this.up < maxChunksUp && this.memBytes < maxMemory) break;
        if (!c.file || !c.data || c.busy > 0) continue;
        this.buffers.give(c.data);
        c.data = undefined;
        this.hold(a, -c.size, -1);
      }
    }
    for (const a of this.accounts.values()) {
      const why = this.overLimit(a);
      if (why && !a.paused) {
        a.paused = true;
        this.events.paused(a.name, why);
      } else if (!why && a.paused) {
        a.resume();
        this.events.resumed(a.name);
      }
    }
  }

  private overLimit(a: InputAccount): string | undefined {
    const own = this.ownLimit(a);
    if (own || a.feeds.size === 0) return own;
    // An input whose events a filter re-emits pauses while that emitter (or one it feeds) is over its limit.
    const seen = new Set<InputAccount>([a]);
    const todo = [...a.feeds];
    for (let e; (e = todo.pop());) {
      if (seen.has(e)) continue;
      seen.add(e);
      if (this.ownLimit(e)) return `emitter ${e.name}`;
      todo.push(...e.feeds);
    }
    return undefined;
  }

  private ownLimit(a: InputAccount): string | undefined {
    if (a.bytes <= 0) return undefined;
    if (a.storage === 'memory' && a.memBufLimit > 0 && a.bytes >= a.memBufLimit) return 'mem_buf_limit';
    if ((a.storage === 'memory' || a.pauseOnChunksOverlimit) && this.up >= this.opts.maxChunksUp) return 'storage.max_chunks_up';
    // Filesystem chunks that cannot go down (in flight, or their file could not be written) end here too.
    if (this.memBytes >= this.opts.maxMemory) return 'storage.max_memory';
    return undefined;
  }

  /**
   * Loads the chunks a previous run left under storage.path, verifying each;
   * corrupt or truncated files go to quarantine/. Returns them with the
   * outputs that already acknowledged them, oldest first.
   */
  loadBacklog(): { chunk: Chunk; acked: Set<string> }[] {
    const root = this.opts.path;
    if (!root) return [];
    const acked = this.deliveries!.load();
    const found: { chunk: Chunk; acked: Set<string> }[] = [];
    for (const dirent of readdirSync(root, { withFileTypes: true })) {
      const dir = join(root, dirent.name);
      if (!dirent.isDirectory() || dirent.name === 'quarantine' || (this.opts.rejectedPath && resolve(dir) === resolve(this.opts.rejectedPath))) continue;
      for (const name of readdirSync(dir)) {
        const file = join(dir, name);
        if (name.endsWith('.chunk.tmp')) {
          // A write a crash interrupted; its data was never acknowledged to anyone.
          rmSync(file, { force: true });
          continue;
        }
        if (!name.endsWith('.chunk')) continue;
        try {
          const h = decodeChunkFile(file, readFileSync(file), this.opts.checksum);
          const chunk: Chunk = {
            id: name.slice(0, -'.chunk'.length), tag: h.tag, input: dirent.name, count: h.count, size: h.data.length,
            createdAt: h.createdAt, crc32: h.crc32, data: undefined, file, pending: 0, busy: 0,
          };
          found.push({ chunk, acked: acked.get(chunk.id) ?? new Set() });
        } catch (err) {
          this.quarantine(file, err instanceof CorruptChunkError ? err.message : (err as Error).message);
        }
      }
    }
    found.sort((a, b) => a.chunk.createdAt - b.chunk.createdAt);
    for (const { chunk, acked: outs } of found) {
      const account = this.accounts.get(chunk.input) ?? this.account(chunk.input, 'filesystem', 0, false);
      this.add(chunk, account);
      if (outs.size) this.ackedBy.set(chunk, new Set(outs));
    }
    this.rewriteDeliveries();
    return found;
  }

  private quarantine(file: string, reason: string): void {
    const dir = join(this.opts.path!, 'quarantine');
    mkdirSync(dir, { recursive: true });
    const to = join(dir, `${Date.now()}-${file.split('/').slice(-2).join('-')}`);
    try {
      renameSync(file, to);
    } catch (err) {
      this.log.error({ file, err: (err as Error).message }, 'cannot move a corrupt chunk to quarantine; it is skipped');
    }
    this.quarantined++;
    this.log.error({ file, quarantined_as: to, reason }, 'corrupt chunk file moved to quarantine; the healthy chunks are delivered');
    this.events.quarantined(to, reason);
  }

  /** Sealed chunks not yet released, events still in open chunks, and the bytes all of them hold in memory. */
  get held(): { chunks: number; up: number; down: number; busy: number; bytes: number; openEvents: number; openBytes: number; memBytes: number } {
    let bytes = 0;
    let busy = 0;
    for (const c of this.live.keys()) {
      if (c.data) bytes += c.size;
      if (c.busy) busy++;
    }
    let openEvents = 0;
    let openBytes = 0;
    for (const w of this.writers) {
      openEvents += w.openEvents;
      openBytes += w.openBytes;
    }
    return { chunks: this.live.size, up: this.up, down: this.live.size - this.up, busy, bytes, openEvents, openBytes, memBytes: this.memBytes };
  }

  get inputs(): InputAccount[] {
    return [...this.accounts.values()];
  }

  /** At shutdown: a deliveries.log that could not be written gets one more try, so a restart re-sends only what is unacknowledged. */
  close(): void {
    if (this.failing.has('delivery_log')) this.rewriteDeliveries();
    this.deliveries?.close();
    this.refFiles.close();
  }
}

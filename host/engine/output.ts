// One output instance and the state of each of its deliveries: queued,
// in flight (which send), waiting to retry, or done. This is the one
// in-flight table: the supervisor only carries sends to the plugin process
// and says when that process is gone.
import type { Logger } from '../log.ts';
import type { Metrics } from '../api/metrics.ts';
import { PluginSupervisor, type SupervisorOptions } from '../supervisor/supervisor.ts';
import type { ChunkRef, FlushResult } from '../../sdk/src/protocol.ts';
import type { Chunk } from './chunk.ts';
import { backoffSeconds } from './retry.ts';
import type { DeadLetters } from '../storage/dead-letter.ts';

export interface OutputOptions {
  name: string;
  match: RegExp;
  workers: number;
  retryLimit: number;
  retryBase: number;
  retryCap: number;
  /** A send unanswered this long means the plugin is hung. */
  flushTimeoutMs: number;
  /** storage.total_limit_size: chunk bytes this output may hold; 0 for no limit. */
  totalLimitSize: number;
  /** auto: chunks by reference to a plugin that takes them; bytes: always the bytes. */
  chunkHandover: 'auto' | 'bytes';
  supervisor: SupervisorOptions;
}

/** What an output needs from the chunk store. */
export interface OutputStore {
  load(chunk: Chunk): Buffer;
  /** Where a local plugin can read the chunk's events without loading it; undefined: send the bytes. */
  ref(chunk: Chunk): ChunkRef | undefined;
  /** This output is done with the chunk (delivered or given up): remembered across restarts. */
  finished(chunk: Chunk, output: string): void;
  /** A send was answered (of this chunk, if known): its bytes may leave memory. */
  settled(chunk?: Chunk): void;
}

export interface Delivery {
  chunk: Chunk;
  /** 1-based number of the next send; only the plugin's RETRY answers raise it. */
  attempt: number;
  /** When the output received the chunk: hand-overs and re-sends go oldest first. */
  order: number;
}

interface Send {
  d: Delivery;
  seq: number;
  sentAt: number;
  /** The file, when the chunk went by reference. */
  ref: string | undefined;
}

const NO_BYTES = Buffer.alloc(0);

const byOrder = (a: Delivery, b: Delivery) => a.order - b.order;

export class Output {
  readonly name: string;
  readonly match: RegExp;
  readonly supervisor: PluginSupervisor;
  private readonly opts: OutputOptions;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly labels: { name: string };
  private readonly done: (chunk: Chunk) => void;
  private readonly store: OutputStore;
  private readonly deadLetters: DeadLetters | undefined;
  /** Bytes of the chunks this output holds (queued, waiting, in flight). */
  private bytes = 0;
  /** Waiting to be sent, oldest first. */
  private queue: Delivery[] = [];
  /** Sends not yet answered, by send_seq. */
  private readonly inFlight = new Map<number, Send>();
  private readonly waiting = new Map<Delivery, NodeJS.Timeout>();
  private lastSeq = 0;
  private received = 0;
  private paused = false;
  /** At shutdown every queued chunk goes out at once, then Drain flushes them. */
  private unlimited = false;
  /** Replaced by a reload: a RETRY is not the chunk's fault, and the live instance owns the metrics. */
  private retired = false;
  /** Chunks the plugin answered while draining for a reload. */
  private answeredWhileRetiring = 0;
  /** The current plugin process could not read a reference: it gets bytes until it is replaced. */
  private refsRefused = false;
  private idleWaiters: (() => void)[] = [];
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(opts: OutputOptions, deps: { log: Logger; metrics: Metrics; store: OutputStore; deadLetters?: DeadLetters; done: (chunk: Chunk) => void }) {
    this.opts = opts;
    this.name = opts.name;
    this.match = opts.match;
    this.labels = { name: opts.name };
    this.log = deps.log.child({ output: opts.name });
    this.metrics = deps.metrics;
    this.done = deps.done;
    this.store = deps.store;
    this.deadLetters = deps.deadLetters;
    deps.metrics.initOutput(opts.name);
    this.supervisor = new PluginSupervisor(opts.supervisor, {
      ready: () => {
        this.refsRefused = false;
        this.up(1);
        this.dispatch();
      },
      answer: (r) => this.onAnswer(r),
      gone: (reason) => this.onGone(reason),
      restarted: () => this.metrics.pluginRestarts.inc(this.labels),
    }, deps.log);
    this.sweepTimer = setInterval(() => this.sweepHung(), Math.min(1000, opts.flushTimeoutMs)).unref();
  }

  /** Chunks queued, in retry backoff, or in flight. */
  get pending(): number {
    return this.queue.length + this.waiting.size + this.inFlight.size;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  enqueue(chunk: Chunk): void {
    this.makeRoom(chunk.size);
    this.bytes += chunk.size;
    this.queue.push({ chunk, attempt: 1, order: ++this.received });
    this.dispatch();
  }

  /** storage.total_limit_size: drop this output's oldest queued chunks, counted, to fit a new one. */
  private makeRoom(incoming: number): void {
    const limit = this.opts.totalLimitSize;
    if (!limit) return;
    while (this.bytes + incoming > limit) {
      // Oldest first: queued, then waiting to retry. Chunks in flight are the plugin's.
      let d = this.queue.shift();
      if (!d) {
        const oldest = this.waiting.keys().next();
        if (oldest.done) break;
        d = oldest.value;
        clearTimeout(this.waiting.get(d));
        this.waiting.delete(d);
      }
      this.giveUp(d, 'total_limit_size', `storage.total_limit_size ${limit} bytes reached; oldest chunk dropped for this output`);
    }
  }

  /** Stops sending new chunks (drain, shutdown); in-flight chunks still get answered. */
  pause(): void {
    this.paused = true;
  }

  private dispatch(): void {
    if (this.paused) return;
    const sup = this.supervisor;
    const v2 = sup.protocol >= 2;
    const byRef = this.opts.chunkHandover === 'auto' && !this.refsRefused && sup.takesRefs;
    // At shutdown, chunks only in memory all go out (they are lost otherwise); files wait on disk.
    while (this.queue.length && (this.inFlight.size < this.opts.workers || (this.unlimited && !this.queue[0]!.chunk.file)) && sup.state === 'ready') {
      const d = this.queue.shift()!;
      const c = d.chunk;
      // By reference, a chunk that is down stays down: the plugin reads its file.
      const ref = byRef ? this.store.ref(c) : undefined;
      let events: Buffer = NO_BYTES;
      if (!ref) {
        try {
          events = this.store.load(c);
        } catch (err) {
          this.giveUp(d, 'error', `cannot read the chunk file: ${(err as Error).message}`);
          continue;
        }
      }
      const seq = ++this.lastSeq;
      if (!sup.send({ chunk_id: c.id, tag: c.tag, events, count: c.count, attempt: d.attempt, send_seq: v2 ? seq : 0, ...(ref ? { ref } : {}) })) {
        this.queue.unshift(d);
        break;
      }
      c.busy++;
      this.inFlight.set(seq, { d, seq, sentAt: Date.now(), ref: ref?.path });
    }
    this.gauges();
  }

  private gauges(): void {
    if (this.retired) return;
    this.metrics.outInFlight.set(this.labels, this.inFlight.size);
    this.metrics.outPending.set(this.labels, this.pending);
  }

  private up(v: 0 | 1): void {
    if (!this.retired) this.metrics.pluginUp.set(this.labels, v);
  }

  /** The send an answer is for: by send_seq (version 2), else by chunk id (version 1). */
  private sendOf(r: FlushResult): Send | undefined {
    if (this.supervisor.protocol >= 2) return this.inFlight.get(Number(r.send_seq));
    for (const s of this.inFlight.values()) if (s.d.chunk.id === r.chunk_id) return s;
    return undefined;
  }

  private onAnswer(r: FlushResult): void {
    const s = this.sendOf(r);
    if (!s) {
      this.log.warn({ chunk: r.chunk_id, send_seq: r.send_seq, status: r.status }, 'plugin answered a send that is not in flight (a duplicate answer, or nonsense); ignored');
      return;
    }
    this.inFlight.delete(s.seq);
    const d = s.d;
    const c = d.chunk;
    c.busy--;
    if (r.ref_unreadable && s.ref !== undefined) {
      this.refUnreadable(d, s.ref, r.message);
      return this.afterAnswer();
    }
    let status = r.status;
    if (status !== 'OK' && status !== 'RETRY' && status !== 'ERROR') {
      this.log.warn({ chunk: c.id, status }, 'plugin answered an unknown Flush status; treated as RETRY');
      status = 'RETRY';
    }
    if (this.retired) this.answeredWhileRetiring++;
    if (status === 'OK') {
      this.metrics.outRecords.inc(this.labels, c.count);
      this.metrics.outBytes.inc(this.labels, c.size);
      this.finish(d);
    } else if (status === 'ERROR') {
      this.metrics.outErrors.inc(this.labels);
      this.giveUp(d, 'error', `plugin answered ERROR: ${r.message}`);
    } else if (this.retired) {
      // Draining for a reload: the new instance sends it again, retry budget untouched.
      this.queue.push(d);
    } else if (d.attempt > this.opts.retryLimit) {
      this.metrics.outRetriesFailed.inc(this.labels);
      this.giveUp(d, 'retries_exhausted', `retry_limit ${this.opts.retryLimit} exhausted; last answer ${status}${r.message ? `: ${r.message}` : ''}`);
    } else {
      const waitS = Math.max((Number(r.retry_after_ms) || 0) / 1000, backoffSeconds(d.attempt, this.opts.retryBase, this.opts.retryCap));
      d.attempt++;
      this.metrics.outRetries.inc(this.labels);
      this.log.warn({ chunk: c.id, attempt: d.attempt, retry_in_s: Number(waitS.toFixed(3)), reason: r.message || status }, 'chunk will be retried');
      this.waiting.set(d, setTimeout(() => {
        this.waiting.delete(d);
        this.queue.push(d);
        this.dispatch();
      }, waitS * 1000));
    }
    this.afterAnswer(c);
  }

  /**
   * The plugin could not read the file a send named: not the chunk's fault.
   * The chunk goes back to the queue ahead of every younger chunk (several
   * sends refused one after the other keep their order), attempt
   * unchanged, and this plugin process gets bytes from now on.
   */
  private refUnreadable(d: Delivery, path: string, message: string): void {
    if (!this.refsRefused) {
      this.refsRefused = true;
      this.log.warn({ chunk: d.chunk.id, path, plugin_message: message, plugin_pid: this.supervisor.pid },
        'the plugin cannot read chunks by reference; sending it bytes until its process is replaced');
    }
    const younger = this.queue.findIndex((q) => q.order > d.order);
    this.queue.splice(younger < 0 ? this.queue.length : younger, 0, d);
  }

  private afterAnswer(chunk?: Chunk): void {
    this.store.settled(chunk);
    if (this.inFlight.size === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
    this.dispatch();
  }

  /**
   * A send unanswered for flush_timeout: the plugin is hung, not the chunk
   * at fault. Its process is killed and restarted; every send it held goes
   * back to the queue with its attempt unchanged (onGone).
   */
  private sweepHung(): void {
    const limit = Date.now() - this.opts.flushTimeoutMs;
    for (const s of this.inFlight.values()) {
      if (s.sentAt > limit) continue;
      this.metrics.outTimeouts.inc(this.labels);
      // Retired or stopping, the process is not restarted: its chunks go to the next instance or stay undelivered.
      this.supervisor.kill(`left chunk ${s.d.chunk.id} unanswered for flush_timeout (${this.opts.flushTimeoutMs / 1000} s): hung`, !this.retired && !this.unlimited);
      return;
    }
  }

  /** The plugin process is gone: what it held is sent again first, oldest first, attempt unchanged. */
  private onGone(reason: string): void {
    this.up(0);
    const back = [...this.inFlight.values()].map((s) => s.d).sort(byOrder);
    this.inFlight.clear();
    if (back.length) {
      let records = 0;
      for (const d of back) {
        d.chunk.busy--;
        records += d.chunk.count;
      }
      this.metrics.outRequeued.inc(this.labels, records);
      this.log.warn({ chunks: back.length, records, reason }, 'chunks in flight to a plugin that is gone go back to pending; they will be sent again');
      this.queue.unshift(...back);
    }
    this.afterAnswer();
  }

  private whenNoneInFlight(deadlineMs: number): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      new Promise<void>((r) => this.idleWaiters.push(r)),
      new Promise<void>((r) => (timer = setTimeout(r, deadlineMs))),
    ]).finally(() => clearTimeout(timer));
  }

  private finish(d: Delivery): void {
    this.bytes -= d.chunk.size;
    this.store.finished(d.chunk, this.name);
    this.gauges();
    this.done(d.chunk);
  }

  /** A terminal failure: kept in the dead-letter store if configured, always counted and logged. */
  private giveUp(d: Delivery, kind: 'error' | 'retries_exhausted' | 'total_limit_size', reason: string): void {
    const c = d.chunk;
    let kept: string | undefined;
    if (this.deadLetters) {
      try {
        // Sends made: a chunk dropped from the queue had attempt sends before it.
        kept = this.deadLetters.put(c, this.store.load(c), this.name, reason, kind === 'total_limit_size' ? d.attempt - 1 : d.attempt);
        this.metrics.outDeadLetters.inc(this.labels);
      } catch (err) {
        this.log.error({ chunk: c.id, err: (err as Error).message }, 'cannot write the chunk to the dead-letter store');
      }
    }
    this.metrics.outDropped.inc({ name: this.name, reason: kind }, c.count);
    this.log.error({ chunk: c.id, tag: c.tag, records: c.count, attempts: d.attempt, reason, ...(kept ? { dead_letter: kept } : {}) },
      kept ? 'chunk given up and kept in the dead-letter store' : 'chunk dropped after a terminal failure');
    this.finish(d);
  }

  /** Starts the plugin; throws if it rejects its config or fails start_retries times. */
  start(): Promise<void> {
    return this.supervisor.start();
  }

  /** For a reload: starts the plugin and has it check its config, touching nothing until activate(). */
  prepare(): Promise<void> {
    return this.supervisor.start(true);
  }

  /** After prepare(), once the instance this one replaces is stopped. */
  activate(): Promise<void> {
    return this.supervisor.activate();
  }

  /**
   * For a reload: stop sending, ask the plugin to deliver what it holds, and
   * wait until nothing is in flight. Past the deadline the process is killed
   * and its in-flight chunks return to the queue with their attempt count.
   */
  async drainForReload(deadlineMs: number): Promise<{ drained: number; killed: boolean; left: number }> {
    this.pause();
    this.retired = true;
    const until = Date.now() + deadlineMs;
    await this.supervisor.drain(deadlineMs, ++this.lastSeq);
    // Version 1 answers travel on another stream than Drain's: they may come just after it.
    await this.whenNoneInFlight(Math.max(0, until - Date.now()));
    const left = this.inFlight.size;
    if (left > 0) this.supervisor.kill(`did not answer ${left} chunks within the reload drain deadline`, false);
    await this.stopProcess();
    return { drained: this.answeredWhileRetiring, killed: left > 0, left };
  }

  /** Every delivery not yet terminal, oldest first; this output keeps none. */
  handOver(): Delivery[] {
    for (const t of this.waiting.values()) clearTimeout(t);
    const all = [...[...this.inFlight.values()].map((s) => s.d), ...this.waiting.keys(), ...this.queue].sort(byOrder);
    for (const s of this.inFlight.values()) s.d.chunk.busy--;
    this.inFlight.clear();
    this.waiting.clear();
    this.queue = [];
    this.bytes = 0;
    return all;
  }

  /** Takes over deliveries from the instance this one replaces, attempts unchanged, before any chunk it got itself. */
  adopt(deliveries: Delivery[]): void {
    // Renumbered so that they stay older than everything this instance received.
    const first = this.queue.reduce((min, d) => Math.min(min, d.order), 0) - deliveries.length;
    deliveries.forEach((d, i) => {
      d.order = first + i;
      this.bytes += d.chunk.size;
    });
    this.queue.unshift(...deliveries);
    this.dispatch();
  }

  /** An output removed by a reload: its deliveries end, logged and counted. */
  abandon(deliveries: Delivery[]): void {
    for (const d of deliveries) {
      this.bytes += d.chunk.size;
      this.metrics.outDropped.inc({ name: this.name, reason: 'output_removed' }, d.chunk.count);
      this.log.warn({ chunk: d.chunk.id, records: d.chunk.count }, 'output removed by a reload: its undelivered chunk is dropped for this output only');
      this.finish(d);
    }
  }

  /** A prepared instance that a refused reload never put to use: its process stops, the live instance's metrics stay. */
  async discard(): Promise<void> {
    this.retired = true;
    await this.stopProcess();
  }

  private async stopProcess(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.supervisor.stop();
    this.up(0);
  }

  /** Waits until nothing is in flight (or the deadline), then stops the plugin. */
  async stop(deadlineMs: number): Promise<void> {
    // Last chance for what is queued or waiting to retry: send it all, then Drain.
    for (const [d, t] of this.waiting) {
      clearTimeout(t);
      this.queue.push(d);
    }
    this.waiting.clear();
    this.queue.sort(byOrder);
    this.unlimited = true;
    this.dispatch();
    this.pause();
    if (this.inFlight.size) {
      const until = Date.now() + deadlineMs;
      await this.supervisor.drain(deadlineMs, ++this.lastSeq);
      await this.whenNoneInFlight(Math.max(0, until - Date.now()));
    }
    await this.stopProcess();
  }
}

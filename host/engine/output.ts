// One output instance: its queue of deliveries, retries with backoff, and
// the plugin process it dispatches to.
import type { Logger } from '../log.ts';
import type { Metrics } from '../api/metrics.ts';
import { PluginSupervisor, type FlushOutcome, type SupervisorOptions } from '../supervisor/supervisor.ts';
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
  /** storage.total_limit_size: chunk bytes this output may hold; 0 for no limit. */
  totalLimitSize: number;
  supervisor: SupervisorOptions;
}

/** What an output needs from the chunk store. */
export interface OutputStore {
  load(chunk: Chunk): Buffer;
  /** This output is done with the chunk (delivered or given up): remembered across restarts. */
  finished(chunk: Chunk, output: string): void;
  settled(): void;
}

export interface Delivery {
  chunk: Chunk;
  /** 1-based number of the next send; a lost or drained send keeps it. */
  attempt: number;
}

export class Output {
  readonly name: string;
  readonly match: RegExp;
  readonly supervisor: PluginSupervisor;
  private readonly opts: OutputOptions;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly done: (chunk: Chunk) => void;
  private readonly store: OutputStore;
  private readonly deadLetters: DeadLetters | undefined;
  /** Bytes of the chunks this output holds (queued, waiting, in flight). */
  private bytes = 0;
  /** Waiting to be sent, oldest first. */
  private queue: Delivery[] = [];
  private readonly inFlight = new Map<string, Delivery>();
  private readonly waiting = new Map<Delivery, NodeJS.Timeout>();
  private paused = false;
  /** At shutdown every queued chunk goes out at once, then Drain flushes them. */
  private unlimited = false;
  /** Draining for a reload: a RETRY then is not the chunk's fault and spends no retry budget. */
  private reloading = false;
  /** Chunks the plugin answered while draining for a reload. */
  private answeredWhileReloading = 0;

  constructor(opts: OutputOptions, deps: { log: Logger; metrics: Metrics; store: OutputStore; deadLetters?: DeadLetters; done: (chunk: Chunk) => void }) {
    this.opts = opts;
    this.name = opts.name;
    this.match = opts.match;
    this.log = deps.log.child({ output: opts.name });
    this.metrics = deps.metrics;
    this.done = deps.done;
    this.store = deps.store;
    this.deadLetters = deps.deadLetters;
    this.supervisor = new PluginSupervisor(opts.supervisor, {
      ready: () => {
        this.metrics.pluginUp.set({ name: this.name }, 1);
        this.dispatch();
      },
      result: (id, outcome, message, retryAfterMs) => this.onResult(id, outcome, message, retryAfterMs),
      lost: (ids) => this.onLost(ids),
      restarted: () => this.metrics.pluginRestarts.inc({ name: this.name }),
      down: () => this.metrics.pluginUp.set({ name: this.name }, 0),
    }, deps.log);
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
    this.queue.push({ chunk, attempt: 1 });
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
    // At shutdown, chunks only in memory all go out (they are lost otherwise); files wait on disk.
    while (this.queue.length && (this.inFlight.size < this.opts.workers || (this.unlimited && !this.queue[0]!.chunk.file)) && sup.state === 'ready') {
      const d = this.queue.shift()!;
      const c = d.chunk;
      let events: Buffer;
      try {
        events = this.store.load(c);
      } catch (err) {
        this.giveUp(d, 'error', `cannot read the chunk file: ${(err as Error).message}`);
        continue;
      }
      if (!sup.send({ chunk_id: c.id, tag: c.tag, events, count: c.count, attempt: d.attempt })) {
        this.queue.unshift(d);
        break;
      }
      c.busy++;
      this.inFlight.set(c.id, d);
    }
    this.gauges();
  }

  private gauges(): void {
    this.metrics.outInFlight.set({ name: this.name }, this.inFlight.size);
    this.metrics.outPending.set({ name: this.name }, this.pending);
  }

  private onResult(id: string, outcome: FlushOutcome, message: string, retryAfterMs: number): void {
    const d = this.inFlight.get(id);
    if (!d) return;
    this.inFlight.delete(id);
    const c = d.chunk;
    c.busy--;
    if (this.reloading && outcome !== 'TIMEOUT') this.answeredWhileReloading++;
    const labels = { name: this.name };
    if (outcome === 'OK') {
      this.metrics.outRecords.inc(labels, c.count);
      this.metrics.outBytes.inc(labels, c.size);
      this.finish(d);
    } else if (outcome === 'ERROR') {
      this.metrics.outErrors.inc(labels);
      this.giveUp(d, 'error', `plugin answered ERROR: ${message}`);
    } else if (this.reloading) {
      this.queue.unshift(d);
    } else if (d.attempt > this.opts.retryLimit) {
      this.metrics.outRetriesFailed.inc(labels);
      this.giveUp(d, 'retries_exhausted', `retry_limit ${this.opts.retryLimit} exhausted; last answer ${outcome}${message ? `: ${message}` : ''}`);
    } else {
      const waitS = Math.max(retryAfterMs / 1000, backoffSeconds(d.attempt, this.opts.retryBase, this.opts.retryCap));
      d.attempt++;
      this.metrics.outRetries.inc(labels);
      this.log.warn({ chunk: c.id, attempt: d.attempt, retry_in_s: Number(waitS.toFixed(3)), reason: message || outcome }, 'chunk will be retried');
      this.waiting.set(d, setTimeout(() => {
        this.waiting.delete(d);
        this.queue.push(d);
        this.dispatch();
      }, waitS * 1000));
    }
    this.store.settled();
    this.dispatch();
  }

  /** The plugin process died with these chunks in flight: send them again first, attempt unchanged. */
  private onLost(ids: string[]): void {
    const back: Delivery[] = [];
    let records = 0;
    for (const id of ids) {
      const d = this.inFlight.get(id);
      if (!d) continue;
      this.inFlight.delete(id);
      d.chunk.busy--;
      back.push(d);
      records += d.chunk.count;
    }
    if (!back.length) return;
    this.metrics.outRequeued.inc({ name: this.name }, records);
    this.log.warn({ chunks: back.length, records }, 'chunks in flight to a plugin that died go back to pending; they will be sent again');
    this.queue.unshift(...back);
    this.store.settled();
    this.gauges();
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
        this.metrics.outDeadLetters.inc({ name: this.name });
      } catch (err) {
        this.log.error({ chunk: c.id, err: (err as Error).message }, 'cannot write the chunk to the dead-letter store');
      }
    }
    this.metrics.outDropped.inc({ name: this.name, reason: kind }, c.count);
    this.log.error({ chunk: c.id, tag: c.tag, records: c.count, attempts: d.attempt, reason, ...(kept ? { dead_letter: kept } : {}) },
      kept ? 'chunk given up and kept in the dead-letter store' : 'chunk dropped after a terminal failure');
    this.finish(d);
  }

  async start(): Promise<void> {
    await this.supervisor.start();
  }

  /**
   * For a reload: stop sending, ask the plugin to deliver what it holds, and
   * wait until nothing is in flight. Past the deadline the process is killed
   * and its in-flight chunks return to the queue with their attempt count.
   */
  async drainForReload(deadlineMs: number): Promise<{ drained: number; killed: boolean; left: number }> {
    this.pause();
    this.reloading = true;
    const left = await this.supervisor.drain(deadlineMs);
    if (left > 0) this.supervisor.kill(`did not answer ${left} chunks within the reload drain deadline`, false);
    await this.supervisor.stop();
    this.metrics.pluginUp.set({ name: this.name }, 0);
    return { drained: this.answeredWhileReloading, killed: left > 0, left };
  }

  /** Every delivery not yet terminal, oldest first; this output keeps none. */
  handOver(): Delivery[] {
    for (const t of this.waiting.values()) clearTimeout(t);
    const all = [...this.inFlight.values(), ...this.waiting.keys(), ...this.queue];
    for (const d of this.inFlight.values()) d.chunk.busy--;
    this.inFlight.clear();
    this.waiting.clear();
    this.queue = [];
    this.bytes = 0;
    this.gauges();
    return all;
  }

  /** Takes over deliveries from the instance this one replaces, attempts unchanged. */
  adopt(deliveries: Delivery[]): void {
    for (const d of deliveries) this.bytes += d.chunk.size;
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

  /** Waits until nothing is in flight (or the deadline), then stops the plugin. */
  async stop(deadlineMs: number): Promise<void> {
    // Last chance for what is queued or waiting to retry: send it all, then Drain.
    for (const [d, t] of this.waiting) {
      clearTimeout(t);
      this.queue.push(d);
    }
    this.waiting.clear();
    this.unlimited = true;
    this.dispatch();
    this.pause();
    if (this.inFlight.size) await this.supervisor.drain(deadlineMs);
    await this.supervisor.stop();
    this.metrics.pluginUp.set({ name: this.name }, 0);
  }
}

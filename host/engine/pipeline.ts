// Wires inputs -> chunk store -> router -> outputs, and knows when
// everything accepted has been delivered.
import { FILTERS } from '../filters/index.ts';
import { transformChunk, type Step } from '../filters/chain.ts';
import type { Filter } from '../filters/filter.ts';
import { Parsers } from '../parsers/registry.ts';
import type { Parser } from '../parsers/parser.ts';
import type { Metrics } from '../api/metrics.ts';
import type { ConfigIssue, InputConfig, OutputConfig, SluiceConfig } from '../config/load.ts';
import { INPUTS } from '../inputs/index.ts';
import { InputStartError, type Input } from '../inputs/input.ts';
import { pinoLevel, type Logger } from '../log.ts';
import { ConfigureRejected } from '../supervisor/supervisor.ts';
import type { Chunk } from './chunk.ts';
import { join } from 'node:path';
import { DeadLetters } from '../storage/dead-letter.ts';
import { ChunkStore } from '../storage/store.ts';
import { Output } from './output.ts';
import { Router } from './router.ts';

export class PipelineConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map(String).join('\n'));
    this.issues = issues;
  }
}

export class Pipeline {
  readonly store: ChunkStore;
  readonly deadLetters: DeadLetters | undefined;
  outputs: Output[];
  inputs: { name: string; input: Input }[] = [];
  private router: Router<Output>;
  private readonly live = new Set<Chunk>();
  config: SluiceConfig;
  private readonly hostVersion: string;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private flushTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private warnedTags = new Set<string>();
  private filters: { name: string; match: RegExp; filter: Filter }[] = [];
  private parsers = new Parsers();
  /** Steps per input and tag, worked out at a chunk's first seal; cleared when the config changes. */
  private readonly steps = new Map<string, Step[]>();

  constructor(config: SluiceConfig, log: Logger, metrics: Metrics, hostVersion: string) {
    this.config = config;
    this.hostVersion = hostVersion;
    this.log = log;
    this.metrics = metrics;
    const svc = config.service;
    const rejected = svc['storage.rejected.path'] ?? (svc['storage.path'] ? join(svc['storage.path'], 'rejected') : undefined);
    this.store = new ChunkStore({
      rejectedPath: rejected,
      path: svc['storage.path'], sync: svc['storage.sync'], checksum: svc['storage.checksum'], maxChunksUp: svc['storage.max_chunks_up'],
      maxMemory: svc['storage.max_memory'] || Infinity,
    }, {
      sealed: (c) => this.route(c),
      paused: (name, why) => {
        metrics.inputPaused.inc({ name });
        metrics.inputIsPaused.set({ name }, 1);
        log.debug({ input: name, limit: why }, 'input paused (backpressure)');
      },
      resumed: (name) => {
        metrics.inputIsPaused.set({ name }, 0);
        log.debug({ input: name }, 'input resumed');
      },
      quarantined: () => metrics.quarantined.inc(),
      writeFailed: (what, file, reason, first) => {
        metrics.storageWriteErrors.inc({ what });
        // Once per outage: on a full disk every chunk and every acknowledgement would fail.
        if (!first) return;
        if (what === 'chunk') log.error({ file, err: reason }, 'cannot write chunk files (disk full? permissions?); chunks are kept in memory until delivered (not crash-safe meanwhile; storage.max_memory bounds them). Free space under storage.path: writing resumes by itself');
        else log.error({ file, err: reason }, 'cannot write the delivery log (disk full? permissions?); delivery goes on and progress is kept in memory, rewritten whole once a write works. Until then a crash re-sends acknowledged chunks. Free space under storage.path');
      },
      writeResumed: (what) => log.info({ what }, what === 'chunk' ? 'chunk files are written again' : 'the delivery log is written again'),
    }, log);
    this.deadLetters = svc['storage.keep.rejected'] && rejected ? new DeadLetters(rejected) : undefined;
    this.setFilters(config);
    this.store.transformFor = (account, tag) => (chunk) => {
      const steps = this.stepsFor(account.name, tag);
      return steps.length ? transformChunk(chunk, steps, (i, err) => this.stepFailed(account.name, i, err)) : chunk;
    };
    this.outputs = config.outputs.map((o) => this.createOutput(o, config));
    this.router = new Router(this.outputs);
    this.inputs = this.createInputs(config.inputs, config);
  }

  /** Makes the config's filters and parsers; on a reload they apply from the next chunk sealed. */
  setFilters(config: SluiceConfig): void {
    this.parsers = new Parsers(config.parsers);
    this.filters = config.filters.map((f) => ({
      name: f.instance,
      match: f.match,
      filter: FILTERS[f.kind]!.create(f.values, { name: f.instance, log: this.log.child({ filter: f.instance }), metrics: this.metrics, parsers: this.parsers }),
    }));
    this.steps.clear();
  }

  /** The input's parser (tail's parser key), then every filter whose match takes the tag, in config order. */
  private stepsFor(input: string, tag: string): Step[] {
    const id = `${input}\u0000${tag}`;
    let steps = this.steps.get(id);
    if (steps) return steps;
    steps = [];
    const ic = this.config.inputs.find((i) => i.instance === input);
    const parser = ic?.values.parser ? this.parsers.get(String(ic.values.parser)) : undefined;
    if (parser) steps.push(parseStep(parser, String(ic!.values.key ?? 'log')));
    for (const f of this.filters) if (f.match.test(tag)) steps.push((e, t) => f.filter.filter(e, t));
    this.steps.set(id, steps);
    return steps;
  }

  private stepFailed(input: string, index: number, err: unknown): void {
    this.log.error({ input, step: index, err: (err as Error).message }, 'a filter failed on an event; the event goes on unchanged');
  }

  createOutput(o: OutputConfig, config: SluiceConfig): Output {
    const svc = config.service;
    return new Output({
      name: o.instance, match: o.match, workers: o.workers, retryLimit: o.retryLimit,
      retryBase: svc['scheduler.base'], retryCap: svc['scheduler.cap'], totalLimitSize: o.totalLimitSize, flushTimeoutMs: o.flushTimeout * 1000,
      supervisor: {
        instance: o.instance, command: o.command, config: o.pluginConfig, hostVersion: this.hostVersion, logLevel: pinoLevel(svc.log_level),
        startTimeoutMs: o.startTimeout * 1000, startRetries: o.startRetries,
        healthIntervalMs: o.healthCheckInterval * 1000, stopGraceMs: o.stopGrace * 1000,
      },
    }, { log: this.log, metrics: this.metrics, store: this.store, deadLetters: this.deadLetters, done: (c) => this.delivered(c) });
  }

  /** Creates (does not start) inputs; throws PipelineConfigError naming the keys they reject. */
  createInputs(configs: InputConfig[], config: SluiceConfig): { name: string; input: Input }[] {
    const issues: ConfigIssue[] = [];
    const made: { name: string; input: Input }[] = [];
    for (const ic of configs) {
      const account = this.store.account(ic.instance, ic.storage, ic.memBufLimit, ic.pauseOnChunksOverlimit);
      try {
        const input = INPUTS[ic.kind]!.create(ic.values, {
          name: ic.instance, tag: ic.tag, tagConfigured: ic.tagConfigured, store: this.store, account, metrics: this.metrics, log: this.log.child({ input: ic.instance }),
        });
        made.push({ name: ic.instance, input });
      } catch (err) {
        const [key, ...rest] = (err as Error).message.split(': ');
        issues.push(config.locate(rest.length ? [...ic.path, key!] : ic.path, rest.length ? rest.join(': ') : (err as Error).message));
      }
    }
    if (issues.length) throw new PipelineConfigError(issues);
    return made;
  }

  /**
   * Starts outputs' plugins (prepareOnly: up to a validate-only Configure,
   * for a reload); if any fails to start or rejects its config, stops them
   * all and throws the problems, placed in the config.
   */
  async startOutputs(outputs: Output[], configs: OutputConfig[], config: SluiceConfig, prepareOnly = false): Promise<void> {
    const results = await Promise.allSettled(outputs.map((o) => (prepareOnly ? o.prepare() : o.start())));
    const issues: ConfigIssue[] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const path = configs[i]!.path;
      if (r.reason instanceof ConfigureRejected) {
        for (const e of r.reason.errors) issues.push(config.locate(e.key ? [...path, e.key] : path, `rejected by plugin: ${e.message}`));
      } else issues.push(config.locate(path, (r.reason as Error).message));
    });
    if (issues.length) {
      await Promise.all(outputs.map((o) => (prepareOnly ? o.discard() : o.stop(0))));
      throw new PipelineConfigError(issues);
    }
  }

  /**
   * Starts every plugin, then the inputs. A plugin that rejects its config,
   * or an input that cannot start (a port in use), stops the start: what was
   * started is stopped again and the problems are thrown, placed in the config.
   */
  async start(): Promise<void> {
    await this.startOutputs(this.outputs, this.config.outputs, this.config);
    this.queueBacklog();
    const failed = await this.startInputs(this.inputs, this.config);
    if (failed.length) {
      await Promise.all(this.inputs.map((i) => i.input.stop()));
      await Promise.all(this.outputs.map((o) => o.stop(0)));
      throw new PipelineConfigError(failed.map((f) => f.issue));
    }
    this.startFlushTimer();
  }

  /**
   * Starts inputs (handOffs: a reload's state from the instances they
   * replace); returns those that could not start, each with its problem
   * placed in the config. They need not be stopped.
   */
  async startInputs(inputs: { name: string; input: Input }[], config: SluiceConfig, handOffs?: Map<string, unknown>): Promise<{ name: string; issue: ConfigIssue }[]> {
    const results = await Promise.allSettled(inputs.map(async (i) => i.input.start(handOffs?.get(i.name))));
    const failed: { name: string; issue: ConfigIssue }[] = [];
    results.forEach((r, k) => {
      if (r.status === 'fulfilled') return;
      const { name } = inputs[k]!;
      const path = config.inputs.find((c) => c.instance === name)?.path ?? [];
      const err = r.reason as Error;
      const key = err instanceof InputStartError ? err.key : undefined;
      failed.push({ name, issue: config.locate(key ? [...path, key] : path, err instanceof InputStartError ? err.message : `input ${name} could not start: ${err?.message ?? err}`) });
    });
    return failed;
  }

  startFlushTimer(): void {
    clearInterval(this.flushTimer);
    this.flushTimer = setInterval(() => this.store.sealAll(), this.config.service.flush * 1000);
  }

  /** A reload's new set of outputs: routing uses it from the next chunk on. */
  setOutputs(outputs: Output[]): void {
    this.outputs = outputs;
    this.router = new Router(outputs);
  }

  /** Chunks a previous run left on disk go to the outputs that did not acknowledge them yet. */
  private queueBacklog(): void {
    const backlog = this.store.loadBacklog();
    let events = 0;
    for (const { chunk, acked } of backlog) {
      events += chunk.count;
      this.route(chunk, acked);
    }
    this.metrics.backlog.inc(backlog.length);
    if (backlog.length) this.log.info({ chunks: backlog.length, events }, 'backlog from a previous run queued for delivery');
  }

  /** Hands a chunk to every matching output that has not acknowledged it yet (backlog). */
  private route(chunk: Chunk, acked?: Set<string>): void {
    this.live.add(chunk);
    // Filters dropped every event: nothing to deliver, but the input's positions move on.
    if (chunk.count === 0) return this.release(chunk);
    let outs = this.router.route(chunk.tag);
    if (acked?.size) outs = outs.filter((o) => !acked.has(o.name));
    if (!outs.length) {
      // Every output already has it (backlog), or none matches its tag.
      if (!acked?.size) {
        this.metrics.unrouted.inc({ name: chunk.input }, chunk.count);
        if (!this.warnedTags.has(chunk.tag)) {
          this.warnedTags.add(chunk.tag);
          this.log.warn({ tag: chunk.tag, input: chunk.input }, 'no output matches this tag; its events are dropped (check the outputs\' match)');
        }
      }
      this.release(chunk);
      return;
    }
    chunk.pending = outs.length;
    for (const o of outs) o.enqueue(chunk);
  }

  private delivered(chunk: Chunk): void {
    if (--chunk.pending <= 0) this.release(chunk);
  }

  private release(chunk: Chunk): void {
    this.live.delete(chunk);
    this.store.release(chunk);
    if (this.live.size === 0 && this.store.held.openEvents === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }

  /** Events accepted and not yet delivered to every output: lost with memory storage, kept on disk with filesystem. */
  get undelivered(): { chunks: number; events: number; onDisk: number } {
    let events = this.store.held.openEvents;
    let onDisk = 0;
    let chunks = 0;
    for (const c of this.live) {
      if (c.file) onDisk += c.count;
      else {
        events += c.count;
        chunks++;
      }
    }
    return { chunks, events, onDisk };
  }

  /** Resolves once every accepted event is delivered (or terminally failed). */
  idle(): Promise<void> {
    this.store.sealAll();
    if (this.live.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** With exit_on_eof inputs: resolves when they all finished. Never resolves without them. */
  finished(): Promise<void> {
    const fin = this.inputs.map((i) => i.input.finished).filter((f) => f !== undefined);
    return fin.length ? Promise.all(fin).then(() => undefined) : new Promise(() => {});
  }

  /** Writes every input's checkpoint (tail db) now. */
  checkpoint(): void {
    for (const { input } of this.inputs) input.checkpoint?.();
  }

  async stopInputs(): Promise<void> {
    await Promise.all(this.inputs.map((i) => i.input.stop()));
    this.store.sealAll();
  }

  /**
   * Stops inputs, gives outputs up to graceMs to deliver what is pending,
   * then stops every plugin. Returns what could not be delivered.
   */
  async shutdown(graceMs: number): Promise<Pipeline['undelivered']> {
    const deadline = Date.now() + graceMs;
    await this.stopInputs();
    clearInterval(this.flushTimer);
    this.log.info({ pending: this.undelivered }, 'shutdown: inputs stopped and open chunks sealed; delivering what is pending');
    // Deliver normally for most of the grace; keep the last quarter for Drain,
    // which makes plugins flush what they buffer without waiting for timers.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise((r) => (timer = setTimeout(r, graceMs * 0.75)))]);
    clearTimeout(timer);
    this.log.info({ pending: this.undelivered }, 'shutdown: draining and stopping plugins');
    await Promise.all(this.outputs.map((o) => o.stop(Math.max(0, deadline - Date.now()))));
    this.store.close();
    this.checkpoint();
    this.log.info('shutdown: plugins stopped, checkpoints written');
    return this.undelivered;
  }
}

/**
 * tail's parser: the line under `key` becomes the parsed fields (and their
 * time); a line the parser does not match stays as it was, as in Fluent Bit.
 */
function parseStep(parser: Parser, key: string): Step {
  return (e) => {
    const line = e.body[key];
    if (typeof line !== 'string') return e;
    const r = parser.parse(line);
    if (!r) return e;
    e.body = r.body;
    if (r.time) e.time = r.time;
    return e;
  };
}

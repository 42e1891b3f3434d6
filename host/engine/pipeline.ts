// Wires inputs -> chunk store -> router -> outputs, and knows when
// everything accepted has been delivered.
import { FILTERS } from '../filters/index.ts';
import { transformChunk, type Emitted, type Step } from '../filters/chain.ts';
import type { EmitterSpec, Filter, Reemit } from '../filters/filter.ts';
import { encodeEvent } from '../../sdk/src/codec/events.ts';
import { filterKey } from '../reload/diff.ts';
import { Parsers } from '../parsers/registry.ts';
import { RuleParsers } from '../parsers/multiline-rules.ts';
import type { Metrics } from '../api/metrics.ts';
import type { ConfigIssue, InputConfig, OutputConfig, SluiceConfig } from '../config/load.ts';
import { INPUTS } from '../inputs/index.ts';
import { InputStartError, type Input } from '../inputs/input.ts';
import { pinoLevel, type Logger } from '../log.ts';
import { ConfigureRejected } from '../supervisor/supervisor.ts';
import type { Chunk } from './chunk.ts';
import { join } from 'node:path';
import { DeadLetters } from '../storage/dead-letter.ts';
import { ChunkStore, type InputAccount } from '../storage/store.ts';
import { Output } from './output.ts';
import { Router } from './router.ts';

export class PipelineConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map(String).join('\n'));
    this.issues = issues;
  }
}

/** A filter instance of the running config. */
interface FilterInstance {
  name: string;
  match: RegExp;
  filter: Filter;
  /** What makes it the same filter across a reload (filterKey): an unchanged filter keeps its instance and its state. */
  key: string;
  /** Where its re-emitted events go (rewrite_tag, multiline). */
  emitter?: EmitterSpec & { account: InputAccount };
}

/** The steps for one input and tag, and the filter each step is. */
interface Plan {
  steps: Step[];
  filters: FilterInstance[];
}

/**
 * Re-emitted events whose chunk's own filters re-emit them again, this many
 * times in a row (a rewrite_tag loop through several filters), are stored
 * under their tag without passing the filters again.
 */
export const MAX_REEMIT_DEPTH = 8;

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
  private filters: FilterInstance[] = [];
  /** Filters with an emitter, by the emitter's name: the input name their re-emitted events are stored under. */
  private emitters = new Map<string, FilterInstance>();
  private parsers = new Parsers();
  /** Steps per input and tag, worked out at a chunk's first seal; cleared when the config changes. */
  private readonly plans = new Map<string, Plan>();
  /** Nesting of re-emissions being stored now (a re-emitted chunk's filters re-emitting again). */
  private emitDepth = 0;
  private warnedLoop = false;
  private readonly failures = new Map<string, { at: number; since: number }>();

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
    this.store.transformFor = (account, tag) => (chunk) => this.transform(account, tag, chunk);
    this.outputs = config.outputs.map((o) => this.createOutput(o, config));
    this.router = new Router(this.outputs);
    this.inputs = this.createInputs(config.inputs, config);
  }

  /**
   * Makes the config's filters and parsers; on a reload they apply from the
   * next chunk sealed. A filter whose settings did not change keeps its
   * instance (a throttle its window, a multiline filter what it holds); one
   * that changed or went first gives up what it holds (flush), through the
   * old config's filters.
   */
  setFilters(config: SluiceConfig): void {
    const parsers = new Parsers(config.parsers);
    const multilineParsers = new RuleParsers(config.multilineParsers);
    const old = new Map(this.filters.map((f) => [f.name, f]));
    const next: FilterInstance[] = config.filters.map((fc) => {
      const key = filterKey(fc, config);
      const prev = old.get(fc.instance);
      if (prev && prev.key === key) {
        old.delete(fc.instance);
        prev.match = fc.match;
        return prev;
      }
      const kind = FILTERS[fc.kind]!;
      this.metrics.initFilter(fc.instance);
      const filter = kind.create(fc.values, {
        name: fc.instance, log: this.log.child({ filter: fc.instance }), metrics: this.metrics, parsers, multilineParsers,
      });
      const spec = kind.emitter?.(fc.values, fc.instance);
      const emitter = spec && { ...spec, account: this.store.account(spec.name, spec.storage, spec.memBufLimit, false) };
      return { name: fc.instance, match: fc.match, filter, key, emitter };
    });
    for (const f of old.values()) this.retire(f);
    this.parsers = parsers;
    this.filters = next;
    this.emitters = new Map(next.filter((f) => f.emitter).map((f) => [f.emitter!.name, f]));
    this.plans.clear();
  }

  /** A filter that goes (reload, shutdown): what it holds is emitted, its timers stop. */
  private retire(f: FilterInstance): void {
    try {
      const held = f.filter.flush?.(true) ?? [];
      if (held.length) this.emitFrom(f, held);
    } catch (err) {
      this.log.error({ filter: f.name, err: (err as Error).message }, 'a filter failed to give up the events it held');
    }
    f.filter.close?.();
  }

  /** Events a filter gives up outside a chunk (multiline's flush): stored through its emitter. */
  private emitFrom(f: FilterInstance, events: Reemit[]): void {
    const byTag = new Map<string, Buffer[]>();
    for (const { tag, event } of events) {
      let data: Buffer;
      try {
        data = encodeEvent(event.body, event.time, event.metadata);
      } catch (err) {
        this.log.error({ filter: f.name, err: (err as Error).message }, 'an event a filter gave up cannot be encoded; it is lost');
        continue;
      }
      let list = byTag.get(tag);
      if (!list) byTag.set(tag, (list = []));
      list.push(data);
    }
    this.metrics.filterEmitted.inc({ name: f.name }, events.length);
    for (const [tag, datas] of byTag) this.store_(f, tag, datas, undefined);
  }

  /** Every filter that holds events across chunks gives up those due (final: all of them). */
  flushFilters(final: boolean): void {
    for (const f of this.filters) {
      if (!f.filter.flush) continue;
      try {
        const due = f.filter.flush(final);
        if (due.length) this.emitFrom(f, due);
      } catch (err) {
        this.log.error({ filter: f.name, err: (err as Error).message }, 'a filter failed to give up the events it held');
      }
    }
  }

  /**
   * Every filter whose match takes the tag, in config order. (tail's parser
   * runs as lines are read, not here.) Events a filter re-emitted (an
   * emitter's chunks) skip that filter (rewrite_tag: a record never passes
   * the same rewrite_tag twice) or every filter up to it (multiline).
   */
  private planFor(input: string, tag: string): Plan {
    const id = `${input}\u0000${tag}`;
    let plan = this.plans.get(id);
    if (plan) return plan;
    plan = { steps: [], filters: [] };
    const owner = this.emitters.get(input);
    let from = 0;
    if (owner?.emitter!.reentry === 'after') from = this.filters.indexOf(owner) + 1;
    for (let i = from; i < this.filters.length; i++) {
      const f = this.filters[i]!;
      if (f === owner || !f.match.test(tag)) continue;
      const filter = f.filter;
      plan.steps.push((e, t) => filter.filter(e, t));
      plan.filters.push(f);
    }
    this.plans.set(id, plan);
    return plan;
  }

  /** What runs on a chunk as it is sealed: the filters of its tag; re-emitted events are stored before it. */
  private transform(account: InputAccount, tag: string, chunk: Chunk): Chunk {
    const plan = this.planFor(account.name, tag);
    if (!plan.steps.length) return chunk;
    const r = transformChunk(chunk, plan.steps, (i, err) => this.stepFailed(account.name, i < 0 ? undefined : plan.filters[i]!.name, err));
    for (let i = 0; i < plan.steps.length; i++) {
      const f = plan.filters[i]!;
      if (!r.seen[i]) continue;
      const labels = { name: f.name };
      this.metrics.filterRecords.inc(labels, r.seen[i]);
      if (r.dropped[i]) this.metrics.filterDropped.inc(labels, r.dropped[i]);
      if (r.emits[i]) this.metrics.filterEmitted.inc(labels, r.emits[i]);
    }
    if (r.emitted.length) this.reemit(account, r.chunk, r.emitted, plan);
    return r.chunk;
  }

  /** Stores a chunk's re-emitted events through their filters' emitters, before the chunk itself. */
  private reemit(source: InputAccount, parent: Chunk, emitted: Emitted[], plan: Plan): void {
    const groups = new Map<FilterInstance, Map<string, Buffer[]>>();
    for (const e of emitted) {
      const f = plan.filters[e.step];
      if (!f?.emitter) continue;
      let tags = groups.get(f);
      if (!tags) groups.set(f, (tags = new Map()));
      let list = tags.get(e.tag);
      if (!list) tags.set(e.tag, (list = []));
      list.push(e.data);
    }
    for (const [f, tags] of groups) {
      if (f.emitter!.account !== source) source.feeds.add(f.emitter!.account);
      for (const [tag, datas] of tags) this.store_(f, tag, datas, parent);
    }
  }

  /**
   * Writes re-emitted events into chunks of the filter's emitter under `tag`
   * and seals them now: they are stored (on disk, with filesystem storage)
   * before the chunk they came from, and that chunk's release waits for theirs.
   */
  private store_(f: FilterInstance, tag: string, datas: Buffer[], parent: Chunk | undefined): void {
    const account = f.emitter!.account;
    const w = this.store.writer(account, tag);
    if (this.emitDepth >= MAX_REEMIT_DEPTH) {
      w.transform = undefined;
      if (!this.warnedLoop) {
        this.warnedLoop = true;
        this.log.warn({ filter: f.name, tag, depth: this.emitDepth }, `events were re-emitted ${MAX_REEMIT_DEPTH} times in a row (filters re-emitting each other's events in a loop?); they are stored under their last tag without passing the filters again (logged once)`);
      }
    }
    if (parent) {
      w.onStored = (c) => {
        c.parent = parent;
        parent.children = (parent.children ?? 0) + 1;
      };
    }
    let bytes = 0;
    this.emitDepth++;
    try {
      for (const d of datas) {
        w.appendEncoded(d, 1);
        bytes += d.length;
      }
    } finally {
      this.store.dropWriter(w);
      this.emitDepth--;
    }
    this.metrics.inputRecords.inc({ name: account.name }, datas.length);
    this.metrics.inputBytes.inc({ name: account.name }, bytes);
  }

  /** A step that throws: logged at most every 5 s per input and step, with how many were not logged. */
  private stepFailed(input: string, step: string | undefined, err: unknown): void {
    const id = `${input}\u0000${step ?? ''}`;
    const now = Date.now();
    const s = this.failures.get(id);
    if (s && now - s.at < 5000) {
      s.since++;
      return;
    }
    this.failures.set(id, { at: now, since: 0 });
    const msg = step === undefined
      ? 'a chunk or an event could not be decoded or encoded for the filters; it is stored as it came in'
      : 'a filter failed on an event; the event goes on without it';
    this.log.error({ input, step, err: (err as Error)?.message ?? String(err), not_logged_since_last: s?.since ?? 0 }, msg);
  }

  createOutput(o: OutputConfig, config: SluiceConfig): Output {
    const svc = config.service;
    return new Output({
      name: o.instance, match: o.match, workers: o.workers, retryLimit: o.retryLimit,
      retryBase: svc['scheduler.base'], retryCap: svc['scheduler.cap'], totalLimitSize: o.totalLimitSize, flushTimeoutMs: o.flushTimeout * 1000,
      chunkHandover: o.chunkHandover,
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
      this.metrics.initInput(ic.instance);
      try {
        const input = INPUTS[ic.kind]!.create(ic.values, {
          name: ic.instance, tag: ic.tag, tagConfigured: ic.tagConfigured, store: this.store, account, metrics: this.metrics, log: this.log.child({ input: ic.instance }),
          parser: (name) => this.parsers.get(name),
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
    this.flushTimer = setInterval(() => {
      this.store.sealAll();
      this.flushFilters(false);
    }, this.config.service.flush * 1000);
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

  /** Stops the inputs, seals their chunks, and has filters give up what they hold: nothing accepted stays outside the store. */
  async stopInputs(): Promise<void> {
    await Promise.all(this.inputs.map((i) => i.input.stop()));
    this.store.sealAll();
    this.flushFilters(true);
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
    for (const f of this.filters) f.filter.close?.();
    this.checkpoint();
    this.log.info('shutdown: plugins stopped, checkpoints written');
    return this.undelivered;
  }
}

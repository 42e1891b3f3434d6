// Hot reload: load and validate the new config completely, start new or
// changed plugins and have them check their config, and only then touch the
// running pipeline. Changed outputs are drained with an acknowledgement (a
// drain marker answered, then an empty in-flight table) and stopped before
// their replacements configure for real, so two instances never act on the
// same resource; their deliveries move to the new instance, oldest first,
// attempts unchanged: a reload never spends retry budget and never drops a
// chunk.
import { loadConfig } from '../config/load.ts';
import type { Metrics } from '../api/metrics.ts';
import type { Output } from '../engine/output.ts';
import { Pipeline, PipelineConfigError } from '../engine/pipeline.ts';
import { pinoLevel, type Logger } from '../log.ts';
import { diffConfigs } from './diff.ts';

export interface OutputReload {
  action: 'added' | 'changed' | 'removed' | 'unchanged';
  pid_before?: number | null;
  pid_after?: number | null;
  /** Chunks answered while draining. */
  drained_chunks?: number;
  /** The plugin ignored Drain past the deadline and was killed; its chunks went to the new instance. */
  killed?: boolean;
  /** Undelivered chunks handed to the new instance (changed) or dropped for this output (removed). */
  handed_over_chunks?: number;
  /** A new plugin process took over (added or changed). */
  restarted: boolean;
}

export interface ReloadResult {
  id: number;
  status: 'ok' | 'failed';
  trigger: string;
  started_at: string;
  duration_ms: number;
  outputs: { [name: string]: OutputReload };
  inputs: { [name: string]: 'added' | 'changed' | 'removed' | 'unchanged' };
  /** Filters by instance name; a changed or removed one gave up the events it held (multiline) through the old config. */
  filters: { [name: string]: 'added' | 'changed' | 'removed' | 'unchanged' };
  errors: string[];
  /** With status failed: true when the new config is in place except for what errors names (an input that could not start). */
  applied?: boolean;
}

export class Reloader {
  count = 0;
  last: ReloadResult | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly file: string;
  private readonly pipeline: Pipeline;
  private readonly log: Logger;
  private readonly metrics: Metrics;

  /** --log-level wins over the file's log_level, on every reload too. */
  private readonly logLevel: string | undefined;

  constructor(file: string, pipeline: Pipeline, log: Logger, metrics: Metrics, logLevel?: string) {
    this.file = file;
    this.logLevel = logLevel;
    this.pipeline = pipeline;
    this.log = log;
    this.metrics = metrics;
  }

  private closed = false;

  /** Reloads wait for this (the pipeline's start): a reload never races the start. */
  after(p: Promise<unknown>): void {
    this.chain = this.chain.then(() => p).catch(() => undefined);
  }

  /** Refuses reloads from now on and resolves when none is running (shutdown). */
  close(): Promise<unknown> {
    this.closed = true;
    return this.chain;
  }

  /** Reloads after any reload already running; resolves with this reload's result. */
  reload(trigger: string): Promise<ReloadResult> {
    if (this.closed) {
      return Promise.resolve({
        id: this.count, status: 'failed', trigger, started_at: new Date().toISOString(), duration_ms: 0, outputs: {}, inputs: {}, filters: {},
        errors: ['sluice is stopping; a reload is not started'],
      });
    }
    const next = this.chain.then(() => this.run(trigger));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async run(trigger: string): Promise<ReloadResult> {
    const t0 = Date.now();
    const result: ReloadResult = {
      id: this.count + 1, status: 'ok', trigger, started_at: new Date(t0).toISOString(), duration_ms: 0, outputs: {}, inputs: {}, filters: {}, errors: [],
    };
    this.log.info({ trigger, reload: result.id }, 'reload: loading the new config');
    try {
      await this.apply(result);
    } catch (err) {
      result.status = 'failed';
      result.errors = err instanceof PipelineConfigError ? err.issues.map(String) : [(err as Error).message];
    }
    result.duration_ms = Date.now() - t0;
    this.count++;
    this.last = result;
    this.metrics.reloads.inc({ result: result.status });
    this.metrics.reloadSeconds.set(result.duration_ms / 1000);
    if (result.status === 'ok') this.log.info({ reload: result.id, duration_ms: result.duration_ms, outputs: result.outputs, inputs: result.inputs, filters: result.filters }, 'reload done');
    else if (result.applied) this.log.error({ reload: result.id, errors: result.errors }, 'reload applied, but these inputs could not start and are not running; fix the errors and reload again');
    else this.log.error({ reload: result.id, errors: result.errors }, 'reload refused: the old config keeps running untouched; fix the errors and reload again');
    return result;
  }

  private async apply(result: ReloadResult): Promise<void> {
    const p = this.pipeline;
    const { config, issues } = loadConfig(this.file);
    if (!config) throw new PipelineConfigError(issues);
    if (this.logLevel) config.service.log_level = this.logLevel;
    const diff = diffConfigs(p.config, config);
    if (diff.restartOnly.length) {
      throw new Error(`service.${diff.restartOnly.join(', service.')} cannot change on a reload; restart sluice to apply ${diff.restartOnly.length === 1 ? 'it' : 'them'}`);
    }

    // 1. Everything that can fail, before anything is touched. New and
    // changed plugins start and check their config, but take no resource
    // (open no file, connect nowhere) while the instance they replace runs.
    const starting = [...diff.outputs.added, ...diff.outputs.changed];
    const fresh = starting.map((oc) => p.createOutput(oc, config));
    await p.startOutputs(fresh, starting, config, true);
    let newInputs: typeof p.inputs;
    try {
      newInputs = p.createInputs([...diff.inputs.added, ...diff.inputs.changed], config);
    } catch (err) {
      await Promise.all(fresh.map((o) => o.discard()));
      throw err;
    }

    // 2. Inputs whose pipeline changes stop and seal their open chunks.
    const replaced = new Set(diff.inputs.changed.map((i) => i.instance));
    const stopping = new Set([...replaced, ...diff.inputs.removed]);
    const handOffs = new Map<string, unknown>();
    await Promise.all(p.inputs.filter((i) => stopping.has(i.name)).map(async (i) => {
      await i.input.stop(replaced.has(i.name) ? { handOff: true } : undefined);
      handOffs.set(i.name, i.input.handOff?.());
    }));

    // 3. New routing: from now on chunks queue at the new instances, behind what the old ones hand over.
    const old = new Map(p.outputs.map((o) => [o.name, o]));
    const newByName = new Map(fresh.map((o) => [o.name, o]));
    p.setOutputs(config.outputs.map((oc) => newByName.get(oc.instance) ?? old.get(oc.instance)!));

    // 4. Changed and removed outputs: drain with acknowledgement, stop, hand over.
    const deadlineMs = config.service['reload.drain_timeout'] * 1000;
    const retiring = [...diff.outputs.changed.map((o) => o.instance), ...diff.outputs.removed];
    await Promise.all(retiring.map(async (name) => {
      const before = old.get(name)!;
      const pidBefore = before.supervisor.pid ?? null;
      const { drained, killed } = await before.drainForReload(deadlineMs);
      const left = before.handOver();
      const replacement = newByName.get(name);
      if (replacement) replacement.adopt(left);
      else before.abandon(left);
      this.metrics.reloadDrained.inc({ name }, drained);
      result.outputs[name] = {
        action: replacement ? 'changed' : 'removed', restarted: !!replacement, pid_before: pidBefore,
        drained_chunks: drained, killed, handed_over_chunks: left.length,
      };
    }));

    // 5. Only now, with every replaced instance stopped, the new ones configure for real and take chunks.
    await Promise.all(fresh.map((o) => o.activate()));
    for (const oc of diff.outputs.changed) result.outputs[oc.instance]!.pid_after = newByName.get(oc.instance)!.supervisor.pid ?? null;
    for (const oc of diff.outputs.added) result.outputs[oc.instance] = { action: 'added', restarted: true, pid_after: newByName.get(oc.instance)!.supervisor.pid ?? null };
    for (const name of diff.outputs.unchanged) result.outputs[name] = { action: 'unchanged', restarted: false, pid_before: old.get(name)!.supervisor.pid ?? null, pid_after: old.get(name)!.supervisor.pid ?? null };

    // 6. Inputs: the new ones start (changed ones from where the old stopped).
    const kept = new Map(p.inputs.map((i) => [i.name, i]));
    const made = new Map(newInputs.map((i) => [i.name, i]));
    p.inputs = config.inputs.map((ic) => made.get(ic.instance) ?? kept.get(ic.instance)!);
    const failed = await p.startInputs(newInputs, config, handOffs);
    if (failed.length) {
      // Too late to refuse: the rest of the config is in place. An input that
      // could not start (its port taken) is left out of the running config,
      // so the next reload sees it as added and tries it again.
      const names = new Set(failed.map((f) => f.name));
      p.inputs = p.inputs.filter((i) => !names.has(i.name));
      config.inputs = config.inputs.filter((ic) => !names.has(ic.instance));
      result.status = 'failed';
      result.applied = true;
      result.errors = failed.map((f) => String(f.issue));
    }
    for (const ic of diff.inputs.added) result.inputs[ic.instance] = 'added';
    for (const ic of diff.inputs.changed) result.inputs[ic.instance] = 'changed';
    for (const name of diff.inputs.removed) result.inputs[name] = 'removed';
    for (const name of diff.inputs.unchanged) result.inputs[name] = 'unchanged';
    for (const fc of diff.filters.added) result.filters[fc.instance] = 'added';
    for (const fc of diff.filters.changed) result.filters[fc.instance] = 'changed';
    for (const name of diff.filters.removed) result.filters[name] = 'removed';
    for (const name of diff.filters.unchanged) result.filters[name] = 'unchanged';

    // 7. Reloadable service keys.
    const flushChanged = config.service.flush !== p.config.service.flush;
    this.log.level = pinoLevel(config.service.log_level);
    p.config = config;
    p.setFilters(config);
    if (flushChanged) p.startFlushTimer();
  }
}

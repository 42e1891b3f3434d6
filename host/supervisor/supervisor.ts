// Keeps one plugin process alive for one output instance: start, configure,
// health-check, restart with backoff, and the in-flight table of chunks sent
// to the current process and not yet answered.
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '../log.ts';
import type { ConfigError, DescribeResponse, FlushRequest, FlushResult, PluginMetric } from '../../sdk/protocol.ts';
import { PluginClient } from './plugin-client.ts';
import { PluginProcess, PluginStartError, type PluginCommand } from './plugin-process.ts';

export type PluginState = 'starting' | 'ready' | 'draining' | 'stopping' | 'backoff' | 'stopped' | 'failed';
export type FlushOutcome = 'OK' | 'RETRY' | 'ERROR' | 'TIMEOUT';

export interface SupervisorOptions {
  instance: string;
  command: PluginCommand;
  /** Plugin-specific keys, sent to Configure as JSON. */
  config: { [k: string]: unknown };
  hostVersion: string;
  logLevel: string;
  startTimeoutMs: number;
  flushTimeoutMs: number;
  healthIntervalMs: number;
  stopGraceMs: number;
}

export interface SupervisorHooks {
  /** The plugin can take chunks (after a start or a restart). */
  ready(): void;
  result(chunkId: string, outcome: FlushOutcome, message: string, retryAfterMs: number): void;
  /** The process is gone: these chunks were in flight and are not delivered. */
  lost(chunkIds: string[], reason: string): void;
  restarted?(): void;
  /** The process is gone (crash, hang, stop). */
  down?(): void;
}

/** Configure refused the config: fatal, restarting cannot help. */
export class ConfigureRejected extends Error {
  readonly errors: ConfigError[];
  constructor(plugin: string, errors: ConfigError[]) {
    super(`plugin "${plugin}" rejected its config: ${errors.map((e) => (e.key ? `${e.key}: ${e.message}` : e.message)).join('; ')}`);
    this.errors = errors;
  }
}

const RPC_TIMEOUT_MS = 10_000;
const HEALTH_TIMEOUT_MS = 5_000;
const HEALTH_FAILURES_BEFORE_RESTART = 3;
const BACKOFF_BASE_S = 1;
const BACKOFF_CAP_S = 60;
/** Ready this long and the next crash starts the backoff over. */
const STABLE_MS = 60_000;
const KILL_WAIT_MS = 2_000;

interface Generation {
  proc: PluginProcess;
  client: PluginClient;
  stream?: ClientDuplexStream<FlushRequest, FlushResult>;
  gone: boolean;
}

function timeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<undefined>((r) => (t = setTimeout(() => r(undefined), ms)))]).finally(() => clearTimeout(t));
}

export class PluginSupervisor {
  state: PluginState = 'starting';
  restarts = 0;
  lastError: string | undefined;
  described: DescribeResponse | undefined;
  readonly inFlight = new Map<string, { attempt: number; sentAt: number }>();
  private readonly opts: SupervisorOptions;
  private readonly hooks: SupervisorHooks;
  private readonly log: Logger;
  private gen: Generation | undefined;
  private failures = 0;
  private readyAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private launching: Promise<void> | undefined;
  private stopRequested = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(opts: SupervisorOptions, hooks: SupervisorHooks, log: Logger) {
    this.opts = opts;
    this.hooks = hooks;
    this.log = log.child({ output: opts.instance, plugin: opts.command.name });
  }

  get pid(): number | undefined {
    return this.gen && !this.gen.gone ? this.gen.proc.pid : undefined;
  }

  /**
   * The first start. A plugin that fails to start is retried with backoff and
   * the host keeps running; a rejected config is fatal and thrown.
   */
  async start(): Promise<void> {
    try {
      await (this.launching = this.launch());
    } catch (err) {
      if (err instanceof ConfigureRejected) {
        this.state = 'failed';
        this.lastError = err.message;
        throw err;
      }
      this.launchFailed(err as Error);
    }
  }

  private async launch(): Promise<void> {
    this.state = 'starting';
    const proc = await PluginProcess.start(this.opts.command, {
      log: this.log, startTimeoutMs: this.opts.startTimeoutMs, logLevel: this.opts.logLevel,
    });
    const gen: Generation = { proc, client: new PluginClient(proc.handshake), gone: false };
    this.gen = gen;
    void proc.exited.then((e) => this.processGone(gen, e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`));
    try {
      this.described = await gen.client.describe(this.opts.hostVersion, RPC_TIMEOUT_MS);
      const errors = await gen.client.configure(this.opts.instance, this.opts.config, RPC_TIMEOUT_MS);
      if (errors.length) throw new ConfigureRejected(this.opts.command.name, errors);
    } catch (err) {
      gen.gone = true;
      proc.kill('SIGKILL');
      if (err instanceof ConfigureRejected || err instanceof PluginStartError) throw err;
      throw new PluginStartError(`plugin "${this.opts.command.name}" failed ${this.described ? 'Configure' : 'Describe'}: ${(err as Error).message}`);
    }
    if (gen.gone) throw new PluginStartError(`plugin "${this.opts.command.name}" exited during Configure`);
    // stop() was called while this process started: it stops this process.
    if (this.stopRequested) return;
    const stream = gen.client.openFlush();
    gen.stream = stream;
    stream.on('data', (r: FlushResult) => this.onResult(r));
    stream.on('error', (err) => this.streamBroken(gen, err.message));
    stream.on('end', () => this.streamBroken(gen, 'the plugin closed the Flush stream'));
    this.state = 'ready';
    this.readyAt = Date.now();
    this.lastError = undefined;
    this.log.debug({ plugin_pid: proc.pid, version: this.described?.version }, 'plugin ready');
    this.sweepTimer = setInterval(() => this.sweepTimeouts(), Math.min(1000, this.opts.flushTimeoutMs)).unref();
    this.healthTimer = setInterval(() => void this.checkHealth(gen), this.opts.healthIntervalMs).unref();
    this.hooks.ready();
  }

  private launchFailed(err: Error): void {
    this.lastError = err.message;
    if (this.stopRequested) return;
    this.log.error({ err: err.message }, 'plugin failed to start; retrying with backoff');
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopRequested) return;
    this.failures++;
    const delayS = Math.min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (this.failures - 1));
    this.state = 'backoff';
    this.log.warn({ retry_in_s: delayS, restarts: this.restarts }, 'plugin will be restarted');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restarts++;
      this.hooks.restarted?.();
      if (this.stopRequested) return;
      this.launching = this.launch().catch((e) => {
        if (e instanceof ConfigureRejected) this.log.error({ errors: e.errors }, e.message);
        this.launchFailed(e);
      });
    }, delayS * 1000);
  }

  /** The process, its stream or its health is gone: return its chunks, restart unless stopping. */
  private processGone(gen: Generation, reason: string): void {
    if (gen.gone) return;
    gen.gone = true;
    // Also reaps what the plugin left behind in its process group.
    gen.proc.kill('SIGKILL');
    gen.client.close();
    clearInterval(this.sweepTimer);
    clearInterval(this.healthTimer);
    if (this.gen !== gen) return;
    this.hooks.down?.();
    if (Date.now() - this.readyAt >= STABLE_MS) this.failures = 0;
    const ids = [...this.inFlight.keys()];
    this.inFlight.clear();
    const stopping = this.stopRequested;
    if (!stopping) {
      this.lastError = `plugin ${reason}`;
      this.log.error({ plugin_pid: gen.proc.pid, in_flight: ids.length }, `plugin ${reason}; its in-flight chunks go back to pending`);
    }
    if (ids.length) this.hooks.lost(ids, reason);
    if (!stopping) this.scheduleRestart();
  }

  private streamBroken(gen: Generation, why: string): void {
    // While stopping, the stream ends because the plugin is exiting: let it finish; stop() waits.
    if (gen.gone || this.stopRequested) return;
    this.processGone(gen, `broke its Flush stream (${why})`);
  }

  private onResult(r: FlushResult): void {
    if (!this.inFlight.delete(r.chunk_id)) {
      this.log.warn({ chunk: r.chunk_id, status: r.status }, 'plugin answered a chunk that is not in flight (late after a timeout, or nonsense); ignored');
      return;
    }
    let outcome: FlushOutcome;
    if (r.status === 'OK' || r.status === 'RETRY' || r.status === 'ERROR') outcome = r.status;
    else {
      this.log.warn({ chunk: r.chunk_id, status: r.status }, 'plugin answered an unknown Flush status; treated as RETRY');
      outcome = 'RETRY';
    }
    this.hooks.result(r.chunk_id, outcome, r.message, Number(r.retry_after_ms) || 0);
  }

  private sweepTimeouts(): void {
    const limit = Date.now() - this.opts.flushTimeoutMs;
    for (const [id, e] of this.inFlight) {
      if (e.sentAt > limit) continue;
      this.inFlight.delete(id);
      this.log.warn({ chunk: id, flush_timeout_s: this.opts.flushTimeoutMs / 1000 }, 'chunk not answered within flush_timeout; it will be retried');
      this.hooks.result(id, 'TIMEOUT', 'flush_timeout', 0);
    }
  }

  private async checkHealth(gen: Generation): Promise<void> {
    if (gen.gone || this.state !== 'ready') return;
    let failures = 0;
    while (failures < HEALTH_FAILURES_BEFORE_RESTART && !gen.gone) {
      const ok = await gen.client.healthy(HEALTH_TIMEOUT_MS).catch(() => false);
      if (ok) return;
      failures++;
    }
    if (!gen.gone) this.processGone(gen, `failed ${failures} health checks in a row (hung?)`);
  }

  /** The plugin's own counters; empty when it is not running or does not answer in time. */
  async pluginMetrics(timeoutMs: number): Promise<PluginMetric[]> {
    const gen = this.gen;
    if (!gen || gen.gone) return [];
    return gen.client.metrics(timeoutMs).catch(() => []);
  }

  /** True if the chunk went out; false if the plugin is not ready. */
  send(req: FlushRequest): boolean {
    const s = this.gen?.stream;
    if (this.state !== 'ready' || !s || this.gen!.gone) return false;
    this.inFlight.set(req.chunk_id, { attempt: req.attempt, sentAt: Date.now() });
    s.write(req);
    return true;
  }

  /**
   * Asks the plugin to deliver everything now and waits, up to the deadline,
   * until every in-flight chunk is answered. Returns how many are left.
   */
  async drain(deadlineMs: number): Promise<number> {
    const gen = this.gen;
    if (!gen || gen.gone || this.state !== 'ready') return this.inFlight.size;
    this.state = 'draining';
    const until = Date.now() + deadlineMs;
    await timeout(gen.client.drain(deadlineMs).catch((err) => this.log.warn({ err: err.message }, 'Drain failed')), deadlineMs);
    while (this.inFlight.size && Date.now() < until && !gen.gone) await new Promise((r) => setTimeout(r, 20));
    return this.inFlight.size;
  }

  /** Kills the current process at once; its in-flight chunks come back through lost(). */
  kill(reason: string, restart = true): void {
    const gen = this.gen;
    if (!restart) this.stopRequested = true;
    if (gen && !gen.gone) {
      this.log.warn({ plugin_pid: gen.proc.pid, in_flight: this.inFlight.size }, `killing the plugin: it ${reason}`);
      this.processGone(gen, reason);
    }
  }

  /** Shutdown RPC, then SIGTERM after the grace, then SIGKILL, to the whole process group. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    clearTimeout(this.restartTimer);
    this.state = 'stopping';
    await this.launching?.catch(() => undefined);
    // A launch that was running has set its own state meanwhile.
    this.state = 'stopping';
    const gen = this.gen;
    if (gen && !gen.gone) {
      await timeout(gen.client.shutdown(1000).catch(() => undefined), 1000);
      if (!(await timeout(gen.proc.exited, this.opts.stopGraceMs))) {
        this.log.warn({ grace_s: this.opts.stopGraceMs / 1000 }, 'plugin did not exit after Shutdown; sending SIGTERM');
        gen.proc.kill('SIGTERM');
        if (!(await timeout(gen.proc.exited, KILL_WAIT_MS))) gen.proc.kill('SIGKILL');
      }
      await gen.proc.exited;
      this.processGone(gen, 'stopped');
    }
    this.state = 'stopped';
  }
}

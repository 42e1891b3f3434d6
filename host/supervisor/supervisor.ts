// Keeps one plugin process alive for one output instance: start, configure,
// health-check, restart with backoff, and the Flush stream. It owns the
// process and the stream, not the chunks: which sends are in flight is the
// output's delivery table (engine/output.ts). When a process goes, the
// output learns it through gone() and takes its sends back.
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '../log.ts';
import { CHUNK_REF_CAPABILITY, type ConfigError, type DescribeResponse, type FlushRequest, type FlushResult, type PluginMetric } from '../../sdk/src/protocol.ts';
import { PluginClient } from '../../sdk/src/client.ts';
import { PluginStartError, startPlugin, type PluginCommand, type PluginProcess } from './plugin-process.ts';

export type PluginState = 'starting' | 'validated' | 'ready' | 'draining' | 'stopping' | 'backoff' | 'stopped' | 'failed';

export interface SupervisorOptions {
  instance: string;
  command: PluginCommand;
  /** Plugin-specific keys, sent to Configure as JSON. */
  config: { [k: string]: unknown };
  hostVersion: string;
  logLevel: string;
  startTimeoutMs: number;
  /** Failed starts in a row before start() gives up; Infinity: never. */
  startRetries: number;
  healthIntervalMs: number;
  stopGraceMs: number;
}

export interface SupervisorHooks {
  /** The plugin can take chunks (after a start or a restart). */
  ready(): void;
  /** An answer from the plugin, as it came (status not yet checked). */
  answer(r: FlushResult): void;
  /** The process is gone (crash, hang, kill, stop): nothing sent to it will be answered. */
  gone(reason: string): void;
  restarted?(): void;
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
/** start_retries no_limits, for a reload's new instance: the reload is refused after this many failed starts. */
const RELOAD_START_TRIES = 3;

interface Generation {
  proc: PluginProcess;
  client: PluginClient;
  stream?: ClientDuplexStream<FlushRequest, FlushResult>;
  /** Resolves when the plugin answers the drain marker drainSeq (version 2). */
  drained?: () => void;
  drainSeq?: number;
  gone: boolean;
}

function timeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<undefined>((r) => (t = setTimeout(() => r(undefined), ms)))]).finally(() => clearTimeout(t));
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PluginSupervisor {
  state: PluginState = 'starting';
  restarts = 0;
  lastError: string | undefined;
  described: DescribeResponse | undefined;
  private readonly opts: SupervisorOptions;
  private readonly hooks: SupervisorHooks;
  private readonly log: Logger;
  private gen: Generation | undefined;
  private failures = 0;
  private readyAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private launching: Promise<void> | undefined;
  private stopRequested = false;
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(opts: SupervisorOptions, hooks: SupervisorHooks, log: Logger) {
    this.opts = opts;
    this.hooks = hooks;
    this.log = log.child({ output: opts.instance, plugin: opts.command.name });
  }

  get pid(): number | undefined {
    return this.gen && !this.gen.gone ? this.gen.proc.pid : undefined;
  }

  /** The protocol version the current process speaks (1 or 2). */
  get protocol(): number {
    return this.gen?.proc.handshake.appVersion ?? 0;
  }

  /** The current process reads chunks by reference: it declared chunk_ref and is on this machine (a unix socket). */
  get takesRefs(): boolean {
    return this.gen?.proc.handshake.network === 'unix' && !!this.described?.capabilities?.includes(CHUNK_REF_CAPABILITY);
  }

  /**
   * The first start (validateOnly: only up to a validate-only Configure, for
   * a reload; activate() finishes it). A plugin that fails to start is tried
   * again with backoff, up to start_retries times in a row, then the last
   * error is thrown; a rejected config is thrown at once.
   */
  async start(validateOnly = false): Promise<void> {
    for (let failed = 0; ; ) {
      try {
        await (this.launching = this.launch(validateOnly));
        return;
      } catch (err) {
        this.lastError = (err as Error).message;
        if (err instanceof ConfigureRejected || this.stopRequested) {
          this.state = 'failed';
          throw err;
        }
        // A reload's new instance never starts in the background: it would act beside the instance it replaces.
        const limit = validateOnly && !Number.isFinite(this.opts.startRetries) ? RELOAD_START_TRIES : this.opts.startRetries;
        if (++failed >= limit) {
          this.state = 'failed';
          const times = failed > 1 ? `failed to start ${failed} times in a row (start_retries: ${limit}); the last time: ` : '';
          throw new PluginStartError(`${times}${(err as Error).message}`);
        }
        if (!Number.isFinite(limit) && failed === 1) {
          // start_retries: no_limits: the host runs without this output meanwhile.
          this.launchFailed(err as Error);
          return;
        }
        const waitS = Math.min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (failed - 1));
        this.log.warn({ err: (err as Error).message, retry_in_s: waitS, failed, start_retries: this.opts.startRetries }, 'plugin failed to start; trying again');
        this.state = 'backoff';
        await delay(waitS * 1000);
        if (this.stopRequested) throw new PluginStartError(`plugin "${this.opts.command.name}" was stopped before it started`);
        this.restarts++;
        this.hooks.restarted?.();
      }
    }
  }

  /** Finishes a start(true): the real Configure, then the Flush stream. A failure restarts with backoff. */
  async activate(): Promise<void> {
    const gen = this.gen;
    if (this.state !== 'validated' || !gen) return;
    try {
      // A validated process that died while the old instance drained is simply started anew.
      await (this.launching = gen.gone ? this.launch(false) : this.configure(gen, false).then(() => this.open(gen)));
    } catch (err) {
      if (this.gen) this.abandon(this.gen);
      if (err instanceof ConfigureRejected) this.log.error({ errors: err.errors }, err.message);
      this.launchFailed(err as Error);
    }
  }

  private async launch(validateOnly: boolean): Promise<void> {
    this.state = 'starting';
    const proc = await startPlugin(this.opts.command, {
      log: this.log, startTimeoutMs: this.opts.startTimeoutMs, logLevel: this.opts.logLevel,
    });
    const gen: Generation = { proc, client: new PluginClient(proc.handshake), gone: false };
    this.gen = gen;
    void proc.exited.then((e) => this.processGone(gen, e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`));
    try {
      this.described = await gen.client.describe(this.opts.hostVersion, RPC_TIMEOUT_MS);
      // Version 1 has no validate-only Configure: such a plugin is configured only when it takes over.
      if (!validateOnly || proc.handshake.appVersion >= 2) await this.configure(gen, validateOnly);
    } catch (err) {
      this.abandon(gen);
      throw err;
    }
    if (validateOnly) {
      this.state = 'validated';
      return;
    }
    this.open(gen);
  }

  private async configure(gen: Generation, validateOnly: boolean): Promise<void> {
    let errors: ConfigError[];
    try {
      errors = await gen.client.configure(this.opts.instance, this.opts.config, validateOnly, RPC_TIMEOUT_MS);
    } catch (err) {
      throw new PluginStartError(`plugin "${this.opts.command.name}" failed ${this.described ? 'Configure' : 'Describe'}: ${(err as Error).message}`);
    }
    if (errors.length) throw new ConfigureRejected(this.opts.command.name, errors);
    if (gen.gone) throw new PluginStartError(`plugin "${this.opts.command.name}" exited during Configure`);
  }

  /** A process that failed to start is killed without going through gone(): nothing was sent to it. */
  private abandon(gen: Generation): void {
    gen.gone = true;
    gen.proc.kill('SIGKILL');
    gen.client.close();
  }

  private open(gen: Generation): void {
    // stop() was called while this process started: it stops this process.
    if (this.stopRequested) return;
    const stream = gen.client.openFlush();
    gen.stream = stream;
    stream.on('data', (r: FlushResult) => {
      if (r.drained) {
        if (Number(r.send_seq) === gen.drainSeq) gen.drained?.();
        else this.log.warn({ send_seq: r.send_seq }, 'plugin answered a drain marker that was not sent; ignored');
      } else this.hooks.answer(r);
    });
    stream.on('error', (err) => this.streamBroken(gen, err.message));
    stream.on('end', () => this.streamBroken(gen, 'the plugin closed the Flush stream'));
    this.state = 'ready';
    this.readyAt = Date.now();
    this.lastError = undefined;
    this.log.debug({ plugin_pid: gen.proc.pid, version: this.described?.version, protocol: gen.proc.handshake.appVersion }, 'plugin ready');
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
      this.launching = this.launch(false).catch((e) => {
        if (e instanceof ConfigureRejected) this.log.error({ errors: e.errors }, e.message);
        this.launchFailed(e);
      });
    }, delayS * 1000);
  }

  /** The process, its stream or its health is gone: the output takes its sends back; restart unless stopping. */
  private processGone(gen: Generation, reason: string): void {
    if (gen.gone) return;
    gen.gone = true;
    // Also reaps what the plugin left behind in its process group.
    gen.proc.kill('SIGKILL');
    gen.client.close();
    gen.drained?.();
    clearInterval(this.healthTimer);
    if (this.gen !== gen) return;
    if (Date.now() - this.readyAt >= STABLE_MS) this.failures = 0;
    const stopping = this.stopRequested;
    if (!stopping) {
      this.lastError = `plugin ${reason}`;
      this.log.error({ plugin_pid: gen.proc.pid }, `plugin ${reason}; its in-flight chunks go back to pending`);
    }
    this.hooks.gone(reason);
    // A validated process waits for activate(), which starts a new one: the old instance may still hold the resources.
    if (!stopping && this.state !== 'validated') this.scheduleRestart();
  }

  private streamBroken(gen: Generation, why: string): void {
    // While stopping, the stream ends because the plugin is exiting: let it finish; stop() waits.
    if (gen.gone || this.stopRequested) return;
    this.processGone(gen, `broke its Flush stream (${why})`);
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

  /** True if the request went out; false if the plugin is not ready. */
  send(req: FlushRequest): boolean {
    const gen = this.gen;
    if (this.state !== 'ready' || !gen?.stream || gen.gone) return false;
    gen.stream.write(req);
    return true;
  }

  /**
   * Asks the plugin to deliver everything now. Version 2: a drain marker
   * after the last chunk on the Flush stream, answered once every send
   * before it is answered. Version 1: the unary Drain call. Resolves when
   * answered, the process is gone, or at the deadline; the output's
   * in-flight table says what is left.
   */
  async drain(deadlineMs: number, seq: number): Promise<void> {
    const gen = this.gen;
    if (!gen || gen.gone || !gen.stream || (this.state !== 'ready' && this.state !== 'draining')) return;
    this.state = 'draining';
    if (gen.proc.handshake.appVersion >= 2) {
      gen.drainSeq = seq;
      const answered = new Promise<void>((r) => (gen.drained = r));
      gen.stream.write({ chunk_id: '', tag: '', events: Buffer.alloc(0), count: 0, attempt: 0, send_seq: seq, drain: true, deadline_ms: deadlineMs });
      await timeout(answered, deadlineMs);
    } else {
      await timeout(gen.client.drain(deadlineMs).catch((err) => this.log.warn({ err: err.message }, 'Drain failed')), deadlineMs);
    }
  }

  /** Kills the current process at once; the output takes its sends back through gone(). */
  kill(reason: string, restart = true): void {
    const gen = this.gen;
    if (!restart) this.stopRequested = true;
    if (gen && !gen.gone) {
      this.log.warn({ plugin_pid: gen.proc.pid }, `killing the plugin: it ${reason}`);
      this.processGone(gen, reason);
    }
  }

  /** Half-closes the Flush stream, Shutdown, then SIGTERM after the grace, then SIGKILL, to the whole process group. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    clearTimeout(this.restartTimer);
    this.state = 'stopping';
    await this.launching?.catch(() => undefined);
    // A launch that was running has set its own state meanwhile.
    this.state = 'stopping';
    const gen = this.gen;
    if (gen && !gen.gone) {
      // The plugin answers what is outstanding and ends its side; then it is told to exit.
      if (gen.stream) {
        const ended = new Promise((r) => gen.stream!.once('end', r).once('error', r).once('close', r));
        gen.stream.end();
        await timeout(ended, 1000);
      }
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

// The plugin test harness: start a plugin exactly as sluice does and speak
// the protocol to it call by call, from any test runner (node:test, vitest,
// jest). Every wait is bounded and says what did not happen.
//
//   const plugin = await startPlugin(['node', 'src/plugin.ts']);
//   assert.deepEqual(await plugin.configure({ path: '/tmp/x' }), []);
//   assert.equal((await plugin.flush('app.log', [{ log: 'hi' }])).status, 'OK');
//   await plugin.stop();
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { status as grpcStatus } from '@grpc/grpc-js';
import { PluginClient } from './client.ts';
import { EventTime, encodeEvents, type Record } from './codec/events.ts';
import { PluginProcess, type Exit } from './launch.ts';
import {
  APP_PROTOCOL_VERSIONS, PINO_LEVELS,
  type ChunkRef, type ConfigError, type DescribeResponse, type FlushRequest, type FlushResult, type Handshake, type PluginMetric,
} from './protocol.ts';

export type { ChunkRef, ConfigError, DescribeResponse, Exit, Handshake, PluginMetric };
export { PluginStartError } from './launch.ts';

export interface HarnessOptions {
  /** Added to the plugin's environment (sluice's `env:` map). */
  env?: { [k: string]: string };
  /** PLUGIN_PROTOCOL_VERSIONS offered; default what sluice offers (1,2). */
  versions?: number[];
  /** SLUICE_LOG_LEVEL; default `info`. */
  logLevel?: string;
  /** How long the handshake may take; default 10 s (sluice's start_timeout). */
  startTimeoutMs?: number;
  /** The bound on every other wait (an answer, a drain, an exit); default 10 s. */
  timeoutMs?: number;
  /** The instance name sent in Configure; default `<plugin>.0`. */
  instance?: string;
}

export interface FlushOutcome {
  status: 'OK' | 'RETRY' | 'ERROR' | string;
  message: string;
  retryAfterMs: number;
  chunkId: string;
  /** The send this answers (version 2; 0 in version 1). */
  sendSeq: number;
  /** Present (true) when the plugin said it could not read the send's reference: sluice then sends the bytes. */
  refUnreadable?: true;
}

export interface FlushOptions {
  chunkId?: string;
  attempt?: number;
  /** `count` on the wire; default the number of events given (for bytes: 1). */
  count?: number;
  timeoutMs?: number;
  /**
   * Send the chunk by reference, as sluice does to a local plugin that
   * declares chunk_ref: `true` writes the events to a file in the plugin's
   * private directory (after a few bytes of header, so the offset is not 0)
   * and removes it once answered; a ChunkRef is sent as it is (a missing
   * file, a wrong CRC...), and the events are not sent.
   */
  ref?: true | ChunkRef;
}

/**
 * Events for `flush`: records (each the body of one event, stamped now with
 * empty metadata), or MessagePack bytes sent as they are (build them with
 * `encodeEvents` to set times and metadata, or pass anything at all to test
 * how the plugin copes).
 */
export type FlushEvents = Buffer | Uint8Array | Record[];

export interface LogLine {
  /** trace, debug, info, warn, error or fatal; plain text lines are info. */
  level: string;
  msg: string;
  /** The parsed JSON line; undefined for a plain text line. */
  record: { [k: string]: unknown } | undefined;
  raw: string;
}

interface Pending {
  resolve(r: FlushResult): void;
  reject(e: Error): void;
}


function parseLog(raw: string): LogLine {
  if (raw.startsWith('{')) {
    try {
      const rec = JSON.parse(raw);
      if (rec && typeof rec === 'object' && !Array.isArray(rec)) {
        const lv = rec['@level'] ?? rec.level;
        const level = typeof lv === 'number' ? (PINO_LEVELS[lv] ?? String(lv)) : String(lv ?? 'info').toLowerCase();
        const msg = rec['@message'] ?? rec.msg ?? '';
        return { level, msg: typeof msg === 'string' ? msg : JSON.stringify(msg), record: rec, raw };
      }
    } catch {
      // plain text after all
    }
  }
  return { level: 'info', msg: raw, record: undefined, raw };
}

function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(what())), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** How long a failed call or Flush stream waits for the process's exit, to name it as the reason. */
const EXIT_EXPLAINS_MS = 2000;

function exitText(e: Exit): string {
  return e.error ? `could not run (${e.error})` : `exited (${e.signal ? `signal ${e.signal}` : `code ${e.code}`})`;
}

function toBytes(events: FlushEvents): { data: Buffer; count: number } {
  if (Buffer.isBuffer(events)) return { data: events, count: 1 };
  if (events instanceof Uint8Array) return { data: Buffer.from(events), count: 1 };
  const time = EventTime.now();
  return { data: encodeEvents(events.map((body) => ({ body, time }))), count: events.length };
}

/** What precedes the events in a reference file the harness writes: a reader must honour the offset. */
const REF_HEADER = Buffer.from('sluice harness chunk reference\n');

export class PluginHarness {
  readonly name: string;
  readonly argv: string[];
  /** Every stderr line, parsed. */
  readonly logs: LogLine[];
  /** Lines printed on stdout after the handshake (the protocol forbids any). */
  readonly stdout: string[];
  /** Answers that matched no outstanding send: duplicates, or a wrong send_seq/chunk_id. */
  readonly unmatchedAnswers: FlushResult[] = [];
  /** Set once the plugin ended the Flush stream or it failed. */
  flushStreamEnded: string | undefined;

  private readonly proc: PluginProcess;
  private readonly client: PluginClient;
  private readonly timeoutMs: number;
  private readonly instance: string;
  private hostOut = '';
  /** Called on every stderr line and every write on fd 3. */
  private readonly logWaiters: Set<() => void>;
  private stream: ReturnType<PluginClient['openFlush']> | undefined;
  private streamClosed: Promise<void> | undefined;
  private nextSeq = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly answerListeners = new Set<(answer: FlushResult, matched: boolean) => void>();
  private exit: Exit | undefined;
  private stopping: Promise<Exit> | undefined;
  private halfClosed = false;

  private constructor(name: string, argv: string[], proc: PluginProcess, o: HarnessOptions, logs: LogLine[], stdout: string[], logWaiters: Set<() => void>) {
    this.name = name;
    this.argv = argv;
    this.proc = proc;
    this.client = new PluginClient(proc.handshake);
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.instance = o.instance ?? `${name}.0`;
    this.logs = logs;
    this.stdout = stdout;
    this.logWaiters = logWaiters;
    proc.hostStdout?.setEncoding('utf8');
    proc.hostStdout?.on('data', (s: string) => {
      this.hostOut += s;
      for (const w of this.logWaiters) w();
    });
    void proc.exited.then((e) => {
      this.exit = e;
      this.failPending(`the plugin ${exitText(e)}`);
    });
  }

  /** Starts `argv` as sluice would and waits for its handshake. Throws PluginStartError with the reason (and its stderr) if it does not come up. */
  static async start(argv: string[], o: HarnessOptions = {}): Promise<PluginHarness> {
    const name = (argv[argv.length - 1] ?? 'plugin').split('/').pop()!.replace(/\.[cm]?[jt]s$/, '');
    const logs: LogLine[] = [];
    const stdout: string[] = [];
    const waiters = new Set<() => void>();
    const proc = await PluginProcess.start({
      name,
      argv,
      env: o.env,
      startTimeoutMs: o.startTimeoutMs ?? 10_000,
      versions: o.versions ?? APP_PROTOCOL_VERSIONS,
      logLevel: o.logLevel ?? 'info',
      hostStdout: 'pipe',
      onStderr: (line) => {
        logs.push(parseLog(line));
        for (const w of waiters) w();
      },
      onStdout: (line) => stdout.push(line),
    });
    return new PluginHarness(name, argv, proc, o, logs, stdout, waiters);
  }

  get pid(): number {
    return this.proc.pid;
  }
  get handshake(): Handshake {
    return this.proc.handshake;
  }
  /** The output protocol version the plugin picked. */
  get version(): number {
    return this.proc.handshake.appVersion;
  }
  /** What the plugin wrote on fd 3, sluice's own stdout (the stdout plugin's job). */
  get hostStdout(): string {
    return this.hostOut;
  }
  /** Resolves when the process has exited. */
  get exited(): Promise<Exit> {
    return this.proc.exited;
  }
  /** PLUGIN_UNIX_SOCKET_DIR: the private directory the plugin was given for its socket. */
  get socketDir(): string {
    return this.proc.socketDir;
  }
  /** Sends still waiting for an answer. */
  get outstanding(): number {
    return this.pending.size;
  }

  private what(s: string): string {
    return `plugin "${this.name}" ${s}`;
  }

  /**
   * The plugin's exit if it comes within a moment: a call or stream cut off
   * because the process died fails before the exit is seen, and the exit is
   * the better reason.
   */
  private async exitSoon(): Promise<Exit | undefined> {
    if (this.exit) return this.exit;
    let timer!: NodeJS.Timeout;
    const e = await Promise.race([this.proc.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), EXIT_EXPLAINS_MS)))]);
    clearTimeout(timer);
    return e;
  }

  /**
   * One unary call, bounded by `ms`: its error names the plugin, the call and
   * what went wrong (no answer in time, the plugin exited, or the gRPC error,
   * whose `code` it keeps).
   */
  private async ask<T>(call: string, ms: number, p: Promise<T>): Promise<T> {
    const late = () => this.what(`did not answer ${call} within ${ms / 1000}s`);
    try {
      return await within(p, ms + 100, late);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === undefined) throw err; // the harness's own bound
      if (code === grpcStatus.DEADLINE_EXCEEDED) throw Object.assign(new Error(late(), { cause: err }), { code });
      // A lost connection may be a death, seen a moment later; an error the plugin sent is its answer.
      const lost = code === grpcStatus.UNAVAILABLE || code === grpcStatus.CANCELLED;
      const exit = lost ? await this.exitSoon() : this.exit;
      const why = exit ? `it ${exitText(exit)}` : (err as Error).message;
      throw Object.assign(new Error(this.what(`failed ${call}: ${why}`), { cause: err }), { code });
    }
  }

  describe(hostVersion = '0.0.0-harness'): Promise<DescribeResponse> {
    return this.ask('Describe', this.timeoutMs, this.client.describe(hostVersion, this.timeoutMs));
  }

  /** Sends the config; returns the plugin's per-key errors (empty when accepted). */
  configure(config: { [k: string]: unknown }, o: { validateOnly?: boolean; instance?: string } = {}): Promise<ConfigError[]> {
    return this.ask('Configure', this.timeoutMs, this.client.configure(o.instance ?? this.instance, config, o.validateOnly ?? false, this.timeoutMs));
  }

  health(service = 'plugin'): Promise<string> {
    return this.ask('Health/Check', this.timeoutMs, this.client.healthStatus(this.timeoutMs, service));
  }

  metrics(): Promise<PluginMetric[]> {
    return this.ask('Metrics', this.timeoutMs, this.client.metrics(this.timeoutMs));
  }

  private openStream(): NonNullable<PluginHarness['stream']> {
    if (this.stream) return this.stream;
    const stream = this.client.openFlush();
    this.stream = stream;
    this.streamClosed = new Promise<void>((resolve) => {
      const done = (why: string) => {
        this.flushStreamEnded ??= why;
        resolve();
        // Cut off by a death: the exit, seen a moment later, is the reason to give.
        if (this.pending.size) void this.exitSoon().then((e) => this.failPending(`the plugin ${e ? exitText(e) : why}`));
      };
      stream.on('end', () => done('ended the Flush stream'));
      stream.on('error', (err: Error) => done(`failed the Flush stream: ${err.message}`));
    });
    stream.on('data', (r: FlushResult) => {
      const key = this.version >= 2 ? `s${Number(r.send_seq)}` : `c${r.chunk_id}`;
      const p = this.pending.get(key);
      for (const l of this.answerListeners) l(r, p !== undefined);
      if (!p) return void this.unmatchedAnswers.push(r);
      this.pending.delete(key);
      p.resolve(r);
    });
    return stream;
  }

  /**
   * Calls `listener` with every answer read from the Flush stream, as it
   * arrives and before the send it answers is resolved; `matched` is false
   * for an answer that matches no outstanding send (see unmatchedAnswers).
   * Returns a function that removes the listener.
   */
  onAnswer(listener: (answer: FlushResult, matched: boolean) => void): () => void {
    this.answerListeners.add(listener);
    return () => this.answerListeners.delete(listener);
  }

  private failPending(why: string): void {
    for (const [key, p] of this.pending) {
      this.pending.delete(key);
      p.reject(new Error(this.what(`did not answer send ${key.slice(1)}: ${why}`)));
    }
  }

  private send(req: FlushRequest, timeoutMs: number, what: string): Promise<FlushResult> {
    if (this.exit) return Promise.reject(new Error(this.what(`cannot take ${what}: it ${exitText(this.exit)}`)));
    if (this.flushStreamEnded) return Promise.reject(new Error(this.what(`cannot take ${what}: it ${this.flushStreamEnded}`)));
    const stream = this.openStream();
    const key = this.version >= 2 ? `s${req.send_seq}` : `c${req.chunk_id}`;
    const answered = new Promise<FlushResult>((resolve, reject) => this.pending.set(key, { resolve, reject }));
    stream.write(req);
    return within(answered, timeoutMs, () => {
      this.pending.delete(key);
      return this.what(`did not answer ${what} within ${timeoutMs / 1000}s`);
    });
  }

  /**
   * Sends one chunk and waits for its answer. Many flushes may be
   * outstanding at once; each answer is matched to its send by send_seq
   * (version 2) or chunk_id (version 1).
   */
  async flush(tag: string, events: FlushEvents, o: FlushOptions = {}): Promise<FlushOutcome> {
    const { data, count } = toBytes(events);
    const seq = this.nextSeq++;
    const chunkId = o.chunkId ?? `harness-${process.pid}-${seq}`;
    let ref = o.ref === true ? undefined : o.ref;
    let file: string | undefined;
    if (o.ref === true) {
      file = join(this.socketDir, `harness-ref-${seq}.chunk`);
      writeFileSync(file, Buffer.concat([REF_HEADER, data]));
      ref = { path: file, offset: REF_HEADER.length, length: data.length, crc32: crc32(data) };
    }
    const req: FlushRequest = { chunk_id: chunkId, tag, events: ref ? Buffer.alloc(0) : data, count: o.count ?? count, attempt: o.attempt ?? 1, send_seq: this.version >= 2 ? seq : 0, ...(ref ? { ref } : {}) };
    try {
      const r = await this.send(req, o.timeoutMs ?? this.timeoutMs, `the flush of chunk ${chunkId}${this.version >= 2 ? ` (send ${seq})` : ''}${ref ? ` by reference (${ref.path})` : ''}`);
      return { status: String(r.status), message: r.message ?? '', retryAfterMs: Number(r.retry_after_ms ?? 0), chunkId: r.chunk_id, sendSeq: Number(r.send_seq ?? 0), ...(r.ref_unreadable ? { refUnreadable: true as const } : {}) };
    } finally {
      if (file) rmSync(file, { force: true });
    }
  }

  /**
   * Asks the plugin to deliver what it holds, as sluice does before a stop:
   * a drain marker on the Flush stream (version 2) or the Drain call
   * (version 1). Resolves when the plugin says it is drained; `outstanding`
   * is how many sends were still unanswered at that moment (should be 0).
   */
  async drain(deadlineMs = 5000): Promise<{ outstanding: number }> {
    const bound = deadlineMs + this.timeoutMs;
    if (this.version < 2) {
      // The client gives the call deadlineMs + 1 s, as sluice does.
      await this.ask('Drain', Math.min(bound, deadlineMs + 1000), this.client.drain(deadlineMs));
      return { outstanding: this.pending.size };
    }
    const seq = this.nextSeq++;
    const before = [...this.pending.keys()];
    const r = await this.send({ chunk_id: '', tag: '', events: Buffer.alloc(0), count: 0, attempt: 0, send_seq: seq, drain: true, deadline_ms: deadlineMs }, bound, `the drain marker (send ${seq})`);
    if (!r.drained) throw new Error(this.what(`answered the drain marker (send ${seq}) without drained: true`));
    return { outstanding: before.filter((k) => this.pending.has(k)).length };
  }

  /** Half-closes the Flush stream as sluice does before Shutdown, and waits for the plugin to end its side. */
  async endFlushStream(timeoutMs = this.timeoutMs): Promise<void> {
    if (!this.stream || this.flushStreamEnded) return;
    if (!this.halfClosed) this.stream.end();
    this.halfClosed = true;
    await within(this.streamClosed!, timeoutMs, () => this.what(`did not end the Flush stream within ${timeoutMs / 1000}s of sluice half-closing it`));
  }

  /**
   * GRPCController/Shutdown, then waits for the exit (within `graceMs`,
   * sluice's stop_grace). The exit is what counts: a plugin may exit before
   * its answer is sent (go-plugin stops its server inside Shutdown; serve()
   * exits right after answering), so a failed call is no error when the
   * process goes; it is named when it does not.
   */
  async shutdown(graceMs = 5000): Promise<Exit> {
    let failed = '';
    await this.client.shutdown(this.timeoutMs).catch((err: Error & { code?: number }) => {
      failed = err.code === grpcStatus.DEADLINE_EXCEEDED ? `, which it did not answer within ${this.timeoutMs / 1000}s` : ` (the call failed: ${err.message})`;
    });
    return within(this.proc.exited, graceMs, () => this.what(`did not exit within ${graceMs / 1000}s of Shutdown${failed}`));
  }

  /** What a plugin sees when sluice dies: stdin closes. */
  closeStdin(): void {
    this.proc.closeStdin();
  }

  /** Signals the plugin's process group. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.proc.kill(signal);
  }

  /** Waits for the exit, within the harness's bound. */
  waitForExit(timeoutMs = this.timeoutMs): Promise<Exit> {
    return within(this.proc.exited, timeoutMs, () => this.what(`did not exit within ${timeoutMs / 1000}s`));
  }

  /** Waits for a stderr line that matches. */
  waitForLog(match: RegExp | ((l: LogLine) => boolean), timeoutMs = this.timeoutMs): Promise<LogLine> {
    const test = typeof match === 'function' ? match : (l: LogLine) => match.test(l.raw);
    const found = this.logs.find(test);
    if (found) return Promise.resolve(found);
    let check!: () => void;
    return within(
      new Promise<LogLine>((resolve) => {
        check = () => {
          const l = this.logs.find(test);
          if (l) resolve(l);
        };
        this.logWaiters.add(check);
      }),
      timeoutMs,
      () => this.what(`logged no line matching ${String(match)} within ${timeoutMs / 1000}s; its stderr:\n  ${this.logs.slice(-20).map((l) => l.raw).join('\n  ')}`),
    ).finally(() => this.logWaiters.delete(check));
  }

  /**
   * Waits until what the plugin wrote on fd 3 (`hostStdout`) matches, and
   * returns all of it. What the plugin wrote before it answered a flush may
   * still be on its way here when the answer comes: wait for it with this.
   */
  waitForHostStdout(match: RegExp | ((text: string) => boolean), timeoutMs = this.timeoutMs): Promise<string> {
    const test = typeof match === 'function' ? match : (text: string) => match.test(text);
    if (test(this.hostOut)) return Promise.resolve(this.hostOut);
    let check!: () => void;
    return within(
      new Promise<string>((resolve) => {
        check = () => {
          if (test(this.hostOut)) resolve(this.hostOut);
        };
        this.logWaiters.add(check);
      }),
      timeoutMs,
      () => {
        const text = this.hostOut.length > 2000 ? `...${this.hostOut.slice(-2000)}` : this.hostOut;
        return this.what(`wrote nothing matching ${String(match)} on fd 3 within ${timeoutMs / 1000}s; ${text ? `it wrote:\n  ${text.replace(/\n$/, '').split('\n').join('\n  ')}` : 'it wrote nothing there'}`);
      },
    ).finally(() => this.logWaiters.delete(check));
  }

  /**
   * Stops the plugin as sluice does, with sluice's bounds: half-close the
   * Flush stream (waiting at most 1 s for the plugin to end its side),
   * Shutdown (1 s), then SIGTERM after `graceMs` and SIGKILL 2 s later, to
   * the process group. Never throws; safe in an after() hook, and to call
   * again (every call gets the first call's outcome). Returns how it exited.
   */
  stop(graceMs = 5000): Promise<Exit> {
    return (this.stopping ??= this.stopOnce(graceMs));
  }

  private async stopOnce(graceMs: number): Promise<Exit> {
    if (!this.exit) {
      const step = Math.min(this.timeoutMs, 1000);
      await this.endFlushStream(step).catch(() => undefined);
      await within(this.client.shutdown(step), step + 100, () => 'Shutdown').catch(() => undefined);
      const gone = (ms: number) => Promise.race([this.proc.exited.then(() => true), new Promise<boolean>((r) => setTimeout(r, ms, false).unref())]);
      if (!(await gone(graceMs))) {
        this.proc.kill('SIGTERM');
        if (!(await gone(2000))) this.proc.kill('SIGKILL');
      }
    }
    const e = await this.proc.exited;
    this.client.close();
    return e;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Starts a plugin command as sluice would; see PluginHarness. */
export function startPlugin(argv: string[], o?: HarnessOptions): Promise<PluginHarness> {
  return PluginHarness.start(argv, o);
}

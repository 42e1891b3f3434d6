// serve(): turns an output plugin definition into a process that speaks the
// sluice plugin protocol (docs/protocol.md).
import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import pino, { type Logger } from 'pino';
import { decodeEvents, type Event } from './codec/events.ts';
import { OpenRef } from './chunk-ref.ts';
import { applySpec, renderDefault, type ConfigSpec, type KeyError } from './config-spec.ts';
import {
  APP_PROTOCOL_VERSIONS, CHANNEL_OPTIONS, CHUNK_REF_CAPABILITY, ControllerService, FLOW_CONTROL_WINDOW, HealthService, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE,
  OutputService, formatHandshake, negotiateVersion,
  type FlushRequest, type FlushResult, type PluginMetric,
} from './protocol.ts';

export interface Chunk {
  readonly id: string;
  readonly tag: string;
  /**
   * The raw MessagePack bytes: forward them untouched when you can. A chunk
   * sent by reference is read from its file on first access: read it
   * before you answer.
   */
  readonly data: Buffer;
  readonly count: number;
  /** 1 on the first delivery, 2 on the first retry, ... */
  readonly attempt: number;
  /** Decodes the events on first call; plugins that only forward bytes never pay for it. */
  events(): Event[];
}

export type FlushAnswer =
  | void
  | { status: 'ok' }
  | { status: 'retry'; message?: string; retryAfterMs?: number }
  | { status: 'error'; message: string };

export const ok = (): FlushAnswer => ({ status: 'ok' });
export const retry = (message?: string, retryAfterMs?: number): FlushAnswer => ({ status: 'retry', message, retryAfterMs });
export const error = (message: string): FlushAnswer => ({ status: 'error', message });

/** Throw from configure() to reject specific keys. */
export class ConfigureError extends Error {
  readonly errors: KeyError[];
  constructor(errors: KeyError[]) {
    super(errors.map((e) => `${e.key}: ${e.message}`).join('; '));
    this.errors = errors;
  }
}

export interface PluginContext<C> {
  /** The output instance name the host gave this process. */
  readonly instance: string;
  readonly log: Logger;
  /** The validated config, with defaults filled in (empty before Configure). */
  readonly config: C;
}

export interface MetricSample {
  name: string;
  value: number;
  help?: string;
  type?: 'counter' | 'gauge';
  labels?: { [k: string]: string };
}

export interface OutputPlugin<C = { [key: string]: any }> {
  name: string;
  version: string;
  description?: string;
  config: ConfigSpec;
  capabilities?: string[];
  /**
   * Checks a config beyond its spec without acting on it: open no file,
   * connect nowhere. sluice calls it on a reload while the instance being
   * replaced still runs (the config spec is checked before it). Throw
   * ConfigureError to reject keys.
   */
  validate?(config: C, ctx: PluginContext<C>): void | Promise<void>;
  /**
   * Called once with the validated config; acquire resources here. On a
   * reload the instance this one replaces has exited by then. Throw
   * ConfigureError to reject keys.
   */
  configure?(config: C, ctx: PluginContext<C>): void | Promise<void>;
  /** Deliver one chunk. Many calls may run at once. A thrown error answers RETRY. */
  flush(chunk: Chunk, ctx: PluginContext<C>): FlushAnswer | Promise<FlushAnswer>;
  /** Deliver everything buffered now, without waiting for linger timers. */
  drain?(ctx: PluginContext<C>): void | Promise<void>;
  /** Release resources before the process exits. */
  exit?(ctx: PluginContext<C>): void | Promise<void>;
  metrics?(ctx: PluginContext<C>): MetricSample[];
}

const EXIT_HOOK_TIMEOUT_MS = 1500;

const NOT_A_COMMAND = `This program is a sluice output plugin. It is not meant to be run by hand:
declare it under plugins: in a sluice config and name it in an output; sluice
starts it. See docs/plugin-authors.md.
`;

function resultOf(req: FlushRequest, answer: FlushAnswer): FlushResult {
  const r = { chunk_id: req.chunk_id, send_seq: req.send_seq ?? 0, status: 'OK', message: '', retry_after_ms: 0 };
  if (!answer || answer.status === 'ok') return r;
  if (answer.status === 'retry') return { ...r, status: 'RETRY', message: answer.message ?? '', retry_after_ms: Math.max(0, Math.round(answer.retryAfterMs ?? 0)) };
  if (answer.status === 'error') return { ...r, status: 'ERROR', message: answer.message ?? '' };
  return { ...r, status: 'RETRY', message: `plugin returned an unknown answer ${JSON.stringify(answer)}` };
}

/** The answer to a send whose reference could not be read, whatever flush() answered: the host sends it again by bytes. */
function unreadable(req: FlushRequest, why: string): FlushResult {
  return { chunk_id: req.chunk_id, send_seq: req.send_seq ?? 0, status: 'RETRY', message: why, retry_after_ms: 0, ref_unreadable: true };
}

/**
 * grpc-js 1.14 servers ignore grpc-node.flow_control_window (grpc-node PR
 * #3058): advertise the window in the server's SETTINGS and open each
 * connection's window, through the server's internals. If a grpc-js
 * release moves them, the default 64 KiB window stays: slower, still correct.
 */
function widenReceiveWindow(server: grpc.Server): { onBound(): void } {
  const internals = server as unknown as { commonServerOptions?: { settings?: object }; http2Servers?: Map<{ on(e: 'session', f: (s: { setLocalWindowSize?(n: number): void }) => void): void }, unknown> };
  const common = internals.commonServerOptions;
  if (common) common.settings = { ...common.settings, initialWindowSize: FLOW_CONTROL_WINDOW };
  return {
    onBound() {
      for (const h2 of internals.http2Servers?.keys() ?? []) h2.on('session', (session) => session.setLocalWindowSize?.(FLOW_CONTROL_WINDOW));
    },
  };
}

/** Moves everything the plugin prints to stderr: stdout carries the handshake and nothing else. */
function guardStdout(): void {
  const toStderr = (...args: unknown[]) => {
    process.stderr.write(format(...args) + '\n');
  };
  console.log = console.info = console.debug = console.trace = toStderr;
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
}

export function serve<C = { [key: string]: any }>(plugin: OutputPlugin<C>): void {
  if (process.env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    process.stderr.write(NOT_A_COMMAND);
    process.exit(1);
  }
  guardStdout();
  const log = pino(
    { name: plugin.name, level: process.env.SLUICE_LOG_LEVEL ?? 'info', base: undefined },
    pino.destination({ fd: 2, sync: true }),
  );
  const version = negotiateVersion(process.env.PLUGIN_PROTOCOL_VERSIONS);
  if (version === undefined) {
    log.fatal(`no common protocol version: the host speaks ${process.env.PLUGIN_PROTOCOL_VERSIONS || '(none)'}, this plugin speaks ${APP_PROTOCOL_VERSIONS.join(', ')}; upgrade the older side`);
    process.exit(1);
  }

  const ctx = { instance: '', log, config: {} as C };
  let configured = false;
  let draining = false;
  const inFlight = new Set<Promise<void>>();
  async function drainNow(): Promise<void> {
    draining = true;
    try {
      await plugin.drain?.(ctx);
    } catch (err) {
      log.error({ err }, 'drain hook failed; outstanding chunks are answered anyway');
    }
  }
  /** Waits until these flushes are answered, or the host's deadline passed. */
  async function settle(flushes: Promise<void>[], deadlineMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(flushes), new Promise((r) => (timer = setTimeout(r, deadlineMs)))]);
    clearTimeout(timer);
  }
  let answered = 0;
  const counters = { ok: 0, retry: 0, error: 0 };

  const server = new grpc.Server(CHANNEL_OPTIONS);
  const receiveWindow = widenReceiveWindow(server);

  server.addService(HealthService.service, {
    Check(call: any, cb: grpc.sendUnaryData<any>) {
      const svc = call.request.service;
      if (svc === '' || svc === 'plugin') cb(null, { status: 'SERVING' });
      else cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${svc}` });
    },
    Watch(call: any) {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'Watch is not implemented; use Check' });
    },
  });

  server.addService(ControllerService.service, {
    Shutdown(_call: any, cb: grpc.sendUnaryData<any>) {
      cb(null, {});
      setImmediate(() => void exit(0));
    },
  });

  server.addService(OutputService.service, {
    Describe(_call: any, cb: grpc.sendUnaryData<any>) {
      cb(null, {
        name: plugin.name,
        version: plugin.version,
        description: plugin.description ?? '',
        // Every SDK plugin reads references: Chunk.data hides how the bytes came.
        capabilities: [...new Set([...(plugin.capabilities ?? (plugin.drain ? ['drain'] : [])), CHUNK_REF_CAPABILITY])],
        config: Object.entries(plugin.config).map(([name, k]) => ({
          name, type: k.type, default: renderDefault(k.default), required: !!k.required, secret: !!k.secret, description: k.description,
        })),
      });
    },
    async Configure(call: any, cb: grpc.sendUnaryData<any>) {
      if (configured) return cb(null, { errors: [{ key: '', message: 'Configure was already called for this process' }] });
      let raw: unknown;
      try {
        raw = JSON.parse(call.request.config_json || '{}');
      } catch (err) {
        return cb(null, { errors: [{ key: '', message: `config_json is not JSON: ${(err as Error).message}` }] });
      }
      const { values, errors } = applySpec(plugin.config, (raw ?? {}) as { [k: string]: unknown });
      if (errors.length) return cb(null, { errors });
      const validateOnly = !!call.request.validate_only;
      const instance = call.request.instance;
      const scoped = { instance, config: values as C, log: log.child({ instance }) };
      try {
        // A validate-only call leaves the context as it was: the real Configure follows.
        if (validateOnly) await plugin.validate?.(values as C, scoped);
        else {
          Object.assign(ctx, scoped);
          await plugin.configure?.(values as C, ctx);
        }
      } catch (err) {
        const errs = err instanceof ConfigureError ? err.errors : [{ key: '', message: (err as Error).message ?? String(err) }];
        return cb(null, { errors: errs });
      }
      if (!validateOnly) configured = true;
      cb(null, { errors: [] });
    },
    Flush(call: grpc.ServerDuplexStream<FlushRequest, FlushResult>) {
      const send = (r: FlushResult) => {
        if (call.writable) call.write(r);
      };
      const answer = (r: FlushResult) => {
        answered++;
        if (r.status === 'OK') counters.ok++;
        else if (r.status === 'ERROR') counters.error++;
        else counters.retry++;
        send(r);
      };
      call.on('data', (req: FlushRequest) => {
        if (req.drain) {
          // Version 2: the marker comes after every chunk it covers, so a snapshot of what is in flight is exactly those.
          const before = [...inFlight];
          void drainNow().then(() => settle(before, Number(req.deadline_ms) || 30_000)).then(() =>
            send({ chunk_id: '', send_seq: req.send_seq ?? 0, status: 'OK', message: '', retry_after_ms: 0, drained: true }),
          );
          return;
        }
        if (!configured) return answer(resultOf(req, retry('plugin is not configured yet')));
        const ref = req.ref ? new OpenRef(req.ref) : undefined;
        if (ref?.error) return answer(unreadable(req, ref.error));
        let decoded: Event[] | undefined;
        const chunk: Chunk = {
          id: req.chunk_id, tag: req.tag, count: req.count, attempt: req.attempt,
          get data() {
            return ref ? ref.read() : req.events;
          },
          events: () => (decoded ??= decodeEvents(chunk.data)),
        };
        const p = (async () => {
          let r: FlushResult;
          try {
            r = resultOf(req, await plugin.flush(chunk, ctx));
          } catch (err) {
            r = resultOf(req, retry((err as Error)?.message ?? String(err)));
          }
          if (ref) {
            ref.close();
            if (ref.error) r = unreadable(req, ref.error);
          }
          answer(r);
        })();
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        // After a drain, buffering is pointless: the host is about to stop this process.
        if (draining) void drainNow();
      });
      // The host half-closed its side (before Shutdown): answer what is outstanding, then close ours.
      call.on('end', () => {
        log.debug({ outstanding: inFlight.size }, 'the host half-closed the Flush stream; answering what is outstanding, then closing it');
        void Promise.allSettled([...inFlight]).then(() => call.end());
      });
      call.on('error', (err) => log.debug({ err }, 'flush stream closed'));
    },
    async Drain(call: any, cb: grpc.sendUnaryData<any>) {
      const before = answered;
      await drainNow();
      await settle([...inFlight], Number(call.request.deadline_ms) || 30_000);
      cb(null, { completed: answered - before });
    },
    Metrics(_call: any, cb: grpc.sendUnaryData<any>) {
      const own: PluginMetric[] = (plugin.metrics?.(ctx) ?? []).map((m) => ({
        name: m.name, value: m.value, help: m.help ?? '', type: m.type ?? 'counter', labels: m.labels ?? {},
      }));
      for (const [status, value] of Object.entries(counters)) {
        own.push({ name: 'sdk_flush_answers_total', help: 'Chunks answered, by status', type: 'counter', value, labels: { status } });
      }
      cb(null, { metrics: own });
    },
  });

  let exiting = false;
  async function exit(code: number): Promise<void> {
    if (exiting) return;
    exiting = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve(plugin.exit?.(ctx)),
        new Promise((r) => (timer = setTimeout(r, EXIT_HOOK_TIMEOUT_MS))),
      ]);
    } catch (err) {
      log.error({ err }, 'exit hook failed');
    }
    clearTimeout(timer);
    // tryShutdown lets replies already given go out (Shutdown's own: a
    // forced close cancels it); a call still open cannot hold the exit long.
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 250);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    // The host removes this directory too, unless it was killed first.
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  }

  // A plugin never outlives its host: stdin closes when the host dies, even by SIGKILL.
  process.stdin.on('end', () => void exit(0));
  process.stdin.on('error', () => void exit(0));
  process.stdin.resume();
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void exit(0);
  }, 1000).unref();
  // The host owns shutdown; a terminal's Ctrl-C reaches the whole foreground group.
  process.on('SIGINT', () => log.debug('SIGINT ignored; the host drains and stops plugins'));
  process.on('SIGTERM', () => void exit(0));

  const dir = process.env.PLUGIN_UNIX_SOCKET_DIR || mkdtempSync(join(tmpdir(), 'sluice-plugin-'));
  const socket = join(dir, `p${process.pid}.sock`);
  server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      log.fatal({ err, socket }, 'cannot listen on the plugin socket; check that PLUGIN_UNIX_SOCKET_DIR is writable');
      process.exit(1);
    }
    receiveWindow.onBound();
    writeSync(1, formatHandshake(version, 'unix', socket) + '\n');
  });
}

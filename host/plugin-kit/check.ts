// `sluice plugin check`: runs a plugin command through the harness, exactly
// as sluice starts it, and checks it against every rule of docs/protocol.md.
//
// Most rules share one process (the "main" process: handshake, Describe,
// Configure, Flush, Drain, Health, the stop sequence). Rules that need a
// fresh process get their own, all started at once: without the cookie,
// offered version 1 only, offered version 99, and the stdin-close process
// (which also takes the Configure probes that must be refused). Every wait
// is bounded, the whole check too, and every process started is killed
// (its whole group) before checkPlugin returns.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { startPlugin, type DescribeResponse, type Exit, type FlushOptions, type PluginHarness } from '../../sdk/src/harness.ts';
import { eachLine, pluginEnv } from '../../sdk/src/launch.ts';
import { APP_PROTOCOL_VERSIONS, CHUNK_REF_CAPABILITY, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, type ConfigError, type FlushResult } from '../../sdk/src/protocol.ts';

export interface RuleResult {
  /** Stable id, e.g. `stdout.reserved` (RULES lists them). */
  rule: string;
  /** What the rule says, for the table. */
  title: string;
  status: 'pass' | 'fail' | 'skip';
  /** Why it failed or was skipped; on a pass, a note (which version was picked, say). */
  reason?: string;
}

/** Every rule, in the order they are reported. The ids are stable: scripts and docs/protocol.md §11 name them. */
export const RULES = [
  { rule: 'cookie.refuse-without', title: 'without the magic cookie: exits 1, a message on stderr, nothing on stdout' },
  { rule: 'handshake.line', title: 'prints one valid handshake line on stdout within start_timeout (10 s)' },
  { rule: 'handshake.socket-dir', title: 'listens on a unix socket in PLUGIN_UNIX_SOCKET_DIR (or TCP on 127.0.0.1)' },
  { rule: 'stdout.reserved', title: 'prints nothing else on stdout, then or later' },
  { rule: 'version.offered-1-2', title: 'offered 1,2: picks 2 (or 1 if it speaks only 1)' },
  { rule: 'version.offered-1', title: 'offered 1: picks 1, or exits 1 with a message' },
  { rule: 'version.offered-99', title: 'offered 99: exits non-zero naming the versions, or prints its own version' },
  { rule: 'describe.well-formed', title: 'Describe: a name, a version, config keys named, typed and unique' },
  { rule: 'configure.rejects-missing-required', title: 'Configure refuses a config without a required key, naming it' },
  { rule: 'configure.rejects-unknown-key', title: 'Configure refuses an unknown key, naming it' },
  { rule: 'configure.accepts-config', title: 'Configure accepts the given config' },
  { rule: 'configure.validate-only', title: 'version 2: a validate_only Configure accepts the given config' },
  { rule: 'health.serving', title: 'Health/Check answers SERVING for "plugin" and for ""' },
  { rule: 'flush.ok', title: 'Flush: a chunk of a few records is answered OK' },
  { rule: 'flush.empty', title: 'Flush: an empty chunk (count 0, no bytes) is answered OK' },
  { rule: 'flush.10mib', title: 'Flush: a 10 MiB chunk is answered OK (64 MiB gRPC limits)' },
  { rule: 'flush.concurrent', title: 'Flush: 100 concurrent sends are all answered OK' },
  { rule: 'flush.ref', title: 'chunk_ref: chunks sent by reference get the answers their bytes get' },
  { rule: 'flush.ref-unreadable', title: 'chunk_ref: a reference to a missing file is answered RETRY with ref_unreadable' },
  { rule: 'flush.echo-send', title: 'every answer echoes its send (v2 send_seq, v1 chunk_id), exactly once' },
  { rule: 'drain.after-answers', title: 'Drain is answered within its deadline, after every earlier send' },
  { rule: 'stop.half-close', title: 'when sluice half-closes the Flush stream, the plugin ends its side' },
  { rule: 'stop.shutdown', title: 'after Shutdown, exits with status 0 within stop_grace (5 s)' },
  { rule: 'stop.stdin-close', title: 'exits when stdin closes (its host died)' },
  { rule: 'logs.format', title: 'stderr lines are JSON logs (level/msg or hclog @level/@message) or plain text' },
] as const;

export type RuleId = (typeof RULES)[number]['rule'];

const TITLES = new Map<string, string>(RULES.map((r) => [r.rule, r.title]));

/** sluice's own bounds (docs/protocol.md), and the checker's. */
const START_MS = 10_000; // start_timeout
const STEP_MS = 10_000; // Describe, Configure
// An answer to a flush: half of sluice's default flush_timeout (60 s), so a
// machine that is merely busy (a 10 MiB chunk on a starved core) does not
// fail a good plugin, and a hung one still fails well before sluice would
// restart it.
const FLUSH_ANSWER_MS = 30_000;
const COOKIE_EXIT_MS = START_MS; // as fast as it starts; a crowded machine can make that slow
const DRAIN_DEADLINE_MS = 5_000;
const DRAIN_SLACK_MS = 1_000;
const HALF_CLOSE_MS = 2_000; // sluice waits 1 s; a busy machine gets a second more
const STOP_GRACE_MS = 5_000;
const STDIN_EXIT_MS = 5_000;
const PROBE_STOP_MS = 1_000;
const TOTAL_MS = 90_000;

const UNKNOWN_KEY = 'sluice_check_unknown_key';
const KEY_TYPES = new Set(['string', 'int', 'float', 'bool', 'duration', 'size', 'list', 'map', 'any']);
const CONCURRENT_SENDS = 100;
const DRAIN_SENDS = 20;
const MIB = 1024 * 1024;

class Results {
  private readonly got = new Map<string, RuleResult>();
  private closed = false;
  private readonly onResult: ((r: RuleResult) => void) | undefined;
  constructor(onResult?: (r: RuleResult) => void) {
    this.onResult = onResult;
  }

  private set(rule: RuleId, status: RuleResult['status'], reason?: string): void {
    if (this.closed || this.got.has(rule)) return;
    const r: RuleResult = { rule, title: TITLES.get(rule)!, status, ...(reason ? { reason } : {}) };
    this.got.set(rule, r);
    this.onResult?.(r);
  }
  pass(rule: RuleId, note?: string): void {
    this.set(rule, 'pass', note);
  }
  fail(rule: RuleId, reason: string): void {
    this.set(rule, 'fail', reason);
  }
  skip(rule: RuleId, reason: string): void {
    this.set(rule, 'skip', reason);
  }
  /** Fails or passes by whether `problems` is empty. */
  judge(rule: RuleId, problems: string[], note?: string): void {
    if (problems.length) this.fail(rule, problems.join('; '));
    else this.pass(rule, note);
  }
  has(rule: RuleId): boolean {
    return this.got.has(rule);
  }
  close(): void {
    this.closed = true;
  }
  list(undecided: (rule: RuleId) => string): RuleResult[] {
    return RULES.map(({ rule, title }) => this.got.get(rule) ?? { rule, title, status: 'fail' as const, reason: undecided(rule) });
  }
}

function msgOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Resolves with `fallback` after `ms` (never rejects); the timer does not hold the process. */
function after<T>(ms: number, fallback: T): Promise<T> {
  return new Promise((r) => setTimeout(r, ms, fallback).unref());
}

function exitText(e: { code?: number | null; signal?: string | null }): string {
  return e.signal ? `was killed by ${e.signal}` : `exited with status ${e.code}`;
}

function quote(s: string, max = 160): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}

function errorsText(errors: ConfigError[]): string {
  return errors.map((e) => (e.key ? `${e.key}: ${e.message}` : e.message)).join('; ');
}

function names(errors: ConfigError[], key: string): boolean {
  return errors.some((e) => e.key === key || e.message.includes(key));
}

/** The lines of a plugin's stderr that break docs/protocol.md §4. */
function badLogLines(lines: string[]): string[] {
  const bad: string[] = [];
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      bad.push(`${quote(line, 100)} starts with "{" but is not JSON (${msgOf(err)})`);
      continue;
    }
    if (!rec || typeof rec !== 'object' || Array.isArray(rec)) continue;
    const r = rec as { [k: string]: unknown };
    if (!('level' in r || 'msg' in r || '@level' in r || '@message' in r)) bad.push(`${quote(line, 100)} is a JSON object with neither level/msg nor @level/@message`);
  }
  return bad;
}

// ---------------------------------------------------------------------------
// Raw probes: a fresh process started with sluice's environment, changed.

interface ProbeOutcome {
  spawnError?: string;
  exit?: { code: number | null; signal: string | null };
  stdout: string;
  stderr: string[];
  /** The first stdout line, if one was printed (the probe was then stopped). */
  firstLine?: string;
  /** Neither exited nor printed a line within the bound. */
  timedOut: boolean;
}

interface Tracked {
  kill(): void;
  gone: Promise<unknown>;
}

/**
 * Starts `command` as sluice does, with `env` applied on top of sluice's
 * environment (a key set to undefined is removed), and waits until it
 * exits, prints a first line on stdout, or `boundMs` passes. Then stops it
 * (stdin closed, then SIGKILL to its group) and collects all it printed.
 */
async function probe(command: string[], versions: number[], env: { [k: string]: string | undefined }, boundMs: number, track: (t: Tracked) => () => void): Promise<ProbeOutcome> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-'));
  const full = pluginEnv({ name: 'probe', argv: command, startTimeoutMs: boundMs, versions, logLevel: 'info' }, dir);
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete full[k];
    else full[k] = v;
  }
  const out: ProbeOutcome = { stdout: '', stderr: [], timedOut: false };
  const [file, ...args] = command as [string, ...string[]];
  let child;
  try {
    child = spawn(file, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: full });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return { ...out, spawnError: msgOf(err) };
  }
  const closed = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      out.spawnError ??= err.message;
      if (child.pid === undefined) resolve();
    });
    child.once('close', (code, signal) => {
      if (child.pid !== undefined) out.exit = { code, signal };
      resolve();
    });
  });
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  const untrack = track({ kill: killGroup, gone: closed });
  child.stdin!.on('error', () => {});
  (child.stdio[3] as NodeJS.ReadableStream | null)?.resume();
  eachLine(child.stderr!, (line) => out.stderr.push(line));
  const printedLine = new Promise<void>((resolve) => {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out.stdout += s;
      if (out.stdout.includes('\n')) resolve();
    });
  });
  const what = await Promise.race([closed.then(() => 'closed'), printedLine.then(() => 'line'), after(boundMs, 'timeout')]);
  if (what === 'timeout') out.timedOut = true;
  if (what !== 'closed') {
    // As sluice stops a process it has no use for: stdin closes, then SIGKILL to the group.
    child.stdin!.end();
    if ((await Promise.race([closed.then(() => true), after(PROBE_STOP_MS, false)])) === false) killGroup();
    await Promise.race([closed, after(5_000, undefined)]);
  }
  untrack();
  const nl = out.stdout.indexOf('\n');
  if (nl >= 0) out.firstLine = out.stdout.slice(0, nl);
  else if (out.stdout) out.firstLine = out.stdout;
  rmSync(dir, { recursive: true, force: true });
  return out;
}

function appVersionOf(line: string): string | undefined {
  const parts = line.trim().split('|');
  return parts.length >= 5 ? parts[1] : undefined;
}

// ---------------------------------------------------------------------------
// Answers on the Flush stream, in the order they arrive.

interface Answer {
  r: FlushResult;
  matched: boolean;
  at: number;
  index: number;
}

class AnswerLog {
  readonly all: Answer[] = [];
  private readonly waiters = new Set<{ pred: (a: Answer) => boolean; resolve: (a: Answer) => void }>();

  constructor(h: PluginHarness) {
    h.onAnswer((r, matched) => {
      const a = { r, matched, at: Date.now(), index: this.all.length };
      this.all.push(a);
      for (const w of [...this.waiters]) {
        if (w.pred(a)) {
          this.waiters.delete(w);
          w.resolve(a);
        }
      }
    });
  }

  /** The first answer from now on that matches; cancel() when no longer needed. */
  wait(pred: (a: Answer) => boolean): { promise: Promise<Answer>; cancel(): void } {
    let w!: { pred: (a: Answer) => boolean; resolve: (a: Answer) => void };
    const promise = new Promise<Answer>((resolve) => {
      w = { pred, resolve };
      this.waiters.add(w);
    });
    return { promise, cancel: () => this.waiters.delete(w) };
  }
}

interface Flushed {
  status: string;
  message: string;
  refUnreadable: boolean;
  /** False when the answer only matched by chunk_id (its send_seq was wrong): flush.echo-send reports that. */
  matched: boolean;
}

// ---------------------------------------------------------------------------

interface Shared {
  command: string[];
  config: { [key: string]: unknown };
  res: Results;
  track: (t: Tracked) => () => void;
  /** What each part of the check is waiting for, for a check that runs out of time. */
  steps: { [part: string]: string };
  /** The stderr lines and stray stdout lines of the probes; the harnesses keep their own. */
  stderr: string[];
  strayStdout: string[];
  harnesses: PluginHarness[];
  /** Resolves with whether the main process started. */
  mainStarted: Promise<boolean>;
  setMainStarted(ok: boolean): void;
}

const MAIN_RULES: RuleId[] = [
  'handshake.socket-dir', 'version.offered-1-2', 'describe.well-formed', 'configure.accepts-config', 'configure.validate-only', 'health.serving',
  'flush.ok', 'flush.empty', 'flush.10mib', 'flush.concurrent', 'flush.ref', 'flush.ref-unreadable', 'flush.echo-send', 'drain.after-answers', 'stop.half-close', 'stop.shutdown',
];
const STREAM_RULES: RuleId[] = ['flush.ok', 'flush.empty', 'flush.10mib', 'flush.concurrent', 'flush.ref', 'flush.ref-unreadable', 'flush.echo-send', 'drain.after-answers', 'stop.half-close'];
const NOT_STARTED = 'the plugin did not start (see handshake.line)';

/** Harnesses whose process has exited: its group id may be reused, so it is never signalled again. */
const gone = new WeakSet<PluginHarness>();

async function start(s: Shared, part: string): Promise<PluginHarness> {
  s.steps[part] = 'the handshake';
  const h = await startPlugin(s.command, { logLevel: 'debug', startTimeoutMs: START_MS, timeoutMs: STEP_MS });
  s.harnesses.push(h);
  const untrack = s.track({ kill: () => h.kill('SIGKILL'), gone: h.exited });
  void h.exited.then(() => {
    gone.add(h);
    untrack();
  });
  return h;
}

/** Kills what is left of a harness's process group and closes its connection. */
async function dispose(h: PluginHarness): Promise<void> {
  if (!gone.has(h)) h.kill('SIGKILL');
  await Promise.race([h.exited, after(5_000, undefined)]);
  await Promise.race([h.stop(), after(1_000, undefined)]);
}

async function checkCookie(s: Shared): Promise<void> {
  s.steps['cookie'] = 'the process started without the cookie to exit';
  const o = await probe(s.command, APP_PROTOCOL_VERSIONS, { [MAGIC_COOKIE_KEY]: undefined }, COOKIE_EXIT_MS, s.track);
  s.stderr.push(...o.stderr);
  const rule = 'cookie.refuse-without';
  // A probe of a plugin that does not start at all says nothing about the rule it probes.
  if (!(await s.mainStarted)) return s.res.skip(rule, NOT_STARTED);
  const fix = `check ${MAGIC_COOKIE_KEY}=${MAGIC_COOKIE_VALUE} before anything else; without it print a message for a human on stderr, nothing on stdout, and exit 1 (docs/protocol.md §2)`;
  if (o.spawnError) return s.res.fail(rule, `cannot start ${s.command.join(' ')}: ${o.spawnError}`);
  if (o.stdout) return s.res.fail(rule, `started without the cookie, it printed ${quote(o.stdout)} on stdout; ${fix}`);
  if (o.timedOut) return s.res.fail(rule, `started without the cookie, it was still running after ${COOKIE_EXIT_MS / 1000} s; ${fix}`);
  if (o.exit!.code !== 1) return s.res.fail(rule, `started without the cookie, it ${exitText(o.exit!)}; ${fix}`);
  if (!o.stderr.some((l) => l.trim())) return s.res.fail(rule, `started without the cookie, it exited 1 but printed nothing on stderr; ${fix}`);
  s.res.pass(rule);
}

async function checkVersion1(s: Shared): Promise<void> {
  s.steps['version 1'] = 'the process offered version 1 only to print a handshake or exit';
  const o = await probe(s.command, [1], {}, START_MS, s.track);
  s.stderr.push(...o.stderr);
  s.strayStdout.push(...o.stdout.split('\n').slice(1).filter((l) => l.trim()));
  const rule = 'version.offered-1';
  // A probe of a plugin that does not start at all says nothing about the rule it probes.
  if (!(await s.mainStarted)) return s.res.skip(rule, NOT_STARTED);
  if (o.spawnError) return s.res.fail(rule, `cannot start ${s.command.join(' ')}: ${o.spawnError}`);
  if (o.firstLine !== undefined) {
    const v = appVersionOf(o.firstLine);
    if (v === '1') return s.res.pass(rule, 'picked 1');
    return s.res.fail(rule, `offered PLUGIN_PROTOCOL_VERSIONS=1, it printed ${quote(o.firstLine)}${v ? ` (version ${v})` : ''}; pick a version from that list, or if you speak none of them log a message on stderr naming both lists and exit 1 (docs/protocol.md §2, §3)`);
  }
  if (o.timedOut) return s.res.fail(rule, `offered PLUGIN_PROTOCOL_VERSIONS=1, it neither printed a handshake nor exited within ${START_MS / 1000} s`);
  if (o.exit!.code === 1 && o.stderr.some((l) => l.trim())) return s.res.pass(rule, 'exits 1: the plugin speaks only version 2');
  if (o.exit!.code === 1) return s.res.fail(rule, 'offered PLUGIN_PROTOCOL_VERSIONS=1, it exited 1 without a word on stderr; log a message that names the versions offered and the ones you speak');
  s.res.fail(rule, `offered PLUGIN_PROTOCOL_VERSIONS=1, it ${exitText(o.exit!)} without a handshake; pick 1 if you speak it, or exit 1 with a message (docs/protocol.md §2)`);
}

async function checkVersion99(s: Shared): Promise<void> {
  s.steps['version 99'] = 'the process offered version 99 to exit or print a handshake';
  const o = await probe(s.command, [99], {}, START_MS, s.track);
  s.stderr.push(...o.stderr);
  s.strayStdout.push(...o.stdout.split('\n').slice(1).filter((l) => l.trim()));
  const rule = 'version.offered-99';
  // A probe of a plugin that does not start at all says nothing about the rule it probes.
  if (!(await s.mainStarted)) return s.res.skip(rule, NOT_STARTED);
  const fix = 'when no offered version is one you speak, log a message on stderr naming both lists and exit 1 (docs/protocol.md §2)';
  if (o.spawnError) return s.res.fail(rule, `cannot start ${s.command.join(' ')}: ${o.spawnError}`);
  if (o.firstLine !== undefined) {
    const v = appVersionOf(o.firstLine);
    if (v === '99') return s.res.fail(rule, `offered PLUGIN_PROTOCOL_VERSIONS=99, it printed a handshake with version 99, which it cannot speak; ${fix}`);
    if (v && /^\d+$/.test(v)) return s.res.pass(rule, `prints its own version ${v}, as go-plugin does; sluice rejects that handshake and retries`);
    return s.res.fail(rule, `offered PLUGIN_PROTOCOL_VERSIONS=99, it printed ${quote(o.firstLine)}; ${fix}`);
  }
  if (o.timedOut) return s.res.fail(rule, `offered PLUGIN_PROTOCOL_VERSIONS=99, it neither exited nor printed a handshake within ${START_MS / 1000} s; ${fix}`);
  if (o.exit!.code === 0 || o.exit!.signal) return s.res.fail(rule, `offered PLUGIN_PROTOCOL_VERSIONS=99, it ${exitText(o.exit!)}; ${fix}`);
  if (!o.stderr.some((l) => l.includes('99'))) {
    return s.res.fail(rule, `offered PLUGIN_PROTOCOL_VERSIONS=99, it exited ${o.exit!.code} but its stderr does not name the versions offered (99)${o.stderr.length ? `: ${quote(o.stderr.join(' | '))}` : ''}; ${fix}`);
  }
  s.res.pass(rule, `exits ${o.exit!.code} with a message`);
}

function checkDescribe(d: DescribeResponse): string[] {
  const problems: string[] = [];
  if (!d.name?.trim()) problems.push('name is empty');
  if (!d.version?.trim()) problems.push('version is empty');
  const seen = new Set<string>();
  for (const [i, k] of (d.config ?? []).entries()) {
    if (!k.name?.trim()) problems.push(`config key #${i + 1} has no name`);
    else if (seen.has(k.name)) problems.push(`config key "${k.name}" is declared twice`);
    seen.add(k.name);
    if (!KEY_TYPES.has(k.type)) problems.push(`config key "${k.name || `#${i + 1}`}" has type ${JSON.stringify(k.type)}; use one of ${[...KEY_TYPES].join(', ')}`);
  }
  return problems;
}

/** The process that takes the Configure probes that must be refused, then sees its stdin close. */
async function checkStdinProcess(s: Shared): Promise<void> {
  const part = 'second process';
  let h: PluginHarness;
  try {
    h = await start(s, part);
  } catch (err) {
    const started = await s.mainStarted;
    for (const rule of ['configure.rejects-missing-required', 'configure.rejects-unknown-key', 'stop.stdin-close'] as const) {
      if (started) s.res.fail(rule, `a second process of the plugin did not start: ${msgOf(err)}`);
      else s.res.skip(rule, NOT_STARTED);
    }
    return;
  }
  let exitedEarly: Exit | undefined;
  void h.exited.then((e) => (exitedEarly = e));
  try {
    s.steps[part] = 'Describe';
    let desc: DescribeResponse | undefined;
    let describeError = '';
    try {
      desc = await h.describe();
    } catch (err) {
      describeError = msgOf(err);
    }
    const refuses = async (config: { [k: string]: unknown }, key: string, what: string): Promise<string | undefined> => {
      s.steps[part] = `the answer to a Configure ${what}`;
      let errors: ConfigError[];
      try {
        errors = await h.configure(config);
      } catch (err) {
        return `Configure ${what} failed: ${msgOf(err)}`;
      }
      if (!errors.length) return `Configure ${what} was accepted; answer it with {key: "${key}", message: ...} (docs/protocol.md §5, Configure)`;
      if (!names(errors, key)) return `Configure ${what} was refused, but no error names "${key}" (${errorsText(errors)}); give the key in the error's key field`;
      return undefined;
    };

    const missing = 'configure.rejects-missing-required';
    if (!desc) s.res.skip(missing, `Describe failed, so the required keys are unknown: ${describeError}`);
    else {
      const required = (desc.config ?? []).filter((k) => k.required).map((k) => k.name);
      if (!required.length) s.res.skip(missing, 'Describe declares no required key');
      else {
        const problems: string[] = [];
        for (const key of required) {
          const { [key]: _, ...without } = s.config;
          const p = await refuses(without, key, `without the required key "${key}"`);
          if (p) problems.push(p);
        }
        s.res.judge(missing, problems);
      }
    }
    const unknown = 'configure.rejects-unknown-key';
    const p = await refuses({ ...s.config, [UNKNOWN_KEY]: 'x' }, UNKNOWN_KEY, `with the unknown key "${UNKNOWN_KEY}"`);
    s.res.judge(unknown, p ? [p] : []);

    // The real Configure: a configured process, as sluice runs it. Its answer is configure.accepts-config's business (main process).
    s.steps[part] = 'the answer to the real Configure';
    await h.configure(s.config).catch(() => undefined);

    s.steps[part] = 'the process to exit after its stdin closed';
    const rule = 'stop.stdin-close';
    if (exitedEarly) s.res.fail(rule, `the process ${exitText(exitedEarly)} before its stdin was closed`);
    else {
      const t0 = Date.now();
      h.closeStdin();
      try {
        const e = await h.waitForExit(STDIN_EXIT_MS);
        s.res.pass(rule, `${exitText(e)}, ${((Date.now() - t0) / 1000).toFixed(1)} s after stdin closed`);
      } catch {
        s.res.fail(rule, `still running ${STDIN_EXIT_MS / 1000} s after its stdin closed; exit when stdin reaches end of file: that is how a plugin learns its host died, even by SIGKILL (docs/protocol.md §7)`);
      }
    }
  } finally {
    await dispose(h);
  }
}

async function checkMainProcess(s: Shared): Promise<void> {
  const { res } = s;
  const part = 'main process';
  let h: PluginHarness;
  try {
    h = await start(s, part);
  } catch (err) {
    s.setMainStarted(false);
    const m = msgOf(err);
    if (/plugin speaks protocol version/.test(m)) res.fail('version.offered-1-2', `offered PLUGIN_PROTOCOL_VERSIONS=1,2: ${m}`);
    res.fail('handshake.line', m);
    for (const rule of MAIN_RULES) res.skip(rule, NOT_STARTED);
    return;
  }
  s.setMainStarted(true);
  let mainExit: Exit | undefined;
  void h.exited.then((e) => (mainExit = e));
  try {
    res.pass('handshake.line');
    const hs = h.handshake;
    if (hs.network === 'unix') {
      const rel = relative(h.socketDir, hs.address);
      if (rel && !rel.startsWith('..') && !isAbsolute(rel)) res.pass('handshake.socket-dir');
      else res.fail('handshake.socket-dir', `the socket ${hs.address} is not in PLUGIN_UNIX_SOCKET_DIR (${h.socketDir}); create it there: sluice removes that directory when the process exits, however it exits (docs/protocol.md §2)`);
    } else if (/^127\.0\.0\.1:\d+$/.test(hs.address)) res.pass('handshake.socket-dir', `TCP on ${hs.address}: works, but a unix socket in PLUGIN_UNIX_SOCKET_DIR is what to use (docs/protocol.md §3)`);
    else res.fail('handshake.socket-dir', `listens on TCP ${hs.address}; use a unix socket in PLUGIN_UNIX_SOCKET_DIR, or 127.0.0.1 (docs/protocol.md §3)`);
    res.pass('version.offered-1-2', h.version === 2 ? 'picked 2' : `picked ${h.version}: the plugin speaks only version ${h.version}; version 2 is current (docs/protocol.md §3)`);

    s.steps[part] = 'the answer to Describe';
    let capabilities: string[] = [];
    try {
      const d = await h.describe();
      capabilities = d.capabilities ?? [];
      const problems = checkDescribe(d);
      res.judge('describe.well-formed', problems.length ? [...problems, 'see docs/protocol.md §5, Describe'] : []);
    } catch (err) {
      res.fail('describe.well-formed', `Describe failed: ${msgOf(err)}`);
    }

    s.steps[part] = 'the answers to Health/Check';
    const health: string[] = [];
    for (const service of ['plugin', '']) {
      try {
        const status = await h.health(service);
        if (status !== 'SERVING') health.push(`Check(service: ${JSON.stringify(service)}) answered ${status}`);
      } catch (err) {
        health.push(`Check(service: ${JSON.stringify(service)}) failed: ${msgOf(err)}`);
      }
    }
    if (health.length) health.push('answer SERVING for "plugin" (go-plugin\'s name, which sluice sends) and for "" (docs/protocol.md §5)');
    res.judge('health.serving', health);

    // validate_only first, as a reload sends it; then the real call.
    let validateErrors: ConfigError[] | string | undefined;
    if (h.version >= 2) {
      s.steps[part] = 'the answer to a validate_only Configure';
      try {
        validateErrors = await h.configure(s.config, { validateOnly: true });
      } catch (err) {
        validateErrors = msgOf(err);
      }
    }
    s.steps[part] = 'the answer to Configure';
    let configured = false;
    try {
      const errors = await h.configure(s.config);
      if (errors.length) {
        const none = Object.keys(s.config).length === 0;
        res.fail('configure.accepts-config', `the plugin refused the config ${JSON.stringify(s.config)}: ${errorsText(errors)}; ${none ? 'pass the keys it needs' : 'pass a config it accepts'} with --config KEY=VALUE`);
      } else {
        configured = true;
        res.pass('configure.accepts-config');
      }
    } catch (err) {
      res.fail('configure.accepts-config', `Configure failed: ${msgOf(err)}`);
    }
    if (h.version < 2) res.skip('configure.validate-only', `version ${h.version} has no validate_only Configure`);
    else if (typeof validateErrors === 'string') res.fail('configure.validate-only', `a validate_only Configure failed: ${validateErrors}`);
    else if (validateErrors?.length && !configured) res.skip('configure.validate-only', 'the plugin refused the config (see configure.accepts-config)');
    else if (validateErrors?.length) res.fail('configure.validate-only', `a validate_only Configure refused the config that the real Configure accepts: ${errorsText(validateErrors)}; check the config the same way in both calls (docs/protocol.md §5, Configure)`);
    else res.pass('configure.validate-only');

    if (!configured) {
      for (const rule of STREAM_RULES) res.skip(rule, `the plugin refused the config ${JSON.stringify(s.config)} (see configure.accepts-config)`);
    } else {
      await checkFlushStream(s, h, part, capabilities.includes(CHUNK_REF_CAPABILITY));
    }

    s.steps[part] = 'the process to exit after Shutdown';
    if (mainExit) res.fail('stop.shutdown', `the process had already ${exitText(mainExit)} before Shutdown`);
    else {
      try {
        const e = await h.shutdown(STOP_GRACE_MS);
        if (e.code === 0) res.pass('stop.shutdown');
        else res.fail('stop.shutdown', `after Shutdown the process ${exitText(e)}; exit with status 0 (docs/protocol.md §5, §7)`);
      } catch (err) {
        const m = msgOf(err);
        if (/did not exit within/.test(m)) res.fail('stop.shutdown', `still running ${STOP_GRACE_MS / 1000} s after GRPCController/Shutdown was answered; release your resources and exit with status 0 (sluice sends SIGTERM, then SIGKILL; docs/protocol.md §7)`);
        else {
          // The call failed (unimplemented, or the process went before answering): what counts is the exit.
          const e = await Promise.race([h.exited, after(STOP_GRACE_MS, undefined)]);
          if (e?.code === 0) res.pass('stop.shutdown', `exited with status 0; the Shutdown call itself got no answer (${m})`);
          else res.fail('stop.shutdown', `GRPCController/Shutdown failed (${m}) and the process ${e ? exitText(e) : `was still running ${STOP_GRACE_MS / 1000} s later`}; serve plugin.GRPCController and exit with status 0 on Shutdown (docs/protocol.md §5)`);
        }
      }
    }
  } finally {
    if (!res.has('stop.shutdown')) res.fail('stop.shutdown', 'not reached: the check failed before');
    await dispose(h);
  }
}

async function checkFlushStream(s: Shared, h: PluginHarness, part: string, declaresRef: boolean): Promise<void> {
  const { res } = s;
  const log = new AnswerLog(h);
  const sent = new Set<string>();
  const echoProblems: string[] = [];
  let next = 0;
  const chunkId = () => `check-${process.pid}-${++next}`;

  /** One flush; an answer whose send_seq is wrong but whose chunk_id is ours counts here (flush.echo-send reports it). */
  const flush = async (events: Buffer | { [k: string]: unknown }[], o: { count?: number; ref?: FlushOptions['ref'] } = {}): Promise<Flushed> => {
    const id = chunkId();
    sent.add(id);
    const fallback = log.wait((a) => !a.matched && !a.r.drained && a.r.chunk_id === id);
    const viaHarness = h.flush('sluice.check', events, { chunkId: id, timeoutMs: FLUSH_ANSWER_MS, ...(o.count !== undefined ? { count: o.count } : {}), ...(o.ref ? { ref: o.ref } : {}) });
    viaHarness.catch(() => {});
    try {
      return await Promise.race([
        viaHarness.then((out) => {
          if (h.version >= 2 && out.chunkId !== id) echoProblems.push(`the answer to the send of chunk ${id} carries chunk_id ${JSON.stringify(out.chunkId)}`);
          return { status: out.status, message: out.message, refUnreadable: !!out.refUnreadable, matched: true };
        }),
        fallback.promise.then((a) => ({ status: String(a.r.status), message: a.r.message ?? '', refUnreadable: !!a.r.ref_unreadable, matched: false })),
      ]);
    } finally {
      fallback.cancel();
    }
  };
  const okOrWhy = (r: Flushed): string | undefined => (r.status === 'OK' ? undefined : `answered ${r.status}${r.message ? ` (${r.message})` : ''}`);

  // Once a send goes unanswered (sluice would restart the plugin as hung) or the stream is gone, later stream rules cannot be judged.
  let blocked: string | undefined;
  const failFlush = (rule: RuleId, err: unknown, fix = ''): void => {
    const m = msgOf(err);
    res.fail(rule, `${m}${fix ? `; ${fix}` : ''}`);
    if (h.flushStreamEnded) blocked = `the plugin ${h.flushStreamEnded} at ${rule}`;
    else blocked = `the plugin left a send unanswered at ${rule}; sluice would restart it as hung after flush_timeout`;
  };

  s.steps[part] = 'the answer to a chunk of 3 records';
  try {
    const why = okOrWhy(await flush([{ log: 'sluice plugin check 1' }, { log: 'sluice plugin check 2' }, { log: 'sluice plugin check 3', n: 3 }]));
    res.judge('flush.ok', why ? [`a chunk of 3 records was ${why}; answer OK once it is delivered`] : []);
  } catch (err) {
    failFlush('flush.ok', err, 'answer every send, well within flush_timeout (docs/protocol.md §5, Flush)');
  }

  s.steps[part] = 'the answer to an empty chunk';
  if (blocked) res.skip('flush.empty', blocked);
  else {
    try {
      const why = okOrWhy(await flush(Buffer.alloc(0), { count: 0 }));
      res.judge('flush.empty', why ? [`an empty chunk (count 0, no bytes) was ${why}; nothing to deliver is delivered: answer OK`] : []);
    } catch (err) {
      failFlush('flush.empty', err, 'an empty chunk (count 0, no events) must be answered OK like any other');
    }
  }

  s.steps[part] = `the answers to ${CONCURRENT_SENDS} concurrent sends`;
  if (blocked) res.skip('flush.concurrent', blocked);
  else {
    const all = await Promise.allSettled(Array.from({ length: CONCURRENT_SENDS }, (_, i) => flush([{ log: `concurrent ${i}` }])));
    const failed = all.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    const notOk = all.flatMap((r) => (r.status === 'fulfilled' && r.value.status !== 'OK' ? [okOrWhy(r.value)!] : []));
    if (failed.length) {
      failFlush('flush.concurrent', `${failed.length} of ${CONCURRENT_SENDS} sends got no answer (first: ${msgOf(failed[0]!.reason)})`, `take many sends at once and answer each (docs/protocol.md §5, Flush)${notOk.length ? `; also, ${notOk.length} were not OK (first: ${notOk[0]})` : ''}`);
    } else res.judge('flush.concurrent', notOk.length ? [`${notOk.length} of ${CONCURRENT_SENDS} were not OK (first: ${notOk[0]}); take many sends at once (docs/protocol.md §5, Flush)`] : []);
  }

  s.steps[part] = 'the answer to a 10 MiB chunk';
  if (blocked) res.skip('flush.10mib', blocked);
  else {
    const limitFix = 'raise grpc.max_receive_message_length and grpc.max_send_message_length (grpc-go: MaxRecvMsgSize, MaxSendMsgSize) to 64 MiB on the plugin\'s gRPC server (docs/protocol.md §5)';
    try {
      const big = 'x'.repeat(MIB);
      const why = okOrWhy(await flush(Array.from({ length: 10 }, (_, i) => ({ log: big, n: i }))));
      res.judge('flush.10mib', why ? [`a 10 MiB chunk (10 records of 1 MiB) was ${why}`] : []);
    } catch (err) {
      failFlush('flush.10mib', `a 10 MiB chunk (10 records of 1 MiB) was not answered: ${msgOf(err)}`, h.flushStreamEnded ? limitFix : `if its gRPC server refused it, ${limitFix}`);
    }
  }

  // failFlush sets `blocked` when a send by reference goes unanswered.
  await checkRefs(s, h, part, declaresRef, flush, blocked, failFlush);

  s.steps[part] = 'the answer to the drain marker';
  if (blocked) res.skip('drain.after-answers', blocked);
  else await checkDrain(s, h, log, flush);

  s.steps[part] = 'the plugin to end its side of the Flush stream';
  if (blocked) res.skip('stop.half-close', blocked);
  else if (h.flushStreamEnded) res.fail('stop.half-close', `the plugin ${h.flushStreamEnded} before sluice half-closed it; sluice takes that as a crash. Keep the stream open until sluice ends its side (docs/protocol.md §5, Closing)`);
  else {
    const ended = h.endFlushStream();
    ended.catch(() => {});
    const how = await Promise.race([ended.then(() => 'ended', (e) => `error: ${msgOf(e)}`), after(HALF_CLOSE_MS, 'timeout')]);
    if (how === 'timeout') res.fail('stop.half-close', `the plugin did not end its side of the Flush stream within ${HALF_CLOSE_MS / 1000} s of sluice half-closing it (sluice waits 1 s); when the host's side ends, answer what you hold and end yours (grpc-go: return from the handler on io.EOF; docs/protocol.md §7)`);
    else if (how !== 'ended') res.fail('stop.half-close', how);
    else if (h.flushStreamEnded && h.flushStreamEnded !== 'ended the Flush stream') res.fail('stop.half-close', `the plugin ${h.flushStreamEnded}; end the stream with status OK`);
    else res.pass('stop.half-close');
  }

  // Every answer has arrived by now (the plugin ended its side, or the check stops waiting here).
  if (!log.all.length) return res.skip('flush.echo-send', blocked ?? 'the plugin answered no send');
  const unmatched = log.all.filter((a) => !a.matched);
  const matchedChunks = new Set(log.all.filter((a) => a.matched).map((a) => a.r.chunk_id));
  const kinds = new Map<string, string[]>();
  const add = (kind: string, example: string) => kinds.set(kind, [...(kinds.get(kind) ?? []), example]);
  const seqOf = (r: FlushResult) => Number(r.send_seq ?? 0);
  for (const { r } of unmatched) {
    if (r.drained) add('answers to a drain marker that carry a send_seq not the marker\'s', `send_seq ${seqOf(r)}`);
    else if (sent.has(r.chunk_id) && matchedChunks.has(r.chunk_id)) add('second answers to a send (duplicates)', `chunk ${r.chunk_id}, send_seq ${seqOf(r)}`);
    else if (sent.has(r.chunk_id)) add(h.version >= 2 ? 'answers whose send_seq is not their send\'s' : 'answers that match no send', `chunk ${r.chunk_id}, send_seq ${seqOf(r)}`);
    else add('answers for a chunk_id never sent', `chunk ${JSON.stringify(r.chunk_id)}, send_seq ${seqOf(r)}`);
  }
  const echo = [...kinds].map(([kind, ex]) => `${ex.length} ${kind} (e.g. ${ex.slice(0, 2).join('; ')})`);
  if (echoProblems.length) echo.push(`${echoProblems.length} answers with the wrong chunk_id (e.g. ${echoProblems[0]})`);
  if (echo.length) {
    echo.push(h.version >= 2
      ? 'answer each send exactly once, echoing its send_seq and chunk_id: sluice matches answers by send_seq and ignores any other (docs/protocol.md §5, Flush)'
      : 'answer each send exactly once, with its chunk_id (docs/protocol.md §5, Flush)');
  }
  res.judge('flush.echo-send', echo);
}

/**
 * A plugin that declares chunk_ref: the chunks of flush.ok, flush.empty and
 * a 1 MiB one, each sent by bytes and then by reference (a file the checker
 * writes), must get the same answers; a reference to a missing file must be
 * answered RETRY with ref_unreadable, or sluice would spend the chunk's
 * retries on a file the plugin cannot see.
 */
async function checkRefs(
  s: Shared, h: PluginHarness, part: string, declaresRef: boolean,
  flush: (events: Buffer | { [k: string]: unknown }[], o?: { count?: number; ref?: FlushOptions['ref'] }) => Promise<Flushed>,
  blocked: string | undefined, failFlush: (rule: RuleId, err: unknown, fix?: string) => void,
): Promise<void> {
  const { res } = s;
  const skip = blocked ?? (!declaresRef ? `the plugin does not declare the ${CHUNK_REF_CAPABILITY} capability in Describe: sluice sends it bytes` : h.handshake.network !== 'unix' ? 'the plugin listens on TCP: sluice sends it bytes' : undefined);
  if (skip) {
    res.skip('flush.ref', skip);
    res.skip('flush.ref-unreadable', skip);
    return;
  }
  const fix = `read ref.length bytes at ref.offset of ref.path when a FlushRequest carries a ref (docs/protocol.md §5, Chunks by reference), or do not declare ${CHUNK_REF_CAPABILITY}`;
  s.steps[part] = 'the answers to chunks sent by reference';
  const chunks: [string, Buffer | { [k: string]: unknown }[], { count?: number }][] = [
    ['a chunk of 3 records', [{ log: 'sluice plugin check by reference 1' }, { log: 'sluice plugin check by reference 2' }, { log: 'sluice plugin check by reference 3', n: 3 }], {}],
    ['an empty chunk', Buffer.alloc(0), { count: 0 }],
    ['a 1 MiB chunk', [{ log: 'y'.repeat(MIB) }], {}],
  ];
  const problems: string[] = [];
  try {
    for (const [what, events, o] of chunks) {
      const byValue = await flush(events, o);
      const byRef = await flush(events, { ...o, ref: true });
      if (byRef.refUnreadable) problems.push(`${what} by reference was answered ref_unreadable (${byRef.message}), though its file was there`);
      else if (byRef.status !== byValue.status) problems.push(`${what} was answered ${byValue.status} by bytes but ${byRef.status}${byRef.message ? ` (${byRef.message})` : ''} by reference`);
    }
  } catch (err) {
    failFlush('flush.ref', err, fix);
    res.skip('flush.ref-unreadable', 'a send by reference went unanswered at flush.ref');
    return;
  }
  res.judge('flush.ref', problems.length ? [...problems, fix] : []);

  s.steps[part] = 'the answer to a reference to a missing file';
  const missing = join(h.socketDir, 'sluice-check-missing.chunk');
  const flag = 'answer RETRY with ref_unreadable: true when a reference cannot be read (missing, forbidden, short, CRC mismatch): sluice then sends that chunk again by bytes, its attempt unchanged, and sends this process bytes from then on (docs/protocol.md §5, Chunks by reference)';
  try {
    const r = await flush([{ log: 'never read' }], { ref: { path: missing, offset: 0, length: 64, crc32: 0 } });
    const what = `a reference to the missing file ${missing} was answered ${r.status}${r.message ? ` (${r.message})` : ''}`;
    if (r.status === 'RETRY' && r.refUnreadable) res.pass('flush.ref-unreadable');
    else if (r.refUnreadable) res.fail('flush.ref-unreadable', `${what} with ref_unreadable; the status that goes with it is RETRY; ${flag}`);
    else if (r.status === 'OK') res.fail('flush.ref-unreadable', `${what}: nothing can have been delivered; ${flag}`);
    else if (r.status === 'RETRY') res.fail('flush.ref-unreadable', `${what} without ref_unreadable: sluice would keep sending references and spend the chunk's retries; ${flag}`);
    else res.fail('flush.ref-unreadable', `${what}: sluice would give up on a chunk that is fine; ${flag}`);
  } catch (err) {
    failFlush('flush.ref-unreadable', err, flag);
  }
}

async function checkDrain(s: Shared, h: PluginHarness, log: AnswerLog, flush: (events: { [k: string]: unknown }[]) => Promise<Flushed>): Promise<void> {
  const rule = 'drain.after-answers';
  const startIndex = log.all.length;
  const fired: Promise<unknown>[] = [];
  for (let i = 0; i < DRAIN_SENDS; i++) {
    const f = flush([{ log: `before the drain ${i}` }]);
    f.catch(() => {});
    fired.push(f);
  }
  // The chunk ids of the sends just fired: they are the last ones the log will see before the marker's answer.
  const firedIds = (upTo: number) => new Set(log.all.slice(startIndex, upTo).filter((a) => !a.r.drained).map((a) => a.r.chunk_id));
  const t0 = Date.now();
  const fix = 'deliver what you hold at once, answer every send that came before the marker, then answer the marker (docs/protocol.md §5, Drain)';
  if (h.version >= 2) {
    const marker = log.wait((a) => a.index >= startIndex && !!a.r.drained);
    const viaHarness = h.drain(DRAIN_DEADLINE_MS);
    viaHarness.catch(() => {});
    const bound = DRAIN_DEADLINE_MS + DRAIN_SLACK_MS;
    const got = await Promise.race([
      marker.promise,
      viaHarness.then(() => undefined, (e: unknown) => msgOf(e)),
      after(bound, 'timeout' as const),
    ]);
    marker.cancel();
    if (got === 'timeout') s.res.fail(rule, `the drain marker (deadline_ms ${DRAIN_DEADLINE_MS}) got no answer with drained: true within ${bound / 1000} s; ${fix}`);
    else if (typeof got === 'string') s.res.fail(rule, `${got}; ${fix}`);
    else if (got === undefined) s.res.fail(rule, `the drain marker was answered, but not seen with drained: true; ${fix}`);
    else {
      const answered = firedIds(got.index);
      const open = DRAIN_SENDS - [...answered].filter((id) => id.startsWith('check-')).length;
      const took = got.at - t0;
      if (open > 0) s.res.fail(rule, `the drain marker was answered while ${open} of the ${DRAIN_SENDS} sends before it were still unanswered; ${fix}`);
      else if (took > DRAIN_DEADLINE_MS) s.res.fail(rule, `the drain marker was answered after ${(took / 1000).toFixed(1)} s, past its deadline_ms (${DRAIN_DEADLINE_MS}); ${fix}`);
      else s.res.pass(rule);
    }
  } else {
    let err: string | undefined;
    try {
      await h.drain(DRAIN_DEADLINE_MS);
    } catch (e) {
      err = msgOf(e);
    }
    const took = Date.now() - t0;
    const atReturn = firedIds(log.all.length).size;
    if (err) s.res.fail(rule, `Drain failed: ${err}; ${fix}`);
    else if (took > DRAIN_DEADLINE_MS + DRAIN_SLACK_MS) s.res.fail(rule, `Drain returned after ${(took / 1000).toFixed(1)} s, past its deadline_ms (${DRAIN_DEADLINE_MS}); ${fix}`);
    else if (atReturn === DRAIN_SENDS) s.res.pass(rule);
    else {
      // Version 1's Drain travels on its own HTTP/2 stream and can overtake the chunks: they must still come before the deadline.
      await Promise.race([Promise.allSettled(fired), after(Math.max(0, DRAIN_DEADLINE_MS - took), undefined)]);
      const late = DRAIN_SENDS - firedIds(log.all.length).size;
      if (late > 0) s.res.fail(rule, `${late} of the ${DRAIN_SENDS} sends before Drain were still unanswered at its deadline; ${fix}`);
      else s.res.pass(rule, `${DRAIN_SENDS - atReturn} sends were answered after Drain returned (version 1's Drain can overtake them)`);
    }
  }
  await Promise.race([Promise.allSettled(fired), after(STEP_MS, undefined)]);
}

/**
 * Checks `command` (a plugin's argv, run as sluice runs it) against every
 * rule in RULES, sending `config` in Configure. Calls `onResult` as each
 * result is known; returns them all in RULES order. Never throws for a
 * plugin's fault, and returns within `totalTimeoutMs` (90 s) plus a few
 * seconds of cleanup: a rule not decided by then fails, naming what the
 * check was waiting for.
 */
export async function checkPlugin(command: string[], opts: { config: { [key: string]: unknown }; onResult?: (r: RuleResult) => void; totalTimeoutMs?: number }): Promise<RuleResult[]> {
  const res = new Results(opts.onResult);
  const live = new Set<Tracked>();
  let setMainStarted!: (ok: boolean) => void;
  const s: Shared = {
    command,
    config: opts.config,
    res,
    track: (t) => {
      live.add(t);
      return () => live.delete(t);
    },
    steps: {},
    stderr: [],
    strayStdout: [],
    harnesses: [],
    mainStarted: new Promise<boolean>((r) => (setMainStarted = r)),
    setMainStarted: (ok) => setMainStarted(ok),
  };
  const part = (name: string, run: (s: Shared) => Promise<void>) =>
    run(s).then(
      () => void delete s.steps[name],
      // A bug in the checker, not the plugin's fault: say so rather than crash.
      (err) => void (s.steps[name] = `nothing: the checker failed (${err?.stack ?? err})`),
    );
  const parts = [
    part('cookie', checkCookie), part('version 1', checkVersion1), part('version 99', checkVersion99),
    part('main process', checkMainProcess), part('second process', checkStdinProcess),
  ];
  const total = opts.totalTimeoutMs ?? TOTAL_MS;
  const finished = await Promise.race([Promise.all(parts).then(() => true), after(total, false)]);

  // Decided on what every process printed (up to the bound).
  const stray = [...s.strayStdout, ...s.harnesses.flatMap((h) => h.stdout)].filter((l) => l.trim());
  if (stray.length) res.fail('stdout.reserved', `${stray.length} line${stray.length === 1 ? '' : 's'} on stdout after the handshake (first: ${quote(stray[0]!)}); after the handshake stdout is reserved: log to stderr (docs/protocol.md §3)`);
  else res.pass('stdout.reserved');
  const stderr = [...s.stderr, ...s.harnesses.flatMap((h) => h.logs.map((l) => l.raw))];
  const bad = badLogLines(stderr);
  if (bad.length) res.fail('logs.format', `${bad.length} bad stderr line${bad.length === 1 ? '' : 's'}: ${bad.slice(0, 3).join('; ')}; write one JSON object per line with level and msg (or hclog's @level and @message), or plain text (docs/protocol.md §4)`);
  else res.pass('logs.format', stderr.length ? undefined : 'the plugin wrote nothing on stderr');

  const waiting = Object.entries(s.steps).map(([part, step]) => `${part}: ${step}`).join('; ');
  const results = res.list(() => `not decided: the check stopped after ${total / 1000} s (waiting for ${waiting})`);
  // What the parts find out after this (once their processes are killed) is not about the plugin.
  res.close();
  for (const t of live) t.kill();
  if (!finished) {
    await Promise.race([Promise.all([...live].map((t) => t.gone)), after(5_000, undefined)]);
    // Killed, the parts end fast; let them close their connections.
    await Promise.race([Promise.all(parts), after(2_000, undefined)]);
  }
  return results;
}

export function formatResults(results: RuleResult[]): string {
  const width = Math.max(...results.map((r) => r.rule.length));
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.status.toUpperCase().padEnd(4)}  ${r.rule.padEnd(width)}  ${r.title}`);
    if (r.reason) lines.push(`      ${' '.repeat(width)}  ${r.status === 'pass' ? '' : '→ '}${r.reason}`);
  }
  const count = (st: RuleResult['status']) => results.filter((r) => r.status === st).length;
  const skipped = count('skip');
  lines.push('', `${count('pass')} passed, ${count('fail')} failed${skipped ? `, ${skipped} skipped` : ''}`);
  return lines.join('\n') + '\n';
}

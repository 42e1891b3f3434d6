// Runs the real sluice binary in a child process, for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { after } from 'node:test';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { running, waitFor, type Patience } from './wait.ts';

export { waitFor } from './wait.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = join(ROOT, 'host/cli/main.ts');
export const FIXTURES = join(ROOT, 'test/fixtures');

// A test that fails before it stops its sluice would leave it running, and the test file's
// process, which holds its pipes, would never end: the whole suite would hang.
after(() => {
  for (const pid of running) process.kill(pid, 'SIGKILL');
});

export function tempDir(prefix = 'sluice-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: any;
}

export class Sluice {
  readonly proc: ChildProcess;
  readonly logs: LogLine[] = [];
  /** stderr lines that are not JSON (config errors, crashes). */
  readonly stderrText: string[] = [];
  stdout = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private closed?: { code: number | null; signal: NodeJS.Signals | null };

  constructor(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: 'pipe' | 'ignore' } = {}) {
    this.proc = spawn(process.execPath, [MAIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
    });
    // 'close', not 'exit': every byte of stdout and stderr has been read by then.
    this.exited = new Promise((r) => this.proc.on('close', (code, signal) => r((this.closed = { code, signal }))));
    const pid = this.proc.pid!;
    running.add(pid);
    this.proc.on('exit', () => running.delete(pid));
    this.proc.stdout!.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    let rest = '';
    this.proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
      rest += s;
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          this.stderrText.push(line);
        }
      }
    });
  }

  static run(configFile: string, extra: string[] = [], opts: ConstructorParameters<typeof Sluice>[1] = {}): Sluice {
    return new Sluice(['run', '-c', configFile, ...extra], opts);
  }

  findLog(pred: (l: LogLine) => boolean): LogLine | undefined {
    return this.logs.find(pred);
  }

  /** Waits while sluice logs or uses CPU: a slow start is not a failure, a silent idle one is. */
  waitForLog(pred: (l: LogLine) => boolean, what: string, p: Patience = {}): Promise<LogLine> {
    return waitFor(() => this.findLog(pred), what, { progress: () => this.logs.length, ...p });
  }

  /** Running, and handling signals: "HTTP API listening" comes before sluice installs its handlers. */
  started(): Promise<LogLine> {
    return this.waitForLog((l) => l.msg === 'sluice started', 'sluice to start');
  }

  /** The HTTP API port, from the "HTTP API listening" log line. */
  async apiPort(): Promise<number> {
    return (await this.waitForLog((l) => l.msg === 'HTTP API listening', 'the HTTP API to listen')).port;
  }

  async api(path: string): Promise<any> {
    const res = await fetch(`http://127.0.0.1:${await this.apiPort()}${path}`).catch((err) => {
      const { exitCode, signalCode } = this.proc;
      if (exitCode === null && signalCode === null) throw err;
      throw new Error(`${err.message}: sluice exited (${exitCode ?? signalCode}); last logs:\n${this.logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`);
    });
    const text = await res.text();
    return res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
  }

  /** Exit status; fails if sluice stops logging and using CPU (with its plugins) without exiting. */
  async exit(p: Patience = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    try {
      return await waitFor(() => this.closed, 'sluice to exit', { progress: () => this.logs.length, ...p });
    } catch (err) {
      throw new Error(`${(err as Error).message}; last logs:\n${this.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);
    }
  }

  /**
   * Lets `ms` of sluice's timers run, for assertions that something does not happen. The pause
   * alone proves nothing on a busy machine, where the host may not have run at all; two API round
   * trips after it do: the second request is served in a later turn of the host's event loop
   * than the first, after it has run every timer that was due.
   */
  async settle(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    await this.api('/api/v1/health');
    await this.api('/api/v1/health');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.proc.kill(signal);
  }
}

/** Runs a command to its end, in the checkout: its exit code and output. Killed, and an error, after `capMs`. */
export function runCommand(cmd: string, args: string[], capMs = 180_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const cap = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} still running after ${capMs / 1000} s; stderr:\n${stderr}`));
    }, capMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(cap);
      resolve({ code, stdout, stderr });
    });
  });
}

export function writeConfig(dir: string, yaml: string, name = 'sluice.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

/** True if a process with this pid exists. */
/**
 * True if a process with this pid exists; with `command`, only if its command
 * line contains it: a suite that starts thousands of processes recycles pids,
 * and a pid seen free a moment ago can belong to something else already.
 */
export function alive(pid: number, command?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (command === undefined) return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(command);
  } catch {
    return false; // gone in between
  }
}

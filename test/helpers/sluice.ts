// Runs the real sluice binary in a child process, for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = join(ROOT, 'host/cli/main.ts');
export const FIXTURES = join(ROOT, 'test/fixtures');

export function tempDir(prefix = 'sluice-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Polls until fn returns a truthy value, or throws after the deadline. */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 20_000, everyMs = 50): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
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

  constructor(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: 'pipe' | 'ignore' } = {}) {
    this.proc = spawn(process.execPath, [MAIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
    });
    // 'close', not 'exit': every byte of stdout and stderr has been read by then.
    this.exited = new Promise((r) => this.proc.on('close', (code, signal) => r({ code, signal })));
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

  waitForLog(pred: (l: LogLine) => boolean, what: string, timeoutMs = 20_000): Promise<LogLine> {
    return waitFor(() => this.findLog(pred), what, timeoutMs);
  }

  /** The HTTP API port, from the "HTTP API listening" log line. */
  async apiPort(): Promise<number> {
    return (await this.waitForLog((l) => l.msg === 'HTTP API listening', 'the HTTP API to listen')).port;
  }

  async api(path: string): Promise<any> {
    const res = await fetch(`http://127.0.0.1:${await this.apiPort()}${path}`);
    const text = await res.text();
    return res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
  }

  /** Exit status, failing the test if it takes longer than timeoutMs. */
  async exit(timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`sluice did not exit within ${timeoutMs} ms; last logs:\n${this.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs)));
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(t);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.proc.kill(signal);
  }
}

export function writeConfig(dir: string, yaml: string, name = 'sluice.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

/** True if a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

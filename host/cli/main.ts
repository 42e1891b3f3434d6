#!/usr/bin/env node
// The sluice command line.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { Reloader } from '../reload/reloader.ts';
import { Metrics } from '../api/metrics.ts';
import { plugins, startApi } from '../api/server.ts';
import { loadConfig, sortIssues, type ConfigIssue } from '../config/load.ts';
import { Pipeline, PipelineConfigError } from '../engine/pipeline.ts';
import { LOG_LEVELS, createLogger, type Logger } from '../log.ts';
import { UsageError, closest, parseCommandLine, type Parsed } from './args.ts';
import { EXIT } from './exit-codes.ts';
import { validatePlugins } from './validate.ts';
import { RULES, checkPlugin, formatResults, type RuleResult } from '../plugin-kit/check.ts';
import { ScaffoldError, scaffold, type Lang } from '../plugin-kit/scaffold.ts';
import { VERSION } from './version.ts';

const USAGE = `sluice ${VERSION}: a log processor whose output plugins run as supervised processes

Usage:
  sluice run -c FILE [--log-level LEVEL] [--watch]
                                           run the pipeline in FILE; --watch reloads it when saved
  sluice validate -c FILE                  check FILE (and each plugin's keys) without running it
  sluice plugin check [--config KEY=VALUE ...] [--json] -- COMMAND [ARGS...]
                                           start a plugin as sluice would and check it against
                                           every rule of the plugin protocol; exit 1 on a failure
  sluice plugin new NAME [--lang ts|go] [--dir DIR]
                                           write a plugin project (SDK, typed config, harness test)
  sluice --version                         print the version
  sluice --help                            print this help

Exit codes: 0 done, 1 runtime failure, 2 invalid config or usage,
130 stopped at once by a second SIGINT/SIGTERM.
Docs: docs/configuration.md, docs/operations.md, docs/storage.md, docs/protocol.md, docs/plugin-authors.md.
`;

/**
 * Calls onChange (debounced) when the content of a file of the config changes:
 * the main file, its includes and its parsers files (`files()`, the running
 * config's list, read again after each reload this starts). Editors that
 * replace a file are fine: directories are watched, contents compared.
 */
function watchConfig(files: () => string[], log: Logger, onChange: () => Promise<unknown>): void {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return undefined;
    }
  };
  const watchers = new Map<string, FSWatcher>();
  let last = new Map<string, string | undefined>();
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const changed = [...last.keys()].filter((f) => {
      const now = read(f);
      return now !== undefined && now !== last.get(f);
    });
    if (!changed.length) return;
    log.info({ files: changed }, changed.length === 1 ? 'config file changed; reloading' : 'config files changed; reloading');
    for (const f of changed) last.set(f, read(f));
    void onChange()
      .catch((err: unknown) => log.error({ err: (err as Error)?.message ?? String(err) }, 'reload after a config change failed; send SIGHUP to try again'))
      .finally(arm);
  };
  /** Watches the running config's files; a reload may have added or dropped includes. */
  function arm(): void {
    last = new Map(files().map((f) => [resolve(f), undefined]));
    for (const f of last.keys()) last.set(f, read(f));
    for (const dir of new Set([...last.keys()].map(dirname))) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, (_event, name) => {
          if (name === null || !last.has(join(dir, String(name)))) return;
          clearTimeout(timer);
          timer = setTimeout(check, 300);
        });
        w.on('error', (err) => log.warn({ dir, err: err.message }, 'cannot watch a config directory any more; send SIGHUP to reload'));
        watchers.set(dir, w.unref());
      } catch (err) {
        log.warn({ dir, err: (err as Error).message }, 'cannot watch a config directory; changes to its files need SIGHUP');
      }
    }
  }
  arm();
}

function fail(code: number, message: string): never {
  process.stderr.write(message.endsWith('\n') ? message : message + '\n');
  process.exit(code);
}

function printIssues(issues: ConfigIssue[]): never {
  fail(EXIT.CONFIG, `${issues.map(String).join('\n')}\n${issues.length} problem${issues.length === 1 ? '' : 's'} in the config; nothing was started`);
}

async function run(file: string, logLevel: string | undefined, watch: boolean): Promise<void> {
  const { config, issues } = loadConfig(file);
  if (!config) printIssues(issues);
  const log: Logger = createLogger(logLevel ?? config.service.log_level, config.service.log_format);
  if (logLevel) config.service.log_level = logLevel;
  const metrics = new Metrics();
  let pipeline: Pipeline;
  try {
    pipeline = new Pipeline(config, log, metrics, VERSION);
  } catch (err) {
    if (err instanceof PipelineConfigError) printIssues(err.issues);
    throw err;
  }

  const reloader = new Reloader(file, pipeline, log, metrics, logLevel);
  let api: Awaited<ReturnType<typeof startApi>> | undefined;

  let stopping = false;
  const stop = async (reason: string) => {
    stopping = true;
    const graceS = pipeline.config.service.grace;
    log.info({ reason, grace_s: graceS }, 'stopping: inputs stopped, outputs deliver what is pending');
    await reloader.close();
    const lost = await pipeline.shutdown(graceS * 1000);
    await api?.close();
    const delivered = await metrics.outRecords.get();
    const summary = Object.fromEntries(delivered.values.map((v) => [v.labels.name, v.value]));
    if (lost.events > 0) {
      log.warn({ events: lost.events, chunks: lost.chunks }, `${lost.events} event${lost.events === 1 ? '' : 's'} in memory storage were not delivered: lost, unless an input reads them again at the next start (tail with db); raise service.grace to give outputs more time`);
    }
    if (lost.onDisk > 0) log.info({ events: lost.onDisk }, 'undelivered events stay in their chunk files under storage.path and are delivered at the next start');
    log.info({ delivered: summary, undelivered_events: lost.events, kept_on_disk_events: lost.onDisk }, 'sluice stopped');
    process.exit(EXIT.OK);
  };
  const onSignal = (sig: string) => {
    if (stopping) {
      pipeline.checkpoint();
      log.warn({ signal: sig }, 'second signal: checkpoints written; exiting now without waiting for outputs');
      process.exit(EXIT.FORCED);
    }
    void stop(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', () => {
    if (!stopping) void reloader.reload('SIGHUP');
  });
  if (watch) watchConfig(() => pipeline.config.files, log, async () => {
    if (!stopping) await reloader.reload('watch');
  });

  // After the signal handlers: whoever reads "HTTP API listening" may signal at once.
  if (config.service.http_server) {
    try {
      api = await startApi(config.service.http_listen, config.service.http_port, {
        pipeline, reloader, metrics, version: VERSION, log,
        health: { check: config.service.health_check, errors: config.service.hc_errors_count, retryFailures: config.service.hc_retry_failure_count, periodS: config.service.hc_period },
      });
    } catch (err) {
      fail(EXIT.FAILURE, `cannot serve the HTTP API on ${config.service.http_listen}:${config.service.http_port}: ${(err as Error).message}; change service.http_port or stop what uses it`);
    }
    log.info({ listen: config.service.http_listen, port: api.port }, 'HTTP API listening');
  }

  const started = pipeline.start();
  reloader.after(started);
  try {
    await started;
  } catch (err) {
    if (err instanceof PipelineConfigError) printIssues(err.issues);
    throw err;
  }
  log.info({ version: VERSION, inputs: pipeline.inputs.map((i) => i.name), outputs: plugins(pipeline).map((p) => ({ output: p.output, pid: p.pid, state: p.state })) }, 'sluice started');

  await pipeline.finished();
  log.info('exit_on_eof: every input reached its end; waiting until everything is delivered');
  await pipeline.stopInputs();
  await pipeline.idle();
  if (!stopping) await stop('exit_on_eof');
}

async function pluginCheck(command: string[], config: { [key: string]: unknown }, json: boolean): Promise<void> {
  // A plugin that hangs keeps the check going up to its 90 s bound: show that it moves.
  let decided = 0;
  const progress = process.stderr.isTTY ? (r: RuleResult) => process.stderr.write(`\rchecking ${command.join(' ')}: ${++decided}/${RULES.length} rules, last ${r.rule} ${r.status.toUpperCase()}\x1b[K`) : undefined;
  const results = await checkPlugin(command, { config, ...(progress ? { onResult: progress } : {}) });
  if (progress) process.stderr.write('\r\x1b[K');
  process.stdout.write(json ? JSON.stringify({ command, results }, null, 2) + '\n' : formatResults(results));
  if (results.some((r) => r.status === 'fail')) process.exit(EXIT.FAILURE);
}

function pluginNew(name: string, lang: Lang, dir: string | undefined): void {
  let made;
  try {
    made = scaffold({ name, lang, dir });
  } catch (err) {
    if (err instanceof ScaffoldError) fail(EXIT.FAILURE, `sluice: ${err.message}`);
    throw err;
  }
  process.stdout.write(`created ${made.dir}:\n${made.files.map((f) => `  ${f}`).join('\n')}\nnext: cd ${relative(process.cwd(), made.dir) || '.'} && ${lang === 'go' ? `go mod tidy && go build -o ${name} . (offline: ./offline-go.sh build -o ${name} .)` : 'npm install && npm test && npm run check'} (its README.md says more)\n`);
}

async function main(argv: string[]): Promise<void> {
  let args: Parsed;
  try {
    args = parseCommandLine(argv);
  } catch (err) {
    if (err instanceof UsageError) fail(EXIT.CONFIG, `sluice: ${err.message}\n${err.usage}`);
    throw err;
  }
  if (args.kind === 'version') return void process.stdout.write(`sluice ${VERSION}\n`);
  if (args.kind === 'help') return void process.stdout.write(USAGE);
  if (args.kind === 'plugin-check') return pluginCheck(args.command, args.config, args.json);
  if (args.kind === 'plugin-new') return pluginNew(args.name, args.lang, args.dir);
  const { kind: command, config: file, logLevel: level } = args;
  if (level !== undefined && !LOG_LEVELS.includes(level)) {
    const hint = closest(level, LOG_LEVELS);
    fail(EXIT.CONFIG, `sluice: --log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}${hint ? `; did you mean ${hint}?` : ''}`);
  }
  if (command === 'run') return run(file, level, args.watch);

  // Every stage at once: the host's checks, and each plugin's checks of its keys, even when the host found problems.
  const { config, partial, issues } = loadConfig(file);
  const checked = config ?? partial;
  const pluginIssues = checked ? await validatePlugins(checked, createLogger('error'), VERSION) : [];
  if (issues.length || pluginIssues.length) printIssues(sortIssues([...issues, ...pluginIssues], checked?.files));
  if (!config) printIssues(issues);
  process.stdout.write(`${file}: ok (${config.inputs.length} input${config.inputs.length === 1 ? '' : 's'}, ${config.outputs.length} output${config.outputs.length === 1 ? '' : 's'})\n`);
}

main(process.argv.slice(2)).catch((err) => fail(EXIT.FAILURE, `sluice: ${err?.stack ?? err}`));

// Reads a YAML config in Fluent Bit's YAML shape and checks all of it.
// Every problem names the file, line, column and key path; nothing stops at
// the first one.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { applySpec, unknownKeyMessage, type ConfigSpec } from '../../sdk/src/config-spec.ts';
import { globToRegExp } from '../engine/router.ts';
import { parseRetryLimit } from '../engine/retry.ts';
import { INPUTS } from '../inputs/index.ts';
import { BUNDLED_PLUGINS_DIR, moduleFile } from '../paths.ts';
import type { PluginCommand } from '../supervisor/plugin-process.ts';
import { INPUT_COMMON_SPEC, OUTPUT_COMMON_SPEC, PIPELINE_KEYS, PLUGIN_ENTRY_SPEC, SERVICE_SPEC, TOP_LEVEL_KEYS } from './schema.ts';

export type KeyPath = (string | number)[];

export const BUNDLED_PLUGINS = ['stdout', 'file', 'null', 'counter', 'kafka'];

export class ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly path: string;
  readonly message: string;
  constructor(file: string, line: number, col: number, path: string, message: string) {
    this.file = file;
    this.line = line;
    this.col = col;
    this.path = path;
    this.message = message;
  }
  toString(): string {
    return `${this.file}:${this.line}:${this.col}: ${this.path ? `${this.path}: ` : ''}${this.message}`;
  }
}

export function formatPath(path: KeyPath): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('');
}

export interface InputConfig {
  kind: string;
  instance: string;
  tag: string;
  memBufLimit: number;
  storage: 'memory' | 'filesystem';
  pauseOnChunksOverlimit: boolean;
  values: { [k: string]: any };
  path: KeyPath;
}

export interface OutputConfig {
  plugin: string;
  instance: string;
  match: RegExp;
  workers: number;
  retryLimit: number;
  flushTimeout: number;
  startTimeout: number;
  /** Failed starts in a row before giving up; Infinity: never. */
  startRetries: number;
  healthCheckInterval: number;
  stopGrace: number;
  totalLimitSize: number;
  /** The plugin's own keys, for Configure. */
  pluginConfig: { [k: string]: unknown };
  command: PluginCommand;
  path: KeyPath;
}

export interface SluiceConfig {
  file: string;
  service: { [k: string]: any };
  inputs: InputConfig[];
  outputs: OutputConfig[];
  /** Maps a key path to a position, for errors found later (a plugin's Configure). */
  locate(path: KeyPath, message: string): ConfigIssue;
}

/** Positions of keys and values in the YAML source. */
class Locator {
  private readonly doc: Document;
  private readonly lines: LineCounter;
  private readonly file: string;
  constructor(doc: Document, lines: LineCounter, file: string) {
    this.doc = doc;
    this.lines = lines;
    this.file = file;
  }
  /** The key node of the last path element (or the value, for list items), else the closest parent. */
  private node(path: KeyPath, wantValue: boolean): Node | undefined {
    let cur: unknown = this.doc.contents;
    let found: Node | undefined = cur as Node;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      const last = i === path.length - 1;
      if (isMap(cur)) {
        const pair = cur.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === seg);
        if (!pair) return found;
        found = (last && !wantValue ? pair.key : pair.value ?? pair.key) as Node;
        cur = pair.value;
      } else if (isSeq(cur) && typeof seg === 'number' && cur.items[seg]) {
        cur = cur.items[seg];
        found = cur as Node;
      } else return found;
    }
    return found;
  }
  issue(path: KeyPath, message: string, onValue = false): ConfigIssue {
    const n = this.node(path, onValue);
    const { line, col } = this.lines.linePos(n?.range?.[0] ?? 0);
    return new ConfigIssue(this.file, line || 1, col || 1, formatPath(path), message);
  }
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** ${VAR} and ${VAR:-default} in every string value; ${tag} is left for plugins' templates (kafka's topic: logs-${tag}). */
function interpolate(v: unknown, path: KeyPath, env: NodeJS.ProcessEnv, bad: (path: KeyPath, msg: string) => void): unknown {
  if (typeof v === 'string') {
    return v.replace(VAR, (m, name: string, def: string | undefined) => {
      if (name === 'tag' && def === undefined) return m;
      const val = env[name];
      // As in a shell, :- also replaces an empty value.
      if (val !== undefined && (val !== '' || def === undefined)) return val;
      if (def !== undefined) return def;
      bad(path, `environment variable ${name} is not set (write \${${name}:-default} for a fallback)`);
      return '';
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => interpolate(x, [...path, i], env, bad));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, [...path, k], env, bad)]));
  }
  return v;
}

/** Finds a plugin command: relative paths from the config's folder, bare names on PATH. */
function resolveCommand(cmd: string, baseDir: string): { path?: string; error?: string } {
  const candidates = cmd.includes('/')
    ? [isAbsolute(cmd) ? cmd : resolve(baseDir, cmd)]
    : [dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter)].filter(Boolean).map((d) => join(d, cmd));
  for (const c of candidates) {
    let st;
    try {
      st = statSync(c);
    } catch {
      continue;
    }
    if (!st.isFile()) return { error: `${c} is not a file` };
    try {
      accessSync(c, constants.X_OK);
    } catch {
      return { error: `${c} is not executable (chmod +x ${c})` };
    }
    return { path: c };
  }
  return { error: cmd.includes('/') ? `${candidates[0]} does not exist` : `${cmd} is not on PATH` };
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): { config?: SluiceConfig; issues: ConfigIssue[] } {
  let src: string;
  try {
    src = readFileSync(file, 'utf8');
  } catch (err) {
    return { issues: [new ConfigIssue(file, 1, 1, '', `cannot read the config file: ${(err as Error).message}`)] };
  }
  return parseConfig(src, file, env);
}

export function parseConfig(src: string, file: string, env: NodeJS.ProcessEnv = process.env): { config?: SluiceConfig; issues: ConfigIssue[] } {
  const lines = new LineCounter();
  const doc = parseDocument(src, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  for (const e of doc.errors) {
    const { line, col } = lines.linePos(e.pos[0]);
    issues.push(new ConfigIssue(file, line || 1, col || 1, '', `YAML syntax error: ${e.message.split('\n')[0]}`));
  }
  if (issues.length) return { issues };
  // `name: null` is YAML's null, but means the bundled null plugin (as in Fluent Bit).
  for (const section of ['inputs', 'outputs']) {
    const items = doc.getIn(['pipeline', section], true);
    if (!isSeq(items)) continue;
    for (const item of items.items) {
      const name = isMap(item) ? item.get('name', true) : undefined;
      if (isScalar(name) && name.value === null && name.source === 'null') name.value = 'null';
    }
  }
  const at = new Locator(doc, lines, file);
  const bad = (path: KeyPath, message: string, onValue = false) => issues.push(at.issue(path, message, onValue));
  const baseDir = dirname(resolve(file));

  const raw = interpolate(doc.toJS() ?? {}, [], env, (p, m) => bad(p, m, true));
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    bad([], 'the config must be a map with service:, pipeline: and plugins:');
    return { issues };
  }
  const top = raw as { [k: string]: any };
  const isMapValue = (v: unknown) => v && typeof v === 'object' && !Array.isArray(v);
  for (const k of Object.keys(top)) if (!TOP_LEVEL_KEYS.includes(k)) bad([k], unknownKeyMessage(k, TOP_LEVEL_KEYS));

  const checkSpec = (spec: ConfigSpec, values: unknown, path: KeyPath) => {
    if (values !== undefined && values !== null && !isMapValue(values)) {
      bad(path, 'must be a map of keys', true);
      return {};
    }
    const r = applySpec(spec, (values ?? {}) as { [k: string]: unknown });
    for (const e of r.errors) bad([...path, e.key], e.message, !e.message.startsWith('unknown key') && !e.message.startsWith('required'));
    return r.values;
  };

  const service = checkSpec(SERVICE_SPEC, top.service, ['service']);
  if (service['storage.keep.rejected'] && !service['storage.rejected.path'] && !service['storage.path']) {
    bad(['service', 'storage.keep.rejected'], 'needs a directory: set service.storage.rejected.path or service.storage.path', true);
  }

  // plugins: name -> command
  const commands = new Map<string, PluginCommand>();
  // Declared, but with an error already reported: outputs using them need no second one.
  const broken = new Set<string>();
  if (top.plugins !== undefined && !isMapValue(top.plugins)) bad(['plugins'], 'must be a map of plugin name to { command, env }', true);
  for (const [name, entry] of Object.entries(isMapValue(top.plugins) ? top.plugins : {})) {
    const path: KeyPath = ['plugins', name];
    broken.add(name);
    const v = checkSpec(PLUGIN_ENTRY_SPEC, entry, path);
    if (v.command === undefined) continue;
    const argv = typeof v.command === 'string' ? [v.command] : Array.isArray(v.command) ? v.command.map(String) : undefined;
    if (!argv?.length || !argv[0]) {
      bad([...path, 'command'], 'must be a list: the executable, then its arguments', true);
      continue;
    }
    const found = resolveCommand(argv[0], baseDir);
    if (found.error) {
      bad([...path, 'command'], `plugin command not found or not runnable: ${found.error}`, true);
      continue;
    }
    broken.delete(name);
    const envMap = Object.fromEntries(Object.entries(v.env as object).map(([k, x]) => [k, String(x)]));
    commands.set(name, { name, argv: [found.path!, ...argv.slice(1)], env: envMap });
  }
  for (const name of BUNDLED_PLUGINS) {
    if (!commands.has(name)) commands.set(name, { name, argv: [process.execPath, join(BUNDLED_PLUGINS_DIR, name, moduleFile('main'))], env: {} });
  }

  const pipeline = top.pipeline;
  if (!isMapValue(pipeline)) bad(['pipeline'], pipeline === undefined ? 'required: a pipeline with inputs and outputs' : 'must be a map with inputs, filters and outputs', true);
  const pl = (isMapValue(pipeline) ? pipeline : {}) as { [k: string]: unknown };
  for (const k of Object.keys(pl)) if (!PIPELINE_KEYS.includes(k)) bad(['pipeline', k], unknownKeyMessage(k, PIPELINE_KEYS));
  const list = (key: string): unknown[] => {
    const v = pl[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      bad(['pipeline', key], `must be a list of ${key}, each item with a name`, true);
      return [];
    }
    return v;
  };

  const counters = new Map<string, number>();
  const instanceName = (kind: string, alias: string | undefined) => {
    const n = counters.get(kind) ?? 0;
    counters.set(kind, n + 1);
    return alias ?? `${kind}.${n}`;
  };

  const inputs: InputConfig[] = [];
  list('inputs').forEach((item, i) => {
    const path: KeyPath = ['pipeline', 'inputs', i];
    if (!isMapValue(item)) return bad(path, 'each input must be a map with a name', true);
    const it = item as { [k: string]: unknown };
    const kind = INPUTS[String(it.name)];
    if (!kind) {
      return bad(it.name === undefined ? path : [...path, 'name'], it.name === undefined ? 'an input needs a name' : `unknown input ${JSON.stringify(it.name)}; ${unknownKeyMessage(String(it.name), Object.keys(INPUTS)).replace('unknown key; ', '')}`, true);
    }
    const spec = { ...INPUT_COMMON_SPEC, ...kind.spec };
    const v = checkSpec(spec, it, path);
    const instance = instanceName(String(it.name), v.alias);
    const { name: _n, alias: _a, tag, mem_buf_limit, 'storage.type': storage, 'storage.pause_on_chunks_overlimit': pause, ...values } = v;
    if (storage === 'filesystem' && !service['storage.path']) bad([...path, 'storage.type'], 'filesystem storage needs service.storage.path: the directory for chunk files', true);
    inputs.push({ kind: String(it.name), instance, tag: tag ?? instance, memBufLimit: mem_buf_limit, storage, pauseOnChunksOverlimit: pause, values, path });
  });
  if (isMapValue(pipeline) && (pl.inputs == null || (Array.isArray(pl.inputs) && !pl.inputs.length))) bad(['pipeline'], 'no inputs: add at least one under pipeline.inputs');

  list('filters').forEach((item, i) => {
    const name = isMapValue(item) ? (item as { name?: unknown }).name : undefined;
    bad(['pipeline', 'filters', i, ...(name === undefined ? [] : ['name'])], `unknown filter ${JSON.stringify(name)}: this version of sluice has no built-in filters yet`, true);
  });

  const outputs: OutputConfig[] = [];
  list('outputs').forEach((item, i) => {
    const path: KeyPath = ['pipeline', 'outputs', i];
    if (!isMapValue(item)) return bad(path, 'each output must be a map with a name', true);
    const it = item as { [k: string]: unknown };
    const common: { [k: string]: unknown } = {};
    const pluginConfig: { [k: string]: unknown } = {};
    for (const [k, x] of Object.entries(it)) (k in OUTPUT_COMMON_SPEC ? common : pluginConfig)[k] = x;
    const v = checkSpec(OUTPUT_COMMON_SPEC, common, path);
    if (v.name === undefined) return;
    const command = commands.get(v.name);
    if (!command) {
      if (broken.has(v.name)) return;
      return bad([...path, 'name'], `unknown plugin ${JSON.stringify(v.name)}: not bundled (${BUNDLED_PLUGINS.join(', ')}) and not declared under plugins:`, true);
    }
    let match: RegExp | undefined;
    if (v.match !== undefined && v.match_regex !== undefined) bad([...path, 'match_regex'], 'give match or match_regex, not both');
    else if (v.match !== undefined) match = globToRegExp(v.match);
    else if (v.match_regex !== undefined) {
      try {
        match = new RegExp(v.match_regex);
      } catch (err) {
        bad([...path, 'match_regex'], `not a valid regular expression: ${(err as Error).message}`, true);
      }
    } else bad(path, 'an output needs match (a glob such as "*" or "app.*") or match_regex, or it receives nothing');
    const retryLimit = parseRetryLimit(v.retry_limit);
    if (retryLimit === undefined) bad([...path, 'retry_limit'], `must be a number, no_limits, false or no_retries, got ${JSON.stringify(v.retry_limit)}`, true);
    const startRetries = parseRetryLimit(v.start_retries);
    if (startRetries === undefined || startRetries < 1) bad([...path, 'start_retries'], `must be a number of at least 1, no_limits or false, got ${JSON.stringify(v.start_retries)}`, true);
    if (!match || retryLimit === undefined || startRetries === undefined || startRetries < 1) return;
    outputs.push({
      plugin: v.name, instance: instanceName(v.name, v.alias), match, workers: v.workers, retryLimit,
      flushTimeout: v.flush_timeout, startTimeout: v.start_timeout, startRetries, healthCheckInterval: v.health_check_interval, stopGrace: v.stop_grace, totalLimitSize: v['storage.total_limit_size'],
      pluginConfig, command, path,
    });
  });
  if (isMapValue(pipeline) && (pl.outputs == null || (Array.isArray(pl.outputs) && !pl.outputs.length))) bad(['pipeline'], 'no outputs: add at least one under pipeline.outputs');

  const names = new Set<string>();
  for (const c of [...inputs, ...outputs]) {
    if (names.has(c.instance)) bad([...c.path, 'alias'], `instance name ${JSON.stringify(c.instance)} is used twice; aliases must be unique`);
    names.add(c.instance);
  }
  if (issues.length) return { issues };
  return { issues, config: { file, service, inputs, outputs, locate: (p, m) => at.issue(p, m) } };
}

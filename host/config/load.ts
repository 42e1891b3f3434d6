// Reads a config in Fluent Bit's shapes, YAML or the classic .conf format,
// with its includes and parsers files, and checks all of it. Every problem
// names the file, line, column and key path (as the user spelled it);
// nothing stops at the first one.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { applySpec, didYouMean, type ConfigSpec, type KeyError, type KeySpec } from '../../sdk/src/config-spec.ts';
import { globToRegExp } from '../engine/router.ts';
import { parseRetryLimit } from '../engine/retry.ts';
import { FilterConfigError, type FilterContext, type FilterKind } from '../filters/filter.ts';
import { FILTERS } from '../filters/index.ts';
import { multilineNames } from '../filters/multiline.ts';
import { BUILTIN_RULES } from '../parsers/multiline-rules.ts';
import { INPUTS } from '../inputs/index.ts';
import type { ParserDef } from '../parsers/parser.ts';
import { STOCK_PARSERS } from '../parsers/stock.ts';
import { MULTILINE_MODES, type MultilineMode } from '../parsers/multiline.ts';
import { BUNDLED_PLUGINS_DIR, moduleFile } from '../paths.ts';
import type { PluginCommand } from '../supervisor/plugin-process.ts';
import { ConfigReader, collected, type Collected, type ListName } from './files.ts';
import { checkMultilineParserDef, checkParserDef } from './parser-checks.ts';
import { CHUNK_HANDOVERS, FILTER_COMMON_SPEC, INPUT_COMMON_SPEC, OUTPUT_COMMON_SPEC, PLUGIN_ENTRY_SPEC, SERVICE_SPEC } from './schema.ts';
import { ConfigIssue, Locator, entryOf, formatPath, plain, sortIssues, type At, type Format, type KeyPath, type LEntry, type LMap, type LNode, type LSeq } from './source.ts';

export { ConfigIssue, formatPath, sortIssues, type KeyPath };

export const BUNDLED_PLUGINS = ['stdout', 'file', 'null', 'counter', 'kafka', 'forward'];

export interface InputConfig {
  kind: string;
  instance: string;
  tag: string;
  /** The config gives a tag (not the instance name by default). */
  tagConfigured: boolean;
  memBufLimit: number;
  storage: 'memory' | 'filesystem';
  pauseOnChunksOverlimit: boolean;
  values: { [k: string]: any };
  path: KeyPath;
}

export interface FilterConfig {
  /** The filter's name: a key of FILTERS. */
  kind: string;
  instance: string;
  match: RegExp;
  /** The filter's own keys, checked against its spec; repeatable keys hold a list. */
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
  chunkHandover: (typeof CHUNK_HANDOVERS)[number];
  /** The plugin's own keys, for Configure, lowercased (Fluent Bit's keys are case-insensitive). */
  pluginConfig: { [k: string]: unknown };
  command: PluginCommand;
  path: KeyPath;
}

export interface MultilineRule {
  state: string;
  regex: string;
  next_state?: string;
}

/** A multiline parser as configured: Fluent Bit's [MULTILINE_PARSER] keys, with its rules. */
export interface MultilineParserDef {
  name: string;
  type: string;
  rules: MultilineRule[];
  [key: string]: unknown;
}

export interface SluiceConfig {
  file: string;
  /** Every file read: the config, its includes (in order), then the parsers files. */
  files: string[];
  /** The config file's format. */
  format: Format;
  service: { [k: string]: any };
  inputs: InputConfig[];
  filters: FilterConfig[];
  outputs: OutputConfig[];
  /** parsers_file's definitions, then parsers:; at ['parsers', index] for locate(). */
  parsers: ParserDef[];
  /** At ['multiline_parsers', index]. */
  multilineParsers: MultilineParserDef[];
  /** Maps a key path to a position, for errors found later (a plugin's Configure). */
  locate(path: KeyPath, message: string): ConfigIssue;
}

export interface LoadOptions {
  /** The filters to check pipeline.filters against (default: FILTERS). */
  filters?: { readonly [name: string]: FilterKind };
  /** Deeper checks of a parser definition (default: checkParserDef in parser-checks.ts). */
  checkParser?: (def: ParserDef) => KeyError[];
  checkMultilineParser?: (def: MultilineParserDef) => KeyError[];
}

export interface LoadResult {
  /** Only when there is no issue. */
  config?: SluiceConfig;
  /** Sorted by file (in the order read), line and column. */
  issues: ConfigIssue[];
  /**
   * With issues: what could be made of the config anyway, so that
   * `sluice validate` can also ask the plugins about their keys. Its outputs
   * are every output whose plugin was found, even with bad host keys.
   */
  partial?: SluiceConfig;
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** ${VAR} and ${VAR:-default} in every string value; ${tag} is left for plugins' templates (kafka's topic: logs-${tag}). */
function interpolate(n: LNode, path: KeyPath, lookup: (name: string) => string | undefined, bad: (path: KeyPath, msg: string) => void): void {
  if (n.kind === 'scalar') {
    if (typeof n.value !== 'string') return;
    n.value = n.value.replace(VAR, (m, name: string, def: string | undefined) => {
      if (name === 'tag' && def === undefined) return m;
      const val = lookup(name);
      // As in a shell, :- also replaces an empty value.
      if (val !== undefined && (val !== '' || def === undefined)) return val;
      if (def !== undefined) return def;
      bad(path, `environment variable ${name} is not set (write \${${name}:-default} for a fallback)`);
      return '';
    });
  } else if (n.kind === 'seq') n.items.forEach((x, i) => interpolate(x, [...path, i], lookup, bad));
  else for (const e of n.entries) interpolate(e.value, [...path, e.norm], lookup, bad);
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

function unknownName(what: string, name: string, known: string[]): string {
  const guess = didYouMean(name, known);
  return `unknown ${what} ${JSON.stringify(name)}; ${guess ? `did you mean "${guess}"?` : `known ${what}s: ${[...known].sort().join(', ')}`}`;
}

function lookupKind<T>(registry: { readonly [name: string]: T }, name: string): T | undefined {
  return Object.hasOwn(registry, name) ? registry[name] : undefined;
}

/**
 * The gathered files as one tree, in the YAML shape: the paths of the
 * checks (pipeline.inputs[3]) are found in it, and each node knows the file
 * and path it came from. Sections no file gave get a place at the config
 * file's start.
 */
function assemble(c: Collected, rootAt: At): LMap {
  const placeOf = (path: KeyPath): At => ({ ...rootAt, path });
  const entry = (key: string, value: LNode, keyAt?: At): LEntry => ({ key, norm: key, keyAt: keyAt ?? placeOf([key]), value });
  const items = (n: LNode): LNode[] => (n.kind === 'seq' ? n.items : [n]);
  // A later service key wins, as in Fluent Bit; parsers_file adds up.
  const service = new Map<string, LEntry>();
  for (const { entries } of c.service) {
    for (const e of entries) {
      const prev = service.get(e.norm);
      if (e.norm === 'parsers_file' && prev) service.set(e.norm, { ...prev, value: { kind: 'seq', items: [...items(prev.value), ...items(e.value)], at: prev.value.at } });
      else {
        service.delete(e.norm);
        service.set(e.norm, e);
      }
    }
  }
  const top = (key: string) => c.top.get(key);
  const list = (name: ListName): LEntry => {
    const l = c.lists[name];
    return entry(name, { kind: 'seq', items: l.items, at: l.at }, l.keyAt ?? placeOf(['pipeline', name]));
  };
  return {
    kind: 'map',
    at: rootAt,
    entries: [
      entry('service', { kind: 'map', entries: [...service.values()], at: top('service')?.at }, top('service')?.keyAt),
      entry('plugins', { kind: 'map', entries: c.plugins, at: top('plugins')?.at }, top('plugins')?.keyAt),
      entry('pipeline', { kind: 'map', entries: [list('inputs'), list('filters'), list('outputs')], at: c.pipeline?.at }, c.pipeline?.keyAt),
      entry('parsers', { kind: 'seq', items: c.parsers, at: top('parsers')?.at }, top('parsers')?.keyAt),
      entry('multiline_parsers', { kind: 'seq', items: c.multilineParsers, at: top('multiline_parsers')?.at }, top('multiline_parsers')?.keyAt),
    ],
  };
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): LoadResult {
  return load(file, undefined, env, opts);
}

/** A config given as text; its includes and parsers files are read from disk, relative to `file`. */
export function parseConfig(src: string, file: string, env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): LoadResult {
  return load(file, src, env, opts);
}

function load(file: string, text: string | undefined, env: NodeJS.ProcessEnv, opts: LoadOptions): LoadResult {
  const reader = new ConfigReader();
  const c = collected();
  reader.read(file, c, 'config', undefined, text);
  const issues = reader.issues;
  if (reader.failed || !reader.rootAt) return { issues: sortIssues(issues, reader.files) };
  const classic = reader.format === 'classic';
  const root = assemble(c, reader.rootAt);
  const at = new Locator(root, reader.rootAt);
  const bad = (path: KeyPath, message: string, onValue = false) => {
    const i = at.issue(path, message, onValue);
    if (!unset.has(`${i.file}:${i.line}:${i.col}`)) issues.push(i);
  };
  const section = <K extends 'service' | 'plugins' | 'pipeline' | 'parsers' | 'multiline_parsers'>(key: K) =>
    entryOf(root, key)!.value as K extends 'parsers' | 'multiline_parsers' ? LSeq : LMap;
  const baseDir = dirname(resolve(file));

  // Variables: env: and @SET first (a later one wins), then the environment, as in Fluent Bit.
  const lookup = (name: string) => c.env.get(name)?.value ?? env[name] ?? (name === 'HOSTNAME' ? hostname() : undefined);
  // A value whose variable is not set is reported once, not again by the checks of what is left of it.
  const unset = new Set<string>();
  const badVar = (p: KeyPath, m: string) => {
    const i = at.issue(p, m, true);
    unset.add(`${i.file}:${i.line}:${i.col}`);
    issues.push(i);
  };
  interpolate(root, [], lookup, badVar);

  /** A map's entries, the first of each key (a second one is reported as a duplicate). */
  const entriesOf = (map: LMap): LEntry[] => {
    reader.dups(map);
    const seen = new Set<string>();
    return map.entries.filter((e) => !seen.has(e.norm) && !!seen.add(e.norm));
  };

  /** Checks a map against a spec; keys in `repeatable` may be given more than once and come as a list. */
  const checkSpec = (spec: ConfigSpec, node: LNode | undefined, path: KeyPath, repeatable: readonly string[] = []) => {
    if (node && !(node.kind === 'scalar' && node.value === null) && node.kind !== 'map') {
      bad(path, 'must be a map of keys', true);
      return {};
    }
    const raw: { [k: string]: unknown } = {};
    const lists = new Map<string, { items: LNode[]; fromList: boolean }>();
    const repeated = new Set<string>();
    for (const e of node?.kind === 'map' ? entriesOf(node) : []) {
      const ks: KeySpec | undefined = Object.hasOwn(spec, e.norm) ? spec[e.norm] : undefined;
      if (ks && repeatable.includes(e.norm)) {
        lists.set(e.norm, e.value.kind === 'seq' ? { items: e.value.items, fromList: true } : { items: [e.value], fromList: false });
        continue;
      }
      if (e.value.kind === 'seq' && e.value.repeated) {
        bad([...path, e.norm, 1], `${e.key} is given ${e.value.items.length} times, but takes one value${repeatable.length ? ` (only ${repeatable.join(', ')} may repeat)` : ''}`, true);
        repeated.add(e.norm);
        continue;
      }
      let v = plain(e.value);
      // Fluent Bit compares words case-insensitively: storage.type Filesystem.
      if (ks?.oneOf && typeof v === 'string') v = ks.oneOf.find((o) => o.toLowerCase() === (v as string).toLowerCase()) ?? v;
      raw[e.norm] = v;
    }
    const single = Object.fromEntries(Object.entries(spec).filter(([k]) => !lists.has(k)));
    const r = applySpec(single, raw);
    for (const e of r.errors) if (!repeated.has(e.key)) bad([...path, e.key], e.message, !e.message.startsWith('unknown key') && !e.message.startsWith('required'));
    for (const k of repeatable) {
      if (!Object.hasOwn(spec, k)) continue;
      const given = lists.get(k);
      if (!given) {
        const d = r.values[k];
        r.values[k] = d === undefined ? [] : Array.isArray(d) ? d : [d];
        continue;
      }
      const out: unknown[] = [];
      given.items.forEach((item, j) => {
        const one = applySpec({ [k]: spec[k]! }, { [k]: plain(item) });
        if (one.errors.length) bad(given.fromList ? [...path, k, j] : [...path, k], one.errors[0]!.message, true);
        // A list key given several times (tail's multiline.parser): one list of all its values.
        else if (one.values[k] !== undefined) out.push(...(spec[k]!.type === 'list' && Array.isArray(one.values[k]) ? one.values[k] : [one.values[k]]));
      });
      r.values[k] = out;
    }
    return r.values;
  };

  // service, then its parsers files.
  const serviceNode = section('service');
  const service = checkSpec(SERVICE_SPEC, serviceNode, ['service'], ['parsers_file']);
  if (service['storage.keep.rejected'] && !service['storage.rejected.path'] && !service['storage.path']) {
    bad(['service', 'storage.keep.rejected'], 'needs a directory: set service.storage.rejected.path or service.storage.path', true);
  }
  const parsersFiles = collected();
  const pf = entryOf(serviceNode, 'parsers_file');
  if (pf) {
    const list = pf.value.kind === 'seq' ? pf.value.items : [pf.value];
    const found: string[] = [];
    list.forEach((item, i) => {
      const path: KeyPath = pf.value.kind === 'seq' ? ['service', 'parsers_file', i] : ['service', 'parsers_file'];
      if (item.kind !== 'scalar' || typeof item.value !== 'string' || !item.value) return bad(path, 'must be a file name, or a list of them', true);
      const name = item.value;
      // From the folder of the file that names it; else from the working directory (Fluent Bit's first choice).
      const candidates = isAbsolute(name) ? [name] : [join(dirname(item.at?.src.file ?? file), name), name];
      const f = candidates.find((x) => existsSync(x)) ?? candidates[0]!;
      if (reader.read(f, parsersFiles, 'parsers', item.at)) found.push(resolve(f));
    });
    service.parsers_file = found;
    const parsersSeq = section('parsers');
    const mlSeq = section('multiline_parsers');
    parsersSeq.items.unshift(...parsersFiles.parsers);
    mlSeq.items.unshift(...parsersFiles.multilineParsers);
    parsersFiles.parsers.forEach((n, i) => interpolate(n, ['parsers', i], lookup, badVar));
    parsersFiles.multilineParsers.forEach((n, i) => interpolate(n, ['multiline_parsers', i], lookup, badVar));
  }

  // plugins: name -> command
  const commands = new Map<string, PluginCommand>();
  // Declared, but with an error already reported: outputs using them need no second one.
  const broken = new Set<string>();
  for (const e of section('plugins').entries) {
    const name = e.key;
    const path: KeyPath = ['plugins', name];
    broken.add(name);
    const v = checkSpec(PLUGIN_ENTRY_SPEC, e.value, path);
    if (v.command === undefined) continue;
    const argv = typeof v.command === 'string' ? [v.command] : Array.isArray(v.command) ? v.command.map(String) : undefined;
    if (!argv?.length || !argv[0]) {
      bad([...path, 'command'], 'must be a list: the executable, then its arguments', true);
      continue;
    }
    const found = resolveCommand(argv[0], e.keyAt.src === reader.rootAt.src ? baseDir : dirname(resolve(e.keyAt.src.file)));
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
  /** A plugin by name: as declared, else in any case (Fluent Bit's plugin names are case-insensitive). */
  const pluginNamed = (name: string): string | undefined => {
    if (commands.has(name) || broken.has(name)) return name;
    const lower = name.toLowerCase();
    return [...commands.keys(), ...broken].find((k) => k.toLowerCase() === lower);
  };

  const pipeline = c.pipeline;
  if (!pipeline) bad(['pipeline'], 'required: a pipeline with inputs and outputs', true);
  const list = (name: ListName) => c.lists[name].items;

  const counters = new Map<string, number>();
  const instanceName = (kind: string, alias: string | undefined) => {
    const n = counters.get(kind) ?? 0;
    counters.set(kind, n + 1);
    return alias ?? `${kind}.${n}`;
  };
  /** The item's name (lowercased: Fluent Bit's names are case-insensitive), or where it is missing. */
  const nameOf = (item: LMap): string | undefined => {
    const n = entryOf(item, 'name')?.value;
    return n?.kind === 'scalar' && n.value !== null && typeof n.value !== 'object' ? String(n.value) : undefined;
  };
  const matchOf = (v: { [k: string]: any }, path: KeyPath, what: string): RegExp | undefined => {
    if (v.match !== undefined && v.match_regex !== undefined) bad([...path, 'match_regex'], 'give match or match_regex, not both');
    else if (v.match !== undefined) return globToRegExp(v.match);
    else if (v.match_regex !== undefined) {
      try {
        return new RegExp(v.match_regex);
      } catch (err) {
        bad([...path, 'match_regex'], `not a valid regular expression: ${(err as Error).message}`, true);
      }
    } else bad(path, `${what} needs match (a glob such as "*" or "app.*") or match_regex, or it ${what === 'an output' ? 'receives nothing' : 'sees no events'}`);
    return undefined;
  };

  const inputs: InputConfig[] = [];
  list('inputs').forEach((item, i) => {
    const path: KeyPath = ['pipeline', 'inputs', i];
    if (item.kind !== 'map') return bad(path, 'each input must be a map with a name', true);
    const name = nameOf(item);
    const kindName = name?.toLowerCase();
    const kind = kindName === undefined ? undefined : lookupKind(INPUTS, kindName);
    if (!kind) return bad(name === undefined ? path : [...path, 'name'], name === undefined ? 'an input needs a name' : unknownName('input', name, Object.keys(INPUTS)), true);
    const v = checkSpec({ ...INPUT_COMMON_SPEC, ...kind.spec }, item, path, kind.repeatable ?? []);
    const instance = instanceName(kindName!, v.alias);
    const { name: _n, alias: _a, tag, mem_buf_limit, 'storage.type': storage, 'storage.pause_on_chunks_overlimit': pause, ...values } = v;
    if (storage === 'filesystem' && !service['storage.path']) bad([...path, 'storage.type'], 'filesystem storage needs service.storage.path: the directory for chunk files', true);
    inputs.push({ kind: kindName!, instance, tag: tag ?? instance, tagConfigured: tag !== undefined, memBufLimit: mem_buf_limit, storage, pauseOnChunksOverlimit: pause, values, path });
  });

  const filterKinds = opts.filters ?? FILTERS;
  const filters: FilterConfig[] = [];
  list('filters').forEach((item, i) => {
    const path: KeyPath = ['pipeline', 'filters', i];
    if (item.kind !== 'map') return bad(path, 'each filter must be a map with a name', true);
    const name = nameOf(item);
    const kindName = name?.toLowerCase();
    const kind = kindName === undefined ? undefined : lookupKind(filterKinds, kindName);
    if (!kind) {
      const known = Object.keys(filterKinds);
      if (name === undefined) return bad(path, 'a filter needs a name', true);
      return bad([...path, 'name'], known.length ? unknownName('filter', name, known) : `unknown filter ${JSON.stringify(name)}: this version of sluice has no built-in filters yet`, true);
    }
    const v = checkSpec({ ...FILTER_COMMON_SPEC, ...kind.spec }, item, path, kind.repeatable ?? []);
    const match = matchOf(v, path, 'a filter');
    const { name: _n, alias, match: _m, match_regex: _r, ...values } = v;
    const instance = instanceName(kindName!, alias);
    // What the spec cannot check (a regex that does not compile, a rule without a value) is found by making the filter.
    try {
      kind.create(values, { name: instance } as FilterContext);
    } catch (err) {
      if (!(err instanceof FilterConfigError)) throw err;
      return bad([...path, err.key], err.message, true);
    }
    if (match) filters.push({ kind: kindName!, instance, match, values, path });
  });

  const outputs: OutputConfig[] = [];
  const checkable: OutputConfig[] = [];
  list('outputs').forEach((item, i) => {
    const path: KeyPath = ['pipeline', 'outputs', i];
    if (item.kind !== 'map') return bad(path, 'each output must be a map with a name', true);
    const common: LEntry[] = [];
    const pluginConfig: { [k: string]: unknown } = {};
    for (const e of entriesOf(item)) {
      if (Object.hasOwn(OUTPUT_COMMON_SPEC, e.norm)) common.push(e);
      else pluginConfig[e.norm] = plain(e.value);
    }
    const errorsBefore = issues.length;
    const v = checkSpec(OUTPUT_COMMON_SPEC, { kind: 'map', entries: common, at: item.at }, path);
    if (v.name === undefined) return;
    const plugin = pluginNamed(v.name);
    const command = plugin === undefined ? undefined : commands.get(plugin);
    if (!command) {
      if (plugin !== undefined) return;
      return bad([...path, 'name'], `unknown plugin ${JSON.stringify(v.name)}: not bundled (${BUNDLED_PLUGINS.join(', ')}) and not declared under plugins:`, true);
    }
    const match = matchOf(v, path, 'an output');
    const word = (x: unknown) => (typeof x === 'string' ? x.trim().toLowerCase() : x);
    const retryLimit = parseRetryLimit(word(v.retry_limit));
    if (retryLimit === undefined) bad([...path, 'retry_limit'], `must be a number, no_limits, false or no_retries, got ${JSON.stringify(v.retry_limit)}`, true);
    const startRetries = parseRetryLimit(word(v.start_retries));
    if (startRetries === undefined || startRetries < 1) bad([...path, 'start_retries'], `must be a number of at least 1, no_limits or false, got ${JSON.stringify(v.start_retries)}`, true);
    const d = (key: string) => v[key] ?? OUTPUT_COMMON_SPEC[key]!.default;
    // SLUICE_CHUNK_HANDOVER=bytes runs a whole test suite by value.
    const handoverDefault = (p: KeyPath) => {
      const env = process.env.SLUICE_CHUNK_HANDOVER?.trim().toLowerCase();
      if (!env) return 'auto';
      const found = CHUNK_HANDOVERS.find((h) => h === env);
      if (!found) bad([...p, 'chunk_handover'], `the environment variable SLUICE_CHUNK_HANDOVER is ${JSON.stringify(process.env.SLUICE_CHUNK_HANDOVER)}; it must be auto or bytes (or unset)`);
      return found ?? 'auto';
    };
    const o: OutputConfig = {
      plugin: plugin!, instance: instanceName(plugin!, v.alias), match: match ?? /$^/, workers: d('workers'), retryLimit: retryLimit ?? 5,
      flushTimeout: d('flush_timeout'), startTimeout: d('start_timeout'), startRetries: startRetries ?? 3, healthCheckInterval: d('health_check_interval'), stopGrace: d('stop_grace'), totalLimitSize: d('storage.total_limit_size'),
      chunkHandover: common.some((e) => e.norm === 'chunk_handover') ? v.chunk_handover : handoverDefault(path), pluginConfig, command, path,
    };
    checkable.push(o);
    if (issues.length === errorsBefore) outputs.push(o);
  });
  if (pipeline && !pipeline.broken) {
    for (const name of ['inputs', 'outputs'] as const) {
      if (!list(name).length && !c.lists[name].broken) bad(['pipeline'], classic ? `no ${name}: add at least one [${name.slice(0, -1).toUpperCase()}] section` : `no ${name}: add at least one under pipeline.${name}`);
    }
  }

  const names = new Set<string>();
  for (const x of [...inputs, ...filters, ...checkable]) {
    if (names.has(x.instance)) bad([...x.path, 'alias'], `instance name ${JSON.stringify(x.instance)} is used twice; aliases must be unique`);
    names.add(x.instance);
  }
  // A filter's emitter (rewrite_tag) is an input of its own: its name is an instance name too.
  for (const fc of filters) {
    const em = filterKinds[fc.kind]!.emitter?.(fc.values, fc.instance);
    if (!em) continue;
    if (names.has(em.name)) bad([...fc.path, fc.values.emitter_name === undefined ? 'name' : 'emitter_name'], `emitter name ${JSON.stringify(em.name)} is already the name of an input, filter, output or emitter; set a unique emitter_name`, true);
    names.add(em.name);
    if (em.storage === 'filesystem' && !service['storage.path']) bad([...fc.path, 'emitter_storage.type'], 'filesystem storage needs service.storage.path: the directory for chunk files', true);
  }

  /** A parser's keys as Fluent Bit reads them: lowercase, string values (lists for repeated keys); empty ones left out. */
  const defOf = (item: LNode, path: KeyPath, what: string, skip: string[] = []): { [k: string]: unknown } | undefined => {
    if (item.kind !== 'map') {
      bad(path, `each ${what} must be a map with a name`, true);
      return undefined;
    }
    const def: { [k: string]: unknown } = {};
    for (const e of entriesOf(item)) {
      if (skip.includes(e.norm)) continue;
      const v = e.value;
      const text = (x: LNode) => (x.kind === 'scalar' && x.value !== null && typeof x.value !== 'object' ? String(x.value) : undefined);
      if (v.kind === 'scalar') {
        const s = text(v);
        if (s !== undefined && s !== '') def[e.norm] = s;
      } else if (v.kind === 'seq' && v.items.every((x) => text(x) !== undefined)) def[e.norm] = v.items.map((x) => text(x)!);
      else bad([...path, e.norm], 'must be a value or a list of values', true);
    }
    return def;
  };
  const required = (def: { [k: string]: unknown }, path: KeyPath, keys: string[]): boolean => {
    let ok = true;
    for (const k of keys) {
      if (typeof def[k] === 'string') continue;
      ok = false;
      if (def[k] === undefined) bad([...path, k], 'required key is missing');
      else bad([...path, k], 'must be one value, not a list', true);
    }
    return ok;
  };
  const where = (path: KeyPath) => {
    const i = at.issue(path, '', true);
    return `${i.file}:${i.line}`;
  };

  const parsers: ParserDef[] = [];
  const parserAt = new Map<string, KeyPath>();
  section('parsers').items.forEach((item, i) => {
    const path: KeyPath = ['parsers', i];
    const def = defOf(item, path, 'parser');
    if (!def || !required(def, path, ['name', 'format'])) return;
    const p = def as ParserDef;
    const first = parserAt.get(p.name);
    if (first) return bad([...path, 'name'], `parser ${JSON.stringify(p.name)} is defined twice (first at ${where([...first, 'name'])})`, true);
    parserAt.set(p.name, path);
    for (const e of (opts.checkParser ?? checkParserDef)(p)) bad([...path, e.key], e.message, e.key in def);
    parsers.push(p);
  });

  const multilineParsers: MultilineParserDef[] = [];
  const mlAt = new Map<string, KeyPath>();
  section('multiline_parsers').items.forEach((item, i) => {
    const path: KeyPath = ['multiline_parsers', i];
    const def = defOf(item, path, 'multiline parser', ['rules']);
    if (!def) return;
    const rules: MultilineRule[] = [];
    const rulesNode = entryOf(item as LMap, 'rules')?.value;
    let ok = true;
    if (rulesNode && !(rulesNode.kind === 'scalar' && rulesNode.value === null)) {
      if (rulesNode.kind !== 'seq') {
        bad([...path, 'rules'], 'must be a list of rules, each with state, regex and next_state', true);
        ok = false;
      } else {
        rulesNode.items.forEach((r, j) => {
          const rp: KeyPath = [...path, 'rules', j];
          const rule = defOf(r, rp, 'rule');
          if (!rule) return void (ok = false);
          for (const k of Object.keys(rule)) if (!['state', 'regex', 'next_state'].includes(k)) bad([...rp, k], `unknown key; a rule has state, regex and next_state`);
          if (!required(rule, rp, ['state', 'regex'])) return void (ok = false);
          if (rule.next_state !== undefined && typeof rule.next_state !== 'string') return void bad([...rp, 'next_state'], 'must be one value, not a list', true);
          rules.push({ state: rule.state as string, regex: rule.regex as string, ...(rule.next_state === undefined ? {} : { next_state: rule.next_state as string }) });
        });
      }
    }
    if (!required(def, path, ['name', 'type']) || !ok) return;
    const m = { ...def, rules } as MultilineParserDef;
    const first = mlAt.get(m.name);
    if (first) return bad([...path, 'name'], `multiline parser ${JSON.stringify(m.name)} is defined twice (first at ${where([...first, 'name'])})`, true);
    mlAt.set(m.name, path);
    for (const e of (opts.checkMultilineParser ?? checkMultilineParserDef)(m)) bad([...path, e.key], e.message, e.key in m);
    multilineParsers.push(m);
  });

  // An input's parser (tail's parser key) names a stock parser or a defined one.
  const parserNames = new Set([...STOCK_PARSERS.map((d) => d.name), ...parsers.map((d) => d.name)]);
  for (const ic of inputs) {
    const name = ic.values.parser;
    if (name && !parserNames.has(String(name))) bad([...ic.path, 'parser'], unknownName('parser', String(name), [...parserNames]), true);
  }
  // So do a filter's (the parser filter's parser keys), and its multiline parsers (built-in or defined).
  const mlNames = new Set([...Object.keys(BUILTIN_RULES), ...multilineParsers.map((d) => d.name)]);
  for (const fc of filters) {
    const kind = filterKinds[fc.kind]!;
    for (const key of kind.multilineParserKeys ?? []) {
      const given = fc.values[key];
      const list = given === undefined ? [] : Array.isArray(given) ? given : [given];
      list.forEach((item, j) => {
        for (const n of multilineNames(item)) {
          if (!mlNames.has(n)) bad(list.length > 1 ? [...fc.path, key, j] : [...fc.path, key], unknownName('multiline parser', n, [...mlNames]), true);
        }
      });
    }
    for (const key of kind.parserKeys ?? []) {
      const v = fc.values[key];
      const names = v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
      names.forEach((n, j) => {
        if (!parserNames.has(n)) bad(names.length > 1 ? [...fc.path, key, j] : [...fc.path, key], unknownName('parser', n, [...parserNames]), true);
      });
    }
  }

  // tail's multiline.parser names built-in modes (user multiline_parsers are not used by tail yet);
  // docker_mode is the older way to do what multiline.parser docker does, not both.
  const userMultiline = new Set(multilineParsers.map((d) => d.name));
  for (const ic of inputs) {
    const ml = ic.values['multiline.parser'];
    if (!Array.isArray(ml)) continue;
    for (const n of ml as string[]) {
      if (MULTILINE_MODES.includes(n.toLowerCase() as MultilineMode)) continue;
      const message = userMultiline.has(n)
        ? `${JSON.stringify(n)} is defined in multiline_parsers, but tail cannot use user multiline parsers yet: only the built-in ${MULTILINE_MODES.join(' and ')}; a multiline filter (multiline.parser ${n}) can`
        : ['go', 'java', 'python', 'ruby'].includes(n.toLowerCase())
          ? `tail takes only ${MULTILINE_MODES.join(' and ')} in multiline.parser; Fluent Bit's ${JSON.stringify(n)} is in sluice's multiline filter (name: multiline, multiline.parser: ${n.toLowerCase()})`
          : unknownName('multiline parser', n, [...MULTILINE_MODES]);
      bad([...ic.path, 'multiline.parser'], message, true);
    }
    if (ml.length && ic.values.docker_mode === true) bad([...ic.path, 'docker_mode'], 'cannot be used with multiline.parser: multiline.parser docker joins docker\'s pieces too (drop docker_mode)', true);
  }

  const model = (outs: OutputConfig[]): SluiceConfig => ({
    file, files: reader.files, format: reader.format, service, inputs, filters, outputs: outs, parsers, multilineParsers,
    locate: (p, m) => at.issue(p, m),
  });
  if (issues.length) return { issues: sortIssues(issues, reader.files), partial: model(checkable) };
  return { issues: [], config: model(outputs) };
}

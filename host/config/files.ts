// Reads a config and the files it includes, in YAML or in Fluent Bit's
// classic format, and gathers their sections in Fluent Bit's way: an
// included file's inputs, filters, outputs and parsers are added where the
// include is, service keys are merged (a later one wins), and variables
// (env:, @SET) apply to the whole config.
import { existsSync, globSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { unknownKeyMessage } from '../../sdk/src/config-spec.ts';
import { firstClassicLine, looksClassic, readClassic } from './classic.ts';
import { PIPELINE_KEYS, TOP_LEVEL_KEYS } from './schema.ts';
import { ConfigIssue, SourceText, describeNode, fromYaml, issueAt, type At, type Format, type LEntry, type LMap, type LNode } from './source.ts';

export type ListName = 'inputs' | 'filters' | 'outputs';

/** Everything the files hold, gathered, before any check of the values. */
export interface Collected {
  /** env: and @SET, by name; a later one wins. */
  env: Map<string, { value: string; at: At }>;
  /** Each service map's entries, in file order (the map tells which entries came together). */
  service: { map: LMap; entries: LEntry[] }[];
  plugins: LEntry[];
  /** Where pipeline: was first given (a classic config file is its own pipeline). */
  pipeline?: { keyAt: At; at?: At; broken?: boolean };
  lists: { [k in ListName]: { items: LNode[]; broken: boolean; keyAt?: At; at?: At } };
  parsers: LNode[];
  multilineParsers: LNode[];
  /** Where each top-level section was first given. */
  top: Map<string, { keyAt: At; at?: At }>;
}

export function collected(): Collected {
  const list = () => ({ items: [], broken: false });
  return { env: new Map(), service: [], plugins: [], lists: { inputs: list(), filters: list(), outputs: list() }, parsers: [], multilineParsers: [], top: new Map() };
}

/** By extension (.conf: classic; .yaml, .yml: YAML), else by content: classic if the first line that is not a comment starts with [ or @. */
export function detectFormat(file: string, text: string): Format {
  const ext = extname(file).toLowerCase();
  if (ext === '.conf') return 'classic';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  return looksClassic(text) ? 'classic' : 'yaml';
}

type Mode = 'config' | 'parsers';

export class ConfigReader {
  /** Every file read, in order. */
  readonly files: string[] = [];
  readonly issues: ConfigIssue[] = [];
  /** A file could not be read or parsed: what it holds is missing, so checking the rest would mislead. */
  failed = false;
  /** The main file's folder, as given and absolute: classic @INCLUDE falls back to it, as in Fluent Bit. */
  private mainDir = '';
  private mainDirAbs = '';
  private readonly stack: string[] = [];
  private readonly included = new Map<string, At | undefined>();
  /** The main file's format and root, once read. */
  format: Format = 'yaml';
  rootAt?: At;

  private bad(at: At, message: string, path = at.path): void {
    this.issues.push(issueAt(at, message, path));
  }

  private name(file: string): string {
    const r = relative(this.mainDirAbs, file);
    return r && !r.startsWith('..') ? r : file;
  }

  /** Reads a file into `into`; text: the main file's content, if already known. */
  read(file: string, into: Collected, mode: Mode, from?: At, text?: string): boolean {
    const abs = resolve(file);
    if (!this.files.length) {
      this.mainDir = dirname(file);
      this.mainDirAbs = dirname(abs);
    }
    const what = mode === 'parsers' ? 'parsers file' : from ? 'included file' : 'config file';
    const fail = (message: string) => {
      this.failed = true;
      if (from) this.bad(from, message);
      else this.issues.push(new ConfigIssue(file, 1, 1, '', message));
      return false;
    };
    let real = abs;
    try {
      if (text === undefined) real = realpathSync(abs);
    } catch (err) {
      return fail(`cannot read the ${what}: ${(err as Error).message}`);
    }
    if (this.stack.includes(real)) {
      const cycle = [...this.stack.slice(this.stack.indexOf(real)), real].map((f) => this.name(f));
      return fail(`include cycle: ${cycle.join(' → ')}`);
    }
    if (this.included.has(real)) {
      const first = this.included.get(real);
      const where = first ? ` (at ${first.src.file}:${first.src.pos(first.offset).line})` : ' (it is the config file)';
      return fail(`${this.name(real)} is already included${where}; a file may be included once`);
    }
    if (text === undefined) {
      try {
        text = readFileSync(abs, 'utf8');
      } catch (err) {
        return fail(`cannot read the ${what}: ${(err as Error).message}`);
      }
    }
    this.included.set(real, from);
    this.files.push(file);
    const src = new SourceText(file, text);
    const format = detectFormat(file, text);
    const rootAt: At = { src, offset: 0, path: [] };
    if (this.files.length === 1) {
      this.format = format;
      this.rootAt = rootAt;
    }
    this.stack.push(real);
    try {
      if (format === 'classic') this.readClassic(src, into, mode);
      else this.readYaml(src, into, mode);
    } finally {
      this.stack.pop();
    }
    return true;
  }

  private include(pattern: string, at: At, format: Format, into: Collected, mode: Mode): void {
    const dirs = [dirname(at.src.file)];
    // Classic @INCLUDE: from the including file's folder, else the main file's (where Fluent Bit looks).
    if (format === 'classic' && resolve(this.mainDir) !== resolve(dirs[0]!)) dirs.push(this.mainDir);
    const under = (dir: string) => (isAbsolute(pattern) ? pattern : join(dir, pattern));
    if (/[*?[]/.test(pattern)) {
      for (const dir of dirs) {
        const found = globSync(under(dir)).sort();
        if (!found.length) continue;
        for (const f of found) this.read(f, into, mode, at);
        return;
      }
      return; // A glob that matches nothing includes nothing (Fluent Bit warns).
    }
    const file = dirs.map(under).find((f) => existsSync(f)) ?? under(dirs[0]!);
    this.read(file, into, mode, at);
  }

  private readClassic(src: SourceText, into: Collected, mode: Mode): void {
    const { items, issues } = readClassic(src);
    if (issues.length) {
      this.failed = true;
      this.issues.push(...issues);
    }
    const start: At = { src, offset: 0, path: [] };
    if (mode === 'config' && !into.pipeline) into.pipeline = { keyAt: start };
    for (const item of items) {
      if (item.kind === 'include') {
        this.include(item.pattern, item.at, 'classic', into, mode);
        continue;
      }
      if (item.kind === 'set') {
        if (mode === 'parsers') this.bad(item.at, '@SET belongs in the config file, not in a parsers file');
        else this.setVar(into, item.name, item.value, item.at);
        continue;
      }
      const { section, node, headerAt } = item;
      if (mode === 'parsers' && section !== 'parser' && section !== 'multiline_parser') {
        this.bad(headerAt, `a parsers file holds only [PARSER] and [MULTILINE_PARSER] sections, not [${section.toUpperCase()}]`, []);
        continue;
      }
      const topKey = section === 'input' || section === 'filter' || section === 'output' ? 'pipeline' : section === 'parser' ? 'parsers' : section === 'multiline_parser' ? 'multiline_parsers' : 'service';
      if (!into.top.has(topKey)) into.top.set(topKey, { keyAt: headerAt });
      if (section === 'service') into.service.push({ map: node, entries: node.entries });
      else if (section === 'parser') into.parsers.push(node);
      else if (section === 'multiline_parser') into.multilineParsers.push(node);
      else {
        const list = into.lists[`${section}s`];
        list.keyAt ??= headerAt;
        list.items.push(node);
      }
    }
  }

  private readYaml(src: SourceText, into: Collected, mode: Mode): void {
    const doc = parseDocument(src.text, { prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length) {
      this.failed = true;
      const classic = firstClassicLine(src.text);
      if (classic !== undefined) {
        this.bad({ src, offset: classic, path: [] }, `this file is in Fluent Bit's classic format, not YAML (YAML syntax error: ${doc.errors[0]!.message.split('\n')[0]}); name it *.conf to read it as classic`);
        return;
      }
      for (const e of doc.errors) this.bad({ src, offset: e.pos[0], path: [] }, `YAML syntax error: ${e.message.split('\n')[0]}`);
      return;
    }
    const root = fromYaml(doc, src);
    if (root?.at && this.rootAt?.src === src) this.rootAt = root.at;
    if (!root || (root.kind === 'scalar' && root.value === null)) return;
    if (root.kind !== 'map') {
      this.bad(root.at!, mode === 'parsers' ? 'a parsers file must be a map with parsers: and multiline_parsers:' : 'the config must be a map with service:, pipeline: and plugins:');
      return;
    }
    this.dups(root);
    for (const e of root.entries) {
      const v = e.value;
      const isNull = v.kind === 'scalar' && v.value === null;
      if (mode === 'parsers' && !['parsers', 'multiline_parsers', 'includes'].includes(e.norm)) {
        this.bad(e.keyAt, `a parsers file holds only parsers, multiline_parsers and includes`);
        continue;
      }
      if (!TOP_LEVEL_KEYS.includes(e.norm)) {
        this.bad(e.keyAt, unknownKeyMessage(e.key, TOP_LEVEL_KEYS));
        continue;
      }
      if (!into.top.has(e.norm)) into.top.set(e.norm, { keyAt: e.keyAt, at: v.at });
      switch (e.norm) {
        case 'env':
          this.env(e, into);
          break;
        case 'includes': {
          const list = v.kind === 'seq' ? v.items : isNull ? [] : [v];
          for (const item of list) {
            if (item.kind === 'scalar' && typeof item.value === 'string' && item.value) this.include(item.value, item.at!, 'yaml', into, mode);
            else this.bad(item.at ?? e.keyAt, `must be a list of files to include, got ${describeNode(item)}`);
          }
          break;
        }
        case 'service':
          if (isNull) break;
          if (v.kind !== 'map') {
            this.bad(v.at!, 'must be a map of keys');
            break;
          }
          this.dups(v);
          into.service.push({ map: v, entries: v.entries });
          break;
        case 'plugins':
          if (isNull) break;
          if (v.kind !== 'map') {
            this.bad(v.at!, 'must be a map of plugin name to { command, env }');
            break;
          }
          for (const p of v.entries) {
            const before = into.plugins.find((x) => x.key === p.key);
            if (before) this.bad(p.keyAt, `plugin ${JSON.stringify(p.key)} is declared twice (first at ${before.keyAt.src.file}:${before.keyAt.src.pos(before.keyAt.offset).line})`);
            else into.plugins.push(p);
          }
          break;
        case 'pipeline':
          into.pipeline ??= { keyAt: e.keyAt, at: v.at };
          if (isNull) break;
          if (v.kind !== 'map') {
            into.pipeline.broken = true;
            this.bad(v.at!, 'must be a map with inputs, filters and outputs');
            break;
          }
          this.dups(v);
          for (const pe of v.entries) {
            if (!PIPELINE_KEYS.includes(pe.norm)) {
              this.bad(pe.keyAt, unknownKeyMessage(pe.key, PIPELINE_KEYS));
              continue;
            }
            const list = into.lists[pe.norm as ListName];
            list.keyAt ??= pe.keyAt;
            list.at ??= pe.value.at;
            if (pe.value.kind === 'seq') list.items.push(...pe.value.items);
            else if (!(pe.value.kind === 'scalar' && pe.value.value === null)) {
              list.broken = true;
              this.bad(pe.value.at!, `must be a list of ${pe.norm}, each item with a name`);
            }
          }
          break;
        case 'parsers':
        case 'multiline_parsers': {
          if (isNull) break;
          if (v.kind !== 'seq') {
            this.bad(v.at!, `must be a list of ${e.norm === 'parsers' ? 'parsers' : 'multiline parsers'}, each a map with a name`);
            break;
          }
          (e.norm === 'parsers' ? into.parsers : into.multilineParsers).push(...v.items);
          break;
        }
      }
    }
  }

  /** A variable of env: or @SET; as in Fluent Bit, file://PATH is the file's content, without a final newline (secrets). */
  private setVar(into: Collected, name: string, value: string, at: At): void {
    if (value.startsWith('file://')) {
      const file = value.slice(7);
      try {
        value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        this.bad(at, `cannot read the variable's file: ${(err as Error).message}`);
        return;
      }
      if (!value) {
        this.bad(at, `the variable's file ${file} is empty`);
        return;
      }
    }
    into.env.set(name, { value, at });
  }

  /** env: a map of NAME: value, or Fluent Bit's list of { name, value }. */
  private env(e: LEntry, into: Collected): void {
    const v = e.value;
    const set = (name: string, value: LNode | undefined, at: At) => {
      if (!value || value.kind !== 'scalar') {
        this.bad(value?.at ?? at, `must be a text value, got ${describeNode(value)}`);
        return;
      }
      this.setVar(into, name, value.value === null ? '' : String(value.value), value.at ?? at);
    };
    if (v.kind === 'scalar' && v.value === null) return;
    if (v.kind === 'map') {
      for (const x of v.entries) set(x.key, x.value, x.keyAt);
      return;
    }
    if (v.kind === 'seq') {
      for (const item of v.items) {
        if (item.kind !== 'map') {
          this.bad(item.at!, 'each item of an env list is a map with name and value');
          continue;
        }
        const name = item.entries.find((x) => x.norm === 'name');
        for (const x of item.entries) {
          if (x.norm !== 'name' && x.norm !== 'value') this.bad(x.keyAt, x.norm === 'uri' || x.norm === 'refresh_interval' ? `${x.key} is not supported by sluice; give the value, or value: file://PATH` : unknownKeyMessage(x.key, ['name', 'value']));
        }
        if (!name || name.value.kind !== 'scalar' || typeof name.value.value !== 'string') {
          this.bad(name?.value.at ?? item.at!, 'an env item needs a name');
          continue;
        }
        set(name.value.value, item.entries.find((x) => x.norm === 'value')?.value ?? { kind: 'scalar', value: null, at: item.at }, item.at!);
      }
      return;
    }
    this.bad(v.at!, 'must be a map of variable names to values');
  }

  /** Keys are case-insensitive: two keys of one map that differ only in case are the same key given twice. */
  dups(map: LMap): void {
    const seen = new Map<string, LEntry>();
    for (const e of map.entries) {
      const first = seen.get(e.norm);
      if (first) this.bad(e.keyAt, `duplicate key: the same as ${JSON.stringify(first.key)} on line ${first.keyAt.src.pos(first.keyAt.offset).line} (keys are case-insensitive)`);
      else seen.set(e.norm, e);
    }
  }
}

// Fluent Bit's classic format (fluent-bit.conf, parsers.conf): [SECTION]
// headers, indented "Key Value" lines, # comments, @INCLUDE and @SET. Read
// into the same located tree as YAML (source.ts), so that an [INPUT]
// section is checked exactly like an item of pipeline.inputs.
import { didYouMean } from '../../sdk/src/config-spec.ts';
import { ConfigIssue, issueAt, normalizeKey, type At, type KeyPath, type LEntry, type LMap, type LNode, type LScalar, type SourceText } from './source.ts';

export type ClassicSection = 'service' | 'input' | 'filter' | 'output' | 'parser' | 'multiline_parser';

export type ClassicItem =
  | { kind: 'section'; section: ClassicSection; node: LMap; headerAt: At }
  | { kind: 'include'; pattern: string; at: At }
  | { kind: 'set'; name: string; value: string; at: At };

const SECTIONS: ClassicSection[] = ['service', 'input', 'filter', 'output', 'parser', 'multiline_parser'];

/** Where each kind of section goes in the YAML shape. */
const SECTION_PATH: { [s in ClassicSection]: KeyPath } = {
  service: ['service'],
  input: ['pipeline', 'inputs'],
  filter: ['pipeline', 'filters'],
  output: ['pipeline', 'outputs'],
  parser: ['parsers'],
  multiline_parser: ['multiline_parsers'],
};

/** The first line that is not blank or a comment starts with [ or @. */
export function looksClassic(text: string): boolean {
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    return t.startsWith('[') || t.startsWith('@');
  }
  return false;
}

/** Stricter: a real [SECTION] header or @INCLUDE/@SET, for telling a YAML file that fails to parse what it is. */
export function firstClassicLine(text: string): number | undefined {
  let offset = 0;
  for (const line of text.split('\n')) {
    const t = line.replace(/\r$/, '');
    if (/^\[\s*[A-Za-z_]+\s*\]\s*$/.test(t) || /^@(include|set)\s/i.test(t)) return offset;
    offset += line.length + 1;
  }
  return undefined;
}

/**
 * A multiline parser's `rule` line: the state, the regex, then optionally the
 * next state; each may be in double quotes (\" inside them is a quote).
 */
export function ruleTokens(s: string): { text: string; start: number }[] {
  const out: { text: string; start: number }[] = [];
  let i = 0;
  while (i < s.length) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (i >= s.length) break;
    if (s[i] === '"') {
      const start = i + 1;
      let j = start;
      while (j < s.length && !(s[j] === '"' && s[j - 1] !== '\\')) j++;
      out.push({ text: s.slice(start, j).replace(/\\"/g, '"'), start });
      i = j + 1;
    } else {
      const start = i;
      while (i < s.length && s[i] !== ' ' && s[i] !== '\t') i++;
      out.push({ text: s.slice(start, i), start });
    }
  }
  return out;
}

interface Open {
  section: ClassicSection;
  node: LMap;
  path: KeyPath;
}

export function readClassic(src: SourceText): { items: ClassicItem[]; issues: ConfigIssue[] } {
  const items: ClassicItem[] = [];
  const issues: ConfigIssue[] = [];
  const counts = new Map<ClassicSection, number>();
  const bad = (offset: number, message: string, path: KeyPath = []) => issues.push(issueAt({ src, offset, path }, message));
  // undefined before the first section; null in a section that is not known (its keys are skipped).
  let open: Open | null | undefined;

  const addRule = (o: Open, keyAt: At, value: string, valueOffset: number) => {
    let rules = o.node.entries.find((e) => e.norm === 'rules');
    if (!rules) {
      rules = { key: 'rules', norm: 'rules', keyAt, value: { kind: 'seq', items: [], at: { ...keyAt, path: [...o.path, 'rules'] } } };
      o.node.entries.push(rules);
    }
    const seq = rules.value as { kind: 'seq'; items: LNode[] };
    const path: KeyPath = [...o.path, 'rules', seq.items.length];
    const tokens = ruleTokens(value);
    if (tokens.length < 2 || tokens.length > 3) {
      bad(valueOffset, 'a rule is a state, a regex and optionally the next state, each in double quotes: rule "start_state" "/^\\d+/" "cont"', [...o.path, keyAt.path.at(-1)!]);
      return;
    }
    const entries: LEntry[] = tokens.map((t, i) => {
      const key = ['state', 'regex', 'next_state'][i]!;
      const at: At = { src, offset: valueOffset + t.start, path: [...path, key] };
      return { key, norm: key, keyAt: at, value: { kind: 'scalar', value: t.text, at } };
    });
    seq.items.push({ kind: 'map', entries, at: { src, offset: valueOffset, path } });
  };

  const addKey = (o: Open, key: string, keyOffset: number, value: string, valueOffset: number) => {
    const norm = normalizeKey(key, 'classic');
    const keyAt: At = { src, offset: keyOffset, path: [...o.path, key] };
    if (o.section === 'multiline_parser' && norm === 'rule') return addRule(o, keyAt, value, valueOffset);
    const existing = o.node.entries.find((e) => e.norm === norm);
    if (!existing) {
      o.node.entries.push({ key, norm, keyAt, value: { kind: 'scalar', value, at: { src, offset: valueOffset, path: [...o.path, key] } } });
      return;
    }
    // A key given again: its values become a list, in order (Fluent Bit's repeated keys: a filter's Rule, Regex, Add ...).
    if (existing.value.kind !== 'seq') {
      const first = existing.value as LScalar;
      first.at = { ...first.at!, path: [...o.path, existing.key, 0] };
      existing.value = { kind: 'seq', items: [first], at: first.at, repeated: true };
    }
    const seq = existing.value as { items: LNode[] };
    seq.items.push({ kind: 'scalar', value, at: { src, offset: valueOffset, path: [...o.path, existing.key, seq.items.length] } });
  };

  const text = src.text;
  // A YAML config named *.conf: one message, not one per line.
  const first = /^(?:[ \t]*(?:#.*)?\r?\n)*([^\n]*)/.exec(text)!;
  if (/^[\w.-]+:(\s|$)/.test(first[1]!)) {
    bad(first.index + first[0].length - first[1]!.length, 'this file is YAML, not Fluent Bit\'s classic format: name it *.yaml or *.yml to read it as YAML');
    return { items, issues };
  }
  let lineStart = 0;
  while (lineStart <= text.length) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = text.length;
    const line = text.slice(lineStart, lineEnd).replace(/\r$/, '');
    const at = lineStart;
    lineStart = lineEnd + 1;
    const content = line.trimStart();
    if (!content || content.startsWith('#')) continue;
    const indent = line.length - content.length;

    if (indent === 0 && line.startsWith('@')) {
      const m = /^@(\S+)\s*(.*?)\s*$/.exec(line)!;
      const cmd = m[1]!.toUpperCase();
      const arg = m[2]!;
      const argOffset = at + line.indexOf(arg, m[1]!.length + 1);
      if (cmd === 'INCLUDE') {
        if (!arg) bad(at, '@INCLUDE needs a file or a glob: @INCLUDE inputs/*.conf');
        else items.push({ kind: 'include', pattern: arg, at: { src, offset: argOffset, path: [] } });
      } else if (cmd === 'SET') {
        const eq = arg.indexOf('=');
        const name = eq < 0 ? '' : arg.slice(0, eq).trim();
        if (eq < 0 || !name) bad(argOffset, '@SET needs a variable and its value: @SET NAME=value');
        else items.push({ kind: 'set', name, value: arg.slice(eq + 1).trim(), at: { src, offset: argOffset + arg.indexOf('=') + 1, path: [] } });
      } else {
        bad(at, `unknown command @${m[1]}; the classic format has @INCLUDE and @SET`);
      }
      continue;
    }

    if (indent === 0 && line.startsWith('[')) {
      const close = line.indexOf(']');
      const name = close < 0 ? '' : line.slice(1, close).trim();
      if (!name) {
        bad(at, 'a section header is a name in brackets: [INPUT]');
        open = null;
        continue;
      }
      // Fluent Bit also takes the plurals [INPUTS], [FILTERS], [OUTPUTS].
      const lower = name.toLowerCase();
      const section = SECTIONS.find((s) => s === lower || (`${s}s` === lower && ['input', 'filter', 'output'].includes(s)));
      if (!section) {
        const known = SECTIONS.map((s) => s.toUpperCase());
        const guess = didYouMean(name, known);
        bad(at + 1, `unknown section [${name}]; ${guess ? `did you mean [${guess}]?` : `sluice knows ${known.map((k) => `[${k}]`).join(', ')}`}`);
        open = null;
        continue;
      }
      const n = counts.get(section) ?? 0;
      counts.set(section, n + 1);
      const path: KeyPath = section === 'service' ? ['service'] : [...SECTION_PATH[section], n];
      const headerAt: At = { src, offset: at, path };
      open = { section, path, node: { kind: 'map', entries: [], at: headerAt } };
      items.push({ kind: 'section', section, node: open.node, headerAt });
      continue;
    }

    if (indent === 0) {
      bad(at, 'expected a [SECTION] header, an indented "Key Value" line, @INCLUDE or @SET');
      continue;
    }
    if (open === undefined) {
      bad(at + indent, 'a "Key Value" line before any [SECTION] header');
      continue;
    }
    if (open === null) continue;
    if (content.startsWith('[')) {
      bad(at + indent, 'groups (a [NAME] inside a section) are not supported');
      continue;
    }
    const m = /^(\S+)(?:[ \t]+(.*?))?[ \t]*$/.exec(content)!;
    const key = m[1]!;
    const value = m[2] ?? '';
    const keyOffset = at + indent;
    if (!value) {
      bad(keyOffset, 'the key has no value: write "Key Value" on one line', [...open.path, key]);
      continue;
    }
    addKey(open, key, keyOffset, value, keyOffset + content.indexOf(value, key.length));
  }
  return { items, issues };
}

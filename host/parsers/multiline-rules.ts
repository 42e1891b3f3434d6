// Rule-based multiline parsers, as Fluent Bit's multiline_parsers of type
// regex and its built-in go, java, python and ruby parsers: each rule has
// the states it applies in (start_state for a first line), a regex, and the
// state it leads to. Used by the multiline filter (host/filters/multiline.ts);
// tail's docker/cri joining is host/parsers/multiline.ts.
//
// How a line is read, per stream (as Fluent Bit does): after a rule R
// matched, the rules of R's next state (not the start ones) are tried; one
// that matches continues the record. Otherwise the start rules are tried: one
// that matches starts a new record (the one pending is complete). A rule
// whose next state holds a start rule completes the record at once. A line no
// rule takes completes what is pending and goes on alone.
import type { KeyError } from '../../sdk/src/config-spec.ts';
import { translateRubyRegex } from './regex.ts';

export interface RuleDef {
  state: string;
  regex: string;
  next_state?: string;
}

export interface Rule {
  /** States the rule applies in. */
  from: string[];
  regex: RegExp;
  to: string;
  /** Applies to a first line (from holds start_state). */
  start: boolean;
  /** The rules that may follow this one (those whose from holds its to), start rules excluded. */
  next: Rule[];
  /** One of the rules of its next state is a start rule: a record ends with this rule. */
  ends: boolean;
}

export class RuleParser {
  readonly name: string;
  readonly rules: Rule[];
  readonly startRules: Rule[];
  /** The parser's key_content, if its definition has one. */
  readonly keyContent: string | undefined;

  /** Throws Error naming the bad rule. */
  constructor(name: string, defs: RuleDef[], keyContent?: string) {
    this.name = name;
    this.keyContent = keyContent;
    this.rules = defs.map((d, i) => {
      let regex: RegExp;
      try {
        const { source, flags } = translateRubyRegex(d.regex);
        regex = new RegExp(source, flags);
      } catch (err) {
        throw new RuleError(i, 'regex', `${JSON.stringify(d.regex)} is not a valid regular expression: ${(err as Error).message}`);
      }
      const from = d.state.split(',').map((s) => s.trim()).filter(Boolean);
      if (!from.length) throw new RuleError(i, 'state', 'names no state');
      const to = (d.next_state ?? '').trim();
      return { from, regex, to, start: from.includes('start_state'), next: [], ends: false };
    });
    this.startRules = this.rules.filter((r) => r.start);
    if (!this.startRules.length) throw new RuleError(0, 'state', 'no rule has state start_state: no line could start a record');
    for (const r of this.rules) {
      const following = this.rules.filter((x) => x.from.includes(r.to));
      r.next = following.filter((x) => !x.start);
      r.ends = following.some((x) => x.start);
    }
  }
}

export class RuleError extends Error {
  readonly rule: number;
  readonly key: string;
  constructor(rule: number, key: string, message: string) {
    super(message);
    this.rule = rule;
    this.key = key;
  }
}

/** What push() did with a line. */
export type LineResult =
  /** Added to the pending record (or started one). */
  | 'joined'
  /** No rule takes it: the pending record (if any) is complete and the line stands alone. */
  | 'alone';

/** A stream's progress through a parser's rules, and the lines of the record being built. */
export class RuleState {
  rule: Rule | undefined;
  lines: string[] = [];
  bytes = 0;

  /**
   * Reads one line. `complete` is called with the lines of a record that is
   * complete, `started` when the line starts a new record (after the
   * complete one is handed over).
   */
  push(p: RuleParser, line: string, complete: (lines: string[]) => void, started: () => void): LineResult {
    let rule: Rule | undefined;
    if (this.rule) {
      for (const r of this.rule.next) {
        r.regex.lastIndex = 0;
        if (r.regex.test(line)) {
          rule = r;
          break;
        }
      }
      if (rule) {
        // A continuation after a record just ended starts the next one (Fluent Bit does the same).
        if (!this.lines.length) started();
        this.add(line);
      }
    }
    if (!rule) {
      for (const r of p.startRules) {
        r.regex.lastIndex = 0;
        if (r.regex.test(line)) {
          rule = r;
          break;
        }
      }
      if (!rule) return 'alone';
      this.take(complete);
      started();
      this.add(line);
    }
    this.rule = rule;
    if (rule.ends) this.take(complete);
    return 'joined';
  }

  /** Hands over the pending lines, if any. */
  take(complete: (lines: string[]) => void): void {
    if (!this.lines.length) return;
    const lines = this.lines;
    this.lines = [];
    this.bytes = 0;
    complete(lines);
  }

  private add(line: string): void {
    this.lines.push(line);
    this.bytes += line.length + 1;
  }
}

/** Lines joined as Fluent Bit joins them: a newline between two, unless the first already ends with one. */
export function joinLines(lines: string[]): string {
  let out = lines[0] ?? '';
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (!out.endsWith('\n')) out += '\n';
    out += l === '' ? '\n' : l;
  }
  return out;
}

/** Fluent Bit's built-in rule parsers, by name. */
export const BUILTIN_RULES: { [name: string]: RuleDef[] } = {
  go: [
    { state: 'start_state', regex: '/\\bpanic: /', next_state: 'go_after_panic' },
    { state: 'start_state', regex: '/http: panic serving/', next_state: 'go_goroutine' },
    { state: 'go_after_panic', regex: '/^$/', next_state: 'go_goroutine' },
    { state: 'go_after_panic, go_after_signal, go_frame_1', regex: '/^$/', next_state: 'go_goroutine' },
    { state: 'go_after_panic', regex: '/^\\[signal /', next_state: 'go_after_signal' },
    { state: 'go_goroutine', regex: '/^goroutine \\d+ \\[[^\\]]+\\]:$/', next_state: 'go_frame_1' },
    { state: 'go_frame_1', regex: '/^(?:[^\\s.:]+\\.)*[^\\s.():]+\\(|^created by /', next_state: 'go_frame_2' },
    { state: 'go_frame_2', regex: '/^\\s/', next_state: 'go_frame_1' },
  ],
  java: [
    { state: 'start_state, java_start_exception', regex: '/(.)(?:Exception|Error|Throwable|V8 errors stack trace)[:\\r\\n]/', next_state: 'java_after_exception' },
    { state: 'java_after_exception', regex: '/^[\\t ]*nested exception is:[\\t ]*/', next_state: 'java_start_exception' },
    { state: 'java_after_exception', regex: '/^[\\r\\n]*$/', next_state: 'java_after_exception' },
    { state: 'java_after_exception, java', regex: '/^[\\t ]+(?:eval )?at /', next_state: 'java' },
    { state: 'java_after_exception, java', regex: '/^[\\t ]+--- End of inner exception stack trace ---$/', next_state: 'java' },
    { state: 'java_after_exception, java', regex: '/^--- End of stack trace from previous location where exception was thrown ---$/', next_state: 'java' },
    { state: 'java_after_exception, java', regex: '/^[\\t ]*(?:Caused by|Suppressed):/', next_state: 'java_after_exception' },
    { state: 'java_after_exception, java', regex: '/^[\\t ]*... \\d+ (?:more|common frames omitted)/', next_state: 'java' },
  ],
  python: [
    { state: 'start_state', regex: '/^Traceback \\(most recent call last\\):$/', next_state: 'python' },
    { state: 'python', regex: '/^[\\t ]+File /', next_state: 'python_code' },
    { state: 'python_code', regex: '/[^\\t ]/', next_state: 'python' },
    { state: 'python', regex: '/^(?:[^\\s.():]+\\.)*[^\\s.():]+:/', next_state: 'start_state' },
  ],
  ruby: [
    { state: 'start_state, ruby_start_exception', regex: '/^.+:\\d+:in\\s+.*/', next_state: 'ruby_after_exception' },
    { state: 'ruby_after_exception, ruby', regex: '/^\\s+from\\s+.*:\\d+:in\\s+.*/', next_state: 'ruby' },
  ],
};

/** The keys of a multiline_parsers definition that sluice reads (the rest are refused). */
const DEF_KEYS = ['name', 'type', 'rules', 'flush_timeout', 'key_content'];

/** A user definition: type regex and its rules. Throws Error for the first problem. */
export function compileRuleParser(def: { name: string; type: string; rules: RuleDef[]; [k: string]: unknown }): RuleParser {
  const errs = checkRuleParserDef(def);
  if (errs.length) throw new Error(`${errs[0]!.key}: ${errs[0]!.message}`);
  return new RuleParser(def.name, def.rules, typeof def.key_content === 'string' ? def.key_content : undefined);
}

/** The checks of a multiline_parsers definition, each error at its key (rules.N.regex ...). */
export function checkRuleParserDef(def: { name: string; type: string; rules: RuleDef[]; [k: string]: unknown }): KeyError[] {
  const errors: KeyError[] = [];
  for (const k of Object.keys(def)) {
    if (!DEF_KEYS.includes(k)) errors.push({ key: k, message: `not supported by sluice yet (a multiline parser takes ${DEF_KEYS.join(', ')})` });
  }
  if (String(def.type).toLowerCase() !== 'regex') errors.push({ key: 'type', message: `${JSON.stringify(def.type)} is not supported by sluice yet; only type regex (with rules)` });
  if (def.flush_timeout !== undefined && !/^\d+$/.test(String(def.flush_timeout))) errors.push({ key: 'flush_timeout', message: `must be a number of milliseconds, got ${JSON.stringify(def.flush_timeout)}` });
  if (errors.length) return errors;
  if (!def.rules.length) return [{ key: 'rules', message: 'required with type regex: rules with state, regex and next_state' }];
  try {
    new RuleParser(def.name, def.rules);
  } catch (err) {
    if (err instanceof RuleError) return [{ key: 'rules', message: err.message.startsWith('no rule') ? err.message : `rule ${err.rule + 1}: ${err.key}: ${err.message}` }];
    throw err;
  }
  return [];
}

export interface RuleParserRegistry {
  get(name: string): RuleParser | undefined;
  names(): string[];
}

/** The built-in rule parsers and the user's (a user one with a built-in name replaces it). */
export class RuleParsers implements RuleParserRegistry {
  private readonly byName = new Map<string, RuleParser>();
  constructor(defs: Iterable<{ name: string; type: string; rules: RuleDef[]; [k: string]: unknown }> = []) {
    for (const [name, rules] of Object.entries(BUILTIN_RULES)) this.byName.set(name, new RuleParser(name, rules));
    for (const d of defs) {
      try {
        this.byName.set(d.name, compileRuleParser(d));
      } catch {
        // Reported by the config loader; not used.
      }
    }
  }
  get(name: string): RuleParser | undefined {
    return this.byName.get(name);
  }
  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}

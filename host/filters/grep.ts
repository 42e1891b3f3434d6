// grep: keeps or drops events by regular expressions on their fields, as
// Fluent Bit's grep filter. `regex KEY RE` keeps an event whose KEY matches;
// `exclude KEY RE` drops it. With logical_op legacy (the default) every regex
// must match and no exclude may; with and/or the rules (all of one kind)
// combine that way. A missing key matches nothing.
import type { Event } from '../../sdk/src/codec/events.ts';
import { FilterConfigError, type Filter, type FilterKind } from './filter.ts';
import { getPath, parseAccessor, rules, splitRule, textOf, type KeyPath } from './record-accessor.ts';

interface Rule {
  path: KeyPath;
  re: RegExp;
}

function compile(key: 'regex' | 'exclude', list: string[]): Rule[] {
  return list.map((r) => {
    const [field, pattern] = splitRule(r);
    if (pattern === undefined) throw new FilterConfigError(key, `${JSON.stringify(r)} needs a key and a regular expression: ${key} log ^ERROR`);
    let path: KeyPath;
    try {
      path = parseAccessor(field);
    } catch (err) {
      throw new FilterConfigError(key, (err as Error).message);
    }
    try {
      return { path, re: new RegExp(pattern) };
    } catch (err) {
      throw new FilterConfigError(key, `${JSON.stringify(pattern)} is not a valid regular expression: ${(err as Error).message}`);
    }
  });
}

const matches = (e: Event, r: Rule): boolean => {
  const t = textOf(getPath(e.body, r.path));
  return t !== undefined && r.re.test(t);
};

export const grep: FilterKind = {
  description: 'Keeps or drops events by regular expressions on their fields',
  spec: {
    regex: { type: 'any', description: 'KEY REGEX: keep events whose KEY matches (repeatable)' },
    exclude: { type: 'any', description: 'KEY REGEX: drop events whose KEY matches (repeatable)' },
    logical_op: { type: 'string', default: 'legacy', oneOf: ['legacy', 'and', 'or', 'AND', 'OR', 'Legacy'], description: 'How several rules combine: legacy (every regex matches, no exclude does), and, or' },
  },
  repeatable: ['regex', 'exclude'],
  create(config): Filter {
    const keep = compile('regex', rules(config.regex));
    const drop = compile('exclude', rules(config.exclude));
    const op = String(config.logical_op).toLowerCase();
    if (op !== 'legacy' && keep.length && drop.length) throw new FilterConfigError('logical_op', `with logical_op ${op}, use regex rules or exclude rules, not both (as Fluent Bit)`);
    if (!keep.length && !drop.length) throw new FilterConfigError('regex', 'no rule: give regex KEY REGEX or exclude KEY REGEX');
    if (op === 'or') {
      return { filter: (e) => (keep.length ? (keep.some((r) => matches(e, r)) ? e : null) : drop.some((r) => matches(e, r)) ? null : e) };
    }
    if (op === 'and') {
      return { filter: (e) => (keep.length ? (keep.every((r) => matches(e, r)) ? e : null) : drop.every((r) => matches(e, r)) ? null : e) };
    }
    return { filter: (e) => (keep.every((r) => matches(e, r)) && !drop.some((r) => matches(e, r)) ? e : null) };
  },
};

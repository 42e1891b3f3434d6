// modify: changes an event's top-level keys with rules, applied in order, when
// all conditions hold, as Fluent Bit's modify filter: set, add, remove,
// remove_wildcard, remove_regex, rename, hard_rename, copy, hard_copy,
// move_to_start, move_to_end; conditions key_exists, key_does_not_exist,
// a_key_matches, no_key_matches, key_value_equals, key_value_does_not_equal,
// key_value_matches, key_value_does_not_match,
// matching_keys_have_matching_values, matching_keys_do_not_have_matching_values.
import type { Record } from '../../sdk/src/codec/events.ts';
import { FilterConfigError, type Filter, type FilterKind } from './filter.ts';
import { getPath, parseAccessor, rules, splitRule, textOf } from './record-accessor.ts';

type Op = (body: Record) => Record;
type Test = (body: Record) => boolean;

const RULES = ['set', 'add', 'remove', 'remove_wildcard', 'remove_regex', 'rename', 'hard_rename', 'copy', 'hard_copy', 'move_to_start', 'move_to_end'] as const;
const CONDITIONS: { [name: string]: 1 | 2 } = {
  key_exists: 1, key_does_not_exist: 1, a_key_matches: 1, no_key_matches: 1,
  key_value_equals: 2, key_value_does_not_equal: 2, key_value_matches: 2, key_value_does_not_match: 2,
  matching_keys_have_matching_values: 2, matching_keys_do_not_have_matching_values: 2,
};

function regex(key: string, pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new FilterConfigError(key, `${JSON.stringify(pattern)} is not a valid regular expression: ${(err as Error).message}`);
  }
}

/** Fluent Bit's wildcard: * for any run of characters. */
const wildcard = (w: string) => new RegExp(`^${w.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);

/** The body with its keys in a new order (JavaScript objects keep insertion order). */
function reorder(body: Record, first: (k: string) => boolean, toStart: boolean): Record {
  const a: [string, unknown][] = [];
  const b: [string, unknown][] = [];
  for (const kv of Object.entries(body)) (first(kv[0]) ? a : b).push(kv);
  return Object.fromEntries(toStart ? [...a, ...b] : [...b, ...a]);
}

function op(name: (typeof RULES)[number], rule: string): Op {
  const [k, v] = splitRule(rule);
  const needs = (n: 1 | 2) => {
    if (n === 2 && v === undefined) throw new FilterConfigError(name, `${JSON.stringify(rule)} needs a key and a value: ${name} ${name.includes('rename') || name.includes('copy') ? 'old new' : 'key value'}`);
  };
  switch (name) {
    case 'set':
      needs(2);
      return (b) => ((b[k] = v), b);
    case 'add':
      needs(2);
      return (b) => (k in b ? b : ((b[k] = v), b));
    case 'remove':
      return (b) => (delete b[k], b);
    case 'remove_wildcard': {
      const re = wildcard(k.endsWith('*') ? k : `${k}*`);
      return (b) => {
        for (const key of Object.keys(b)) if (re.test(key)) delete b[key];
        return b;
      };
    }
    case 'remove_regex': {
      const re = regex(name, rule.trim());
      return (b) => {
        for (const key of Object.keys(b)) if (re.test(key)) delete b[key];
        return b;
      };
    }
    case 'rename':
    case 'hard_rename': {
      needs(2);
      const hard = name === 'hard_rename';
      // Renamed in place: the key keeps its position, as in Fluent Bit.
      return (b) => (!(k in b) || (!hard && v! in b) ? b : Object.fromEntries(Object.entries(b).filter(([x]) => x !== v || x === k).map(([x, y]) => [x === k ? v! : x, y])));
    }
    case 'copy':
    case 'hard_copy': {
      needs(2);
      const hard = name === 'hard_copy';
      return (b) => (!(k in b) || (!hard && v! in b) ? b : ((b[v!] = b[k]), b));
    }
    case 'move_to_start':
    case 'move_to_end': {
      const re = wildcard(k);
      return (b) => reorder(b, (x) => re.test(x), name === 'move_to_start');
    }
  }
}

function condition(rule: string): Test {
  const [name, rest = ''] = splitRule(rule);
  const kind = name.toLowerCase();
  const arity = CONDITIONS[kind];
  if (!arity) throw new FilterConfigError('condition', `unknown condition ${JSON.stringify(name)}; known: ${Object.keys(CONDITIONS).join(', ')}`);
  const [a, b] = splitRule(rest);
  if (!a || (arity === 2 && b === undefined)) throw new FilterConfigError('condition', `${JSON.stringify(rule)}: ${kind} needs ${arity === 2 ? 'two arguments' : 'an argument'}`);
  const path = () => {
    try {
      return parseAccessor(a);
    } catch (err) {
      throw new FilterConfigError('condition', (err as Error).message);
    }
  };
  switch (kind) {
    case 'key_exists': {
      const p = path();
      return (body) => getPath(body, p) !== undefined;
    }
    case 'key_does_not_exist': {
      const p = path();
      return (body) => getPath(body, p) === undefined;
    }
    case 'a_key_matches': {
      const re = regex('condition', a);
      return (body) => Object.keys(body).some((k) => re.test(k));
    }
    case 'no_key_matches': {
      const re = regex('condition', a);
      return (body) => !Object.keys(body).some((k) => re.test(k));
    }
    case 'key_value_equals': {
      const p = path();
      return (body) => textOf(getPath(body, p)) === b;
    }
    case 'key_value_does_not_equal': {
      const p = path();
      return (body) => textOf(getPath(body, p)) !== b;
    }
    case 'key_value_matches':
    case 'key_value_does_not_match': {
      const p = path();
      const re = regex('condition', b!);
      const want = kind === 'key_value_matches';
      return (body) => {
        const t = textOf(getPath(body, p));
        return t !== undefined && re.test(t) === want;
      };
    }
    default: {
      // matching_keys_(do_not_)have_matching_values: over every key matching a, its value against b.
      const keys = regex('condition', a);
      const values = regex('condition', b!);
      const want = kind === 'matching_keys_have_matching_values';
      return (body) => {
        const hits = Object.entries(body).filter(([k]) => keys.test(k));
        return hits.length > 0 && hits.every(([, v]) => values.test(textOf(v) ?? '') === want);
      };
    }
  }
}

export const modify: FilterKind = {
  description: 'Sets, adds, removes, renames, copies and moves keys, when conditions hold',
  spec: {
    ...Object.fromEntries(RULES.map((r) => [r, { type: 'any' as const, description: `${r.replace(/_/g, ' ')} rules (repeatable)` }])),
    condition: { type: 'any', description: 'Conditions that must all hold for the rules to apply (repeatable)' },
  },
  repeatable: [...RULES, 'condition'],
  create(config): Filter {
    const ops: Op[] = [];
    // In the order the keys were given: the loader keeps it.
    for (const [key, value] of Object.entries(config)) {
      if ((RULES as readonly string[]).includes(key)) for (const r of rules(value)) ops.push(op(key as (typeof RULES)[number], r));
    }
    const tests = rules(config.condition).map(condition);
    if (!ops.length) throw new FilterConfigError('set', `no rule: give at least one of ${RULES.join(', ')}`);
    return {
      filter(e) {
        if (!tests.every((t) => t(e.body))) return e;
        let body = e.body;
        for (const o of ops) body = o(body);
        e.body = body;
        return e;
      },
    };
  },
};

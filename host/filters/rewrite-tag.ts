// rewrite_tag: re-emits a record under a new tag when one of its fields
// matches a regular expression, as Fluent Bit's rewrite_tag filter. Rules
// `KEY REGEX NEW_TAG KEEP` are tried in order; the first whose KEY's text
// matches wins. The record re-enters the pipeline under NEW_TAG, as its
// emitter's (emitter_name) events: routing and the filters of the new tag
// apply again, except this one. KEEP false removes it from its old tag.
import type { Event, Record } from '../../sdk/src/codec/events.ts';
import { parseBool } from '../../sdk/src/config-spec.ts';
import { translateRubyRegex } from '../parsers/regex.ts';
import { FilterConfigError, type Filter, type FilterKind } from './filter.ts';
import { getPath, parseAccessor, rules, type KeyPath } from './record-accessor.ts';

/** Fluent Bit's emitter_mem_buf_limit default. */
export const EMITTER_MEM_BUF_LIMIT_DEFAULT = 10 * 1024 * 1024;

/**
 * Splits a rule as Fluent Bit does: on spaces, a token may be in double
 * quotes (with \" inside) to hold spaces.
 */
export function splitTokens(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (s[i] === ' ') i++;
    if (i >= s.length) break;
    if (s[i] === '"') {
      let j = i + 1;
      let tok = '';
      while (j < s.length && s[j] !== '"') {
        if (s[j] === '\\' && s[j + 1] === '"') {
          tok += '"';
          j += 2;
        } else tok += s[j++];
      }
      if (j >= s.length) throw new Error(`unterminated quote in ${JSON.stringify(s)}`);
      out.push(tok);
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < s.length && s[j] !== ' ') j++;
    out.push(s.slice(i, j));
    i = j;
  }
  return out;
}

type Part =
  | { kind: 'text'; text: string }
  | { kind: 'capture'; id: number }
  | { kind: 'tag' }
  | { kind: 'tagPart'; id: number }
  | { kind: 'field'; path: KeyPath };

/** A value as Fluent Bit's record accessor writes it into a tag. */
function valueText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(6);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (typeof v === 'object' && !Array.isArray(v)) return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x));
  return '';
}

/**
 * Compiles NEW_TAG: `$0`..`$9` (the regex's whole match and groups), `$TAG`,
 * `$TAG[n]` (the n-th dot-separated part of the tag, from 0), `$key` or
 * `$key['sub']` (a field's value; a `.`, space, `,` or `"` ends it), and
 * text. (`${VAR}` is an environment variable, replaced when the config loads.)
 */
export function compileTemplate(t: string): (tag: string, body: Record, m: RegExpExecArray) => string {
  const parts: Part[] = [];
  let text = '';
  const flush = () => {
    if (text) parts.push({ kind: 'text', text });
    text = '';
  };
  for (let i = 0; i < t.length; i++) {
    if (t[i] !== '$' || i + 1 >= t.length) {
      text += t[i];
      continue;
    }
    const n = i + 1;
    if (t[n]! >= '0' && t[n]! <= '9') {
      flush();
      parts.push({ kind: 'capture', id: Number(t[n]) });
      i = n;
      continue;
    }
    if (t.startsWith('TAG', n)) {
      flush();
      const close = t[n + 3] === '[' ? t.indexOf(']', n + 4) : -1;
      if (close > 0 && /^\d+$/.test(t.slice(n + 4, close))) {
        parts.push({ kind: 'tagPart', id: Number(t.slice(n + 4, close)) });
        i = close;
      } else {
        parts.push({ kind: 'tag' });
        i = n + 2;
      }
      continue;
    }
    // A field: up to a '.', ' ', ',' or '"' outside quotes.
    let end = n;
    let quotes = 0;
    for (; end < t.length; end++) {
      const c = t[end];
      if (c === "'") quotes++;
      else if ((c === '.' || c === ' ' || c === ',' || c === '"') && quotes % 2 === 0) break;
    }
    flush();
    parts.push({ kind: 'field', path: parseAccessor(t.slice(i, end)) });
    i = end - 1;
  }
  flush();
  return (tag, body, m) => {
    let out = '';
    for (const p of parts) {
      switch (p.kind) {
        case 'text':
          out += p.text;
          break;
        case 'capture':
          out += m[p.id] ?? '';
          break;
        case 'tag':
          out += tag;
          break;
        case 'tagPart':
          out += tag.split('.')[p.id] ?? '';
          break;
        case 'field': {
          const v = getPath(body, p.path);
          if (v !== undefined) out += valueText(v);
          break;
        }
      }
    }
    return out;
  };
}

interface Rule {
  path: KeyPath;
  re: RegExp;
  tag: (tag: string, body: Record, m: RegExpExecArray) => string;
  keep: boolean;
}

function compileRule(rule: string): Rule {
  let parts: string[];
  try {
    parts = splitTokens(rule);
  } catch (err) {
    throw new FilterConfigError('rule', (err as Error).message);
  }
  if (parts.length !== 4) throw new FilterConfigError('rule', `${JSON.stringify(rule)} has ${parts.length} part${parts.length === 1 ? '' : 's'}; a rule is KEY REGEX NEW_TAG KEEP, e.g. $level ^(error)$ alerts.$TAG false (quote a part that holds spaces)`);
  const [key, pattern, tag, keep] = parts as [string, string, string, string];
  let path: KeyPath;
  try {
    path = parseAccessor(key);
  } catch (err) {
    throw new FilterConfigError('rule', (err as Error).message);
  }
  let re: RegExp;
  try {
    const { source, flags } = translateRubyRegex(pattern);
    re = new RegExp(source, flags);
  } catch (err) {
    throw new FilterConfigError('rule', `${JSON.stringify(pattern)} is not a valid regular expression: ${(err as Error).message}`);
  }
  let template;
  try {
    template = compileTemplate(tag);
  } catch (err) {
    throw new FilterConfigError('rule', `new tag ${JSON.stringify(tag)}: ${(err as Error).message}`);
  }
  const k = parseBool(keep);
  if (k === undefined) throw new FilterConfigError('rule', `KEEP must be true or false, got ${JSON.stringify(keep)}`);
  return { path, re, tag: template, keep: k };
}

export const rewriteTag: FilterKind = {
  description: 'Re-emits records under a new tag when a field matches a regular expression',
  spec: {
    rule: { type: 'string', description: 'KEY REGEX NEW_TAG KEEP (repeatable; tried in order, the first that matches wins)' },
    emitter_name: { type: 'string', description: 'Name of the emitter: the input name the re-emitted records are stored and counted under (default emitter_for_<filter instance>)' },
    'emitter_storage.type': { type: 'string', default: 'memory', oneOf: ['memory', 'filesystem'], description: 'memory, or filesystem (chunk files under storage.path/<emitter_name>)' },
    emitter_mem_buf_limit: { type: 'size', default: EMITTER_MEM_BUF_LIMIT_DEFAULT, description: 'Bytes the emitter\'s chunks may hold in memory; over it, the inputs whose records it re-emits are paused (0 for no limit)' },
  },
  repeatable: ['rule'],
  emitter(config, instance) {
    return {
      name: config.emitter_name ?? `emitter_for_${instance}`,
      storage: config['emitter_storage.type'] ?? 'memory',
      memBufLimit: config.emitter_mem_buf_limit ?? EMITTER_MEM_BUF_LIMIT_DEFAULT,
      reentry: 'others',
    };
  },
  create(config, ctx): Filter {
    const list = rules(config.rule).map(compileRule);
    if (!list.length) throw new FilterConfigError('rule', 'required: at least one rule KEY REGEX NEW_TAG KEEP');
    let warned = false;
    return {
      filter(e: Event, tag: string) {
        for (const r of list) {
          const v = getPath(e.body, r.path);
          // Only text is matched, as in Fluent Bit.
          if (typeof v !== 'string') continue;
          r.re.lastIndex = 0;
          const m = r.re.exec(v);
          if (!m) continue;
          const to = r.tag(tag, e.body, m);
          if (!to) {
            if (!warned) {
              warned = true;
              ctx.log?.warn({ tag }, 'rewrite_tag: a rule matched but made an empty tag; such records keep their tag (logged once)');
            }
            return e;
          }
          return { event: r.keep ? e : null, emit: [{ tag: to, event: e }] };
        }
        return e;
      },
    };
  },
};

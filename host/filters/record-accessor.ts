// Fluent Bit's record accessor, for the keys filters name: `log` (a top-level
// key), `$log`, `$kubernetes['labels']['app']`, `$kubernetes.labels.app`, or
// `$list[0]` (an index into a list).
import type { Record } from '../../sdk/src/codec/events.ts';

export type KeyPath = readonly (string | number)[];

/** The path a key names; throws with what is wrong for a malformed accessor. */
export function parseAccessor(key: string): KeyPath {
  if (!key.startsWith('$')) return [key];
  const path: (string | number)[] = [];
  const re = /^\$?([^$.\['"]+)|\['([^']*)'\]|\["([^"]*)"\]|\.([^.\['"]+)|\[(\d+)\]/y;
  let at = 0;
  while (at < key.length) {
    re.lastIndex = at;
    const m = re.exec(key);
    if (!m || (at > 0 && m[1] !== undefined) || (at === 0 && m[5] !== undefined)) throw new Error(`${JSON.stringify(key)} is not a record accessor at offset ${at} (write $key, $key['sub'], $key.sub or $key[0])`);
    path.push(m[5] !== undefined ? Number(m[5]) : (m[1] ?? m[2] ?? m[3] ?? m[4]!));
    at = re.lastIndex;
  }
  if (path.length === 0) throw new Error(`${JSON.stringify(key)} names no key`);
  return path;
}

export function getPath(body: Record, path: KeyPath): unknown {
  let v: unknown = body;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    if (Array.isArray(v) !== (typeof p === 'number')) return undefined;
    if (v instanceof Uint8Array) return undefined;
    if (!Object.hasOwn(v, p)) return undefined;
    v = (v as Record)[p];
  }
  return v;
}

/** A value as the text a regex is matched against: strings as they are, numbers and booleans as text, maps and lists as JSON. */
export function textOf(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (typeof v === 'object') return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
  return String(v);
}

/** "KEY VALUE" rules: the key, then the rest of the line (values may hold spaces). */
export function splitRule(rule: string): [string, string] | [string] {
  const s = rule.trim();
  const sp = s.search(/\s/);
  return sp < 0 ? [s] : [s.slice(0, sp), s.slice(sp).trim()];
}

/** A repeatable key's value (a string, or a list of them from YAML or repeated classic lines) as a list. */
export function rules(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

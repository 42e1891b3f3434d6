// Declared config keys with types and defaults, checked the same way for
// the host's own components and for plugins (Describe/Configure).

export type KeyType = 'string' | 'int' | 'float' | 'bool' | 'duration' | 'size' | 'list' | 'map' | 'any';

export interface KeySpec {
  type: KeyType;
  description: string;
  default?: unknown;
  required?: boolean;
  secret?: boolean;
  /** Allowed values for a string key. */
  oneOf?: readonly string[];
  /** Inclusive lower bound for numbers, durations and sizes. */
  min?: number;
}

export type ConfigSpec = { readonly [key: string]: KeySpec };

export interface KeyError {
  key: string;
  message: string;
}

const TRUE = new Set(['true', 'on', 'yes', '1']);
const FALSE = new Set(['false', 'off', 'no', '0']);

/** Fluent Bit spells booleans true/false/on/off/yes/no; YAML 1.2 reads `on` as a string. */
export function parseBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  return undefined;
}

const DURATION_UNITS: { [u: string]: number } = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds, from a number of seconds or "250ms", "5s", "2m", "1h", "7d". */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(String(v));
  if (!m) return undefined;
  return Number(m[1]) * DURATION_UNITS[(m[2] ?? 's').toLowerCase()]!;
}

const SIZE_UNITS: { [u: string]: number } = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Bytes, from a number or "512K", "2M", "2MB", "2MiB", "1G" (powers of 1024, as Fluent Bit). */
export function parseSize(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$/i.exec(String(v));
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

function coerce(spec: KeySpec, v: unknown): { value?: unknown; error?: string } {
  switch (spec.type) {
    case 'any':
      return { value: v };
    case 'string':
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
        const s = String(v);
        if (spec.oneOf && !spec.oneOf.includes(s)) return { error: `must be one of ${spec.oneOf.join(', ')}, got ${JSON.stringify(s)}` };
        return { value: s };
      }
      return { error: `must be a string, got ${describe(v)}` };
    case 'bool': {
      const b = parseBool(v);
      return b === undefined ? { error: `must be a boolean (true/false/on/off), got ${JSON.stringify(v)}` } : { value: b };
    }
    case 'int':
    case 'float': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
        return { error: `must be ${spec.type === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}` };
      }
      return bounded(spec, n);
    }
    case 'duration': {
      const d = parseDuration(v);
      return d === undefined ? { error: `must be a duration in seconds or like "500ms", "5s", "2m", got ${JSON.stringify(v)}` } : bounded(spec, d);
    }
    case 'size': {
      const s = parseSize(v);
      return s === undefined ? { error: `must be a size in bytes or like "512K", "2M", "1G", got ${JSON.stringify(v)}` } : bounded(spec, s);
    }
    case 'list':
      if (Array.isArray(v)) return { value: v.map(String) };
      if (typeof v === 'string') return { value: v.split(/[,\s]+/).filter(Boolean) };
      return { error: `must be a list, got ${describe(v)}` };
    case 'map':
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) return { value: v };
      return { error: `must be a map, got ${describe(v)}` };
  }
}

function bounded(spec: KeySpec, n: number): { value?: unknown; error?: string } {
  if (spec.min !== undefined && n < spec.min) return { error: `must be at least ${spec.min}, got ${n}` };
  return { value: n };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = prev[j]!;
      prev[j] = next;
    }
  }
  return prev[b.length]!;
}

/** The closest known name, if it is close enough to be a typo. */
export function didYouMean(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

export function unknownKeyMessage(key: string, known: Iterable<string>): string {
  const names = [...known].sort();
  if (!names.length) return 'unknown key; this takes no keys';
  const guess = didYouMean(key, names);
  return guess ? `unknown key; did you mean "${guess}"?` : `unknown key; known keys: ${names.join(', ')}`;
}

/**
 * Checks raw values against a spec: coerces types, fills defaults, reports
 * missing required keys and unknown keys (with a "did you mean").
 */
export function applySpec(spec: ConfigSpec, raw: { [k: string]: unknown }): { values: { [k: string]: any }; errors: KeyError[] } {
  const values: { [k: string]: any } = {};
  const errors: KeyError[] = [];
  for (const [key, v] of Object.entries(raw)) {
    const ks = spec[key];
    if (!ks) {
      errors.push({ key, message: unknownKeyMessage(key, Object.keys(spec)) });
      continue;
    }
    if (v === null || v === undefined) continue;
    const r = coerce(ks, v);
    if (r.error) errors.push({ key, message: r.error });
    else values[key] = r.value;
  }
  for (const [key, ks] of Object.entries(spec)) {
    if (key in values || errors.some((e) => e.key === key)) continue;
    if (ks.default !== undefined) values[key] = coerce(ks, ks.default).value ?? ks.default;
    else if (ks.required) errors.push({ key, message: 'required key is missing' });
  }
  return { values, errors };
}

/** A default rendered for Describe and the docs. */
export function renderDefault(v: unknown): string {
  if (v === undefined) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

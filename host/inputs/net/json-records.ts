// JSON text to records for the network inputs: JSON.parse for speed, and the
// byte scanner only when it fails, to say where (a byte offset the sender
// can find in what it sent).
import { scanValue, skipSpace } from './json-scan.ts';

export type Record = { [key: string]: unknown };

/** A problem at a byte offset of the buffer given (absolute, not relative to start). */
export interface JsonProblem {
  at: number;
  error: string;
}

/** A plain object: not null, an array, bytes (MessagePack bin) or an extension value. */
export function isRecord(v: unknown): v is Record {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Where and why JSON.parse refused buf[start, end), as one JSON text. */
function locate(buf: Buffer, start: number, end: number, err: unknown): JsonProblem {
  const r = scanValue(buf, start, end);
  if (!r.ok) return { at: r.at, error: r.error };
  const rest = skipSpace(buf, r.end, end);
  if (rest < end) return { at: rest, error: 'unexpected content after the JSON value' };
  // The scanner accepted what JSON.parse refused: should not happen; keep JSON.parse's word.
  return { at: start, error: (err as Error).message };
}

/** Parses buf[start, end) as one JSON text. */
export function parseJson(buf: Buffer, start = 0, end = buf.length): { ok: true; value: unknown } | ({ ok: false } & JsonProblem) {
  try {
    return { ok: true, value: JSON.parse(buf.toString('utf8', start, end)) };
  } catch (err) {
    return { ok: false, ...locate(buf, start, end, err) };
  }
}

/**
 * Parses buf[start, end) as zero or more JSON values one after the other
 * (`{"a":1}{"b":2}`, or separated by whitespace). Stops at the first error:
 * the values before it are returned with it.
 */
export function parseJsonValues(buf: Buffer, start: number, end: number): { values: unknown[]; problem?: JsonProblem } {
  let i = skipSpace(buf, start, end);
  if (i >= end) return { values: [] };
  // The common case, one value: no scan at all.
  const one = parseJson(buf, i, end);
  if (one.ok) return { values: [one.value] };
  const values: unknown[] = [];
  while (i < end) {
    const r = scanValue(buf, i, end);
    if (!r.ok) return { values, problem: { at: r.at, error: r.error } };
    const v = parseJson(buf, i, r.end);
    if (!v.ok) return { values, problem: { at: v.at, error: v.error } };
    values.push(v.value);
    i = skipSpace(buf, r.end, end);
  }
  return { values };
}

/** A JSON value as records: an object is one, an array of objects is each; anything else is described. */
export function toRecords(v: unknown): { records: Record[] } | { error: string } {
  if (isRecord(v)) return { records: [v] };
  if (!Array.isArray(v)) return { error: `expected an object (a map) or an array of objects, got ${kind(v)}` };
  for (let i = 0; i < v.length; i++) {
    if (!isRecord(v[i])) return { error: `element ${i} of the array is ${kind(v[i])}, not an object (a map)` };
  }
  return { records: v as Record[] };
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'binary data';
  return typeof v === 'object' ? `a ${v.constructor?.name ?? 'value'}` : `a ${typeof v}`;
}

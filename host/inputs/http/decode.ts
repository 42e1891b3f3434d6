// A request body to records, by Content-Type: JSON (an object or an array of
// objects), NDJSON (one object per line), MessagePack (maps, or arrays of
// maps) or a form. A body is taken whole or refused whole: an error anywhere
// stores nothing, so a client can fix and resend it without duplicates.
import { Unpackr } from 'msgpackr';
import { isRecord, parseJson, toRecords, type Record } from '../net/json-records.ts';
import { scanValue, skipSpace } from '../net/json-scan.ts';

export type BodyFormat = 'json' | 'ndjson' | 'msgpack' | 'form';

export type Decoded =
  | { ok: true; records: Record[] }
  | { ok: false; error: string; offset?: number; line?: number };

const MEDIA_TYPES: { [type: string]: BodyFormat } = {
  'application/json': 'json',
  'text/json': 'json',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/jsonl': 'ndjson',
  'application/x-jsonlines': 'ndjson',
  'application/msgpack': 'msgpack',
  'application/x-msgpack': 'msgpack',
  'application/vnd.msgpack': 'msgpack',
  'application/x-www-form-urlencoded': 'form',
};

export const SUPPORTED_TYPES = Object.keys(MEDIA_TYPES);

/** The body format a Content-Type names; no Content-Type is JSON (NDJSON detected); undefined: unsupported. */
export function formatOf(contentType: string | undefined): BodyFormat | undefined {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (media === '') return 'json';
  return MEDIA_TYPES[media];
}

export function decode(format: BodyFormat, body: Buffer): Decoded {
  if (skipSpace(body, 0, body.length) === body.length) return { ok: false, error: 'the body is empty' };
  switch (format) {
    case 'json':
      return decodeJson(body);
    case 'ndjson':
      return decodeNdjson(body);
    case 'msgpack':
      return decodeMsgpack(body);
    case 'form':
      // curl -d sends this type by default: a body that can only be JSON is taken as JSON.
      return looksLikeJson(body) ? decodeJson(body) : decodeForm(body);
  }
}

/** 1-based line of a byte offset. */
function lineAt(body: Buffer, offset: number): number {
  let line = 1;
  for (let i = body.indexOf(10); i !== -1 && i < offset; i = body.indexOf(10, i + 1)) line++;
  return line;
}

function jsonError(body: Buffer, at: number, error: string): Decoded {
  const line = lineAt(body, at);
  return { ok: false, error: `invalid JSON at byte offset ${at} (line ${line}): ${error}`, offset: at, line };
}

function decodeJson(body: Buffer): Decoded {
  const r = parseJson(body);
  if (r.ok) {
    const recs = toRecords(r.value);
    return 'records' in recs ? { ok: true, records: recs.records } : { ok: false, error: `the JSON body: ${recs.error}` };
  }
  // One value followed, after a newline, by more: NDJSON sent as JSON.
  const first = scanValue(body, 0);
  if (first.ok && body.subarray(first.end, skipSpace(body, first.end, body.length)).includes(10)) return decodeNdjson(body);
  return jsonError(body, r.at, r.error);
}

function decodeNdjson(body: Buffer): Decoded {
  const records: Record[] = [];
  let line = 0;
  for (let start = 0; start < body.length; ) {
    let nl = body.indexOf(10, start);
    if (nl === -1) nl = body.length;
    line++;
    const first = skipSpace(body, start, nl);
    if (first < nl) {
      const r = parseJson(body, start, nl);
      if (!r.ok) return { ok: false, error: `invalid JSON at byte offset ${r.at} (line ${line}): ${r.error}`, offset: r.at, line };
      if (!isRecord(r.value)) return { ok: false, error: `line ${line} (byte offset ${first}) is not a JSON object`, offset: first, line };
      records.push(r.value);
    }
    start = nl + 1;
  }
  return { ok: true, records };
}

// Decoded as the SDK decodes chunks: maps as objects, 64-bit integers as numbers.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

function decodeMsgpack(body: Buffer): Decoded {
  const records: Record[] = [];
  let problem: { error: string; offset: number } | undefined;
  try {
    unpackr.unpackMultiple(body, (value: unknown, start?: number) => {
      const recs = toRecords(value);
      if ('error' in recs) {
        problem = { error: recs.error, offset: start ?? 0 };
        return false;
      }
      for (const r of recs.records) records.push(r);
      return undefined;
    });
  } catch (err) {
    const offset = (err as { lastPosition?: number }).lastPosition ?? 0;
    return { ok: false, error: `invalid MessagePack in the value at byte offset ${offset}: ${(err as Error).message}`, offset };
  }
  if (problem) return { ok: false, error: `the MessagePack value at byte offset ${problem.offset}: ${problem.error}`, offset: problem.offset };
  return { ok: true, records };
}

function looksLikeJson(body: Buffer): boolean {
  const c = body[skipSpace(body, 0, body.length)];
  return c === 0x7b || c === 0x5b;
}

function decodeForm(body: Buffer): Decoded {
  const record: Record = {};
  for (const [k, v] of new URLSearchParams(body.toString('utf8'))) record[k] = v;
  return { ok: true, records: [record] };
}

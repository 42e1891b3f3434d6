// parser: parses the text of one field with named parsers (tried in order,
// the first that matches wins), as Fluent Bit's parser filter. The parsed
// fields become the record (and the parsed time its time); reserve_data
// keeps the record's other fields after them, preserve_key the parsed field.
// A record whose field no parser matches (or that has no such text field)
// goes on unchanged; the misses are counted.
import type { Event, Record } from '../../sdk/src/codec/events.ts';
import type { Parsed, Parser } from '../parsers/parser.ts';
import { setField } from '../parsers/format.ts';
import { FilterConfigError, type Filter, type FilterKind } from './filter.ts';
import { getPath, parseAccessor, rules, type KeyPath } from './record-accessor.ts';

/** JSON-style escapes (\n \t \" \\ \/ \b \f \r \uXXXX) read as the characters they stand for; anything else stays. */
export function unescape(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))/g, (_m, hex: string | undefined, c: string | undefined) => {
    if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
    return ({ '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' } as { [k: string]: string })[c!]!;
  });
}

function textAt(body: Record, path: KeyPath): string | undefined {
  const v = path.length === 1 ? (Object.hasOwn(body, path[0]!) ? body[path[0] as string] : undefined) : getPath(body, path);
  if (typeof v === 'string') return v;
  // Fluent Bit parses binary values too.
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  return undefined;
}

export const parser: FilterKind = {
  description: 'Parses a field\'s text with named parsers into the record',
  spec: {
    key_name: { type: 'string', required: true, description: 'The field to parse: a top-level key, or a record accessor ($log, $kubernetes[\'log\'])' },
    parser: { type: 'string', description: 'A parser\'s name (stock, parsers: or parsers_file); repeatable: tried in order, the first that matches wins' },
    reserve_data: { type: 'bool', default: false, description: 'Keep the record\'s other fields, after the parsed ones' },
    preserve_key: { type: 'bool', default: false, description: 'Keep the parsed field itself' },
    unescape_key: { type: 'bool', default: false, description: 'Read JSON-style escapes (\\n, \\", \\\\, \\uXXXX) in the field\'s text before parsing (deprecated in Fluent Bit, where it does nothing)' },
  },
  repeatable: ['parser'],
  parserKeys: ['parser'],
  create(config, ctx): Filter {
    const key = String(config.key_name);
    let path: KeyPath;
    try {
      path = parseAccessor(key);
    } catch (err) {
      throw new FilterConfigError('key_name', (err as Error).message);
    }
    const nested = key.startsWith('$');
    const names = rules(config.parser);
    if (!names.length) throw new FilterConfigError('parser', 'required: the name of at least one parser');
    // At load the names are checked by the loader (ctx.parsers is not there yet).
    const parsers: Parser[] = [];
    if (ctx.parsers) {
      for (const n of names) {
        const p = ctx.parsers.get(n);
        if (!p) throw new FilterConfigError('parser', `unknown parser ${JSON.stringify(n)}`);
        parsers.push(p);
      }
    }
    const reserve = config.reserve_data === true;
    const preserve = config.preserve_key === true;
    const unesc = config.unescape_key === true;
    const labels = { name: ctx.name };
    const top = path[0] as string;
    return {
      filter(e: Event) {
        let text = textAt(e.body, path);
        if (text === undefined) return e;
        if (unesc) text = unescape(text);
        let r: Parsed | undefined;
        for (let i = 0; i < parsers.length && !r; i++) r = parsers[i]!.parse(text);
        if (!r) {
          ctx.metrics.parserUnmatched.inc(labels);
          return e;
        }
        if (r.timeError !== undefined) ctx.metrics.parserTimeErrors.inc(labels);
        if (r.time) e.time = r.time;
        const out = r.body;
        if (reserve || preserve) {
          // After the parsed fields, in their order; a parsed field wins over an original of the same name.
          for (const k of Object.keys(e.body)) {
            if (Object.hasOwn(out, k)) continue;
            // A nested key's field stays in its parent, kept (or not) with the other fields.
            if (!nested && k === top ? preserve : reserve) setField(out, k, e.body[k]);
          }
        }
        e.body = out;
        return e;
      },
    };
  },
};

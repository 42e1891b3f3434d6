// Fluent Bit's field decoders, run on a parser's result: decode_field DECODER
// FIELD merges what a field decodes to into the record (json only);
// decode_field_as DECODER FIELD replaces the field with its decoded value
// (json, escaped, escaped_utf8, mysql_quoted). A field that does not decode is
// left as it is.
import { ParserDefError, type Parsed, type Parser } from './parser.ts';

type Decode = (body: { [k: string]: unknown }) => void;

const DECODERS = ['json', 'escaped', 'escaped_utf8', 'mysql_quoted'] as const;

const ESCAPES: { [c: string]: string } = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', a: '\x07', '\\': '\\', '"': '"', "'": "'", '/': '/' };

function unescape(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (m, c: string) => (c.length === 5 ? String.fromCharCode(parseInt(c.slice(1), 16)) : ESCAPES[c] ?? m));
}

function json(s: string): unknown {
  const t = s.trimStart();
  if (t[0] !== '{' && t[0] !== '[') return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function decoder(key: 'decode_field' | 'decode_field_as', rule: string): Decode {
  const [name = '', field] = rule.trim().split(/\s+/, 2);
  const d = name.toLowerCase();
  if (!field || !(DECODERS as readonly string[]).includes(d)) throw new ParserDefError(key, `${JSON.stringify(rule)} must be DECODER FIELD, DECODER one of ${DECODERS.join(', ')}`);
  if (key === 'decode_field') {
    if (d !== 'json') throw new ParserDefError(key, `decode_field takes json only (${JSON.stringify(d)} is for decode_field_as)`);
    return (body) => {
      const v = body[field];
      const parsed = typeof v === 'string' ? json(v) : undefined;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) Object.assign(body, parsed);
    };
  }
  return (body) => {
    const v = body[field];
    if (typeof v !== 'string') return;
    if (d === 'json') {
      const parsed = json(v);
      if (parsed !== undefined) body[field] = parsed;
    } else if (d === 'mysql_quoted') {
      if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0]) body[field] = unescape(v.slice(1, -1));
    } else body[field] = unescape(v);
  };
}

/** The parser with its decoders applied to every result; the parser itself when there are none. */
export function withDecoders(parser: Parser, decodeField: string[], decodeFieldAs: string[]): Parser {
  const steps = [...decodeField.map((r) => decoder('decode_field', r)), ...decodeFieldAs.map((r) => decoder('decode_field_as', r))];
  if (!steps.length) return parser;
  return {
    name: parser.name,
    parse(text: string): Parsed | undefined {
      const r = parser.parse(text);
      if (r) for (const step of steps) step(r.body);
      return r;
    },
  };
}

// format logfmt: key=value key2="quoted value" flag. Read as Fluent Bit
// reads it: a key is a run of characters above space other than = and ";
// text between pairs is skipped; a bare key (or key= with nothing after it)
// is true; "key=" followed by a quoted value may hold \" \\ \n \t \uXXXX
// escapes; the line ends at the first newline.
import type { Record } from '../../sdk/src/codec/events.ts';
import { FieldParser, type FormatOptions } from './format.ts';
import type { Parsed } from './parser.ts';

export interface LogfmtOptions extends FormatOptions {
  /** logfmt_no_bare_keys: a line with a key without =value is not logfmt. */
  noBareKeys: boolean;
}

function isKeyChar(c: number): boolean {
  return c > 32 && c !== 61 /* = */ && c !== 34 /* " */;
}

export class LogfmtParser extends FieldParser {
  private readonly noBareKeys: boolean;

  constructor(opts: LogfmtOptions) {
    super(opts);
    this.noBareKeys = opts.noBareKeys;
  }

  parse(text: string): Parsed | undefined {
    this.begin();
    const body: Record = {};
    const len = text.length;
    let fields = 0;
    let i = 0;
    while (i < len) {
      let c = text.charCodeAt(i);
      if (c === 10) break;
      if (!isKeyChar(c)) {
        i++;
        continue;
      }
      const keyStart = i;
      do c = text.charCodeAt(++i);
      while (i < len && isKeyChar(c));
      const key = text.slice(keyStart, i);
      if (i >= len || c !== 61 /* = */) {
        if (this.noBareKeys) return undefined;
        this.flag(body, key, true);
        fields++;
        continue;
      }
      i++;
      if (text.charCodeAt(i) === 34 /* " */) {
        const start = ++i;
        let escaped = false;
        while (i < len) {
          c = text.charCodeAt(i);
          if (c === 34) break;
          if (c === 92 /* \ */) {
            escaped = true;
            i += 2;
          } else {
            i++;
          }
        }
        const end = Math.min(i, len);
        const raw = text.slice(start, end);
        this.field(body, key, escaped ? unescape(raw) : raw);
        if (i < len) i++;
      } else {
        const start = i;
        while (i < len && isKeyChar(text.charCodeAt(i))) i++;
        if (i === start) this.flag(body, key, true);
        else this.field(body, key, text.slice(start, i));
      }
      fields++;
    }
    return fields ? this.finish(body) : undefined;
  }
}

const SIMPLE_ESCAPES: { [c: string]: string } = { '"': '"', "'": "'", '\\': '\\', '/': '/', n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };

/** Quoted-value escapes; an unknown \c is c, and \u not followed by four hex digits is u. */
export function unescape(raw: string): string {
  let out = '';
  let last = 0;
  for (let i = raw.indexOf('\\'); i >= 0 && i < raw.length; i = raw.indexOf('\\', last)) {
    out += raw.slice(last, i);
    const n = raw[i + 1];
    if (n === undefined) {
      // A lone trailing backslash stays, as in Fluent Bit.
      last = i;
      break;
    }
    if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(raw.slice(i + 2, i + 6))) {
      out += String.fromCharCode(parseInt(raw.slice(i + 2, i + 6), 16));
      last = i + 6;
    } else {
      out += SIMPLE_ESCAPES[n] ?? n;
      last = i + 2;
    }
  }
  return out + raw.slice(last);
}

// format regex: the named groups of a match become the body. Fluent Bit
// compiles the pattern with Onigmo in Ruby syntax; JavaScript shares the
// (?<name>...) syntax and most of the rest, and translateRubyRegex covers the
// Ruby-only pieces that logs' patterns use.
import type { Record } from '../../sdk/src/codec/events.ts';
import { FieldParser, type FormatOptions } from './format.ts';
import type { Parsed } from './parser.ts';

export interface RegexOptions extends FormatOptions {
  regex: string;
  /** skip_empty_values (default true): fields that matched an empty text are left out. */
  skipEmpty: boolean;
}

export class RegexSyntaxError extends Error {}

/**
 * Ruby pattern → JavaScript source and flags:
 *  - /pattern/ and /pattern/imx delimiters, as Fluent Bit reads them (an
 *    unknown letter after the last slash means the slashes are part of the
 *    pattern, as in /var/log/(?<file>.*));
 *  - m (dot matches newline) becomes s, x (extended) strips whitespace and
 *    comments, i stays i;
 *  - ^ and $ match at line ends in Ruby, hence flag m always;
 *  - \h \H (hex digit), \A \z \Z (string anchors), (?'name'...), (?#...).
 * Throws RegexSyntaxError for what it cannot translate (a trailing lone
 * backslash, an unterminated comment or group name).
 */
export function translateRubyRegex(pattern: string): { source: string; flags: string } {
  let body = pattern;
  let opts = '';
  if (pattern.length > 1 && pattern[0] === '/') {
    const last = pattern.lastIndexOf('/');
    const tail = pattern.slice(last + 1);
    if (last > 0 && /^[imxo]*$/.test(tail)) {
      body = pattern.slice(1, last);
      opts = tail;
    }
  }
  const extended = opts.includes('x');
  let out = '';
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\') {
      const n = body[i + 1];
      i++;
      if (n === undefined) throw new RegexSyntaxError('pattern ends with a lone backslash');
      if (inClass) out += n === 'h' ? '0-9a-fA-F' : `\\${n}`;
      else if (n === 'h') out += '[0-9a-fA-F]';
      else if (n === 'H') out += '[^0-9a-fA-F]';
      else if (n === 'A') out += '(?<![\\s\\S])';
      else if (n === 'z') out += '(?![\\s\\S])';
      else if (n === 'Z') out += '(?=\\n?(?![\\s\\S]))';
      else out += `\\${n}`;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      // A ] first in the class is a literal in Ruby, an empty class in JavaScript.
      if (body[i + 1] === '^') {
        out += '^';
        i++;
      }
      if (body[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(' && body[i + 1] === '?') {
      if (body[i + 2] === '#') {
        const end = body.indexOf(')', i);
        if (end < 0) throw new RegexSyntaxError('unterminated (?# comment');
        i = end;
        continue;
      }
      if (body[i + 2] === "'") {
        const end = body.indexOf("'", i + 3);
        if (end < 0) throw new RegexSyntaxError("unterminated (?'name' group");
        out += `(?<${body.slice(i + 3, end)}>`;
        i = end;
        continue;
      }
    }
    if (extended) {
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') continue;
      if (c === '#') {
        while (i + 1 < body.length && body[i + 1] !== '\n') i++;
        continue;
      }
    }
    out += c;
  }
  let flags = 'm';
  if (opts.includes('i')) flags += 'i';
  if (opts.includes('m')) flags += 's';
  return { source: out, flags };
}

/** Compiles a pattern; throws RegexSyntaxError (no or bad named groups) or SyntaxError (JavaScript's message). */
export function compileRubyRegex(pattern: string): { regex: RegExp; names: string[] } {
  const { source, flags } = translateRubyRegex(pattern);
  const regex = new RegExp(source, flags);
  // An empty alternative always matches, so this lists every group name, in pattern order.
  const groups = new RegExp(`(?:${source})|`, flags).exec('')!.groups;
  const names = groups ? Object.keys(groups) : [];
  if (!names.length) throw new RegexSyntaxError('pattern has no named groups (?<name>...): nothing would become a field');
  return { regex, names };
}

/**
 * The same pattern with its named groups unnamed, and each name's group
 * number: a match then makes no groups object (a third of exec's cost on a
 * typical log pattern). Undefined when that cannot be sure to be the same
 * regex: a named backreference, or group counts that V8 does not confirm.
 */
export function unnamedGroups(source: string, flags: string, names: readonly string[]): { regex: RegExp; index: number[] } | undefined {
  if (source.includes('\\k<')) return undefined;
  let out = '';
  let groups = 0;
  const index: number[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      out += source.slice(i, i + 2);
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
    } else if (c === '(' && source[i + 1] !== '?') {
      groups++;
      out += c;
    } else if (c === '(' && source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!') {
      const close = source.indexOf('>', i + 3);
      if (close < 0 || source.slice(i + 3, close) !== names[index.length]) return undefined;
      index.push(++groups);
      out += '(';
      i = close;
    } else out += c;
  }
  const count = (src: string) => new RegExp(`(?:${src})|`, flags).exec('')!.length - 1;
  if (index.length !== names.length || count(out) !== groups || count(source) !== groups) return undefined;
  return { regex: new RegExp(out, flags), index };
}

export class RegexParser extends FieldParser {
  private readonly regex: RegExp;
  private readonly names: readonly string[];
  /** Each name's group number in regex, when regex is the pattern unnamed (unnamedGroups). */
  private readonly index: readonly number[] | undefined;
  private readonly skipEmpty: boolean;

  constructor(opts: RegexOptions) {
    super(opts);
    const { regex, names } = compileRubyRegex(opts.regex);
    const unnamed = unnamedGroups(regex.source, regex.flags, names);
    this.regex = unnamed?.regex ?? regex;
    this.index = unnamed?.index;
    this.names = names;
    this.skipEmpty = opts.skipEmpty;
  }

  parse(text: string): Parsed | undefined {
    const m = this.regex.exec(text);
    if (m === null) return undefined;
    const groups = m.groups;
    const index = this.index;
    this.begin();
    const body: Record = {};
    for (let k = 0; k < this.names.length; k++) {
      const name = this.names[k]!;
      const v = index === undefined ? groups![name] : m[index[k]!];
      // An optional group that did not take part is left out, whatever skip_empty_values says.
      if (v === undefined || (v === '' && this.skipEmpty)) continue;
      this.field(body, name, v);
    }
    return this.finish(body);
  }
}

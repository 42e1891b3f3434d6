// Parser definitions → parsers: the keys of a definition (PARSER_SPEC, for
// the config loader's per-key errors), what the spec cannot check
// (compileParser), and the named set the pipeline looks parsers up in.
import { withDecoders } from './decoders.ts';
import { applySpec, type ConfigSpec } from '../../sdk/src/config-spec.ts';
import type { FormatOptions, TimeKey } from './format.ts';
import { JsonParser } from './json.ts';
import { LogfmtParser } from './logfmt.ts';
import { LtsvParser } from './ltsv.ts';
import { ParserDefError, type Parser, type ParserDef, type ParserRegistry } from './parser.ts';
import { RegexParser } from './regex.ts';
import { STOCK_PARSERS } from './stock.ts';
import { StrptimeFormatError, compileStrptime, parseUtcOffset, type ZoneResolver } from './strptime.ts';
import { ianaZone, systemZone } from './timezone.ts';
import { parseTypes } from './types.ts';

export { ParserDefError } from './parser.ts';

export const PARSER_FORMATS = ['json', 'regex', 'ltsv', 'logfmt'] as const;

/** The keys of a parser definition, as Fluent Bit's [PARSER] section spells them (lower case). */
export const PARSER_SPEC: ConfigSpec = {
  name: { type: 'string', required: true, description: 'Name the parser is used by (tail\'s parser, the parser filter); a stock parser\'s name replaces it' },
  format: { type: 'string', required: true, oneOf: PARSER_FORMATS, description: 'json, regex, ltsv or logfmt' },
  regex: { type: 'string', description: 'With format regex (required there): the pattern, Ruby syntax as in Fluent Bit, optionally as /pattern/imx; its named groups (?<name>...) become the fields' },
  time_key: { type: 'string', default: 'time', description: 'Field that holds the record\'s time; read only when time_format is set' },
  time_format: { type: 'string', description: 'strptime format of the time field (%Y %m %d %H %M %S, %L fractional seconds, %z zone, %b month name, %s epoch, ...)' },
  time_keep: { type: 'bool', default: false, description: 'Keep the time field in the record after reading it' },
  time_offset: { type: 'string', description: 'Zone of times whose format has none, as +0900, -06:00 or Z (default UTC)' },
  time_zone: { type: 'string', description: 'Zone of times whose format has none, as an IANA name (Europe/Berlin); excludes time_offset and time_system_timezone' },
  time_system_timezone: { type: 'bool', default: false, description: 'Times whose format has no zone are in the host\'s zone' },
  time_strict: { type: 'bool', default: true, description: 'A time that stops matching time_format part way is an error; off: the fields read before the mismatch are used' },
  types: { type: 'string', description: 'Casts of text fields (regex, logfmt, ltsv): "key:integer key2:bool key3:float key4:hex key5:string"' },
  skip_empty_values: { type: 'bool', default: true, description: 'With format regex: leave out groups that matched empty text' },
  logfmt_no_bare_keys: { type: 'bool', default: false, description: 'With format logfmt: a line with a key without =value does not parse' },
  decode_field: { type: 'any', description: 'json FIELD: merge what the field decodes to into the record (repeatable)' },
  decode_field_as: { type: 'any', description: 'DECODER FIELD (json, escaped, escaped_utf8, mysql_quoted): replace the field with its decoded value (repeatable)' },
};

/** What a compiled parser may take from its surroundings; tests set the clock. */
export interface CompileEnv {
  /** Clock (ms) for time formats without a year. */
  now?: () => number;
}

function lowerKeys(def: { [k: string]: unknown }): { [k: string]: unknown } {
  const out: { [k: string]: unknown } = {};
  for (const [k, v] of Object.entries(def)) out[k.toLowerCase()] = v;
  return out;
}

/**
 * Compiles one definition. Keys are read case-insensitively, as Fluent Bit
 * does (Time_Key); throws ParserDefError for the first problem: a key the
 * spec rejects, a regex that does not compile or has no named groups, a bad
 * types entry, time_format directive or time_offset.
 */
export function compileParser(def: ParserDef, env: CompileEnv = {}): Parser {
  const parser = compileFormat(def, env);
  const v = lowerKeys(def);
  return withDecoders(parser, rulesOf(v.decode_field), rulesOf(v.decode_field_as));
}

/** A repeatable key's value: one rule, or a list of them. */
const rulesOf = (v: unknown): string[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

function compileFormat(def: ParserDef, env: CompileEnv): Parser {
  const raw = lowerKeys(def);
  if (typeof raw.format === 'string') raw.format = raw.format.toLowerCase();
  const { values: v, errors } = applySpec(PARSER_SPEC, raw);
  if (errors.length) throw new ParserDefError(errors[0]!.key, errors[0]!.message);
  const name = v.name as string;
  const opts: FormatOptions = { name };

  if (v.types !== undefined) {
    try {
      opts.types = parseTypes(v.types);
    } catch (err) {
      throw new ParserDefError('types', (err as Error).message);
    }
  }

  if (v.time_format !== undefined) opts.time = timeKey(v, env);
  else if (v.time_zone !== undefined) throw new ParserDefError('time_zone', 'needs time_format');

  switch (v.format as (typeof PARSER_FORMATS)[number]) {
    case 'json':
      return new JsonParser(opts);
    case 'logfmt':
      return new LogfmtParser({ ...opts, noBareKeys: v.logfmt_no_bare_keys });
    case 'ltsv':
      return new LtsvParser(opts);
    case 'regex':
      if (v.regex === undefined || v.regex === '') throw new ParserDefError('regex', 'required with format regex');
      try {
        return new RegexParser({ ...opts, regex: v.regex, skipEmpty: v.skip_empty_values });
      } catch (err) {
        throw new ParserDefError('regex', `does not compile: ${(err as Error).message}`);
      }
  }
}

function timeKey(v: { [k: string]: any }, env: CompileEnv): TimeKey {
  let offset = 0;
  if (v.time_offset !== undefined) {
    const o = parseUtcOffset(v.time_offset);
    if (o === undefined) throw new ParserDefError('time_offset', `must be like +0900, -06:00 or Z, got ${JSON.stringify(v.time_offset)}`);
    offset = o;
  }
  let zone: ZoneResolver | undefined;
  if (v.time_zone !== undefined) {
    if (v.time_offset !== undefined) throw new ParserDefError('time_zone', 'cannot be combined with time_offset');
    if (v.time_system_timezone) throw new ParserDefError('time_zone', 'cannot be combined with time_system_timezone');
    try {
      zone = ianaZone(v.time_zone);
    } catch (err) {
      throw new ParserDefError('time_zone', (err as Error).message);
    }
  } else if (v.time_system_timezone) {
    // Fluent Bit: the host's zone wins over time_offset.
    zone = systemZone();
  }
  try {
    const format = compileStrptime(v.time_format, { offset, zone, strict: v.time_strict, now: env.now });
    return { key: v.time_key, keep: v.time_keep, format };
  } catch (err) {
    if (err instanceof StrptimeFormatError) throw new ParserDefError('time_format', err.message);
    throw err;
  }
}

/** Names the definition a ParserDefError came from. */
export class ParserEntryError extends ParserDefError {
  /** The definition's name, when it has one. */
  readonly parser: string | undefined;
  /** Its index in the definitions given. */
  readonly index: number;
  constructor(cause: ParserDefError, parser: string | undefined, index: number) {
    super(cause.key, `parser ${parser === undefined ? `#${index + 1}` : JSON.stringify(parser)}: ${cause.key}: ${cause.message}`);
    this.parser = parser;
    this.index = index;
  }
}

/**
 * The stock parsers plus the user's: definitions (compiled here) or parsers
 * already compiled (by a config loader that reported their errors itself).
 * A user parser with a stock name replaces the stock one.
 */
export class Parsers implements ParserRegistry {
  private readonly byName = new Map<string, Parser>();

  /** Throws ParserEntryError for a definition that does not compile or a name used twice. */
  constructor(user: Iterable<ParserDef | Parser> = [], env: CompileEnv = {}) {
    const mine = new Map<string, Parser>();
    let i = 0;
    for (const entry of user) {
      const name = typeof entry.name === 'string' ? entry.name : undefined;
      try {
        const parser = isParser(entry) ? entry : compileParser(entry, env);
        if (mine.has(parser.name)) throw new ParserDefError('name', 'is used by an earlier parser definition');
        mine.set(parser.name, parser);
      } catch (err) {
        if (err instanceof ParserDefError) throw new ParserEntryError(err, name, i);
        throw err;
      }
      i++;
    }
    for (const def of STOCK_PARSERS) {
      if (!mine.has(def.name)) this.byName.set(def.name, compileParser(def, env));
    }
    for (const [name, parser] of mine) this.byName.set(name, parser);
  }

  get(name: string): Parser | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}

function isParser(entry: ParserDef | Parser): entry is Parser {
  return typeof (entry as Parser).parse === 'function';
}

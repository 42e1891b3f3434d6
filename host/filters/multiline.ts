// multiline: joins the lines of one record (a stack trace) spread over
// several records, with rule-based multiline parsers, as Fluent Bit's
// multiline filter (mode parser, buffered). Records are read per tag, in
// order; a record's text (multiline.key_content) goes through the parsers'
// rules. The lines of a record being built are held by the filter, across
// chunks; the joined record goes on in the chunk of the line that completes
// it (the next start line, or a line no rule takes), or, when no line comes
// for flush_ms, through the filter's emitter, to the filters after this one.
import type { Event, Record } from '../../sdk/src/codec/events.ts';
import { setField } from '../parsers/format.ts';
import { joinLines, RuleState, type RuleParser } from '../parsers/multiline-rules.ts';
import { FilterConfigError, type Filter, type FilterKind, type FilterOutput, type Reemit } from './filter.ts';
import { EMITTER_MEM_BUF_LIMIT_DEFAULT } from './rewrite-tag.ts';
import { rules } from './record-accessor.ts';

/** A record being built reaching this many characters is emitted as it is; the next lines start another. */
export const MULTILINE_MAX_CHARS = 2 * 1024 * 1024;

interface ParserStream {
  parser: RuleParser;
  key: string;
  state: RuleState;
  /** The record whose line started the one being built: its other fields, time and metadata go on. */
  first: Event | undefined;
}

interface Stream {
  parsers: ParserStream[];
  /** The parser that took the last line (Fluent Bit's lru parser): tried first. */
  last: number;
  /** When a line last came (ms). */
  at: number;
}

const ONE = [0];

/** The joined record: the first line's record with the joined text under key. */
function joined(first: Event, key: string, lines: string[]): Event {
  setField(first.body, key, joinLines(lines));
  return first;
}

export const multiline: FilterKind = {
  description: 'Joins the lines of multiline messages (stack traces) with multiline parsers',
  spec: {
    'multiline.parser': { type: 'string', description: 'Multiline parsers: go, java, python, ruby, or a name from multiline_parsers (repeatable, or comma-separated; tried in order)' },
    'multiline.key_content': { type: 'string', description: 'The field holding the text (default: the parser\'s key_content, else log)' },
    flush_ms: { type: 'int', default: 2000, min: 1, description: 'A record being built is emitted when no line came for this long (milliseconds)' },
    mode: { type: 'string', default: 'parser', oneOf: ['parser', 'partial_message'], description: 'parser (only: partial_message is not supported)' },
    buffer: { type: 'bool', default: true, description: 'Hold lines across chunks (always on in sluice)' },
    emitter_name: { type: 'string', description: 'Name of the emitter of records emitted at flush_ms (default emitter_for_<filter instance>)' },
    'emitter_storage.type': { type: 'string', default: 'memory', oneOf: ['memory', 'filesystem'], description: 'memory or filesystem' },
    emitter_mem_buf_limit: { type: 'size', default: EMITTER_MEM_BUF_LIMIT_DEFAULT, description: 'Bytes the emitter\'s chunks may hold in memory; over it, the inputs that feed it pause' },
  },
  repeatable: ['multiline.parser'],
  multilineParserKeys: ['multiline.parser'],
  emitter(config, instance) {
    return {
      name: config.emitter_name ?? `emitter_for_${instance}`,
      storage: config['emitter_storage.type'] ?? 'memory',
      memBufLimit: config.emitter_mem_buf_limit ?? EMITTER_MEM_BUF_LIMIT_DEFAULT,
      reentry: 'after',
    };
  },
  create(config, ctx): Filter {
    if (config.mode === 'partial_message') throw new FilterConfigError('mode', 'partial_message is not supported by sluice yet; use mode parser with multiline.parser');
    if (config.buffer === false) throw new FilterConfigError('buffer', 'sluice always holds lines across chunks (buffer on); buffer off is not supported');
    const names = multilineNames(config['multiline.parser']);
    if (!names.length) throw new FilterConfigError('multiline.parser', 'required: one or more multiline parsers (go, java, python, ruby, or from multiline_parsers)');
    const parsers: RuleParser[] = [];
    // At load the names are checked by the loader (ctx.multilineParsers is not there yet).
    if (ctx.multilineParsers) {
      for (const n of names) {
        const p = ctx.multilineParsers.get(n);
        if (!p) throw new FilterConfigError('multiline.parser', `unknown multiline parser ${JSON.stringify(n)}`);
        parsers.push(p);
      }
    }
    const keyOf = (p: RuleParser) => (config['multiline.key_content'] as string | undefined) ?? p.keyContent ?? 'log';
    const flushMs = Number(config.flush_ms ?? 2000);
    const now = ctx.now ?? Date.now;
    const streams = new Map<string, Stream>();

    const stream = (tag: string): Stream => {
      let s = streams.get(tag);
      if (!s) streams.set(tag, (s = { parsers: parsers.map((p) => ({ parser: p, key: keyOf(p), state: new RuleState(), first: undefined })), last: 0, at: now() }));
      return s;
    };
    /** Every record pending in a stream, complete now. */
    const drain = (s: Stream, out: Event[]) => {
      for (const ps of s.parsers) ps.state.take((lines) => out.push(joined(ps.first!, ps.key, lines)));
    };

    return {
      filter(e: Event, tag: string) {
        const s = stream(tag);
        s.at = now();
        const out: Event[] = [];
        let held = false;
        const order = s.parsers.length === 1 ? ONE : [s.last, ...s.parsers.keys()].filter((i, j, a) => a.indexOf(i) === j);
        for (const i of order) {
          const ps = s.parsers[i]!;
          const text = e.body[ps.key];
          if (typeof text !== 'string') continue;
          const r = ps.state.push(ps.parser, text, (lines) => out.push(joined(ps.first!, ps.key, lines)), () => (ps.first = e));
          if (r === 'alone') continue;
          s.last = i;
          // The line is held unless it ended its record at once (then it is in out).
          held = ps.state.lines.length > 0;
          if (ps.state.bytes >= MULTILINE_MAX_CHARS) ps.state.take((lines) => out.push(joined(ps.first!, ps.key, lines)));
          if (!held && out.length === 1 && out[0] === e) return e;
          const result: FilterOutput = { event: out.pop() ?? null, held };
          if (out.length) result.more = out;
          return result;
        }
        // No parser takes it: what is pending is complete, and the record goes on alone, after it.
        drain(s, out);
        if (!out.length) return e;
        return { event: e, more: out };
      },
      flush(final: boolean): Reemit[] {
        const due: Reemit[] = [];
        const t = now();
        for (const [tag, s] of streams) {
          if (!final && t - s.at < flushMs) continue;
          const out: Event[] = [];
          drain(s, out);
          for (const event of out) due.push({ tag, event });
          // A quiet tag's state goes: 1,000 tags seen once do not stay.
          streams.delete(tag);
        }
        return due;
      },
    };
  },
};

/** multiline.parser's values: a list, each maybe comma-separated (Fluent Bit's multiline.parser java, python). */
export function multilineNames(v: unknown): string[] {
  return rules(v).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
}

// The filter contract: filters run on the host, between an input and its
// chunks, on events whose tag they match (docs/configuration.md, Filters).
import type { ConfigSpec } from '../../sdk/src/config-spec.ts';
import type { Event } from '../../sdk/src/codec/events.ts';
import type { Metrics } from '../api/metrics.ts';
import type { Logger } from '../log.ts';
import type { ParserRegistry } from '../parsers/parser.ts';
import type { RuleParserRegistry } from '../parsers/multiline-rules.ts';

export interface FilterContext {
  /** Instance name: alias, or <name>.<index>. */
  name: string;
  log: Logger;
  metrics: Metrics;
  /** Named parsers (stock, parsers:, parsers_file), for the parser filter. */
  parsers: ParserRegistry;
  /** Named multiline parsers (built-in and multiline_parsers:), for the multiline filter. */
  multilineParsers?: RuleParserRegistry;
  /** The clock (ms), for filters that keep time (throttle, multiline); tests set it. */
  now?: () => number;
}

/** An event a filter puts back at the start of the pipeline, under `tag`. */
export interface Reemit {
  tag: string;
  event: Event;
}

/**
 * What a filter makes of one event when it is more than kept or dropped:
 * `event` goes on (null: nothing goes on), after the events of `more`, in
 * this chunk, through the next steps; `emit` are events re-emitted under
 * their tags (rewrite_tag). `held`: the event given is not dropped but kept
 * by the filter, to come back later in `event`/`more` or from flush()
 * (multiline joining lines); it does not count as a drop.
 */
export interface FilterOutput {
  event: Event | null;
  more?: Event[];
  emit?: Reemit[];
  held?: boolean;
}

/** What a filter makes of one event: kept (the same or changed), dropped (null), or a FilterOutput. */
export type FilterResult = Event | null | FilterOutput;

export function isFilterOutput(r: FilterResult): r is FilterOutput {
  return r !== null && (r as Event).body === undefined;
}

export interface Filter {
  /** Called for each event whose tag the filter matches; may change the event in place. */
  filter(event: Event, tag: string): FilterResult;
  /**
   * For filters that hold events across chunks (multiline): the events to
   * emit now (final: all of them: shutdown, reload, the filter removed).
   * Called on every flush of the pipeline.
   */
  flush?(final: boolean): Reemit[];
  /** Stops timers; called when the filter is replaced or sluice stops. */
  close?(): void;
}

/** Where a filter's re-emitted events are stored: Fluent Bit's emitter input, with its own name and limits. */
export interface EmitterSpec {
  name: string;
  storage: 'memory' | 'filesystem';
  memBufLimit: number;
  /**
   * Which filters a re-emitted event passes: `others` (every filter matching
   * its new tag but this one: rewrite_tag) or `after` (those after this one:
   * multiline, whose events keep their tag).
   */
  reentry: 'others' | 'after';
}

export interface FilterKind {
  description: string;
  spec: ConfigSpec;
  /** Keys that may appear more than once (modify's set, grep's regex): their values come as a list. */
  repeatable?: readonly string[];
  /** Keys whose values name parsers (parser's `parser`): the loader checks the names. */
  parserKeys?: readonly string[];
  /** Keys whose values name multiline parsers (multiline's `multiline.parser`). */
  multilineParserKeys?: readonly string[];
  /** For filters that re-emit events (rewrite_tag): their emitter, from their config. */
  emitter?(config: { [k: string]: any }, instance: string): EmitterSpec;
  /** Throws FilterConfigError for a value its spec cannot check (a bad regex), naming the key. */
  create(config: { [k: string]: any }, ctx: FilterContext): Filter;
}

export class FilterConfigError extends Error {
  readonly key: string;
  constructor(key: string, message: string) {
    super(message);
    this.key = key;
  }
}

// The filter contract: filters run on the host, between an input and its
// chunks, on events whose tag they match (docs/configuration.md, Filters).
import type { ConfigSpec } from '../../sdk/src/config-spec.ts';
import type { Event } from '../../sdk/src/codec/events.ts';
import type { Metrics } from '../api/metrics.ts';
import type { Logger } from '../log.ts';
import type { ParserRegistry } from '../parsers/parser.ts';

export interface FilterContext {
  /** Instance name: alias, or <name>.<index>. */
  name: string;
  log: Logger;
  metrics: Metrics;
  /** Named parsers (stock, parsers:, parsers_file), for the parser filter. */
  parsers: ParserRegistry;
}

/** What a filter makes of one event: kept (the same or changed) or dropped. */
export type FilterResult = Event | null;

export interface Filter {
  /** Called for each event whose tag the filter matches; may change the event in place. */
  filter(event: Event, tag: string): FilterResult;
}

export interface FilterKind {
  description: string;
  spec: ConfigSpec;
  /** Keys that may appear more than once (modify's set, grep's regex): their values come as a list. */
  repeatable?: readonly string[];
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

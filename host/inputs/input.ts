import type { ConfigSpec } from '../../sdk/src/config-spec.ts';
import type { Metrics } from '../api/metrics.ts';
import type { Parser } from '../parsers/parser.ts';
import type { ChunkStore, InputAccount } from '../storage/store.ts';
import type { Logger } from '../log.ts';

export interface InputContext {
  /** Instance name: alias, or <name>.<index>. */
  name: string;
  /** The configured tag, or the instance name. */
  tag: string;
  /** True when the config gives the input a tag (forward: it then replaces the tags clients send). */
  tagConfigured?: boolean;
  store: ChunkStore;
  account: InputAccount;
  log: Logger;
  metrics: Metrics;
  /** A parser of the running config by name (tail's parser key); looked up at each use, since a reload may change its definition. */
  parser?: (name: string) => Parser | undefined;
}

export interface Input {
  /**
   * handedOff: on a reload, what the instance this one replaces gave from handOff().
   * An input that must take a resource first (a listening port) returns a
   * promise; a rejection with an InputStartError stops sluice's start
   * (exit 2, the error placed at its key) or is reported by the reload.
   */
  start(handedOff?: unknown): void | Promise<void>;
  /**
   * Stops reading and seals its open chunks; resolves when the input will
   * write no more events. handOff: a reload replaces the input, and the new
   * instance gets handOff()'s state (tail keeps multiline pieces pending for
   * it instead of emitting them unfinished).
   */
  stop(opts?: { handOff?: boolean }): Promise<void>;
  /** After stop(), state for the instance that replaces this one on a reload (tail: file positions). */
  handOff?(): unknown;
  /** With exit_on_eof: resolves once all the input's data was read. */
  readonly finished?: Promise<void>;
  /** Writes the input's checkpoints now (tail db); called at shutdown after outputs are done. */
  checkpoint?(): void;
}

/** An input could not start (a port in use): a problem of its config, at `key`. */
export class InputStartError extends Error {
  readonly key: string | undefined;
  constructor(message: string, key?: string) {
    super(message);
    this.key = key;
  }
}

export interface InputKind {
  description: string;
  spec: ConfigSpec;
  /** Keys that may be given more than once (Fluent Bit's repeated keys); each comes as a list, a list key's values joined into one list. */
  repeatable?: readonly string[];
  create(config: { [k: string]: any }, ctx: InputContext): Input;
}

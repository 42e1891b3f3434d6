import type { ConfigSpec } from '../../sdk/src/config-spec.ts';
import type { Metrics } from '../api/metrics.ts';
import type { ChunkStore, InputAccount } from '../storage/store.ts';
import type { Logger } from '../log.ts';

export interface InputContext {
  /** Instance name: alias, or <name>.<index>. */
  name: string;
  /** The configured tag, or the instance name. */
  tag: string;
  store: ChunkStore;
  account: InputAccount;
  log: Logger;
  metrics: Metrics;
}

export interface Input {
  /** handedOff: on a reload, what the instance this one replaces gave from handOff(). */
  start(handedOff?: unknown): void;
  /** Stops reading and seals its open chunks; resolves when the input will write no more events. */
  stop(): Promise<void>;
  /** After stop(), state for the instance that replaces this one on a reload (tail: file positions). */
  handOff?(): unknown;
  /** With exit_on_eof: resolves once all the input's data was read. */
  readonly finished?: Promise<void>;
  /** Writes the input's checkpoints now (tail db); called at shutdown after outputs are done. */
  checkpoint?(): void;
}

export interface InputKind {
  description: string;
  spec: ConfigSpec;
  create(config: { [k: string]: any }, ctx: InputContext): Input;
}

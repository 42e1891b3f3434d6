// Backpressure for a network input: while its account is paused, none of its
// connections is read, so senders stall in TCP instead of being answered for
// data sluice would have to drop; all resume once the input may write again.
import type { InputAccount } from '../../storage/store.ts';

interface Readable {
  pause(): void;
  resume(): void;
}

export class ReadGate {
  private readonly account: InputAccount;
  private readonly connections: Iterable<Readable>;
  private held = false;
  private stopped = false;

  constructor(account: InputAccount, connections: Iterable<Readable>) {
    this.account = account;
    this.connections = connections;
  }

  /** A connection accepted while the gate is shut starts paused. */
  admit(c: Readable): void {
    if (this.held) c.pause();
  }

  /** After the input wrote: shuts the gate if the account is now paused. */
  check(): void {
    if (this.held || !this.account.paused) return;
    this.held = true;
    for (const c of this.connections) c.pause();
    const writable = this.account.whenWritable();
    if (writable) void writable.then(() => this.open());
    else this.open();
  }

  /** The input stops: nothing is resumed any more. */
  stop(): void {
    this.stopped = true;
  }

  private open(): void {
    this.held = false;
    if (this.stopped) return;
    for (const c of this.connections) c.resume();
  }
}

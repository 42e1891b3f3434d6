// stdin: one event per line of standard input. A line holding a JSON object
// becomes the body; any other line becomes {log: line}.
import { createInterface } from 'node:readline';
import { encodeEvent, EventTime } from '../../../sdk/src/codec/events.ts';
import type { Input, InputContext, InputKind } from '../input.ts';

export class StdinInput implements Input {
  private readonly ctx: InputContext;
  private readonly key: string;
  private rl: ReturnType<typeof createInterface> | undefined;
  private writer: ReturnType<InputContext['store']['writer']> | undefined;
  private resolveFinished!: () => void;
  readonly finished: Promise<void> | undefined;

  constructor(cfg: { key: string; exit_on_eof: boolean }, ctx: InputContext) {
    this.ctx = ctx;
    this.key = cfg.key;
    this.finished = cfg.exit_on_eof ? new Promise((r) => (this.resolveFinished = r)) : undefined;
  }

  start(): void {
    const writer = (this.writer = this.ctx.store.writer(this.ctx.account, this.ctx.tag));
    const rl = (this.rl = createInterface({ input: process.stdin, crlfDelay: Infinity }));
    rl.on('line', (line) => {
      let body: { [k: string]: unknown } = { [this.key]: line };
      if (line.startsWith('{')) {
        try {
          const v = JSON.parse(line);
          if (v && typeof v === 'object' && !Array.isArray(v)) body = v;
        } catch {
          // not JSON: kept as text
        }
      }
      const bytes = encodeEvent(body, EventTime.now());
      writer.appendEncoded(bytes);
      this.ctx.metrics.inputRecords.inc({ name: this.ctx.name });
      this.ctx.metrics.inputBytes.inc({ name: this.ctx.name }, bytes.length);
      if (this.ctx.account.paused) {
        rl.pause();
        void this.ctx.account.whenWritable()?.then(() => rl.resume());
      }
    });
    rl.on('close', () => {
      writer.seal();
      this.resolveFinished?.();
    });
  }

  async stop(): Promise<void> {
    this.rl?.close();
    if (this.writer) this.ctx.store.dropWriter(this.writer);
  }
}

export const stdin: InputKind = {
  description: 'Reads events from standard input, one per line',
  spec: {
    key: { type: 'string', default: 'log', description: 'Body key for lines that are not JSON objects' },
    exit_on_eof: { type: 'bool', default: false, description: 'Exit sluice once stdin ends and everything was delivered' },
  },
  create: (cfg, ctx) => new StdinInput(cfg as { key: string; exit_on_eof: boolean }, ctx),
};

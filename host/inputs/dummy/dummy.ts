// dummy: generates a fixed event at a fixed rate, like Fluent Bit's dummy.
import { EventTime, encodeEvent } from '../../../sdk/src/codec/events.ts';
import type { Input, InputContext, InputKind } from '../input.ts';

interface DummyConfig {
  dummy: string;
  metadata: string;
  rate: number;
  samples: number;
  exit_on_eof: boolean;
}

const TICK_MS = 10;

export class DummyInput implements Input {
  private readonly cfg: DummyConfig;
  private readonly ctx: InputContext;
  private readonly template: Buffer;
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  private owed = 0;
  private last = 0;
  private resolveFinished!: () => void;
  readonly finished: Promise<void> | undefined;

  constructor(cfg: DummyConfig, ctx: InputContext) {
    this.cfg = cfg;
    this.ctx = ctx;
    // Encoded once; each event only gets its time patched in (bytes 4..11).
    this.template = encodeEvent(JSON.parse(cfg.dummy), new EventTime(0, 0), JSON.parse(cfg.metadata));
    this.finished = cfg.exit_on_eof ? new Promise((r) => (this.resolveFinished = r)) : undefined;
  }

  start(): void {
    this.last = Date.now();
    this.timer = setInterval(() => this.tick(), Math.max(TICK_MS, Math.min(1000, 1000 / this.cfg.rate)));
  }

  private tick(): void {
    if (this.ctx.account.paused) return;
    const now = Date.now();
    this.owed += ((now - this.last) / 1000) * this.cfg.rate;
    this.last = now;
    let n = Math.floor(this.owed);
    if (this.cfg.samples > 0) n = Math.min(n, this.cfg.samples - this.sent);
    if (n <= 0) return;
    this.owed -= n;
    const writer = this.writer;
    const sec = Math.floor(now / 1000);
    const nsec = (now % 1000) * 1e6;
    const t = this.template;
    for (let i = 0; i < n; i++) {
      const c = writer.reserve(t.length);
      t.copy(c.buf, c.size);
      c.buf.writeUInt32BE(sec, c.size + 4);
      c.buf.writeUInt32BE(nsec, c.size + 8);
      c.size += t.length;
      c.count++;
      writer.commit();
      if (this.ctx.account.paused) {
        n = i + 1;
        break;
      }
    }
    this.sent += n;
    this.ctx.metrics.inputRecords.inc({ name: this.ctx.name }, n);
    this.ctx.metrics.inputBytes.inc({ name: this.ctx.name }, n * t.length);
    if (this.cfg.samples > 0 && this.sent >= this.cfg.samples) {
      clearInterval(this.timer);
      writer.seal();
      this.resolveFinished?.();
    }
  }

  private _writer: ReturnType<InputContext['store']['writer']> | undefined;
  private get writer() {
    return (this._writer ??= this.ctx.store.writer(this.ctx.account, this.ctx.tag));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this._writer) this.ctx.store.dropWriter(this._writer);
  }
}

function jsonObject(s: string): boolean {
  try {
    const v = JSON.parse(s);
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}

export const dummy: InputKind = {
  description: 'Generates a fixed event at a fixed rate',
  spec: {
    dummy: { type: 'string', default: '{"message":"dummy"}', description: 'The event body, as a JSON object' },
    metadata: { type: 'string', default: '{}', description: 'The event metadata, as a JSON object' },
    rate: { type: 'float', default: 1, min: 0.001, description: 'Events per second' },
    samples: { type: 'int', default: 0, min: 0, description: 'Stop after this many events; 0 for no limit' },
    exit_on_eof: { type: 'bool', default: false, description: 'With samples: exit sluice once all samples were delivered' },
  },
  create(cfg, ctx) {
    for (const key of ['dummy', 'metadata']) {
      if (!jsonObject(cfg[key])) throw new Error(`${key}: must be a JSON object, got ${JSON.stringify(cfg[key])}`);
    }
    return new DummyInput(cfg as DummyConfig, ctx);
  },
};

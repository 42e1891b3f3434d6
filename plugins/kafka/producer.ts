// Delivery to Kafka with an answer per chunk. Events of all chunks in
// flight are batched together (up to batch_size bytes, waiting at most
// linger), and a chunk is answered once every one of its events is settled:
// OK only if Kafka acknowledged each (per acks), else the worst outcome,
// ERROR over RETRY. Bytes held here are bounded by max_buffered_bytes.
import { Producer, type ProducerOptions } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { decodeEvents, decodeEventsFrom, error, EventDecodeError, Histogram, ok, retry, type Chunk, type Event, type FlushAnswer, type MetricSample } from '../../sdk/src/index.ts';
import { Encoder, jsonValue, messageBytes, type Message } from './encode.ts';
import { classify } from './errors.ts';
import type { Settings } from './options.ts';

/** How long a chunk waits for room under max_buffered_bytes before it is answered RETRY... */
const BACKPRESSURE_WAIT_MS = 5000;
/** ...with this retry_after. */
const BACKPRESSURE_RETRY_MS = 1000;
/**
 * What a message costs in memory beyond its bytes, counted against
 * max_buffered_bytes: its objects here (~0.5 KiB measured for a small
 * message) and the client's copy while the request is built.
 */
const MESSAGE_MEMORY = 1024;
/** Retried chunks whose acknowledged events are remembered (by chunk id, oldest forgotten first). */
const PARTIAL_CHUNKS = 10_000;

/** One chunk's delivery: answered when its last event is settled. */
class Job {
  readonly chunk: Chunk;
  private outstanding = 0;
  private verdict: { status: 'retry' | 'error'; message: string } | undefined;
  /** Indexes of the chunk's events Kafka acknowledged. */
  readonly acked = new Set<number>();
  private resolve!: (a: FlushAnswer) => void;
  readonly answer = new Promise<FlushAnswer>((r) => (this.resolve = r));

  constructor(chunk: Chunk) {
    this.chunk = chunk;
  }

  add(n: number): void {
    this.outstanding += n;
  }

  delivered(index: number): void {
    this.acked.add(index);
    this.settle();
  }

  /** An event is done: failed with this outcome, or handed on (to the dead-letter topic) without one. */
  settle(failure?: { status: 'retry' | 'error'; message: string }): void {
    if (failure && (!this.verdict || (failure.status === 'error' && this.verdict.status === 'retry'))) this.verdict = failure;
    if (--this.outstanding === 0) this.finish();
  }

  private finish(): void {
    const v = this.verdict;
    this.resolve(!v ? ok() : v.status === 'error' ? error(v.message) : retry(v.message));
  }
}

interface Item {
  message: Message;
  bytes: number;
  job: Job;
  /** False for a dead letter itself: it has nowhere else to go. */
  original: boolean;
  index: number;
}

export class KafkaProducer {
  private readonly s: Settings;
  private readonly log: Logger;
  private readonly encoder: Encoder;
  private readonly producer: Producer<Buffer, Buffer, string, Buffer>;
  private queue: Item[] = [];
  /** Wire bytes queued: what batch_size is about. */
  private queuedWire = 0;
  /** Memory held by queued, and by sent but unanswered, messages: what max_buffered_bytes is about. */
  private queuedHeld = 0;
  private sendingHeld = 0;
  private linger: NodeJS.Timeout | undefined;
  private readonly sends = new Set<Promise<void>>();
  private readonly partial = new Map<string, Set<number>>();
  /** Chunks waiting for room under max_buffered_bytes; woken whenever a request ends. */
  private waiters: (() => void)[] = [];
  /** After a drain, nothing lingers: the host is about to stop this process. */
  private draining = false;
  private readonly stats = {
    messages: 0,
    bytes: 0,
    deadLetters: 0,
    backpressure: 0,
    skipped: 0,
    errors: new Map<string, number>(),
  };
  private readonly batchSizes = new Histogram('kafka_batch_messages', 'Messages per produce request', [1, 10, 100, 1000, 10000]);
  private readonly latency = new Histogram('kafka_produce_latency_seconds', 'Time from a produce request to its acknowledgement', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

  constructor(settings: Settings, log: Logger) {
    this.s = settings;
    this.log = log;
    this.encoder = new Encoder(settings);
    const c = settings.config;
    const options: ProducerOptions<Buffer, Buffer, string, Buffer> = {
      clientId: c.client_id,
      bootstrapBrokers: settings.brokers,
      connectTimeout: c.connect_timeout * 1000,
      requestTimeout: c.request_timeout * 1000,
      timeout: c.request_timeout * 1000,
      retries: c.retries,
      retryDelay: c.retry_backoff * 1000,
      acks: settings.acks,
      idempotent: c.idempotent,
      compression: c.compression,
      autocreateTopics: c.auto_create_topics,
      repeatOnStaleMetadata: true,
      serializers: { headerKey: (k?: string) => (k === undefined ? undefined : Buffer.from(k)) },
    };
    if (settings.tls) options.tls = settings.tls;
    const mechanism = c['sasl.mechanism'];
    if (mechanism) options.sasl = { mechanism, username: c['sasl.username'], password: c['sasl.password'] };
    this.producer = new Producer(options);
  }

  /** Brokers (and the fixed topic's metadata) reachable: undefined, else why not. */
  async check(): Promise<string | undefined> {
    try {
      const topics = this.s.fixedTopic ? [this.s.fixedTopic] : [];
      await this.producer.metadata({ topics, autocreateTopics: this.s.config.auto_create_topics, retries: 0 });
      return undefined;
    } catch (err) {
      const v = classify(err);
      const where = this.s.fixedTopic ? ` for topic ${this.s.fixedTopic}` : '';
      return `cannot fetch metadata${where} from ${this.s.brokers.join(',')}: ${v.message}`;
    }
  }

  get bufferedBytes(): number {
    return this.queuedHeld + this.sendingHeld;
  }

  async flush(chunk: Chunk): Promise<FlushAnswer> {
    // Waiting holds the host's worker slot, so it sends nothing more meanwhile; past the wait, the chunk goes back to sluice's buffer.
    const need = chunk.data.length + chunk.count * MESSAGE_MEMORY;
    const deadline = Date.now() + BACKPRESSURE_WAIT_MS;
    // Checked again after every wake, right before the chunk takes its room: other chunks woke too.
    while (!this.fits(need)) {
      if (await this.wake(deadline)) continue;
      this.stats.backpressure++;
      return retry(`${this.bufferedBytes} bytes are held for Kafka's acknowledgement (max_buffered_bytes ${this.s.config.max_buffered_bytes}); the chunk stays in sluice's buffer`, BACKPRESSURE_RETRY_MS);
    }
    const job = new Job(chunk);
    // A retry of a chunk sends only what Kafka did not acknowledge on an earlier attempt.
    const acked = this.partial.get(chunk.id);
    this.partial.delete(chunk.id);
    // Held open until the last piece of the chunk is enqueued.
    job.add(1);
    void this.feed(job, acked).then(
      (failure) => job.settle(failure),
      // A chunk that does not decode will not decode next time either.
      (err) => job.settle({ status: err instanceof EventDecodeError ? 'error' : 'retry', message: `cannot read the chunk: ${(err as Error).message}` }),
    );
    void job.answer.then((a) => {
      if (a?.status !== 'retry' || job.acked.size === 0) return;
      this.partial.set(chunk.id, job.acked);
      if (this.partial.size > PARTIAL_CHUNKS) this.partial.delete(this.partial.keys().next().value!);
    });
    return job.answer;
  }

  /**
   * Encodes and enqueues a chunk's events a piece at a time, waiting for
   * room between pieces, so a chunk of many small events never holds more
   * than max_buffered_bytes. An event refused with no dead_letter_topic
   * stops it, before its piece is sent: the reason is returned.
   */
  private async feed(job: Job, acked: Set<number> | undefined): Promise<{ status: 'retry' | 'error'; message: string } | undefined> {
    const { chunk } = job;
    const { default_topic: fallback, dead_letter_topic: dlq } = this.s.config;
    const budget = this.s.config.max_buffered_bytes / 4;
    // Decoded a piece at a time too (and not with chunk.events(), which keeps every event alive until the chunk is answered).
    const perPiece = Math.max(1, Math.floor(budget / MESSAGE_MEMORY));
    for (let at = 0, i = 0; at < chunk.data.length; ) {
      // Bounded: a request the client never ends must not hold the chunk past delivery_timeout.
      const deadline = Date.now() + this.s.config.delivery_timeout * 1000;
      while (!this.fits(budget)) {
        if (!(await this.wake(deadline))) return { status: 'retry', message: `no room for the rest of the chunk within delivery_timeout (${this.s.config.delivery_timeout}s): Kafka is slow or unreachable` };
      }
      const { events, next } = decodeEventsFrom(chunk.data, at, perPiece);
      at = next;
      const items: Item[] = [];
      const refused: string[] = [];
      for (const e of events) {
        const index = i++;
        if (acked?.has(index)) {
          job.acked.add(index);
          this.stats.skipped++;
          continue;
        }
        const topic = this.s.topic(e, chunk.tag) ?? (fallback || undefined);
        const enc = topic === undefined
          ? { ok: false as const, reason: `lacks a field the topic template ${JSON.stringify(this.s.config.topic)} names, and default_topic is empty` }
          : this.encoder.encode(e, chunk.tag, topic);
        if (enc.ok) items.push({ message: enc.message, bytes: enc.bytes, job, original: true, index });
        else if (dlq) items.push(this.deadLetter(job, e, index, enc.reason, topic));
        else refused.push(`event ${index}: ${enc.reason}`);
      }
      if (refused.length) {
        const more = refused.length > 1 ? ` (and ${refused.length - 1} more)` : '';
        return { status: 'error', message: `${refused[0]}${more}; set dead_letter_topic to send such events there instead` };
      }
      job.add(items.length);
      this.enqueue(items);
    }
    return undefined;
  }

  /** True when `bytes` more fit under max_buffered_bytes; anything fits when nothing is held, or it could never go. */
  private fits(bytes: number): boolean {
    return this.bufferedBytes === 0 || this.bufferedBytes + bytes <= this.s.config.max_buffered_bytes;
  }

  /** Resolves when a request ends (room may have come), or at the deadline: false then. */
  private wake(deadline: number): Promise<boolean> {
    // No point lingering while memory is full: what waits in the queue goes now.
    this.dispatch(true);
    const left = deadline - Date.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const timer = left === Infinity ? undefined : setTimeout(() => resolve(false), left);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private deadLetter(job: Job, e: Event, index: number, reason: string, topic: string | undefined): Item {
    this.stats.deadLetters++;
    this.log.warn({ chunk: job.chunk.id, event: index, tag: job.chunk.tag, reason, dead_letter_topic: this.s.config.dead_letter_topic }, 'an event Kafka cannot take goes to the dead-letter topic');
    const headers = new Map<string, Buffer>([['sluice.error', Buffer.from(reason)], ['sluice.tag', Buffer.from(job.chunk.tag)]]);
    if (topic !== undefined) headers.set('sluice.topic', Buffer.from(topic));
    const value = jsonValue(e, this.s.config.timestamp_key || '@timestamp', this.s.config.timestamp_format === 'iso8601');
    const message: Message = { topic: this.s.config.dead_letter_topic, value, headers, partition: index, timestamp: BigInt(e.time.sec) * 1000n };
    return { message, bytes: messageBytes(value, undefined, headers), job, original: false, index };
  }

  private enqueue(items: Item[]): void {
    for (const it of items) {
      this.queue.push(it);
      this.queuedWire += it.bytes;
      this.queuedHeld += it.bytes + MESSAGE_MEMORY;
    }
    if (this.draining || this.queuedWire >= this.s.config.batch_size || this.s.config.linger === 0) this.dispatch(this.draining);
    if (this.queue.length && !this.linger) this.linger = setTimeout(() => this.dispatch(true), this.s.config.linger * 1000);
  }

  /** Sends full batches, or (all) everything queued. */
  private dispatch(all: boolean): void {
    if (all || this.s.config.linger === 0) {
      clearTimeout(this.linger);
      this.linger = undefined;
      all = true;
    }
    while (this.queue.length && (all || this.queuedWire >= this.s.config.batch_size)) {
      let bytes = 0;
      let n = 0;
      while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.bytes <= this.s.config.batch_size)) bytes += this.queue[n++]!.bytes;
      const slice = this.queue.splice(0, n);
      this.queuedWire -= bytes;
      this.queuedHeld -= bytes + n * MESSAGE_MEMORY;
      this.send(slice, bytes);
    }
  }

  private send(slice: Item[], bytes: number): void {
    const held = bytes + slice.length * MESSAGE_MEMORY;
    this.sendingHeld += held;
    let released = false;
    // Once its chunks are answered, a request stops counting against max_buffered_bytes even if the client never ends it, or the plugin would stay full.
    const release = () => {
      if (released) return;
      released = true;
      this.sendingHeld -= held;
      const waiting = this.waiters;
      this.waiters = [];
      for (const wake of waiting) wake();
    };
    const started = performance.now();
    let settled = false;
    const settle = (failure?: { status: 'retry' | 'error'; message: string }) => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      for (const it of slice) {
        if (failure) it.job.settle(failure);
        else it.job.delivered(it.index);
      }
      return true;
    };
    // The answer may not wait longer than delivery_timeout.
    const timer = setTimeout(() => {
      this.count('DELIVERY_TIMEOUT');
      settle({ status: 'retry', message: `Kafka did not acknowledge within delivery_timeout (${this.s.config.delivery_timeout}s)` });
      release();
    }, this.s.config.delivery_timeout * 1000);
    const p = this.producer.send({ messages: slice.map((it) => it.message) }).then(
      () => {
        this.latency.observe((performance.now() - started) / 1000);
        this.batchSizes.observe(slice.length);
        this.stats.messages += slice.length;
        this.stats.bytes += bytes;
        if (!settle()) this.log.debug({ messages: slice.length }, 'Kafka acknowledged a batch after its chunks were answered RETRY; they will be sent again (duplicates)');
      },
      (err) => {
        const v = classify(err);
        for (const code of v.codes) this.count(code);
        if (settled) return;
        // Partitions led by other brokers may have taken their part: those events are delivered, not to be sent again.
        const done = this.acknowledged(slice, err);
        if (done.length) {
          const doneBytes = done.reduce((b, it) => b + it.bytes, 0);
          this.stats.messages += done.length;
          this.stats.bytes += doneBytes;
          for (const it of done) it.job.delivered(it.index);
          slice = slice.filter((it) => !done.includes(it));
        }
        if (v.kind === 'record' && slice.length > 1) {
          // One bad event must not hold back the others: halve until it is alone.
          settled = true;
          clearTimeout(timer);
          const half = slice.length >> 1;
          for (const part of [slice.slice(0, half), slice.slice(half)]) this.send(part, part.reduce((b, it) => b + it.bytes, 0));
          return;
        }
        if (v.kind === 'record') {
          const it = slice[0]!;
          if (it.original && this.s.config.dead_letter_topic) {
            settled = true;
            clearTimeout(timer);
            it.job.add(1);
            const event = decodeEvents(it.job.chunk.data)[it.index]!;
            this.enqueue([this.deadLetter(it.job, event, it.index, `refused by Kafka: ${v.message}`, it.message.topic)]);
            it.job.settle();
            return;
          }
          settle({ status: 'error', message: `Kafka refused event ${it.index} of the chunk: ${v.message}; set dead_letter_topic to send such events there instead` });
          return;
        }
        if (v.kind === 'fatal') {
          this.log.error({ error: v.message, codes: v.codes }, 'Kafka refused a produce request; the chunks in it are answered ERROR');
          settle({ status: 'error', message: v.message });
          return;
        }
        this.log.debug({ error: v.message, codes: v.codes }, 'produce failed; the chunks in it are answered RETRY');
        settle({ status: 'retry', message: `produce failed: ${v.message}` });
      },
    ).finally(() => {
      release();
      this.sends.delete(p);
    });
    this.sends.add(p);
  }

  /** The items of a failed send that Kafka acknowledged anyway: those of partitions the error lists as produced. */
  private acknowledged(slice: Item[], err: unknown): Item[] {
    const offsets = (err as { produced?: { offsets?: { topic: string; partition: number }[] } })?.produced?.offsets;
    const meta = this.producer.currentMetadata;
    if (!offsets?.length || !meta || this.s.acks === 0) return [];
    const ok = new Set(offsets.map((o) => `${o.topic}\u0000${o.partition}`));
    return slice.filter((it) => {
      const count = meta.topics.get(it.message.topic)?.partitionsCount;
      // The client's own normalisation: the partition modulo the topic's count.
      return count !== undefined && ok.has(`${it.message.topic}\u0000${it.message.partition % count}`);
    });
  }

  private count(code: string): void {
    this.stats.errors.set(code, (this.stats.errors.get(code) ?? 0) + 1);
  }

  /** Sends everything batched now and waits until Kafka answered it all. */
  async drain(): Promise<void> {
    this.draining = true;
    this.dispatch(true);
    while (this.sends.size) await Promise.allSettled([...this.sends]);
  }

  async close(): Promise<void> {
    clearTimeout(this.linger);
    await this.producer.close().catch((err) => this.log.debug({ err }, 'closing the producer failed'));
  }

  metrics(): MetricSample[] {
    const s = this.stats;
    return [
      { name: 'kafka_messages_total', help: 'Messages acknowledged by Kafka (dead letters included)', value: s.messages },
      { name: 'kafka_bytes_total', help: 'Bytes of keys, values and headers acknowledged by Kafka', value: s.bytes },
      { name: 'kafka_dead_letter_messages_total', help: 'Events sent to dead_letter_topic', value: s.deadLetters },
      { name: 'kafka_retry_skipped_messages_total', help: 'Events of a retried chunk not sent again: Kafka acknowledged them on an earlier attempt', value: s.skipped },
      { name: 'kafka_backpressure_total', help: 'Chunks answered RETRY because max_buffered_bytes was reached', value: s.backpressure },
      { name: 'kafka_buffered_bytes', help: 'Memory held by batched and unacknowledged messages (their bytes and 1 KiB each), bounded by max_buffered_bytes', type: 'gauge', value: this.bufferedBytes },
      ...[...s.errors].map(([code, value]) => ({ name: 'kafka_errors_total', help: 'Failed produce requests and timeouts, by Kafka error code', value, labels: { code } })),
      ...this.batchSizes.samples(),
      ...this.latency.samples(),
    ];
  }
}

// One event → one Kafka message: topic, key, value, headers, partition.
// Pure: no client, no I/O. An event that cannot become a message comes back
// as a reason, for the dead-letter topic or the chunk's ERROR.
import { pack } from 'msgpackr';
import { murmur2 } from '@platformatic/kafka';
import { toJson, type Event } from '../../sdk/src/index.ts';
import { fieldText } from './template.ts';
import type { Settings } from './options.ts';

export interface Message {
  topic: string;
  key?: Buffer;
  value: Buffer;
  headers?: Map<string, Buffer>;
  /** Any non-negative integer: the client takes it modulo the topic's partition count. */
  partition: number;
  timestamp: bigint;
}

/** A message's size as max_message_bytes counts it: value, key and headers, with the record's overhead. */
export function messageBytes(value: Buffer, key: Buffer | undefined, headers: Map<string, Buffer> | undefined): number {
  let bytes = RECORD_OVERHEAD + value.length + (key?.length ?? 0);
  if (headers) for (const [name, b] of headers) bytes += name.length + b.length + 4;
  return bytes;
}

export type Encoded = { ok: true; message: Message; bytes: number } | { ok: false; reason: string };

/** Bytes a record adds to a batch beyond its key, value and headers (varints, attributes, deltas). */
const RECORD_OVERHEAD = 24;

function replacer(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return v;
}

/** The value of an event as JSON, always: the dead-letter topic's format, readable whatever format is. */
export function jsonValue(e: Event, timestampKey: string, iso: boolean): Buffer {
  return Buffer.from(toJson(e.body, timestampKey, timestampKey ? (iso ? e.time.toISOString() : e.time.toNumber()) : 0));
}

// Java-compatible murmur2 (positive 31 bits), as librdkafka's murmur2_random: the same key lands on the same partition from any client.
const hashOf = (b: Buffer): number => murmur2(b) & 0x7fffffff;

export class Encoder {
  private readonly s: Settings;
  private roundRobin = 0;

  constructor(settings: Settings) {
    this.s = settings;
  }

  private value(e: Event): Buffer | string {
    const c = this.s.config;
    switch (c.format) {
      case 'json':
        return jsonValue(e, c.timestamp_key, c.timestamp_format === 'iso8601');
      case 'msgpack': {
        const t = c.timestamp_format === 'iso8601' ? e.time.toISOString() : e.time.toNumber();
        return pack(c.timestamp_key ? { [c.timestamp_key]: t, ...e.body } : e.body);
      }
      case 'raw': {
        const v = e.body[c.raw_log_key];
        if (v === undefined || v === null) return `has no field ${JSON.stringify(c.raw_log_key)} to send raw (raw_log_key)`;
        return Buffer.isBuffer(v) ? v : v instanceof Uint8Array ? Buffer.from(v) : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v, replacer));
      }
    }
  }

  /** topic: where the event goes, already resolved (the template, or default_topic). */
  encode(e: Event, tag: string, topic: string): Encoded {
    let value: Buffer | string;
    try {
      value = this.value(e);
    } catch (err) {
      return { ok: false, reason: `cannot be encoded as ${this.s.config.format}: ${(err as Error).message}` };
    }
    if (typeof value === 'string') return { ok: false, reason: value };
    const keyText = this.s.key?.(e, tag);
    const key = keyText === undefined ? undefined : Buffer.from(keyText);
    let headers: Map<string, Buffer> | undefined;
    for (const [name, t] of this.s.headers) {
      const v = t(e, tag);
      if (v !== undefined) (headers ??= new Map()).set(name, Buffer.from(v));
    }
    const bytes = messageBytes(value, key, headers);
    if (bytes > this.s.config.max_message_bytes) {
      return { ok: false, reason: `is ${bytes} bytes as a message, more than max_message_bytes ${this.s.config.max_message_bytes}` };
    }
    const timestamp = BigInt(e.time.sec) * 1000n + BigInt(Math.floor(e.time.nsec / 1e6));
    return { ok: true, bytes, message: { topic, key, value, headers, partition: this.partition(e, key), timestamp } };
  }

  private partition(e: Event, key: Buffer | undefined): number {
    switch (this.s.config.partitioner) {
      case 'hash':
        return key ? hashOf(key) : this.roundRobin++ & 0x7fffffff;
      case 'round_robin':
        return this.roundRobin++ & 0x7fffffff;
      case 'random':
        return Math.floor(Math.random() * 0x7fffffff);
      case 'hash_keys':
        return hashOf(Buffer.from(this.s.hashKeys.map((path) => fieldText(e.body, path) ?? '').join('\u0000')));
    }
  }
}

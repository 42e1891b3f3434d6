// The kafka output's keys (docs/kafka.md is their manual), and their
// resolution into settings: brokers parsed, templates compiled, TLS files
// read. Everything that can be known without a broker fails here, naming
// the key, so Configure (and `sluice validate`) report it.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import type { ConfigSpec } from '../../sdk/src/index.ts';
import { compileTemplate, isFixed, TemplateError, type Template } from './template.ts';

export const spec = {
  brokers: { type: 'list', required: true, description: 'Bootstrap brokers, host:port (port 9092 if left out), as a list or comma-separated' },
  topic: { type: 'string', default: 'sluice', description: 'Topic; a template: logs-${tag}, ${tag[1]}, ${record.service}' },
  default_topic: { type: 'string', default: '', description: 'Topic for events that lack a field the topic template names; empty: such an event is dead-lettered (or fails its chunk)' },
  message_key: { type: 'string', default: '', description: 'Message key: a body field (a.b for nested) or a template with ${...}; empty for no key' },
  partitioner: { type: 'string', default: 'hash', oneOf: ['hash', 'round_robin', 'random', 'hash_keys'], description: 'hash: murmur2 of the key as the Java client (keyless messages round-robin); round_robin; random; hash_keys: murmur2 of the fields in hash_keys' },
  hash_keys: { type: 'list', default: [], description: 'Body fields hashed together to pick the partition, with partitioner hash_keys' },
  format: { type: 'string', default: 'json', oneOf: ['json', 'msgpack', 'raw'], description: 'Message value: the body as JSON or MessagePack, or one field raw (raw_log_key)' },
  raw_log_key: { type: 'string', default: 'log', description: 'The body field sent as the value with format raw' },
  timestamp_key: { type: 'string', default: '@timestamp', description: 'Key that holds the event time in json and msgpack values; empty to leave it out' },
  timestamp_format: { type: 'string', default: 'double', oneOf: ['double', 'iso8601'], description: 'The time under timestamp_key: seconds as a float, or ISO 8601 with nanoseconds' },
  headers: { type: 'map', default: {}, description: 'Message headers; values are templates, so a header can copy a field: {env: prod, service: "${record.service}"}. A header whose field is missing is left out' },
  compression: { type: 'string', default: 'none', oneOf: ['none', 'gzip', 'snappy', 'lz4', 'zstd'], description: 'Compression of each produced batch' },
  acks: { type: 'string', default: 'all', oneOf: ['0', '1', 'all', '-1'], description: 'Acknowledgement a chunk waits for: all in-sync replicas (all), the leader (1), or none (0: OK once written to the socket)' },
  idempotent: { type: 'bool', default: false, description: 'Idempotent producer: a retried request is written once per partition (needs acks all)' },
  batch_size: { type: 'size', default: 1_000_000, min: 1024, description: 'Largest produce request the plugin builds; at most max_message_bytes' },
  linger: { type: 'duration', default: 0.005, min: 0, description: 'How long a batch smaller than batch_size waits for more events from other chunks' },
  max_message_bytes: { type: 'size', default: 1_000_000, min: 128, description: 'Largest single message (key, value and headers); a larger event goes to dead_letter_topic, or fails its chunk' },
  dead_letter_topic: { type: 'string', default: '', description: 'Topic for events Kafka cannot take (too large, cannot be encoded, no topic); empty: such an event fails its chunk with ERROR' },
  client_id: { type: 'string', default: 'sluice', description: 'client.id sent to the brokers' },
  connect_timeout: { type: 'duration', default: 10, min: 0.1, description: 'Bound on opening a connection to a broker' },
  request_timeout: { type: 'duration', default: 30, min: 0.1, description: 'Bound on one request to a broker' },
  delivery_timeout: { type: 'duration', default: 30, min: 0.1, description: 'Bound on delivering a chunk, retries included; then the chunk is answered RETRY. Keep it below the output\'s flush_timeout' },
  retries: { type: 'int', default: 3, min: 2, description: 'Retries of a failed produce request inside one delivery (leader moves, timeouts) before the chunk is answered RETRY' },
  retry_backoff: { type: 'duration', default: 0.25, min: 0, description: 'Wait between those retries' },
  max_buffered_bytes: { type: 'size', default: 64 * 1024 * 1024, min: 1024, description: 'Memory held by messages in the plugin, batched or unacknowledged (each counts as its bytes plus 1 KiB); a chunk that does not fit waits up to 5 s, then is answered RETRY with retry_after, and the backlog stays in sluice\'s buffers' },
  auto_create_topics: { type: 'bool', default: true, description: 'Ask brokers to create missing topics (the broker\'s auto.create.topics.enable decides)' },
  startup_check: { type: 'string', default: 'retry', oneOf: ['fail', 'retry', 'off'], description: 'At start, fetch metadata (for topic when it is fixed): fail refuses to start when brokers are unreachable; retry logs the error and answers RETRY until they are reachable' },
  tls: { type: 'bool', default: false, description: 'Connect with TLS' },
  'tls.verify': { type: 'bool', default: true, description: 'Verify the brokers\' certificates and names' },
  'tls.ca_file': { type: 'string', default: '', description: 'CA certificates (PEM) to verify brokers with, instead of the system\'s' },
  'tls.crt_file': { type: 'string', default: '', description: 'Client certificate (PEM), for mutual TLS' },
  'tls.key_file': { type: 'string', default: '', description: 'Client private key (PEM), for mutual TLS' },
  'tls.vhost': { type: 'string', default: '', description: 'Server name for SNI and verification, when it differs from the broker\'s host' },
  'sasl.mechanism': { type: 'string', default: '', oneOf: ['', 'PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'], description: 'SASL mechanism; empty for none' },
  'sasl.username': { type: 'string', default: '', description: 'SASL user name' },
  'sasl.password': { type: 'string', default: '', secret: true, description: 'SASL password' },
} satisfies ConfigSpec;

export interface Config {
  brokers: string[];
  topic: string;
  default_topic: string;
  message_key: string;
  partitioner: 'hash' | 'round_robin' | 'random' | 'hash_keys';
  hash_keys: string[];
  format: 'json' | 'msgpack' | 'raw';
  raw_log_key: string;
  timestamp_key: string;
  timestamp_format: 'double' | 'iso8601';
  headers: { [k: string]: unknown };
  compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  acks: '0' | '1' | 'all' | '-1';
  idempotent: boolean;
  batch_size: number;
  linger: number;
  max_message_bytes: number;
  dead_letter_topic: string;
  client_id: string;
  connect_timeout: number;
  request_timeout: number;
  delivery_timeout: number;
  retries: number;
  retry_backoff: number;
  max_buffered_bytes: number;
  auto_create_topics: boolean;
  startup_check: 'fail' | 'retry' | 'off';
  tls: boolean;
  'tls.verify': boolean;
  'tls.ca_file': string;
  'tls.crt_file': string;
  'tls.key_file': string;
  'tls.vhost': string;
  'sasl.mechanism': '' | 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  'sasl.username': string;
  'sasl.password': string;
}

export interface Settings {
  config: Config;
  brokers: string[];
  topic: Template;
  /** The one topic every event goes to, when topic has no ${...}: the startup check's. */
  fixedTopic?: string;
  key?: Template;
  headers: [string, Template][];
  hashKeys: string[][];
  acks: 0 | 1 | -1;
  tls?: ConnectionOptions;
}

export interface KeyError {
  key: string;
  message: string;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(?::(\d{1,5}))?$/;

export function parseBrokers(list: string[]): { brokers: string[]; error?: string } {
  const brokers: string[] = [];
  for (const item of list.flatMap((s) => String(s).split(','))) {
    const s = item.trim();
    if (!s) continue;
    const m = HOST_PORT.exec(s.replace(/^[a-z]+:\/\//i, ''));
    const port = m ? Number(m[2] ?? 9092) : NaN;
    if (!m || !(port >= 1 && port <= 65535)) return { brokers, error: `${JSON.stringify(s)} is not host:port (example: kafka-1.internal:9092)` };
    brokers.push(`${m[1]}:${port}`);
  }
  if (brokers.length === 0) return { brokers, error: 'names no broker (example: kafka-1:9092,kafka-2:9092)' };
  return { brokers };
}

function template(key: string, text: string, errors: KeyError[]): Template | undefined {
  try {
    return compileTemplate(text);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    errors.push({ key, message: err.message });
    return undefined;
  }
}

function readPem(key: string, file: string, errors: KeyError[]): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    errors.push({ key, message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    return undefined;
  }
}

/** Settings from a config its spec already accepted, or the errors of every key that is wrong. */
export function resolve(config: Config): { settings?: Settings; errors: KeyError[] } {
  const errors: KeyError[] = [];
  const { brokers, error } = parseBrokers(config.brokers);
  if (error) errors.push({ key: 'brokers', message: error });
  if (config.topic === '') errors.push({ key: 'topic', message: 'must not be empty' });
  const topic = template('topic', config.topic, errors);
  if (config.default_topic && !isFixed(config.default_topic)) errors.push({ key: 'default_topic', message: 'must be a plain topic name, not a template (it is the fallback when a template cannot be filled)' });
  if (config.dead_letter_topic && !isFixed(config.dead_letter_topic)) errors.push({ key: 'dead_letter_topic', message: 'must be a plain topic name, not a template' });
  let key: Template | undefined;
  if (config.message_key) {
    key = isFixed(config.message_key) ? template('message_key', `\${record.${config.message_key}}`, errors) : template('message_key', config.message_key, errors);
  }
  const headers: [string, Template][] = [];
  for (const [name, value] of Object.entries(config.headers)) {
    if (value !== null && typeof value === 'object') {
      errors.push({ key: `headers.${name}`, message: 'must be a string (a template), not a list or map' });
      continue;
    }
    const t = template(`headers.${name}`, String(value ?? ''), errors);
    if (t) headers.push([name, t]);
  }
  if (config.partitioner === 'hash_keys' && config.hash_keys.length === 0) errors.push({ key: 'hash_keys', message: 'names no field; partitioner hash_keys hashes these body fields (example: [namespace, pod])' });
  if (config.partitioner !== 'hash_keys' && config.hash_keys.length > 0) errors.push({ key: 'hash_keys', message: `is used only with partitioner hash_keys (partitioner is ${config.partitioner})` });
  const acks = config.acks === 'all' || config.acks === '-1' ? -1 : (Number(config.acks) as 0 | 1);
  if (config.idempotent && acks !== -1) errors.push({ key: 'idempotent', message: `needs acks all (acks is ${config.acks}): Kafka refuses an idempotent producer with fewer acknowledgements` });
  if (config.batch_size > config.max_message_bytes) errors.push({ key: 'batch_size', message: `${config.batch_size} is larger than max_message_bytes ${config.max_message_bytes}: a full batch for one partition would be refused` });
  if (config.format === 'raw' && !config.raw_log_key) errors.push({ key: 'raw_log_key', message: 'must name a body field with format raw' });

  let tls: ConnectionOptions | undefined;
  const tlsFiles = (['tls.ca_file', 'tls.crt_file', 'tls.key_file'] as const).filter((k) => config[k]);
  if (!config.tls && tlsFiles.length > 0) errors.push({ key: tlsFiles[0]!, message: 'is set but tls is off; set tls: on' });
  if (config.tls) {
    const ca = readPem('tls.ca_file', config['tls.ca_file'], errors);
    const cert = readPem('tls.crt_file', config['tls.crt_file'], errors);
    const keyPem = readPem('tls.key_file', config['tls.key_file'], errors);
    if (!!config['tls.crt_file'] !== !!config['tls.key_file']) {
      errors.push({ key: config['tls.crt_file'] ? 'tls.key_file' : 'tls.crt_file', message: 'mutual TLS needs both tls.crt_file and tls.key_file' });
    }
    tls = { ca, cert, key: keyPem, rejectUnauthorized: config['tls.verify'] };
    if (config['tls.vhost']) tls.servername = config['tls.vhost'];
    if (ca && !errors.some((e) => e.key === 'tls.ca_file')) {
      // Node ignores a CA file with no certificate in it; verification would then fail at every connection.
      const pems = ca.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      try {
        if (pems.length === 0) throw new Error('no PEM certificate (-----BEGIN CERTIFICATE-----) in it');
        for (const pem of pems) new X509Certificate(pem);
      } catch (err) {
        errors.push({ key: 'tls.ca_file', message: `${config['tls.ca_file']} is not usable: ${(err as Error).message}` });
      }
    }
    if (!errors.some((e) => e.key.startsWith('tls.'))) {
      try {
        // Catches a PEM that does not parse and a key that does not belong to the certificate.
        createSecureContext({ ca, cert, key: keyPem });
      } catch (err) {
        errors.push({ key: cert ? 'tls.key_file' : 'tls.ca_file', message: `TLS files are not usable together: ${(err as Error).message}` });
      }
    }
  }
  const mech = config['sasl.mechanism'];
  if (mech && (!config['sasl.username'] || !config['sasl.password'])) errors.push({ key: config['sasl.username'] ? 'sasl.password' : 'sasl.username', message: `is required with sasl.mechanism ${mech}` });
  if (!mech && (config['sasl.username'] || config['sasl.password'])) errors.push({ key: 'sasl.mechanism', message: 'is empty but sasl.username or sasl.password is set; set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512' });

  if (errors.length || !topic) return { errors };
  return {
    errors,
    settings: {
      config,
      brokers,
      topic,
      fixedTopic: isFixed(config.topic) ? config.topic : undefined,
      key,
      headers,
      hashKeys: config.hash_keys.map((f) => String(f).split('.')),
      acks,
      tls,
    },
  };
}

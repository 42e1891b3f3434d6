// What a failed produce means for the chunk: try again later (RETRY), never
// (ERROR, with what the operator must change), or one of its events is bad
// (the batch is split to find it). The client's own canRetry is not enough:
// it marks its request timeouts not retriable, where for sluice a timeout is
// the textbook RETRY.

export type Verdict =
  | { kind: 'retry'; message: string; codes: string[] }
  | { kind: 'fatal'; message: string; codes: string[] }
  | { kind: 'record'; message: string; codes: string[] };

/** Errors no retry can fix: each with what to do about it. */
const FATAL: { [id: string]: string } = {
  TOPIC_AUTHORIZATION_FAILED: 'the client may not write to this topic: grant WRITE on it to this principal (kafka-acls --add --operation Write --topic ...)',
  CLUSTER_AUTHORIZATION_FAILED: 'the client lacks a cluster permission it needs (IdempotentWrite for idempotent: on): grant it, or set idempotent: off',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'the client may not use its transactional id: grant it',
  SASL_AUTHENTICATION_FAILED: 'the brokers refused the SASL credentials: check sasl.username, sasl.password and sasl.mechanism',
  UNSUPPORTED_SASL_MECHANISM: 'the brokers do not offer this sasl.mechanism: use one their listener enables',
  ILLEGAL_SASL_STATE: 'SASL negotiation failed: check that the listener expects SASL',
  UNKNOWN_TOPIC_OR_PARTITION: 'the topic does not exist and the brokers did not create it: create it, enable auto.create.topics.enable on the brokers, or route these events elsewhere (topic, default_topic)',
  INVALID_TOPIC_EXCEPTION: 'the topic name is not valid in Kafka (letters, digits, ".", "_", "-", at most 249): fix topic or the fields its template uses',
  INVALID_REQUIRED_ACKS: 'the brokers refuse this acks value: use 0, 1 or all',
  UNSUPPORTED_VERSION: 'the brokers do not support a request this client needs: upgrade the brokers (Kafka 2.1 or newer)',
  UNSUPPORTED_COMPRESSION_TYPE: 'the brokers or topic do not accept this compression: pick another, or upgrade the brokers',
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 'the topic\'s message format is too old for this producer: raise its message.format.version',
  POLICY_VIOLATION: 'a broker policy refused the request',
};

/** Errors about the records themselves: one event (or the batch's size) is the problem. */
const RECORD = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TIMESTAMP']);

interface Node {
  message?: string;
  code?: string;
  apiId?: string;
  serverErrorMessage?: string | null;
  errors?: unknown[];
  cause?: unknown;
}

/** Every error in the tree the client builds (MultipleErrors, ResponseError, causes). */
function leaves(err: unknown, out: Node[] = [], depth = 0): Node[] {
  if (!err || typeof err !== 'object' || depth > 8) return out;
  const e = err as Node;
  const children = [...(Array.isArray(e.errors) ? e.errors : []), ...(e.cause ? [e.cause] : [])];
  if (children.length === 0 || e.apiId) out.push(e);
  for (const c of children) leaves(c, out, depth + 1);
  return out;
}

/** A short code per error for metrics: the Kafka error name, or network/timeout/client. */
function codeOf(n: Node): string {
  if (n.apiId) return n.apiId;
  if (n.code === 'PLT_KFK_AUTHENTICATION') return 'AUTHENTICATION';
  if (n.code === 'PLT_KFK_NETWORK' && /timeout|timed out/i.test(n.message ?? '')) return 'TIMEOUT';
  if (n.code === 'PLT_KFK_NETWORK') return 'NETWORK';
  if (n.code === 'PLT_KFK_TIMEOUT') return 'TIMEOUT';
  return n.code?.replace(/^PLT_KFK_/, '') || 'CLIENT';
}

function describe(n: Node): string {
  const server = n.serverErrorMessage ? ` (${n.serverErrorMessage})` : '';
  return `${n.apiId ?? n.code ?? 'error'}: ${n.message ?? ''}${server}`;
}

export function classify(err: unknown): Verdict {
  const all = leaves(err);
  const codes = [...new Set(all.map(codeOf))];
  const fatal = all.find((n) => (n.apiId && FATAL[n.apiId]) || n.code === 'PLT_KFK_AUTHENTICATION');
  if (fatal) {
    const advice = fatal.apiId ? FATAL[fatal.apiId] : 'authentication with the brokers failed: check the sasl.* and tls.* keys';
    return { kind: 'fatal', codes, message: `${describe(fatal)}; ${advice}` };
  }
  const record = all.find((n) => n.apiId && RECORD.has(n.apiId));
  if (record) return { kind: 'record', codes, message: describe(record) };
  const last = all[all.length - 1];
  const text = last ? describe(last) : String((err as Error)?.message ?? err);
  return { kind: 'retry', codes: codes.length ? codes : ['CLIENT'], message: text };
}

// The process contract shared by the host and the SDK (docs/protocol.md).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Environment variable and value every sluice plugin must see, as go-plugin's magic cookie. */
export const MAGIC_COOKIE_KEY = 'SLUICE_PLUGIN_MAGIC_COOKIE';
export const MAGIC_COOKIE_VALUE = 'c4a1d3f0e7b24e4e9d6a0b5f8e2c7a91';

/** go-plugin's core protocol version: the first field of the handshake line. */
export const CORE_PROTOCOL_VERSION = 1;
/**
 * sluice's own output protocol versions, newest last. 2: sends carry a
 * send_seq that answers echo, Drain is a marker on the Flush stream, and
 * Configure can validate only. The host still speaks 1 to plugins that only
 * offer it.
 */
export const APP_PROTOCOL_VERSIONS = [1, 2];

/** grpc-js refuses messages over 4 MiB by default; chunks are ~2 MiB plus one long line. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/**
 * The HTTP/2 receive window (per stream and per connection). At the default
 * 64 KiB a 2 MiB chunk waits for 32 WINDOW_UPDATEs on its one Flush stream;
 * 16 MiB (8 chunks) halved both ends' CPU per chunk on a unix socket.
 */
export const FLOW_CONTROL_WINDOW = 16 * 1024 * 1024;
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // Honoured by grpc-js clients only (1.14); serve() widens its server's window itself.
  'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
};

/** The capability a plugin declares in Describe to be sent chunks by reference (FlushRequest.ref). */
export const CHUNK_REF_CAPABILITY = 'chunk_ref';

/** pino's numeric levels, as plugins log them on stderr (docs/protocol.md §4). */
export const PINO_LEVELS: { readonly [n: number]: string } = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** The file descriptor on which the host hands a plugin its own stdout (used by the stdout plugin). */
export const HOST_STDOUT_FD_ENV = 'SLUICE_HOST_STDOUT_FD';

export const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));

// Shared by both ends so that field names and enum spellings cannot drift.
const packageDefinition = protoLoader.loadSync(
  ['sluice/plugin/v1/output.proto', 'plugin/grpc_controller.proto', 'grpc/health/v1/health.proto'],
  { includeDirs: [PROTO_DIR], keepCase: true, longs: Number, enums: String, defaults: true },
);
const loaded = grpc.loadPackageDefinition(packageDefinition) as any;

export const OutputService: grpc.ServiceClientConstructor = loaded.sluice.plugin.v1.Output;
export const ControllerService: grpc.ServiceClientConstructor = loaded.plugin.GRPCController;
export const HealthService: grpc.ServiceClientConstructor = loaded.grpc.health.v1.Health;

export type FlushStatus = 'OK' | 'RETRY' | 'ERROR';

/** Where a chunk's events are: `length` bytes at `offset` of the file `path`. */
export interface ChunkRef {
  path: string;
  offset: number;
  length: number;
  crc32: number;
}

export interface FlushRequest {
  chunk_id: string;
  tag: string;
  /** Empty when `ref` is set. */
  events: Buffer;
  count: number;
  attempt: number;
  /** Version 2; 0 in version 1. */
  send_seq?: number;
  /** Version 2: a drain marker instead of a chunk. */
  drain?: boolean;
  deadline_ms?: number;
  /** The events by reference, for a plugin that declared chunk_ref; null (as decoded) or absent otherwise. */
  ref?: ChunkRef | null;
}

export interface FlushResult {
  chunk_id: string;
  status: FlushStatus | string | number;
  message: string;
  retry_after_ms: number;
  /** Version 2: the send this answers. */
  send_seq?: number;
  /** Version 2: the answer to a drain marker. */
  drained?: boolean;
  /** The send's ref could not be read: the host sends the chunk again by bytes. */
  ref_unreadable?: boolean;
}

export interface ConfigKeyInfo {
  name: string;
  type: string;
  default: string;
  required: boolean;
  secret: boolean;
  description: string;
}

export interface DescribeResponse {
  name: string;
  version: string;
  description: string;
  config: ConfigKeyInfo[];
  capabilities: string[];
}

export interface ConfigError {
  key: string;
  message: string;
}

export interface PluginMetric {
  name: string;
  help: string;
  type: string;
  value: number;
  labels: { [k: string]: string };
}

/** `1|<app-version>|unix|<path>|grpc` */
export function formatHandshake(appVersion: number, network: 'unix' | 'tcp', address: string): string {
  return `${CORE_PROTOCOL_VERSION}|${appVersion}|${network}|${address}|grpc`;
}

export interface Handshake {
  coreVersion: number;
  appVersion: number;
  network: 'unix' | 'tcp';
  address: string;
  protocol: string;
  serverCert?: string;
}

/** Parses a handshake line; throws a message that says what was wrong with it. */
export function parseHandshake(line: string, supported: number[] = APP_PROTOCOL_VERSIONS): Handshake {
  const parts = line.trim().split('|');
  if (parts.length < 5 || parts.length > 6) {
    throw new Error(`expected "1|<app-version>|unix|<path>|grpc", got ${JSON.stringify(line.slice(0, 200))}`);
  }
  const [core, app, network, address, protocol, serverCert] = parts as [string, string, string, string, string, string?];
  if (Number(core) !== CORE_PROTOCOL_VERSION) {
    throw new Error(`core protocol version ${JSON.stringify(core)} is not ${CORE_PROTOCOL_VERSION}`);
  }
  const appVersion = Number(app);
  if (!supported.includes(appVersion)) {
    throw new Error(`plugin speaks protocol version ${JSON.stringify(app)}; this host speaks ${supported.join(', ')}`);
  }
  if (network !== 'unix' && network !== 'tcp') throw new Error(`network must be unix or tcp, got ${JSON.stringify(network)}`);
  if (protocol !== 'grpc') throw new Error(`protocol must be grpc, got ${JSON.stringify(protocol)}`);
  if (!address) throw new Error('empty address');
  return { coreVersion: CORE_PROTOCOL_VERSION, appVersion, network, address, protocol, ...(serverCert ? { serverCert } : {}) };
}

/** The highest version both sides speak, or undefined. */
export function negotiateVersion(offered: string | undefined, ours: number[] = APP_PROTOCOL_VERSIONS): number | undefined {
  const theirs = (offered ?? '').split(',').map((v) => Number(v.trim())).filter(Number.isInteger);
  return ours.filter((v) => theirs.includes(v)).sort((a, b) => b - a)[0];
}

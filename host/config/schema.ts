// The host's own config keys, each with its documented default
// (docs/configuration.md is written from these).
import type { ConfigSpec } from '../../sdk/src/config-spec.ts';
import { LOG_FORMATS, LOG_LEVELS } from '../log.ts';

export const SERVICE_SPEC: ConfigSpec = {
  flush: { type: 'duration', default: 1, min: 0.01, description: 'Seal open chunks and hand them to outputs at least this often (seconds)' },
  grace: { type: 'duration', default: 5, min: 0, description: 'On shutdown, how long outputs may take to deliver what is pending (seconds)' },
  log_level: { type: 'string', default: 'info', oneOf: LOG_LEVELS, description: 'off, error, warn, info, debug or trace' },
  log_format: { type: 'string', default: 'auto', oneOf: LOG_FORMATS, description: 'json: one JSON object a line (pino); text: time, level, [component], message, key=value; auto: text on a terminal, json otherwise' },
  http_server: { type: 'bool', default: false, description: 'Serve the HTTP API and Prometheus metrics' },
  http_listen: { type: 'string', default: '127.0.0.1', description: 'Address of the HTTP API' },
  http_port: { type: 'int', default: 2020, min: 0, description: 'Port of the HTTP API (0 picks a free port)' },
  health_check: { type: 'bool', default: false, description: 'The health endpoints also answer 500 when outputs fail more than hc_errors_count or hc_retry_failure_count times within hc_period' },
  hc_errors_count: { type: 'int', default: 5, min: 0, description: 'With health_check: ERROR answers within hc_period above which sluice is unhealthy' },
  hc_retry_failure_count: { type: 'int', default: 5, min: 0, description: 'With health_check: chunks that exhausted their retries within hc_period above which sluice is unhealthy' },
  hc_period: { type: 'int', default: 60, min: 1, description: 'The window of the health thresholds (seconds); also how long an output may be without a running plugin before sluice is unhealthy' },
  'scheduler.base': { type: 'duration', default: 5, min: 0, description: 'Smallest wait before a retry (seconds)' },
  'scheduler.cap': { type: 'duration', default: 2000, min: 0, description: 'Largest wait before a retry (seconds)' },
  'reload.drain_timeout': { type: 'duration', default: 30, min: 0.1, description: 'On a reload, how long a changed or removed output may take to answer its in-flight chunks before its plugin is killed (its chunks then go to the new instance)' },
  'storage.path': { type: 'string', description: 'Directory for filesystem chunks, delivery progress, quarantine and dead letters; required by storage.type: filesystem' },
  'storage.sync': { type: 'string', default: 'normal', oneOf: ['normal', 'full'], description: 'normal: chunk files go to the OS (survive a crash of sluice); full: also fsync (survive a power loss)' },
  'storage.checksum': { type: 'bool', default: true, description: 'Verify each chunk file\'s CRC32 when loading it at start' },
  'storage.max_chunks_up': { type: 'int', default: 128, min: 1, description: 'Chunks held in memory; filesystem chunks over this go down to disk, memory inputs pause' },
  'storage.max_memory': { type: 'size', default: 256 * 1024 * 1024, description: 'Bytes all chunks together may hold in memory (open chunks\' buffers and sealed chunks that are up); over it, filesystem chunks go down to disk and inputs that hold memory pause; 0 for no ceiling' },
  'storage.keep.rejected': { type: 'bool', default: false, description: 'Keep chunks that an output gave up on in a dead-letter directory' },
  'storage.rejected.path': { type: 'string', description: 'The dead-letter directory (default: <storage.path>/rejected)' },
  parsers_file: { type: 'any', description: 'Files of parser definitions (classic [PARSER] sections or YAML parsers:), relative to the file that names them; a list, or the key repeated' },
};

export const INPUT_COMMON_SPEC: ConfigSpec = {
  name: { type: 'string', required: true, description: 'Input type: tail, dummy, stdin, http, tcp or forward' },
  alias: { type: 'string', description: 'Instance name in logs and metrics (default: <name>.<index>)' },
  tag: { type: 'string', description: 'Tag of the events (default: the instance name)' },
  mem_buf_limit: { type: 'size', default: 32 * 1024 * 1024, description: 'With memory storage: bytes this input\'s chunks may hold in memory (open chunks\' buffers included) before it is paused; 0 for no limit' },
  'storage.type': { type: 'string', default: 'memory', oneOf: ['memory', 'filesystem'], description: 'memory: chunks live in memory only; filesystem: each chunk is also a file under storage.path and survives a crash' },
  'storage.pause_on_chunks_overlimit': { type: 'bool', default: false, description: 'With filesystem storage: pause the input when storage.max_chunks_up is reached, instead of putting chunks down to disk' },
};

export const CHUNK_HANDOVERS = ['auto', 'bytes'] as const;

export const OUTPUT_COMMON_SPEC: ConfigSpec = {
  name: { type: 'string', required: true, description: 'Plugin: a bundled one (stdout, file, null, counter, kafka, forward) or a key of plugins:' },
  alias: { type: 'string', description: 'Instance name in logs and metrics (default: <name>.<index>)' },
  match: { type: 'string', description: 'Tags to deliver, with * as wildcard' },
  match_regex: { type: 'string', description: 'Tags to deliver, as a regular expression' },
  workers: { type: 'int', default: 2, min: 1, description: 'Chunks in flight to the plugin at once' },
  retry_limit: { type: 'any', default: 5, description: 'Retries per chunk: a number, no_limits (or false) for no limit, no_retries for none' },
  flush_timeout: { type: 'duration', default: 60, min: 0.01, description: 'A plugin that leaves a chunk unanswered this long is hung: it is restarted and its chunks are sent again without spending retries (seconds)' },
  start_timeout: { type: 'duration', default: 10, min: 0.01, description: 'How long the plugin may take to print its handshake (seconds)' },
  start_retries: { type: 'any', default: 3, description: 'At startup (and for a reload), sluice gives up after this many failed starts of the plugin in a row and exits (the reload is refused); no_limits (or false): keep retrying with backoff while the rest runs' },
  health_check_interval: { type: 'duration', default: 10, min: 0.1, description: 'Health check period; three failures in a row restart the plugin (seconds)' },
  'storage.total_limit_size': { type: 'size', default: 0, description: 'Chunk bytes this output may hold; over it, its oldest queued chunks are dropped for this output (counted); 0 for no limit' },
  stop_grace: { type: 'duration', default: 5, min: 0, description: 'After the Shutdown call, how long before the plugin process group gets SIGTERM, then SIGKILL (seconds)' },
  chunk_handover: { type: 'string', default: 'auto', oneOf: CHUNK_HANDOVERS, description: 'auto: a plugin on this machine that declares chunk_ref gets each chunk as a reference to a file, not as bytes over gRPC; bytes: always the bytes. The environment variable SLUICE_CHUNK_HANDOVER changes the default' },
};

export const FILTER_COMMON_SPEC: ConfigSpec = {
  name: { type: 'string', required: true, description: 'Filter type' },
  alias: { type: 'string', description: 'Instance name in logs and metrics (default: <name>.<index>)' },
  match: { type: 'string', description: 'Tags of the events to filter, with * as wildcard' },
  match_regex: { type: 'string', description: 'Tags of the events to filter, as a regular expression' },
};

export const PLUGIN_ENTRY_SPEC: ConfigSpec = {
  command: { type: 'any', required: true, description: 'The plugin executable and its arguments, as a list (or one string without arguments)' },
  env: { type: 'map', default: {}, description: 'Extra environment variables for the plugin process' },
};

export const TOP_LEVEL_KEYS = ['env', 'includes', 'service', 'pipeline', 'plugins', 'parsers', 'multiline_parsers'];
export const PIPELINE_KEYS = ['inputs', 'filters', 'outputs'];

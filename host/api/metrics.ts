// Every counter sluice exposes, in Fluent Bit's naming with the sluice_ prefix.
import { Counter, Gauge, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  private c(name: string, help: string, labelNames: string[]) {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
  private g(name: string, help: string, labelNames: string[]) {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
  readonly inputRecords = this.c('sluice_input_records_total', 'Events read by an input', ['name']);
  readonly inputBytes = this.c('sluice_input_bytes_total', 'Encoded bytes read by an input', ['name']);
  readonly inputPaused = this.c('sluice_input_paused_total', 'Times an input was paused by backpressure (mem_buf_limit, storage.max_chunks_up or storage.max_memory)', ['name']);
  readonly inputTruncated = this.c('sluice_input_truncated_records_total', 'Lines longer than buffer_max_size, truncated', ['name']);
  readonly inputSkipped = this.c('sluice_input_skipped_records_total', 'Lines dropped by skip_long_lines', ['name']);
  readonly inputMultiline = this.c('sluice_input_multiline_records_total', 'tail multiline.parser / docker_mode records by kind: joined (of several pieces), flushed (pieces emitted after multiline.flush or at a stop without their last piece), split (pieces over the 512 KiB bound), unparsed (lines in no format of the list, passed on as they are), bad_time (time not readable; the read time is used)', ['name', 'kind']);
  readonly inputInvalidUtf8 = this.c('sluice_input_invalid_utf8_records_total', 'Lines that were not valid UTF-8 (invalid bytes replaced with U+FFFD)', ['name']);
  readonly inputRejected = this.c('sluice_input_rejected_records_total', 'Records a network input refused and dropped, by reason: invalid_json, not_an_object, too_long (tcp); not_a_map, undecodable (forward)', ['name', 'reason']);
  readonly inputConnections = this.g('sluice_input_connections', 'Open connections to a network input (tcp, http, forward)', ['name']);
  readonly inputConnectionErrors = this.c('sluice_input_connection_errors_total', 'Connections a network input closed because of what the peer sent, by reason: malformed, too_large, bad_gzip, unsupported, auth_failed, handshake (forward)', ['name', 'reason']);
  readonly httpRequests = this.c('sluice_input_http_requests_total', 'Requests the http input answered, by status code', ['name', 'code']);
  readonly unrouted = this.c('sluice_input_unrouted_records_total', 'Events whose tag matched no output (dropped)', ['name']);
  readonly inputIsPaused = this.g('sluice_input_paused', '1 while the input is paused by backpressure', ['name']);

  readonly parserUnmatched = this.c('sluice_parser_unmatched_records_total', 'Records whose text no parser matched (they go on unchanged), by the input (its parser key) or the parser filter', ['name']);
  readonly parserTimeErrors = this.c('sluice_parser_time_errors_total', 'Parsed records whose time field did not match time_format (they keep the field and the time they were read), by input or filter', ['name']);
  readonly filterRecords = this.c('sluice_filter_records_total', 'Events a filter was given', ['name']);
  readonly filterDropped = this.c('sluice_filter_drop_records_total', 'Events a filter dropped (grep, throttle, ...)', ['name']);
  readonly filterEmitted = this.c('sluice_filter_emit_records_total', 'Events a filter re-emitted (rewrite_tag under a new tag, multiline joined records)', ['name']);

  readonly outRecords = this.c('sluice_output_proc_records_total', 'Events an output delivered (answered OK)', ['name']);
  readonly outBytes = this.c('sluice_output_proc_bytes_total', 'Encoded bytes an output delivered', ['name']);
  readonly outErrors = this.c('sluice_output_errors_total', 'Chunks an output answered ERROR', ['name']);
  readonly outRetries = this.c('sluice_output_retries_total', 'Chunk retries scheduled (the plugin answered RETRY)', ['name']);
  readonly outTimeouts = this.c('sluice_output_timeouts_total', 'Times a plugin left a chunk unanswered for flush_timeout and was restarted as hung (its chunks are sent again, retries not spent)', ['name']);
  readonly outRetriesFailed = this.c('sluice_output_retries_failed_total', 'Chunks that exhausted retry_limit', ['name']);
  readonly outDropped = this.c('sluice_output_dropped_records_total', 'Events an output gave up on, by reason: error, retries_exhausted, total_limit_size, output_removed (dead-lettered ones included)', ['name', 'reason']);
  readonly outDeadLetters = this.c('sluice_output_dead_letter_chunks_total', 'Chunks kept in the dead-letter store (storage.keep.rejected)', ['name']);
  readonly outRequeued = this.c('sluice_output_requeued_records_total', 'Events in flight when their plugin process died or hung, sent again (not a retry)', ['name']);
  readonly outInFlight = this.g('sluice_output_in_flight_chunks', 'Chunks sent to the plugin and not yet answered', ['name']);
  readonly outPending = this.g('sluice_output_pending_chunks', 'Chunks not yet delivered by this output: queued, in retry backoff or in flight', ['name']);
  readonly pluginRestarts = this.c('sluice_plugin_restarts_total', 'Plugin process restarts', ['name']);
  readonly quarantined = this.c('sluice_storage_quarantined_chunks_total', 'Corrupt or truncated chunk files moved to quarantine at start', []);
  readonly storageWriteErrors = this.c('sluice_storage_write_errors_total', 'Failed writes under storage.path, by what: chunk (the chunk stayed in memory only), delivery_log (progress kept in memory, rewritten later)', ['what']);
  readonly backlog = this.c('sluice_storage_backlog_chunks_total', 'Chunks found under storage.path at start and queued for delivery', []);
  readonly storageChunks = this.g('sluice_storage_chunks', 'Live chunks by state: up (in memory), down (on disk only), busy (being sent)', ['state']);
  readonly reloads = this.c('sluice_reloads_total', 'Hot reloads, by result (ok, failed)', ['result']);
  readonly reloadSeconds = this.g('sluice_reload_duration_seconds', 'Duration of the last hot reload', []);
  readonly reloadDrained = this.c('sluice_reload_drained_chunks_total', 'Chunks an output answered while draining for a reload', ['name']);
  readonly pluginUp = this.g('sluice_plugin_up', '1 while the plugin process is ready', ['name']);

  constructor() {
    for (const result of ['ok', 'failed']) this.reloads.inc({ result }, 0);
  }

  /**
   * Every series of an input at 0 as soon as it exists, so that a rate or an
   * alert on it has a sample before the first event (inc by 0 leaves a value
   * that is already there).
   */
  initInput(name: string): void {
    const labels = { name };
    for (const c of [this.inputRecords, this.inputBytes, this.inputPaused, this.unrouted, this.inputIsPaused]) c.inc(labels, 0);
  }

  initFilter(name: string): void {
    for (const c of [this.filterRecords, this.filterDropped, this.filterEmitted]) c.inc({ name }, 0);
  }

  /** Every series of an output at 0: sluice_plugin_up == 0 fires for a plugin that never started. */
  initOutput(name: string): void {
    const labels = { name };
    for (const c of [
      this.outRecords, this.outBytes, this.outErrors, this.outRetries, this.outTimeouts, this.outRetriesFailed, this.outDeadLetters,
      this.outRequeued, this.outInFlight, this.outPending, this.pluginRestarts, this.pluginUp, this.reloadDrained,
    ]) c.inc(labels, 0);
    for (const reason of DROP_REASONS) this.outDropped.inc({ name, reason }, 0);
  }
}

/** Why an output gives a chunk up (sluice_output_dropped_records_total's reason). */
export const DROP_REASONS = ['error', 'retries_exhausted', 'total_limit_size', 'output_removed'] as const;

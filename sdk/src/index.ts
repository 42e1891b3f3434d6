// The sluice plugin SDK: everything a third-party output plugin imports.
export { serve, ok, retry, error, ConfigureError } from './serve.ts';
export type { Chunk, FlushAnswer, OutputPlugin, PluginContext, MetricSample } from './serve.ts';
export { toJson, toJsonLine, toJsonLines } from './codec/json-lines.ts';
export { Histogram } from './histogram.ts';
export { EventTime, encodeEvent, encodeEvents, decodeEvents, decodeEventsFrom, forEachEvent, EventDecodeError } from './codec/events.ts';
export type { Event, Record } from './codec/events.ts';
export type { ConfigSpec, KeySpec, KeyType } from './config-spec.ts';
export { HOST_STDOUT_FD_ENV } from './protocol.ts';

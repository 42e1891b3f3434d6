#!/usr/bin/env node
// The forward output: each chunk goes to a Fluentd Forward protocol receiver
// (Fluentd, Fluent Bit, another sluice) as one PackedForward frame, and is
// answered OK once the receiver acknowledged it (require_ack_response) or
// it was written to the socket (docs/forward.md). Built on the SDK alone,
// as any third-party plugin.
import { ConfigureError, retry, serve } from '../../sdk/src/index.ts';
import { resolve, spec, type Config, type Settings } from './options.ts';
import { ForwardSender } from './sender.ts';

let sender: ForwardSender | undefined;

function settingsOf(config: Config): Settings {
  const { settings, errors } = resolve(config);
  if (!settings) throw new ConfigureError(errors);
  return settings;
}

serve<Config>({
  name: 'forward',
  version: '0.1.0',
  description: 'Sends chunks to a Fluentd Forward protocol receiver; with require_ack_response, a chunk is OK once the receiver acknowledged it',
  config: spec,
  validate(config) {
    settingsOf(config);
  },
  configure(config, ctx) {
    // No connection yet: the first chunk opens one, so a receiver that is down at start costs nothing but RETRYs.
    sender = new ForwardSender(settingsOf(config), ctx.log);
  },
  flush: (chunk) => sender?.flush(chunk) ?? retry('not configured'),
  drain: () => sender?.drain(),
  async exit() {
    await sender?.drain();
    await sender?.close();
  },
  metrics: () => sender?.metrics() ?? [],
});

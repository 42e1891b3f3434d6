#!/usr/bin/env node
// The kafka output: a chunk is answered OK only once Kafka acknowledged every
// one of its events (docs/kafka.md). Built on the SDK alone, as any
// third-party plugin; the Kafka client is @platformatic/kafka.
import { ConfigureError, retry, serve } from '../../sdk/src/index.ts';
import { resolve, spec, type Config, type Settings } from './options.ts';
import type { KafkaProducer } from './producer.ts';

let producer: KafkaProducer | undefined;

function settingsOf(config: Config): Settings {
  const { settings, errors } = resolve(config);
  if (!settings) throw new ConfigureError(errors);
  return settings;
}

serve<Config>({
  name: 'kafka',
  version: '0.1.0',
  description: 'Produces events to Kafka; a chunk is OK once Kafka acknowledged all of it',
  config: spec,
  validate(config) {
    settingsOf(config);
  },
  async configure(config, ctx) {
    // Loaded here, not at the top: the Kafka client takes long to load, and the handshake should not wait for it on a busy machine.
    const { KafkaProducer } = await import('./producer.ts');
    producer = new KafkaProducer(settingsOf(config), ctx.log);
    if (config.startup_check === 'off') return;
    const why = await producer.check();
    if (!why) return;
    if (config.startup_check === 'fail') {
      await producer.close();
      throw new ConfigureError([{ key: 'brokers', message: `${why} (startup_check: fail; set startup_check: retry to start anyway and retry chunks until Kafka is reachable)` }]);
    }
    ctx.log.warn({ error: why }, 'Kafka is not reachable yet; chunks are answered RETRY until it is (startup_check: retry)');
  },
  flush: (chunk) => producer?.flush(chunk) ?? retry('not configured'),
  drain: () => producer?.drain(),
  async exit() {
    await producer?.drain();
    await producer?.close();
  },
  metrics: () => producer?.metrics() ?? [],
});

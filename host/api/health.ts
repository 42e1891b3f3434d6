// What /api/v1/health and /api/v2/health answer. As Fluent Bit's
// health_check: unhealthy while, over the last hc_period seconds, outputs
// answered ERROR more than hc_errors_count times or gave up more than
// hc_retry_failure_count chunks after their last retry. And, with or
// without health_check, while an output has had no running plugin for a
// whole hc_period: its events only pile up, and a liveness probe should say so.
import type { Counter } from 'prom-client';
import type { Pipeline } from '../engine/pipeline.ts';
import type { Metrics } from './metrics.ts';

export interface HealthOptions {
  check: boolean;
  errors: number;
  retryFailures: number;
  periodS: number;
}

interface Sample {
  at: number;
  errors: number;
  retryFailures: number;
}

async function total(c: Counter): Promise<number> {
  return (await c.get()).values.reduce((s, v) => s + v.value, 0);
}

export class Health {
  private readonly opts: HealthOptions;
  private readonly metrics: Metrics;
  private readonly pipeline: Pipeline;
  /** Totals once a second, over the last period. */
  private samples: Sample[] = [];
  /** Outputs without a running plugin, since when. */
  private readonly down = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(opts: HealthOptions, metrics: Metrics, pipeline: Pipeline) {
    this.opts = opts;
    this.metrics = metrics;
    this.pipeline = pipeline;
    this.timer = setInterval(() => void this.sample(), 1000).unref();
    void this.sample();
  }

  private async sample(): Promise<Sample> {
    const now = Date.now();
    const s = { at: now, errors: await total(this.metrics.outErrors), retryFailures: await total(this.metrics.outRetriesFailed) };
    this.samples.push(s);
    const from = now - this.opts.periodS * 1000;
    while (this.samples.length > 1 && this.samples[1]!.at <= from) this.samples.shift();
    const outputs = new Set<string>();
    for (const o of this.pipeline.outputs) {
      outputs.add(o.name);
      const running = o.supervisor.state === 'ready' || o.supervisor.state === 'draining';
      if (running) this.down.delete(o.name);
      else if (!this.down.has(o.name)) this.down.set(o.name, now);
    }
    for (const name of this.down.keys()) if (!outputs.has(name)) this.down.delete(name);
    return s;
  }

  /** Why sluice is unhealthy now; empty when it is healthy. */
  async reasons(): Promise<string[]> {
    const now = await this.sample();
    const { errors, retryFailures, periodS } = this.opts;
    const reasons: string[] = [];
    if (this.opts.check) {
      const first = this.samples[0]!;
      const e = now.errors - first.errors;
      const r = now.retryFailures - first.retryFailures;
      if (e > errors) reasons.push(`${e} chunks answered ERROR in the last ${periodS} s (hc_errors_count: ${errors})`);
      if (r > retryFailures) reasons.push(`${r} chunks exhausted their retries in the last ${periodS} s (hc_retry_failure_count: ${retryFailures})`);
    }
    for (const [name, since] of this.down) {
      if (now.at - since < periodS * 1000) continue;
      const o = this.pipeline.outputs.find((x) => x.name === name);
      reasons.push(`output ${name} has had no running plugin for ${Math.round((now.at - since) / 1000)} s (${o?.supervisor.state ?? 'gone'}${o?.supervisor.lastError ? `: ${o.supervisor.lastError}` : ''})`);
    }
    return reasons;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

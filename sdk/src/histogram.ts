// A Prometheus-style histogram as Metrics RPC samples: cumulative
// <name>_bucket{le} series, _sum and _count, for a plugin's metrics() hook.
import type { MetricSample } from './serve.ts';

export class Histogram {
  private readonly name: string;
  private readonly help: string;
  private readonly bounds: readonly number[];
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.bounds = bounds;
    this.counts = bounds.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) if (v <= this.bounds[i]!) this.counts[i]!++;
  }

  samples(): MetricSample[] {
    const { name, help } = this;
    return [
      ...this.bounds.map((le, i) => ({ name: `${name}_bucket`, help, value: this.counts[i]!, labels: { le: String(le) } })),
      { name: `${name}_bucket`, help, value: this.count, labels: { le: '+Inf' } },
      { name: `${name}_sum`, help, value: this.sum },
      { name: `${name}_count`, help, value: this.count },
    ];
  }
}

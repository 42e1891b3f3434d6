// The HTTP API: health, Prometheus metrics, plugin processes, storage.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Counter } from 'prom-client';
import type { Pipeline } from '../engine/pipeline.ts';
import type { Reloader } from '../reload/reloader.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from './metrics.ts';
import { Health, type HealthOptions } from './health.ts';

export interface ApiDeps {
  pipeline: Pipeline;
  reloader?: Reloader;
  metrics: Metrics;
  version: string;
  log: Logger;
  health: HealthOptions;
}

function json(res: ServerResponse, status: number, body: unknown, headers: { [h: string]: string } = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body, null, 2) + '\n');
}

/** The methods each path takes; a path not here is a 404. */
const ALLOW: { [path: string]: string } = {
  '/': 'GET', '/api/v1/uptime': 'GET', '/api/v1/health': 'GET', '/api/v2/health': 'GET', '/api/v1/metrics': 'GET', '/api/v1/metrics/prometheus': 'GET',
  '/api/v2/metrics/prometheus': 'GET', '/api/v1/plugins': 'GET', '/api/v1/storage': 'GET', '/api/v2/reload': 'GET, POST, PUT',
};

/** Fluent Bit's uptime_hr wording. */
function uptimeText(sec: number): string {
  const d = Math.floor(sec / 86400);
  const h = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60);
  return `sluice has been running: ${d} day${d === 1 ? '' : 's'}, ${h} hour${h === 1 ? '' : 's'}, ${m} minute${m === 1 ? '' : 's'} and ${sec % 60} second${sec % 60 === 1 ? '' : 's'}`;
}

/** A counter's value per instance (summed over its other labels). */
async function byName(c: Counter): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const v of (await c.get()).values) {
    const name = String(v.labels['name']);
    out.set(name, (out.get(name) ?? 0) + v.value);
  }
  return out;
}

/** Fluent Bit's /api/v1/metrics shape: records and bytes per input, delivery counts per output. */
async function metricsJson(metrics: Metrics, pipeline: Pipeline): Promise<unknown> {
  const [inRecords, inBytes, outRecords, outBytes, errors, retries, retriesFailed, dropped] = await Promise.all(
    [metrics.inputRecords, metrics.inputBytes, metrics.outRecords, metrics.outBytes, metrics.outErrors, metrics.outRetries, metrics.outRetriesFailed, metrics.outDropped].map(byName),
  );
  return {
    input: Object.fromEntries(pipeline.inputs.map(({ name }) => [name, { records: inRecords!.get(name) ?? 0, bytes: inBytes!.get(name) ?? 0 }])),
    output: Object.fromEntries(pipeline.outputs.map(({ name }) => [name, {
      proc_records: outRecords!.get(name) ?? 0, proc_bytes: outBytes!.get(name) ?? 0, errors: errors!.get(name) ?? 0,
      retries: retries!.get(name) ?? 0, retries_failed: retriesFailed!.get(name) ?? 0, dropped_records: dropped!.get(name) ?? 0,
    }])),
  };
}

const sanitize = (s: string) => s.replace(/[^a-zA-Z0-9_]/g, '_');
const escapeLabel = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

const escapeHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/**
 * The plugins' own Metrics, as sluice_plugin_<name>{output="...", ...}: one
 * group (HELP, TYPE, samples) per name across every plugin, as the
 * exposition format requires. The host's `output` label wins; a plugin's
 * own label of that name is kept as `plugin_output`.
 */
async function pluginMetricsText(pipeline: Pipeline): Promise<string> {
  const groups = new Map<string, { help: string; type: string; samples: string[] }>();
  const all = await Promise.all(pipeline.outputs.map(async (o) => ({ o, metrics: await o.supervisor.pluginMetrics(1000) })));
  for (const { o, metrics } of all) {
    for (const m of metrics) {
      const name = `sluice_plugin_${sanitize(m.name)}`;
      let g = groups.get(name);
      if (!g) groups.set(name, (g = { help: m.help || 'Reported by the plugin', type: m.type === 'gauge' ? 'gauge' : 'counter', samples: [] }));
      const labels: { [k: string]: string } = { output: o.name };
      for (const [k, v] of Object.entries(m.labels ?? {})) labels[sanitize(k) === 'output' ? 'plugin_output' : sanitize(k)] = String(v);
      g.samples.push(`${name}{${Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}} ${m.value}`);
    }
  }
  let out = '';
  for (const [name, g] of groups) out += `# HELP ${name} ${escapeHelp(g.help)}\n# TYPE ${name} ${g.type}\n${g.samples.join('\n')}\n`;
  return out;
}

export function plugins(pipeline: Pipeline) {
  return pipeline.outputs.map((o) => ({
    output: o.name,
    plugin: o.supervisor.described?.name ?? null,
    version: o.supervisor.described?.version ?? null,
    state: o.supervisor.state,
    pid: o.supervisor.pid ?? null,
    restarts: o.supervisor.restarts,
    in_flight: o.inFlightCount,
    pending: o.pending,
    last_error: o.supervisor.lastError ?? null,
  }));
}

export async function startApi(listen: string, port: number, deps: ApiDeps): Promise<{ port: number; close(): Promise<void> }> {
  const { pipeline, metrics } = deps;
  const health = new Health(deps.health, metrics, pipeline);
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    try {
      if (path === '/api/v2/reload' && deps.reloader) {
        const r = deps.reloader;
        if (req.method === 'GET') return json(res, 200, { hot_reload_count: r.count, last: r.last ?? null });
        if (req.method === 'POST' || req.method === 'PUT') {
          const pending = r.reload('http');
          if (url.searchParams.get('wait') === 'true') {
            const result = await pending;
            return json(res, result.status === 'ok' ? 200 : 422, result);
          }
          return json(res, 202, { reload: 'started', hot_reload_count: r.count, see: 'GET /api/v2/reload, or POST with ?wait=true' });
        }
      }
      const allow = ALLOW[path];
      if (!allow) return json(res, 404, { error: `no such endpoint ${path}; see docs/operations.md` });
      if (req.method !== 'GET') return json(res, 405, { error: `${req.method} is not supported on ${path}; it takes ${allow}` }, { allow });
      switch (path) {
        case '/':
          return json(res, 200, { sluice: { version: deps.version, node: process.version, platform: `${process.platform}-${process.arch}` } });
        case '/api/v1/uptime': {
          const sec = Math.floor(process.uptime());
          return json(res, 200, { uptime_sec: sec, uptime_hr: uptimeText(sec) });
        }
        case '/api/v1/health':
        case '/api/v2/health': {
          const reasons = await health.reasons();
          return reasons.length ? json(res, 500, { status: 'error', reasons }) : json(res, 200, { status: 'ok' });
        }
        case '/api/v1/metrics':
          return json(res, 200, await metricsJson(metrics, pipeline));
        case '/api/v1/metrics/prometheus':
        case '/api/v2/metrics/prometheus': {
          const held = pipeline.store.held;
          for (const state of ['up', 'down', 'busy'] as const) metrics.storageChunks.set({ state }, held[state]);
          const text = (await metrics.registry.metrics()) + (await pluginMetricsText(pipeline));
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          return res.end(text);
        }
        case '/api/v1/plugins':
          return json(res, 200, { plugins: plugins(pipeline) });
        case '/api/v1/storage': {
          const held = pipeline.store.held;
          return json(res, 200, {
            storage_layer: {
              chunks: { total_chunks: held.chunks, mem_chunks: held.up, fs_chunks_down: held.down, busy_chunks: held.busy, mem_bytes: held.memBytes, open_bytes: held.openBytes, open_events: held.openEvents },
              quarantined_chunks: pipeline.store.quarantined,
              dead_letter_path: pipeline.deadLetters?.dir ?? null,
            },
            input_chunks: Object.fromEntries(pipeline.store.inputs.map((a) => [a.name, {
              storage: a.storage, paused: a.paused, chunks: a.chunks, mem_bytes: a.bytes, mem_buf_limit: a.memBufLimit,
            }])),
          });
        }
        default:
          return json(res, 404, { error: `no such endpoint ${path}; see docs/operations.md` });
      }
    } catch (err) {
      deps.log.error({ err, path }, 'HTTP API request failed');
      json(res, 500, { error: (err as Error).message });
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, listen, () => resolve());
    });
  } catch (err) {
    health.close();
    throw err;
  }
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      health.close();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

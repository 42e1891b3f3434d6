// `sluice validate`: every static check, plus each plugin's Describe, so
// that a plugin-specific key is checked without configuring anything.
import { applySpec, unknownKeyMessage, type ConfigSpec, type KeyType } from '../../sdk/config-spec.ts';
import { OUTPUT_COMMON_SPEC } from '../config/schema.ts';
import type { ConfigIssue, SluiceConfig } from '../config/load.ts';
import type { Logger } from '../log.ts';
import { PluginClient } from '../supervisor/plugin-client.ts';
import { PluginProcess } from '../supervisor/plugin-process.ts';
import type { DescribeResponse } from '../../sdk/protocol.ts';

function specOf(d: DescribeResponse): ConfigSpec {
  const spec: { [k: string]: ConfigSpec[string] } = {};
  for (const k of d.config) {
    let def: unknown;
    if (k.default !== '') {
      try {
        def = JSON.parse(k.default);
      } catch {
        def = k.default;
      }
    }
    spec[k.name] = { type: (k.type || 'any') as KeyType, required: k.required, default: def, description: k.description };
  }
  return spec;
}

async function describe(config: SluiceConfig['outputs'][number], log: Logger, version: string): Promise<DescribeResponse> {
  const proc = await PluginProcess.start(config.command, { log, startTimeoutMs: config.startTimeout * 1000, logLevel: 'warn' });
  const client = new PluginClient(proc.handshake);
  try {
    return await client.describe(version, 10_000);
  } finally {
    client.close();
    proc.kill('SIGKILL');
    await proc.exited;
  }
}

export async function validatePlugins(config: SluiceConfig, log: Logger, version: string): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  const described = new Map<string, Promise<DescribeResponse>>();
  for (const o of config.outputs) {
    if (!described.has(o.plugin)) described.set(o.plugin, describe(o, log, version));
    try {
      const d = await described.get(o.plugin)!;
      const spec = specOf(d);
      for (const e of applySpec(spec, o.pluginConfig).errors) {
        // A typo of a host key (retry_limt) lands among the plugin's keys: suggest from both.
        const message = e.key in spec ? e.message : unknownKeyMessage(e.key, [...Object.keys(spec), ...Object.keys(OUTPUT_COMMON_SPEC)]);
        issues.push(config.locate([...o.path, e.key], message));
      }
    } catch (err) {
      issues.push(config.locate([...o.path, 'name'], `plugin ${JSON.stringify(o.plugin)} could not be described: ${(err as Error).message}`));
    }
  }
  return issues;
}

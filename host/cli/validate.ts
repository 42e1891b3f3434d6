// `sluice validate`: every static check, plus each output's plugin: its
// Describe checks the plugin's keys, and a version 2 plugin's validate-only
// Configure runs its own checks, without configuring anything.
import { applySpec, unknownKeyMessage, type ConfigSpec, type KeyError, type KeyType } from '../../sdk/src/config-spec.ts';
import { OUTPUT_COMMON_SPEC } from '../config/schema.ts';
import type { ConfigIssue, SluiceConfig } from '../config/load.ts';
import type { Logger } from '../log.ts';
import { PluginClient } from '../../sdk/src/client.ts';
import { startPlugin } from '../supervisor/plugin-process.ts';
import type { ConfigError, DescribeResponse } from '../../sdk/src/protocol.ts';

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

/** Describes the output's plugin, checks its keys, and has a version 2 plugin validate them (touching nothing). */
async function check(o: SluiceConfig['outputs'][number], log: Logger, version: string): Promise<{ spec: ConfigSpec; errors: KeyError[]; rejected: ConfigError[] }> {
  const proc = await startPlugin(o.command, { log, startTimeoutMs: o.startTimeout * 1000, logLevel: 'warn' });
  const client = new PluginClient(proc.handshake);
  try {
    const spec = specOf(await client.describe(version, 10_000));
    const { errors } = applySpec(spec, o.pluginConfig);
    const rejected = !errors.length && proc.handshake.appVersion >= 2 ? await client.configure(o.instance, o.pluginConfig, true, 10_000) : [];
    return { spec, errors, rejected };
  } finally {
    client.close();
    proc.kill('SIGKILL');
    await proc.exited;
  }
}

export async function validatePlugins(config: SluiceConfig, log: Logger, version: string): Promise<ConfigIssue[]> {
  const checked = await Promise.allSettled(config.outputs.map((o) => check(o, log, version)));
  const issues: ConfigIssue[] = [];
  checked.forEach((r, i) => {
    const o = config.outputs[i]!;
    if (r.status === 'rejected') {
      issues.push(config.locate([...o.path, 'name'], `plugin ${JSON.stringify(o.plugin)} could not be checked: ${(r.reason as Error).message}`));
      return;
    }
    const { spec, errors, rejected } = r.value;
    for (const e of errors) {
      // A typo of a host key (retry_limt) lands among the plugin's keys: suggest from both.
      const message = e.key in spec ? e.message : unknownKeyMessage(e.key, [...Object.keys(spec), ...Object.keys(OUTPUT_COMMON_SPEC)]);
      issues.push(config.locate([...o.path, e.key], message));
    }
    for (const e of rejected) issues.push(config.locate(e.key ? [...o.path, e.key] : o.path, `rejected by plugin: ${e.message}`));
  });
  return issues;
}

// Shared by the SDK's tests: the fixture plugins and a way to watch promises settle.
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startPlugin, type HarnessOptions, type PluginHarness } from '../src/harness.ts';

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** Starts a fixture plugin under the harness; it is stopped after the test. */
export async function start(t: TestContext, name: string, o: HarnessOptions = {}): Promise<PluginHarness> {
  const plugin = await startPlugin([process.execPath, fixture(name)], o);
  t.after(() => plugin.stop());
  return plugin;
}

/** Records the order in which promises settle, by name. */
export class Order {
  readonly settled: string[] = [];
  track<T>(name: string, p: Promise<T>): Promise<T> {
    void p.then(() => this.settled.push(name), () => this.settled.push(`${name} (rejected)`));
    return p;
  }
}

// `sluice plugin check`: runs a plugin command through the harness and checks
// it against every rule of docs/protocol.md.
export interface RuleResult {
  /** Stable id, e.g. `handshake.stdout-clean`. */
  rule: string;
  /** What the rule says, for the table. */
  title: string;
  status: 'pass' | 'fail' | 'skip';
  /** Why it failed or was skipped. */
  reason?: string;
}

export async function checkPlugin(command: string[], opts: { config: { [key: string]: unknown }; onResult?: (r: RuleResult) => void }): Promise<RuleResult[]> {
  void command;
  void opts;
  throw new Error('not built yet');
}

export function formatResults(results: RuleResult[]): string {
  return results.map((r) => `${r.status.toUpperCase()}  ${r.rule}  ${r.title}${r.reason ? `\n      ${r.reason}` : ''}`).join('\n') + '\n';
}

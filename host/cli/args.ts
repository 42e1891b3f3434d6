// The command line, checked strictly: a mistyped flag that were ignored would
// run the pipeline without what the operator asked for (`--wacth` runs without
// reloads, and nobody notices until the first edit does nothing).
import { parseArgs } from 'node:util';

export type Command = 'run' | 'validate';

export type Parsed =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: Command; config: string; logLevel?: string; watch: boolean };

/** A wrong command line; `message` says what is wrong and `usage` how it should look. */
export class UsageError extends Error {
  readonly usage: string;
  constructor(message: string, usage: string) {
    super(message);
    this.usage = usage;
  }
}

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in errors: `--log-level LEVEL`. */
  value?: string;
}

const OPTIONS: { [name: string]: OptionSpec } = {
  config: { type: 'string', short: 'c', value: 'FILE' },
  'log-level': { type: 'string', value: 'LEVEL' },
  watch: { type: 'boolean', short: 'w' },
  version: { type: 'boolean', short: 'V' },
  help: { type: 'boolean', short: 'h' },
};

const GLOBAL = ['help', 'version'];
const COMMANDS: { [c in Command]: { options: string[]; usage: string } } = {
  run: { options: ['config', 'log-level', 'watch'], usage: 'sluice run -c FILE [--log-level LEVEL] [--watch]' },
  validate: { options: ['config'], usage: 'sluice validate -c FILE' },
};
const ALL_USAGE = `${COMMANDS.run.usage}\n  ${COMMANDS.validate.usage}\n  sluice --version\n  sluice --help`;
const usageOf = (command: Command | undefined) => `usage: ${command ? COMMANDS[command].usage : ALL_USAGE}\n"sluice --help" explains every command and flag.`;

/**
 * Optimal string alignment distance: Levenshtein plus a swap of two
 * neighbours as one edit, the most common typo (`wacth`, `levle`).
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `typed`, if it is close enough to be what was meant. */
export function closest(typed: string, candidates: string[]): string | undefined {
  const t = typed.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(t, c);
    // A third of the word may be wrong; or a part of a longer name (`--level` for `--log-level`).
    const near = d <= Math.max(1, Math.floor(c.length / 3)) || (t.length >= 3 && (c.startsWith(t) || c.endsWith(t)));
    if (near && d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

const dashed = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`);

export function parseCommandLine(argv: string[]): Parsed {
  const options: { [k: string]: { type: 'string' | 'boolean'; short?: string } } = {};
  for (const [name, o] of Object.entries(OPTIONS)) options[name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  // strict: false, so that every problem below gets sluice's own message and a suggestion.
  const { tokens } = parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true });

  const positionals = tokens.filter((t) => t.kind === 'positional');
  const first = positionals[0]?.value;
  let command: Command | undefined;
  if (first !== undefined) {
    if (first === 'run' || first === 'validate') command = first;
    else {
      const hint = closest(first, Object.keys(COMMANDS));
      const file = /\.ya?ml$/i.test(first) ? `; to run a config file: sluice run -c ${first}` : '';
      throw new UsageError(`unknown command "${first}"${hint ? `; did you mean ${hint}?` : file}`, usageOf(undefined));
    }
  }
  const allowed = [...GLOBAL, ...(command ? COMMANDS[command].options : [])];

  const values: { [k: string]: string | boolean } = {};
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const spec = OPTIONS[t.name];
    if (!spec) {
      const longs = allowed.filter((n) => n.length > 1);
      const hint = t.name.length > 1 ? closest(t.name, longs) : undefined;
      throw new UsageError(`unknown option ${t.rawName}${hint ? `; did you mean --${hint}?` : ''}`, usageOf(command));
    }
    if (!allowed.includes(t.name)) {
      const owners = (Object.keys(COMMANDS) as Command[]).filter((c) => COMMANDS[c].options.includes(t.name));
      throw new UsageError(
        command
          ? `${t.rawName} is not an option of "sluice ${command}"${owners.length ? ` (only of ${owners.map((c) => `"sluice ${c}"`).join(', ')})` : ''}`
          : `no command given; did you mean "sluice ${owners[0] ?? 'run'} ${argv.join(' ')}"?`,
        usageOf(command),
      );
    }
    const shown = `${t.rawName}${spec.value ? ` ${spec.value}` : ''}`;
    if (spec.type === 'boolean' && t.value !== undefined) throw new UsageError(`${t.rawName} takes no value (got ${t.rawName}=${t.value})`, usageOf(command));
    if (spec.type === 'string') {
      // parseArgs takes the next argument as the value even when it is a
      // flag (`-c --watch`): that is a missing value, not a file named --watch.
      if (t.value === undefined || (!t.inlineValue && t.value.startsWith('-'))) throw new UsageError(`${t.rawName} needs a value: ${shown}`, usageOf(command));
      if (t.value === '') throw new UsageError(`${t.rawName} needs a non-empty value: ${shown}`, usageOf(command));
    }
    if (t.name in values && spec.type === 'string' && values[t.name] !== t.value) {
      throw new UsageError(`${dashed(t.name)} is given twice (${JSON.stringify(values[t.name])} and ${JSON.stringify(t.value)}); give it once`, usageOf(command));
    }
    values[t.name] = t.value ?? true;
  }

  const extra = positionals.slice(1);
  if (extra.length) {
    const junk = extra[0]!.value;
    const file = /\.ya?ml$/i.test(junk) && !('config' in values) ? `; the config file goes after -c: sluice ${command} -c ${junk}` : '';
    throw new UsageError(`unexpected argument "${junk}"${extra.length > 1 ? ` (and ${extra.length - 1} more)` : ''}${file}`, usageOf(command));
  }

  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  if (!command) {
    if (argv.length === 0) return { kind: 'help' };
    throw new UsageError('no command given', usageOf(undefined));
  }
  const config = values.config;
  if (typeof config !== 'string') throw new UsageError(`sluice ${command} needs a config file: sluice ${command} -c FILE`, usageOf(command));
  const logLevel = values['log-level'];
  return { kind: command, config, ...(typeof logLevel === 'string' ? { logLevel } : {}), watch: values.watch === true };
}

// The command line, checked strictly: a mistyped flag that were ignored would
// run the pipeline without what the operator asked for (`--wacth` runs without
// reloads, and nobody notices until the first edit does nothing).
import { parseArgs } from 'node:util';
import { parse as parseYamlValue } from 'yaml';
import { didYouMean } from '../../sdk/src/config-spec.ts';

export type Command = 'run' | 'validate';

export type Parsed =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: Command; config: string; logLevel?: string; watch: boolean }
  | { kind: 'plugin-check'; config: { [key: string]: unknown }; json: boolean; command: string[] }
  | { kind: 'plugin-new'; name: string; lang: 'ts' | 'go'; dir: string | undefined };

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
const PLUGIN_USAGE = {
  check: 'sluice plugin check [--config KEY=VALUE ...] [--json] -- COMMAND [ARGS...]',
  new: 'sluice plugin new NAME [--lang ts|go] [--dir DIR]',
};
const ALL_USAGE = `${COMMANDS.run.usage}\n  ${COMMANDS.validate.usage}\n  ${PLUGIN_USAGE.check}\n  ${PLUGIN_USAGE.new}\n  sluice --version\n  sluice --help`;
const usageOf = (command: Command | undefined) => `usage: ${command ? COMMANDS[command].usage : ALL_USAGE}\n"sluice --help" explains every command and flag.`;

/**
 * The known name `typed` was probably meant to be: the one the config checks
 * use for unknown keys, or a longer name it is part of (`--level` for
 * `--log-level`).
 */
export function closest(typed: string, candidates: string[]): string | undefined {
  const t = typed.toLowerCase();
  return didYouMean(t, candidates) ?? (t.length >= 3 ? candidates.find((c) => c.startsWith(t) || c.endsWith(t)) : undefined);
}

const dashed = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`);

export function parseCommandLine(argv: string[]): Parsed {
  if (argv[0] === 'plugin') return parsePluginCommand(argv.slice(1));
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
      const hint = closest(first, [...Object.keys(COMMANDS), 'plugin']);
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

/**
 * `sluice plugin check|new ...`. Options end at `--` or at the first word
 * that is not an option: what follows is the plugin's command, whose own
 * flags must not be read as sluice's.
 */
function parsePluginCommand(argv: string[]): Parsed {
  const [sub, ...rest] = argv;
  const usage = (which?: 'check' | 'new') => `usage: ${which ? PLUGIN_USAGE[which] : `${PLUGIN_USAGE.check}\n  ${PLUGIN_USAGE.new}`}`;
  if (sub !== 'check' && sub !== 'new') {
    const hint = sub === undefined ? undefined : closest(sub, ['check', 'new']);
    throw new UsageError(sub === undefined ? '"sluice plugin" needs a subcommand: check or new' : `unknown subcommand "plugin ${sub}"${hint ? `; did you mean "plugin ${hint}"?` : ''}`, usage());
  }
  const config: { [key: string]: unknown } = {};
  let json = false;
  let lang: string | undefined;
  let dir: string | undefined;
  const words: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--') {
      words.push(...rest.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      if (sub === 'check') {
        words.push(...rest.slice(i));
        break;
      }
      words.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const flag = eq > 0 && a.startsWith('--') ? a.slice(0, eq) : a;
    const takeValue = (shown: string): string => {
      const v = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : rest[++i];
      if (v === undefined || v === '' || (eq < 0 && v.startsWith('-'))) throw new UsageError(`${flag} needs a value: ${flag} ${shown}`, usage(sub));
      return v;
    };
    const known = sub === 'check' ? ['--config', '-c', '--json'] : ['--lang', '--dir'];
    if (!known.includes(flag)) {
      const hint = closest(flag.replace(/^-+/, ''), known.filter((k) => k.startsWith('--')).map((k) => k.slice(2)));
      throw new UsageError(`unknown option ${flag} of "sluice plugin ${sub}"${hint ? `; did you mean --${hint}?` : ''}`, usage(sub));
    }
    if (flag === '--json') json = true;
    else if (flag === '--config' || flag === '-c') {
      const kv = takeValue('KEY=VALUE');
      const at = kv.indexOf('=');
      if (at <= 0) throw new UsageError(`--config takes KEY=VALUE, got ${JSON.stringify(kv)}`, usage(sub));
      // Read as YAML reads a value in a config file, so `batch=10` is a number and `tags=[a, b]` a list.
      config[kv.slice(0, at)] = parseYamlValue(kv.slice(at + 1));
    } else if (flag === '--lang') lang = takeValue('ts|go');
    else if (flag === '--dir') dir = takeValue('DIR');
  }
  if (sub === 'check') {
    if (!words.length) throw new UsageError('"sluice plugin check" needs the plugin\'s command after --', usage('check'));
    return { kind: 'plugin-check', config, json, command: words };
  }
  if (words.length !== 1) throw new UsageError(words.length ? `"sluice plugin new" takes one NAME, got ${words.map((w) => JSON.stringify(w)).join(', ')}` : '"sluice plugin new" needs the plugin\'s NAME', usage('new'));
  const name = words[0]!;
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new UsageError(`plugin NAME must be lowercase letters, digits and dashes, starting with a letter (it names the npm package and the output); got ${JSON.stringify(name)}`, usage('new'));
  if (lang !== undefined && lang !== 'ts' && lang !== 'go') throw new UsageError(`--lang must be ts or go, got ${JSON.stringify(lang)}`, usage('new'));
  return { kind: 'plugin-new', name, lang: lang ?? 'ts', dir };
}

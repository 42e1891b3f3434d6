// The deeper checks of parser definitions (parsers:, multiline_parsers:,
// [PARSER], [MULTILINE_PARSER], parsers_file), called by the config loader
// for every definition once it has a name and a format (or type).
//
// For the parsers engineer: this is where host/parsers plugs in. Replace the
// bodies with your checks, for example
//
//   import { PARSER_SPEC, compileParser } from '../parsers/index.ts';
//   export function checkParserDef(def: ParserDef): KeyError[] {
//     const { errors } = applySpec(PARSER_SPEC[def.format] ?? {}, def);
//     if (errors.length) return errors;
//     try { compileParser(def); } catch (err) { return [{ key: err.key ?? 'regex', message: err.message }]; }
//     return [];
//   }
//
// Each error names a key of the definition; `sluice validate` and
// `sluice run` report it at that key's file:line:col. The definitions come
// with lowercase keys and string values (lists of strings for keys given more
// than once, such as decode_field_as), whatever the format of the file. Tests
// may pass other checks through loadConfig's options (checkParser,
// checkMultilineParser).
import { applySpec, type KeyError } from '../../sdk/src/config-spec.ts';
import { PARSER_SPEC, compileParser } from '../parsers/registry.ts';
import { ParserDefError, type ParserDef } from '../parsers/parser.ts';
import type { MultilineParserDef } from './load.ts';
import { checkRuleParserDef } from '../parsers/multiline-rules.ts';

export function checkParserDef(def: ParserDef): KeyError[] {
  // Fluent Bit reads the format name in any case (Format JSON).
  const { errors } = applySpec(PARSER_SPEC, { ...def, format: typeof def.format === 'string' ? def.format.toLowerCase() : def.format });
  if (errors.length) return errors;
  try {
    compileParser(def);
  } catch (err) {
    if (err instanceof ParserDefError) return [{ key: err.key, message: err.message }];
    return [{ key: '', message: (err as Error).message }];
  }
  return [];
}

export function checkMultilineParserDef(def: MultilineParserDef): KeyError[] {
  // Rule-based (type regex) parsers, for the multiline filter.
  return checkRuleParserDef(def);
}

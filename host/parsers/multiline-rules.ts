// Placeholder: rule-based multiline parsers (filled in with the multiline filter).
export interface RuleParserRegistry {
  names(): string[];
}

/**
 * Full-jitter exponential backoff: the wait before retry n (1-based) is
 * uniform in [base, min(cap, base * 2^n)], in seconds. The plugin's
 * retry_after hint raises the wait, never lowers it.
 */
export function backoffSeconds(n: number, base: number, cap: number, random: () => number = Math.random): number {
  const hi = Math.min(cap, base * 2 ** Math.min(n, 52));
  const lo = Math.min(base, hi);
  return lo + random() * (hi - lo);
}

/** retry_limit as configured: a count, or Infinity for no_limits/false; no_retries is 0. */
export function parseRetryLimit(v: unknown): number | undefined {
  if (v === false || v === 'false' || v === 'no_limits' || v === 'off') return Infinity;
  if (v === 'no_retries') return 0;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

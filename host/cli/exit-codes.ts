// Documented in docs/operations.md.
export const EXIT = {
  OK: 0,
  /** Runtime failure: the HTTP port is taken, an unexpected error. */
  FAILURE: 1,
  /** The config is invalid, or the command line is wrong. */
  CONFIG: 2,
  /** A second SIGINT/SIGTERM during shutdown: stopped at once. */
  FORCED: 130,
} as const;

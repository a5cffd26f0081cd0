/**
 * The one error type of the project's tools and services.
 *
 * Every error a user can meet carries a stable `code` (documented in docs/errors.md, kept in
 * sync by a test), a message that says what was wrong, and a `fix` that says what to do.
 * Programmer misuse throws `TypeError` instead.
 */
export class PlatformError extends Error {
  /** Stable, documented identifier, e.g. `ERR_CONFIG_INVALID`. */
  readonly code: string;
  /** What the user should do about it. */
  readonly fix: string;

  constructor(code: string, message: string, fix: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PlatformError';
    this.code = code;
    this.fix = fix;
  }
}

/**
 * Errors meant for humans. A `UserError` carries what failed, where, and what to do next; the CLI
 * prints it without a stack trace and exits with its code (1 failure, 2 usage error).
 */
export class UserError extends Error {
  readonly exitCode: number;
  readonly hint: string | undefined;
  readonly details: unknown;

  constructor(message: string, opts: { hint?: string; exitCode?: number; details?: unknown; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UserError';
    this.exitCode = opts.exitCode ?? 1;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

/** A usage error: wrong flags or arguments. Exit code 2. */
export class UsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, hint === undefined ? { exitCode: 2 } : { exitCode: 2, hint });
    this.name = 'UsageError';
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Errors the CLI reports. Every failure ends as one of these so that main.ts can print
 * `error: <message> (<CODE>)` (or the error object with --json) and pick the exit code
 * in one place.
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, denied: 3, timeout: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The API's error object, kept as received so --json can print it unchanged. */
export interface ApiErrorBody {
  code: string;
  message: string;
  request_id?: string;
  details?: Record<string, unknown>;
}

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly body: ApiErrorBody,
    readonly exitCode: ExitCode,
  ) {
    super(body.message);
  }

  get code(): string {
    return this.body.code;
  }
}

/** Bad command line: unknown flag or verb, missing argument, bad duration. Exit 2. */
export const usageError = (message: string) => new CliError({ code: 'USAGE', message }, EXIT.usage);

/** Something failed on this machine (a file, the network) rather than at the API. */
export const localError = (code: string, message: string) => new CliError({ code, message }, EXIT.failure);

export const timeoutError = (message: string) => new CliError({ code: 'TIMEOUT', message }, EXIT.timeout);

/** An error returned by the server; the policy saying no is the one that gets its own exit code. */
export function apiError(body: ApiErrorBody): CliError {
  return new CliError(body, body.code === 'POLICY_DENIED' ? EXIT.denied : EXIT.failure);
}

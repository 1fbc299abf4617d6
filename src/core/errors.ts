/**
 * The one error type core throws. `code` comes from a closed list named by domain
 * meaning; the HTTP layer maps each code to a status in one exhaustive switch, the CLI
 * maps it to an exit code. Messages quote what the caller sent, never a secret.
 */
export const ERROR_CODES = [
  'INVALID_INPUT', // malformed body, bad duration, unknown field
  'UNAUTHENTICATED', // missing, wrong, expired or revoked token
  'FORBIDDEN', // authenticated but the action is not yours to take (e.g. not an admin)
  'NOT_FOUND', // does not exist, or belongs to someone else
  'POLICY_DENIED', // the policy says no (not a requester, above max, self-approval…)
  'CONFLICT', // state does not allow it (already approved, grant not active…)
  'PAYLOAD_TOO_LARGE',
  'CONNECTOR_UNAVAILABLE', // the target could not be reached; retryable
  'CONNECTOR_FAILED', // the target refused; not retryable without a change
  'CONFIG_INVALID',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class KeyshiftError extends Error {
  override readonly name = 'KeyshiftError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: { retryable?: boolean; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }

  get retryable(): boolean {
    return this.options.retryable ?? (this.code === 'CONNECTOR_UNAVAILABLE');
  }

  get details(): Record<string, unknown> | undefined {
    return this.options.details;
  }
}

export const invalidInput = (message: string, details?: Record<string, unknown>) =>
  new KeyshiftError('INVALID_INPUT', message, details ? { details } : {});
export const notFound = (what: string, id: string) => new KeyshiftError('NOT_FOUND', `${what} ${JSON.stringify(id)} not found`);
export const conflict = (message: string) => new KeyshiftError('CONFLICT', message);
export const policyDenied = (message: string, reasons?: string[]) =>
  new KeyshiftError('POLICY_DENIED', message, reasons ? { details: { reasons } } : {});

export function isKeyshiftError(e: unknown): e is KeyshiftError {
  return e instanceof KeyshiftError;
}

/**
 * Removes credentials from driver and URL error text before it reaches a log, an audit
 * event or a client: `postgres://user:secret@host` → `postgres://user:***@host`, and
 * `password=…` / `PASSWORD '…'` fragments.
 */
export function scrubSecrets(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)[^@\s/]*@/gi, '$1***@')
    .replace(/(password\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)/gi, '$1***')
    .replace(/(PASSWORD\s+)('(?:[^']|'')*')/gi, '$1***')
    .replace(/(IDENTIFIED\s+BY\s+)('(?:[^']|'')*')/gi, '$1***');
}

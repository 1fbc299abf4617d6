/**
 * Maps mysql2 errors to KeyshiftErrors. The driver's `sql` property (which holds the
 * statement, passwords included) is never read, and the message is scrubbed of the admin
 * password and any password generated for the operation.
 */
import { KeyshiftError, scrubSecrets } from '../../core/errors.ts';

interface DriverError {
  code?: unknown;
  errno?: unknown;
  fatal?: unknown;
  message?: unknown;
}

/** The target could not be reached or is too busy right now: core retries these. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN',
  'ER_LOCK_WAIT_TIMEOUT', 'ER_LOCK_DEADLOCK', 'ER_TOO_MANY_USER_CONNECTIONS',
]);

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return scrubSecrets(out);
}

export function isDriverError(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as DriverError).code === code;
}

export function toConnectorError(e: unknown, what: string, secrets: readonly string[]): KeyshiftError {
  if (e instanceof KeyshiftError) return e;
  const err = (typeof e === 'object' && e !== null ? e : {}) as DriverError;
  const code = typeof err.code === 'string' ? err.code : 'UNKNOWN';
  const raw = typeof err.message === 'string' && err.message !== '' ? err.message : String(code);
  const message = `${what}: ${redact(raw, secrets)} (${code})`;
  const details = { driver_code: code, ...(typeof err.errno === 'number' ? { errno: err.errno } : {}) };
  // No `cause`: the driver error carries the statement text, passwords included.
  if (UNAVAILABLE_CODES.has(code)) return new KeyshiftError('CONNECTOR_UNAVAILABLE', message, { details });
  return new KeyshiftError('CONNECTOR_FAILED', message, { details });
}

/**
 * Turns `pg` driver errors into the connector contract's two codes, with scrubbed text:
 * CONNECTOR_UNAVAILABLE (could not reach or lost the server; core retries) and
 * CONNECTOR_FAILED (the server answered and refused; a person must change something).
 */
import { KeyshiftError, scrubSecrets } from '../../core/errors.ts';

/** Node socket errors and SQLSTATEs that mean "the server is not there right now". */
const UNREACHABLE_NODE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
]);
const UNREACHABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, recovery)
  '53300', // too_many_connections
  '53000', // insufficient_resources
]);

export interface PgErrorFields {
  code?: string;
  message: string;
  detail?: string;
  hint?: string;
}

function fields(e: unknown): PgErrorFields {
  if (e instanceof Error) {
    const rec = e as Error & Record<string, unknown>;
    const str = (k: string) => (typeof rec[k] === 'string' ? (rec[k] as string) : undefined);
    return { code: str('code'), message: e.message, detail: str('detail'), hint: str('hint') };
  }
  return { message: String(e) };
}

export function sqlState(e: unknown): string | undefined {
  return fields(e).code;
}

export function isUnreachable(e: unknown): boolean {
  const f = fields(e);
  if (f.code && (UNREACHABLE_NODE_CODES.has(f.code) || UNREACHABLE_SQLSTATES.has(f.code) || f.code.startsWith('08'))) return true;
  // pg reports lost sockets and pool timeouts without a code.
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(f.message);
}

/** Driver text with its detail and hint, minus every credential we know of. */
export function describe(e: unknown, secrets: readonly string[]): string {
  const f = fields(e);
  let text = f.message;
  if (f.detail) text += ` (${f.detail})`;
  if (f.hint) text += ` Hint: ${f.hint}`;
  return scrub(text, secrets);
}

export function scrub(text: string, secrets: readonly string[]): string {
  let out = scrubSecrets(text);
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('***');
  return out;
}

/**
 * Wraps a driver error. `doing` names the step ("create role \"ks_…\""); the message
 * never carries the original error object, only scrubbed text and the SQLSTATE.
 */
export function toKeyshiftError(e: unknown, connector: string, doing: string, secrets: readonly string[]): KeyshiftError {
  if (e instanceof KeyshiftError) return e;
  const code = sqlState(e);
  const details = code ? { sqlstate: code } : {};
  if (isUnreachable(e)) {
    return new KeyshiftError('CONNECTOR_UNAVAILABLE', `postgres connector "${connector}": cannot reach the server to ${doing}: ${describe(e, secrets)}`, { details });
  }
  return new KeyshiftError('CONNECTOR_FAILED', `postgres connector "${connector}": ${doing} refused: ${describe(e, secrets)}${advice(code)}`, { details, retryable: false });
}

/** What to do about the refusals an admin role typically meets. */
function advice(code: string | undefined): string {
  switch (code) {
    case '42501':
      return ' — the admin role lacks a privilege; see docs/connectors/postgres.md for the one-time setup';
    case '28P01':
    case '28000':
      return ' — check the admin URL user and password';
    case '2BP01':
      return ' — the role still owns objects or holds privileges in another database; reassign or drop them there';
    default:
      return '';
  }
}

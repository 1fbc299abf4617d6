/**
 * Keyshift's webhook signature scheme, for the connector (signing) and for receivers
 * (verifying; docs/connectors/webhook.md). Headers:
 *
 *   Keyshift-Timestamp: <unix seconds>
 *   Keyshift-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *
 * The timestamp is signed with the body, so a captured request cannot be re-sent later
 * than the tolerance window; receivers that also remember seen signatures within the
 * window reject exact replays.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Keyshift-Signature';
export const TIMESTAMP_HEADER = 'Keyshift-Timestamp';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const DEFAULT_TOLERANCE_SECONDS = 300;

function hmacHex(secret: string, timestamp: string, rawBody: string | Uint8Array): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(rawBody);
  return mac.digest('hex');
}

/** The `Keyshift-Signature` header value for a body sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, timestamp: number, rawBody: string | Uint8Array): string {
  return `v1=${hmacHex(secret, String(timestamp), rawBody)}`;
}

export interface VerifyInput {
  secret: string;
  /** The `Keyshift-Timestamp` header as received. */
  timestamp: string | number | undefined | null;
  /** The `Keyshift-Signature` header as received. */
  signature: string | undefined | null;
  /** The body bytes exactly as received, before any JSON parsing. */
  rawBody: string | Uint8Array;
  /** The receiver's current time; defaults to the system clock. */
  now?: Date;
  toleranceSeconds?: number;
}

export type VerifyResult = { ok: true } | { ok: false; reason: 'malformed' | 'stale' | 'future' | 'mismatch' };

/**
 * Verifies a request: the timestamp must be within `toleranceSeconds` (default 300) of
 * `now` in either direction, and the signature must match in constant time. Never throws.
 */
export function verifyWebhookSignature(input: VerifyInput): VerifyResult {
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const ts = String(input.timestamp ?? '');
  if (!/^\d{1,12}$/.test(ts)) return { ok: false, reason: 'malformed' };
  const match = /^v1=([0-9a-f]{64})$/.exec((input.signature ?? '').trim());
  if (!match) return { ok: false, reason: 'malformed' };
  const nowSeconds = Math.floor((input.now ?? new Date()).getTime() / 1000);
  const age = nowSeconds - Number(ts);
  if (age > tolerance) return { ok: false, reason: 'stale' };
  if (age < -tolerance) return { ok: false, reason: 'future' };
  const expected = Buffer.from(hmacHex(input.secret, ts, input.rawBody), 'hex');
  const given = Buffer.from(match[1]!, 'hex');
  return expected.length === given.length && timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'mismatch' };
}

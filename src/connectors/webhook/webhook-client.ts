/**
 * Delivers one signed webhook call with retries. Contract:
 * - every attempt carries the same body and Idempotency-Key (the key is also in the signed
 *   body, so it cannot be swapped), and a fresh timestamp and signature; a request with the
 *   same key is never sent twice with the same timestamp, so a receiver that rejects
 *   replayed timestamp+signature pairs still accepts a retry or a repeat;
 * - network errors, timeouts, 5xx and 429 are retried with exponential backoff and jitter
 *   (honouring Retry-After up to 10 s); other 4xx are not;
 * - the result is the 2xx (or accepted) response, or a KeyshiftError: CONNECTOR_UNAVAILABLE when the
 *   target never answered usefully, CONNECTOR_FAILED when it refused (4xx).
 * Messages never contain the secret (the body of an error response is redacted too).
 */
import { KeyshiftError, scrubSecrets } from '../../core/errors.ts';
import type { Clock } from '../../core/clock.ts';
import { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook } from './webhook-signature.ts';

export interface DeliveryOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  retries: number;
  retryDelayMs: number;
  clock: Clock;
  /** Prefix of error messages: `webhook connector "name": grant grt_…`. */
  label: string;
  /** Last timestamp sent per Idempotency-Key, shared by one connector's deliveries. */
  lastSent: Map<string, number>;
}

export interface Delivery {
  status: number;
  /** Parsed JSON body, or null when the body was empty or not JSON. */
  body: unknown;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MAX_DELAY_MS = 10_000;

function retryAfterMs(header: string | null): number | null {
  if (header === null || !/^\d{1,5}$/.test(header.trim())) return null;
  return Math.min(Number(header) * 1000, MAX_DELAY_MS);
}

/** `accept`: non-2xx statuses that count as an answer, not a failure (revoke's 404/410). */
export async function deliver(opts: DeliveryOptions, payload: object, idempotencyKey: string, accept: readonly number[] = []): Promise<Delivery> {
  const raw = JSON.stringify(payload);
  const redact = (text: string) => scrubSecrets(text.split(opts.secret).join('***'));
  const target = redact(opts.url);
  let lastProblem = '';

  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    const timestamp = nextTimestamp(opts, idempotencyKey);
    let res: Response;
    try {
      res = await fetch(opts.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signWebhook(opts.secret, timestamp, raw),
          [IDEMPOTENCY_HEADER]: idempotencyKey,
        },
        body: raw,
        redirect: 'error', // a redirect would re-send the signed body somewhere unplanned
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
    } catch (e) {
      const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : '';
      const reason = e instanceof Error && e.name === 'TimeoutError' ? `no answer within ${opts.timeoutMs} ms` : `${e instanceof Error ? e.message : String(e)}${cause}`;
      lastProblem = `could not reach ${target} (${redact(reason)})`;
      if (attempt < opts.retries) await sleep(backoff(opts.retryDelayMs, attempt));
      continue;
    }
    const text = await res.text().catch(() => '');
    if (res.ok) return { status: res.status, body: parseJson(text) };
    const snippet = redact(text.slice(0, 200)).replace(/\s+/g, ' ').trim();
    lastProblem = `${target} answered ${res.status}${snippet ? `: ${snippet}` : ''}`;
    if (accept.includes(res.status)) return { status: res.status, body: parseJson(text) };
    if (res.status < 500 && res.status !== 429) {
      // A refusal, not a hiccup: retrying the same request would be refused again.
      throw new KeyshiftError('CONNECTOR_FAILED', `${opts.label}: ${lastProblem}`, { details: { status: res.status } });
    }
    if (attempt < opts.retries) await sleep(retryAfterMs(res.headers.get('retry-after')) ?? backoff(opts.retryDelayMs, attempt));
  }
  throw new KeyshiftError('CONNECTOR_UNAVAILABLE', `${opts.label}: ${lastProblem} after ${opts.retries + 1} attempts`);
}

/** Now, or one second past the last request with this key when that is later. */
function nextTimestamp(opts: DeliveryOptions, key: string): number {
  const now = Math.floor(opts.clock.now().getTime() / 1000);
  for (const [k, t] of opts.lastSent) if (t < now - 10) opts.lastSent.delete(k);
  const ts = Math.max(now, (opts.lastSent.get(key) ?? 0) + 1);
  opts.lastSent.set(key, ts);
  return ts;
}

function backoff(base: number, attempt: number): number {
  const exp = Math.min(base * 2 ** attempt, MAX_DELAY_MS);
  return exp / 2 + Math.random() * (exp / 2);
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

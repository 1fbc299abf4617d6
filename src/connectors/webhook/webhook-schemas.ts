/** Config and profile `access` schemas of the `webhook` connector. */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.ts';

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

/** Milliseconds, written as a number of ms or a duration such as `10s`. */
const millis = z.union([
  z.number().int().min(1).max(300_000),
  z.string().transform((v, ctx) => {
    try {
      const ms = parseDuration(v, 'timeout') * 1000;
      if (ms <= 300_000) return ms;
      ctx.addIssue({ code: 'custom', message: 'must be at most 5m', input: v });
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message : String(e), input: v });
    }
    return z.NEVER;
  }),
]);

export const WebhookConfigSchema = z
  .object({
    url: z.string().refine(isHttpUrl, { message: 'must be an http:// or https:// URL' }),
    /** HMAC key shared with the receiver; comes from `${env:…}`. Never echoed in errors. */
    secret: z.string().min(16, { message: 'must be at least 16 characters (use a random value from the environment)' }),
    /** Per-attempt timeout. */
    timeout: millis.default(10_000),
    /** Extra attempts after the first, for network errors, 5xx and 429. */
    retries: z.number().int().min(0).max(10).default(3),
    /** First backoff delay in ms; doubles per attempt, with jitter, capped at 10 s. */
    retry_delay: millis.default(500),
  })
  .strict();

export type WebhookConfig = z.infer<typeof WebhookConfigSchema>;

/** Any JSON object: it is passed through to the target unchanged. */
export const WebhookAccessSchema = z.record(z.string(), z.json());

export type WebhookAccess = z.infer<typeof WebhookAccessSchema>;

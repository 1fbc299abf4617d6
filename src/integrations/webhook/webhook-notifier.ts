/**
 * A Notifier that POSTs each notification as signed JSON (the same Keyshift-Signature
 * scheme as the webhook connector, docs/connectors/webhook.md) to a URL of the team's
 * choosing: a chat bridge, an alerting pipeline, email. Throws on failure so the
 * dispatcher retries; the event ID is the idempotency key.
 */
import { z } from 'zod';
import type { AuditEvent } from '../../core/model.ts';
import type { Notifier } from '../../core/ports.ts';
import { signWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER, IDEMPOTENCY_HEADER } from '../../connectors/webhook/webhook-signature.ts';
import { scrubSecrets } from '../../core/errors.ts';

export const WebhookNotifierSchema = z
  .object({ url: z.string().url(), secret: z.string().min(16, 'use a secret of at least 16 characters'), timeout_ms: z.number().int().min(100).max(60_000).default(10_000) })
  .strict();
export type WebhookNotifierConfig = z.infer<typeof WebhookNotifierSchema>;

export function createWebhookNotifier(cfg: WebhookNotifierConfig, publicUrl: string | null): Notifier {
  return {
    name: 'webhook',
    async notify(event: AuditEvent, recipients: string[]) {
      const body = JSON.stringify({
        type: 'keyshift.notification',
        event,
        recipients,
        links: publicUrl ? { request: event.request_id ? `${publicUrl}/api/v1/requests/${event.request_id}` : null, grant: event.grant_id ? `${publicUrl}/api/v1/grants/${event.grant_id}` : null } : null,
      });
      const ts = Math.floor(Date.now() / 1000);
      let res: Response;
      try {
        res = await fetch(cfg.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signWebhook(cfg.secret, ts, body), [IDEMPOTENCY_HEADER]: event.id },
          body,
          signal: AbortSignal.timeout(cfg.timeout_ms),
        });
      } catch (e) {
        throw new Error(`notification webhook unreachable: ${scrubSecrets(e instanceof Error ? e.message : String(e))}`);
      }
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status >= 300) throw new Error(`notification webhook answered ${res.status}`);
    },
  };
}

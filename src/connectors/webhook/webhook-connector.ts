/**
 * Generic webhook connector: every lifecycle step is a signed JSON POST to one URL, and the
 * receiver does the provisioning. The receiver is the target: it enforces `ends_at` (the
 * target-side guard) and returns credentials. See docs/connectors/webhook.md.
 *
 * Idempotency: each call sends `Idempotency-Key: <grant_id>:<event>[:<n>]`, where `n`
 * counts credentials issues and extensions (taken from the persisted state), so a retry,
 * or a repeat after a crash, carries the key of the call it repeats.
 */
import { KeyshiftError, scrubSecrets } from '../../core/errors.ts';
import type {
  Connector,
  ConnectorCheck,
  ConnectorDeps,
  ConnectorGrantContext,
  ConnectorModule,
  IssuedCredentials,
} from '../connector.ts';
import { deliver, type Delivery, type DeliveryOptions } from './webhook-client.ts';
import { WebhookAccessSchema, WebhookConfigSchema, type WebhookAccess, type WebhookConfig } from './webhook-schemas.ts';

export { verifyWebhookSignature, signWebhook } from './webhook-signature.ts';

export type WebhookEvent = 'grant' | 'extend' | 'revoke' | 'credentials';

/** The JSON body of every call. */
export interface WebhookPayload {
  event: WebhookEvent;
  grant_id: string;
  grantee: string;
  profile: string;
  access: WebhookAccess;
  /** ISO 8601 UTC: when access must end at the target. */
  ends_at: string;
  /** Revoke only: the grant ends before `ends_at` (release, revoke). */
  early?: boolean;
  /** Same as the Idempotency-Key header, inside the signed body so it cannot be swapped. */
  idempotency_key: string;
}

const count = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0);

/** `{credentials: {k: string…}, expires_at?}`; anything else in a credentials answer is refused. */
function readCredentials(body: unknown, label: string): { secret: Record<string, string | number>; expiresAt: Date | null } | null {
  if (typeof body !== 'object' || body === null || !('credentials' in body)) return null;
  const { credentials, expires_at: expiresAt } = body as { credentials: unknown; expires_at?: unknown };
  const bad = (what: string) => new KeyshiftError('CONNECTOR_FAILED', `${label}: the target's answer ${what}`);
  if (typeof credentials !== 'object' || credentials === null || Array.isArray(credentials)) throw bad('has a "credentials" field that is not an object');
  const secret: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(credentials)) {
    if (typeof v !== 'string' && typeof v !== 'number') throw bad(`has a non-string credentials value ${JSON.stringify(k)}`);
    secret[k] = v;
  }
  let expires: Date | null = null;
  if (expiresAt !== undefined && expiresAt !== null) {
    expires = typeof expiresAt === 'string' ? new Date(expiresAt) : new Date(NaN);
    if (Number.isNaN(expires.getTime())) throw bad('has an "expires_at" that is not an ISO time');
  }
  return { secret, expiresAt: expires };
}

export function createWebhookConnector(name: string, config: WebhookConfig, deps: ConnectorDeps): Connector {
  const lastSent = new Map<string, number>();
  const options = (what: string): DeliveryOptions => ({
    lastSent,
    url: config.url,
    secret: config.secret,
    timeoutMs: config.timeout,
    retries: config.retries,
    retryDelayMs: config.retry_delay,
    clock: deps.clock,
    label: `webhook connector ${JSON.stringify(name)}: ${what}`,
  });

  const payload = (ctx: ConnectorGrantContext, event: WebhookEvent, key: string, extra: Partial<WebhookPayload> = {}): WebhookPayload => ({
    event,
    grant_id: ctx.grantId,
    grantee: ctx.grantee,
    profile: ctx.profile,
    access: ctx.access as WebhookAccess,
    ends_at: ctx.endsAt.toISOString(),
    ...extra,
    idempotency_key: key,
  });

  /** One call: the key goes in both the header and the signed body. */
  const call = (what: string, ctx: ConnectorGrantContext, event: WebhookEvent, key: string, extra: Partial<WebhookPayload> = {}, accept: number[] = []) =>
    deliver(options(what), payload(ctx, event, key, extra), key, accept);

  /** Credentials expire no later than the grant, whatever the target claims. */
  function issued(ctx: ConnectorGrantContext, d: Delivery, label: string, state: Record<string, unknown>, n: number): IssuedCredentials | null {
    const creds = readCredentials(d.body, label);
    if (!creds) return null;
    const end = creds.expiresAt && creds.expiresAt < ctx.endsAt ? creds.expiresAt : ctx.endsAt;
    return { kind: 'webhook', secret: creds.secret, expires_at: end.toISOString(), audit: { target: name, issue: n }, state };
  }

  return {
    name,
    type: 'webhook',

    async check(): Promise<ConnectorCheck> {
      const info: Record<string, string> = { url: scrubSecrets(config.url) };
      const u = new URL(config.url);
      if (u.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
        info.warning = 'plain http: credentials in answers cross the network unencrypted';
      }
      // Reachability only: any HTTP answer (even 405) proves the receiver is there; lifecycle
      // events are not sent, since a check must not provision anything.
      try {
        const res = await fetch(config.url, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(config.timeout) });
        info.status = String(res.status);
        return { ok: true, problems: [], info };
      } catch (e) {
        const reason = e instanceof Error && e.name === 'TimeoutError' ? `no answer within ${config.timeout} ms` : 'connection failed';
        return { ok: false, problems: [`cannot reach ${scrubSecrets(config.url)}: ${reason}`], info };
      }
    },

    async grant(ctx) {
      const d = await call(`grant ${ctx.grantId}`, ctx, 'grant', `${ctx.grantId}:grant`);
      const account = typeof d.body === 'object' && d.body !== null ? (d.body as { account?: unknown }).account : undefined;
      return { ...ctx.state, granted: true, ...(typeof account === 'string' ? { account } : {}) };
    },

    async issueCredentials(ctx) {
      const n = count(ctx.state.credentials_issued) + 1;
      const label = `webhook connector ${JSON.stringify(name)}: credentials for ${ctx.grantId}`;
      const d = await call(`credentials for ${ctx.grantId}`, ctx, 'credentials', `${ctx.grantId}:credentials:${n}`);
      const state = { ...ctx.state, credentials_issued: n };
      return issued(ctx, d, label, state, n) ?? { kind: 'webhook', secret: {}, expires_at: ctx.endsAt.toISOString(), audit: { target: name, issue: n }, state };
    },

    async extend(ctx) {
      const n = count(ctx.state.extensions) + 1;
      const label = `webhook connector ${JSON.stringify(name)}: extend ${ctx.grantId}`;
      const d = await call(`extend ${ctx.grantId}`, ctx, 'extend', `${ctx.grantId}:extend:${n}`);
      const state = { ...ctx.state, extensions: n };
      const credentials = issued(ctx, d, label, state, n);
      return credentials ? { state, credentials } : { state };
    },

    async revoke(ctx, info) {
      // 404/410: the receiver no longer knows the grant, which is what revoke wants.
      const d = await call(`revoke ${ctx.grantId}`, ctx, 'revoke', `${ctx.grantId}:revoke`, { early: info.early }, [404, 410]);
      return { ...ctx.state, revoked: true, ...(d.status === 404 || d.status === 410 ? { already_gone: true } : {}) };
    },

    async close() {
      // Nothing held open: fetch keeps no state the connector owns.
    },
  };
}

export const webhookConnectorModule: ConnectorModule<WebhookConfig, WebhookAccess> = {
  configSchema: WebhookConfigSchema,
  accessSchema: WebhookAccessSchema,
  create: createWebhookConnector,
};

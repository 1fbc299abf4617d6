/**
 * The one schema of keyshift.yaml (PRODUCT.md is the contract; every key is documented
 * in docs/configuration.md). Connector blocks and profile `access` blocks are checked
 * further by each connector module's own schema (see load.ts).
 */
import { z } from 'zod';
import { CONNECTOR_TYPES } from '../connectors/connector.ts';
import { OnCallConfigSchema } from '../integrations/rotation/rotation-schema.ts';
import { WebhookNotifierSchema } from '../integrations/webhook/webhook-notifier.ts';

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const name = (what: string) => z.string().regex(NAME, `${what} names use a-z, 0-9, - and _ (up to 63 characters)`);
const duration = z.string().regex(/^(\d{1,7}[smhd])+$/, 'write durations like 90s, 30m, 2h or 1h30m');
const regex = z.string().max(500).refine(
  (s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);
const email = z.string().regex(/^[^\s@]+@[^\s@]+$/, 'expected an email address');
/** `group:NAME`, an email, or `*` (everyone in the directory). */
const subjectSpec = z.string().refine((s) => s === '*' || /^group:[A-Za-z0-9_.-]+$/.test(s) || /^[^\s@]+@[^\s@]+$/.test(s), {
  message: 'expected group:NAME, an email, or *',
});

export const ServerSchema = z
  .object({
    listen: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected HOST:PORT').default('127.0.0.1:8080'),
    public_url: z.string().url().optional(),
    /** Largest request body accepted, in bytes. */
    max_body_bytes: z.number().int().min(1024).max(10 * 1024 * 1024).default(64 * 1024),
  })
  .strict();

export const IdentitySchema = z
  .object({
    users: z.array(z.object({ email, groups: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/)).default([]) }).strict()).default([]),
    oidc: z
      .object({
        issuer: z.string().url(),
        client_id: z.string().min(1),
        client_secret: z.string().min(1),
        groups_claim: z.string().default('groups'),
      })
      .strict()
      .optional(),
    admins: z.array(subjectSpec).default([]),
  })
  .strict();

export const ConnectorBlockSchema = z.object({ type: z.enum(CONNECTOR_TYPES) }).passthrough();

export const ApprovalRuleSchema = z
  .object({ approvers: z.array(subjectSpec).min(1), count: z.number().int().min(1).max(10).default(1) })
  .strict();

export const ProfileSchema = z
  .object({
    description: z.string().max(500).default(''),
    connector: name('connector'),
    access: z.unknown().default({}),
    duration: z.object({ default: duration, max: duration }).strict(),
    requesters: z.array(subjectSpec).min(1),
    requires: z.array(z.enum(['reason', 'ticket', 'incident'])).default([]),
    reason: z.object({ min_length: z.number().int().min(0).max(1000).default(0), pattern: regex.optional() }).strict().default({ min_length: 0 }),
    ticket: z.object({ pattern: regex.optional() }).strict().default({}),
    incident: z.object({ pattern: regex.optional() }).strict().default({}),
    approval: z
      .object({
        rules: z.array(ApprovalRuleSchema).default([]),
        allow_overlap: z.boolean().default(false),
        denials_required: z.number().int().min(1).max(10).default(1),
        auto_approve: z
          .object({
            on_call: z
              .object({
                pagerduty_schedule: z.string().min(1).optional(),
                schedule: z.string().min(1).optional(),
                levels: z.array(z.number().int().min(1).max(10)).min(1).default([1]),
              })
              .strict()
              .refine((o) => Boolean(o.pagerduty_schedule) !== Boolean(o.schedule), { message: 'name exactly one of pagerduty_schedule or schedule' })
              .optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ rules: [], allow_overlap: false, denials_required: 1 }),
    request_ttl: duration.default('30m'),
    extend: z
      .object({
        max_times: z.number().int().min(0).max(100),
        max_total: duration,
        after_elapsed: z.string().regex(/^(100|[1-9]?\d)%$/, 'write a share like 50%').default('0%'),
        approval: z.enum(['same', 'none']).default('same'),
      })
      .strict()
      .optional(),
    break_glass: z.object({ allowed: z.boolean().default(false), review_within: duration.default('24h') }).strict().default({ allowed: false, review_within: '24h' }),
    end_on: z.array(z.enum(['incident_resolved', 'ticket_closed', 'shift_end'])).default([]),
  })
  .strict();

export const IntegrationsSchema = z
  .object({
    slack: z.object({ bot_token: z.string(), signing_secret: z.string(), channel: z.string(), api_url: z.string().url().optional() }).strict().optional(),
    pagerduty: z.object({ api_token: z.string(), webhook_secret: z.string(), api_url: z.string().url().optional() }).strict().optional(),
    jira: z.object({ api_url: z.string().url(), email, api_token: z.string(), webhook_secret: z.string().optional() }).strict().optional(),
    /** Signed JSON notifications to a URL (docs/notifications.md). */
    webhook: WebhookNotifierSchema.optional(),
  })
  .strict();

export const AuditSchema = z
  .object({
    sinks: z.array(z.object({ type: z.literal('file'), path: z.string().min(1) }).strict()).default([]),
  })
  .strict();

export const ConfigSchema = z
  .object({
    server: ServerSchema.default({ listen: '127.0.0.1:8080', max_body_bytes: 64 * 1024 }),
    storage: z.object({ url: z.string().min(1).default('sqlite:data/keyshift.db') }).strict().default({ url: 'sqlite:data/keyshift.db' }),
    identity: IdentitySchema.default({ users: [], admins: [] }),
    connectors: z.record(name('connector'), ConnectorBlockSchema).default({}),
    profiles: z.record(name('profile'), ProfileSchema).default({}),
    integrations: IntegrationsSchema.default({}),
    audit: AuditSchema.default({ sinks: [] }),
    /** Built-in on-call rotations (docs/oncall.md). */
    oncall: OnCallConfigSchema.optional(),
  })
  .strict();

export type KeyshiftConfig = z.infer<typeof ConfigSchema>;
export type ProfileConfig = z.infer<typeof ProfileSchema>;

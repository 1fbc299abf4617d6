import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HttpContext } from '../context.ts';
import { principalOf } from '../context.ts';
import { parseInput } from '../validate.ts';
import { parseDuration } from '../../core/duration.ts';
import { AUDIT_ACTIONS } from '../../core/model.ts';
import { invalidInput } from '../../core/errors.ts';
import { toCsv } from '../../core/audit-service.ts';
import { buildIncidentReport, reportToHtml, reportToMarkdown } from '../../core/incident-report.ts';

export const AuditQuery = z
  .object({
    since: z.string().max(40).optional(),
    until: z.string().max(40).optional(),
    actor: z.string().max(320).optional(),
    action: z.enum(AUDIT_ACTIONS).optional(),
    incident: z.string().max(100).optional(),
    request: z.string().max(40).optional(),
    grant: z.string().max(40).optional(),
    format: z.enum(['json', 'jsonl', 'csv']).default('json'),
    limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  })
  .strict();

/** `24h` (relative to now) or an ISO timestamp. */
function timeArg(value: string | undefined, now: Date, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (/^(\d+[smhd])+$/.test(value)) return new Date(now.getTime() - parseDuration(value, name) * 1000).toISOString();
  const t = Date.parse(value);
  if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}/.test(value)) throw invalidInput(`${name} ${JSON.stringify(value)} is neither a duration like 24h nor an ISO time`);
  return new Date(t).toISOString();
}

export function auditRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get('/api/v1/audit', async (req, reply) => {
    const who = principalOf(req);
    const q = parseInput(AuditQuery, req.query, 'query');
    const now = ctx.clock.now();
    const items = await ctx.audit.query(who, {
      since: timeArg(q.since, now, 'since'),
      until: timeArg(q.until, now, 'until'),
      actor: q.actor,
      action: q.action,
      incident: q.incident,
      requestId: q.request,
      grantId: q.grant,
      limit: q.limit,
      // Without a start, the most recent events are the useful ones.
      newest: q.since === undefined,
    });
    if (q.format === 'csv') return reply.type('text/csv; charset=utf-8').send(toCsv(items));
    if (q.format === 'jsonl') return reply.type('application/x-ndjson').send(items.map((e) => JSON.stringify(e)).join('\n') + (items.length ? '\n' : ''));
    return { items };
  });

  app.get('/api/v1/audit/verify', async (req) => {
    principalOf(req);
    return ctx.audit.verify();
  });

  app.get<{ Params: { id: string } }>('/api/v1/reports/incidents/:id', async (req, reply) => {
    const who = principalOf(req);
    const q = parseInput(z.object({ format: z.enum(['md', 'html', 'json']).default('md') }).strict(), req.query, 'query');
    const incident = req.params.id;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:#/-]{0,99}$/.test(incident)) throw invalidInput(`incident ${JSON.stringify(incident.slice(0, 100))} is not an incident reference`);
    const events = await ctx.audit.query(who, { incident, limit: 10_000 });
    const grantIds = [...new Set(events.map((e) => e.grant_id).filter((g): g is string => g !== null))];
    const grants = (await Promise.all(grantIds.map((id) => ctx.store.read.getGrant(id)))).filter((g) => g !== null);
    const verdict = await ctx.audit.verify();
    const report = buildIncidentReport(incident, events, grants, verdict.ok, ctx.clock.now());
    if (q.format === 'json') return report;
    if (q.format === 'html') return reply.type('text/html; charset=utf-8').send(reportToHtml(report));
    return reply.type('text/markdown; charset=utf-8').send(reportToMarkdown(report));
  });
}

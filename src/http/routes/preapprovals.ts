import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HttpContext } from '../context.ts';
import { principalOf } from '../context.ts';
import { parseInput } from '../validate.ts';
import { parseDuration } from '../../core/duration.ts';
import { invalidInput, notFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import { addSeconds } from '../../core/clock.ts';

const isoTime = z.string().max(40).refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), { message: 'expected an ISO time like 2026-12-07T09:00:00Z' });

export const CreatePreApprovalBody = z
  .object({
    profile: z.string().min(1).max(100),
    user: z.string().min(3).max(320),
    starts_at: isoTime.optional(),
    ends_at: isoTime.optional(),
    duration: z.string().max(40).optional(),
    reason: z.string().max(2000).nullish(),
  })
  .strict();

export function preApprovalRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.post('/api/v1/preapprovals', async (req, reply) => {
    const who = principalOf(req);
    const body = parseInput(CreatePreApprovalBody, req.body, 'body');
    if ((body.ends_at === undefined) === (body.duration === undefined)) throw invalidInput('give exactly one of ends_at or duration');
    const start = body.starts_at ? new Date(body.starts_at) : null;
    const end = body.ends_at ? new Date(body.ends_at) : addSeconds(start ?? ctx.clock.now(), parseDuration(body.duration, 'duration'));
    return reply.status(201).send(await ctx.preapprovals.create(who, { profile: body.profile, user: body.user, startsAt: start, endsAt: end, reason: body.reason ?? null }));
  });

  app.get('/api/v1/preapprovals', async (req) => ({ items: await ctx.preapprovals.list(principalOf(req)) }));

  app.post<{ Params: { id: string } }>('/api/v1/preapprovals/:id/revoke', async (req) => {
    const who = principalOf(req);
    parseInput(z.object({}).strict(), req.body, 'body');
    if (!isId('pre', req.params.id)) throw notFound('pre-approval', req.params.id);
    return ctx.preapprovals.revoke(who, req.params.id);
  });
}

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HttpContext } from '../context.ts';
import { principalOf } from '../context.ts';
import { parseInput } from '../validate.ts';
import { parseDuration } from '../../core/duration.ts';
import { REQUEST_STATES } from '../../core/model.ts';
import { notFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';

export const CreateRequestBody = z
  .object({
    profile: z.string().min(1).max(100),
    duration: z.string().max(40).optional(),
    reason: z.string().max(100_000).nullish(),
    ticket: z.string().max(1000).nullish(),
    incident: z.string().max(1000).nullish(),
    break_glass: z.boolean().default(false),
  })
  .strict();

export const DecisionBody = z.object({ comment: z.string().max(100_000).nullish() }).strict();

const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
export const ListRequestsQuery = z
  .object({
    state: z.string().optional().transform((s, ctx) => {
      if (!s) return undefined;
      const states = s.split(',');
      for (const st of states) if (!(REQUEST_STATES as readonly string[]).includes(st)) ctx.addIssue({ code: 'custom', message: `unknown state ${JSON.stringify(st)} (one of ${REQUEST_STATES.join(', ')})` });
      return states as (typeof REQUEST_STATES)[number][];
    }),
    mine: flag.optional(),
    to_review: flag.optional(),
  })
  .strict();

const requestId = (id: string) => {
  if (!isId('req', id)) throw notFound('request', id);
  return id;
};

export function requestRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.post('/api/v1/requests', async (req, reply) => {
    const who = principalOf(req);
    const body = parseInput(CreateRequestBody, req.body, 'body');
    const outcome = await ctx.requests.create(who, {
      profile: body.profile,
      durationSeconds: body.duration === undefined ? null : parseDuration(body.duration),
      reason: body.reason ?? null,
      ticket: body.ticket ?? null,
      incident: body.incident ?? null,
      breakGlass: body.break_glass,
    });
    return reply.status(201).send({ request: outcome.request, grant: outcome.grant, credentials: outcome.credentials ?? null });
  });

  app.get('/api/v1/requests', async (req) => {
    const who = principalOf(req);
    const q = parseInput(ListRequestsQuery, req.query, 'query');
    return { items: await ctx.requests.list(who, { state: q.state, mine: q.mine, toReview: q.to_review }) };
  });

  app.get<{ Params: { id: string } }>('/api/v1/requests/:id', async (req) => ctx.requests.get(principalOf(req), requestId(req.params.id)));

  app.post<{ Params: { id: string } }>('/api/v1/requests/:id/approve', async (req) => {
    const who = principalOf(req);
    const body = parseInput(DecisionBody, req.body, 'body');
    const outcome = await ctx.requests.approve(who, requestId(req.params.id), body.comment ?? null);
    return { request: outcome.request, grant: outcome.grant };
  });

  app.post<{ Params: { id: string } }>('/api/v1/requests/:id/deny', async (req) => {
    const who = principalOf(req);
    const body = parseInput(DecisionBody, req.body, 'body');
    return ctx.requests.deny(who, requestId(req.params.id), body.comment ?? null);
  });

  app.post<{ Params: { id: string } }>('/api/v1/requests/:id/cancel', async (req) => {
    const who = principalOf(req);
    parseInput(z.object({}).strict(), req.body, 'body');
    return ctx.requests.cancel(who, requestId(req.params.id));
  });
}

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HttpContext } from '../context.ts';
import { principalOf } from '../context.ts';
import { parseInput } from '../validate.ts';
import { parseDuration } from '../../core/duration.ts';
import { KeyshiftError, notFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';

export const CreateTokenBody = z.object({ user: z.string().min(3).max(320), ttl: z.string().max(40).optional(), label: z.string().max(200).nullish() }).strict();

export function identityRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get('/api/v1/me', async (req) => {
    const who = principalOf(req);
    parseInput(z.object({}).strict(), req.query, 'query');
    return { email: who.email, groups: who.groups, admin: who.admin };
  });

  app.get('/api/v1/tokens', async (req) => {
    const who = principalOf(req);
    parseInput(z.object({}).strict(), req.query, 'query');
    return { items: await ctx.tokens.list(who) };
  });

  app.post<{ Params: { id: string } }>('/api/v1/tokens/:id/revoke', async (req) => {
    const who = principalOf(req);
    parseInput(z.object({}).strict(), req.body, 'body');
    if (!isId('tok', req.params.id)) throw notFound('token', req.params.id);
    return ctx.tokens.revoke(who.email, who.admin, req.params.id);
  });

  app.post('/api/v1/tokens', async (req, reply) => {
    const who = principalOf(req);
    if (!who.admin) throw new KeyshiftError('FORBIDDEN', 'creating tokens is for admins');
    const body = parseInput(CreateTokenBody, req.body, 'body');
    const ttl = body.ttl === undefined ? 30 * 86400 : parseDuration(body.ttl, 'ttl');
    return reply.status(201).send(await ctx.tokens.create(who.email, body.user, ttl, body.label ?? null));
  });
}

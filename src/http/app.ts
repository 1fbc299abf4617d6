/**
 * The HTTP server: bearer-token auth, the error envelope, open health/metrics/OpenAPI
 * endpoints, and each resource's routes (routes/<resource>.ts wire themselves).
 */
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { HttpContext } from './context.ts';
import { sendError } from './errors.ts';
import { KeyshiftError } from '../core/errors.ts';
import { requestRoutes } from './routes/requests.ts';
import { grantRoutes } from './routes/grants.ts';
import { profileRoutes } from './routes/profiles.ts';
import { auditRoutes } from './routes/audit.ts';
import { identityRoutes } from './routes/identity.ts';
import { connectorRoutes } from './routes/connectors.ts';
import { preApprovalRoutes } from './routes/preapprovals.ts';
import { openApiDocument } from './openapi.ts';
import type { Metrics } from './metrics.ts';
import type { Log } from '../core/deps.ts';

const OPEN_PATHS = [/^\/healthz$/, /^\/readyz$/, /^\/metrics$/, /^\/api\/v1\/openapi\.json$/, /^\/api\/v1\/connectors\/[^/]+\/(krl|ca\.pub)$/];

export interface HttpAppOptions {
  logger?: boolean;
  metrics: Metrics;
  /** Where internal errors are written, with the request ID the client was given. */
  log?: Log;
}

export async function createHttpApp(ctx: HttpContext, opts: HttpAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ? { level: 'info', redact: ['req.headers.authorization', 'req.headers.cookie'] } : false,
    bodyLimit: ctx.maxBodyBytes,
    genReqId: () => randomUUID(),
    // IDs and profile names are short; anything longer is refused before routing.
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // Errors the router raises before routing (bad escapes, over-long parameters) get the
    // same envelope as everything else, without echoing the path.
    frameworkErrors: (err, req, reply) => {
      const code = (err as { code?: string }).code;
      const e = code === 'FST_ERR_MAX_PARAM_LENGTH' ? new KeyshiftError('NOT_FOUND', 'no such resource (an identifier in the path is too long)') : new KeyshiftError('INVALID_INPUT', 'the request path is malformed (bad percent-encoding)');
      return sendError(req, reply, e, opts.log);
    },
  });
  app.decorateRequest('principal', null);

  app.setErrorHandler((err, req, reply) => sendError(req, reply, err, opts.log));
  app.setNotFoundHandler((req, reply) => sendError(req, reply, new KeyshiftError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));

  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (OPEN_PATHS.some((p) => p.test(path))) return;
    const header = req.headers.authorization;
    if (!header) throw new KeyshiftError('UNAUTHENTICATED', 'send Authorization: Bearer <token>');
    const match = /^Bearer ([^\s]+)$/.exec(header);
    if (!match) throw new KeyshiftError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"');
    req.principal = await ctx.tokens.authenticate(match[1]!);
  });

  app.addHook('onResponse', async (req, reply) => {
    opts.metrics.httpRequests.inc({ route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    if (!ctx.ready()) return reply.status(503).send({ ok: false, reason: 'start-up recovery in progress' });
    await ctx.store.read.auditHeadRow();
    return { ok: true };
  });
  app.get('/metrics', async (_req, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.metrics()));
  app.get('/api/v1/openapi.json', async () => openApiDocument());

  requestRoutes(app, ctx);
  grantRoutes(app, ctx);
  profileRoutes(app, ctx);
  auditRoutes(app, ctx);
  identityRoutes(app, ctx);
  connectorRoutes(app, ctx);
  preApprovalRoutes(app, ctx);
  return app;
}

/**
 * A small webhook target for tests, behaving as docs/connectors/webhook.md asks of a
 * receiver: verifies the signature and the ±5 min window, rejects an exact replay of a
 * timestamp+signature pair, honours Idempotency-Key (same key and body → the stored answer;
 * same key, other body → 422), and keeps accounts in memory:
 *
 *   grant       → account (access, ends_at)          extend → moves ends_at
 *   credentials → a fresh token; earlier tokens stop working
 *   revoke      → account, tokens and sessions gone (404 when unknown)
 *
 * Grantees use it through POST /login {token} → {session}, POST /use {session, right}
 * (allowed when `access.rights` lists it) and GET /sessions/:id. Past `ends_at` every token
 * and session is refused: that is the target-side guard.
 * Test controls: failNext(n, status, body), down()/up(), dropAccount(), requests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { verifyWebhookSignature } from '../../src/connectors/webhook/webhook-signature.ts';

interface Account {
  grantee: string;
  access: Record<string, unknown>;
  endsAt: number;
  tokens: Set<string>;
  sessions: Set<string>;
}

export interface ReceivedRequest {
  path: string;
  headers: Record<string, string | undefined>;
  body: string;
  status: number;
}

export interface WebhookReceiver {
  /** The hook URL to configure in the connector. */
  readonly url: string;
  readonly base: string;
  readonly accounts: Map<string, Account>;
  /** Every POST to the hook, in arrival order, with the status it got. */
  readonly requests: ReceivedRequest[];
  /** The next `n` hook calls answer `status` (default 503) without any processing. */
  failNext(n: number, status?: number, body?: string): void;
  /** Stops listening and cuts open connections; `up()` listens again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Removes an account behind Keyshift's back. */
  dropAccount(grantId: string): void;
  close(): Promise<void>;
}

const EVENTS = new Set(['grant', 'extend', 'revoke', 'credentials']);
const TOLERANCE_SECONDS = 300;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): number {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
  return status;
}

export async function startWebhookReceiver(opts: { secret: string; now?: () => Date }): Promise<WebhookReceiver> {
  const now = opts.now ?? (() => new Date());
  const accounts = new Map<string, Account>();
  const requests: ReceivedRequest[] = [];
  const seenSignatures = new Map<string, number>(); // "ts.sig" → ts, pruned past the window
  const idempotency = new Map<string, { bodyHash: string; status: number; body: unknown }>();
  const failures: Array<{ status: number; body: string }> = [];
  const sockets = new Set<Socket>();
  let port = 0;

  const live = (a: Account | undefined): a is Account => a !== undefined && now().getTime() < a.endsAt;
  const sessionAccount = (session: unknown): Account | undefined =>
    [...accounts.values()].find((a) => typeof session === 'string' && a.sessions.has(session));

  function process(payload: Record<string, unknown>): { status: number; body: unknown } {
    const grantId = payload.grant_id;
    const endsAt = Date.parse(String(payload.ends_at));
    if (typeof grantId !== 'string' || !EVENTS.has(String(payload.event)) || Number.isNaN(endsAt)) {
      return { status: 400, body: { error: 'malformed payload' } };
    }
    const account = accounts.get(grantId);
    switch (payload.event) {
      case 'grant': {
        const access = typeof payload.access === 'object' && payload.access !== null ? (payload.access as Record<string, unknown>) : {};
        if (account) Object.assign(account, { access, endsAt });
        else accounts.set(grantId, { grantee: String(payload.grantee), access, endsAt, tokens: new Set(), sessions: new Set() });
        return { status: 200, body: { account: `acct-${grantId}` } };
      }
      case 'extend':
        if (!account) return { status: 404, body: { error: 'unknown grant' } };
        account.endsAt = endsAt;
        return { status: 200, body: {} };
      case 'credentials': {
        if (!account) return { status: 404, body: { error: 'unknown grant' } };
        const token = randomBytes(18).toString('base64url');
        account.tokens = new Set([token]); // a new token replaces the earlier one
        return { status: 200, body: { credentials: { token, login_url: `http://127.0.0.1:${port}/login` }, expires_at: new Date(account.endsAt).toISOString() } };
      }
      default: // revoke
        if (!account) return { status: 404, body: { error: 'unknown grant' } };
        accounts.delete(grantId);
        return { status: 200, body: { revoked: true } };
    }
  }

  async function hook(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const raw = await readBody(req);
    const header = (n: string) => {
      const v = req.headers[n.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    };
    const record: ReceivedRequest = {
      path: req.url ?? '/',
      headers: { timestamp: header('Keyshift-Timestamp'), signature: header('Keyshift-Signature'), idempotencyKey: header('Idempotency-Key') },
      body: raw,
      status: 0,
    };
    requests.push(record);
    const injected = failures.shift();
    if (injected) return (record.status = send(res, injected.status, injected.body));

    const ts = header('Keyshift-Timestamp');
    const sig = header('Keyshift-Signature');
    const verdict = verifyWebhookSignature({ secret: opts.secret, timestamp: ts, signature: sig, rawBody: raw, now: now() });
    if (!verdict.ok) return (record.status = send(res, 401, { error: `signature ${verdict.reason}` }));
    const nowS = Math.floor(now().getTime() / 1000);
    for (const [k, t] of seenSignatures) if (nowS - t > TOLERANCE_SECONDS) seenSignatures.delete(k);
    const replayKey = `${ts}.${sig}`;
    if (seenSignatures.has(replayKey)) return (record.status = send(res, 409, { error: 'replayed request' }));
    seenSignatures.set(replayKey, Number(ts));

    const key = header('Idempotency-Key');
    if (!key) return (record.status = send(res, 400, { error: 'Idempotency-Key required' }));
    const bodyHash = createHash('sha256').update(raw).digest('hex');
    const stored = idempotency.get(key);
    if (stored) {
      if (stored.bodyHash !== bodyHash) return (record.status = send(res, 422, { error: 'Idempotency-Key reused with another body' }));
      return (record.status = send(res, stored.status, stored.body));
    }
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return (record.status = send(res, 400, { error: 'body is not JSON' }));
    }
    // The header is not signed; the body's copy is. They must agree.
    if (payload.idempotency_key !== key) return (record.status = send(res, 400, { error: 'Idempotency-Key does not match the signed body' }));
    const result = process(payload);
    if (result.status < 300) idempotency.set(key, { bodyHash, ...result });
    return (record.status = send(res, result.status, result.body));
  }

  async function grantee(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method === 'GET' && path.startsWith('/sessions/')) {
      const a = sessionAccount(decodeURIComponent(path.slice('/sessions/'.length)));
      send(res, live(a) ? 200 : 401, {});
      return;
    }
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    } catch {
      send(res, 400, { error: 'body is not JSON' });
      return;
    }
    if (path === '/login') {
      const a = [...accounts.values()].find((x) => typeof body.token === 'string' && x.tokens.has(body.token));
      if (!live(a)) {
        send(res, 401, { error: 'token refused' });
        return;
      }
      const session = randomBytes(12).toString('hex');
      a.sessions.add(session);
      send(res, 200, { session });
      return;
    }
    if (path === '/use') {
      const a = sessionAccount(body.session);
      if (!live(a)) {
        send(res, 401, { error: 'session ended' });
        return;
      }
      const rights = Array.isArray(a.access.rights) ? a.access.rights : [];
      send(res, rights.includes(body.right) ? 200 : 403, {});
      return;
    }
    send(res, 404, {});
  }

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const handler = path === '/hook' && req.method === 'POST' ? hook(req, res) : req.method === 'HEAD' ? Promise.resolve(send(res, 405, '')) : grantee(req, res, path);
    Promise.resolve(handler).catch(() => {
      if (!res.headersSent) send(res, 500, { error: 'receiver error' });
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const listen = () => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      port = (server.address() as { port: number }).port;
      resolve();
    });
  });
  const stop = () => new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    for (const s of sockets) s.destroy();
  });

  await listen();
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/hook`,
    base,
    accounts,
    requests,
    failNext(n, status = 503, body = '{"error":"try again"}') {
      for (let i = 0; i < n; i++) failures.push({ status, body });
    },
    down: stop,
    up: listen,
    dropAccount(grantId) {
      accounts.delete(grantId);
    },
    close: stop,
  };
}

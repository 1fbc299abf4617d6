import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { startKeyshift } from '../harness/keyshift.ts';
import type { TestServer } from '../harness/keyshift.ts';
import { verifyWebhookSignature } from '../../src/connectors/webhook/webhook-signature.ts';

const SECRET = 'notify-secret-0123456789';

interface Received {
  action: string;
  recipients: string[];
  idempotency: string;
}

let describe_: () => string = () => '';
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting: ' + describe_());
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('webhook notifications', () => {
  let receiver: Server;
  let srv: TestServer;
  const received: Received[] = [];
  let failNext = 0;
  let badSignatures = 0;
  const logs: string[] = [];
  describe_ = () => JSON.stringify({ failNext, badSignatures, received: received.map((r) => r.action), logs: logs.slice(-10) });

  before(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const ok = verifyWebhookSignature({ secret: SECRET, timestamp: req.headers['keyshift-timestamp'] as string, signature: req.headers['keyshift-signature'] as string, rawBody: raw });
        if (!ok.ok) {
          badSignatures++;
          res.writeHead(401).end();
          return;
        }
        if (failNext > 0) {
          failNext--;
          res.writeHead(503).end();
          return;
        }
        const body = JSON.parse(raw.toString('utf8')) as { event: { action: string }; recipients: string[] };
        received.push({ action: body.event.action, recipients: body.recipients, idempotency: String(req.headers['idempotency-key']) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as { port: number }).port;
    srv = await startKeyshift({
      extra: { integrations: { webhook: { url: `http://127.0.0.1:${port}/notify`, secret: '${env:NOTIFY_SECRET}' } } },
      env: { ...process.env, NOTIFY_SECRET: SECRET },
      log: (level, msg, fields) => logs.push(`${new Date().toISOString()} ${level} ${msg} ${JSON.stringify(fields ?? {})}`),
    });
  });

  after(async () => {
    await srv?.close();
    await new Promise((r) => receiver.close(r));
  });

  it('a pending request notifies the approvers who can decide it, never the requester', async () => {
    const res = await srv.api<{ request: { id: string } }>('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '10m', reason: 'INC-1 disk' });
    assert.equal(res.status, 201);
    await until(() => received.some((r) => r.action === 'request.created'));
    const created = received.find((r) => r.action === 'request.created')!;
    assert.deepEqual(created.recipients.sort(), ['bob@example.com', 'erin@example.com']);
    assert.equal(badSignatures, 0);
  });

  it('break-glass alerts approvers at once', async () => {
    const res = await srv.api('mallory', 'GET', '/api/v1/me');
    assert.equal(res.status, 200);
    const bg = await srv.api<{ grant: { id: string } }>('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '10m', reason: 'INC-2 db down', break_glass: true });
    assert.equal(bg.status, 201);
    await until(() => received.some((r) => r.action === 'break_glass.activated'));
    const alert = received.find((r) => r.action === 'break_glass.activated')!;
    assert.ok(alert.recipients.includes('bob@example.com'));
    assert.ok(!alert.recipients.includes('alice@example.com'));
  });

  it('a failing receiver gets the notification again until it accepts it, in order, without losing any', async () => {
    const before = received.length;
    failNext = 2;
    const r = await srv.api<{ request: { id: string } }>('alice', 'POST', '/api/v1/requests', { profile: 'two-team', duration: '10m', reason: 'INC-3', incident: 'INC-3' });
    assert.equal(r.status, 201);
    await until(() => received.length > before && failNext === 0, 10_000);
    const next = received.slice(before);
    assert.equal(next[0]!.action, 'request.created');
    assert.deepEqual(next[0]!.recipients.sort(), ['carol@example.com', 'dave@example.com', 'erin@example.com']);
    assert.match(next[0]!.idempotency, /^evt_/);
    // Each event was delivered once to the receiver that accepted it.
    const ids = received.map((x) => x.idempotency);
    assert.equal(new Set(ids).size, ids.length);
  });
});

/**
 * What every route shares: open health/readiness/metrics/OpenAPI endpoints, the error
 * envelope (404, 413, bad JSON, unknown fields), and that no error leaks internals.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeyshift } from '../harness/keyshift.ts';
import type { TestServer } from '../harness/keyshift.ts';
import type { Grant } from '../../src/core/model.ts';
import {
  activeHostShell,
  assertCleanError,
  createRequest,
  expectError,
  expectOk,
  reset,
  sleep,
  snapshot,
  waitFor,
  type ApiResult,
  type Items,
} from './helpers.ts';

/** Every route in PRODUCT.md's HTTP API section, as METHOD and OpenAPI path. */
const PRODUCT_API_ROUTES: Array<[string, string]> = [
  ['get', '/api/v1/me'],
  ['get', '/api/v1/profiles'],
  ['get', '/api/v1/profiles/{name}/explain'],
  ['post', '/api/v1/requests'],
  ['get', '/api/v1/requests'],
  ['get', '/api/v1/requests/{id}'],
  ['post', '/api/v1/requests/{id}/approve'],
  ['post', '/api/v1/requests/{id}/deny'],
  ['post', '/api/v1/requests/{id}/cancel'],
  ['get', '/api/v1/grants'],
  ['get', '/api/v1/grants/{id}'],
  ['post', '/api/v1/grants/{id}/credentials'],
  ['post', '/api/v1/grants/{id}/extend'],
  ['post', '/api/v1/grants/{id}/release'],
  ['post', '/api/v1/grants/{id}/revoke'],
  ['get', '/api/v1/audit'],
  ['get', '/api/v1/audit/verify'],
  ['get', '/api/v1/reports/incidents/{id}'],
  ['get', '/api/v1/connectors/{name}/krl'],
  ['get', '/healthz'],
  ['get', '/readyz'],
  ['get', '/metrics'],
];
const PRODUCT_INTEGRATION_ROUTES: Array<[string, string]> = [
  ['post', '/integrations/slack/commands'],
  ['post', '/integrations/slack/interactions'],
  ['post', '/integrations/pagerduty/webhook'],
  ['post', '/integrations/jira/webhook'],
];

const REQ = 'req_' + '0'.repeat(26);
const GRT = 'grt_' + '0'.repeat(26);

/** Reads one sample value from Prometheus text, or null when absent. */
function sample(text: string, name: string): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    if (i > 0 && line.slice(0, i) === name) return Number(line.slice(i + 1));
  }
  return null;
}

describe('platform: open endpoints and the error envelope', () => {
  let srv: TestServer;
  const raw = (path: string, init: RequestInit = {}) => fetch(srv.url + path, init);
  async function rawApi(path: string, init: RequestInit): Promise<ApiResult> {
    const res = await raw(path, init);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, text };
  }

  before(async () => {
    srv = await startKeyshift();
  });
  after(async () => {
    await srv?.close();
  });

  describe('GET /healthz and /readyz', () => {
    it('healthz answers ok without a token', async () => {
      const res = await raw('/healthz');
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { ok: true });
    });

    it('readyz answers ok once start-up recovery is done, without a token', async () => {
      const res = await raw('/readyz');
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { ok: true });
    });

    it('the open endpoints ignore a bad token rather than refusing it', async () => {
      for (const path of ['/healthz', '/readyz', '/metrics', '/api/v1/openapi.json']) {
        const res = await raw(path, { headers: { authorization: 'Bearer nonsense' } });
        assert.equal(res.status, 200, path);
        await res.arrayBuffer();
      }
    });
  });

  describe('GET /metrics', () => {
    it('serves Prometheus text with grants by state, the revoking gauge, the expiry-lag histogram and HTTP counts', async () => {
      const res = await raw('/metrics');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      const text = await res.text();
      assert.match(text, /^# TYPE keyshift_grants gauge$/m);
      for (const state of ['activating', 'active', 'revoking', 'expired', 'revoked', 'released', 'failed']) {
        assert.notEqual(sample(text, `keyshift_grants{state="${state}"}`), null, state);
      }
      assert.match(text, /^# TYPE keyshift_grants_revoking gauge$/m);
      assert.match(text, /^# TYPE keyshift_expiry_lag_seconds histogram$/m);
      assert.notEqual(sample(text, 'keyshift_expiry_lag_seconds_count'), null);
      assert.match(text, /^# TYPE keyshift_http_requests_total counter$/m);
    });

    it('keyshift_grants counts grants by state as they change', async () => {
      const before = await (await raw('/metrics')).text();
      const active0 = sample(before, 'keyshift_grants{state="active"}')!;
      const released0 = sample(before, 'keyshift_grants{state="released"}')!;
      const g = await activeHostShell(srv);
      assert.equal(sample(await (await raw('/metrics')).text(), 'keyshift_grants{state="active"}'), active0 + 1);
      expectOk(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`), 200);
      const after = await (await raw('/metrics')).text();
      assert.equal(sample(after, 'keyshift_grants{state="active"}'), active0);
      assert.equal(sample(after, 'keyshift_grants{state="released"}'), released0 + 1);
    });

    it('an expiry is observed in keyshift_expiry_lag_seconds, with a lag of about a second at most', async () => {
      const count0 = sample(await (await raw('/metrics')).text(), 'keyshift_expiry_lag_seconds_count')!;
      const out = await createRequest(srv, 'mallory', { profile: 'logs', duration: '1s' });
      const g = out.grant!;
      await sleep(Math.max(0, Date.parse(g.ends_at!) - Date.now()));
      await waitFor(async () => (await srv.api<Grant>('mallory', 'GET', `/api/v1/grants/${g.id}`)).body.state === 'expired', 5000, 'the grant to expire');
      const text = await (await raw('/metrics')).text();
      assert.equal(sample(text, 'keyshift_expiry_lag_seconds_count'), count0 + 1);
      assert.ok(sample(text, 'keyshift_expiry_lag_seconds_bucket{le="2"}')! >= count0 + 1, 'the lag is under 2 s');
      assert.ok(sample(text, 'keyshift_expiry_lag_seconds_sum')! < 2 * (count0 + 1));
    });

    it('the metrics hold no token, email or secret', async () => {
      const text = await (await raw('/metrics')).text();
      for (const token of Object.values(srv.tokens)) assert.ok(!text.includes(token));
      assert.doesNotMatch(text, /@example\.com|PRIVATE KEY|password/i);
    });
  });

  describe('GET /api/v1/openapi.json', () => {
    let doc: { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };

    before(async () => {
      const res = await raw('/api/v1/openapi.json');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      doc = JSON.parse(await res.text()) as typeof doc;
    });

    it('is an OpenAPI 3.1 document served without a token', () => {
      assert.match(doc.openapi, /^3\.1\./);
      assert.equal(typeof doc.paths, 'object');
    });

    it('lists every API route of PRODUCT.md with its method', () => {
      const missing = PRODUCT_API_ROUTES.filter(([m, p]) => !doc.paths[p]?.[m]).map(([m, p]) => `${m.toUpperCase()} ${p}`);
      assert.deepEqual(missing, []);
    });

    it(
      'lists the integration webhook routes of PRODUCT.md',
      { todo: 'BUG: src/http/openapi.ts lists no /integrations/* path, and src/http/app.ts registers none (src/integrations/ is empty); PRODUCT.md names four' },
      () => {
        const missing = PRODUCT_INTEGRATION_ROUTES.filter(([m, p]) => !doc.paths[p]?.[m]).map(([m, p]) => `${m.toUpperCase()} ${p}`);
        assert.deepEqual(missing, []);
      },
    );

    it('describes the error envelope with the closed list of codes', () => {
      const error = JSON.stringify(doc.components.schemas['Error']);
      for (const code of ['INVALID_INPUT', 'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'POLICY_DENIED', 'CONFLICT', 'PAYLOAD_TOO_LARGE', 'INTERNAL']) {
        assert.ok(error.includes(code), code);
      }
      assert.ok(error.includes('request_id'));
    });
  });

  describe('the error envelope', () => {
    it('an unknown route is NOT_FOUND in the envelope', async () => {
      for (const [method, path] of [['GET', '/api/v1/nope'], ['DELETE', '/api/v1/requests'], ['PUT', `/api/v1/grants/${GRT}`], ['GET', '/api/v2/me'], ['GET', '/']] as const) {
        const e = expectError(await srv.api('alice', method, path), 404, 'NOT_FOUND', `${method} ${path}`);
        assert.ok(e.message.length < 300);
      }
    });

    it('an unknown route without a token is UNAUTHENTICATED, so routes cannot be probed anonymously', async () => {
      expectError(await srv.api(null, 'GET', '/api/v1/nope'), 401, 'UNAUTHENTICATED');
    });

    it('an oversized body is PAYLOAD_TOO_LARGE (413) and creates nothing', async () => {
      const before = await snapshot(srv);
      const big = JSON.stringify({ profile: 'logs', reason: 'x'.repeat(70 * 1024) });
      expectError(await srv.api('mallory', 'POST', '/api/v1/requests', big), 413, 'PAYLOAD_TOO_LARGE', 'requests');
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${REQ}/approve`, JSON.stringify({ comment: 'y'.repeat(200 * 1024) })), 413, 'PAYLOAD_TOO_LARGE', 'approve');
      assert.deepEqual(await snapshot(srv), before);
    });

    for (const [what, body] of [
      ['truncated JSON', '{"profile": "logs"'],
      ['not JSON at all', 'profile=logs'],
      ['single quotes', "{'profile': 'logs'}"],
      ['a trailing comma', '{"profile": "logs",}'],
      ['a bare string', '"logs"'],
      ['an array', '[{"profile": "logs"}]'],
      ['a number', '42'],
      ['a __proto__ key', '{"profile": "logs", "__proto__": {"admin": true}}'],
      ['a constructor.prototype key', '{"profile": "logs", "constructor": {"prototype": {"admin": true}}}'],
    ] as const) {
      it(`a body with ${what} is INVALID_INPUT and creates nothing`, async () => {
        const before = await snapshot(srv);
        expectError(await srv.api('mallory', 'POST', '/api/v1/requests', body), 400, 'INVALID_INPUT');
        assert.deepEqual(await snapshot(srv), before);
      });
    }

    it('an empty JSON body or a non-JSON content type is INVALID_INPUT', async () => {
      const auth = { authorization: `Bearer ${srv.tokens.mallory}` };
      expectError(await rawApi('/api/v1/requests', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '' }), 400, 'INVALID_INPUT', 'empty');
      expectError(await rawApi('/api/v1/requests', { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: '{"profile":"logs"}' }), 400, 'INVALID_INPUT', 'text/plain');
      expectError(await rawApi('/api/v1/requests', { method: 'POST', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'profile=logs' }), 400, 'INVALID_INPUT', 'form');
    });

    it('unknown fields are INVALID_INPUT on every body and query, naming the field', async () => {
      const g = await activeHostShell(srv);
      const r = (await createRequest(srv, 'alice', { profile: 'two-team', reason: 'x', incident: 'INC-1' })).request;
      const cases: Array<[Parameters<TestServer['api']>[0], string, string, unknown]> = [
        ['alice', 'POST', '/api/v1/requests', { profile: 'logs', sneaky: 1 }],
        ['dave', 'POST', `/api/v1/requests/${r.id}/approve`, { sneaky: 1 }],
        ['dave', 'POST', `/api/v1/requests/${r.id}/deny`, { sneaky: 1 }],
        ['alice', 'POST', `/api/v1/requests/${r.id}/cancel`, { sneaky: 1 }],
        ['alice', 'POST', `/api/v1/grants/${g.id}/credentials`, { sneaky: 1 }],
        ['alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '5m', sneaky: 1 }],
        ['alice', 'POST', `/api/v1/grants/${g.id}/release`, { sneaky: 1 }],
        ['bob', 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'x', sneaky: 1 }],
        ['carol', 'POST', '/api/v1/tokens', { user: 'alice@example.com', sneaky: 1 }],
        ['alice', 'GET', '/api/v1/requests?sneaky=1', undefined],
        ['alice', 'GET', '/api/v1/grants?sneaky=1', undefined],
        ['alice', 'GET', '/api/v1/audit?sneaky=1', undefined],
        ['alice', 'GET', '/api/v1/profiles/host-shell/explain?sneaky=1', undefined],
        ['alice', 'GET', '/api/v1/reports/incidents/INC-1?sneaky=1', undefined],
      ];
      const before = await snapshot(srv);
      for (const [who, method, path, body] of cases) {
        const e = expectError(await srv.api(who, method, path, body), 400, 'INVALID_INPUT', `${method} ${path}`);
        assert.match(e.message, /sneaky/, `${method} ${path}`);
      }
      assert.deepEqual(await snapshot(srv), before);
      await reset(srv);
    });

    it('a path the router rejects gets the error envelope without echoing the path: an over-long id is NOT_FOUND, a bad escape INVALID_INPUT', async () => {
      const long = `/api/v1/requests/req_${'A'.repeat(300)}`;
      for (const who of ['alice', null] as const) {
        const e1 = expectError(await srv.api(who, 'GET', long), 404, 'NOT_FOUND', `${who ?? 'anonymous'} over-long id`);
        assert.ok(!e1.message.includes('AAAAAAAAAA'), e1.message);
        const e2 = expectError(await srv.api(who, 'GET', '/api/v1/requests/%ZZ'), 400, 'INVALID_INPUT', `${who ?? 'anonymous'} bad escape`);
        assert.ok(!e2.message.includes('%ZZ'), e2.message);
      }
    });

    it('no error response carries a stack trace or internal text, and each has code, message and a unique request_id', async () => {
      const g = await activeHostShell(srv);
      const probes: Array<[Parameters<TestServer['api']>[0], string, string, unknown]> = [
        [null, 'GET', '/api/v1/me', undefined],
        [{ token: 'ks_' + 'x'.repeat(43) }, 'GET', '/api/v1/me', undefined],
        ['alice', 'GET', '/api/v1/nope', undefined],
        ['alice', 'POST', '/api/v1/requests', '{"profile":'],
        ['alice', 'POST', '/api/v1/requests', { profile: { $gt: '' } }],
        ['alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '9'.repeat(40), reason: 'x' }],
        ['alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '9999999d', reason: 'x' }],
        ['alice', 'POST', '/api/v1/requests', { profile: "x'; DROP TABLE grants; --", reason: 'x' }],
        ['alice', 'POST', '/api/v1/requests', { profile: 'two-team', reason: 'x', incident: '\u0000' }],
        ['mallory', 'POST', '/api/v1/requests', { profile: 'host-shell', reason: 'x' }],
        ['alice', 'GET', `/api/v1/requests/${REQ}`, undefined],
        ['alice', 'GET', '/api/v1/requests?state[]=x', undefined],
        ['bob', 'POST', `/api/v1/requests/${REQ}/approve`, { comment: null }],
        ['alice', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----' }],
        ['alice', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQ==' }],
        ['alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '5h' }],
        ['alice', 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'x' }],
        ['mallory', 'POST', `/api/v1/grants/${g.id}/release`, undefined],
        ['alice', 'GET', '/api/v1/audit?since=99999-01-01', undefined],
        ['alice', 'GET', '/api/v1/audit?limit=1e400', undefined],
        ['alice', 'GET', '/api/v1/profiles/%00/explain', undefined],
        ['alice', 'GET', `/api/v1/reports/incidents/${'x'.repeat(150)}`, undefined],
        ['carol', 'POST', '/api/v1/tokens', { user: 'x'.repeat(400) }],
        ['carol', 'GET', `/api/v1/connectors/nope/krl`, undefined],
      ];
      const ids = new Set<string>();
      for (const [who, method, path, body] of probes) {
        const res = await srv.api(who, method, path, body);
        assert.ok(res.status >= 400 && res.status < 500, `${method} ${path} → ${res.status} ${res.text.slice(0, 300)}`);
        const e = assertCleanError(res, `${method} ${path}`);
        assert.ok(!ids.has(e.request_id), 'request IDs are unique');
        ids.add(e.request_id);
        for (const token of Object.values(srv.tokens)) assert.ok(!res.text.includes(token), 'no token echoed');
      }
      const grants = expectOk<Items<Grant>>(await srv.api('carol', 'GET', '/api/v1/grants?all=true&state=active'), 200).items;
      assert.deepEqual(grants.map((x) => x.id), [g.id], 'the probes created nothing');
      await reset(srv);
    });
  });
});

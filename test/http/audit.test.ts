/**
 * /api/v1/audit, /api/v1/audit/verify and /api/v1/reports/incidents/:id: every state
 * change leaves its event, exports (json, jsonl, csv), who sees what, and chain checks.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startKeyshift } from '../harness/keyshift.ts';
import type { TestServer } from '../harness/keyshift.ts';
import type { AuditEvent, Grant } from '../../src/core/model.ts';
import {
  activeHostShell,
  auditEvents,
  createRequest,
  email,
  expectError,
  expectOk,
  expectUnauthenticated,
  pendingHostShell,
  pendingTwoTeam,
  removeKeys,
  reset,
  snapshot,
  sshPublicKey,
  type Items,
  type Outcome,
} from './helpers.ts';

const CSV_COLUMNS = 'seq,id,time,action,actor,subject,profile,connector,request_id,grant_id,incident,ticket,reason,details,prev_hash,hash';

/** Splits RFC 4180 CSV into rows of cells. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

describe('audit API', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startKeyshift();
  });
  after(async () => {
    await srv?.close();
    removeKeys();
  });
  afterEach(async () => {
    await reset(srv);
  });

  describe('every state change leaves a matching audit event', () => {
    it('a full flow (request, approve, credentials, extension, release) leaves exactly its events, in order, with actors and reasons', async () => {
      const start = (await srv.ks.store.read.auditHeadRow()).seq;
      const r = await pendingHostShell(srv, { ticket: 'OPS-1' });
      const approved = expectOk<Outcome>(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, { comment: 'lgtm' }), 200);
      const g = approved.grant!;
      expectOk(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: sshPublicKey() }), 200);
      const ext = expectOk<Outcome>(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '10m', reason: 'more time' }), 202);
      expectOk(await srv.api('erin', 'POST', `/api/v1/requests/${ext.request.id}/approve`, { comment: 'fine' }), 200);
      expectOk(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`), 200);
      const events = (await auditEvents(srv)).filter((e) => e.seq > start);
      assert.deepEqual(
        events.map((e) => [e.action, e.actor, e.request_id]),
        [
          ['request.created', email('alice'), r.id],
          ['request.approved', email('bob'), r.id],
          ['grant.activated', 'system:activator', r.id],
          ['grant.credentials_issued', email('alice'), r.id],
          ['request.created', email('alice'), ext.request.id],
          ['request.approved', email('erin'), ext.request.id],
          ['grant.extended', email('erin'), r.id],
          // No re-issued certificate here: it would have gone to erin, not to alice.
          ['grant.released', email('alice'), r.id],
        ],
      );
      for (const e of events) {
        assert.match(e.id, /^evt_/);
        assert.equal(e.subject, email('alice'));
        assert.equal(e.profile, 'host-shell');
        assert.equal(e.connector, 'hosts');
        assert.equal(e.ticket, 'OPS-1');
      }
      assert.equal(events[0]!.reason, 'paged for disk pressure');
      assert.equal(events[1]!.reason, 'lgtm');
      assert.equal(events[4]!.reason, 'more time');
      assert.equal(events[6]!.details['extension_request'], ext.request.id);
      for (const e of events.slice(2)) if (e.action.startsWith('grant.')) assert.equal(e.grant_id, g.id);
      const seqs = events.map((e) => e.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    });

    it('deny, cancel, two-team approvals, break-glass and revoke each leave their events', async () => {
      const denied = await pendingHostShell(srv);
      expectOk(await srv.api('bob', 'POST', `/api/v1/requests/${denied.id}/deny`, { comment: 'no' }), 200);
      assert.deepEqual((await auditEvents(srv, `request=${denied.id}`)).map((e) => e.action), ['request.created', 'request.denied']);

      const cancelled = await pendingHostShell(srv);
      expectOk(await srv.api('alice', 'POST', `/api/v1/requests/${cancelled.id}/cancel`), 200);
      assert.deepEqual((await auditEvents(srv, `request=${cancelled.id}`)).map((e) => e.action), ['request.created', 'request.cancelled']);

      const two = await pendingTwoTeam(srv);
      expectOk(await srv.api('dave', 'POST', `/api/v1/requests/${two.id}/approve`, {}), 200);
      expectOk(await srv.api('carol', 'POST', `/api/v1/requests/${two.id}/approve`, {}), 200);
      const twoEvents = await auditEvents(srv, `request=${two.id}`);
      assert.deepEqual(twoEvents.map((e) => [e.action, e.actor]), [
        ['request.created', email('alice')],
        ['request.approval_added', email('dave')],
        ['request.approved', email('carol')],
        ['grant.activated', 'system:activator'],
      ]);
      assert.ok(twoEvents.every((e) => e.incident === 'INC-42'));

      const bg = await createRequest(srv, 'alice', { profile: 'host-shell', duration: '10m', reason: 'outage', break_glass: true });
      assert.deepEqual((await auditEvents(srv, `request=${bg.request.id}`)).map((e) => e.action), ['request.created', 'request.approved', 'break_glass.activated', 'grant.activated']);
      expectOk(await srv.api('erin', 'POST', `/api/v1/grants/${bg.grant!.id}/revoke`, { reason: 'review: not needed' }), 200);
      const revoked = await auditEvents(srv, `grant=${bg.grant!.id}&action=grant.revoked`);
      assert.equal(revoked.length, 1);
      assert.equal(revoked[0]!.actor, email('erin'));
      assert.equal(revoked[0]!.reason, 'review: not needed');
      await reset(srv);
    });

    it('a rejected request changes nothing: same audit head, same requests and grants', async () => {
      const before = await snapshot(srv);
      const attempts: Array<[string, number]> = [];
      const tries: Array<[Parameters<TestServer['api']>[0], string, string, unknown]> = [
        ['mallory', 'POST', '/api/v1/requests', { profile: 'host-shell', reason: 'x' }],
        ['alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '5h', reason: 'x' }],
        ['alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '1.5h', reason: 'x' }],
        ['alice', 'POST', '/api/v1/requests', { profile: 'host-shell', break_glass: true }],
        ['alice', 'POST', '/api/v1/requests', { profile: 'nope' }],
        ['alice', 'POST', '/api/v1/requests', { profile: 'logs', extra: 1 }],
        [null, 'POST', '/api/v1/requests', { profile: 'logs' }],
        ['alice', 'POST', '/api/v1/tokens', { user: email('alice') }],
      ];
      for (const [who, method, path, body] of tries) attempts.push([path, (await srv.api(who, method, path, body)).status]);
      assert.ok(attempts.every(([, s]) => s >= 400), JSON.stringify(attempts));
      assert.deepEqual(await snapshot(srv), before);
    });
  });

  describe('GET /api/v1/audit', () => {
    it('an admin sees every event, system ones included', async () => {
      const all = await auditEvents(srv);
      const actions = new Set(all.map((e) => e.action));
      assert.ok(actions.has('config.loaded'));
      assert.ok(actions.has('auth.token_created'));
      const actors = new Set(all.map((e) => e.actor));
      for (const who of ['alice', 'bob', 'carol', 'dave'] as const) assert.ok(actors.has(email(who)), who);
    });

    it('a non-admin sees only events she acted in or was the subject of', async () => {
      await activeHostShell(srv);
      await reset(srv);
      const all = await auditEvents(srv);
      for (const who of ['alice', 'bob', 'mallory', 'dave'] as const) {
        const mine = expectOk<Items<AuditEvent>>(await srv.api(who, 'GET', '/api/v1/audit?limit=10000'), 200, who).items;
        assert.ok(mine.every((e) => e.actor === email(who) || e.subject === email(who)), who);
        const expected = all.filter((e) => e.actor === email(who) || e.subject === email(who)).map((e) => e.id);
        assert.deepEqual(mine.map((e) => e.id), expected, who);
      }
      const mallory = expectOk<Items<AuditEvent>>(await srv.api('mallory', 'GET', `/api/v1/audit?actor=${email('alice')}`), 200).items;
      assert.deepEqual(mallory, [], "mallory cannot read alice's events by filtering for them");
      const malloryIncident = expectOk<Items<AuditEvent>>(await srv.api('mallory', 'GET', '/api/v1/audit?incident=INC-42'), 200).items;
      assert.deepEqual(malloryIncident, []);
    });

    it('filters by actor, action, request and time', async () => {
      const g = await activeHostShell(srv);
      const byActor = await auditEvents(srv, `actor=${email('bob')}`);
      assert.ok(byActor.length > 0 && byActor.every((e) => e.actor === email('bob')));
      const byAction = await auditEvents(srv, 'action=grant.activated');
      assert.ok(byAction.some((e) => e.grant_id === g.id) && byAction.every((e) => e.action === 'grant.activated'));
      const recent = await auditEvents(srv, 'since=1m');
      assert.ok(recent.some((e) => e.grant_id === g.id));
      const future = await auditEvents(srv, `since=${new Date(Date.now() + 60_000).toISOString()}`);
      assert.deepEqual(future, []);
      const old = await auditEvents(srv, `until=${new Date(Date.now() - 3600_000).toISOString()}`);
      assert.deepEqual(old, []);
      const limited = await srv.api<Items<AuditEvent>>('carol', 'GET', '/api/v1/audit?limit=2');
      assert.equal(limited.body.items.length, 2);
      await reset(srv);
    });

    it('format=jsonl returns one JSON event per line, the same events as json', async () => {
      const json = await auditEvents(srv);
      const res = await srv.api('carol', 'GET', '/api/v1/audit?format=jsonl&limit=10000');
      assert.equal(res.status, 200);
      const type = (await fetch(`${srv.url}/api/v1/audit?format=jsonl&limit=1`, { headers: { authorization: `Bearer ${srv.tokens.carol}` } })).headers.get('content-type');
      assert.match(type ?? '', /application\/x-ndjson/);
      assert.ok(res.text.endsWith('\n'));
      const lines = res.text.trimEnd().split('\n');
      const parsed = lines.map((l) => JSON.parse(l) as AuditEvent);
      assert.deepEqual(parsed.map((e) => e.id), json.map((e) => e.id));
      assert.deepEqual(parsed[0], json[0]);
    });

    it('format=csv returns a header and one row per event, quoting safely', async () => {
      await createRequest(srv, 'alice', { profile: 'host-shell', duration: '10m', reason: '=HYPERLINK("http://evil", "x"), and "quotes"' });
      const json = await auditEvents(srv);
      const res = await fetch(`${srv.url}/api/v1/audit?format=csv&limit=10000`, { headers: { authorization: `Bearer ${srv.tokens.carol}` } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/csv/);
      const rows = parseCsv(await res.text());
      assert.equal(rows[0]!.join(','), CSV_COLUMNS);
      const body = rows.slice(1);
      assert.equal(body.length, json.length);
      assert.deepEqual(body.map((r) => r[1]), json.map((e) => e.id));
      for (const r of body) assert.equal(r.length, CSV_COLUMNS.split(',').length);
      const evil = body.find((r) => r[12]?.includes('HYPERLINK'));
      assert.ok(evil, 'the reason is exported');
      assert.ok(evil[12]!.startsWith("'="), `a formula is defused: ${evil[12]}`);
      await reset(srv);
    });

    it('a non-admin CSV export holds only her events', async () => {
      const res = await srv.api('mallory', 'GET', '/api/v1/audit?format=csv');
      const rows = parseCsv(res.text).slice(1);
      assert.ok(rows.every((r) => r[4] === email('mallory') || r[5] === email('mallory')));
    });

    for (const q of ['format=xml', 'action=bogus.action', 'since=yesterday', 'since=2024-13-45', 'until=-1h', 'limit=0', 'limit=abc', 'limit=10001', 'verbose=1', 'actor=' + 'a'.repeat(400)]) {
      it(`?${q.slice(0, 40)} is INVALID_INPUT`, async () => {
        expectError(await srv.api('carol', 'GET', `/api/v1/audit?${q}`), 400, 'INVALID_INPUT');
      });
    }

    it('reading the audit log without a valid token is UNAUTHENTICATED', async () => {
      await expectUnauthenticated(srv, 'GET', '/api/v1/audit');
      await expectUnauthenticated(srv, 'GET', '/api/v1/audit?format=csv');
    });
  });

  describe('GET /api/v1/reports/incidents/:id', () => {
    it('reports who had access during an incident and who approved it, as json and markdown', async () => {
      const r = await pendingTwoTeam(srv);
      expectOk(await srv.api('erin', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 200);
      const out = expectOk<Outcome>(await srv.api('dave', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 200);
      const json = await srv.api<Record<string, unknown>>('carol', 'GET', '/api/v1/reports/incidents/INC-42?format=json');
      assert.equal(json.status, 200, json.text);
      assert.ok(json.text.includes(out.grant!.id));
      assert.ok(json.text.includes(email('alice')));
      const md = await srv.api('carol', 'GET', '/api/v1/reports/incidents/INC-42');
      assert.equal(md.status, 200);
      assert.ok(md.text.includes('INC-42'));
      await reset(srv);
    });

    it('a bad format or incident reference is INVALID_INPUT', async () => {
      expectError(await srv.api('carol', 'GET', '/api/v1/reports/incidents/INC-42?format=pdf'), 400, 'INVALID_INPUT');
      expectError(await srv.api('carol', 'GET', `/api/v1/reports/incidents/${encodeURIComponent('INC 42;')}`), 400, 'INVALID_INPUT');
    });

    it("a non-admin's report leaves out other users' access", async () => {
      const res = await srv.api('mallory', 'GET', '/api/v1/reports/incidents/INC-42?format=json');
      assert.equal(res.status, 200);
      assert.ok(!res.text.includes(email('alice')), 'no alice in mallory’s report');
    });

    it('reports without a valid token are UNAUTHENTICATED', async () => {
      await expectUnauthenticated(srv, 'GET', '/api/v1/reports/incidents/INC-42');
    });
  });

  describe('GET /api/v1/audit/verify', () => {
    it('the untouched chain verifies', async () => {
      const v = expectOk<{ ok: boolean; checked: number; head: string; first_broken: unknown }>(await srv.api('alice', 'GET', '/api/v1/audit/verify'), 200);
      assert.equal(v.ok, true);
      assert.equal(v.first_broken, null);
      const head = await srv.ks.store.read.auditHeadRow();
      assert.equal(v.checked, head.seq);
      assert.equal(v.head, head.hash);
    });

    it('verifying without a valid token is UNAUTHENTICATED', async () => {
      await expectUnauthenticated(srv, 'GET', '/api/v1/audit/verify');
    });

    // Last: it edits the database under the running server.
    it('an edited event breaks the chain and verify names it', async () => {
      const events = await auditEvents(srv, 'action=grant.activated');
      const target = events[0]!;
      const db = new Database(join(srv.dir, 'data', 'keyshift.db'));
      try {
        const changed = db.prepare('UPDATE audit_events SET actor = ? WHERE id = ?').run('someone-else@example.com', target.id);
        assert.equal(changed.changes, 1);
      } finally {
        db.close();
      }
      const v = expectOk<{ ok: boolean; first_broken: { seq: number; id: string; problem: string } | null }>(await srv.api('carol', 'GET', '/api/v1/audit/verify'), 200);
      assert.equal(v.ok, false);
      assert.equal(v.first_broken?.id, target.id);
    });
  });

  it('no grant is left live', async () => {
    await reset(srv);
    const live = expectOk<Items<Grant>>(await srv.api('carol', 'GET', '/api/v1/grants?all=true&state=active'), 200).items;
    assert.deepEqual(live, []);
  });
});

describe('audit paging', () => {
  it('without since, a limited query returns the most recent events, oldest first', async () => {
    const srv = await startKeyshift();
    try {
      for (let i = 0; i < 3; i++) {
        const r = await srv.api<{ grant: { id: string } }>('alice', 'POST', '/api/v1/requests', { profile: 'logs', duration: '5m', reason: `look ${i}` });
        await srv.api('alice', 'POST', `/api/v1/grants/${r.body.grant.id}/release`, {});
      }
      const all = await srv.api<{ items: Array<{ seq: number }> }>('carol', 'GET', '/api/v1/audit?limit=10000');
      const last = await srv.api<{ items: Array<{ seq: number }> }>('carol', 'GET', '/api/v1/audit?limit=4');
      const seqs = last.body.items.map((e) => e.seq);
      assert.deepEqual(seqs, all.body.items.slice(-4).map((e) => e.seq));
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    } finally {
      await srv.close();
    }
  });
});

describe('incident report and break-glass', () => {
  it('shows unreviewed break-glass use, and who reviewed it once reviewed', async () => {
    const srv = await startKeyshift();
    try {
      const bg = await srv.api<{ grant: Grant }>('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '10m', reason: 'INC-77 db on fire', incident: 'INC-77', break_glass: true });
      assert.equal(bg.status, 201);
      const before = await srv.api('carol', 'GET', '/api/v1/reports/incidents/INC-77?format=md');
      assert.match(before.text, /break-glass: unreviewed \(due /);
      assert.match(before.text, /nobody \(break-glass\)/);
      await srv.api('bob', 'POST', `/api/v1/grants/${bg.body.grant.id}/review`, { comment: 'justified' });
      const after = await srv.api<{ grants: Array<{ review: string }> }>('carol', 'GET', '/api/v1/reports/incidents/INC-77?format=json');
      assert.match(after.body.grants[0]!.review, /^reviewed by bob@example\.com at /);
    } finally {
      await srv.close();
    }
  });
});

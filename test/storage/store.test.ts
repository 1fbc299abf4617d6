/**
 * The storage suite, run against every backend Keyshift supports: SQLite (embedded
 * default) and the machine's PostgreSQL (a fresh database per run).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { openStore } from '../../src/storage/sql-store.ts';
import type { Store } from '../../src/core/ports.ts';
import { appendAudit } from '../../src/core/audit-log.ts';
import { createAuditService } from '../../src/core/audit-service.ts';
import { newId } from '../../src/core/ids.ts';
import type { AccessRequest, Grant } from '../../src/core/model.ts';
import { createTestDatabase } from '../harness/postgres.ts';

interface Backend {
  name: string;
  open(): Promise<{ store: Store; exec(sql: string): Promise<void>; cleanup(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'keyshift-store-'));
      const store = await openStore({ url: 'sqlite:ks.db', baseDir: dir });
      return {
        store,
        async exec(sql) {
          const db = new SqliteDatabase(join(dir, 'ks.db'));
          try {
            db.exec(sql);
          } finally {
            db.close();
          }
        },
        async cleanup() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const db = await createTestDatabase();
      const store = await openStore({ url: db.url });
      return {
        store,
        async exec(sql) {
          const c = new pg.Client({ connectionString: db.url });
          await c.connect();
          try {
            await c.query(sql);
          } finally {
            await c.end();
          }
        },
        async cleanup() {
          await store.close();
          await db.drop();
        },
      };
    },
  },
];

const now = () => new Date().toISOString();

function request(over: Partial<AccessRequest> = {}): AccessRequest {
  return {
    id: newId('req'),
    profile: 'p',
    requester: 'alice@example.com',
    duration_seconds: 60,
    reason: 'r',
    ticket: null,
    incident: 'INC-1',
    break_glass: false,
    state: 'pending',
    created_at: now(),
    expires_at: new Date(Date.now() + 60_000).toISOString(),
    decided_at: null,
    decided_by: null,
    decision_comment: null,
    decision_reasons: ['needs rule 1'],
    grant_id: null,
    kind: 'grant',
    extends_grant_id: null,
    approvals: [],
    ...over,
  };
}

function grant(requestId: string, over: Partial<Grant> = {}): Grant {
  return {
    id: newId('grt'),
    request_id: requestId,
    profile: 'p',
    connector: 'c',
    grantee: 'alice@example.com',
    state: 'active',
    ending: null,
    duration_seconds: 60,
    created_at: now(),
    activated_at: now(),
    ends_at: new Date(Date.now() + 60_000).toISOString(),
    ended_at: null,
    end_reason: null,
    ended_by: null,
    extensions: 0,
    incident: null,
    ticket: null,
    break_glass: true,
    review_due_at: null,
    reviewed_at: null,
    reviewed_by: null,
    review_comment: null,
    revoke_attempts: 0,
    next_attempt_at: null,
    last_error: null,
    connector_state: { certs: [{ serial: '12345678901234567890' }] },
    ...over,
  };
}

for (const backend of backends) {
  describe(`storage on ${backend.name}`, () => {
    let h: Awaited<ReturnType<Backend['open']>>;
    before(async () => {
      h = await backend.open();
    });
    after(async () => {
      await h?.cleanup();
    });

    it('a request and its approvals round-trip with the same types on every backend', async () => {
      const r = request();
      await h.store.transaction(async (tx) => {
        await tx.insertRequest(r);
        await tx.insertApproval(r.id, { approver: 'bob@example.com', decision: 'approve', comment: 'ok', rule: 0, automatic: false, created_at: now() });
      });
      const back = await h.store.read.getRequest(r.id);
      assert.equal(back!.break_glass, false);
      assert.deepEqual(back!.decision_reasons, ['needs rule 1']);
      assert.equal(back!.approvals.length, 1);
      assert.equal(back!.approvals[0]!.rule, 0);
      assert.equal(typeof back!.duration_seconds, 'number');
    });

    it('a grant keeps its connector state, booleans and timestamps', async () => {
      const r = request();
      const g = grant(r.id);
      await h.store.transaction(async (tx) => {
        await tx.insertRequest(r);
        await tx.insertGrant(g);
      });
      const back = await h.store.read.getGrant(g.id);
      assert.deepEqual(back!.connector_state, g.connector_state);
      assert.equal(back!.break_glass, true);
      assert.equal(back!.ends_at, g.ends_at);
      const counts = await h.store.read.countGrantsByState();
      assert.equal(typeof counts.active, 'number');
    });

    it('a failed transaction leaves nothing behind, audit included', async () => {
      const headBefore = await h.store.read.auditHeadRow();
      const r = request();
      await assert.rejects(
        h.store.transaction(async (tx) => {
          await tx.insertRequest(r);
          await appendAudit(tx, { action: 'request.created', actor: 'alice@example.com' }, new Date());
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await h.store.read.getRequest(r.id), null);
      assert.deepEqual(await h.store.read.auditHeadRow(), headBefore);
    });

    it('concurrent writers are serialized: 20 parallel appends make one unbroken chain', async () => {
      await Promise.all(Array.from({ length: 20 }, (_, i) => h.store.transaction((tx) => appendAudit(tx, { action: 'auth.login', actor: `u${i}@example.com` }, new Date()))));
      const verdict = await createAuditService(h.store).verify();
      assert.equal(verdict.ok, true, JSON.stringify(verdict.first_broken));
      assert.ok(verdict.checked >= 20);
    });

    it('a read-modify-write race has one winner', async () => {
      const r = request();
      await h.store.transaction((tx) => tx.insertRequest(r));
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          h.store.transaction(async (tx) => {
            const cur = await tx.getRequest(r.id);
            if (cur!.state !== 'pending') throw new Error('lost');
            await tx.updateRequest(r.id, { state: 'approved', decided_by: `a${i}` });
          }),
        ),
      );
      assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
    });

    it('nextDeadline is the earliest of grant ends, request TTLs and retries', async () => {
      const soon = new Date(Date.now() - 1000).toISOString();
      const r = request({ expires_at: soon });
      await h.store.transaction((tx) => tx.insertRequest(r));
      const next = await h.store.read.nextDeadline();
      assert.ok(next !== null && next <= soon);
    });

    it('leases have one holder until they expire', async () => {
      const t0 = new Date();
      const until = new Date(t0.getTime() + 10_000).toISOString();
      assert.equal(await h.store.transaction((tx) => tx.acquireLease('w', 'a', t0.toISOString(), until)), true);
      assert.equal(await h.store.transaction((tx) => tx.acquireLease('w', 'b', t0.toISOString(), until)), false);
      assert.equal(await h.store.transaction((tx) => tx.acquireLease('w', 'a', t0.toISOString(), until)), true);
      const later = new Date(t0.getTime() + 11_000).toISOString();
      assert.equal(await h.store.transaction((tx) => tx.acquireLease('w', 'b', later, new Date(t0.getTime() + 20_000).toISOString())), true);
    });

    describe('audit chain tamper evidence', () => {
      const verify = () => createAuditService(h.store).verify();

      it('an edited event is detected and named', async () => {
        assert.equal((await verify()).ok, true);
        const [first] = await h.store.read.auditEvents({ limit: 1 });
        await h.exec(`UPDATE audit_events SET reason = 'nothing to see' WHERE seq = ${first!.seq}`);
        const v = await verify();
        assert.equal(v.ok, false);
        assert.equal(v.first_broken!.seq, first!.seq);
        assert.match(v.first_broken!.problem, /edited/);
        await h.exec(`UPDATE audit_events SET reason = ${first!.reason === null ? 'NULL' : `'${first!.reason}'`} WHERE seq = ${first!.seq}`);
        assert.equal((await verify()).ok, true);
      });

      it('a deleted event is detected', async () => {
        await h.exec(`DELETE FROM audit_events WHERE seq = 3`);
        const v = await verify();
        assert.equal(v.ok, false);
        assert.equal(v.first_broken!.seq, 4);
      });

      it('a truncated tail is detected through the recorded head', async () => {
        const head = await h.store.read.auditHeadRow();
        await h.exec(`DELETE FROM audit_events WHERE seq >= 2`);
        const v = await verify();
        assert.equal(v.ok, false);
        assert.match(v.first_broken!.problem, new RegExp(`recorded head is #${head.seq}`));
      });
    });
  });
}

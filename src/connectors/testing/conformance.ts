/**
 * One behavioural suite every connector passes (see docs/adding-a-connector.md).
 * A connector's test file builds a `ConformanceHarness` around a real target (sshd,
 * PostgreSQL, MariaDB, a webhook receiver) and calls `runConnectorConformance`.
 * Uses node:test; lives in src/ so that third-party connectors can run it too.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Connector, ConnectorGrantContext, ConnectorState, CredentialsInput, IssuedCredentials } from '../connector.ts';
import { newId } from '../../core/ids.ts';

export interface LiveSession {
  /** Uses a right the profile grants (SELECT, running a command); true when it worked. */
  canUseGranted(): Promise<boolean>;
  /** Tries a right the profile does not grant (DELETE, sudo); true when it (wrongly) worked. */
  canUseUngranted(): Promise<boolean>;
  /** True while the session can still talk to the target. */
  isAlive(): Promise<boolean>;
  close(): Promise<void>;
}

export interface ConformanceHarness {
  /** A connector on the real target; called once per suite. */
  connector(): Promise<Connector>;
  /** A parsed `access` block that grants the probe right and not the other. */
  access: unknown;
  /** Input for `issueCredentials` (a fresh SSH public key…). */
  credentialsInput(): Promise<CredentialsInput>;
  /** Logs in with issued credentials; rejects when the target refuses the login. */
  login(creds: IssuedCredentials, input: CredentialsInput, state: ConnectorState): Promise<LiveSession>;
  /** Removes the account at the target behind Keyshift's back, as a DBA might. */
  dropByHand?(ctx: ConnectorGrantContext): Promise<void>;
  /** What this target can do, so the suite asserts exactly the promised behaviour. */
  capabilities: {
    /** Revoke ends open sessions (PostgreSQL, MySQL: yes; SSH: no, see docs). */
    cutsLiveSessions: boolean;
    /** The target refuses logins after `endsAt` by itself, with Keyshift stopped. */
    targetGuard: boolean;
    /** Issuing credentials again invalidates the earlier ones (else both work until revoke). */
    reissueInvalidatesEarlier: boolean;
    /** Grantee strings reach the target (account names, comments) and must not inject. */
    granteeReachesTarget: boolean;
  };
  /** Seconds the target-guard test waits past the deadline (clock skew, 1 s resolution). */
  guardSlackSeconds?: number;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function context(access: unknown, overrides: Partial<ConnectorGrantContext> = {}): ConnectorGrantContext {
  return {
    grantId: newId('grt'),
    grantee: 'alice@example.com',
    profile: 'conformance',
    access,
    endsAt: new Date(Date.now() + 10 * 60_000),
    state: {},
    ...overrides,
  };
}

async function refused(p: Promise<LiveSession>): Promise<boolean> {
  try {
    const s = await p;
    await s.close();
    return false;
  } catch {
    return true;
  }
}

/** Grants, returning the context with persisted state, as core would. */
async function provision(c: Connector, ctx: ConnectorGrantContext): Promise<ConnectorGrantContext> {
  const state = await c.grant(ctx);
  return { ...ctx, state };
}

export function runConnectorConformance(label: string, harness: ConformanceHarness): void {
  describe(`${label} connector conformance`, () => {
    let c: Connector;
    before(async () => {
      c = await harness.connector();
    });
    after(async () => {
      await c?.close();
    });

    it('check reports a healthy target', async () => {
      const result = await c.check();
      assert.deepEqual(result.problems, []);
      assert.equal(result.ok, true);
    });

    it('a grant gives working credentials for exactly the granted rights', async () => {
      let ctx = await provision(c, context(harness.access));
      const input = await harness.credentialsInput();
      const creds = await c.issueCredentials(ctx, input);
      ctx = { ...ctx, state: creds.state };
      assert.ok(Date.parse(creds.expires_at) <= ctx.endsAt.getTime() + 1000, 'credentials outlive the grant');
      const session = await harness.login(creds, input, ctx.state);
      try {
        assert.equal(await session.canUseGranted(), true, 'granted right refused');
        assert.equal(await session.canUseUngranted(), false, 'ungranted right allowed');
      } finally {
        await session.close();
        await c.revoke(ctx, { early: true });
      }
    });

    it('credentials issued twice behave as the connector documents until revoke', async () => {
      let ctx = await provision(c, context(harness.access));
      const input1 = await harness.credentialsInput();
      const first = await c.issueCredentials(ctx, input1);
      ctx = { ...ctx, state: first.state };
      const input2 = await harness.credentialsInput();
      const second = await c.issueCredentials(ctx, input2);
      ctx = { ...ctx, state: second.state };
      const s2 = await harness.login(second, input2, ctx.state);
      await s2.close();
      const firstRefused = await refused(harness.login(first, input1, ctx.state));
      assert.equal(firstRefused, harness.capabilities.reissueInvalidatesEarlier);
      ctx = { ...ctx, state: await c.revoke(ctx, { early: true }) };
      assert.equal(await refused(harness.login(second, input2, ctx.state)), true, 'login works after revoke');
      assert.equal(await refused(harness.login(first, input1, ctx.state)), true, 'first credentials work after revoke');
    });

    it('revoke refuses new logins and ends open sessions where the target allows it', async () => {
      let ctx = await provision(c, context(harness.access));
      const input = await harness.credentialsInput();
      const creds = await c.issueCredentials(ctx, input);
      ctx = { ...ctx, state: creds.state };
      const session = await harness.login(creds, input, ctx.state);
      try {
        ctx = { ...ctx, state: await c.revoke(ctx, { early: true }) };
        assert.equal(await refused(harness.login(creds, input, ctx.state)), true, 'login works after revoke');
        if (harness.capabilities.cutsLiveSessions) {
          assert.equal(await session.isAlive(), false, 'open session survived revoke');
        }
      } finally {
        await session.close();
      }
    });

    it('revoking twice succeeds', async () => {
      let ctx = await provision(c, context(harness.access));
      ctx = { ...ctx, state: await c.revoke(ctx, { early: true }) };
      ctx = { ...ctx, state: await c.revoke(ctx, { early: true }) };
      assert.ok(ctx.state);
    });

    it('revoking an account removed by hand succeeds', { skip: !harness.dropByHand && 'target has no account to drop' }, async () => {
      const ctx = await provision(c, context(harness.access));
      await harness.dropByHand!(ctx);
      await c.revoke(ctx, { early: true });
    });

    it('the target refuses logins after the deadline with Keyshift stopped', { skip: !harness.capabilities.targetGuard && 'target has no deadline of its own' }, async () => {
      let ctx = await provision(c, context(harness.access, { endsAt: new Date(Date.now() + 3000) }));
      const input = await harness.credentialsInput();
      const creds = await c.issueCredentials(ctx, input);
      ctx = { ...ctx, state: creds.state };
      const s = await harness.login(creds, input, ctx.state);
      await s.close();
      await wait(3000 + (harness.guardSlackSeconds ?? 1.5) * 1000);
      try {
        assert.equal(await refused(harness.login(creds, input, ctx.state)), true, 'login works after the deadline');
      } finally {
        await c.revoke(ctx, { early: false });
      }
    });

    it('extend moves the target-side deadline', async () => {
      let ctx = await provision(c, context(harness.access, { endsAt: new Date(Date.now() + 60_000) }));
      ctx = { ...ctx, endsAt: new Date(Date.now() + 120_000) };
      const extended = await c.extend(ctx);
      ctx = { ...ctx, state: extended.state };
      const input = await harness.credentialsInput();
      const creds = await c.issueCredentials(ctx, input);
      assert.ok(Math.abs(Date.parse(creds.expires_at) - ctx.endsAt.getTime()) <= 1000, `credentials end ${creds.expires_at}, grant ends ${ctx.endsAt.toISOString()}`);
      await c.revoke({ ...ctx, state: creds.state }, { early: true });
    });

    it('hostile grantee names cannot inject into the target', { skip: !harness.capabilities.granteeReachesTarget && 'grantee never reaches the target' }, async () => {
      const hostile = fc.oneof(
        fc.constantFrom(
          `a'; DROP ROLE postgres; --@example.com`,
          'b"; DROP TABLE x; --@example.com',
          'c\\\'@example.com',
          'd`;SELECT 1;`@example.com',
          'ünïcødé-名前@例え.jp',
          'x'.repeat(200) + '@example.com',
        ),
        fc.string({ minLength: 1, maxLength: 200 }),
      );
      await fc.assert(
        fc.asyncProperty(hostile, async (grantee) => {
          let ctx = await provision(c, context(harness.access, { grantee }));
          const input = await harness.credentialsInput();
          const creds = await c.issueCredentials(ctx, input);
          ctx = { ...ctx, state: creds.state };
          const s = await harness.login(creds, input, ctx.state);
          const ok = await s.canUseGranted();
          await s.close();
          await c.revoke(ctx, { early: true });
          assert.equal(ok, true);
          assert.equal(await refused(harness.login(creds, input, ctx.state)), true);
        }),
        { numRuns: 12 },
      );
      const after = await c.check();
      assert.equal(after.ok, true, 'target unhealthy after hostile names: ' + after.problems.join('; '));
    });
  });
}

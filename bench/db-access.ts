/**
 * time-to-access and revoke on a database connector, one loop for both (each run's grant
 * is the one the revoke step releases, which also frees the requester for the next run).
 *
 * time-to-access: `POST /api/v1/requests` on a no-approval profile → `POST
 * /grants/:id/credentials` → connect with those credentials → first successful SELECT on
 * the granted table. Floor: the same account lifecycle directly with the driver, as the
 * same admin: create the login account with a password and deadline, grant the group
 * role / privilege, connect, SELECT.
 *
 * revoke: with the grantee's session still open, `POST /grants/:id/release` → the next
 * login with those credentials is refused (time until a login attempt fails; attempts
 * repeat every 5 ms if one still gets in). Floor: NOLOGIN / kill sessions / drop the
 * account directly, then the same refused login.
 *
 * Keyshift runs in this process (sequential calls: nothing competes for the event loop).
 */
import { startBenchServer } from './lib/server.ts';
import { createHttpClient } from './lib/http.ts';
import { elapsedMs, latencyRows, now, sleep, type BenchResult } from './lib/stats.ts';
import type { DbCredentials, Session, Target } from './lib/targets.ts';

export interface DbAccessOptions {
  runs: number;
  warmup: number;
}

const ALICE = { email: 'alice@example.com', groups: ['engineering', 'sre'] };

interface Sample {
  access: number;
  revoke: number;
}

/** Login attempts until one is refused; returns how many got in first, and the refusal. */
async function untilRefused(target: Target, creds: DbCredentials): Promise<{ admitted: number; refusal: string }> {
  const deadline = Date.now() + 5000;
  let admitted = 0;
  for (;;) {
    let s: Session;
    try {
      s = await target.login(creds);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      return { admitted, refusal: `${err.code ?? ''} ${(err.message ?? String(e)).replace(/"[^"]*"/g, '"…"').replace(/'[^']*'/g, "'…'")}`.trim() };
    }
    admitted++;
    await s.close();
    if (Date.now() > deadline) throw new Error(`${target.label}: logins with released credentials still succeed 5 s after the revoke returned`);
    await sleep(5);
  }
}

export async function dbAccess(target: Target, opts: DbAccessOptions): Promise<{ access: BenchResult; revoke: BenchResult }> {
  const server = await startBenchServer({
    storage: 'sqlite',
    users: [ALICE],
    connectors: { db: target.connector },
    env: target.env,
    profiles: {
      'db-read': {
        description: 'Read the database, no approval',
        connector: 'db',
        access: target.access,
        duration: { default: '10m', max: '1h' },
        requesters: ['group:engineering'],
      },
    },
    tokensFor: [ALICE.email],
  });
  const client = createHttpClient(server.url, 1);
  const token = server.tokens.get(ALICE.email)!;
  const ks: Sample[] = [];
  const floor: Sample[] = [];
  const refusals = new Map<string, number>();
  const stats = { ks_logins_admitted_after_release: 0, floor_logins_admitted_after_drop: 0, ks_sessions_alive_after_release: 0, floor_sessions_alive_after_drop: 0 };
  const count = (m: string) => refusals.set(m, (refusals.get(m) ?? 0) + 1);

  async function keyshiftRun(): Promise<Sample> {
    let t = now();
    const created = await client.call<{ grant?: { id: string; state: string } | null }>('POST', '/api/v1/requests', token, { profile: 'db-read', duration: '10m', reason: 'bench' });
    const grant = created.body.grant;
    if (created.status !== 201 || grant?.state !== 'active') throw new Error(`POST /api/v1/requests answered ${created.status}: ${JSON.stringify(created.body).slice(0, 400)}`);
    const issued = await client.call<{ credentials?: DbCredentials }>('POST', `/api/v1/grants/${grant.id}/credentials`, token, {});
    if (issued.status !== 200 || !issued.body.credentials) throw new Error(`POST /api/v1/grants/:id/credentials answered ${issued.status}: ${JSON.stringify(issued.body).slice(0, 400)}`);
    const creds = issued.body.credentials;
    const session = await target.login({ ...creds, port: Number(creds.port) });
    const access = elapsedMs(t);

    t = now();
    const released = await client.call<{ grant?: { state: string } }>('POST', `/api/v1/grants/${grant.id}/release`, token, {});
    if (released.status !== 200 || released.body.grant?.state !== 'released') throw new Error(`POST /api/v1/grants/:id/release answered ${released.status}: ${JSON.stringify(released.body).slice(0, 400)}`);
    const r = await untilRefused(target, { ...creds, port: Number(creds.port) });
    const revoke = elapsedMs(t);
    stats.ks_logins_admitted_after_release += r.admitted;
    count(`keyshift: ${r.refusal}`);
    if (await session.alive()) stats.ks_sessions_alive_after_release++;
    await session.close();
    return { access, revoke };
  }

  async function floorRun(i: number): Promise<Sample> {
    let t = now();
    const creds = await target.floorGrant(i, new Date(Date.now() + 600_000));
    const session = await target.login(creds);
    const access = elapsedMs(t);
    t = now();
    await target.floorRevoke(creds.user);
    const r = await untilRefused(target, creds);
    const revoke = elapsedMs(t);
    stats.floor_logins_admitted_after_drop += r.admitted;
    count(`floor: ${r.refusal}`);
    if (await session.alive()) stats.floor_sessions_alive_after_drop++;
    await session.close();
    return { access, revoke };
  }

  try {
    for (let i = 0; i < opts.warmup + opts.runs; i++) {
      // Alternate which goes first, so neither always runs on a just-warmed connection.
      let k: Sample;
      let f: Sample;
      if (i % 2 === 0) {
        k = await keyshiftRun();
        f = await floorRun(i);
      } else {
        f = await floorRun(i);
        k = await keyshiftRun();
      }
      if (i >= opts.warmup) {
        ks.push(k);
        floor.push(f);
      }
    }
  } finally {
    client.close();
    await server.close();
  }
  const facts = {
    runs: opts.runs,
    warmup_runs: opts.warmup,
    ...target.facts,
    ...stats,
    refusals: Object.fromEntries(refusals),
    keyshift_problems: server.problems,
  };
  return {
    access: { rows: latencyRows(`time-to-access/${target.label}`, 'request → first SELECT', ks.map((s) => s.access), floor.map((s) => s.access)), facts },
    revoke: { rows: latencyRows(`revoke/${target.label}`, 'release → login refused', ks.map((s) => s.revoke), floor.map((s) => s.revoke)), facts },
  };
}

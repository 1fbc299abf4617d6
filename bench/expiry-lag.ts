/**
 * expiry-lag: N grants on a no-approval SSH profile, all with the same deadline; how late
 * after it does each one reach `expired` (ended_at − ends_at), and when is the last one done.
 *
 * Grants are created through the service layer while Keyshift's clock is paused, so every
 * ends_at is the same millisecond however long creation takes; the clock then resumes from
 * where it stopped (continuous, no jump, just behind the wall clock by the creation time),
 * so to Keyshift, the worker included, creation was instant. All lags are measured on
 * Keyshift's clock.
 *
 * Floor: on the same storage (the very file or database Keyshift just used, its grants put
 * back to `active` with a new common deadline), a bare setTimeout at the deadline that
 * runs the N UPDATEs (one per grant) in one transaction. Lag = commit time − deadline.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Clock } from '../src/core/clock.ts';
import type { Principal } from '../src/core/model.ts';
import { startBenchServer, manyUsers } from './lib/server.ts';
import { runLanes } from './lib/lanes.ts';
import { latencyRows, max, min, sleep, type BenchResult } from './lib/stats.ts';

export interface ExpiryLagOptions {
  storage: 'sqlite' | 'postgres';
  grants: number;
  /** Grant duration: how long after creation (on Keyshift's clock) they all end. */
  durationSeconds: number;
}

/** The wall clock minus an offset, which grows while the clock is paused. */
class PausableClock implements Clock {
  private offset = 0;
  private pausedAt: number | null = null;
  now(): Date {
    return new Date(this.pausedAt ?? Date.now() - this.offset);
  }
  pause(): number {
    this.pausedAt = Date.now() - this.offset;
    return this.pausedAt;
  }
  resume(): void {
    this.offset = Date.now() - this.pausedAt!;
    this.pausedAt = null;
  }
}

const PROFILES = {
  logs: {
    description: 'Read logs, no approval',
    connector: 'hosts',
    access: { principals: ['logs'] },
    duration: { default: '30m', max: '2h' },
    requesters: ['group:engineering'],
  },
};

export async function expiryLag(opts: ExpiryLagOptions): Promise<BenchResult> {
  const name = `expiry-lag/${opts.storage}`;
  const n = opts.grants;
  const clock = new PausableClock();
  const users = manyUsers('exp', n, ['engineering']);
  const server = await startBenchServer({ storage: opts.storage, users, profiles: PROFILES, clock, listen: false });
  try {
    const { ks } = server;
    // ---- Keyshift
    const pausedAt = clock.pause();
    const deadline = pausedAt + opts.durationSeconds * 1000;
    const deadlineIso = new Date(deadline).toISOString();
    const ids: string[] = [];
    const createStart = Date.now();
    await runLanes(8, n, async (i) => {
      const who = ks.deps.directory.lookup(users[i]!.email) as Principal;
      const out = await ks.services.requests.create(who, { profile: 'logs', durationSeconds: opts.durationSeconds, reason: null, ticket: null, incident: null, breakGlass: false });
      if (out.grant?.state !== 'active' || out.grant.ends_at !== deadlineIso) {
        throw new Error(`grant for ${who.email} is ${out.grant?.state ?? 'missing'} ending ${out.grant?.ends_at ?? '-'}, expected active ending ${deadlineIso}`);
      }
      ids.push(out.grant.id);
    });
    const createMs = Date.now() - createStart;
    clock.resume();

    await sleep(Math.max(0, deadline - clock.now().getTime() - 5));
    const waitUntil = Date.now() + 120_000;
    let allDoneAt = 0;
    for (;;) {
      const counts = await ks.store.read.countGrantsByState();
      if ((counts.expired ?? 0) >= n) {
        allDoneAt = clock.now().getTime();
        break;
      }
      if (Date.now() > waitUntil) throw new Error(`only ${counts.expired ?? 0} of ${n} grants expired within 120 s of the deadline (${JSON.stringify(counts)})`);
      await sleep(20);
    }
    const expired = await ks.store.read.listGrants({ states: ['expired'], limit: n + 10 });
    const lags = expired.map((g) => Date.parse(g.ended_at!) - Date.parse(g.ends_at!));
    const events = await ks.store.read.auditEvents({ action: 'grant.expired', limit: n + 10 });
    const eventLags = events.map((e) => Date.parse(e.time) - deadline);
    await server.stop();

    // ---- Floor: same storage, same rows, one transaction at the deadline.
    const floor = server.storage.kind === 'sqlite' ? await sqliteFloor(server.storage.path, ids) : await postgresFloor(server.storage.url, ids);

    return {
      rows: [
        ...latencyRows(name, 'lag', lags, floor.lags, ['p50', 'p99', 'max']),
        { benchmark: name, metric: 'all expired, seen by a reader', unit: 'ms', kind: 'time', keyshift: allDoneAt - deadline, floor: max(floor.lags) },
      ],
      facts: {
        grants: n,
        duration_s: opts.durationSeconds,
        create_s: createMs / 1000,
        lag_min_ms: min(lags),
        expiries_per_s: n / Math.max(0.001, (max(lags) - min(lags)) / 1000),
        audit_grant_expired_events: events.length,
        audit_event_lag_max_ms: max(eventLags),
        floor_statements: `${n} UPDATEs, one transaction (${server.storage.kind})`,
        keyshift_problems: server.problems,
      },
    };
  } finally {
    await server.close();
  }
}

/** Waits for `deadline` with a bare setTimeout, then runs `work`; returns commit time − deadline. */
async function atDeadline(work: () => Promise<void> | void, leadMs = 1000): Promise<number> {
  // Sub-millisecond wall clock: the floor is often under 1 ms.
  const wall = () => performance.timeOrigin + performance.now();
  const deadline = Math.ceil(wall()) + leadMs;
  return new Promise((resolve, reject) => {
    setTimeout(() => {
      Promise.resolve()
        .then(work)
        .then(() => resolve(wall() - deadline), reject);
    }, deadline - wall());
  });
}

const RESET = `UPDATE grants SET state = 'active', ending = NULL, ended_at = NULL, ended_by = NULL, end_reason = NULL, next_attempt_at = NULL`;
const EXPIRE_SQLITE = `UPDATE grants SET state = 'expired', ending = 'expired', ended_by = 'system:expiry', end_reason = 'deadline reached', ended_at = ? WHERE id = ?`;
const EXPIRE_PG = `UPDATE grants SET state = 'expired', ending = 'expired', ended_by = 'system:expiry', end_reason = 'deadline reached', ended_at = $1 WHERE id = $2`;

async function sqliteFloor(path: string, ids: string[]): Promise<{ lags: number[] }> {
  // The pragmas Keyshift's store sets (src/storage/sql-store.ts).
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    db.prepare(`${RESET}, ends_at = ?`).run(new Date().toISOString());
    const expire = db.prepare(EXPIRE_SQLITE);
    const lag = await atDeadline(() => {
      db.transaction(() => {
        for (const id of ids) expire.run(new Date().toISOString(), id);
      })();
    });
    return { lags: ids.map(() => lag) };
  } finally {
    db.close();
  }
}

async function postgresFloor(url: string, ids: string[]): Promise<{ lags: number[] }> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query(`${RESET}, ends_at = $1`, [new Date().toISOString()]);
    const lag = await atDeadline(async () => {
      await c.query('BEGIN');
      for (const id of ids) await c.query({ name: 'expire', text: EXPIRE_PG, values: [new Date().toISOString(), id] });
      await c.query('COMMIT');
    });
    return { lags: ids.map(() => lag) };
  } finally {
    await c.end();
  }
}

/**
 * request-approve: HTTP throughput of the approval flow. Each pair is one requester
 * (group sre, like alice) asking for host-shell and bob (sre-leads) approving it, which
 * activates the grant. Concurrency 8 over keep-alive connections; server in its own
 * process. A user may hold one pending request per profile, so every pair has its own
 * requester.
 *
 * Floor: a bare Fastify app (same framework, same machine, same client, same concurrency,
 * same two-calls-per-pair pattern) whose route returns a small JSON body; and a second
 * route that also commits one SQLite row (the WAL/synchronous settings Keyshift uses).
 */
import { spawnServer, type ChildServer } from './lib/child-server.ts';
import { createHttpClient } from './lib/http.ts';
import { runLanes } from './lib/lanes.ts';
import { manyUsers } from './lib/server.ts';
import { elapsedMs, latencyRows, now, type BenchResult } from './lib/stats.ts';

export interface RequestApproveOptions {
  pairs: number;
  /** Untimed pairs first (Keyshift: each needs its own requester). */
  warmup: number;
  /** Untimed pairs per floor route: a bare route needs thousands of calls before the JIT settles. */
  floorWarmup: number;
  concurrency: number;
}

const BOB = { email: 'bob@example.com', groups: ['engineering', 'sre-leads'] };
const PROFILES = {
  'host-shell': {
    description: 'Shell on hosts',
    connector: 'hosts',
    access: { principals: ['oncall'] },
    duration: { default: '15m', max: '1h' },
    requesters: ['group:sre'],
    requires: ['reason'],
    approval: { rules: [{ approvers: ['group:sre-leads'], count: 1 }] },
    request_ttl: '30m',
    extend: { max_times: 2, max_total: '2h' },
    break_glass: { allowed: true, review_within: '24h' },
  },
};

/** One timed run: wall time for the pairs, and each pair's first and second call latency. */
interface PairTimes {
  wallMs: number;
  first: number[];
  second: number[];
}

type Call = () => Promise<{ status: number; body: unknown }>;

/** Runs `count` pairs from index `offset` over `concurrency` lanes, timing both calls of each. */
async function drive(concurrency: number, offset: number, count: number, pair: (i: number) => [Call, (first: { status: number; body: unknown }) => Call]): Promise<PairTimes> {
  const first: number[] = [];
  const second: number[] = [];
  const start = now();
  await runLanes(concurrency, count, async (i) => {
    const [call1, then] = pair(offset + i);
    let t = now();
    const r1 = await call1();
    first.push(elapsedMs(t));
    const call2 = then(r1);
    t = now();
    await call2();
    second.push(elapsedMs(t));
  });
  return { wallMs: elapsedMs(start), first, second };
}

export async function requestApprove(opts: RequestApproveOptions): Promise<BenchResult> {
  const name = 'request-approve';
  const total = opts.warmup + opts.pairs;
  const requesters = manyUsers('sre', total, ['engineering', 'sre']);

  // ---- Keyshift
  const ks: ChildServer = await spawnServer({
    mode: 'keyshift',
    options: { storage: 'sqlite', users: [...requesters, BOB], profiles: PROFILES, tokensFor: [...requesters.map((u) => u.email), BOB.email] },
  });
  let ksTimes: PairTimes;
  let problems: string[] = [];
  try {
    const client = createHttpClient(ks.url, opts.concurrency);
    const bobToken = ks.tokens[BOB.email]!;
    const tokens = ks.tokens;
    const run = (offset: number, count: number) =>
      drive(opts.concurrency, offset, count, (i) => [
        () => client.call('POST', '/api/v1/requests', tokens[requesters[i]!.email]!, { profile: 'host-shell', duration: '15m', reason: 'bench: paged for disk full' }),
        (created) => {
          const body = created.body as { request?: { id: string; state: string } };
          if (created.status !== 201 || body.request?.state !== 'pending') throw new Error(`POST /api/v1/requests answered ${created.status}: ${JSON.stringify(created.body).slice(0, 300)}`);
          return async () => {
            const approved = await client.call('POST', `/api/v1/requests/${body.request!.id}/approve`, bobToken, { comment: 'ok' });
            const grant = (approved.body as { grant?: { state: string } | null }).grant;
            if (approved.status !== 200 || grant?.state !== 'active') throw new Error(`POST /api/v1/requests/:id/approve answered ${approved.status}: ${JSON.stringify(approved.body).slice(0, 300)}`);
            return approved;
          };
        },
      ]);
    await run(0, opts.warmup);
    ksTimes = await run(opts.warmup, opts.pairs);
    client.close();
  } finally {
    problems = await ks.close();
  }

  // ---- Floors
  const floor = await spawnServer({ mode: 'floor' });
  const floorTimes: Record<'json' | 'sqlite', PairTimes> = {} as never;
  try {
    const client = createHttpClient(floor.url, opts.concurrency);
    const run = (route: 'json' | 'sqlite', offset: number, count: number) => {
      const post = (body: unknown) => async () => {
        const r = await client.call('POST', `/${route}`, null, body);
        if (r.status !== 200) throw new Error(`floor /${route} answered ${r.status}`);
        return r;
      };
      return drive(opts.concurrency, offset, count, (i) => [post({ profile: 'host-shell', duration: '15m', reason: `bench ${i}` }), () => post({ comment: 'ok' })]);
    };
    // Warm both routes before timing either, so neither is measured while the JIT warms up.
    await run('json', 0, opts.floorWarmup);
    await run('sqlite', 0, opts.floorWarmup);
    floorTimes.json = await run('json', opts.warmup, opts.pairs);
    floorTimes.sqlite = await run('sqlite', opts.warmup, opts.pairs);
    client.close();
  } finally {
    await floor.close();
  }

  const rate = (t: PairTimes) => (opts.pairs / t.wallMs) * 1000;
  return {
    rows: [
      { benchmark: name, metric: 'pairs/s', unit: '/s', kind: 'rate', keyshift: rate(ksTimes), floor: rate(floorTimes.json) },
      ...latencyRows(name, 'request', ksTimes.first, floorTimes.json.first),
      ...latencyRows(name, 'approve', ksTimes.second, floorTimes.json.second),
      { benchmark: name, metric: 'pairs/s vs SQLite-write route', unit: '/s', kind: 'rate', keyshift: rate(ksTimes), floor: rate(floorTimes.sqlite) },
      ...latencyRows(name, 'approve vs SQLite-write route', ksTimes.second, floorTimes.sqlite.second, ['p50']),
    ],
    facts: {
      pairs: opts.pairs,
      warmup_pairs: opts.warmup,
      floor_warmup_pairs_per_route: opts.floorWarmup,
      concurrency: opts.concurrency,
      server: 'separate process, SQLite storage, HTTP keep-alive (node:http Agent)',
      floor_json_calls_per_s: (2 * opts.pairs * 1000) / floorTimes.json.wallMs,
      floor_sqlite_calls_per_s: (2 * opts.pairs * 1000) / floorTimes.sqlite.wallMs,
      keyshift_calls_per_s: (2 * opts.pairs * 1000) / ksTimes.wallMs,
      keyshift_problems: problems,
    },
  };
}

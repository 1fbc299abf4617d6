/**
 * The deadline worker: sleeps until the next deadline (grant end, pending-request TTL,
 * revocation retry) instead of scanning on a period, wakes early when a change could
 * bring the next deadline closer (`poke`), and re-reads the store on every wake, so it
 * is correct after a crash and with several replicas (only the lease holder runs it).
 */
import type { Clock } from './clock.ts';
import type { Log } from './deps.ts';
import type { Store } from './ports.ts';
import type { GrantService } from './grant-service.ts';
import type { RequestService } from './request-service.ts';

export interface ExpiryWorkerOptions {
  store: Store;
  clock: Clock;
  grants: GrantService;
  requests: RequestService;
  log: Log;
  /** Upper bound on one sleep, so clock jumps and missed pokes are noticed. */
  maxSleepMs?: number;
  /** Revocations run in parallel up to this many. */
  concurrency?: number;
  /** Called with the lateness of each expiry (ms), for the lag histogram. */
  onExpired?: (lagMs: number) => void;
  /** Holds the leader lease; when it returns false this replica does not run the worker. */
  isLeader?: () => Promise<boolean>;
}

export function createExpiryWorker(opts: ExpiryWorkerOptions) {
  const maxSleep = opts.maxSleepMs ?? 30_000;
  const concurrency = opts.concurrency ?? 32;
  let timer: NodeJS.Timeout | null = null;
  let running = false;
  let again = false;
  let stopped = true;
  let idle: Promise<void> = Promise.resolve();

  /** One pass: everything due now. Returns when the pass is done. */
  async function tick(): Promise<void> {
    if (opts.isLeader && !(await opts.isLeader())) return;
    const expired = await opts.grants.claimExpired();
    const retries = await opts.grants.dueRetries();
    const ids = [...new Set([...expired, ...retries])];
    for (let i = 0; i < ids.length; i += 1000) {
      const done = await opts.grants.revokeMany(ids.slice(i, i + 1000), concurrency);
      for (const g of done) if (g.state === 'expired' && g.ends_at && g.ended_at) opts.onExpired?.(Date.parse(g.ended_at) - Date.parse(g.ends_at));
    }
    await opts.requests.expireStale();
  }

  async function loop(): Promise<void> {
    if (running) {
      again = true;
      return;
    }
    running = true;
    let done!: () => void;
    idle = new Promise((r) => (done = r));
    try {
      do {
        again = false;
        await tick();
      } while (again && !stopped);
    } catch (e) {
      opts.log('error', 'expiry pass failed; retrying in 1s', { error: e instanceof Error ? e.message : String(e) });
      schedule(1000);
      return;
    } finally {
      running = false;
      done();
    }
    if (!stopped) await scheduleNext();
  }

  function schedule(ms: number): void {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void loop(), Math.max(0, Math.min(ms, maxSleep)));
    timer.unref?.();
  }

  async function scheduleNext(): Promise<void> {
    const next = await opts.store.read.nextDeadline().catch(() => null);
    const wait = next === null ? maxSleep : Date.parse(next) - opts.clock.now().getTime();
    schedule(wait);
  }

  return {
    /** Runs one full pass now (start-up recovery), then keeps scheduling. */
    async start(): Promise<void> {
      stopped = false;
      await loop();
    },
    /** Something changed (a grant activated or was extended): re-plan the next wake. */
    poke(): void {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      void scheduleNext();
    },
    /** Runs a pass now and waits for it (tests, and `keyshift serve` shutdown). */
    async runOnce(): Promise<void> {
      await tick();
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await idle;
    },
  };
}

export type ExpiryWorker = ReturnType<typeof createExpiryWorker>;

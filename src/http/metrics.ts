/**
 * Prometheus metrics. Grant counts are read from the store at scrape time (so every
 * replica reports the same truth); the expiry-lag histogram is fed by the worker.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../core/ports.ts';
import { GRANT_STATES } from '../core/model.ts';

export function createMetrics(store: Store, now: () => Date = () => new Date()) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keyshift_process_' });
  new Gauge({
    name: 'keyshift_grants',
    help: 'Grants by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const counts = await store.read.countGrantsByState();
      for (const s of GRANT_STATES) this.set({ state: s }, counts[s] ?? 0);
    },
  });
  new Gauge({
    name: 'keyshift_grants_revoking',
    help: 'Grants whose removal at the target is still being retried (alert when > 0 for long)',
    registers: [registry],
    async collect() {
      this.set((await store.read.countGrantsByState())['revoking'] ?? 0);
    },
  });
  new Gauge({
    name: 'keyshift_break_glass_unreviewed',
    help: 'Break-glass grants not yet reviewed; overdue="true" are past review_within',
    labelNames: ['overdue'],
    registers: [registry],
    async collect() {
      const open = await store.read.listGrants({ unreviewedBreakGlass: true, limit: 100000 });
      const t = now().toISOString();
      const overdue = open.filter((g) => g.review_due_at !== null && g.review_due_at < t).length;
      this.set({ overdue: 'true' }, overdue);
      this.set({ overdue: 'false' }, open.length - overdue);
    },
  });
  const expiryLag = new Histogram({
    name: 'keyshift_expiry_lag_seconds',
    help: 'Time from a grant deadline to its removal at the target',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const httpRequests = new Counter({ name: 'keyshift_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: [registry] });
  return { registry, expiryLag, httpRequests };
}

export type Metrics = ReturnType<typeof createMetrics>;

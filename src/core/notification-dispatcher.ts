/**
 * Delivers notifications from the committed audit log: one cursor per notifier, so a
 * notification is sent at least once, after commit, and retried (with backoff, without
 * limit) while the notifier fails — a failure never undoes or blocks a state change.
 * Recipients are computed here, so every notifier (webhook, Slack…) tells the same people.
 */
import type { CoreDeps } from './deps.ts';
import type { AuditAction, AuditEvent } from './model.ts';
import type { Notifier } from './ports.ts';
import { eligibleApprovers } from './policy-engine.ts';

/** Events people must hear about, and who. */
const NOTIFIED: ReadonlySet<AuditAction> = new Set<AuditAction>([
  'request.created',
  'request.approved',
  'request.denied',
  'request.expired',
  'break_glass.activated',
  'grant.activated',
  'grant.revoked',
  'grant.revoke_failed',
  'grant.failed',
]);

export function recipientsFor(e: AuditEvent, deps: Pick<CoreDeps, 'profiles' | 'directory'>): string[] {
  const profile = e.profile ? deps.profiles.get(e.profile) : undefined;
  const approvers = () => (profile && e.subject ? [...new Set(eligibleApprovers(profile, deps.directory, e.subject).flat())] : []);
  switch (e.action) {
    case 'request.created':
      return e.details.outcome === 'needs_approval' ? approvers() : [];
    case 'break_glass.activated':
      return approvers();
    case 'grant.revoke_failed':
      return deps.directory.all().filter((u) => deps.directory.lookup(u.email)?.admin).map((u) => u.email);
    default:
      return e.subject ? [e.subject] : [];
  }
}

export function createNotificationDispatcher(deps: CoreDeps, notifiers: Notifier[], opts: { isLeader?: () => Promise<boolean> } = {}) {
  const state = new Map<string, { failures: number; retryAt: number }>();
  let running: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  async function drainOne(n: Notifier): Promise<void> {
    const key = `notify:${n.name}`;
    const s = state.get(n.name) ?? { failures: 0, retryAt: 0 };
    if (Date.now() < s.retryAt) {
      // Still backing off. Re-arm: a timer may fire a millisecond before the wall clock
      // reaches retryAt, and returning without a timer would lose the retry.
      schedule(s.retryAt - Date.now());
      return;
    }
    let after = await deps.store.getCursor(key);
    for (;;) {
      const page = await deps.store.read.auditEvents({ afterSeq: after, limit: 200 });
      if (page.length === 0) break;
      for (const e of page) {
        const recipients = NOTIFIED.has(e.action) ? recipientsFor(e, deps) : [];
        if (recipients.length) {
          try {
            await n.notify(e, recipients);
          } catch (err) {
            s.failures++;
            s.retryAt = Date.now() + Math.min(60_000, 1000 * 2 ** Math.min(s.failures - 1, 6));
            state.set(n.name, s);
            deps.log('warn', 'notification failed; will retry', { notifier: n.name, event: e.id, attempt: s.failures, error: err instanceof Error ? err.message : String(err) });
            schedule(s.retryAt - Date.now());
            return;
          }
        }
        after = e.seq;
        await deps.store.setCursor(key, after);
      }
    }
    state.set(n.name, { failures: 0, retryAt: 0 });
  }

  function schedule(ms: number): void {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(kick, Math.max(10, ms));
    timer.unref?.();
  }

  function kick(): void {
    if (stopped || notifiers.length === 0) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        if (opts.isLeader && !(await opts.isLeader().catch(() => false))) return;
        for (const n of notifiers) await drainOne(n).catch((e: unknown) => deps.log('error', 'notification dispatch failed', { notifier: n.name, error: String(e) }));
      } while (again && !stopped);
    })().finally(() => {
      running = null;
      // A kick that arrived after the loop's last check but before this callback would
      // otherwise be lost (and with it a scheduled retry).
      if (again && !stopped) kick();
    });
  }

  return {
    kick,
    /** Waits until every notifier has caught up or is backing off (tests, shutdown). */
    async flush(): Promise<void> {
      kick();
      while (running) await running;
    },
    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

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
import { createSerialRunner } from './serial-runner.ts';

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
            // Keep what was delivered before this event; it is retried from here.
            await deps.store.setCursor(key, after);
            s.failures++;
            s.retryAt = Date.now() + Math.min(60_000, 1000 * 2 ** Math.min(s.failures - 1, 6));
            state.set(n.name, s);
            deps.log('warn', 'notification failed; will retry', { notifier: n.name, event: e.id, attempt: s.failures, error: err instanceof Error ? err.message : String(err) });
            schedule(s.retryAt - Date.now());
            return;
          }
        }
        after = e.seq;
      }
      // One cursor write a page: a crash repeats at most a page (receivers dedupe by event ID).
      await deps.store.setCursor(key, after);
    }
    state.set(n.name, { failures: 0, retryAt: 0 });
  }

  const runner = createSerialRunner(
    async () => {
      if (stopped) return;
      if (opts.isLeader && !(await opts.isLeader().catch(() => false))) return;
      for (const n of notifiers) await drainOne(n).catch((e: unknown) => deps.log('error', 'notification dispatch failed', { notifier: n.name, error: String(e) }));
    },
    (e) => deps.log('error', 'notification dispatch failed', { error: String(e) }),
  );

  function schedule(ms: number): void {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(kick, Math.max(10, ms));
    timer.unref?.();
  }

  function kick(): void {
    if (!stopped && notifiers.length > 0) runner.kick();
  }

  return {
    kick,
    /** Waits until every notifier has caught up or is backing off (tests, shutdown). */
    async flush(): Promise<void> {
      kick();
      await runner.idle();
    },
    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

import type { CoreDeps } from './deps.ts';
import type { AuditEvent, AuditInput } from './model.ts';
import type { StoreTx } from './ports.ts';
import { appendAudit } from './audit-log.ts';

export type AppendAudit = (input: AuditInput) => Promise<AuditEvent>;

/**
 * Runs one state change in a store transaction with an audit appender bound to it, then
 * hands the committed events to `afterCommit` (sinks, notifications, worker pokes).
 * Nothing leaves before the commit; a throw inside rolls back the change and its events.
 */
export function committer(deps: Pick<CoreDeps, 'store' | 'clock' | 'afterCommit'>) {
  return async function commit<T>(fn: (tx: StoreTx, audit: AppendAudit) => Promise<T>): Promise<T> {
    const events: AuditEvent[] = [];
    const result = await deps.store.transaction((tx) =>
      fn(tx, async (input) => {
        const e = await appendAudit(tx, input, deps.clock.now());
        events.push(e);
        return e;
      }),
    );
    if (events.length) deps.afterCommit(events);
    return result;
  };
}

/**
 * Finds accounts a connector created that no live grant owns (left by a crash, or made
 * by hand with our prefix) and removes them, with an audit event each. Runs at start-up
 * and periodically on the leader. An account whose grant is still live is never touched.
 */
import type { CoreDeps } from './deps.ts';
import type { ConnectorPort } from './ports.ts';
import { appendAudit } from './audit-log.ts';
import { scrubSecrets } from './errors.ts';

const LIVE = new Set(['activating', 'active', 'revoking']);

export function createOrphanSweeper(deps: CoreDeps, connectors: ReadonlyMap<string, ConnectorPort>) {
  async function sweep(): Promise<{ removed: string[]; failed: string[] }> {
    const removed: string[] = [];
    const failed: string[] = [];
    for (const [name, c] of connectors) {
      if (!c.listManagedAccounts || !c.removeAccount) continue;
      let accounts: Array<{ account: string; grantId: string | null }>;
      try {
        accounts = await c.listManagedAccounts();
      } catch (e) {
        deps.log('warn', 'orphan sweep could not list accounts', { connector: name, error: scrubSecrets(String((e as Error)?.message ?? e)) });
        continue;
      }
      for (const a of accounts) {
        const grant = a.grantId ? await deps.store.read.getGrant(a.grantId) : null;
        // A grant still activating may have created its account a moment ago: leave it.
        if (grant && LIVE.has(grant.state)) continue;
        try {
          await c.removeAccount(a.account);
          const events = await deps.store.transaction(async (tx) => [
            await appendAudit(
              tx,
              {
                action: 'connector.orphan_removed',
                actor: 'system:sweeper',
                subject: grant?.grantee ?? null,
                profile: grant?.profile ?? null,
                connector: name,
                grant_id: grant?.id ?? null,
                request_id: grant?.request_id ?? null,
                details: { account: a.account, grant_state: grant?.state ?? null, claimed_grant: a.grantId },
              },
              deps.clock.now(),
            ),
          ]);
          deps.afterCommit(events);
          removed.push(`${name}:${a.account}`);
        } catch (e) {
          failed.push(`${name}:${a.account}`);
          deps.log('warn', 'orphan sweep could not remove an account', { connector: name, account: a.account, error: scrubSecrets(String((e as Error)?.message ?? e)) });
        }
      }
    }
    return { removed, failed };
  }
  return { sweep };
}

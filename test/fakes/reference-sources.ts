/**
 * In-memory ticket and incident sources, typed against the core ports, standing in for
 * Jira and PagerDuty (their real clients come with the integrations issue).
 */
import type { IncidentSource, TicketSource } from '../../src/core/ports.ts';

export function createFakeReferenceSource(known: Record<string, 'open' | 'closed'>, opts: { failing?: boolean } = {}) {
  const state = { ...known };
  let calls = 0;
  const source = {
    async check(ref: string) {
      calls++;
      if (opts.failing) throw new Error('source timed out');
      const s = state[ref];
      if (!s) return { exists: false, open: false, detail: `${ref} not found` };
      return { exists: true, open: s === 'open', detail: `${ref} is ${s}` };
    },
  } satisfies TicketSource & IncidentSource;
  return {
    source,
    set(ref: string, s: 'open' | 'closed') {
      state[ref] = s;
    },
    get calls() {
      return calls;
    },
  };
}

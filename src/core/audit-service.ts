/**
 * Reading the audit log: filtered queries (admins see everything, everyone else the
 * events they acted in or were the subject of), chain verification, and exports.
 */
import type { AuditEvent, Principal } from './model.ts';
import type { AuditFilter, Store } from './ports.ts';
import { verifyChain } from './audit-log.ts';
import type { ChainVerdict } from './audit-log.ts';

export const AUDIT_CSV_COLUMNS = ['seq', 'id', 'time', 'action', 'actor', 'subject', 'profile', 'connector', 'request_id', 'grant_id', 'incident', 'ticket', 'reason', 'details', 'prev_hash', 'hash'] as const;

export function createAuditService(store: Store) {
  async function query(who: Principal, f: AuditFilter): Promise<AuditEvent[]> {
    return store.read.auditEvents({ ...f, ...(who.admin ? {} : { involving: who.email }) });
  }

  async function verify(): Promise<ChainVerdict> {
    const head = await store.read.auditHeadRow();
    async function* pages() {
      let after = 0;
      for (;;) {
        const page = await store.read.auditEvents({ afterSeq: after, limit: 2000 });
        if (page.length === 0) return;
        yield page;
        after = page[page.length - 1]!.seq;
      }
    }
    return verifyChain(pages(), head);
  }

  return { query, verify };
}

export type AuditService = ReturnType<typeof createAuditService>;

/** RFC 4180 CSV; cells that a spreadsheet would run as a formula are prefixed with '. */
export function toCsv(events: AuditEvent[]): string {
  const cell = (v: unknown) => {
    let s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  const lines = [AUDIT_CSV_COLUMNS.join(',')];
  for (const e of events) lines.push(AUDIT_CSV_COLUMNS.map((c) => cell(e[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}

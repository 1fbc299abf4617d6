/**
 * "Who had what access during INC-123, approved by whom, and when did it end": built
 * from the audit log alone, so the report is as trustworthy as the verified chain.
 */
import type { AuditEvent, Grant } from './model.ts';

export interface IncidentReport {
  incident: string;
  generated_at: string;
  chain_ok: boolean;
  grants: Array<{
    grant_id: string;
    grantee: string;
    profile: string;
    connector: string | null;
    requested_at: string | null;
    reason: string | null;
    approved_by: string[];
    break_glass: boolean;
    /** Break-glass only: `reviewed by X at T`, `unreviewed (due T)` or `UNREVIEWED, overdue since T`. */
    review: string | null;
    activated_at: string | null;
    ends_at: string | null;
    ended_at: string | null;
    ended_how: string | null;
    credentials_issued: number;
    extensions: number;
    state: string;
  }>;
  timeline: Array<{ time: string; action: string; actor: string; subject: string | null; grant_id: string | null; request_id: string | null; reason: string | null }>;
}

export function buildIncidentReport(incident: string, events: AuditEvent[], grants: Grant[], chainOk: boolean, now: Date): IncidentReport {
  const byRequest = new Map<string, AuditEvent[]>();
  for (const e of events) if (e.request_id) byRequest.set(e.request_id, [...(byRequest.get(e.request_id) ?? []), e]);
  return {
    incident,
    generated_at: now.toISOString(),
    chain_ok: chainOk,
    grants: grants.map((g) => {
      const evs = byRequest.get(g.request_id) ?? [];
      const find = (a: string) => evs.find((e) => e.action === a);
      const ended = evs.find((e) => ['grant.expired', 'grant.revoked', 'grant.released', 'grant.failed'].includes(e.action));
      return {
        grant_id: g.id,
        grantee: g.grantee,
        profile: g.profile,
        connector: g.connector,
        requested_at: find('request.created')?.time ?? null,
        reason: find('request.created')?.reason ?? null,
        // A break-glass grant approves itself: that is not an approval by the grantee.
        approved_by: g.break_glass ? [] : evs.filter((e) => e.action === 'request.approved' || e.action === 'request.approval_added').map((e) => e.actor),
        break_glass: g.break_glass,
        review: !g.break_glass
          ? null
          : g.reviewed_at
            ? `reviewed by ${g.reviewed_by} at ${g.reviewed_at}`
            : g.review_due_at && g.review_due_at < now.toISOString()
              ? `UNREVIEWED, overdue since ${g.review_due_at}`
              : `unreviewed (due ${g.review_due_at ?? '—'})`,
        activated_at: find('grant.activated')?.time ?? null,
        ends_at: g.ends_at,
        ended_at: ended?.time ?? null,
        ended_how: ended ? ended.action.replace('grant.', '') + (ended.actor.startsWith('system:') ? '' : ` by ${ended.actor}`) : null,
        credentials_issued: evs.filter((e) => e.action === 'grant.credentials_issued').length,
        extensions: evs.filter((e) => e.action === 'grant.extended').length,
        state: g.state,
      };
    }),
    timeline: events.map((e) => ({ time: e.time, action: e.action, actor: e.actor, subject: e.subject, grant_id: e.grant_id, request_id: e.request_id, reason: e.reason })),
  };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const mdCell = (s: string | null | undefined) => (s ?? '—').replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function reportToMarkdown(r: IncidentReport): string {
  const out = [`# Access during ${r.incident}`, '', `Generated ${r.generated_at}. Audit chain: ${r.chain_ok ? 'intact' : '**BROKEN — do not rely on this report**'}.`, ''];
  out.push('## Grants', '', '| Grant | Who | Profile | Approved by | Active from | Ended | How | Creds | Ext. |', '|---|---|---|---|---|---|---|---|---|');
  for (const g of r.grants) {
    out.push(`| ${g.grant_id} | ${mdCell(g.grantee)} | ${mdCell(g.profile)}${g.break_glass ? ` (break-glass: ${mdCell(g.review)})` : ''} | ${mdCell(g.approved_by.join(', ') || (g.break_glass ? 'nobody (break-glass)' : 'policy'))} | ${mdCell(g.activated_at)} | ${mdCell(g.ended_at)} | ${mdCell(g.ended_how ?? g.state)} | ${g.credentials_issued} | ${g.extensions} |`);
  }
  if (r.grants.length === 0) out.push('| — | no grants referenced this incident | | | | | | | |');
  out.push('', '## Timeline', '');
  for (const t of r.timeline) out.push(`- ${t.time} **${t.action}** by ${mdCell(t.actor)}${t.subject && t.subject !== t.actor ? ` for ${mdCell(t.subject)}` : ''}${t.grant_id ? ` (${t.grant_id})` : ''}${t.reason ? ` — ${mdCell(t.reason)}` : ''}`);
  return out.join('\n') + '\n';
}

export function reportToHtml(r: IncidentReport): string {
  const rows = r.grants
    .map((g) => `<tr><td>${esc(g.grant_id)}</td><td>${esc(g.grantee)}</td><td>${esc(g.profile)}${g.break_glass ? ` (break-glass: ${esc(g.review ?? '')})` : ''}</td><td>${esc(g.approved_by.join(', ') || (g.break_glass ? 'nobody (break-glass)' : 'policy'))}</td><td>${esc(g.activated_at ?? '—')}</td><td>${esc(g.ended_at ?? '—')}</td><td>${esc(g.ended_how ?? g.state)}</td></tr>`)
    .join('');
  const timeline = r.timeline.map((t) => `<li><time>${esc(t.time)}</time> <b>${esc(t.action)}</b> by ${esc(t.actor)}${t.reason ? ' — ' + esc(t.reason) : ''}</li>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Access during ${esc(r.incident)}</title></head><body><h1>Access during ${esc(r.incident)}</h1><p>Generated ${esc(r.generated_at)}. Audit chain: ${r.chain_ok ? 'intact' : '<strong>BROKEN</strong>'}.</p><table border="1"><tr><th>Grant</th><th>Who</th><th>Profile</th><th>Approved by</th><th>Active from</th><th>Ended</th><th>How</th></tr>${rows}</table><h2>Timeline</h2><ol>${timeline}</ol></body></html>`;
}

import type { AccessRequest, Grant, ProfileInfo } from './api-types.ts';
import { compactDuration, relative, remaining } from './output.ts';
import type { Output } from './output.ts';

/** Human renderings of requests and grants, shared by the verbs that return them. */

export function requestRows(items: AccessRequest[]): string[][] {
  return items.map((r) => [
    r.id,
    r.state,
    r.kind === 'extension' ? 'extension' : 'grant',
    r.profile,
    r.requester,
    compactDuration(r.duration_seconds),
    relative(r.created_at),
    votes(r),
    [r.break_glass ? 'BREAK-GLASS' : '', r.kind === 'extension' && r.extends_grant_id ? `extends ${r.extends_grant_id}` : '', r.incident ?? '', r.reason ?? '']
      .filter(Boolean)
      .join(' '),
  ]);
}
export const REQUEST_HEADERS = ['ID', 'STATE', 'KIND', 'PROFILE', 'REQUESTER', 'FOR', 'CREATED', 'VOTES', 'WHY'];

/**
 * `1 approve, 1 deny`: the people's decisions so far (pre-approvals and policy are not
 * votes). A denial only ends a request once the profile's `denials_required` is reached,
 * so a pending request can carry denials worth seeing.
 */
function votes(r: AccessRequest): string {
  const people = r.approvals.filter((a) => !a.automatic);
  const yes = people.filter((a) => a.decision !== 'deny').length;
  const no = people.length - yes;
  return [yes ? `${yes} approve` : '', no ? `${no} deny` : ''].filter(Boolean).join(', ') || '-';
}

export function grantRows(items: Grant[], now = Date.now()): string[][] {
  return items.map((g) => [
    g.id,
    g.state,
    g.profile,
    g.grantee,
    g.state === 'active' ? remaining(g.ends_at) : g.ended_at ? `ended ${relative(g.ended_at)}` : '-',
    g.incident ?? '',
    breakGlassNote(g, now),
  ]);
}
export const GRANT_HEADERS = ['ID', 'STATE', 'PROFILE', 'USER', 'ENDS IN', 'INCIDENT', 'BREAK-GLASS'];

/** Is a break-glass grant past its review deadline without an acknowledgement? */
export function reviewOverdue(g: Grant, now = Date.now()): boolean {
  return g.break_glass && !g.reviewed_at && g.review_due_at !== null && Date.parse(g.review_due_at) < now;
}

/** `REVIEW OVERDUE 2h ago`, `unreviewed, due in 22h`, `reviewed by bob@…`; '' for ordinary grants. */
export function breakGlassNote(g: Grant, now = Date.now()): string {
  if (!g.break_glass) return '';
  if (g.reviewed_at) return `reviewed by ${g.reviewed_by ?? '?'}`;
  if (reviewOverdue(g, now)) return `REVIEW OVERDUE (due ${relative(g.review_due_at, now)})`;
  return `unreviewed, due ${relative(g.review_due_at, now)}`;
}

/** `forGrantee: false` (approvers, reviewers) leaves out the how-to-use-it hint meant for the grantee. */
export function printGrant(out: Output, g: Grant, opts: { forGrantee?: boolean } = {}): void {
  const when =
    g.state === 'active'
      ? `ends in ${remaining(g.ends_at)}`
      : g.ended_at
        ? `ended ${relative(g.ended_at)}${g.end_reason ? `: ${g.end_reason}` : ''}`
        : g.last_error ?? '';
  out.line(`grant    ${g.id}  ${g.state}  ${g.profile} (${g.connector}) for ${g.grantee}${when ? `, ${when}` : ''}`);
  if (g.state === 'active' && g.ends_at) {
    out.line(`         ends at ${g.ends_at}${g.extensions > 0 ? ` (extended ${g.extensions} time${g.extensions === 1 ? '' : 's'})` : ''}`);
  }
  if (g.break_glass) {
    out.line(`         BREAK-GLASS: ${breakGlassNote(g)}${g.review_comment ? `: ${g.review_comment}` : ''}`);
  }
  if (g.state === 'active' && opts.forGrantee !== false) {
    out.info(`use it: keyshift creds ${g.id}   or   keyshift connect ${g.id}`);
  }
}

export function printRequest(out: Output, r: AccessRequest): void {
  const what =
    r.kind === 'extension'
      ? `extension of ${r.extends_grant_id ?? '?'} (${r.profile}) by ${compactDuration(r.duration_seconds)}`
      : `${r.profile} for ${compactDuration(r.duration_seconds)}`;
  out.line(`request  ${r.id}  ${r.state}  ${what} by ${r.requester}`);
  if (r.state === 'pending') out.line(`         expires ${relative(r.expires_at)} unless decided`);
  if (r.decided_by && r.state !== 'approved') out.line(`         decided by ${r.decided_by}${r.decision_comment ? `: ${r.decision_comment}` : ''}`);
  for (const a of r.approvals) {
    // The deciding denial is already the `decided by` line.
    if (a.automatic || (r.state === 'denied' && a.decision === 'deny' && a.approver === r.decided_by)) continue;
    const verb = a.decision === 'deny' ? 'denied' : 'approved';
    out.line(`         ${verb} by ${a.approver}${a.comment ? `: ${a.comment}` : ''}`);
  }
  for (const reason of r.decision_reasons) out.line(`         - ${reason}`);
}

/** `1 of group:sre-leads AND 1 of group:security`, or `automatic` when nothing is needed. */
export function describeApproval(p: ProfileInfo): string {
  const rules = p.approval.rules.map((r) => `${r.count} of ${r.approvers.join('|')}`).join(' AND ');
  if (p.approval.auto_approve) return rules ? `auto if on call, else ${rules}` : 'automatic';
  return rules || 'none';
}

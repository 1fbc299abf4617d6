import type { AccessRequest, Grant, ProfileInfo } from './api-types.ts';
import { compactDuration, relative, remaining } from './output.ts';
import type { Output } from './output.ts';

/** Human renderings of requests and grants, shared by the verbs that return them. */

export function requestRows(items: AccessRequest[]): string[][] {
  return items.map((r) => [
    r.id,
    r.state,
    r.profile,
    r.requester,
    compactDuration(r.duration_seconds),
    relative(r.created_at),
    [r.break_glass ? 'BREAK-GLASS' : '', r.incident ?? '', r.reason ?? ''].filter(Boolean).join(' '),
  ]);
}
export const REQUEST_HEADERS = ['ID', 'STATE', 'PROFILE', 'REQUESTER', 'FOR', 'CREATED', 'WHY'];

export function grantRows(items: Grant[]): string[][] {
  return items.map((g) => [
    g.id,
    g.state,
    g.profile,
    g.grantee,
    g.state === 'active' ? remaining(g.ends_at) : g.ended_at ? `ended ${relative(g.ended_at)}` : '-',
    g.incident ?? '',
  ]);
}
export const GRANT_HEADERS = ['ID', 'STATE', 'PROFILE', 'USER', 'ENDS IN', 'INCIDENT'];

export function printGrant(out: Output, g: Grant): void {
  const when =
    g.state === 'active'
      ? `ends in ${remaining(g.ends_at)}`
      : g.ended_at
        ? `ended ${relative(g.ended_at)}${g.end_reason ? `: ${g.end_reason}` : ''}`
        : g.last_error ?? '';
  out.line(`grant    ${g.id}  ${g.state}  ${g.profile} (${g.connector}) for ${g.grantee}${when ? `, ${when}` : ''}`);
  if (g.state === 'active') {
    out.info(`use it: keyshift creds ${g.id}   or   keyshift connect ${g.id}`);
  }
}

export function printRequest(out: Output, r: AccessRequest): void {
  out.line(`request  ${r.id}  ${r.state}  ${r.profile} for ${compactDuration(r.duration_seconds)} by ${r.requester}`);
  if (r.state === 'pending') out.line(`         expires ${relative(r.expires_at)} unless decided`);
  if (r.decided_by && r.state !== 'approved') out.line(`         decided by ${r.decided_by}${r.decision_comment ? `: ${r.decision_comment}` : ''}`);
  for (const a of r.approvals) {
    if (!a.automatic) out.line(`         approved by ${a.approver}${a.comment ? `: ${a.comment}` : ''}`);
  }
  for (const reason of r.decision_reasons) out.line(`         - ${reason}`);
}

/** `1 of group:sre-leads AND 1 of group:security`, or `automatic` when nothing is needed. */
export function describeApproval(p: ProfileInfo): string {
  const rules = p.approval.rules.map((r) => `${r.count} of ${r.approvers.join('|')}`).join(' AND ');
  if (p.approval.auto_approve) return rules ? `auto if on call, else ${rules}` : 'automatic';
  return rules || 'none';
}

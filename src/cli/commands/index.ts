import type { Verb } from '../command.ts';

/**
 * Every verb, loaded on demand: `keyshift whoami` never loads `serve`'s server code, and
 * top-level help needs only these summaries.
 */
export const VERBS: Record<string, { summary: string; load: () => Promise<Verb> }> = {
  init: { summary: 'write a starter keyshift.yaml, SSH CA key and first admin token', load: async () => (await import('./init.ts')).verb },
  serve: { summary: 'run the server: API, web UI, workers', load: async () => (await import('./serve.ts')).verb },
  config: { summary: 'config check: validate keyshift.yaml (and --connect to targets)', load: async () => (await import('./config.ts')).verb },
  login: { summary: 'store a server URL and API token for later commands', load: async () => (await import('./login.ts')).verb },
  whoami: { summary: 'who the server thinks you are', load: async () => (await import('./whoami.ts')).verb },
  profiles: { summary: 'what you may request, and on what terms', load: async () => (await import('./profiles.ts')).verb },
  policy: { summary: 'policy explain / policy matrix: who would get what, and why', load: async () => (await import('./policy.ts')).verb },
  request: { summary: 'request access to a profile (and --wait for the decision)', load: async () => (await import('./request.ts')).verb },
  requests: { summary: 'list requests: yours, pending, to review', load: async () => (await import('./requests.ts')).verb },
  approve: { summary: 'approve a pending request', load: async () => (await import('./approve.ts')).verb },
  deny: { summary: 'deny a pending request', load: async () => (await import('./deny.ts')).verb },
  cancel: { summary: 'cancel your pending request', load: async () => (await import('./cancel.ts')).verb },
  grants: { summary: 'list grants and how long they have left', load: async () => (await import('./grants.ts')).verb },
  creds: { summary: 'issue credentials for an active grant', load: async () => (await import('./creds.ts')).verb },
  connect: { summary: 'run psql / mysql / ssh with fresh credentials', load: async () => (await import('./connect.ts')).verb },
  extend: { summary: 'extend an active grant (and --wait for approval when it needs one)', load: async () => (await import('./extend.ts')).verb },
  release: { summary: "end your own grant now (\"I'm done\")", load: async () => (await import('./release.ts')).verb },
  revoke: { summary: 'end someone\'s grant now (approvers and admins)', load: async () => (await import('./revoke.ts')).verb },
  reviews: { summary: 'list open break-glass review items, overdue ones marked', load: async () => (await import('./reviews.ts')).verb },
  review: { summary: 'acknowledge someone\'s break-glass grant', load: async () => (await import('./review.ts')).verb },
  preapprove: { summary: 'approve a user for a profile ahead of time, for a window', load: async () => (await import('./preapprove.ts')).verb },
  preapprovals: { summary: 'list pre-approval windows', load: async () => (await import('./preapprovals.ts')).verb },
  preapproval: { summary: 'preapproval revoke ID: withdraw a pre-approval window', load: async () => (await import('./preapproval.ts')).verb },
  audit: { summary: 'search the audit log, or audit verify its hash chain', load: async () => (await import('./audit.ts')).verb },
  report: { summary: 'report incident ID: who had what access during an incident', load: async () => (await import('./report.ts')).verb },
  token: { summary: 'token create | list | revoke: API tokens (create: admins)', load: async () => (await import('./token.ts')).verb },
};

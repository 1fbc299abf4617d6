import type { CommandContext, Verb } from '../command.ts';
import { arg, opt } from '../command.ts';
import type { ExtendResult } from '../api-types.ts';
import { STALE_CERT_HINT, defaultPublicKey, expandPath, isSshGrant } from '../credentials.ts';
import { checkDuration } from '../durations.ts';
import { EXIT, usageError } from '../errors.ts';
import type { ApiClient } from '../http-client.ts';
import { compactDuration, remaining } from '../output.ts';
import { printGrant, printRequest } from '../views.ts';
import { DEFAULT_TIMEOUT, approversNeeded, exitFor, grantOf, timeoutSeconds, waitForDecision } from '../wait.ts';
import { printCredentials } from './creds.ts';

export const verb: Verb = {
  '': {
    usage: 'extend GRANT --by 30m [--reason TEXT] [--public-key FILE] [--wait [--timeout 10m]]',
    description: [
      'Extend your active grant, within the profile\'s extend limits. An extension needs the',
      'same approval as the original grant unless the policy approves it at once (on call,',
      'pre-approved, or the profile lets grantees extend freely):',
      '  approved at once: prints the grant with its new end;',
      '  needs approval: prints the pending extension request and who must approve it.',
      'With --wait, waits for that decision like request --wait: exit 0 and the new end when',
      'approved, 3 when denied, 1 when cancelled or expired, 4 when --timeout passes first.',
      'When the connector re-issues credentials at once (SSH: a certificate with the new end),',
      'they are written / printed as keyshift creds does; --public-key names the key the',
      'certificate is for.',
    ].join('\n'),
    args: ['GRANT'],
    options: {
      by: { type: 'string', value: 'DURATION', help: 'how much longer, e.g. 30m (required)' },
      reason: { type: 'string', value: 'TEXT', help: 'why more time is needed' },
      'public-key': { type: 'string', value: 'FILE', help: 'SSH: where the new certificate goes (default ~/.ssh/id_ed25519.pub)' },
      wait: { type: 'boolean', help: 'if the extension needs approval, wait until it is decided' },
      timeout: { type: 'string', value: 'DURATION', help: `with --wait: give up after this long (default ${DEFAULT_TIMEOUT})` },
    },
    run: async (ctx) => {
      const by = opt(ctx, 'by');
      if (!by) throw usageError('missing --by DURATION, e.g. keyshift extend GRANT --by 30m');
      checkDuration(by, '--by');
      const timeout = timeoutSeconds(ctx);
      const client = await ctx.client();
      const result = await client.post<ExtendResult>(`/grants/${encodeURIComponent(arg(ctx, 0))}/extend`, {
        duration: by,
        reason: opt(ctx, 'reason'),
      });

      if (result.request.state !== 'pending') return applied(ctx, client, result);

      // 202: an extension request that needs approval.
      const r = result.request;
      const who = await approversNeeded(client, r.profile);
      const needs = `extension request ${r.id} needs approval${who ? ` by ${who}` : ''}`;
      if (!ctx.values.wait) {
        if (ctx.json) ctx.out.value(result);
        else {
          ctx.out.line(needs);
          printRequest(ctx.out, r);
        }
        ctx.out.info(`the grant keeps its current end until then; follow it with: keyshift requests --mine`);
        return EXIT.ok;
      }
      if (!ctx.json) {
        ctx.out.line(needs);
        printRequest(ctx.out, r);
      }
      ctx.out.info(`waiting up to ${compactDuration(timeout)} for a decision on ${r.id}…`);
      const request = await waitForDecision(client, r.id, timeout * 1000);
      return applied(ctx, client, { request, grant: await grantOf(client, request), credentials: null }, true);
    },
  },
};

/** The extension was decided: show the grant's new end (or why not) and exit accordingly. */
async function applied(ctx: CommandContext, client: ApiClient, result: ExtendResult, waited = false): Promise<number> {
  const { request, grant, credentials } = result;
  if (ctx.json) {
    ctx.out.value(result);
    return exitFor(request);
  }
  if (request.state !== 'approved') {
    printRequest(ctx.out, request);
    return exitFor(request);
  }
  if (grant) {
    ctx.out.line(`extended ${grant.id} by ${compactDuration(request.duration_seconds)}: now ends in ${remaining(grant.ends_at)} (at ${grant.ends_at ?? '?'})`);
    printGrant(ctx.out, grant);
  }
  if (credentials) {
    const key = opt(ctx, 'public-key');
    await printCredentials(ctx, credentials, null, 'env', key ? expandPath(ctx.io, key) : defaultPublicKey(ctx.io));
  } else if (waited && grant && (await isSshGrant(client, grant))) {
    // The server re-signs on approval but hands the certificate to nobody; a fresh one
    // is one creds call away.
    ctx.out.info(STALE_CERT_HINT(grant.id));
  }
  return exitFor(request);
}

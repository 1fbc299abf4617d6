import type { CommandContext, Verb } from '../command.ts';
import { arg, opt } from '../command.ts';
import type { RequestResult } from '../api-types.ts';
import { STALE_CERT_HINT, isSshGrant } from '../credentials.ts';
import { checkDuration } from '../durations.ts';
import type { ApiClient } from '../http-client.ts';
import { compactDuration } from '../output.ts';
import { printGrant, printRequest } from '../views.ts';
import { DEFAULT_TIMEOUT, approversNeeded, exitFor, grantOf, timeoutSeconds, waitForDecision } from '../wait.ts';

export const verb: Verb = {
  '': {
    usage:
      'request PROFILE [--for 2h] [--reason TEXT] [--ticket KEY] [--incident ID] [--break-glass] [--wait [--timeout 10m]]',
    description: [
      'Ask for PROFILE for a while. Prints the request and, when it was approved at once',
      '(auto-approval, break-glass), the grant.',
      'If you already hold an active grant for PROFILE, the server turns this into a request',
      'to extend that grant by --for (same approval as the original); it says so.',
      'With --wait, waits for the decision: exit 0 and the grant when approved, 3 when denied,',
      '1 when cancelled or expired, 4 when --timeout passes first (the request stays pending).',
    ].join('\n'),
    args: ['PROFILE'],
    options: {
      for: { type: 'string', value: 'DURATION', help: 'how long, e.g. 90s, 30m, 2h (default: the profile default)' },
      reason: { type: 'string', value: 'TEXT', help: 'why you need it (some profiles require it)' },
      ticket: { type: 'string', value: 'KEY', help: 'ticket / change record, e.g. OPS-123' },
      incident: { type: 'string', value: 'ID', help: 'the incident this serves, e.g. a PagerDuty incident ID' },
      'break-glass': { type: 'boolean', help: 'emergency: activate without approval (alerts approvers, needs review)' },
      wait: { type: 'boolean', help: 'wait until the request is decided' },
      timeout: { type: 'string', value: 'DURATION', help: `with --wait: give up after this long (default ${DEFAULT_TIMEOUT})` },
    },
    run: async (ctx) => {
      const duration = opt(ctx, 'for');
      if (duration) checkDuration(duration, '--for');
      const timeout = timeoutSeconds(ctx);
      const client = await ctx.client();
      const created = await client.post<RequestResult>('/requests', {
        profile: arg(ctx, 0),
        duration,
        reason: opt(ctx, 'reason'),
        ticket: opt(ctx, 'ticket'),
        incident: opt(ctx, 'incident'),
        break_glass: ctx.values['break-glass'] === true ? true : undefined,
      });
      if (created.request.kind === 'extension') {
        ctx.out.info(
          `you already hold ${created.request.extends_grant_id ?? 'a grant'} for ${created.request.profile}: ` +
            `this is a request to extend it by ${compactDuration(created.request.duration_seconds)}`,
        );
      }
      if (!ctx.values.wait || created.request.state !== 'pending') return finish(ctx, created, client);

      if (!ctx.json) printRequest(ctx.out, created.request);
      const who = await approversNeeded(client, created.request.profile);
      ctx.out.info(
        `waiting up to ${compactDuration(timeout)} for ${who ? `approval of ${created.request.id} by ${who}` : `a decision on ${created.request.id}`}…`,
      );
      const request = await waitForDecision(client, created.request.id, timeout * 1000);
      return finish(ctx, { request, grant: await grantOf(client, request) }, client);
    },
  },
};

/** Prints the outcome and maps the request's state to the exit code. */
async function finish(ctx: CommandContext, result: RequestResult, client: ApiClient): Promise<number> {
  const { request, grant } = result;
  if (ctx.json) ctx.out.value(result);
  else {
    printRequest(ctx.out, request);
    if (grant) printGrant(ctx.out, grant);
  }
  if (request.state === 'pending') ctx.out.info(`pending approval; follow it with: keyshift requests --mine`);
  // This endpoint hands back no re-issued credentials (extend does), so say how to refresh.
  if (request.kind === 'extension' && request.state === 'approved' && grant && (await isSshGrant(client, grant))) {
    ctx.out.info(STALE_CERT_HINT(grant.id));
  }
  return exitFor(request);
}

import type { CommandContext, Verb } from '../command.ts';
import { arg, opt } from '../command.ts';
import type { AccessRequest, Grant, ListOf, ProfileInfo, RequestResult } from '../api-types.ts';
import { EXIT, timeoutError } from '../errors.ts';
import type { ApiClient } from '../http-client.ts';
import { checkDuration, durationSeconds } from '../durations.ts';
import { compactDuration } from '../output.ts';
import { printGrant, printRequest } from '../views.ts';

const POLL_MS = 1000;
const DEFAULT_TIMEOUT = '10m';

export const verb: Verb = {
  '': {
    usage:
      'request PROFILE [--for 2h] [--reason TEXT] [--ticket KEY] [--incident ID] [--break-glass] [--wait [--timeout 10m]]',
    description: [
      'Ask for PROFILE for a while. Prints the request and, when it was approved at once',
      '(auto-approval, break-glass), the grant.',
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
      const timeoutSeconds = durationSeconds(checkDuration(opt(ctx, 'timeout') ?? DEFAULT_TIMEOUT, '--timeout'), '--timeout');
      const client = await ctx.client();
      const created = await client.post<RequestResult>('/requests', {
        profile: arg(ctx, 0),
        duration,
        reason: opt(ctx, 'reason'),
        ticket: opt(ctx, 'ticket'),
        incident: opt(ctx, 'incident'),
        break_glass: ctx.values['break-glass'] === true ? true : undefined,
      });
      if (!ctx.values.wait || created.request.state !== 'pending') return finish(ctx, created);

      if (!ctx.json) printRequest(ctx.out, created.request);
      ctx.out.info(`waiting up to ${compactDuration(timeoutSeconds)} for ${await whoDecides(client, created.request)}…`);
      const request = await waitForDecision(client, created.request.id, timeoutSeconds * 1000);
      const grant = request.grant_id ? await client.get<Grant>(`/grants/${encodeURIComponent(request.grant_id)}`) : null;
      return finish(ctx, { request, grant });
    },
  },
};

/** Prints the outcome and maps the request's state to the exit code. */
function finish(ctx: CommandContext, result: RequestResult): number {
  const { request, grant } = result;
  if (ctx.json) ctx.out.value(result);
  else {
    printRequest(ctx.out, request);
    if (grant) printGrant(ctx.out, grant);
  }
  switch (request.state) {
    case 'pending':
      ctx.out.info(`pending approval; follow it with: keyshift requests --mine`);
      return EXIT.ok;
    case 'approved':
      return EXIT.ok;
    case 'denied':
      return EXIT.denied;
    case 'cancelled':
    case 'expired':
      return EXIT.failure;
  }
}

async function waitForDecision(client: ApiClient, id: string, timeoutMs: number): Promise<AccessRequest> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await sleep(Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
    const request = await client.get<AccessRequest>(`/requests/${encodeURIComponent(id)}`);
    if (request.state !== 'pending') return request;
    if (Date.now() >= deadline) {
      throw timeoutError(`request ${id} is still pending; it stays open (keyshift cancel ${id} to withdraw it)`);
    }
  }
}

/** `approval by 1 of group:sre-leads`: best effort, the wait does not depend on it. */
async function whoDecides(client: ApiClient, request: AccessRequest): Promise<string> {
  try {
    const { items } = await client.get<ListOf<ProfileInfo>>('/profiles');
    const rules = items.find((p) => p.name === request.profile)?.approval.rules ?? [];
    const needed = rules.map((r) => `${r.count} of ${r.approvers.join('|')}`).join(' and ');
    if (needed) return `approval of ${request.id} by ${needed}`;
  } catch {
    // fall through: we still wait, we just cannot say for whom
  }
  return `a decision on ${request.id}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

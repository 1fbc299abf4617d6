import type { AccessRequest, Grant, ListOf, ProfileInfo } from './api-types.ts';
import type { CommandContext } from './command.ts';
import { opt } from './command.ts';
import { checkDuration, durationSeconds } from './durations.ts';
import { EXIT, type ExitCode, timeoutError } from './errors.ts';
import type { ApiClient } from './http-client.ts';

/**
 * Waiting for a pending request (a new grant or an extension) to be decided, shared by
 * `request --wait` and `extend --wait`. Polling only reads: giving up never cancels.
 */

const POLL_MS = 1000;
export const DEFAULT_TIMEOUT = '10m';

/** --timeout in seconds, checked before anything is sent (a bad value is exit 2). */
export function timeoutSeconds(ctx: CommandContext): number {
  return durationSeconds(checkDuration(opt(ctx, 'timeout') ?? DEFAULT_TIMEOUT, '--timeout'), '--timeout');
}

export async function waitForDecision(client: ApiClient, id: string, timeoutMs: number): Promise<AccessRequest> {
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

/**
 * The grant a decided request concerns: the new grant, or for an extension the grant it
 * extends (an extension request never gets a `grant_id` of its own).
 */
export async function grantOf(client: ApiClient, request: AccessRequest): Promise<Grant | null> {
  const id = request.kind === 'extension' ? request.extends_grant_id : request.grant_id;
  if (!id || request.state !== 'approved') return null;
  return client.get<Grant>(`/grants/${encodeURIComponent(id)}`);
}

/** `1 of group:sre-leads and 1 of group:dba`: best effort, nothing depends on it. */
export async function approversNeeded(client: ApiClient, profile: string): Promise<string | null> {
  try {
    const { items } = await client.get<ListOf<ProfileInfo>>('/profiles');
    const rules = items.find((p) => p.name === profile)?.approval.rules ?? [];
    const needed = rules.map((r) => `${r.count} of ${r.approvers.join('|')}`).join(' and ');
    return needed || null;
  } catch {
    return null; // we still wait, we just cannot say for whom
  }
}

/** A request's final state as an exit code: approved 0, denied 3, cancelled/expired 1. */
export function exitFor(request: AccessRequest): ExitCode {
  switch (request.state) {
    case 'pending':
    case 'approved':
      return EXIT.ok;
    case 'denied':
      return EXIT.denied;
    case 'cancelled':
    case 'expired':
      return EXIT.failure;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The tamper-evident audit chain. Each event's hash covers its own fields and the
 * previous event's hash, so an edit, deletion, insertion or reordering anywhere breaks
 * every later link; `verifyChain` reports the first one. Appends happen inside the same
 * store transaction as the state change they describe (see StoreTx).
 */
import { createHash } from 'node:crypto';
import type { AuditEvent, AuditInput } from './model.ts';
import type { StoreTx } from './ports.ts';
import { newId } from './ids.ts';

export const GENESIS_HASH = '0'.repeat(64);

/** Canonical JSON: keys sorted at every level, so the hash never depends on key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return '{' + entries.map(([k, v]) => JSON.stringify(k) + ':' + canonicalJson(v)).join(',') + '}';
}

export function hashEvent(e: Omit<AuditEvent, 'hash'>): string {
  return createHash('sha256').update(canonicalJson(e)).digest('hex');
}

export async function appendAudit(tx: StoreTx, input: AuditInput, at: Date): Promise<AuditEvent> {
  return (await appendAuditBatch(tx, [input], at))[0]!;
}

/**
 * Appends several events with one head read and one head write (the batch expiry path).
 * The chain is the same as appending them one by one in this order.
 */
export async function appendAuditBatch(tx: StoreTx, inputs: AuditInput[], at: Date): Promise<AuditEvent[]> {
  if (inputs.length === 0) return [];
  const head = await tx.auditHeadRow();
  let prev = head.hash;
  let seq = head.seq;
  const events = inputs.map((input) => {
    const body: Omit<AuditEvent, 'hash'> = {
      seq: ++seq,
      id: newId('evt', at.getTime()),
      time: at.toISOString(),
      action: input.action,
      actor: input.actor,
      subject: input.subject ?? null,
      profile: input.profile ?? null,
      connector: input.connector ?? null,
      request_id: input.request_id ?? null,
      grant_id: input.grant_id ?? null,
      incident: input.incident ?? null,
      ticket: input.ticket ?? null,
      reason: input.reason ?? null,
      details: input.details ?? {},
      prev_hash: prev,
    };
    const event: AuditEvent = { ...body, hash: hashEvent(body) };
    prev = event.hash;
    return event;
  });
  await tx.insertAuditEvents(events);
  await tx.setAuditHead(seq, prev);
  return events;
}

export interface ChainVerdict {
  ok: boolean;
  checked: number;
  head: string;
  first_broken: null | { seq: number; id: string; problem: string };
}

/**
 * Walks events in seq order. `events` is consumed page by page so a long log never sits
 * in memory; `headRow` is the store's recorded head, which catches truncation of the tail.
 */
export async function verifyChain(
  pages: AsyncIterable<AuditEvent[]>,
  headRow: { seq: number; hash: string },
): Promise<ChainVerdict> {
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
  for await (const page of pages) {
    for (const e of page) {
      const broken = (problem: string): ChainVerdict => ({ ok: false, checked, head: headRow.hash, first_broken: { seq: e.seq, id: e.id, problem } });
      if (e.seq !== expectedSeq) return broken(`expected event #${expectedSeq}, found #${e.seq}: an event was deleted or reordered`);
      if (e.prev_hash !== prev) return broken('prev_hash does not match the previous event: an event before it was changed, removed or reordered');
      const { hash, ...body } = e;
      if (hashEvent(body) !== hash) return broken('hash does not match the event: this event was edited');
      prev = hash;
      expectedSeq++;
      checked++;
    }
  }
  if (checked !== headRow.seq || prev !== headRow.hash) {
    return {
      ok: false,
      checked,
      head: headRow.hash,
      first_broken: { seq: checked + 1, id: '', problem: `the log ends at #${checked} but the recorded head is #${headRow.seq}: events at the end were removed` },
    };
  }
  return { ok: true, checked, head: prev, first_broken: null };
}

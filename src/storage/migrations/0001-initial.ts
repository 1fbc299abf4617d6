/**
 * Frozen: never edit a migration that has shipped; add the next number instead.
 * Imports nothing from src/ so that later code changes cannot alter history.
 * Timestamps are ISO-8601 UTC text (they sort and compare the same on SQLite and
 * PostgreSQL); booleans are 0/1 integers; JSON is text.
 */
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('profile', 'text', (c) => c.notNull())
    .addColumn('requester', 'text', (c) => c.notNull())
    .addColumn('duration_seconds', 'integer', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('ticket', 'text')
    .addColumn('incident', 'text')
    .addColumn('break_glass', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('decided_at', 'text')
    .addColumn('decided_by', 'text')
    .addColumn('decision_comment', 'text')
    .addColumn('decision_reasons', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('grant_id', 'text')
    .execute();
  await db.schema.createIndex('requests_state_expires').on('requests').columns(['state', 'expires_at']).execute();
  await db.schema.createIndex('requests_requester').on('requests').columns(['requester', 'state']).execute();

  await db.schema
    .createTable('approvals')
    .addColumn('request_id', 'text', (c) => c.notNull().references('requests.id'))
    .addColumn('approver', 'text', (c) => c.notNull())
    .addColumn('comment', 'text')
    .addColumn('rule', 'integer')
    .addColumn('automatic', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('approvals_pk', ['request_id', 'approver'])
    .execute();

  await db.schema
    .createTable('grants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('request_id', 'text', (c) => c.notNull().unique().references('requests.id'))
    .addColumn('profile', 'text', (c) => c.notNull())
    .addColumn('connector', 'text', (c) => c.notNull())
    .addColumn('grantee', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('ending', 'text')
    .addColumn('duration_seconds', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('activated_at', 'text')
    .addColumn('ends_at', 'text')
    .addColumn('ended_at', 'text')
    .addColumn('end_reason', 'text')
    .addColumn('ended_by', 'text')
    .addColumn('extensions', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('incident', 'text')
    .addColumn('ticket', 'text')
    .addColumn('break_glass', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('review_due_at', 'text')
    .addColumn('reviewed_at', 'text')
    .addColumn('reviewed_by', 'text')
    .addColumn('revoke_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text')
    .addColumn('last_error', 'text')
    .addColumn('connector_state', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  await db.schema.createIndex('grants_state_ends').on('grants').columns(['state', 'ends_at']).execute();
  await db.schema.createIndex('grants_grantee').on('grants').columns(['grantee', 'state']).execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('seq', 'integer', (c) => c.primaryKey())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('time', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('subject', 'text')
    .addColumn('profile', 'text')
    .addColumn('connector', 'text')
    .addColumn('request_id', 'text')
    .addColumn('grant_id', 'text')
    .addColumn('incident', 'text')
    .addColumn('ticket', 'text')
    .addColumn('reason', 'text')
    .addColumn('details', 'text', (c) => c.notNull())
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_time').on('audit_events').column('time').execute();
  await db.schema.createIndex('audit_incident').on('audit_events').column('incident').execute();

  // One row: the chain head. Every write transaction locks it first (UPDATE … SET seq =
  // seq), which serializes writers on PostgreSQL and takes SQLite's write lock up front.
  await db.schema
    .createTable('audit_head')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
  await db.insertInto('audit_head').values({ id: 1, seq: 0, hash: '0'.repeat(64) }).execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_email', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('label', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('revoked_at', 'text')
    .addColumn('last_used_at', 'text')
    .execute();

  await db.schema
    .createTable('leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('cursors')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['cursors', 'leases', 'api_tokens', 'audit_head', 'audit_events', 'grants', 'approvals', 'requests']) {
    await db.schema.dropTable(t).execute();
  }
}

/**
 * Frozen. Policy features: extension requests, denials as recorded decisions,
 * pre-approval windows, break-glass review notes.
 */
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('requests').addColumn('kind', 'text', (c) => c.notNull().defaultTo('grant')).execute();
  await db.schema.alterTable('requests').addColumn('extends_grant_id', 'text').execute();
  await db.schema.alterTable('approvals').addColumn('decision', 'text', (c) => c.notNull().defaultTo('approve')).execute();
  await db.schema.alterTable('grants').addColumn('review_comment', 'text').execute();
  await db.schema
    .createTable('preapprovals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('profile', 'text', (c) => c.notNull())
    .addColumn('user_email', 'text', (c) => c.notNull())
    .addColumn('starts_at', 'text', (c) => c.notNull())
    .addColumn('ends_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('revoked_at', 'text')
    .addColumn('revoked_by', 'text')
    .execute();
  await db.schema.createIndex('preapprovals_user_profile').on('preapprovals').columns(['user_email', 'profile']).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('preapprovals').execute();
  await db.schema.alterTable('grants').dropColumn('review_comment').execute();
  await db.schema.alterTable('approvals').dropColumn('decision').execute();
  await db.schema.alterTable('requests').dropColumn('extends_grant_id').execute();
  await db.schema.alterTable('requests').dropColumn('kind').execute();
}

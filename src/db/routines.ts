/**
 * The SQL functions kept as source files beside their domain rather than as copies in
 * migrations, in the order they are applied (a function before those that call it, though
 * PL/pgSQL resolves calls when it runs). Each file holds `create or replace` statements
 * only, so applying it again is harmless; the migrator applies a file after the migrations
 * whenever its text differs from what the database last ran. Triggers stay in migrations:
 * they are schema, and name these functions; a migration whose trigger calls a function
 * newer than the migrations names its file in a `-- requires:` line (src/db/migrate.ts).
 */
export const ROUTINES: readonly string[] = [
  'src/data-protection/sql/guards.sql',
  'src/events/sql/record.sql',
  'src/intake/sql/intake.sql',
  'src/channels/email/sql/email-intake.sql',
  'src/cases/sql/reopen-on-resident-message.sql',
  'src/cases/sql/cases-kept.sql',
  'src/sla/sql/pause.sql',
  'src/reports/sql/outcomes.sql',
  'src/webhooks/sql/fan-out.sql',
  'src/realtime/sql/announce.sql'
]

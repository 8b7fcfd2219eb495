/**
 * The SQL functions kept as source files rather than as copies in migrations, in the order
 * they are applied (a function after those it calls). Each file holds `create or replace`
 * statements only, so applying it again is harmless; the migrator applies a file after the
 * migrations whenever its text differs from what the database last ran.
 */
export const ROUTINES: readonly string[] = ['src/intake/sql/intake.sql', 'src/cases/sql/reopen-on-resident-message.sql']

import type { Command } from 'commander'

/** `retention ...`: the retention schedules and running the job by hand. */
export function registerRetentionCommands(_program: Command): void {}
